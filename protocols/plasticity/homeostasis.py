"""Homeostatic scaling sub-experiment: rates pushed away from the target return to it.

Network
-------
One copy is a recurrent network of ``n_exc`` excitatory and ``n_inh``
inhibitory LIF neurons (:mod:`models.lif`) driven by ``n_input`` Poisson
neurons at ``input_rate``.  Connectivity has a fixed in-degree (every
neuron receives exactly ``k_*`` synapses, presynaptic partners drawn without
replacement, no self-connections):

=================  =========  ==================================================
pathway            in-degree  synapse
=================  =========  ==================================================
input -> E         k_input    ``w_input`` x scale, **homeostatic scaling**
E -> E             k_ee       ``w_ee`` x scale, **homeostatic scaling**
input -> I         k_input    ``w_input_inh``, static
E -> I             k_ei       ``w_ei``, static
I -> E             k_ie       ``-w_ie``, static
=================  =========  ==================================================

Every excitatory weight onto an E neuron follows
:func:`models.plasticity.homeostatic_scaling`,

.. math:: \\dot w = \\frac{w}{\\tau_{scaling}}\\,\\frac{\\nu_0 - \\nu_h}{\\nu_0},
          \\qquad \\tau_{rate}\\,\\dot\\nu_h = -\\nu_h + \\tau_{rate}\\sum_k \\delta(t - t_k),

a multiplicative scaling of all the neuron's excitatory inputs toward the
target rate :math:`\\nu_0`.  ``nu_h`` starts at the target, so that the
weights do not drift before the rate trace has seen any spikes.

Conditions
----------
One copy per entry of ``scales``, all side by side in one Brian2 network and
one run, with the *same* connectivity (drawn once) and independent Poisson
inputs: the excitatory weights onto E (input and recurrent) start at
``scale`` times their calibrated values (``scale = 1`` puts the copy near the
target rate; the defaults 0.75 and 1.45 start it at about 0.6x and 2x).

Measures
--------
* population rate of each copy's E neurons in bins of ``bin``
  (spikes / n_exc / bin, Hz);
* ``initial_rate_hz``: E rate over the first ``initial_window`` (the weights
  have barely moved: the drift is zero at t = 0 since ``nu_h`` starts at
  :math:`\\nu_0`, and the rate trace needs ``tau_rate`` to see the new rate);
* ``final_rate_hz``: E rate over the last ``final_window``;
  ``final_error = final_rate / nu_0 - 1``;
* ``settling_time_s``: start of the first 1-s window after which every 1-s
  window rate is within ``tolerance`` of the target (NaN if never);
* mean input->E and E->E weight of each copy, sampled every
  ``weight_sample``, and the final effective scale
  ``mean w_input(T) / w_input`` (the factor homeostasis ended up applying;
  input and recurrent weights of a neuron scale by the same factor);
* ``silent_fraction_final``: E neurons without a spike in the final window.
"""
from __future__ import annotations

import numpy as np

from analysis import plots
from protocols.config import Field

SECTION = {
    "n_exc": Field("int", 150, low=2, doc="excitatory neurons per copy"),
    "n_inh": Field("int", 40, low=1, doc="inhibitory neurons per copy"),
    "n_input": Field("int", 150, low=1, doc="Poisson input neurons per copy"),
    "input_rate": Field("quantity", "10 Hz", unit="frequency", low=0, low_open=True,
                        doc="rate of every Poisson input"),
    "k_input": Field("int", 30, low=1, doc="Poisson inputs per neuron (E and I)"),
    "k_ee": Field("int", 15, low=0, doc="recurrent E inputs per E neuron"),
    "k_ei": Field("int", 30, low=0, doc="E inputs per I neuron"),
    "k_ie": Field("int", 16, low=0, doc="I inputs per E neuron"),
    "w_input": Field("float", 0.75, low=0, low_open=True,
                     doc="calibrated input->E weight (units of 10 mV)"),
    "w_ee": Field("float", 0.75, low=0, doc="calibrated E->E weight (units of 10 mV)"),
    "w_input_inh": Field("float", 0.4, low=0, doc="input->I weight (static)"),
    "w_ei": Field("float", 0.5, low=0, doc="E->I weight (static)"),
    "w_ie": Field("float", 0.8, low=0, doc="I->E weight magnitude (static, inhibitory)"),
    "scales": Field("float_list", [0.75, 1.0, 1.45], low=0.01, high=10,
                    doc="initial factor on the excitatory weights onto E, one copy each"),
    "target_rate": Field("quantity", "5 Hz", unit="frequency", low=0, low_open=True,
                         doc="homeostatic target rate nu_0 (the tutorial's 5 Hz)"),
    "tau_scaling": Field("quantity", "2 s", unit="time", low=0, low_open=True,
                         doc="time constant of the multiplicative scaling"),
    "tau_rate": Field("quantity", "1 s", unit="time", low=0, low_open=True,
                      doc="time constant of the rate trace nu_h (the tutorial's 1 s window)"),
    "w_max": Field("float", 5.0, low=0, low_open=True, doc="upper bound of the scaled weights"),
    "duration": Field("quantity", "30 s", unit="time", low=0, low_open=True,
                      doc="simulated time"),
    "bin": Field("quantity", "250 ms", unit="time", low=0, low_open=True,
                 doc="bin of the population rate"),
    "weight_sample": Field("quantity", "250 ms", unit="time", low=0, low_open=True,
                           doc="sampling interval of the weights"),
    "initial_window": Field("quantity", "500 ms", unit="time", low=0, low_open=True,
                            doc="window at the start for the initial rate"),
    "final_window": Field("quantity", "5 s", unit="time", low=0, low_open=True,
                          doc="window at the end for the final rate"),
    "tolerance": Field("float", 0.1, low=0, low_open=True,
                       doc="relative band around the target for the settling time"),
}


#: rate assumed by the memory estimate for the recorded spikes
ESTIMATE_RATE_HZ = 100.0


def point_name(scale: float) -> str:
    return f"scale_{scale:g}"


def validate(cfg, source, dt) -> None:
    """Refuse what the run cannot draw, do or measure: ``ConfigError`` naming the key."""
    from protocols.plasticity import checks

    checks.distinct(source, "homeostasis.scales", [float(x) for x in cfg.scales], point_name)
    checks.indegree(source, "homeostasis.k_input", cfg.k_input, cfg.n_input, "homeostasis.n_input")
    checks.indegree(source, "homeostasis.k_ee", cfg.k_ee, cfg.n_exc, "homeostasis.n_exc",
                    exclude_self=True)
    checks.indegree(source, "homeostasis.k_ei", cfg.k_ei, cfg.n_exc, "homeostasis.n_exc")
    checks.indegree(source, "homeostasis.k_ie", cfg.k_ie, cfg.n_inh, "homeostasis.n_inh")
    checks.steps(source, "homeostasis.duration", cfg.duration, checks.MS_CLOCK_S,
                 "the weight clip")
    low, high = (dt, "protocol.dt"), (cfg.duration, "homeostasis.duration")
    for key, why in (("bin", "the rate is counted in bins of the run, each at least one step"),
                     ("initial_window", "the initial rate is measured inside the run"),
                     ("final_window", "the final rate is measured inside the run")):
        checks.window(source, f"homeostasis.{key}", cfg[key], low=low, high=high, why=why)
    checks.window(source, "homeostasis.weight_sample", cfg.weight_sample, low=low, high=high,
                  high_open=True, why="the final weights are the last sample, which must come "
                                      "after the first (at t = 0)")


def memory_parts(cfg, dt) -> dict:
    """Bytes of the big arrays (see :func:`protocols.plasticity.estimate_memory`)."""
    duration_s, n_c = float(cfg.duration), len(cfg.scales)
    n_e, n_i, n_x = cfg.n_exc, cfg.n_inh, cfg.n_input
    plastic = n_c * (cfg.k_input + cfg.k_ee) * n_e
    static = n_c * (cfg.k_input * n_i + cfg.k_ei * n_i + cfg.k_ie * n_e)
    return {"neurons": 200 * n_c * (n_e + n_i + n_x),
            "synapses": 200 * plastic + 100 * static,
            # fixed_indegree draws one random key per (target, source) pair
            "connectivity draw": 16 * max(n_e * n_x, n_i * n_x, n_e * n_e, n_i * n_e, n_e * n_i),
            "weight samples": 3 * 8 * plastic * (duration_s / float(cfg.weight_sample) + 1),
            "spikes": 32 * n_c * (n_e + n_i) * ESTIMATE_RATE_HZ * duration_s,
            "rate bins": 4 * 8 * n_c * (duration_s / float(cfg.bin) + 1)}


def condition(scale: float) -> str:
    """``down``, ``unperturbed`` or ``up`` for an initial weight factor."""
    return "unperturbed" if np.isclose(scale, 1.0) else ("down" if scale < 1 else "up")


def fixed_indegree(rng, n_pre: int, n_post: int, k: int, *, exclude_self: bool = False):
    """Indices ``(i, j)``: every target ``j`` gets ``k`` distinct sources drawn at random.

    With ``exclude_self`` (recurrent pathways) a neuron never projects to itself.
    """
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    available = n_pre - 1 if exclude_self else n_pre
    if k > available:
        raise ValueError(f"in-degree {k} exceeds the {available} possible sources")
    # k smallest of uniform keys per target = k distinct sources, vectorised
    keys = rng.random((n_post, n_pre))
    if exclude_self:
        keys[np.arange(n_post), np.arange(n_post)] = np.inf
    i = np.argpartition(keys, k - 1, axis=1)[:, :k]
    j = np.repeat(np.arange(n_post), k)
    return i.ravel().astype(np.int64), j.astype(np.int64)


def _copies(i, j, n_pre, n_post, n_copies):
    """The same connectivity repeated in ``n_copies`` disjoint blocks of the groups."""
    return (np.concatenate([i + c * n_pre for c in range(n_copies)]),
            np.concatenate([j + c * n_post for c in range(n_copies)]))


def run(config, device):
    """All copies in one network and one run; one point per initial scale."""
    import brian2 as b2
    from brian2 import Hz, second

    from models import lif, plasticity, rng, synapses

    cfg = config.homeostasis
    scales = [float(s) for s in cfg.scales]
    n_c, n_e, n_i, n_x = len(scales), cfg.n_exc, cfg.n_inh, cfg.n_input
    structure = rng.stream(config.seed.session, block=0, purpose="structure")
    initial = rng.stream(config.seed.session, block=0, purpose="initial_state")

    scaling = synapses.exponential() + plasticity.homeostatic_scaling(
        target_rate=cfg.target_rate, tau_scaling=cfg.tau_scaling, tau_rate=cfg.tau_rate,
        w_min=0.0, w_max=cfg.w_max)
    static = synapses.exponential()
    params = lif.LIFParams()
    exc = lif.neuron_group(n_c * n_e, params, synapse_models=[scaling], name="homeo_exc")
    inh = lif.neuron_group(n_c * n_i, params, name="homeo_inh")
    exc.nu_h = cfg.target_rate          # rate trace starts at the target: no drift at t = 0
    for group in (exc, inh):            # membranes spread between reset and threshold
        group.v = params.v_rest + initial.uniform(0, 1, len(group)) * params.v_unit
    inputs = b2.PoissonGroup(n_c * n_x, cfg.input_rate, name="homeo_input")

    def draw(n_pre, n_post, k, exclude_self=False):
        return _copies(*fixed_indegree(structure, n_pre, n_post, k, exclude_self=exclude_self),
                       n_pre, n_post, n_c)

    i_xe, j_xe = draw(n_x, n_e, cfg.k_input)
    i_ee, j_ee = draw(n_e, n_e, cfg.k_ee, exclude_self=True)
    i_xi, j_xi = draw(n_x, n_i, cfg.k_input)
    i_ei, j_ei = draw(n_e, n_i, cfg.k_ei)
    i_ie, j_ie = draw(n_i, n_e, cfg.k_ie)
    scale_xe = np.asarray(scales)[j_xe // n_e]
    scale_ee = np.asarray(scales)[j_ee // n_e]
    xe = synapses.build(inputs, exc, scaling, i=i_xe, j=j_xe, w=cfg.w_input * scale_xe,
                        name="homeo_input_exc")
    ee = synapses.build(exc, exc, scaling, i=i_ee, j=j_ee, w=cfg.w_ee * scale_ee,
                        name="homeo_exc_exc")
    fixed = [synapses.build(inputs, inh, static, i=i_xi, j=j_xi, w=cfg.w_input_inh,
                            name="homeo_input_inh"),
             synapses.build(exc, inh, static, i=i_ei, j=j_ei, w=cfg.w_ei, name="homeo_exc_inh"),
             synapses.build(inh, exc, static, i=i_ie, j=j_ie, w=-cfg.w_ie, name="homeo_inh_exc")]
    fixed = [s for s in fixed if len(s)]
    spikes_e = b2.SpikeMonitor(exc, name="homeo_spikes_exc")
    spikes_i = b2.SpikeMonitor(inh, name="homeo_spikes_inh")
    weights = [b2.StateMonitor(s, "w", record=True, dt=cfg.weight_sample, name=f"{s.name}_w")
               for s in (xe, ee) if len(s)]
    net = b2.Network(exc, inh, inputs, xe, ee, *fixed, spikes_e, spikes_i, *weights)
    device.run(net, cfg.duration)

    # ---- read everything as numpy
    duration = float(cfg.duration / second)
    target = float(cfg.target_rate / Hz)
    bin_s = float(cfg.bin / second)
    edges = np.arange(0.0, duration + 0.5 * bin_s, bin_s)
    edges[-1] = duration
    e_i, e_t = np.asarray(spikes_e.i), np.asarray(spikes_e.t / second)
    i_i, i_t = np.asarray(spikes_i.i), np.asarray(spikes_i.t / second)
    samples = {m.source.name: (np.asarray(m.t / second), np.asarray(m.w)) for m in weights}
    t_w, w_xe = samples[xe.name]
    w_ee = samples.get(ee.name, (t_w, np.zeros((0, len(t_w)))))[1]
    copy_xe, copy_ee = j_xe // n_e, j_ee // n_e
    initial_stop = float(cfg.initial_window / second)
    final_start = duration - float(cfg.final_window / second)
    points = []
    for c, scale in enumerate(scales):
        mine = (e_i >= c * n_e) & (e_i < (c + 1) * n_e)
        t_c = e_t[mine]
        ti_c = i_t[(i_i >= c * n_i) & (i_i < (c + 1) * n_i)]
        rate = np.histogram(t_c, edges)[0] / n_e / np.diff(edges)
        rate_inh = np.histogram(ti_c, edges)[0] / n_i / np.diff(edges)
        mean_xe = w_xe[copy_xe == c].mean(axis=0)
        mean_ee = (w_ee[copy_ee == c].mean(axis=0) if np.any(copy_ee == c)
                   else np.full(len(t_w), np.nan))
        initial_rate = window_rate(t_c, n_e, 0.0, initial_stop)
        final_rate = window_rate(t_c, n_e, final_start, duration)
        final_per_neuron = np.bincount(e_i[mine & (e_t >= final_start)] - c * n_e,
                                       minlength=n_e) / (duration - final_start)
        points.append((point_name(scale), {
            "scale": scale, "condition": condition(scale), "target_rate_hz": target,
            "initial_rate_hz": initial_rate, "initial_deviation": initial_rate / target - 1,
            "final_rate_hz": final_rate, "final_error": final_rate / target - 1,
            "final_rate_inh_hz": window_rate(ti_c, n_i, final_start, duration),
            "settling_time_s": settling_time(t_c, n_e, duration, target, cfg.tolerance),
            "mean_w_ee_initial": float(mean_ee[0]), "mean_w_ee_final": float(mean_ee[-1]),
            "mean_w_input_initial": float(mean_xe[0]), "mean_w_input_final": float(mean_xe[-1]),
            "final_effective_scale": float(mean_xe[-1] / cfg.w_input),
            "final_rate_cv_across_neurons": float(final_per_neuron.std()
                                                  / max(final_per_neuron.mean(), 1e-12)),
            "silent_fraction_final": float(np.mean(final_per_neuron == 0)),
            "n_exc": n_e, "n_plastic_synapses": int((copy_xe == c).sum() + (copy_ee == c).sum()),
        }, {"bin_edges_s": edges, "rate_hz": rate, "rate_inh_hz": rate_inh,
            "weight_t_s": t_w, "mean_w_ee": mean_ee, "mean_w_input": mean_xe,
            "final_rate_per_neuron_hz": final_per_neuron}))
    return points


def window_rate(spike_times, n_neurons: int, start: float, stop: float) -> float:
    """Population rate (Hz per neuron) of the spikes in ``[start, stop)``."""
    n = np.count_nonzero((spike_times >= start) & (spike_times < stop))
    return float(n / n_neurons / (stop - start))


def settling_time(spike_times, n_neurons: int, duration: float, target: float,
                  tolerance: float, window: float = 1.0) -> float:
    """Start of the first 1-s window after which every window rate is within tolerance.

    Windows are consecutive, non-overlapping; NaN when the last one is
    already outside the band.
    """
    edges = np.arange(0.0, duration + 1e-9, window)
    if len(edges) < 2:
        return float("nan")
    rates = np.histogram(spike_times, edges)[0] / n_neurons / window
    outside = np.flatnonzero(np.abs(rates / target - 1) > tolerance)
    if len(outside) == 0:
        return 0.0
    if outside[-1] == len(rates) - 1:
        return float("nan")
    return float(edges[outside[-1] + 1])


_COLOURS = {"down": "tab:blue", "unperturbed": "0.35", "up": "tab:red"}


def _colours(points):
    """Fixed colours when each condition appears once, else the default cycle."""
    names = [p.attrs["condition"] for p in points]
    if len(set(names)) == len(names):
        return [_COLOURS[n] for n in names]
    return [f"C{k}" for k in range(len(points))]


def report(result, figures):
    """Rate over time with the target; mean excitatory weights over time; table."""
    from protocols.plasticity.checks import fmt
    from protocols.plasticity import config_value

    import matplotlib.pyplot as plt

    points = sorted(result.points.values(), key=lambda p: p.attrs["scale"])
    target = points[0].attrs["target_rate_hz"]
    tol = float(config_value(result, "homeostasis", "tolerance", 0.1))

    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.axhspan(target * (1 - tol), target * (1 + tol), color="0.9", zorder=0,
               label=f"target ±{100 * tol:g}%")
    ax.axhline(target, color="k", ls="--", lw=1, label=f"target {target:g} Hz")
    colours = _colours(points)
    for p, colour in zip(points, colours):
        edges = p.data["bin_edges_s"]
        ax.plot(0.5 * (edges[1:] + edges[:-1]), p.data["rate_hz"], lw=1.2, color=colour,
                label=f"{p.attrs['condition']} (weights x{p.attrs['scale']:g} at t=0)")
    ax.set(xlabel="time (s)", ylabel="E population rate (Hz)",
           title="Homeostatic scaling: E rate per copy "
                 f"({_fmt_bin(points[0])} bins)")
    ax.set_ylim(0, None)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    made = [plots._save(fig, figures / "homeostasis_rate.png")]

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharex=True)
    for key, ax, title in (("mean_w_ee", axes[0], "recurrent E→E"),
                           ("mean_w_input", axes[1], "input→E")):
        for p, colour in zip(points, colours):
            ax.plot(p.data["weight_t_s"], p.data[key], lw=1.5, color=colour,
                    label=f"{p.attrs['condition']} (x{p.attrs['scale']:g})")
        ax.set(xlabel="time (s)", ylabel="mean weight (units of 10 mV)",
               title=f"Mean {title} weight")
        ax.legend(fontsize=8)
    fig.tight_layout()
    made.append(plots._save(fig, figures / "homeostasis_weights.png"))

    a0 = points[0].attrs
    lines = [f"Recurrent E/I networks ({a0['n_exc']} E per copy) with Poisson drive; every "
             "excitatory weight onto E (input and recurrent) scales multiplicatively toward "
             f"the target rate {target:g} Hz. One copy per initial weight factor, side by "
             "side in one run.", "",
             "| condition | initial scale | initial rate (Hz) | vs target | final rate (Hz) "
             "| final error | settling time (s) | mean w E→E: start → end | effective scale |",
             "|---|---|---|---|---|---|---|---|---|"]
    duration = float(points[0].data["bin_edges_s"][-1])
    for p in points:
        a = p.attrs
        settle = ("not computable" if duration < 1.0 else "never") \
            if np.isnan(a["settling_time_s"]) else f"{a['settling_time_s']:.0f}"
        lines.append(f"| {a['condition']} | {a['scale']:g} | {a['initial_rate_hz']:.2f} | "
                     f"{100 * a['initial_deviation']:+.0f}% | {a['final_rate_hz']:.2f} | "
                     f"{100 * a['final_error']:+.1f}% | {settle} | "
                     f"{fmt(a['mean_w_ee_initial'], '.3f', 'none')} → "
                     f"{fmt(a['mean_w_ee_final'], '.3f', 'none')} | "
                     f"{a['final_effective_scale']:.3f} |")
    lines += ["", f"Initial rate: first {_seconds(result, 'initial_window', '500 ms'):g} s; "
              f"final rate: last {_seconds(result, 'final_window', '5 s'):g} s; settling time: "
              "start of the first 1-s window after which every 1-s window is within "
              f"±{100 * tol:g}% of the target; effective scale: final mean input→E weight "
              "over its calibrated value (all excitatory weights onto a neuron scale "
              "together)."]
    if np.isnan(points[0].attrs["mean_w_ee_final"]):
        lines += ["", "No E→E synapses (homeostasis.k_ee = 0): the mean E→E weight is none."]
    return made, lines


def _fmt_bin(point):
    edges = point.data["bin_edges_s"]
    return f"{1e3 * (edges[1] - edges[0]):g} ms"


def _seconds(result, key, default) -> float:
    from protocols.config import parse_quantity
    from protocols.plasticity import config_value

    return float(parse_quantity(str(config_value(result, "homeostasis", key, default)), "time"))

