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
    "r0": Field("quantity", "0.2 Hz", unit="frequency", low=0, doc="spontaneous rate of a unit"),
    "gain": Field("float", 2.0, low=0, low_open=True, doc="rate per mV of synaptic input (Hz/mV)"),
    "tau_syn": Field("quantity", "5 ms", unit="time", low=0, low_open=True,
                     doc="decay of a unit's synaptic input"),
    "w_init": Field("float", 0.05, low=0, doc="mean initial weight"),
    "w_init_spread": Field("float", 0.1, low=0, high=1,
                           doc="relative spread (std) of the initial weights"),
    "eta": Field("quantity", "0.002 Hz", unit="frequency", low=0, low_open=True,
                 doc="BCM learning rate"),
    "target_rate": Field("quantity", "5 Hz", unit="frequency", low=0, low_open=True,
                         doc="nu0 of the BCM rule (the tutorial's target_rate)"),
    "theta_init": Field("quantity", "0.5 Hz", unit="frequency", low=0,
                        doc="initial sliding threshold theta (Hz, the unit of the rates it is "
                            "compared with; the tutorial's theta=0.5)"),
    "tau_rate": Field("quantity", "100 ms", unit="time", low=0, low_open=True,
                      doc="time constant of the rate traces"),
    "tau_theta": Field("quantity", "1 s", unit="time", low=0, low_open=True,
                       doc="time constant of the sliding threshold"),
    "duration": Field("quantity", "60 s", unit="time", low=0, low_open=True, doc="run length"),
    "window": Field("quantity", "5 s", unit="time", low=0, low_open=True,
                    doc="window of the selectivity index over time"),
}


#: sampling intervals of the unit traces and of the weights (seconds)
TRACE_SAMPLE_S, WEIGHT_SAMPLE_S = 0.01, 0.5
#: rate assumed by the memory estimate for the units' recorded spikes
ESTIMATE_RATE_HZ = 100.0


def validate(cfg, source, dt) -> None:
    """Refuse what the run cannot do or measure: ``ConfigError`` naming the key.

    Each selectivity window must show both patterns, and one window at
    least must fit in the run.
    """
    from protocols.plasticity import checks

    checks.steps(source, "bcm.duration", cfg.duration, checks.MS_CLOCK_S, "the weight clip")
    checks.window(source, "bcm.period", cfg.period, low=(dt, "protocol.dt"),
                  high=(cfg.duration / 2, "half of bcm.duration"),
                  why="the patterns alternate every period, at most once a step, and both "
                      "must be shown")
    checks.euler_tau(source, "bcm.tau_rate", cfg.tau_rate, dt, "protocol.dt")
    checks.euler_tau(source, "bcm.tau_theta", cfg.tau_theta, dt, "protocol.dt")
    checks.window(source, "bcm.window", cfg.window, low=(2 * cfg.period, "2 x bcm.period"),
                  high=(cfg.duration, "bcm.duration"),
                  why="each selectivity window must show both patterns, and one window must "
                      "fit in the run")


def memory_parts(cfg, dt) -> dict:
    """Bytes of the big arrays (see :func:`protocols.plasticity.estimate_memory`)."""
    duration_s = float(cfg.duration)
    n_syn = cfg.n_inputs * cfg.n_units
    return {"synapses": 200 * n_syn,
            "weight samples": 3 * 8 * n_syn * (duration_s / WEIGHT_SAMPLE_S + 1),
            "threshold and rate traces": 6 * 8 * cfg.n_units * (duration_s / TRACE_SAMPLE_S + 1),
            "spikes": 32 * cfg.n_units * ESTIMATE_RATE_HZ * duration_s,
            "selectivity windows": 5 * 8 * cfg.n_units * (duration_s / float(cfg.window) + 1)}


def run(config, device):
    """All units side by side, one run; one point per unit."""
    import brian2 as b2
    from brian2 import Hz, mV, second

    from models import plasticity, rng, synapses
    from protocols.plasticity.checks import finite_ratio

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
        eta=cfg.eta, target_rate=cfg.target_rate, tau_rate=cfg.tau_rate, tau_theta=cfg.tau_theta,
        theta_init=cfg.theta_init)
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
    traces = b2.StateMonitor(units, ["theta_bcm", "nu_bcm"], record=True,
                             dt=TRACE_SAMPLE_S * second, name="bcm_traces")
    weights = b2.StateMonitor(syn, "w", record=True, dt=WEIGHT_SAMPLE_S * second,
                              name="bcm_weights")
    spikes = b2.SpikeMonitor(units, name="bcm_spikes")
    net = b2.Network(inputs, units, syn, traces, weights, spikes)
    device.run(net, cfg.duration)

    t = np.asarray(traces.t / second)
    theta = np.asarray(traces.theta_bcm / Hz)
    y = np.asarray(traces.nu_bcm / Hz)
    # <y^2>/nu0 with the threshold's own exponential average
    nu0, step = float(cfg.target_rate / Hz), TRACE_SAMPLE_S
    decay = np.exp(-step / float(cfg.tau_theta / second))
    y2 = np.empty_like(y)
    y2[:, 0] = float(cfg.theta_init / Hz) * nu0     # so that y2 / nu0 starts where theta does
    for k in range(1, y.shape[1]):
        y2[:, k] = decay * y2[:, k - 1] + (1 - decay) * y[:, k] ** 2
    y2 /= nu0
    w = np.asarray(weights.w).reshape(n_units, n_in, -1)      # unit, input, time
    w_t = np.asarray(weights.t / second)
    sel_t, selectivity = _selectivity(np.asarray(spikes.i), np.asarray(spikes.t / second),
                                      n_units, duration_s, period_s, float(cfg.window / second))
    late = t > duration_s / 2      # the second half of the run (NaN if no sample there)
    points = []
    for u in range(n_units):
        wa, wb = w[u, :half].mean(axis=0), w[u, half:].mean(axis=0)
        theta_late = float(theta[u, late].mean()) if late.any() else float("nan")
        y2_late = float(y2[u, late].mean()) if late.any() else float("nan")
        final = float(selectivity[u, -1])
        points.append((f"unit{u:02d}", {
            "unit": u, "selectivity_initial": float(selectivity[u, 0]),
            "selectivity_final": final,
            # no spike in the last window: no preference can be read
            "preferred": "none" if np.isnan(final) else ("A" if final > 0 else "B"),
            "theta_late_hz": theta_late, "y2_over_nu0_late_hz": y2_late,
            "theta_relative_error": abs(finite_ratio(theta_late, y2_late) - 1),
            "w_a_final": float(wa[-1]), "w_b_final": float(wb[-1]),
            "rate_hz": float((spikes.i == u).sum() / duration_s),
        }, {"t_s": t.astype(np.float32), "theta_hz": theta[u].astype(np.float32),
            "y2_over_nu0_hz": y2[u].astype(np.float32), "w_t_s": w_t, "w_a": wa, "w_b": wb,
            "selectivity_t_s": sel_t, "selectivity": selectivity[u]}))
    return points


def _selectivity(spike_i, spike_t, n_units, duration_s, period_s, window_s):
    """(r_A - r_B)/(r_A + r_B) per unit in consecutive whole windows (NaN without spikes).

    Counted in one pass over the spikes (``bincount`` over unit, window and
    phase), so the cost does not grow with the number of windows times spikes.
    """
    edges = np.arange(0, duration_s + 1e-9, window_s)
    n_windows = len(edges) - 1
    spike_i = np.asarray(spike_i, dtype=np.int64)
    spike_t = np.asarray(spike_t, dtype=float)
    phase_b = (np.floor(spike_t / period_s).astype(np.int64) % 2) == 1
    window = np.searchsorted(edges, spike_t, side="right") - 1   # edges[k] <= t < edges[k+1]
    inside = (window >= 0) & (window < n_windows)
    flat = (spike_i[inside] * n_windows + window[inside]) * 2 + phase_b[inside]
    counts = np.bincount(flat, minlength=n_units * n_windows * 2).astype(float)
    counts = counts.reshape(n_units, n_windows, 2)
    a, b = counts[..., 0], counts[..., 1]
    with np.errstate(invalid="ignore"):
        out = (a - b) / (a + b)
    return 0.5 * (edges[:-1] + edges[1:]), out


def report(result, figures):
    """Threshold vs <y^2>/nu0; weights of A and B; selectivity over time."""
    import matplotlib.pyplot as plt

    from protocols.plasticity.checks import fmt

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
    prefer_b = sum(p.attrs["preferred"] == "B" for p in points)
    lines = [f"{len(points)} linear-Poisson units learn with BCM from two alternating input "
             f"patterns; {n_selective} end with |selectivity| > 0.5 ({prefer_a} prefer A, "
             f"{prefer_b} prefer B).", "",
             "| unit | selectivity: first window | last window | θ late (Hz) | ⟨y²⟩/ν0 late (Hz) "
             "| error | w from A | w from B | rate (Hz) |", "|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        a = p.attrs
        lines.append(f"| {p.name} | {fmt(a['selectivity_initial'], '+.2f')} | "
                     f"{fmt(a['selectivity_final'], '+.2f')} | {fmt(a['theta_late_hz'], '.2f')} | "
                     f"{fmt(a['y2_over_nu0_late_hz'], '.2f')} | "
                     f"{fmt(100 * a['theta_relative_error'], '.1f')}% | {a['w_a_final']:.4f} | "
                     f"{a['w_b_final']:.4f} | {a['rate_hz']:.1f} |")
    lines += ["", "Selectivity is not computable in a window where a unit did not spike; "
              "\"none\" prefers neither pattern for that reason."] \
        if any(p.attrs["preferred"] == "none" for p in points) else []
    return made, lines
