"""Leaky integrate-and-fire neuron with an exponentially decaying synaptic input.

The current-based LIF neuron of Brunel (2000, J Comput Neurosci 8:183,
doi:10.1023/A:1008925309027) with exponential synaptic currents, as used for
perturbation studies of spiking networks (London, Roth, Beeren, Häusser &
Latham 2010, Nature 466:123, doi:10.1038/nature09086).  The synaptic input is
written in voltage units (it is ``R * I``): a presynaptic spike of weight ``w``
makes ``I_syn`` jump by ``w`` volts.

Units of the callers
--------------------
The chaos protocol gives weights in the study's unit, mV/ms of synaptic
current ``I`` in ``dv/dt = (v_rest - v)/tau_m + I``: that is these equations
with ``I_syn = tau_m * I``, so a weight ``w`` is a jump of ``I_syn`` by
``w * tau_m`` (20 mV for w = 1, a PSP peak of 3.15 mV), and threshold spreads
in mV (see docs/chaos.md).  The plasticity experiments give weights in units
of ``v_unit = v_th_mean - v_rest`` (10 mV with the defaults here): a weight
of 1.0 makes ``I_syn`` jump by 10 mV, a PSP peak of 1.57 mV.  The PSP peak
is ``w * tau_syn/(tau_m - tau_syn) * (exp(-t*/tau_m) - exp(-t*/tau_syn))``
at ``t* = ln(tau_m/tau_syn) * tau_m*tau_syn/(tau_m - tau_syn)``, a factor
0.1575 for ``tau_m = 20 ms`` and ``tau_syn = 5 ms``
(:func:`psp_peak_factor`).
"""
from __future__ import annotations

from typing import NamedTuple

import brian2 as b2
from brian2 import Hz, mV, ms

EQUATIONS = """
dv/dt = (v_rest - v + I_syn + I_bias) / tau_m : volt (unless refractory)  # membrane potential
dI_syn/dt = -I_syn / tau_syn : volt                                         # synaptic input, R*I, decays exponentially
v_th : volt (constant)                                                      # per-neuron spike threshold
"""
THRESHOLD = "v > v_th"
RESET = "v = v_reset"
METHOD = "exact"  # the equations are linear: exact integration

#: Synaptic transmission: a spike adds its weight to the target's input.
ON_PRE = "I_syn_post += w"
SYNAPSE_MODEL = "w : volt (constant)  # jump of I_syn per presynaptic spike"


class LIFParams(NamedTuple):
    """Parameters shared by all neurons of a group (Brian2 quantities)."""

    tau_m: b2.Quantity = 20 * ms        # membrane time constant
    tau_syn: b2.Quantity = 5 * ms       # synaptic decay time constant
    v_rest: b2.Quantity = -65 * mV      # resting potential
    v_reset: b2.Quantity = -65 * mV     # reset after a spike
    v_th_mean: b2.Quantity = -55 * mV   # mean spike threshold
    refractory: b2.Quantity = 2 * ms    # absolute refractory period
    I_bias: b2.Quantity = 0 * mV        # constant input (R*I), same for all neurons

    @property
    def v_unit(self) -> b2.Quantity:
        """The normalised unit: gap between rest and mean threshold."""
        return self.v_th_mean - self.v_rest

    def namespace(self) -> dict:
        """Names the equations read (pass as ``namespace=`` to a group)."""
        return {"tau_m": self.tau_m, "tau_syn": self.tau_syn, "v_rest": self.v_rest,
                "v_reset": self.v_reset, "I_bias": self.I_bias}


def psp_peak_factor(tau_m: b2.Quantity, tau_syn: b2.Quantity) -> float:
    """Peak PSP height per unit jump of ``I_syn`` (dimensionless).

    For ``I_syn(t) = w exp(-t/tau_syn)`` the membrane response is
    ``w tau_syn/(tau_m - tau_syn) (exp(-t/tau_m) - exp(-t/tau_syn))``.

    >>> round(psp_peak_factor(20 * ms, 5 * ms), 4)
    0.1575
    """
    import numpy as np

    a, s = float(tau_m / ms), float(tau_syn / ms)
    if a == s:
        return float(np.exp(-1.0))
    t_peak = np.log(a / s) * a * s / (a - s)
    return float(s / (a - s) * (np.exp(-t_peak / a) - np.exp(-t_peak / s)))


def neuron_group(n: int, params: LIFParams, *, dt=None, name: str = "neurons",
                 synapse_models=(), extra_equations: str = "") -> b2.NeuronGroup:
    """A ``NeuronGroup`` of ``n`` LIF neurons with the given parameters.

    Thresholds start at ``v_th_mean`` and membranes at ``v_rest``.

    ``synapse_models``: :class:`models.synapses.SynapseModel` objects whose
    rules need per-neuron variables (rate traces, the BCM threshold); their
    equations and on-spike updates are added to the group.

    ``extra_equations``: further per-neuron variables a protocol needs (for
    example the forced-spike flags of :mod:`models.replicas`); they must not
    change the dynamics above.
    """
    equations, reset, namespace = EQUATIONS + extra_equations, RESET, params.namespace()
    extra = None
    if synapse_models:
        from models.synapses import neuron_equations

        extra = neuron_equations(*synapse_models)
        if extra.equations:
            equations += extra.equations + "\n"
            reset += "\n" + extra.reset
            namespace.update(extra.namespace)
    group = b2.NeuronGroup(
        n, equations, threshold=THRESHOLD, reset=reset, refractory=params.refractory,
        method=METHOD, namespace=namespace, dt=dt, name=name,
    )
    group.v_th = params.v_th_mean   # per-neuron thresholds: callers may draw them afterwards
    group.v = params.v_rest
    if extra is not None:
        for variable, value in extra.initial.items():
            setattr(group, variable, value)
    if extra is not None and extra.every_step:
        group.run_regularly(extra.every_step, when="after_groups", name=f"{name}_plasticity")
    return group


# Units used in names elsewhere, re-exported for readability of callers.
__all__ = ["EQUATIONS", "THRESHOLD", "RESET", "METHOD", "ON_PRE", "SYNAPSE_MODEL",
           "LIFParams", "psp_peak_factor", "neuron_group", "Hz", "mV", "ms"]
