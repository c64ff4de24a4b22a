"""Learning rules as composable Brian2 synapse models (see :mod:`models.synapses`).

Every function returns a :class:`~models.synapses.SynapseModel`; add them up
to put several rules on one synapse.  Weights ``w`` are dimensionless (the
normalised unit of :mod:`models.lif`).  Long-term rules are multiplied by the
shared modulator ``lr_mod`` (0 switches learning off; protocols set it over
time to gate learning).

Public variable names: ``w`` (weight), ``lr_mod`` (modulator, shared),
``u``, ``x`` (short-term plasticity), ``apre``, ``apost`` (Hebbian traces),
``x_bcm`` (presynaptic rate trace, Hz), and on the postsynaptic neurons
``nu_bcm`` (rate trace, Hz) and ``theta_bcm`` (BCM threshold, Hz), ``nu_h``
(rate trace of homeostatic scaling, Hz).

Defaults follow the plasticity tutorial (``seeds/004``) where it gives them:
Hebbian ``eta = 0.01``, ``ltd_ratio = 0.5``, bounds [0, 1]; BCM target 5 Hz,
threshold starting at 0.5 Hz, ``tau_theta`` = 1 s; homeostatic target 5 Hz
with a 1 s rate window (the time constant of the rate trace) and
``tau_scaling`` = 10 s (its ``scaling_rate = 0.01`` every 100 steps of 1 ms).
"""
from __future__ import annotations

import brian2 as b2
from brian2 import Hz, ms, second

from models.synapses import SynapseModel

__all__ = ["hebbian", "weight_decay", "bcm", "stp", "facilitating", "depressing",
           "homeostatic_scaling", "stp_steady_state"]

_MODULATOR = "lr_mod : 1 (shared)  # learning-rate modulator of long-term plasticity"


def _positive_time(name, value, allow_zero=False):
    if not isinstance(value, b2.Quantity) or value.dim != second.dim:
        raise ValueError(f"{name} must be a time such as 20*ms, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _bounds(w_min, w_max):
    if not float(w_min) < float(w_max):
        raise ValueError(f"need w_min < w_max, got w_min={w_min!r}, w_max={w_max!r}")
    return (("w_min", float(w_min)), ("w_max", float(w_max)))


def hebbian(eta: float = 0.01, ltd_ratio: float = 0.5, tau_pre=20 * ms, tau_post=20 * ms,
            w_min: float = 0.0, w_max: float = 1.0) -> SynapseModel:
    r"""Hebbian potentiation of co-active pairs, with presynaptic depression; clipped.

    Traces count recent spikes: ``apre`` (+1 per presynaptic spike, decays with
    ``tau_pre``) and ``apost`` (+1 per postsynaptic spike, ``tau_post``).

    * presynaptic spike: ``w += lr_mod * eta * (apost - ltd_ratio)``
    * postsynaptic spike: ``w += lr_mod * eta * apre``

    then ``w`` is clipped to ``[w_min, w_max]``.  A pair of spikes within a few
    trace time constants potentiates, whichever comes first; every presynaptic
    spike also depresses by ``eta * ltd_ratio``.  For independent Poisson
    trains at rates :math:`\nu_{pre}`, :math:`\nu_{post}` the mean drift is

    .. math:: \langle \dot w \rangle = \eta\, \nu_{pre}
              \left[\nu_{post} (\tau_{pre} + \tau_{post}) - \text{ltd\_ratio}\right],

    so co-activity above ``ltd_ratio / (tau_pre + tau_post)`` potentiates.
    """
    _positive_time("tau_pre", tau_pre)
    _positive_time("tau_post", tau_post)
    if eta < 0 or ltd_ratio < 0:
        raise ValueError(f"eta and ltd_ratio must be >= 0, got eta={eta!r}, ltd_ratio={ltd_ratio!r}")
    clip = "w = clip(w, w_min, w_max)"
    return SynapseModel(
        names=("hebbian",),
        equations=("dapre/dt = -apre / tau_hebb_pre : 1 (event-driven)",
                   "dapost/dt = -apost / tau_hebb_post : 1 (event-driven)", _MODULATOR),
        after=("apre += 1", "w += lr_mod * eta_hebb * (apost - ltd_ratio)", clip),
        post=("apost += 1", "w += lr_mod * eta_hebb * apre", clip),
        params=(("eta_hebb", float(eta)), ("ltd_ratio", float(ltd_ratio)),
                ("tau_hebb_pre", tau_pre), ("tau_hebb_post", tau_post)) + _bounds(w_min, w_max),
        bounds=(float(w_min), float(w_max)))


def weight_decay(decay_rate=0.1 * Hz, baseline: float = 0.0, gated: bool = False) -> SynapseModel:
    r"""Exponential relaxation of ``w`` toward ``baseline``:
    :math:`\dot w = -\text{decay\_rate}\,(w - \text{baseline})`.

    A drift term, by default not gated by ``lr_mod`` (forgetting goes on while
    learning is paused).  ``gated=True`` multiplies it by ``lr_mod``, as the
    tutorial applies decay together with each Hebbian update: a frozen
    network (``lr_mod = 0``) then keeps its weights exactly.

    ``decay_rate`` is a rate: the tutorial's decay per step ``d`` applied every
    ``n`` steps of length ``dt`` is ``d / (n dt)`` (0.001 per 1 ms step: 1 Hz).
    """
    if not isinstance(decay_rate, b2.Quantity) or decay_rate.dim != Hz.dim or decay_rate < 0:
        raise ValueError(f"decay_rate must be a rate >= 0 such as 0.1*Hz, got {decay_rate!r}")
    if gated:
        return SynapseModel(names=("weight_decay",), equations=(_MODULATOR,),
                            drift=("-lr_mod * decay_rate * (w - w_baseline)",),
                            params=(("decay_rate", decay_rate), ("w_baseline", float(baseline))))
    return SynapseModel(names=("weight_decay",), drift=("-decay_rate * (w - w_baseline)",),
                        params=(("decay_rate", decay_rate), ("w_baseline", float(baseline))))


def bcm(eta=1 * Hz, target_rate=5 * Hz, tau_rate=100 * ms, tau_theta=1 * second,
        w_min: float = 0.0, w_max: float = 1.0, theta_init=0.5 * Hz) -> SynapseModel:
    r"""BCM rule with a sliding threshold per postsynaptic neuron.

    Rates are exponential traces of the spikes (+1/``tau_rate`` per spike,
    so a train at rate :math:`\nu` gives a trace of mean :math:`\nu`):
    ``x_bcm`` of the presynaptic neuron (kept per synapse), ``nu_bcm`` of the
    postsynaptic neuron.  With :math:`\nu_0` = ``target_rate``:

    .. math::

        \dot w &= \text{lr\_mod}\;\eta\;\frac{x}{\nu_0}\,\frac{y}{\nu_0}\,
                 \frac{y - \theta}{\nu_0} \\
        \tau_\theta\,\dot\theta &= \frac{y^2}{\nu_0} - \theta

    (``eta`` is a rate: the weight change per second when all three factors are
    1).  For a stationary input :math:`\theta` converges to
    :math:`\langle y^2\rangle/\nu_0`; for Poisson spiking at rate :math:`\nu`
    that is :math:`(\nu^2 + \nu/(2\tau_{rate}))/\nu_0`.  ``theta_bcm`` and
    ``nu_bcm`` live on the postsynaptic neurons, both in Hz (the rate unit of
    the model); ``theta_bcm`` starts at ``theta_init``.

    Defaults follow the tutorial's ``BCMThreshold(theta=0.5, target_rate=5.0,
    tau=1000.0)``: :math:`\nu_0` = 5 Hz, :math:`\theta` starting at 0.5 Hz
    (the tutorial compares it with rates in Hz), :math:`\tau_\theta` = 1 s
    (1000 steps of 1 ms).  A threshold that starts below the rates potentiates
    every active synapse until it has caught up (a few ``tau_theta``).
    """
    for name, value in (("tau_rate", tau_rate), ("tau_theta", tau_theta)):
        _positive_time(name, value)
    for name, value in (("eta", eta), ("target_rate", target_rate)):
        if not isinstance(value, b2.Quantity) or value.dim != Hz.dim or value <= 0:
            raise ValueError(f"{name} must be a rate > 0 such as 10*Hz, got {value!r}")
    if not isinstance(theta_init, b2.Quantity) or theta_init.dim != Hz.dim or theta_init < 0:
        raise ValueError(f"theta_init must be a rate >= 0 such as 0.5*Hz, got {theta_init!r}")
    return SynapseModel(
        names=("bcm",),
        equations=("dx_bcm/dt = -x_bcm / tau_bcm_rate : Hz (clock-driven)", _MODULATOR),
        drift=("lr_mod * eta_bcm * (x_bcm / nu0_bcm) * (nu_bcm_post / nu0_bcm)"
               " * ((nu_bcm_post - theta_bcm_post) / nu0_bcm)",),
        after=("x_bcm += 1 / tau_bcm_rate",),
        params=(("eta_bcm", eta), ("nu0_bcm", target_rate), ("tau_bcm_rate", tau_rate),
                ("tau_theta_bcm", tau_theta)) + _bounds(w_min, w_max),
        neuron=("dnu_bcm/dt = -nu_bcm / tau_bcm_rate : Hz  # postsynaptic rate trace (BCM)",
                "theta_bcm : Hz  # sliding BCM threshold, updated every step"),
        neuron_reset=("nu_bcm += 1 / tau_bcm_rate",),
        # explicit Euler step for the threshold (tau_theta >> dt), so that the
        # membrane equations stay linear and are still integrated exactly
        neuron_init=(("theta_bcm", theta_init),),
        neuron_step=("theta_bcm += dt * (nu_bcm**2 / nu0_bcm - theta_bcm) / tau_theta_bcm",),
        bounds=(float(w_min), float(w_max)))


def stp(U: float = 0.5, tau_f=0 * ms, tau_d=800 * ms) -> SynapseModel:
    r"""Tsodyks-Markram short-term plasticity: the transmitted weight is ``w * u * x``.

    Convention of Tsodyks, Pawelzik & Markram (1998, Neural Comput 10:821):
    between spikes ``u`` (utilisation) decays to 0 with ``tau_f`` and ``x``
    (available resources) recovers to 1 with ``tau_d``; at a presynaptic spike
    ``u`` is updated **before** release,

    .. math:: u \leftarrow u + U(1 - u), \quad r = u\,x, \quad
              \text{transmit } w\,r, \quad x \leftarrow x - r,

    so the first spike after a long pause transmits ``w * U``.  ``tau_f = 0``
    means no facilitation (``u = U`` at every spike).  Steady state under
    regular spiking: :func:`stp_steady_state`.
    """
    if not 0 < U <= 1:
        raise ValueError(f"U must satisfy 0 < U <= 1, got {U!r}")
    _positive_time("tau_f", tau_f, allow_zero=True)
    _positive_time("tau_d", tau_d)
    if tau_f > 0:
        u_eq, u_update = "du/dt = -u / tau_stp_f : 1 (event-driven)", "u += U_stp * (1 - u)"
        params = (("U_stp", float(U)), ("tau_stp_f", tau_f), ("tau_stp_d", tau_d))
    else:
        u_eq, u_update = "u : 1", "u = U_stp"
        params = (("U_stp", float(U)), ("tau_stp_d", tau_d))
    return SynapseModel(
        names=("stp",), equations=(u_eq, "dx/dt = (1 - x) / tau_stp_d : 1 (event-driven)"),
        before=(u_update,), efficacy=("u*x",), after=("x -= u * x",), params=params)


def facilitating() -> SynapseModel:
    """Facilitating preset: U = 0.03, tau_f = 530 ms, tau_d = 130 ms.

    Excitatory-to-inhibitory synapses of Tsodyks, Uziel & Markram (2000,
    J Neurosci 20:RC50), after Markram, Wang & Tsodyks (1998, PNAS 95:5323).
    """
    return stp(U=0.03, tau_f=530 * ms, tau_d=130 * ms)


def depressing() -> SynapseModel:
    """Depressing preset: U = 0.5, tau_d = 800 ms, no facilitation.

    Excitatory-to-excitatory synapses of Tsodyks, Uziel & Markram (2000,
    J Neurosci 20:RC50), after Tsodyks & Markram (1997, PNAS 94:719).
    """
    return stp(U=0.5, tau_f=0 * ms, tau_d=800 * ms)


def stp_steady_state(U: float, tau_f, tau_d, rate) -> dict:
    r"""Analytic steady state of :func:`stp` under regular spiking at ``rate``.

    With :math:`\Delta = 1/\text{rate}`, :math:`F = e^{-\Delta/\tau_f}`,
    :math:`D = e^{-\Delta/\tau_d}`:

    .. math::

        u^+ = \frac{U}{1 - (1 - U) F}, \qquad
        x^- = \frac{1 - D}{1 - (1 - u^+) D}, \qquad
        \text{efficacy} = u^+ x^-

    (:math:`u^+` just after the update, :math:`x^-` just before release;
    ``tau_f = 0`` gives :math:`u^+ = U`).

    >>> s = stp_steady_state(0.5, 0 * ms, 800 * ms, 1 * Hz)
    >>> round(s["u"], 3), round(s["x"], 3), round(s["efficacy"], 3)
    (0.5, 0.833, 0.416)
    """
    import numpy as np

    interval = float(1 / rate / second)
    f = 0.0 if float(tau_f / second) == 0 else np.exp(-interval / float(tau_f / second))
    d = np.exp(-interval / float(tau_d / second))
    u = U / (1 - (1 - U) * f)
    x = (1 - d) / (1 - (1 - u) * d)
    return {"u": float(u), "x": float(x), "efficacy": float(u * x)}


def homeostatic_scaling(target_rate=5 * Hz, tau_scaling=10 * second, tau_rate=1 * second,
                        w_min: float = 0.0, w_max: float = 1.0) -> SynapseModel:
    r"""Multiplicative scaling of a neuron's incoming excitatory weights toward a target rate.

    Each postsynaptic neuron keeps a slow rate trace ``nu_h`` (+1/``tau_rate``
    per spike); every excitatory weight (``w > 0``) onto it drifts as

    .. math:: \dot w = \frac{w}{\tau_{scaling}}\,\frac{\nu_0 - \nu_h}{\nu_0},

    all in proportion (multiplicative, after Turrigiano et al. 1998, Nature
    391:892), so relative weights are kept while the rate approaches
    :math:`\nu_0` = ``target_rate``.  Not gated by ``lr_mod`` (homeostasis keeps
    working while learning is paused).

    Defaults are the tutorial's ``homeostatic_scaling(target_rate=5.0,
    time_window=1000, scaling_rate=0.01)`` applied every 100 steps of 1 ms:
    :math:`\nu_0` = 5 Hz; ``tau_rate`` = 1 s, the rate window (an exponential
    window here, a sliding one there); ``tau_scaling`` = 10 s (a relative
    change of 0.01 per 100 ms).
    """
    for name, value in (("tau_scaling", tau_scaling), ("tau_rate", tau_rate)):
        _positive_time(name, value)
    if not isinstance(target_rate, b2.Quantity) or target_rate.dim != Hz.dim or target_rate <= 0:
        raise ValueError(f"target_rate must be a rate > 0 such as 5*Hz, got {target_rate!r}")
    return SynapseModel(
        names=("homeostatic_scaling",),
        drift=("int(w > 0) * w / tau_scaling * (nu0_h - nu_h_post) / nu0_h",),
        params=(("nu0_h", target_rate), ("tau_scaling", tau_scaling),
                ("tau_h_rate", tau_rate)) + _bounds(w_min, w_max),
        neuron=("dnu_h/dt = -nu_h / tau_h_rate : Hz  # slow rate trace (homeostatic scaling)",),
        neuron_reset=("nu_h += 1 / tau_h_rate",),
        bounds=(float(w_min), float(w_max)))
