"""Replicas of one network side by side in a single Brian2 simulation.

A perturbation experiment compares a control run with trials that differ only
by one extra spike.  Instead of simulating each trial in its own run, the
control and all trials are *replicas* in one ``NeuronGroup`` of
``n_replicas * n_neurons`` neurons:

- recurrent synapses are block-diagonal (replica ``r`` is neurons
  ``r*n .. r*n + n - 1`` and only connects to itself), created in the same
  order in every block so floating-point sums happen in the same order;
- the noise (static Poisson background, dynamic Poisson channels) comes from
  one ``PoissonGroup`` per kind whose spikes are fanned out to the same neuron
  of every replica: every replica sees exactly the same input spikes;
- thresholds and initial membrane potentials are tiled.

So replicas are bit-identical until a perturbation makes them differ, and a
perturbed trial differs from the control *only* by its perturbation.

Perturbation: an auxiliary spike of neuron ``k`` in replica ``r`` at time
``t`` is delivered to ``k``'s postsynaptic targets in replica ``r`` with
``k``'s weights, exactly as one of ``k``'s own spikes would be.  The neuron's
own membrane is not reset, so the perturbation is one extra output spike
even when ``k`` happens to be refractory.
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


class InputParams(NamedTuple):
    """External input (weights in normalised units, see :mod:`models.lif`)."""

    background_rate: b2.Quantity = 200 * Hz   # independent Poisson rate per neuron
    background_weight: float = 0.1            # jump of I_syn per background spike
    n_channels: int = 20                      # dynamic Poisson input channels
    channel_rate: b2.Quantity = 10 * Hz       # mean rate of a channel
    channel_weight: float = 0.2               # jump of I_syn per channel spike
    channel_interval: b2.Quantity = 50 * ms   # a channel's rate is redrawn this often


class Perturbation(NamedTuple):
    """One auxiliary spike: neuron ``neuron`` of replica ``replica`` at ``time``."""

    replica: int
    neuron: int
    time: b2.Quantity


class ReplicaSpikes(NamedTuple):
    """Spikes of all replicas: neuron index within the replica, replica, time (s)."""

    neuron: np.ndarray
    replica: np.ndarray
    time_s: np.ndarray

    def of(self, replica: int) -> tuple[np.ndarray, np.ndarray]:
        """``(neuron, time_s)`` of one replica, in time order."""
        keep = self.replica == replica
        return self.neuron[keep], self.time_s[keep]


def channel_rate_table(n_channels: int, mean_rate: b2.Quantity, n_intervals: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Piecewise-constant channel rates in Hz, shape ``(n_intervals, n_channels)``.

    Each channel's rate is redrawn every interval, uniformly in
    ``[0, 2 * mean_rate]`` (mean ``mean_rate``).
    """
    return rng.uniform(0.0, 2.0 * float(mean_rate / Hz), size=(n_intervals, n_channels))


def build(structure: Structure, params: lif.LIFParams, inputs: InputParams, *,
          n_replicas: int, v0: np.ndarray, channel_rates_hz: np.ndarray,
          perturbations: list, duration: b2.Quantity, dt: b2.Quantity,
          record_v: bool = False) -> tuple[b2.Network, dict]:
    """Build the replica network (does not run it).

    Parameters
    ----------
    structure : Structure
        The network drawn by :func:`models.structure.draw_structure`.
    v0 : ndarray
        Initial membrane potential of each neuron, in volts (same in every replica).
    channel_rates_hz : ndarray
        ``(n_intervals, n_channels)`` rate table from :func:`channel_rate_table`.
    perturbations : list of Perturbation
        Auxiliary spikes; an empty list gives replicas that stay identical.

    Returns
    -------
    net, objects : the ``Network`` and a dict of its named objects
        (``neurons``, ``spikes`` monitor, ...).
    """
    n = structure.n_neurons
    if n_replicas < 1:
        raise ValueError(f"n_replicas must be >= 1, got {n_replicas}")
    v_unit = params.v_unit
    offsets = (np.arange(n_replicas, dtype=np.int64) * n)[:, None]

    neurons = lif.neuron_group(n * n_replicas, params, dt=dt, name="neurons")
    neurons.v_th = np.tile(params.v_th_mean + structure.v_th_offset * v_unit, n_replicas)
    neurons.v = np.tile(np.asarray(v0, dtype=float), n_replicas) * b2.volt
    neurons.I_syn = 0 * mV

    recurrent = b2.Synapses(neurons, neurons, model=lif.SYNAPSE_MODEL, on_pre=lif.ON_PRE,
                            dt=dt, name="recurrent", namespace={})
    if connect(recurrent, (structure.pre[None, :] + offsets).ravel(),
               (structure.post[None, :] + offsets).ravel()):
        recurrent.w = np.tile(structure.weight * float(v_unit), n_replicas) * b2.volt

    background = b2.PoissonGroup(n, rates=inputs.background_rate, dt=dt, name="background")
    to_background = b2.Synapses(background, neurons, on_pre=BACKGROUND_ON_PRE, dt=dt,
                                name="background_synapses",
                                namespace={"w_background": inputs.background_weight * v_unit})
    connect(to_background, np.tile(np.arange(n), n_replicas), (np.arange(n)[None, :] + offsets).ravel())
    objects = [neurons, recurrent, background, to_background]

    if inputs.n_channels > 0:
        table = b2.TimedArray(channel_rates_hz * Hz, dt=inputs.channel_interval, name="channel_rates")
        channels = b2.PoissonGroup(inputs.n_channels, rates="channel_rates(t, i)", dt=dt,
                                   name="channels", namespace={"channel_rates": table})
        to_channels = b2.Synapses(channels, neurons, on_pre=CHANNEL_ON_PRE, dt=dt,
                                  name="channel_synapses",
                                  namespace={"w_channel": inputs.channel_weight * v_unit})
        ch_i = np.concatenate([np.full(t.size, c) for c, t in enumerate(structure.channel_targets)])
        ch_j = np.concatenate(structure.channel_targets)
        connect(to_channels, np.tile(ch_i, n_replicas), (ch_j[None, :] + offsets).ravel())
        objects += [channels, to_channels]

    if perturbations:
        objects += _perturbation_objects(structure, perturbations, neurons, n, v_unit, dt)

    spikes = b2.SpikeMonitor(neurons, name="spikes")
    objects.append(spikes)
    if record_v:
        objects.append(b2.StateMonitor(neurons, "v", record=True, dt=dt, name="v_monitor"))
    net = b2.Network(*objects)
    return net, {obj.name: obj for obj in objects}


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


def _perturbation_objects(structure, perturbations, neurons, n, v_unit, dt):
    """A generator emitting the auxiliary spikes and synapses copying the
    perturbed neurons' outgoing weights inside their replica."""
    times = np.array([float(p.time / second) for p in perturbations]) * second
    generator = b2.SpikeGeneratorGroup(len(perturbations), np.arange(len(perturbations)), times,
                                       dt=dt, name="perturbation")
    syn_i, syn_j, syn_w = [], [], []
    for k, p in enumerate(perturbations):
        out = structure.pre == p.neuron
        syn_i.append(np.full(int(out.sum()), k))
        syn_j.append(structure.post[out] + p.replica * n)
        syn_w.append(structure.weight[out])
    synapses = b2.Synapses(generator, neurons, model=lif.SYNAPSE_MODEL, on_pre=lif.ON_PRE, dt=dt,
                           name="perturbation_synapses", namespace={})
    if connect(synapses, np.concatenate(syn_i), np.concatenate(syn_j)):
        synapses.w = np.concatenate(syn_w) * float(v_unit) * b2.volt
    return [generator, synapses]


def spikes_of(objects: dict, n_neurons: int) -> ReplicaSpikes:
    """Read the spike monitor into numpy arrays split by replica."""
    mon = objects["spikes"]
    idx = np.asarray(mon.i[:], dtype=np.int64)
    return ReplicaSpikes(neuron=(idx % n_neurons).astype(np.int32),
                         replica=(idx // n_neurons).astype(np.int32),
                         time_s=np.asarray(mon.t[:] / second, dtype=float))
