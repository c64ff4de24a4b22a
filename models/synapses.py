"""Composable synapse models: Brian2 equation text that adds up with ``+``.

A :class:`SynapseModel` is what one ``brian2.Synapses`` object needs: the
equation text (:attr:`~SynapseModel.model`), the statements run on a
presynaptic and a postsynaptic spike (:attr:`~SynapseModel.on_pre`,
:attr:`~SynapseModel.on_post`) and the parameter values with units
(:attr:`~SynapseModel.namespace`).  Models made by :func:`exponential` (the
transmission) and by the rules of :mod:`models.plasticity` compose with ``+``;
the parts are merged so that one synapse can carry several rules::

    from models import plasticity, synapses
    m = synapses.exponential() + plasticity.stp(U=0.5, tau_f=0 * ms, tau_d=800 * ms) \\
        + plasticity.hebbian() + plasticity.weight_decay()
    syn = brian2.Synapses(pre, post, model=m.model, on_pre=m.on_pre, on_post=m.on_post,
                          namespace=m.namespace)
    syn.connect(p=0.1); syn.w = 0.5; syn.lr_mod = 1

How the parts merge
-------------------
* ``w`` is the weight, dimensionless (see :mod:`models.lif` for its scale).
  Rules that change it continuously give *drift terms*; the weight equation
  is ``dw/dt = <sum of the terms> : 1 (clock-driven)``, or ``w : 1`` when no
  rule drifts.
* A presynaptic spike runs, in this order: the ``before`` statements of every
  rule (short-term facilitation), the transmission
  ``<target>_post += w_unit * w * <efficacy>`` where the efficacy is the
  product of the rules' factors (``u*x`` with short-term plasticity, else 1),
  then the ``after`` statements (depletion, traces, weight updates).
* Weight updates made on spikes are clipped to ``[w_min, w_max]`` by the
  rules themselves; :func:`build` adds a per-step clip when a drifting rule
  declares bounds.
* Rules that need a per-neuron quantity of the postsynaptic neuron (a rate
  trace, the BCM threshold) declare *neuron equations*: give the model to
  :func:`models.lif.neuron_group` (``synapse_models=``) or add
  :func:`neuron_equations` to your own group.
* The learning-rate modulator ``lr_mod`` is one shared variable of the
  synapses multiplying every long-term rule; :func:`build` sets it to 1, a
  raw ``brian2.Synapses`` starts it at 0 (learning off) until you set it.
"""
from __future__ import annotations

import dataclasses
import re
from typing import NamedTuple

import brian2 as b2
import numpy as np
from brian2 import mV

__all__ = ["SynapseModel", "NeuronParts", "exponential", "build", "neuron_equations"]


@dataclasses.dataclass(frozen=True)
class SynapseModel:
    """Parts of a synapse model; compose with ``+``, read ``.model``, ``.on_pre`` ..."""

    names: tuple = ()                 # the rules, in composition order
    equations: tuple = ()             # equation lines other than the weight's
    drift: tuple = ()                 # terms of dw/dt (strings with units of 1/second)
    before: tuple = ()                # on_pre statements before transmission
    transmit: str | None = None       # transmission target variable, e.g. "I_syn"
    efficacy: tuple = ()              # factors of the transmitted weight
    after: tuple = ()                 # on_pre statements after transmission
    post: tuple = ()                  # on_post statements
    params: tuple = ()                # (name, value) pairs, the namespace
    neuron: tuple = ()                # equation lines the postsynaptic group needs
    neuron_reset: tuple = ()          # statements the postsynaptic group runs on a spike
    neuron_step: tuple = ()           # statements the postsynaptic group runs every step
    neuron_init: tuple = ()           # (variable, value) initial values on the neurons
    bounds: tuple | None = None       # (w_min, w_max) for drifting weights

    def __add__(self, other: "SynapseModel") -> "SynapseModel":
        if not isinstance(other, SynapseModel):
            return NotImplemented
        if self.transmit and other.transmit and self.transmit != other.transmit:
            raise ValueError(f"cannot combine transmission to {self.transmit!r} with "
                             f"transmission to {other.transmit!r}")
        bounds = self.bounds or other.bounds
        if self.bounds and other.bounds and self.bounds != other.bounds:
            bounds = (max(self.bounds[0], other.bounds[0]), min(self.bounds[1], other.bounds[1]))
        repeated = set(self.names) & set(other.names)
        if repeated:
            raise ValueError(f"rule {sorted(repeated)[0]!r} appears twice in one synapse model")
        merged = _merge_params(dict(self.params), dict(other.params))

        def join(a, b):
            return a + tuple(line for line in b if line not in a)

        return SynapseModel(
            names=self.names + other.names, equations=join(self.equations, other.equations),
            drift=self.drift + other.drift, before=self.before + other.before,
            transmit=self.transmit or other.transmit, efficacy=self.efficacy + other.efficacy,
            after=self.after + other.after, post=self.post + other.post,
            params=tuple(merged.items()), neuron=join(self.neuron, other.neuron),
            neuron_reset=self.neuron_reset + other.neuron_reset,
            neuron_step=self.neuron_step + other.neuron_step,
            neuron_init=join(self.neuron_init, other.neuron_init), bounds=bounds)

    # -- what brian2.Synapses takes
    @property
    def model(self) -> str:
        """Equation text for ``Synapses(model=...)``."""
        if self.drift:
            weight = f"dw/dt = {' + '.join(f'({t})' for t in self.drift)} : 1 (clock-driven)"
        else:
            weight = "w : 1"
        return "\n".join((weight,) + self.equations)

    @property
    def on_pre(self) -> str:
        """Statements for ``Synapses(on_pre=...)``: before, transmission, after."""
        lines = list(self.before)
        if self.transmit:
            efficacy = "*".join(self.efficacy) or "1"
            lines.append(f"{self.transmit}_post += w_unit * w * {efficacy}")
        return "\n".join(lines + list(self.after))

    @property
    def on_post(self) -> str:
        """Statements for ``Synapses(on_post=...)`` (empty string if none)."""
        return "\n".join(self.post)

    @property
    def namespace(self) -> dict:
        """Parameter values with units, for ``Synapses(namespace=...)``."""
        return dict(self.params)

    def __repr__(self) -> str:
        return f"SynapseModel({' + '.join(self.names) or 'empty'})"


def _merge_params(a: dict, b: dict) -> dict:
    for key, value in b.items():
        if key in a and not _same(a[key], value):
            raise ValueError(f"parameter {key!r} is {a[key]!r} in one rule and {value!r} in "
                             "another; give both rules the same value")
        a[key] = value
    return a


def _same(x, y) -> bool:
    try:
        return bool(x == y)
    except Exception:  # quantities of different dimensions
        return False


def exponential(target: str = "I_syn", w_unit: b2.Quantity = 10 * mV) -> SynapseModel:
    """Transmission onto an exponentially decaying input: ``<target>_post += w_unit * w``.

    With :mod:`models.lif` the target is ``I_syn`` and ``w_unit`` is the
    normalised unit ``v_th_mean - v_rest`` (10 mV): ``w = 1`` is a 10 mV jump.
    """
    if not re.fullmatch(r"[A-Za-z_]\w*", target):
        raise ValueError(f"target must be a variable name, got {target!r}")
    return SynapseModel(names=("exponential",), transmit=target, params=(("w_unit", w_unit),))


class NeuronParts(NamedTuple):
    """What a postsynaptic ``NeuronGroup`` needs for some synapse models."""

    equations: str       # lines to append to the group's equations
    reset: str           # statements to append to its reset
    every_step: str      # statements for ``group.run_regularly(..., when="after_groups")``
    namespace: dict      # parameter values the above read
    initial: dict        # initial values to set on the group (``group.<name> = value``)


def neuron_equations(*models: SynapseModel) -> NeuronParts:
    """The per-neuron equations, reset and per-step updates these models need."""
    lines, resets, steps, namespace, initial = [], [], [], {}, {}
    for m in models:
        initial.update(dict(m.neuron_init))
        lines += [line for line in m.neuron if line not in lines]
        resets += [line for line in m.neuron_reset if line not in resets]
        steps += [line for line in m.neuron_step if line not in steps]
        if m.neuron:
            _merge_params(namespace, m.namespace)
    return NeuronParts("\n".join(lines), "\n".join(resets), "\n".join(steps), namespace,
                       initial)


def build(source, target, model: SynapseModel, *, i=None, j=None, p=None, w=None,
          lr_mod: float = 1.0, name: str = "synapses*", dt=None,
          clip_dt=1 * b2.ms) -> b2.Synapses:
    """A ``Synapses`` object for ``model``, connected and initialised.

    Connect with index arrays ``i``, ``j`` or probability ``p`` (or neither,
    to call ``connect`` yourself); empty index arrays (a pathway of in-degree
    0) give an object with no synapses, switched off (``active = False``), that
    a network runs without complaint.  ``w`` sets the weights (scalar, array or
    expression string).  Short-term variables start at rest (``x = 1``), the
    modulator at ``lr_mod``.  A drifting weight with bounds is clipped to them
    every ``clip_dt`` (1 ms; ``None``: every step).  ``dt`` sets the clock of
    the clock-driven equations (the weight drift of decay, BCM and scaling,
    which change on time scales of 100 ms and more); spikes keep the source
    group's clock, so a coarser ``dt`` here saves time without delaying any
    transmission.
    """
    missing = [var for var in _neuron_variables(model) if var not in target.variables]
    if missing:
        raise ValueError(f"the target group lacks {', '.join(missing)}, needed by "
                         f"{' + '.join(model.names)}; build it with "
                         "models.lif.neuron_group(..., synapse_models=[model]) or add "
                         "models.synapses.neuron_equations(model) to its equations")
    if model.transmit and model.transmit not in target.variables:
        raise ValueError(f"the target group has no variable {model.transmit!r} to transmit to")
    if dt is not None:
        # spikes still travel on the source's clock; only the slow drift terms
        # (decay, BCM, scaling) use ``dt``: say so once, not on every run
        b2.BrianLogger.suppress_name("synapses_dt_mismatch")
    syn = b2.Synapses(source, target, model=model.model, on_pre=model.on_pre or None,
                      on_post=model.on_post or None, namespace=model.namespace,
                      method="euler" if model.drift else None, name=name, dt=dt)
    if i is not None or j is not None:
        if _no_index(i) and _no_index(j):
            # Brian2 cannot connect empty index arrays (it takes their maximum),
            # refuses to run a Synapses object never connected and to write its
            # variables; an inactive one transmits nothing, as a pathway of
            # in-degree 0 should (the same as models.replicas.connect)
            syn.active = False
            return syn
        syn.connect(i=i, j=j)
    elif p is not None:
        syn.connect(p=p)
    if len(syn) and w is not None:
        syn.w = w
    if "x" in syn.variables:
        syn.x = 1.0
    if "lr_mod" in syn.variables:
        syn.lr_mod = lr_mod
    if model.drift and model.bounds is not None:
        # weights drift slowly: clipping them every clip_dt (not every step)
        # costs a fraction of the per-step update and changes nothing visible
        syn.run_regularly("w = clip(w, w_min, w_max)", when="after_groups",
                          dt=clip_dt if clip_dt is not None else syn.clock.dt,
                          name=f"{syn.name}_clip")
    return syn


def _no_index(index) -> bool:
    """Whether ``connect``'s ``i`` or ``j`` names no synapse (None or an empty array)."""
    return index is None or (not isinstance(index, str) and np.size(index) == 0)


def _neuron_variables(model: SynapseModel) -> list[str]:
    names = []
    for line in model.neuron:
        match = re.match(r"\s*(?:d(\w+)/dt|(\w+))\s*[=:]", line)
        if match:
            names.append(match.group(1) or match.group(2))
    return names
