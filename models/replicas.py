"""Replicas of one network side by side in a single Brian2 simulation.

A perturbation experiment compares control runs with runs that differ only by
one extra spike.  Instead of simulating each run on its own, all of them are
*replicas* in one ``NeuronGroup`` of ``n_replicas * n_neurons`` neurons:

- recurrent synapses are block-diagonal (replica ``r`` is neurons
  ``r*n .. r*n + n - 1`` and only connects to itself), created in the same
  order in every block so floating-point sums happen in the same order;
- each replica reads one *noise realisation* (:class:`Realisation`): its
  initial membrane potentials and its input spikes (static Poisson
  background, dynamic Poisson channels).  Replicas that read the same
  realisation receive exactly the same input spikes: each realisation's
  input sources exist once and are fanned out by synapses to every replica
  that reads it;
- thresholds are tiled.

Where the input spikes come from is ``InputParams.noise`` (:data:`NOISE_MODES`):

``"predrawn"`` (the default)
    drawn in numpy from the suite's seed streams (:func:`poisson_steps`) and
    played by a ``SpikeGeneratorGroup``.  A realisation is then the same on
    every back-end (runtime, cpp_standalone, ...) and whether it is simulated
    with others or alone; but every spike is an array entry that is held in
    memory and, on a standalone device, written to disk and copied to it.
``"device"``
    drawn by the simulator itself: one ``PoissonGroup`` of
    ``n_realisations * n_sources`` sources (the background at its rate; the
    channels at the realisation's rate table, :attr:`Realisation.channel_rates`,
    read through a ``TimedArray``), seeded by ``brian2.seed``.  Nothing
    scales with the number of spikes, and the arrays of the network do not
    depend on the draw (what a compile-once standalone run and a GPU want);
    but the spikes differ between back-ends and between arrangements (a
    replica simulated alone does not see the spikes it sees among others),
    so only their statistics agree.

So replicas of one realisation are bit-identical until a perturbation makes
them differ.  The chaos protocol pairs them: with independent trials, pair
``k`` (control ``2k``, perturbed ``2k + 1``) reads realisation ``k``; with a
shared control, every replica reads realisation 0.

Perturbation (:class:`Perturbation`): a *forced spike* of neuron ``k`` in
replica ``r`` at time ``t``, as a spike of the neuron's own: its membrane goes
to ``v_reset``, it becomes refractory from ``t``, and the spike is delivered to
``k``'s postsynaptic targets in replica ``r`` with ``k``'s weights.  The spike
monitor does not see it; :func:`spikes_of` adds it to the replica's spikes.
"""
from __future__ import annotations

from typing import NamedTuple

import brian2 as b2
import numpy as np
from brian2 import Hz, mV, ms, second

from . import lif
from .structure import Structure

CHANNEL_ON_PRE = "I_syn_post += w_channel"
BACKGROUND_ON_PRE = "I_syn_post += w_background"
#: where the input spikes are drawn (see the module docstring)
NOISE_MODES = ("predrawn", "device")
#: per-neuron variables of the forced spikes (constant during a run)
FORCED_EQUATIONS = """
forced : 1 (constant)            # 1: this neuron is forced to spike at t_forced
forced_input : volt (constant)   # jump of I_syn from the forced neuron of this replica
"""
#: a forced spike at ``t_forced``: what threshold, reset and synapses do for a spike of
#: the neuron's own.  Runs on a clock of period ``t_forced`` (so at 0, t_forced, ...),
#: in the synapses slot; only the run at ``t_forced`` changes anything.
FORCED_SPIKE = """
now = int(abs(t - t_forced) < 0.5 * dt)
v = v + now * forced * (v_reset - v)
lastspike = lastspike + now * forced * (t - lastspike)
not_refractory = not_refractory and not (now * forced > 0.5)
I_syn = I_syn + now * forced_input
"""


class InputParams(NamedTuple):
    """External input; jumps are of ``I_syn`` (volts, see :mod:`models.lif`)."""

    background_rate: b2.Quantity = 200 * Hz   # independent Poisson rate per neuron
    background_jump: b2.Quantity = 20 * mV    # jump of I_syn per background spike
    n_channels: int = 20                      # dynamic Poisson input channels
    channel_rate: b2.Quantity = 10 * Hz       # mean rate of a channel
    channel_jump: b2.Quantity = 20 * mV       # jump of I_syn per channel spike
    channel_interval: b2.Quantity = 50 * ms   # a channel's rate is redrawn this often
    channels_on: bool = True                  # False: the channels are not connected
    noise: str = "predrawn"                   # NOISE_MODES: numpy-drawn spikes or a PoissonGroup


class Perturbation(NamedTuple):
    """One forced spike: neuron ``neuron`` of replica ``replica`` at ``time``."""

    replica: int
    neuron: int
    time: b2.Quantity


class Realisation(NamedTuple):
    """Initial state and input spikes read by one or more replicas.

    ``background`` and ``channels`` are ``(source, step)`` pairs of int
    arrays sorted by step (from :func:`poisson_steps`): background source
    ``i`` drives neuron ``i``, channel ``c`` drives ``structure.channel_targets[c]``.
    With ``noise="device"`` they are not used (``None``: the device draws the
    spikes) and ``channel_rates``, the channels' rate table in Hz
    (:func:`channel_rate_table`, one row per ``channel_interval``), is what the
    channels read; with ``"predrawn"`` it is optional (what the channel spikes
    were drawn from).
    """

    v0: np.ndarray                          # initial membrane potential per neuron, volts
    background: tuple | None                # (neuron, step) of the background spikes
    channels: tuple | None                  # (channel, step) of the channel spikes
    channel_rates: np.ndarray | None = None  # (n_intervals, n_channels) rates in Hz


class ReplicaSpikes(NamedTuple):
    """Spikes of all replicas: neuron index within the replica, replica, time (s)."""

    neuron: np.ndarray
    replica: np.ndarray
    time_s: np.ndarray

    def of(self, replica: int) -> tuple[np.ndarray, np.ndarray]:
        """``(neuron, time_s)`` of one replica, in time order."""
        keep = self.replica == replica
        return self.neuron[keep], self.time_s[keep]

    def split(self) -> dict:
        """``{replica: (neuron, time_s)}`` for every replica with spikes, in one pass
        (``of`` scans all spikes for each replica)."""
        order = np.argsort(self.replica, kind="stable")
        replica = self.replica[order]
        starts = np.flatnonzero(np.r_[True, replica[1:] != replica[:-1]]) if replica.size else []
        bounds = list(starts) + [replica.size]
        neuron, time_s = self.neuron[order], self.time_s[order]
        return {int(replica[a]): (neuron[a:b], time_s[a:b]) for a, b in zip(bounds, bounds[1:])}


def channel_rate_table(n_channels: int, mean_rate: b2.Quantity, n_intervals: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Piecewise-constant channel rates in Hz, shape ``(n_intervals, n_channels)``.

    Each channel's rate is redrawn every interval, uniformly in
    ``[0, 2 * mean_rate]`` (mean ``mean_rate``).
    """
    return rng.uniform(0.0, 2.0 * float(mean_rate / Hz), size=(n_intervals, n_channels))


def poisson_steps(rng: np.random.Generator, n_sources: int, n_steps: int, p) -> tuple:
    """Bernoulli spike trains on a time grid: ``(source, step)`` sorted by step.

    Each source spikes in each step independently with probability ``p``
    (``rate * dt``, as Brian2's ``PoissonGroup`` does).  ``p`` is a number, or
    an array ``(n_steps, n_sources)`` for rates that change in time.  A
    constant ``p`` is drawn as geometric gaps between spikes (a few draws per
    spike instead of one per step and source).

    >>> i, step = poisson_steps(np.random.default_rng(0), 1000, 10_000, 0.02)
    >>> abs(i.size / (1000 * 10_000) - 0.02) < 0.001, bool((np.diff(step) >= 0).all())
    (True, True)
    """
    if np.ndim(p) == 0:
        p = float(p)
        if n_sources == 0 or n_steps == 0 or p <= 0:
            return np.zeros(0, np.int32), np.zeros(0, np.int32)
        if p >= 1:
            step, source = np.divmod(np.arange(n_steps * n_sources), n_sources)
            return source.astype(np.int32), step.astype(np.int32)
        mean = n_steps * p
        width = int(mean + 6 * np.sqrt(mean) + 8)
        steps = np.cumsum(rng.geometric(p, size=(n_sources, width)), axis=1) - 1
        short = np.flatnonzero(steps[:, -1] < n_steps)  # rare: a source needs more gaps
        extra = []
        for row in short:
            last, more = steps[row, -1], []
            while last < n_steps:
                last = last + rng.geometric(p)
                more.append(last)
            extra.append((row, np.asarray(more[:-1], dtype=np.int64)))
        keep = steps < n_steps
        source = np.repeat(np.arange(n_sources), keep.sum(axis=1))
        step = steps[keep]
        if extra:
            source = np.concatenate([source] + [np.full(m.size, r) for r, m in extra])
            step = np.concatenate([step] + [m for _, m in extra])
    else:
        p = np.asarray(p, dtype=float)
        step, source = np.nonzero(rng.random((n_steps, n_sources)) < p)
    return _by_step(source, step)


def _by_step(source, step) -> tuple:
    """Sort ``(source, step)`` by step, stably; a radix sort for up to 65536 steps."""
    step = np.asarray(step)
    key = step.astype(np.uint16) if step.size and step.max() < 2**16 else step
    order = np.argsort(key, kind="stable")
    return np.asarray(source)[order].astype(np.int32), step[order].astype(np.int32)


def build(structure: Structure, params: lif.LIFParams, inputs: InputParams, *,
          realisations: list, replica_realisation, weight_unit: b2.Quantity,
          threshold_unit: b2.Quantity, perturbations: list, dt: b2.Quantity,
          record_v: bool = False) -> tuple[b2.Network, dict]:
    """Build the replica network (does not run it).

    Parameters
    ----------
    structure : Structure
        The network drawn by :func:`models.structure.draw_structure`.
    inputs : InputParams
        Input rates and jumps; ``inputs.noise`` picks where the input spikes
        are drawn (:data:`NOISE_MODES`, see the module docstring).
    realisations : list of Realisation
        Initial states and input spikes (:func:`poisson_steps`, steps of ``dt``);
        with ``inputs.noise == "device"`` initial states and channel rate tables.
    replica_realisation : sequence of int
        Which realisation each replica reads; its length is the number of replicas.
    weight_unit, threshold_unit : Quantity (volt)
        What one unit of ``structure.weight`` (a jump of ``I_syn``) and of
        ``structure.v_th_offset`` (a threshold shift) is.
    perturbations : list of Perturbation
        Forced spikes; an empty list gives replicas that stay identical per realisation.

    Returns
    -------
    net, objects : the ``Network`` and a dict of its named objects
        (``neurons``, ``spikes`` monitor, ...).
    """
    n = structure.n_neurons
    of = np.asarray(replica_realisation, dtype=np.int64)
    n_replicas, n_real = of.size, len(realisations)
    if n_replicas < 1 or n_real < 1:
        raise ValueError(f"need at least one replica and one realisation, got {n_replicas} "
                         f"replicas and {n_real} realisations")
    if of.min() < 0 or of.max() >= n_real:
        raise ValueError(f"replica_realisation must index the {n_real} realisations, got {of}")
    if inputs.noise not in NOISE_MODES:
        raise ValueError(f"inputs.noise must be one of {', '.join(NOISE_MODES)}, "
                         f"got {inputs.noise!r}")
    values = point_arrays(structure, params, inputs, realisations=realisations,
                          replica_realisation=of, weight_unit=weight_unit,
                          threshold_unit=threshold_unit, perturbations=perturbations)

    neurons = lif.neuron_group(n * n_replicas, params, dt=dt, name="neurons",
                               extra_equations=FORCED_EQUATIONS if perturbations else "")
    neurons.v_th = values["neurons.v_th"]
    neurons.v = values["neurons.v"]
    neurons.I_syn = 0 * mV

    recurrent = b2.Synapses(neurons, neurons, model=lif.SYNAPSE_MODEL, on_pre=lif.ON_PRE,
                            dt=dt, name="recurrent", namespace={})
    if connect(recurrent, values["recurrent.sources"], values["recurrent.targets"]):
        recurrent.w = values["recurrent.w"]
    objects = [neurons, recurrent]

    predrawn = inputs.noise == "predrawn"
    channels_on = inputs.n_channels > 0 and inputs.channels_on
    if predrawn:
        background = _spike_generator("background", [r.background for r in realisations], n, dt)
    else:
        background = b2.PoissonGroup(n_real * n, rates=values["background.rates"], dt=dt,
                                     name="background", namespace={})
    objects += [background, _fan_out(background, neurons, values, dt, BACKGROUND_ON_PRE,
                                     {"w_background": inputs.background_jump})]
    if channels_on:
        if predrawn:
            channels = _spike_generator("channels", [r.channels for r in realisations],
                                        inputs.n_channels, dt)
        else:
            channels = _device_channels(values["channel_rates.values"], inputs, dt)
        objects += [channels, _fan_out(channels, neurons, values, dt, CHANNEL_ON_PRE,
                                       {"w_channel": inputs.channel_jump})]

    if perturbations:
        neurons.forced = values["neurons.forced"]
        neurons.forced_input = values["neurons.forced_input"]
        _forced_spikes(perturbations, neurons, params.v_reset)

    spikes = b2.SpikeMonitor(neurons, name="spikes")
    objects.append(spikes)
    if record_v:
        objects.append(b2.StateMonitor(neurons, "v", record=True, dt=dt, name="v_monitor"))
    net = b2.Network(*objects)
    net_objects = {obj.name: obj for obj in objects}
    net_objects.update(_forced=list(perturbations), _dt_s=float(dt / second))
    return net, net_objects


def _spike_generator(name, trains, n_sources, dt):
    """A generator of every realisation's pre-drawn spikes: source ``s`` of
    realisation ``r`` is its index ``r * n_sources + s``."""
    sources = np.concatenate([source + r * n_sources for r, (source, _) in enumerate(trains)])
    sources, steps = _by_step(sources, np.concatenate([step for _, step in trains]))
    return b2.SpikeGeneratorGroup(len(trains) * n_sources, sources,
                                  steps.astype(np.float64) * float(dt / second) * second,
                                  dt=dt, sorted=True, name=name)


def _device_channels(table, inputs, dt):
    """The channels of every realisation as one ``PoissonGroup`` drawn by the device: source
    ``r * n_channels + c`` spikes at ``table[k, r * n_channels + c]`` (Hz) in interval ``k``."""
    rates = b2.TimedArray(table, dt=inputs.channel_interval, name="channel_rates")
    return b2.PoissonGroup(table.shape[1], rates="channel_rates(t, i)", dt=dt,
                           name="channels", namespace={"channel_rates": rates})


def _fan_out(source, neurons, values, dt, on_pre, namespace):
    """Synapses fanning each input source out to its targets (``values`` of
    :func:`point_arrays`: ``<source>_synapses.sources`` / ``.targets``)."""
    name = f"{source.name}_synapses"
    synapses = b2.Synapses(source, neurons, on_pre=on_pre, dt=dt, name=name,
                           namespace=namespace)
    connect(synapses, values[f"{name}.sources"], values[f"{name}.targets"])
    return synapses


def _fan_out_indices(n_sources, targets, of, n) -> tuple[np.ndarray, np.ndarray]:
    """Source ``(realisation r, s)`` (index ``r * n_sources + s``) to ``targets[s]`` in
    each replica reading ``r``."""
    pre_of = np.concatenate([np.full(len(t), s) for s, t in enumerate(targets)]
                            + [np.zeros(0)]).astype(np.int64)
    post_of = np.concatenate(targets).astype(np.int64) if len(targets) else np.zeros(0, np.int64)
    pre = np.concatenate([pre_of + r * n_sources for r in of])
    post = np.concatenate([post_of + q * n for q in range(of.size)])
    return pre, post


def point_arrays(structure: Structure, params: lif.LIFParams, inputs: InputParams, *,
                 realisations: list, replica_realisation, weight_unit: b2.Quantity,
                 threshold_unit: b2.Quantity, perturbations: list) -> dict:
    """Every array :func:`build` gives its objects, named ``object.variable``.

    ``neurons.v_th``, ``neurons.v`` (volts), ``recurrent.sources`` / ``.targets``
    (indices into all replicas' neurons) and ``recurrent.w`` (volts);
    ``background_synapses.sources`` / ``.targets`` and, with channels on,
    ``channels_synapses.*``; with device noise ``background.rates`` and, with
    channels on, ``channel_rates.values`` (``(n_intervals, n_real * n_channels)``, Hz);
    with perturbations ``neurons.forced`` and ``neurons.forced_input`` (volts).
    A compiled build (:mod:`models.compiled`) takes a new point's values from here:
    what the network of another point would have been given.
    """
    n = structure.n_neurons
    of = np.asarray(replica_realisation, dtype=np.int64)
    n_replicas = of.size
    offsets = (np.arange(n_replicas, dtype=np.int64) * n)[:, None]
    out = {
        "neurons.v_th": np.tile(params.v_th_mean + structure.v_th_offset * threshold_unit,
                                n_replicas),
        "neurons.v": np.concatenate([np.asarray(realisations[r].v0, dtype=float)
                                     for r in of]) * b2.volt,
        "recurrent.sources": (structure.pre[None, :] + offsets).ravel(),
        "recurrent.targets": (structure.post[None, :] + offsets).ravel(),
        "recurrent.w": np.tile(structure.weight * float(weight_unit), n_replicas) * b2.volt,
    }
    out["background_synapses.sources"], out["background_synapses.targets"] = \
        _fan_out_indices(n, [np.array([i]) for i in range(n)], of, n)
    device = inputs.noise == "device"
    if device:
        out["background.rates"] = inputs.background_rate
    if inputs.n_channels > 0 and inputs.channels_on:
        out["channels_synapses.sources"], out["channels_synapses.targets"] = \
            _fan_out_indices(inputs.n_channels, structure.channel_targets, of, n)
        if device:
            tables = [r.channel_rates for r in realisations]
            if any(t is None for t in tables):
                raise ValueError("noise='device' with channels on needs every realisation's "
                                 "channel_rates (replicas.channel_rate_table)")
            tables = [np.asarray(t, dtype=float) for t in tables]
            shapes = {t.shape for t in tables}
            if len(shapes) != 1 or next(iter(shapes))[1:] != (inputs.n_channels,):
                raise ValueError(f"channel_rates must all have shape (n_intervals, "
                                 f"{inputs.n_channels}), got {sorted(shapes)}")
            out["channel_rates.values"] = np.concatenate(tables, axis=1) * Hz
    if perturbations:
        out["neurons.forced"], out["neurons.forced_input"] = _forced_arrays(
            structure, perturbations, n * n_replicas, n, weight_unit)
    return out


def connect(synapses: b2.Synapses, i: np.ndarray, j: np.ndarray) -> bool:
    """``synapses.connect(i=i, j=j)``, or switch the object off when the arrays are empty.

    Brian2 cannot connect empty index arrays (it takes their maximum) and
    refuses to run a Synapses object never connected; an inactive one
    transmits nothing, which is
    what a network without recurrent synapses, an input channel reaching no
    neuron or a perturbed neuron without targets should do.  Returns whether
    any synapse was made.
    """
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    if i.size == 0:
        synapses.active = False
        return False
    synapses.connect(i=i, j=j)
    return True


def _forced_arrays(structure, perturbations, size, n, weight_unit):
    """``forced`` (1 for each forced neuron) and ``forced_input`` (the weight each target of
    a forced neuron receives from it in its replica, volts) of every neuron."""
    times = {round(float(p.time / second), 12) for p in perturbations}
    if len(times) != 1:
        raise ValueError(f"all forced spikes must share one time, got {sorted(times)} s")
    flags = np.zeros(size)
    inputs = np.zeros(size)
    for p in perturbations:
        flags[p.neuron + p.replica * n] = 1.0
        out = structure.pre == p.neuron
        np.add.at(inputs, structure.post[out] + p.replica * n, structure.weight[out])
    return flags, inputs * float(weight_unit) * b2.volt


def _forced_spikes(perturbations, neurons, v_reset):
    """One operation applies the forced spikes (flags set from :func:`_forced_arrays`).

    At ``t_forced`` a forced neuron goes to ``v_reset`` and becomes refractory
    (as the threshold and reset would do), and each of its targets in its
    replica receives its weight (as its synapses would deliver it).  An
    operation that runs at ``t_forced`` only replaces a spike generator and two
    pathways that would run at every step.
    """
    t_forced = perturbations[0].time
    neurons.namespace.update(t_forced=t_forced, v_reset=v_reset)
    # part of the group (it runs with it): nothing to add to the network
    neurons.run_regularly(FORCED_SPIKE, dt=t_forced, when="synapses", name="forced_spikes")


def spikes_of(objects: dict, n_neurons: int) -> ReplicaSpikes:
    """Read the spike monitor into numpy arrays split by replica, forced spikes included.

    A forced spike is placed after the monitor's spikes of the same time step.
    """
    mon = objects["spikes"]
    return spikes_from_arrays(mon.i[:], mon.t[:] / second, n_neurons,
                              objects.get("_forced", []), objects.get("_dt_s"))


def spikes_from_arrays(index, time_s, n_neurons: int, forced: list, dt_s) -> ReplicaSpikes:
    """:func:`spikes_of` from the monitor's arrays (e.g. the files a standalone binary
    wrote): ``index`` over all replicas, ``time_s`` in seconds, the ``forced`` spikes
    (:class:`Perturbation`) on a grid of ``dt_s``."""
    idx = np.asarray(index, dtype=np.int64)
    neuron = idx % n_neurons
    replica = idx // n_neurons
    time_s = np.asarray(time_s, dtype=float)
    if forced:
        f_t = np.array([float(p.time / second) for p in forced])
        # the time the step of the forced spike is recorded as (as the monitor writes it)
        f_t = np.round(f_t / dt_s) * dt_s
        neuron = np.concatenate([neuron, [p.neuron for p in forced]])
        replica = np.concatenate([replica, [p.replica for p in forced]])
        time_s = np.concatenate([time_s, f_t])
        order = np.argsort(time_s, kind="stable")
        neuron, replica, time_s = neuron[order], replica[order], time_s[order]
    return ReplicaSpikes(neuron=neuron.astype(np.int32), replica=replica.astype(np.int32),
                         time_s=time_s)
