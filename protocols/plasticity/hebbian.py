"""Hebbian + decay sub-experiment: repeated Poisson patterns shape the weights.

``n_patterns`` disjoint groups of inputs take turns: while a pattern is shown
(``show``), its inputs fire at ``rate_high``, every other input at
``rate_low``; a pause (``gap``) at ``rate_low`` follows.  ``n_units``
postsynaptic units (linear Poisson neurons, rate ``r0 + gain * I_syn``) are
driven by all inputs through synapses with :func:`models.plasticity.hebbian`
+ :func:`models.plasticity.weight_decay`.

Measures: weight mean, std, min and max over time; the change of the mean
weight and the variance of the final weights (the tutorial's
``test_parameters`` measures: ``weight_change``, ``weight_variance``); per
synapse, the co-activation count (presynaptic and postsynaptic spikes in the
same ``coactivity_bin``, summed over the run) against the weight change, with
Pearson's r; the final weight matrix.

Selective plasticity (``selective_k`` > 0, :mod:`protocols.plasticity.selective`):
learning only while at least ``selective_k`` neurons spiked in the last
``selective_window``; the fraction of the run with learning on is a measure.
"""
from __future__ import annotations

import numpy as np

from analysis import plots
from analysis.spikes import bin_spikes
from analysis.stats import pearson
from protocols.config import ConfigError, Field
from protocols.plasticity import selective

SECTION = {
    "n_inputs": Field("int", 100, low=2, doc="input neurons"),
    "n_patterns": Field("int", 4, low=1, doc="disjoint input patterns (n_inputs / n_patterns each)"),
    "n_units": Field("int", 6, low=1, doc="postsynaptic units"),
    "rate_high": Field("quantity", "40 Hz", unit="frequency", low=0, doc="rate of a shown pattern"),
    "rate_low": Field("quantity", "2 Hz", unit="frequency", low=0, doc="rate of the other inputs"),
    "show": Field("quantity", "200 ms", unit="time", low=0, low_open=True,
                  doc="how long a pattern is shown"),
    "gap": Field("quantity", "100 ms", unit="time", low=0, doc="pause between patterns"),
    "r0": Field("quantity", "2 Hz", unit="frequency", low=0, doc="spontaneous rate of a unit"),
    "gain": Field("float", 3.0, low=0, low_open=True, doc="rate per mV of synaptic input (Hz/mV)"),
    "w_init": Field("float", 0.1, low=0, doc="mean initial weight"),
    "w_init_spread": Field("float", 0.3, low=0, high=1, doc="relative spread of initial weights"),
    "eta": Field("float", 0.002, low=0, doc="Hebbian learning rate"),
    "ltd_ratio": Field("float", 0.3, low=0,
                       doc="depression per presynaptic spike / eta (the tutorial's range 0.3-0.8)"),
    "w_max": Field("float", 1.0, low=0, low_open=True, doc="upper weight bound"),
    "decay_rate": Field("quantity", "0.05 Hz", unit="frequency", low=0,
                        doc="relaxation of the weights toward 0"),
    "duration": Field("quantity", "30 s", unit="time", low=0, low_open=True, doc="run length"),
    "coactivity_bin": Field("quantity", "20 ms", unit="time", low=0, low_open=True,
                            doc="pre and post spikes in the same bin count as one co-activation"),
    **selective.SECTION,
}


#: the weights are sampled this often (seconds)
WEIGHT_SAMPLE_S = 0.25
#: rate assumed by the memory estimate for the units' recorded spikes
ESTIMATE_RATE_HZ = 100.0


def validate_patterns(cfg, source, section: str, dt) -> None:
    """Schedule and weight decay (shared with ``strategies``): ``ConfigError`` naming the key."""
    from protocols.plasticity import checks

    if cfg.n_patterns > cfg.n_inputs:
        raise ConfigError(source, f"{section}.n_patterns",
                          f"got {cfg.n_patterns} with {section}.n_inputs {cfg.n_inputs}; allowed "
                          f"1 to {section}.n_inputs (because each pattern is a block of "
                          f"{section}.n_inputs // {section}.n_patterns inputs, at least one)")
    checks.whole_ms(source, f"{section}.show", cfg.show, at_least_one=True)
    checks.whole_ms(source, f"{section}.gap", cfg.gap, at_least_one=False)
    checks.steps(source, f"{section}.duration", cfg.duration, checks.MS_CLOCK_S,
                 "the millisecond schedule and weight clip")
    checks.euler_rate(source, f"{section}.decay_rate", cfg.decay_rate, dt, "protocol.dt")


def validate(cfg, source, dt) -> None:
    """Refuse what the run cannot do or measure: ``ConfigError`` naming the key."""
    from protocols.plasticity import checks

    validate_patterns(cfg, source, "hebbian", dt)
    selective.validate(cfg, source, "hebbian", n_inputs=cfg.n_inputs, n_units=cfg.n_units,
                       duration=cfg.duration)
    checks.window(source, "hebbian.coactivity_bin", cfg.coactivity_bin,
                  low=(dt, "protocol.dt"), high=(cfg.duration, "hebbian.duration"),
                  why="co-activations are counted in whole bins of the run, each at least "
                      "one time step")


def memory_parts(cfg, dt) -> dict:
    """Bytes of the big arrays (see :func:`protocols.plasticity.estimate_memory`)."""
    duration_s = float(cfg.duration)
    n_syn = cfg.n_inputs * cfg.n_units
    in_rate = min(max(float(cfg.rate_high), float(cfg.rate_low)), 1 / float(dt))  # <= 1 a step
    n_bins = duration_s / float(cfg.coactivity_bin) + 1
    return {"synapses": 200 * n_syn,
            "weight samples": 3 * 8 * n_syn * (duration_s / WEIGHT_SAMPLE_S + 1),
            "spikes": 32 * duration_s * (cfg.n_inputs * in_rate + cfg.n_units * ESTIMATE_RATE_HZ),
            "co-activity bins": 9 * (cfg.n_inputs + cfg.n_units) * n_bins,
            "pattern schedule": 24 * (duration_s * 1000 + 2),
            "selective gate": (8 * float(cfg.selective_window) * 1000
                               * (cfg.n_inputs + cfg.n_units) + 4 * duration_s * 1000
                               if cfg.selective_k else 0)}


def run(config, device):
    """All units in one network; one point with the whole weight history."""
    import brian2 as b2
    from brian2 import second

    from models import plasticity, rng, synapses

    cfg = config.hebbian
    n_in, n_pat, n_units = cfg.n_inputs, cfg.n_patterns, cfg.n_units
    duration_s = float(cfg.duration / second)
    shown = pattern_schedule(cfg, duration_s)
    inputs = pattern_inputs(cfg, shown)
    model = synapses.exponential() + plasticity.hebbian(
        eta=cfg.eta, ltd_ratio=cfg.ltd_ratio, w_min=0.0, w_max=cfg.w_max) \
        + plasticity.weight_decay(decay_rate=cfg.decay_rate)
    units = poisson_units(cfg, n_units, "hebb_units")
    draws = rng.stream(config.seed.session, block=0, purpose="structure")
    pre, post = np.tile(np.arange(n_in), n_units), np.repeat(np.arange(n_units), n_in)
    w0 = np.clip(cfg.w_init * (1 + cfg.w_init_spread * draws.standard_normal(len(pre))),
                 0, cfg.w_max)
    syn = synapses.build(inputs, units, model, i=pre, j=post, w=w0, name="hebb_synapses")
    weights = b2.StateMonitor(syn, "w", record=True, dt=WEIGHT_SAMPLE_S * second,
                              name="hebb_weights")
    in_spikes = b2.SpikeMonitor(inputs, name="hebb_input_spikes")
    out_spikes = b2.SpikeMonitor(units, name="hebb_unit_spikes")
    net = b2.Network(inputs, units, syn, weights, in_spikes, out_spikes)
    gate = None
    if cfg.selective_k > 0:
        gate = selective.gate([syn], selective.watched(cfg, inputs, units), k=cfg.selective_k,
                              window=cfg.selective_window, duration=cfg.duration,
                              name="hebb_gate")
        net.add(gate)
    device.run(net, cfg.duration)

    w_hist = np.asarray(weights.w)                     # synapse x time
    w_final = np.asarray(syn.w[:])
    bin_s = float(cfg.coactivity_bin / second)
    # whole bins only: a last bin cut short by the end of the run is left out
    stop_s = max(1, int(np.floor(duration_s / bin_s + 1e-9))) * bin_s
    pre_b = bin_spikes(np.asarray(in_spikes.i), np.asarray(in_spikes.t / second), n_in, 0.0,
                       stop_s, bin_s, binary=True).astype(float)
    post_b = bin_spikes(np.asarray(out_spikes.i), np.asarray(out_spikes.t / second), n_units,
                        0.0, stop_s, bin_s, binary=True).astype(float)
    coactive = (post_b @ pre_b.T)                      # unit x input
    change = (w_final - w0).reshape(n_units, n_in)
    r, p, n = pearson(coactive.ravel(), change.ravel())
    attrs = {"pearson_r": r, "pearson_p": p, "n_synapses": n,
             "w_mean_initial": float(w0.mean()), "w_std_initial": float(w0.std()),
             "w_mean_final": float(w_final.mean()), "w_std_final": float(w_final.std()),
             "w_change_mean": float(w_final.mean() - w0.mean()),
             "w_var_final": float(w_final.var()),
             "w_min_final": float(w_final.min()), "w_max_final": float(w_final.max()),
             "w_max_bound": float(cfg.w_max), "n_patterns": n_pat, "n_units": n_units,
             "unit_rate_hz": float(out_spikes.num_spikes / n_units / duration_s)}
    data = {"t_s": np.asarray(weights.t / second),
            "w_mean": w_hist.mean(axis=0), "w_std": w_hist.std(axis=0),
            "w_min": w_hist.min(axis=0), "w_max": w_hist.max(axis=0),
            "coactivation": coactive, "weight_change": change,
            "w_final": w_final.reshape(n_units, n_in)}
    attrs["learning_time_fraction"] = 1.0
    attrs["selective_k"] = int(cfg.selective_k)
    if gate is not None:
        attrs["learning_time_fraction"] = float(np.mean(gate.history > 0))
        attrs["selective_window_ms"] = gate.window_ms
        attrs["selective_population"] = cfg.selective_population
        data["lr_gate"] = gate.history
    return [("hebbian", attrs, data)]


def pattern_schedule(cfg, duration_s: float) -> np.ndarray:
    """The pattern shown in each millisecond (-1 during pauses), patterns in turn.

    One value per millisecond from 0 to the end of the run, so its size
    follows the duration, not ``show`` or ``gap`` (a show longer than the run
    costs nothing).  ``show`` and ``gap`` are whole milliseconds (``validate``).
    """
    from brian2 import ms

    show_ms = int(round(float(cfg.show / ms)))
    slot_ms = max(1, show_ms + int(round(float(cfg.gap / ms))))
    t_ms = np.arange(int(np.ceil(duration_s * 1000)) + 1)
    slot, within = np.divmod(t_ms, slot_ms)
    return np.where(within < show_ms, slot % cfg.n_patterns, -1)


def pattern_inputs(cfg, shown: np.ndarray, name: str = "hebb_inputs"):
    """Poisson inputs: the shown pattern's block at ``rate_high``, the rest at ``rate_low``."""
    import brian2 as b2
    from brian2 import ms

    schedule = b2.TimedArray(shown.astype(float), dt=1 * ms)
    return b2.PoissonGroup(
        cfg.n_inputs, rates="rate_low + (rate_high - rate_low) * int(floor(i / size) == shown(t))",
        namespace={"shown": schedule, "size": cfg.n_inputs // cfg.n_patterns,
                   "rate_low": cfg.rate_low, "rate_high": cfg.rate_high}, name=name)


def poisson_units(cfg, n: int, name: str):
    """Linear Poisson units: rate ``r0 + gain * I_syn``, input decaying with 5 ms."""
    import brian2 as b2
    from brian2 import Hz, mV

    return b2.NeuronGroup(n, "dI_syn/dt = -I_syn / (5*ms) : volt",
                          threshold="rand() < (r0 + gain * I_syn) * dt", method="exact",
                          namespace={"r0": cfg.r0, "gain": cfg.gain * Hz / mV}, name=name)


def report(result, figures):
    """Weight statistics over time, co-activation vs weight change, final weights."""
    import matplotlib.pyplot as plt

    from protocols.plasticity.checks import fmt

    point = result.point
    a, d = point.attrs, point.data
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    ax = axes[0]
    ax.fill_between(d["t_s"], d["w_min"], d["w_max"], color="tab:blue", alpha=0.15,
                    label="min to max")
    ax.fill_between(d["t_s"], d["w_mean"] - d["w_std"], d["w_mean"] + d["w_std"],
                    color="tab:blue", alpha=0.35, label="mean ± std")
    ax.plot(d["t_s"], d["w_mean"], color="tab:blue", label="mean")
    ax.axhline(a["w_max_bound"], color="tab:red", ls="--", lw=0.8, label="w_max")
    ax.set(xlabel="time (s)", ylabel="weight", title="Weights over time")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.scatter(d["coactivation"].ravel(), d["weight_change"].ravel(), s=4, alpha=0.5)
    ax.set(xlabel="co-activations (pre and post in the same bin)", ylabel="weight change",
           title=f"Hebbian: r = {fmt(a['pearson_r'], '.2f')} (n = {a['n_synapses']})")
    ax = axes[2]
    image = ax.imshow(d["w_final"], aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set(xlabel="input neuron (patterns are consecutive blocks)", ylabel="unit",
           title="Final weights")
    fig.colorbar(image, ax=ax, label="weight")
    fig.tight_layout()
    made = [plots._save(fig, figures / "hebbian_weights.png")]
    lines = [f"{a['n_units']} units learn from {a['n_patterns']} repeated Poisson patterns with "
             "Hebbian learning and weight decay.", "",
             "| measure | value |", "|---|---|",
             f"| Pearson r, co-activations vs weight change | {fmt(a['pearson_r'], '.3f')} "
             f"(p = {fmt(a['pearson_p'], '.2g')}, n = {a['n_synapses']}) |",
             f"| final weights mean ± std | {a['w_mean_final']:.3f} ± {a['w_std_final']:.3f} |",
             f"| final weights min / max (bounds 0 / {a['w_max_bound']:g}) | "
             f"{a['w_min_final']:.3f} / {a['w_max_final']:.3f} |",
             f"| change of the mean weight | {a.get('w_change_mean', float('nan')):+.4f} |",
             f"| variance of the final weights | {a.get('w_var_final', float('nan')):.5f} |",
             f"| mean unit rate (Hz) | {a['unit_rate_hz']:.1f} |"]
    if a.get("selective_k", 0) > 0:
        lines += ["", selective.report_line(d["lr_gate"], a["selective_k"],
                                            a["selective_window_ms"], a["selective_population"])]
    return made, lines
