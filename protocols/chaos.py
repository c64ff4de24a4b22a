"""Chaos perturbation protocol: one forced spike in a heterogeneous LIF network.

One point of the heterogeneity study (its design document: the "spiking RNN
heterogeneity" chaos study).  A network with threshold spread
``network.v_th_std`` (mV) and weight spread ``network.g_std`` (mV/ms of
synaptic current, the study's unit) settles for ``protocol.transient``
(default 0 ms), runs a ``protocol.baseline`` (50 ms), then one neuron is forced
to spike and the network is observed for ``protocol.observation`` (500 ms).

Trials (``protocol.trials``):

- ``independent`` (default): each of the ``protocol.n_perturbations`` trials
  is a pair (control_k, perturbed_k) with its own initial state and its own
  noise, drawn from trial ``k``'s seed streams; the two members of a pair are
  bit-identical until the forced spike, different pairs differ from the start.
  The trials are independent replicates, as the study counts them.
- ``shared_control``: one control; every trial starts from the control's
  initial state and reads the control's noise (the suite's earlier design).
  The trials then differ only by which neuron is forced, so their measures
  are correlated and their spread is smaller than across independent trials.

All runs are replicas side by side in one simulation (:mod:`models.replicas`):
``2 x n_perturbations`` replicas, or ``n_perturbations + 1`` with a shared control.

Per trial, on the difference between the perturbed run and its control after
the forced spike:

- the suite's measures: ``lz`` (LZ76 normalised ``c log2(n) / n``),
  ``lz_phrases`` (the raw count ``c``), ``lz_entropy`` (Casali et al. 2013) on
  the ``protocol.bin`` difference matrix, and ``hamming_slope``, the growth-phase
  divergence rate (:func:`analysis.chaos.hamming_slope`, neurons per second);
- the study's measures (:mod:`analysis.chaos_study`): ``lz_study`` (its
  dictionary phrase count at 0.1 ms bins) and ``hamming_slope_study`` (its
  steepest sliding-window slope, neurons per ms).

Run it::

    snnsuite run configs/chaos_quick.yaml --out results/chaos_quick
    python -m protocols.chaos configs/chaos.yaml --set network.g_std=0.3
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from analysis import chaos as chaos_measures
from analysis import complexity, plots, spikes as spike_stats
from analysis.reports import write_report
from analysis.results import ResultWriter, load
from protocols import outdir
from protocols.config import ConfigError, Field, UsageError

NAME = "chaos"
TRIALS = ("independent", "shared_control")
INITIAL_V = ("reset_to_rest", "reset_to_threshold")
NOISE = ("predrawn", "device")   # models.replicas.NOISE_MODES (not imported: Brian2 loads lazily)

SCHEMA = {
    "network": {
        "n_neurons": Field("int", 1000, low=2, doc="neurons per network (per replica)"),
        "connection_prob": Field("float", 0.1, low=0, low_open=True, high=1,
                                 doc="recurrent connection probability (no autapses)"),
        "fixed_indegree": Field("bool", False, doc="every neuron gets exactly round(p (n-1)) inputs"),
        "v_th_mean": Field("quantity", "-55 mV", unit="voltage", doc="mean spike threshold"),
        "v_th_std": Field("quantity", "0.25 mV", unit="voltage", low=0, high="20 mV",
                          doc="threshold spread: thresholds ~ Normal(v_th_mean, v_th_std)"),
        "g_std": Field("float", 0.25, low=0, high=50,
                       doc="weight spread, mV/ms: weights ~ Normal(0, g_std); a weight w makes "
                           "the synaptic current I jump by w mV/ms"),
        "tau_m": Field("quantity", "20 ms", unit="time", low=0, low_open=True,
                       doc="membrane time constant"),
        "tau_syn": Field("quantity", "5 ms", unit="time", low=0, low_open=True,
                         doc="synaptic decay time constant"),
        "refractory": Field("quantity", "2 ms", unit="time", low=0, doc="absolute refractory period"),
        "v_rest": Field("quantity", "-70 mV", unit="voltage", doc="resting potential"),
        "v_reset": Field("quantity", "-80 mV", unit="voltage", doc="reset potential"),
        "initial_v": Field("str", "reset_to_rest", choices=INITIAL_V,
                           doc="initial potentials: uniform in [v_reset, v_rest] (the study) or "
                               "in [v_reset, each threshold]"),
    },
    "input": {
        "background_rate": Field("quantity", "200 Hz", unit="frequency", low=0,
                                 doc="independent Poisson background per neuron"),
        "background_weight": Field("float", 1.0, low=0,
                                   doc="jump of the synaptic current per background spike, mV/ms"),
        "bias": Field("quantity", "0 mV", unit="voltage",
                      doc="constant drive: shifts every neuron's resting level by this much"),
        "n_channels": Field("int", 20, low=0, doc="dynamic Poisson input channels"),
        "channel_connectivity": Field("float", 0.3, low=0, high=1,
                                      doc="fraction of neurons each channel projects to"),
        "channel_rate": Field("quantity", "10 Hz", unit="frequency", low=0,
                              doc="mean rate of a channel (redrawn uniformly in [0, 2x] per interval)"),
        "channel_weight": Field("float", 1.0, low=0,
                                doc="jump of the synaptic current per channel spike, mV/ms"),
        "channel_interval": Field("quantity", "50 ms", unit="time", low=0, low_open=True,
                                  doc="how often a channel's rate is redrawn"),
        "channels_on": Field("bool", False,
                             doc="the channels drive the network during the protocol (the study: "
                                 "off, 'network dynamics, no dynamic inputs')"),
        "noise": Field("str", "predrawn", choices=NOISE,
                       doc="predrawn: input spikes drawn in numpy from the seed streams, identical "
                           "on every back-end but held in memory and shipped to the device; "
                           "device: drawn by the simulator (PoissonGroup), no spike arrays (cheap "
                           "on a GPU, fixed array sizes), same statistics but not the same spikes "
                           "across back-ends"),
    },
    "protocol": {
        "dt": Field("quantity", "0.1 ms", unit="time", low=0, low_open=True, doc="integration time step"),
        "transient": Field("quantity", "0 ms", unit="time", low=0,
                           doc="settling time before the baseline; nothing is measured in it"),
        "baseline": Field("quantity", "50 ms", unit="time", low=0, low_open=True,
                          doc="time before the forced spike"),
        "observation": Field("quantity", "500 ms", unit="time", low=0, low_open=True,
                             doc="time observed after the forced spike"),
        "n_perturbations": Field("int", 20, low=1, doc="perturbation trials (each a different neuron)"),
        "trials": Field("str", "independent", choices=TRIALS,
                        doc="independent: a control per trial, own initial state and noise; "
                            "shared_control: one control, one initial state and noise for all"),
        "bin": Field("quantity", "1 ms", unit="time", low=0, low_open=True,
                     doc="bin of the spike matrices of the suite's measures"),
        "perturb": Field("bool", True, doc="false: trials get no forced spike (a determinism check)"),
        "growth_fraction": Field("float", 0.5, low=0, low_open=True, high=1,
                                 doc="the Hamming growth phase ends at this fraction of saturation"),
        "fano_window": Field("quantity", "50 ms", unit="time", low=0, low_open=True,
                             doc="window of the spike counts for the Fano factor"),
    },
    "seed": {
        "session": Field("int", 1234, low=0, doc="session seed; every stream derives from it"),
    },
}


# --------------------------------------------------------------------------- simulation
class Layout(NamedTuple):
    """Which replica is which: pair ``k`` is (``control[k]``, ``perturbed[k]``)."""

    control: np.ndarray          # replica index of trial k's control
    perturbed: np.ndarray        # replica index of trial k's perturbed run
    realisation: np.ndarray      # realisation read by each replica
    trial_ids: np.ndarray        # seed-stream trial id of each realisation

    @property
    def n_replicas(self) -> int:
        return int(self.realisation.size)


def layout(n_trials: int, trials: str) -> Layout:
    """Replica layout of ``n_trials`` trials.

    >>> layout(2, "independent").realisation.tolist(), layout(2, "shared_control").perturbed.tolist()
    ([0, 0, 1, 1], [1, 2])
    """
    k = np.arange(n_trials)
    if trials == "independent":
        return Layout(2 * k, 2 * k + 1, np.repeat(k, 2), k + 1)
    if trials == "shared_control":
        return Layout(np.zeros(n_trials, np.int64), k + 1, np.zeros(n_trials + 1, np.int64),
                      np.zeros(1, np.int64))
    raise ValueError(f"trials must be one of {', '.join(TRIALS)}, got {trials!r}")


class Drawn(NamedTuple):
    """Everything random about one point, drawn from the point's seed streams."""

    params: object            # models.lif.LIFParams
    inputs: object            # models.replicas.InputParams
    structure: object         # models.structure.Structure
    realisations: list        # models.replicas.Realisation per trial realisation
    layout: Layout
    perturbed: np.ndarray     # the neuron perturbed in each trial
    duration: object          # transient + baseline + observation (Quantity)
    perturbation_time: object  # transient + baseline (Quantity)
    weight_unit: object       # I_syn jump of a weight of 1 mV/ms (Quantity)
    threshold_unit: object    # 1 mV


def validate(config) -> None:
    """Checks across keys that the schema cannot express; ``ConfigError`` names the key.

    Everything a point needs is checked here, before any network is drawn, so
    an accepted config runs to the end: the perturbed neurons exist, the
    thresholds can be drawn above the reset, the windows fit in the
    observation, and the number of time steps and bins is bounded.
    """
    from brian2 import mV

    from protocols.resources import MAX_STEPS

    source = config.source
    net_cfg, in_cfg, pr_cfg = config.network, config.input, config.protocol
    if pr_cfg.n_perturbations > net_cfg.n_neurons:
        raise ConfigError(source, "protocol.n_perturbations",
                          f"got {pr_cfg.n_perturbations}, more than network.n_neurons "
                          f"({net_cfg.n_neurons}); each trial perturbs a different neuron, so "
                          f"allowed is 1 to {net_cfg.n_neurons}")
    for key in ("v_rest", "v_reset"):
        if getattr(net_cfg, key) >= net_cfg.v_th_mean:
            raise ConfigError(source, f"network.{key}",
                              f"got {getattr(net_cfg, key)}, not below network.v_th_mean "
                              f"({net_cfg.v_th_mean}); it must lie below the mean threshold")
    # thresholds are Normal(v_th_mean, v_th_std) kept > v_reset + 1 mV (models.structure)
    gap = net_cfg.v_reset + 1 * mV - net_cfg.v_th_mean   # <= 0 mV when the mean is above it
    if gap >= 0 * mV and (net_cfg.v_th_std == 0 * mV or float(gap / net_cfg.v_th_std) > 5):
        raise ConfigError(source, "network.v_th_std",
                          f"got {net_cfg.v_th_std} with network.v_reset {net_cfg.v_reset} and "
                          f"network.v_th_mean {net_cfg.v_th_mean}: every threshold must lie more "
                          "than 1 mV above the reset, which this spread (almost) never gives; "
                          f"lower network.v_reset below {net_cfg.v_th_mean - 1 * mV} or widen "
                          "network.v_th_std")
    if pr_cfg.bin < pr_cfg.dt or pr_cfg.bin > pr_cfg.observation:
        raise ConfigError(source, "protocol.bin",
                          f"got {pr_cfg.bin}; allowed is from protocol.dt ({pr_cfg.dt}) to "
                          f"protocol.observation ({pr_cfg.observation})")
    if pr_cfg.fano_window < pr_cfg.bin or pr_cfg.fano_window > pr_cfg.observation:
        raise ConfigError(source, "protocol.fano_window",
                          f"got {pr_cfg.fano_window}; allowed is from protocol.bin ({pr_cfg.bin}) "
                          f"to protocol.observation ({pr_cfg.observation})")
    if pr_cfg.baseline < pr_cfg.dt:
        raise ConfigError(source, "protocol.baseline",
                          f"got {pr_cfg.baseline}; the forced spike comes after the baseline, "
                          f"which must last at least one step (protocol.dt = {pr_cfg.dt})")
    if pr_cfg.observation < 10 * pr_cfg.dt:
        raise ConfigError(source, "protocol.observation",
                          f"got {pr_cfg.observation}; the measures need at least 10 steps of "
                          f"protocol.dt ({10 * pr_cfg.dt}) after the forced spike")
    steps = float((pr_cfg.transient + pr_cfg.baseline + pr_cfg.observation) / pr_cfg.dt)
    if steps > MAX_STEPS:
        raise ConfigError(source, "protocol.observation",
                          f"protocol.transient + protocol.baseline + protocol.observation is "
                          f"{steps:.3g} steps of protocol.dt ({pr_cfg.dt}); allowed are at most "
                          f"{MAX_STEPS:.0e} steps ({MAX_STEPS * pr_cfg.dt} of network time)")
    intervals = float((pr_cfg.transient + pr_cfg.baseline + pr_cfg.observation)
                      / in_cfg.channel_interval)
    if in_cfg.n_channels and in_cfg.channels_on and intervals > MAX_STEPS:
        raise ConfigError(source, "input.channel_interval",
                          f"got {in_cfg.channel_interval}: {intervals:.3g} rate intervals per "
                          f"channel; allowed are at most {MAX_STEPS:.0e}")


#: rate assumed by the memory estimate for the recorded spikes (runs above it need more)
ESTIMATE_RATE_HZ = 100.0
#: what one Python process holds before any network: Brian2, numpy, the suite, and Cython
#: compiling a network's code for the first time (measured: 170 MiB warm, 370 MiB compiling)
PROCESS_BYTES = 400 * 2**20


def point_memory(config) -> tuple[float, str]:
    """Peak bytes of one point (drawing, Brian2 objects, spikes, measures) and what dominates.

    An upper-bound estimate from the config alone, made before anything is
    built: the structure is drawn from ``n x n`` random matrices, Brian2 holds
    about 60 bytes per synapse and 100 per neuron, the input spikes are drawn
    ahead (about 40 bytes each while drawn and handed to Brian2), spikes are
    recorded at up to :data:`ESTIMATE_RATE_HZ` per neuron, and each trial's
    binned matrices are compared in memory.
    """
    from brian2 import ms

    from analysis.chaos_study import LZ_BIN_MS

    net_cfg, in_cfg, pr_cfg = config.network, config.input, config.protocol
    n, n_trials = net_cfg.n_neurons, pr_cfg.n_perturbations
    lay = layout(n_trials, pr_cfg.trials)
    replicas, n_real = lay.n_replicas, lay.trial_ids.size
    duration_s = float(pr_cfg.transient + pr_cfg.baseline + pr_cfg.observation)
    draw_bytes = (17 if net_cfg.fixed_indegree else 9) * float(n) ** 2
    channels = in_cfg.n_channels if in_cfg.channels_on else 0
    synapses = replicas * (net_cfg.connection_prob * n * (n - 1) + n
                           + channels * in_cfg.channel_connectivity * n)
    if in_cfg.noise == "predrawn":   # every input spike drawn ahead
        inputs = ("input spikes", 40 * n_real * duration_s * (
            n * float(in_cfg.background_rate) + channels * 2 * float(in_cfg.channel_rate)))
    else:                            # Poisson sources drawn by the device, channel rate tables
        intervals = math.ceil(duration_s / float(in_cfg.channel_interval)) + 1 if channels else 0
        inputs = ("input sources",
                  100 * n_real * (n + channels) + 8 * n_real * intervals * channels)
    spikes = replicas * n * ESTIMATE_RATE_HZ * duration_s
    n_fine = float(pr_cfg.observation / (LZ_BIN_MS * ms)) + 1  # the study's LZ sequence
    measure_bytes = n * n_fine * 3 + n_trials * float(pr_cfg.observation / pr_cfg.bin) * 8
    parts = {"structure": draw_bytes, "synapses": 60 * synapses, inputs[0]: inputs[1],
             "neurons": 100 * replicas * n, "spikes": 32 * spikes, "measures": measure_bytes}
    biggest = max(parts, key=parts.get)
    detail = (f"{replicas} x {n} neurons, {synapses:.3g} synapses; most for the "
              f"{biggest}")
    return PROCESS_BYTES + sum(parts.values()), detail


def estimate_memory(config, jobs=None) -> tuple[float, str]:
    """Peak bytes of a chaos run (one point) and what dominates it."""
    return point_memory(config)


def draw(config, block: int = 0) -> Drawn:
    """Draw the network, the trials' initial states and inputs, and the perturbed neurons."""
    import brian2 as b2
    from brian2 import Hz, mV, ms, second

    from models import lif, replicas, rng, structure

    net_cfg, in_cfg, pr_cfg = config.network, config.input, config.protocol
    n = net_cfg.n_neurons
    validate(config)

    def stream(purpose, trial=None):
        return rng.stream(config.seed.session, block=block, trial=trial, purpose=purpose)

    # the study's current I (mV/ms) enters as dv/dt = (v_rest - v)/tau_m + I; the suite's
    # equations carry R*I = tau_m * I (models.lif), so a weight of 1 mV/ms is a jump of tau_m mV
    weight_unit = (1 * mV / ms) * net_cfg.tau_m
    params = lif.LIFParams(tau_m=net_cfg.tau_m, tau_syn=net_cfg.tau_syn, v_rest=net_cfg.v_rest,
                           v_reset=net_cfg.v_reset, v_th_mean=net_cfg.v_th_mean,
                           refractory=net_cfg.refractory, I_bias=in_cfg.bias)
    inputs = replicas.InputParams(background_rate=in_cfg.background_rate,
                                  background_jump=in_cfg.background_weight * weight_unit,
                                  n_channels=in_cfg.n_channels, channel_rate=in_cfg.channel_rate,
                                  channel_jump=in_cfg.channel_weight * weight_unit,
                                  channel_interval=in_cfg.channel_interval,
                                  channels_on=in_cfg.channels_on, noise=in_cfg.noise)
    perturbation_time = pr_cfg.transient + pr_cfg.baseline
    duration = perturbation_time + pr_cfg.observation
    # thresholds stay at least 1 mV above the reset (see models.structure); offsets in mV
    struct = structure.draw_structure(
        n_neurons=n, connection_prob=net_cfg.connection_prob, fixed_indegree=net_cfg.fixed_indegree,
        g_std=net_cfg.g_std, v_th_std=float(net_cfg.v_th_std / mV),
        min_threshold_gap=float((net_cfg.v_reset + 1 * mV - net_cfg.v_th_mean) / mV),
        n_channels=in_cfg.n_channels, channel_connectivity=in_cfg.channel_connectivity,
        rngs={p: stream(p) for p in ("structure", "thresholds", "input")})
    lay = layout(pr_cfg.n_perturbations, pr_cfg.trials)
    v_reset = float(net_cfg.v_reset / b2.volt)
    if net_cfg.initial_v == "reset_to_rest":
        upper = np.full(n, float(net_cfg.v_rest / b2.volt))
    else:
        upper = float(params.v_th_mean / b2.volt) + struct.v_th_offset * 1e-3
    dt_s = float(pr_cfg.dt / second)
    n_steps = int(math.ceil(float(duration / pr_cfg.dt) - 1e-9)) + 1
    channels_on = in_cfg.channels_on and in_cfg.n_channels > 0
    interval_of_step = None
    if channels_on:
        interval_of_step = np.floor(np.arange(n_steps) * dt_s / float(in_cfg.channel_interval / second)
                                    + 1e-9).astype(np.int64)
    # input.noise: predrawn draws every input spike here; device draws only the initial
    # states and the channels' rate tables (the same ones) and leaves the spikes to Brian2
    predrawn = in_cfg.noise == "predrawn"
    realisations = []
    for trial in lay.trial_ids:
        v0 = v_reset + stream("initial_state", trial=int(trial)).random(n) * (upper - v_reset)
        background = channels = table = None
        if predrawn:
            background = replicas.poisson_steps(stream("noise", trial=int(trial)), n, n_steps,
                                                float(in_cfg.background_rate / Hz) * dt_s)
            channels = (np.zeros(0, np.int32), np.zeros(0, np.int32))
        if channels_on:
            table = replicas.channel_rate_table(in_cfg.n_channels, in_cfg.channel_rate,
                                                int(interval_of_step[-1]) + 1,
                                                stream("input", trial=int(trial)))
            if predrawn:
                channels = replicas.poisson_steps(stream("channel_spikes", trial=int(trial)),
                                                  in_cfg.n_channels, n_steps,
                                                  table[interval_of_step] * dt_s)
        realisations.append(replicas.Realisation(v0, background, channels, table))
    perturbed = stream("perturbation").choice(n, size=pr_cfg.n_perturbations,
                                              replace=False).astype(np.int32)
    return Drawn(params, inputs, struct, realisations, lay, perturbed, duration,
                 perturbation_time, weight_unit, 1 * mV)


def simulate(config, drawn: Drawn, perturbations: list, *, realisations=None,
             replica_realisation=None, block: int = 0, backend: str = "runtime",
             build_root: str | None = None):
    """Run the drawn point's replicas (or the given subset); returns their spikes.

    By default every replica of ``drawn.layout``; ``realisations`` and
    ``replica_realisation`` simulate other arrangements (one pair alone, ...).
    """
    from models import devices, replicas

    with devices.backend(backend, build_root=build_root) as device:
        net, objects = _network(config, drawn, perturbations, realisations,
                                replica_realisation, block)
        device.run(net, drawn.duration)
        return replicas.spikes_of(objects, drawn.structure.n_neurons)


def _network(config, drawn: Drawn, perturbations: list, realisations, replica_realisation,
             block: int):
    """The Brian2 network of the drawn point (inside a :func:`models.devices.backend` block),
    its device random numbers seeded from the point's ``noise`` stream."""
    import brian2 as b2

    from models import replicas, rng

    if realisations is None:
        realisations, replica_realisation = drawn.realisations, drawn.layout.realisation
    b2.seed(rng.integer_seed(config.seed.session, block=block, purpose="noise"))
    return replicas.build(drawn.structure, drawn.params, drawn.inputs,
                          realisations=realisations, replica_realisation=replica_realisation,
                          weight_unit=drawn.weight_unit, threshold_unit=drawn.threshold_unit,
                          perturbations=perturbations, dt=config.protocol.dt)


def build_point(config, directory, *, backend: str = "cpp", block: int = 0, compile: bool = True,
                **cuda) -> dict:
    """Generate (and compile) the standalone project of one point into ``directory`` without
    running it; returns what :func:`collect_point` needs to read the binary's output: the
    files the spike monitor writes, relative to ``directory/results``."""
    from models import devices

    drawn = draw(config, block)
    with devices.backend(backend, directory=directory, build_only=True, compile=compile,
                         **cuda) as device:
        net, objects = _network(config, drawn, perturbations_of(config, drawn), None, None,
                                block)
        device.run(net, drawn.duration)
        monitor = objects["spikes"]
        files = {"i": device.array_file(monitor.variables["i"]),
                 "t": device.array_file(monitor.variables["t"])}
        tools = device.tools
    out = {"block": int(block), "spike_files": files, "n_neurons": int(drawn.structure.n_neurons)}
    if tools is not None:
        out.update(compute_capability=tools.compute_capability, cuda_version=tools.cuda_version,
                   gpu_present=tools.gpu_present, gpu_id=tools.gpu_id)
    return out


def collect_point(config, results_dir, built: dict, *, backend: str = "cpp",
                  keep_spikes: bool = True) -> tuple[dict, dict]:
    """``(attrs, datasets)`` of a point whose binary (:func:`build_point`) ran and wrote its
    output into ``results_dir``: the same measures as :func:`simulate_point`."""
    from brian2 import second

    from models import replicas

    started = time.perf_counter()
    block = int(built["block"])
    drawn = draw(config, block)
    arrays = {}
    for key, dtype in (("i", np.int32), ("t", np.float64)):
        path = Path(results_dir) / built["spike_files"][key]
        if not path.is_file():
            raise UsageError(f"{path} is missing: the binary has not run (or wrote "
                             "elsewhere); run ./main in the project folder first")
        arrays[key] = np.fromfile(path, dtype=dtype)
    if arrays["i"].size != arrays["t"].size:
        raise UsageError(f"{results_dir}: the spike monitor's index and time files differ in "
                         f"length ({arrays['i'].size} vs {arrays['t'].size}): damaged output")
    all_spikes = replicas.spikes_from_arrays(arrays["i"], arrays["t"],
                                             drawn.structure.n_neurons,
                                             perturbations_of(config, drawn),
                                             float(config.protocol.dt / second))
    by_replica = all_spikes.split()
    empty = (np.zeros(0, np.int32), np.zeros(0))
    attrs, datasets = measure(config, drawn, lambda r: by_replica.get(r, empty),
                              keep_spikes=keep_spikes)
    try:    # Brian2's standalone main writes "<run time in s> <completed fraction>"
        sim_time = float((Path(results_dir) / "last_run_info.txt").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        sim_time = float("nan")
    attrs.update(block_id=block, simulation_time_s=sim_time,
                 compute_time_s=float(time.perf_counter() - started), backend=backend)
    return attrs, datasets


def perturbations_of(config, drawn: Drawn) -> list:
    """The forced spikes of every trial (none when ``protocol.perturb`` is false)."""
    from models import replicas

    if not config.protocol.perturb:
        return []
    return [replicas.Perturbation(replica=int(r), neuron=int(neuron), time=drawn.perturbation_time)
            for r, neuron in zip(drawn.layout.perturbed, drawn.perturbed)]


def simulate_single(config, *, block: int = 0, trial: int = 0, perturbed: bool = False,
                    backend: str = "runtime", drawn: Drawn | None = None):
    """One run of one trial on its own (the plain approach the replicas replace).

    ``trial`` counts from 0; ``perturbed`` selects the trial's perturbed run
    instead of its control.  Same network, initial state and noise as that
    replica of :func:`simulate_point` (with ``input.noise: predrawn``; device-drawn noise
    depends on how many realisations run together); returns ``(neuron, time_s)`` of its
    spikes.
    """
    from models import replicas

    drawn = draw(config, block) if drawn is None else drawn
    realisation = drawn.realisations[int(drawn.layout.realisation[drawn.layout.control[trial]])]
    forced = [replicas.Perturbation(0, int(drawn.perturbed[trial]), drawn.perturbation_time)] \
        if perturbed and config.protocol.perturb else []
    return simulate(config, drawn, forced, realisations=[realisation], replica_realisation=[0],
                    block=block, backend=backend).of(0)


def simulate_point(config, *, block: int = 0, backend: str = "runtime",
                   build_root: str | None = None, keep_spikes: bool = False,
                   compile_once: bool | None = None) -> tuple[dict, dict]:
    """Simulate every trial's control and perturbed runs for one point and measure them.

    On ``cpp``, a point that :func:`compile_once_blocker` accepts runs on a cached build
    of its structure (:func:`simulate_compiled`) unless ``compile_once`` is false
    (default: ``$SNNSUITE_COMPILE_ONCE``, on unless ``0``).
    Returns ``(attrs, datasets)`` ready for :meth:`analysis.results.ResultWriter.write_point`.
    """
    started = time.perf_counter()
    # 2. build: draw everything random from the point's streams
    drawn = draw(config, block)
    # 3. run all replicas in one network
    build = {}
    if backend == "cpp" and compile_once_enabled(compile_once) \
            and compile_once_blocker(config) is None:
        all_spikes, build = simulate_compiled(config, drawn, block=block, build_root=build_root)
    else:
        all_spikes = simulate(config, drawn, perturbations_of(config, drawn), block=block,
                              backend=backend, build_root=build_root)
    sim_time = time.perf_counter() - started
    by_replica = all_spikes.split()
    empty = (np.zeros(0, np.int32), np.zeros(0))
    attrs, datasets = measure(config, drawn, lambda r: by_replica.get(r, empty),
                              keep_spikes=keep_spikes)
    attrs.update(block_id=int(block), simulation_time_s=float(sim_time),
                 compute_time_s=float(time.perf_counter() - started), backend=backend, **build)
    return attrs, datasets


# --------------------------------------------------------------------------- compile once
#: keys a compiled build takes per run (models.compiled): values of variables, a seed
RUN_VALUE_KEYS = ("network.v_th_std", "network.g_std", "network.initial_v",
                  "input.background_rate", "seed.session")
#: keys only the measures read: they do not change the simulation
ANALYSIS_KEYS = ("protocol.bin", "protocol.growth_fraction", "protocol.fano_window")
#: ``0`` turns compile-once off (every cpp point builds its own project)
COMPILE_ONCE_VARIABLE = "SNNSUITE_COMPILE_ONCE"
#: the code a build is generated from: a change here makes every cached build stale
_BUILD_SOURCES = ("models/lif.py", "models/replicas.py", "models/compiled.py",
                  "models/devices.py", "protocols/chaos.py")


def compile_once_enabled(compile_once: bool | None = None) -> bool:
    """``compile_once`` if given, else ``$SNNSUITE_COMPILE_ONCE`` (on unless ``0``)."""
    if compile_once is not None:
        return bool(compile_once)
    return os.environ.get(COMPILE_ONCE_VARIABLE, "1").strip() != "0"


def compile_once_blocker(config) -> str | None:
    """Why the points of ``config`` cannot share one cpp build (``None``: they can).

    Two things change the size of a network's arrays from point to point, and sizes
    are compiled in: pre-drawn input spikes and a random number of synapses.
    """
    if config.input.noise != "device":
        return ("input.noise is predrawn: the input spike arrays differ in size from point "
                "to point (set input.noise: device)")
    if not config.network.fixed_indegree:
        return ("network.fixed_indegree is false: the number of synapses differs from point "
                "to point (set network.fixed_indegree: true)")
    return None


def compile_note(config, backend: str) -> str | None:
    """One line for a sweep's start: how its cpp points are compiled."""
    if backend != "cpp":
        return None
    if not compile_once_enabled():
        return f"cpp: every point compiles its own project (${COMPILE_ONCE_VARIABLE}=0)"
    reason = compile_once_blocker(config)
    if reason:
        return f"cpp: every point compiles its own project: {reason}"
    from models import compiled

    return (f"cpp: points of one structure share one build (cache {compiled.cache_root()}; "
            "`snnsuite clean` removes it)")


def _source_digest() -> str:
    import hashlib

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _BUILD_SOURCES:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()[:16]


def structure_key(config, arrays: dict) -> dict:
    """What a build of this point compiles in: the config without :data:`RUN_VALUE_KEYS`
    and :data:`ANALYSIS_KEYS`, the shapes of every array the network is given, and the
    code it is generated from."""
    skip = set(RUN_VALUE_KEYS) | set(ANALYSIS_KEYS)
    settings = {f"{section}.{key}": str(value) for section in SCHEMA
                for key, value in dict(config[section]).items()
                if f"{section}.{key}" not in skip}
    shapes = {name: list(np.shape(value)) for name, value in sorted(arrays.items())}
    return {"protocol": NAME, "settings": settings, "arrays": shapes,
            "sources": _source_digest()}


def split_values(manifest: dict, arrays: dict) -> tuple[dict, dict]:
    """``arrays`` (:func:`models.replicas.point_arrays`) as the ``values`` and ``static``
    of :meth:`models.compiled.CompiledNetwork.run`; refuses a build that sets an array
    the point does not give (it would keep the first point's)."""
    values, static = {}, {}
    for name, value in arrays.items():
        if name in manifest["static"]:        # the binary's own initialisation: one file
            static[name] = value
        elif name in manifest["settable"]:
            values[name] = value
        else:
            raise RuntimeError(f"the compiled build cannot take {name!r}: neither settable "
                               "nor a replaceable static array")
    missing = sorted(set(manifest["static"]) - set(arrays))
    if missing:
        raise RuntimeError(f"the compiled build sets {', '.join(missing)} from the first "
                           "point's values and this point gives none: models.replicas."
                           "point_arrays must return them")
    return values, static


def simulate_compiled(config, drawn: Drawn, *, block: int = 0,
                      build_root: str | None = None):
    """Run the drawn point on the cached cpp build of its structure (built on first use):
    ``(ReplicaSpikes, attrs)``, the spikes identical to :func:`simulate` on ``cpp``.

    The point's thresholds, initial potentials, weights, connectivity, forced-spike flags
    and background rate go in as run values, its noise seed as the run's seed; the binary's
    output is read back and checked (:meth:`models.compiled.CompiledNetwork.run`).
    """
    import shutil
    import tempfile

    from brian2 import second

    from models import compiled, replicas, rng

    perturbations = perturbations_of(config, drawn)
    arrays = replicas.point_arrays(
        drawn.structure, drawn.params, drawn.inputs, realisations=drawn.realisations,
        replica_realisation=drawn.layout.realisation, weight_unit=drawn.weight_unit,
        threshold_unit=drawn.threshold_unit, perturbations=perturbations)
    key = structure_key(config, arrays)

    def build_network():
        return _network(config, drawn, perturbations, None, None, block)[0]

    if build_root is not None:
        Path(build_root).mkdir(parents=True, exist_ok=True)
    built_at = time.perf_counter()
    with compiled.cached_build(key, build_network, drawn.duration) as (binary, built_now):
        build_s = time.perf_counter() - built_at
        values, static = split_values(binary.manifest, arrays)
        folder = Path(tempfile.mkdtemp(prefix=f"point{block}_", dir=build_root))
        try:
            result = binary.run(values, static=static, results_dir=folder / "run",
                                seed=rng.integer_seed(config.seed.session, block=block,
                                                      purpose="noise"))
            index, time_s = result.spikes("spikes")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    spikes = replicas.spikes_from_arrays(index, time_s, drawn.structure.n_neurons,
                                         perturbations, float(config.protocol.dt / second))
    return spikes, {"compiled_once": True, "build_hash": binary.directory.name,
                    "build_reused": not built_now, "build_time_s": float(build_s)}


def sweep_point(config, *, block: int = 0, backend: str = "runtime",
                build_root: str | None = None) -> tuple[dict, dict]:
    """One point of a sweep (:mod:`protocols.sweep`): :func:`simulate_point` on the point's own
    network (``block``, its flat index in the sweep), Hamming distances stored as int16."""
    attrs, datasets = simulate_point(config, block=block, backend=backend, build_root=build_root)
    datasets["hamming_distance"] = datasets["hamming_distance"].astype(np.int16)
    return attrs, datasets


def measure(config, drawn: Drawn, spikes_of, *, keep_spikes: bool = False) -> tuple[dict, dict]:
    """Chaos measures and control statistics from the spikes of every replica.

    ``spikes_of(r)`` gives ``(neuron, time_s)`` of replica ``r``; trial ``k``
    compares replica ``drawn.layout.perturbed[k]`` with ``drawn.layout.control[k]``.
    """
    from brian2 import mV, second

    from analysis import chaos_study

    net_cfg, pr_cfg = config.network, config.protocol
    n, n_trials = net_cfg.n_neurons, pr_cfg.n_perturbations
    lay, perturbed = drawn.layout, drawn.perturbed

    # 4. analyse: binned difference matrices over the observation window
    t_start_s = float(pr_cfg.transient / second)
    t0_s = float(drawn.perturbation_time / second)
    t1_s = float(drawn.duration / second)
    bin_s = float(pr_cfg.bin / second)
    spikes = {int(r): spikes_of(int(r)) for r in np.unique(np.concatenate([lay.control,
                                                                           lay.perturbed]))}

    def binned(replica):
        i, t = spikes[replica]
        return spike_stats.bin_spikes(i, t, n, t0_s, t1_s, bin_s, binary=True)

    controls = {int(r): binned(int(r)) for r in np.unique(lay.control)}
    saturations = {r: chaos_measures.saturation_level(c) for r, c in controls.items()}
    n_bins = next(iter(controls.values())).shape[1]
    lz, lz_entropy, lz_phrases = np.empty(n_trials), np.empty(n_trials), np.empty(n_trials)
    slope, lz_study, slope_study = np.empty(n_trials), np.empty(n_trials), np.empty(n_trials)
    distance = np.empty((n_trials, n_bins), dtype=np.int32)
    for k in range(n_trials):
        c, q = int(lay.control[k]), int(lay.perturbed[k])
        control, trial = controls[c], binned(q)
        difference = (trial != control).astype(np.uint8)
        distance[k] = chaos_measures.hamming_distance(control, trial)
        measures = complexity.lempel_ziv_all(difference)  # one parsing, all normalisations
        lz[k], lz_entropy[k], lz_phrases[k] = (measures["plain"], measures["entropy"],
                                               measures["count"])
        slope[k] = chaos_measures.hamming_slope(distance[k], bin_s, saturation=saturations[c],
                                                fraction=pr_cfg.growth_fraction)
        lz_study[k], slope_study[k] = chaos_study.trial_measures(
            *spikes[c], *spikes[q], n, t0_s, t1_s, int(perturbed[k]))

    stats = control_statistics([spikes[int(r)] for r in np.unique(lay.control)], n, t_start_s,
                               t0_s, t1_s, float(pr_cfg.fano_window / second))
    attrs = {
        "v_th_std": float(net_cfg.v_th_std / mV), "g_std": float(net_cfg.g_std),
        "units": "v_th_std: mV; g_std: mV/ms; hamming_slope: neurons/s; "
                 "hamming_slope_study: neurons/ms; lz_study: phrases",
        "n_trials": int(n_trials), "n_neurons": int(n), "trials": pr_cfg.trials,
        "lz_mean": float(lz.mean()), "lz_std": float(lz.std()),
        "lz_entropy_mean": float(lz_entropy.mean()), "lz_entropy_std": float(lz_entropy.std()),
        "hamming_mean": float(slope.mean()), "hamming_std": float(slope.std()),
        "lz_study_mean": float(lz_study.mean()), "lz_study_std": float(lz_study.std()),
        "hamming_study_mean": float(slope_study.mean()),
        "hamming_study_std": float(slope_study.std()),
        "final_distance_mean": float(distance[:, -max(1, n_bins // 10):].mean()),
        "saturation": float(np.mean(list(saturations.values()))),
        **stats["attrs"],
        "bin_s": bin_s, "transient_s": t_start_s, "baseline_s": t0_s - t_start_s,
        "perturbation_time_s": t0_s, "observation_s": t1_s - t0_s,
    }
    datasets = {
        "lz": lz, "lz_entropy": lz_entropy, "lz_phrases": lz_phrases, "hamming_slope": slope,
        "lz_study": lz_study, "hamming_slope_study": slope_study,
        "perturbed_neurons": perturbed, "hamming_distance": distance,
        "control_rates_hz": stats["rates"].astype(np.float32),
    }
    if keep_spikes:
        ctrl_i, ctrl_t = spikes[int(lay.control[0])]
        first_i, first_t = spikes[int(lay.perturbed[0])]
        datasets.update(control_spike_i=ctrl_i, control_spike_t_s=ctrl_t,
                        trial_spike_i=first_i, trial_spike_t_s=first_t)
    return attrs, datasets


def control_statistics(controls: list, n: int, t_start_s: float, t0_s: float, t1_s: float,
                       fano_window_s: float) -> dict:
    """Rates, CV of the ISIs and Fano factors of the control runs, pooled.

    ``controls`` holds ``(neuron, time_s)`` of each control run.  Rates and
    CVs use the spikes after the transient (``t >= t_start_s``); Fano factors
    count spikes in windows of the observation ``[t0_s, t1_s)``.  Per-neuron
    values are averaged over the controls; CVs and Fano factors that cannot
    be computed (too few spikes, no spike) are left out of the means.
    """
    m = len(controls)
    key = np.concatenate([i.astype(np.int64) + c * n for c, (i, _) in enumerate(controls)])
    times = np.concatenate([t for _, t in controls])
    keep = times >= t_start_s
    key, times = key[keep], times[keep]
    counts = np.bincount(key, minlength=m * n)
    rates = (counts / max(t1_s - t_start_s, 1e-300)).reshape(m, n)
    # ISIs of every (control, neuron) train at once
    order = np.lexsort((times, key))
    key, times = key[order], times[order]
    same = key[1:] == key[:-1]
    isi_key, isi = key[1:][same], np.diff(times)[same]
    n_isi = np.bincount(isi_key, minlength=m * n)
    s1 = np.bincount(isi_key, isi, minlength=m * n)
    s2 = np.bincount(isi_key, isi * isi, minlength=m * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n_isi
        var = np.maximum(s2 / n_isi - mean * mean, 0.0)
        cvs = np.where((n_isi >= 2) & (mean > 0), np.sqrt(var) / mean, np.nan)
    n_windows = int(round((t1_s - t0_s) / fano_window_s))
    fano_keep = (times >= t0_s) & (times < t0_s + n_windows * fano_window_s)
    window = np.minimum(((times[fano_keep] - t0_s) / fano_window_s).astype(np.int64), n_windows - 1)
    window_counts = np.bincount(key[fano_keep] * n_windows + window,
                                minlength=m * n * n_windows).reshape(m * n, n_windows)
    with np.errstate(invalid="ignore", divide="ignore"):
        w_mean = window_counts.mean(axis=1)
        fanos = np.where(w_mean > 0, window_counts.var(axis=1) / w_mean, np.nan)
    per_neuron = rates.mean(axis=0)
    return {
        "rates": per_neuron,
        "attrs": {
            "rate_mean": float(per_neuron.mean()), "rate_std": float(per_neuron.std()),
            "cv_mean": float(np.nanmean(cvs)) if np.isfinite(cvs).any() else float("nan"),
            "fano_mean": float(np.nanmean(fanos)) if np.isfinite(fanos).any() else float("nan"),
            "silent_fraction": float((rates == 0).mean()),
            "n_controls": int(m),
        },
    }


# --------------------------------------------------------------------------- protocol API
def versions() -> dict:
    """Versions recorded in every result file."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("snnsuite", "brian2", "numpy", "scipy", "h5py", "torch"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False) -> Path:
    """Run one chaos point and write ``out_dir/results.h5``."""
    out_dir = outdir.claim(out_dir, NAME)  # a folder of its own (see protocols.outdir)
    # 1. config (validated by the caller) -> 2. build -> 3. run -> 4. analyse, in simulate_point
    writer = ResultWriter(out_dir, NAME, config.to_yaml(), config.seed.session, versions(),
                          resume=resume)
    if "p0000" not in writer.completed():
        attrs, datasets = simulate_point(config, block=0, backend=backend,
                                         build_root=str(out_dir / "build"), keep_spikes=True)
        # 5. save
        writer.write_point("p0000", attrs, datasets)
    _remove_if_empty(out_dir / "build")
    return writer.finalize()


def _remove_if_empty(folder: Path) -> None:
    """Drop the C++ build root once its per-run directories are gone."""
    try:
        folder.rmdir()
    except OSError:  # missing, or kept builds inside
        pass


def report(results_path: Path, out_dir: Path | None = None) -> Path:
    """Figures and ``report.md`` for a chaos result file; returns the report path."""
    result = load(results_path)
    out_dir = Path(out_dir) if out_dir is not None else Path(results_path).parent
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    point = result.point
    a, d = point.attrs, point.data
    n_bins = d["hamming_distance"].shape[1]
    t_perturb = a.get("perturbation_time_s", a["baseline_s"])
    time_s = t_perturb + a["bin_s"] * np.arange(n_bins)
    made = []
    if "control_spike_i" in d and len(d["perturbed_neurons"]):
        made.append(plots.raster_comparison(
            d["control_spike_i"], d["control_spike_t_s"], d["trial_spike_i"], d["trial_spike_t_s"],
            figures / "raster.png", perturbation_time_s=t_perturb,
            perturbed_neuron=int(d["perturbed_neurons"][0]), n_show=min(200, int(a["n_neurons"]))))
    made.append(plots.hamming_over_time(time_s, d["hamming_distance"], figures / "hamming.png",
                                        saturation=a["saturation"],
                                        title=f"v_th_std={a['v_th_std']:g} mV, "
                                              f"g_std={a['g_std']:g} mV/ms"))
    made.append(plots.lz_distribution(d["lz"], figures / "lz_distribution.png"))

    lines = [
        "# Chaos perturbation: one point", "",
        f"Result file: `{Path(results_path).name}`; seed {result.seed}; "
        f"created {result.attrs.get('created', '?')}.", "",
        "| quantity | value |", "|---|---|",
    ]
    rows = [("v_th_std (mV)", f"{a['v_th_std']:g}"), ("g_std (mV/ms)", f"{a['g_std']:g}"),
            ("neurons", a["n_neurons"]),
            ("perturbation trials", f"{a['n_trials']} ({a.get('trials', 'shared_control')})"),
            ("LZ complexity (LZ76, c log2 n / n)", f"{a['lz_mean']:.4g} ± {a['lz_std']:.2g}"),
            ("LZ76 complexity (entropy-normalised)", f"{a['lz_entropy_mean']:.4g} ± {a['lz_entropy_std']:.2g}"),
            ("Hamming growth slope (neurons/s)", f"{a['hamming_mean']:.4g} ± {a['hamming_std']:.2g}"),
            ("study's LZ (phrases, 0.1 ms bins)",
             f"{a['lz_study_mean']:.4g} ± {a['lz_study_std']:.2g}" if "lz_study_mean" in a else "-"),
            ("study's Hamming slope (neurons/ms)",
             f"{a['hamming_study_mean']:.4g} ± {a['hamming_study_std']:.2g}"
             if "hamming_study_mean" in a else "-"),
            ("final Hamming distance / saturation", f"{a['final_distance_mean']:.3g} / {a['saturation']:.3g}"),
            ("control rate (Hz)", f"{a['rate_mean']:.3g}"), ("control CV(ISI)", f"{a['cv_mean']:.3g}"),
            ("control Fano factor", f"{a['fano_mean']:.3g}"),
            ("compute time (s)", f"{a['compute_time_s']:.2f}"), ("backend", a.get("backend", "?"))]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return write_report(out_dir, lines, made, result.versions)


def main(argv=None) -> int:
    from protocols.cli import protocol_main

    return protocol_main(NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
