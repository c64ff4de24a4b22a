"""Selective plasticity: learn only while enough neurons of the network are active.

The tutorial's ``selective_learning`` applies plasticity on a step only when
at least ``learn_threshold`` neurons spiked in it.  Here the learning-rate
modulator ``lr_mod`` of the plastic synapses is driven by activity: every
``check`` interval (1 ms) the gate counts the distinct neurons of the watched
population that spiked during the last ``window`` and sets

.. math:: \\text{lr\\_mod}(t) = s(t)\\;[\\,n_{active}(t - \\text{window}, t) \\ge k\\,]

where :math:`s(t)` is the protocol's own schedule of the modulator (1 when
it has none) and :math:`[\\cdot]` is 1 when true, else 0.  Rules gated by
``lr_mod`` (Hebbian, BCM, decay made with ``gated=True``) change nothing
while the gate is closed; ungated ones (plain weight decay) go on.

The count reads the spike counters of ``SpikeMonitor(record=False)`` objects
(kept by Brian2's generated code) every millisecond and compares them with
their values one window earlier (a ring buffer), so the cost does not grow
with the number of spikes.  It runs as a ``NetworkOperation`` (Python between
time steps), hence on the runtime back-end only; the command line refuses it
on the standalone ones (``protocols.plasticity.check_backend``).  Its state
(the ring buffer and the gate's history) is part of a checkpoint
(:mod:`protocols.plasticity.checkpoint`).

Config keys, shared by the sub-experiments that take them (``hebbian``,
``patterns``, ``curriculum``): ``selective_k`` (0: off), ``selective_window``,
``selective_population`` (:data:`SECTION`).
"""
from __future__ import annotations

import numpy as np

from protocols.config import ConfigError, Field

#: populations whose activity can open the gate
POPULATIONS = ("units", "inputs", "all")

SECTION = {
    "selective_k": Field("int", 0, low=0,
                         doc="selective plasticity: learn only while at least this many neurons "
                             "of selective_population spiked in the last selective_window "
                             "(0: always learn)"),
    "selective_window": Field("quantity", "10 ms", unit="time", low=0, low_open=True,
                              doc="selective plasticity: the window the active neurons are "
                                  "counted in (whole ms)"),
    "selective_population": Field("str", "units", choices=POPULATIONS,
                                  doc="selective plasticity: whose spikes count: the "
                                      "postsynaptic units, the inputs, or both"),
}

#: the gate is set this often (seconds): the millisecond grid of the schedules
CHECK_S = 1e-3


def population_size(cfg, n_inputs: int, n_units: int) -> int:
    """Neurons of ``cfg.selective_population``."""
    return {"units": n_units, "inputs": n_inputs, "all": n_inputs + n_units}[
        cfg.selective_population]


def validate(cfg, source, section: str, *, n_inputs: int, n_units: int, duration) -> None:
    """``ConfigError`` naming the key: ``selective_k`` above the population it counts,
    a window that is not a whole number of milliseconds or longer than the run."""
    from protocols.plasticity import checks

    if cfg.selective_k == 0:
        return
    size = population_size(cfg, n_inputs, n_units)
    if cfg.selective_k > size:
        names = {"units": f"{section}.n_units", "inputs": f"{section}.n_inputs",
                 "all": f"{section}.n_inputs + {section}.n_units"}
        raise ConfigError(source, f"{section}.selective_k",
                          f"got {cfg.selective_k} with {section}.selective_population "
                          f"{cfg.selective_population!r}; allowed 0 to "
                          f"{names[cfg.selective_population]} = {size} (because it counts "
                          "distinct neurons of that population; 0 switches the gate off)")
    checks.whole_ms(source, f"{section}.selective_window", cfg.selective_window,
                    at_least_one=True, why="the gate is set once every millisecond")
    checks.window(source, f"{section}.selective_window", cfg.selective_window,
                  high=(duration, "the run's duration"),
                  why="the active neurons are counted within the run")


def _network_operation_class():
    import brian2 as b2

    class ActivityGate(b2.NetworkOperation):
        """Sets ``lr_mod`` of ``synapses`` from the activity of ``groups`` (module docstring).

        ``schedule`` (one value per millisecond, optional) is the modulator
        the gate multiplies; ``history`` (one value per millisecond) records
        the modulator it set, for the measures.
        """

        def __init__(self, synapses, groups, *, k: int, window_ms: int, n_ms: int,
                     schedule=None, name: str = "selective_gate"):
            self.synapses = list(synapses)
            self.monitors = [b2.SpikeMonitor(g, record=False, name=f"{name}_count_{g.name}")
                             for g in groups]
            self.k, self.window_ms = int(k), int(window_ms)
            self.schedule = None if schedule is None else np.asarray(schedule, dtype=float)
            n_neurons = sum(len(g) for g in groups)
            self.ring = np.zeros((self.window_ms, n_neurons), dtype=np.int64)
            self.history = np.zeros(n_ms, dtype=np.float32)
            self.step = 0                       # milliseconds elapsed
            super().__init__(self._update, dt=CHECK_S * b2.second, when="start", name=name)
            self.contained_objects.extend(self.monitors)

        def _update(self):
            counts = np.concatenate([np.asarray(m.count[:]) for m in self.monitors])
            slot = self.step % self.window_ms
            active = int(np.count_nonzero(counts - self.ring[slot]))   # spiked since then
            self.ring[slot] = counts
            base = 1.0 if self.schedule is None else float(
                self.schedule[min(self.step, len(self.schedule) - 1)])
            value = base * (active >= self.k)
            for syn in self.synapses:
                syn.lr_mod = value
            if self.step < len(self.history):
                self.history[self.step] = value
            self.step += 1

        # -- checkpoints (protocols.plasticity.checkpoint)
        def checkpoint_state(self) -> dict:
            return {"ring": self.ring.copy(), "history": self.history.copy(), "step": self.step}

        def restore_state(self, state: dict) -> None:
            self.ring[...] = state["ring"]
            self.history[...] = state["history"]
            self.step = int(state["step"])

    return ActivityGate


def gate(synapses, groups, *, k: int, window, duration, schedule=None, name="selective_gate"):
    """An :class:`ActivityGate` (a Brian2 ``NetworkOperation``; add it to the network)
    that opens ``lr_mod`` of ``synapses`` while at least ``k`` of the neurons of
    ``groups`` spiked in the last ``window`` (Brian2 times)."""
    window_ms = int(round(float(window) / CHECK_S))
    n_ms = max(1, int(np.ceil(float(duration) / CHECK_S - 1e-6)))
    return _network_operation_class()(synapses, groups, k=k, window_ms=window_ms, n_ms=n_ms,
                                      schedule=schedule, name=name)


def watched(cfg, inputs, units) -> list:
    """The groups whose spikes the gate counts."""
    return {"units": [units], "inputs": [inputs], "all": [inputs, units]}[
        cfg.selective_population]


def report_line(history, k: int, window_ms: int, population: str) -> str:
    """The tutorial's "Learned on N out of M steps", per millisecond of the run."""
    history = np.asarray(history)
    on = int(np.count_nonzero(history > 0))
    return (f"Selective plasticity (at least {k} active {population} in the last "
            f"{window_ms} ms): learning was on for {on} of {history.size} ms "
            f"({100 * on / max(history.size, 1):.1f}%).")
