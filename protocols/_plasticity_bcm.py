"""BCM sub-experiment: units become selective for one of two input patterns.

Two patterns alternate every ``period``: pattern A drives the first half of
the inputs at ``rate_high`` (the others at ``rate_low``), pattern B the second
half.  ``n_units`` postsynaptic units, side by side in one network, each start
from their own random weights (slightly different, none selective).  Each unit
is a linear Poisson neuron, rate ``r0 + gain * I_syn`` (the rate neuron BCM
theory is written for; it never falls silent, so what happens is BCM's doing,
not a threshold's), with an exponential synaptic input.  Weights follow
:func:`models.plasticity.bcm`.

Measures per unit: the selectivity index ``(r_A - r_B) / (r_A + r_B)`` from
its spike counts during A and B phases, in windows over time; the sliding
threshold ``theta`` against ``<y^2>/nu0``, with ``<.>`` the same exponential
average (time constant ``tau_theta``) computed offline from the recorded rate
trace ``y``; the mean weight from each pattern's inputs.
"""
from __future__ import annotations

import numpy as np

from analysis import plots
from protocols.config import Field

SECTION = {
    "n_inputs": Field("int", 100, low=2, doc="input neurons (first half: pattern A, second: B)"),
    "n_units": Field("int", 8, low=1, doc="postsynaptic units, each with its own initial weights"),
    "rate_high": Field("quantity", "40 Hz", unit="frequency", low=0,
                       doc="rate of the inputs of the pattern shown"),
    "rate_low": Field("quantity", "2 Hz", unit="frequency", low=0,
                      doc="rate of the other inputs"),
    "period": Field("quantity", "500 ms", unit="time", low=0, low_open=True,
                    doc="each pattern is shown this long, then the other"),
    "r0": Field("quantity", "2 Hz", unit="frequency", low=0, doc="spontaneous rate of a unit"),
    "gain": Field("float", 2.0, low=0, low_open=True, doc="rate per mV of synaptic input (Hz/mV)"),
    "tau_syn": Field("quantity", "5 ms", unit="time", low=0, low_open=True,
                     doc="decay of a unit's synaptic input"),
    "w_init": Field("float", 0.05, low=0, doc="mean initial weight"),
    "w_init_spread": Field("float", 0.1, low=0, high=1,
                           doc="relative spread (std) of the initial weights"),
    "eta": Field("quantity", "0.02 Hz", unit="frequency", low=0, low_open=True,
                 doc="BCM learning rate"),
    "target_rate": Field("quantity", "20 Hz", unit="frequency", low=0, low_open=True,
                         doc="nu0 of the BCM rule"),
    "tau_rate": Field("quantity", "100 ms", unit="time", low=0, low_open=True,
                      doc="time constant of the rate traces"),
    "tau_theta": Field("quantity", "1 s", unit="time", low=0, low_open=True,
                       doc="time constant of the sliding threshold"),
    "duration": Field("quantity", "60 s", unit="time", low=0, low_open=True, doc="run length"),
    "window": Field("quantity", "5 s", unit="time", low=0, low_open=True,
                    doc="window of the selectivity index over time"),
}


def run(config, device):
    """All units side by side, one run; one point per unit."""
    import brian2 as b2
    from brian2 import Hz, mV, ms, second

    from models import plasticity, rng, synapses

    cfg = config.bcm
    n_in, n_units, half = cfg.n_inputs, cfg.n_units, cfg.n_inputs // 2
    duration_s, period_s = float(cfg.duration / second), float(cfg.period / second)
    n_periods = int(np.ceil(duration_s / period_s)) + 1
    pattern = b2.TimedArray(np.arange(n_periods) % 2, dt=cfg.period)   # 0 = A, 1 = B
    in_a = "int(i < n_half)"
    rates = (f"(rate_high * {in_a} + rate_low * (1 - {in_a})) * (1 - pattern(t)) + "
             f"(rate_high * (1 - {in_a}) + rate_low * {in_a}) * pattern(t)")
    inputs = b2.PoissonGroup(n_in, rates=rates, name="bcm_inputs",
                             namespace={"pattern": pattern, "n_half": half,
                                        "rate_high": cfg.rate_high, "rate_low": cfg.rate_low})
    model = synapses.exponential() + plasticity.bcm(
        eta=cfg.eta, target_rate=cfg.target_rate, tau_rate=cfg.tau_rate, tau_theta=cfg.tau_theta)
    parts = synapses.neuron_equations(model)
    units = b2.NeuronGroup(
        n_units, "dI_syn/dt = -I_syn / tau_unit : volt\n" + parts.equations,
        threshold="rand() < (r0 + gain * I_syn) * dt", reset=parts.reset, method="exact",
        namespace={**parts.namespace, "tau_unit": cfg.tau_syn, "r0": cfg.r0,
                   "gain": cfg.gain * Hz / mV}, name="bcm_units")
    for variable, value in parts.initial.items():
        setattr(units, variable, value)
    units.run_regularly(parts.every_step, when="after_groups")
    draws = rng.stream(config.seed.session, block=0, purpose="structure")
    pre = np.tile(np.arange(n_in), n_units)
    post = np.repeat(np.arange(n_units), n_in)
    w0 = cfg.w_init * (1 + cfg.w_init_spread * draws.standard_normal(n_in * n_units))
    syn = synapses.build(inputs, units, model, i=pre, j=post, w=np.clip(w0, 0, None),
                         name="bcm_synapses")
    traces = b2.StateMonitor(units, ["theta_bcm", "nu_bcm"], record=True, dt=10 * ms)
    weights = b2.StateMonitor(syn, "w", record=True, dt=500 * ms)
    spikes = b2.SpikeMonitor(units)
    net = b2.Network(inputs, units, syn, traces, weights, spikes)
    device.run(net, cfg.duration)

    t = np.asarray(traces.t / second)
    theta = np.asarray(traces.theta_bcm / Hz)
    y = np.asarray(traces.nu_bcm / Hz)
    # <y^2>/nu0 with the threshold's own exponential average
    nu0, step = float(cfg.target_rate / Hz), float(t[1] - t[0])
    decay = np.exp(-step / float(cfg.tau_theta / second))
    y2 = np.empty_like(y)
    y2[:, 0] = nu0 ** 2
    for k in range(1, y.shape[1]):
        y2[:, k] = decay * y2[:, k - 1] + (1 - decay) * y[:, k] ** 2
    y2 /= nu0
    w = np.asarray(weights.w).reshape(n_units, n_in, -1)      # unit, input, time
    w_t = np.asarray(weights.t / second)
    sel_t, selectivity = _selectivity(np.asarray(spikes.i), np.asarray(spikes.t / second),
                                      n_units, duration_s, period_s, float(cfg.window / second))
    late = t > duration_s / 2
    points = []
    for u in range(n_units):
        wa, wb = w[u, :half].mean(axis=0), w[u, half:].mean(axis=0)
        points.append((f"unit{u:02d}", {
            "unit": u, "selectivity_initial": float(selectivity[u, 0]),
            "selectivity_final": float(selectivity[u, -1]),
            "preferred": "A" if selectivity[u, -1] > 0 else "B",
            "theta_late_hz": float(theta[u, late].mean()),
            "y2_over_nu0_late_hz": float(y2[u, late].mean()),
            "theta_relative_error": float(abs(theta[u, late].mean() / y2[u, late].mean() - 1)),
            "w_a_final": float(wa[-1]), "w_b_final": float(wb[-1]),
            "rate_hz": float((spikes.i == u).sum() / duration_s),
        }, {"t_s": t.astype(np.float32), "theta_hz": theta[u].astype(np.float32),
            "y2_over_nu0_hz": y2[u].astype(np.float32), "w_t_s": w_t, "w_a": wa, "w_b": wb,
            "selectivity_t_s": sel_t, "selectivity": selectivity[u]}))
    return points


def _selectivity(spike_i, spike_t, n_units, duration_s, period_s, window_s):
    """(r_A - r_B)/(r_A + r_B) per unit in consecutive windows."""
    edges = np.arange(0, duration_s + 1e-9, window_s)
    phase_b = (np.floor(spike_t / period_s).astype(int) % 2) == 1
    out = np.full((n_units, len(edges) - 1), np.nan)
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (spike_t >= lo) & (spike_t < hi)
        a = np.bincount(spike_i[inside & ~phase_b], minlength=n_units).astype(float)
        b = np.bincount(spike_i[inside & phase_b], minlength=n_units).astype(float)
        with np.errstate(invalid="ignore"):
            out[:, k] = (a - b) / (a + b)
    return 0.5 * (edges[:-1] + edges[1:]), out


def report(result, figures):
    """Threshold vs <y^2>/nu0; weights of A and B; selectivity over time."""
    import matplotlib.pyplot as plt

    points = list(result.points.values())
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    colours = plt.get_cmap("tab10")(np.arange(len(points)) % 10)
    ax = axes[0]
    for p, c in list(zip(points, colours))[:3]:
        d = p.data
        ax.plot(d["t_s"], d["theta_hz"], color=c, lw=1, label=f"θ, {p.name}")
        ax.plot(d["t_s"], d["y2_over_nu0_hz"], color=c, lw=1, ls="--",
                label=f"⟨y²⟩/ν0, {p.name}")
    ax.set(xlabel="time (s)", ylabel="Hz", title="Sliding threshold tracks ⟨y²⟩/ν0")
    ax.legend(fontsize=7, ncol=2)
    ax = axes[1]
    for p, c in zip(points, colours):
        ax.plot(p.data["w_t_s"], p.data["w_a"], color=c, lw=1.2)
        ax.plot(p.data["w_t_s"], p.data["w_b"], color=c, lw=1.2, ls=":")
    ax.set(xlabel="time (s)", ylabel="mean weight", title="Weights from A (solid) and B (dotted)")
    ax = axes[2]
    for p, c in zip(points, colours):
        ax.plot(p.data["selectivity_t_s"], p.data["selectivity"], "o-", ms=3, color=c,
                label=p.name)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="time (s)", ylabel="(r_A − r_B)/(r_A + r_B)", ylim=(-1.05, 1.05),
           title="Selectivity of each unit")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    made = [plots._save(fig, figures / "bcm_selectivity.png")]

    n_selective = sum(abs(p.attrs["selectivity_final"]) > 0.5 for p in points)
    prefer_a = sum(p.attrs["preferred"] == "A" for p in points)
    lines = [f"{len(points)} linear-Poisson units learn with BCM from two alternating input "
             f"patterns; {n_selective} end with |selectivity| > 0.5 ({prefer_a} prefer A, "
             f"{len(points) - prefer_a} prefer B).", "",
             "| unit | selectivity: first window | last window | θ late (Hz) | ⟨y²⟩/ν0 late (Hz) "
             "| error | w from A | w from B | rate (Hz) |", "|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        a = p.attrs
        lines.append(f"| {p.name} | {a['selectivity_initial']:+.2f} | {a['selectivity_final']:+.2f}"
                     f" | {a['theta_late_hz']:.2f} | {a['y2_over_nu0_late_hz']:.2f} | "
                     f"{100 * a['theta_relative_error']:.1f}% | {a['w_a_final']:.4f} | "
                     f"{a['w_b_final']:.4f} | {a['rate_hz']:.1f} |")
    return made, lines
