"""All rules combined: one recurrent network with STP + Hebbian + decay + BCM + scaling.

Network
-------
``n_exc`` excitatory and ``n_inh`` inhibitory LIF neurons (:mod:`models.lif`).
Every E neuron receives ``k_input`` independent Poisson trains at
``input_rate`` (``brian2.PoissonInput`` onto ``I_syn``, static weight
``w_input``).  Connectivity has fixed in-degrees, no self-connections:

==========  =========  =======================================================
pathway     in-degree  synapse
==========  =========  =======================================================
E -> E      k_ee       **plastic**, every rule below; initial w uniform in
                       ``w_ee_init +- w_ee_spread``
E -> I      k_ei       ``w_ei``, static
I -> E      k_ie       ``-w_ie``, static
==========  =========  =======================================================

The E->E synapse model is (see :mod:`models.plasticity`, all with
:math:`\\nu_0` = ``target_rate`` and bounds ``[0, w_max]``)::

    exponential() + stp(U, tau_f, tau_d) + hebbian(eta, ltd_ratio)
        + weight_decay(decay_rate, baseline) + bcm(eta_bcm, nu_0, tau_rate, tau_theta)
        + homeostatic_scaling(nu_0, tau_scaling, tau_rate_h)

so a presynaptic spike transmits ``10 mV * w * u * x`` (Tsodyks-Markram) and
the weight moves by the Hebbian jumps
(pre: :math:`\\eta(a_{post} - \\text{ltd})`, post: :math:`\\eta\\,a_{pre}`) and
the drift

.. math::

    \\dot w = -\\lambda (w - w_b)
        + \\eta_{BCM} \\frac{x}{\\nu_0}\\frac{y}{\\nu_0}\\frac{y - \\theta}{\\nu_0}
        + \\frac{w}{\\tau_{scaling}}\\frac{\\nu_0 - \\nu_h}{\\nu_0},
    \\qquad \\tau_\\theta \\dot\\theta = y^2/\\nu_0 - \\theta .

``nu_h`` and ``theta_bcm`` start at :math:`\\nu_0`.

Measures
--------
* E and I population rates in bins of ``bin`` (spikes / neurons / bin, Hz);
  the run is *stable* when every E bin lies in ``[band_low, band_high]``
  (no runaway, never silent) - ``rate_min_hz``, ``rate_max_hz``,
  ``within_band``;
* per neuron, over the last ``final_window``: ``silent_fraction_final`` (no
  spike), ``fraction_below_band_final`` / ``fraction_above_band_final``
  (rate outside the band: single neurons falling silent or running away
  while the population rate is held by inhibition), the CV of the rates
  across neurons; ``final_rate_hz``: E population rate over that window;
* ``stable``: ``within_band`` and at most ``max_fraction_outside`` of the E
  neurons outside the band at the end;
* every E->E weight sampled every ``weight_sample``: mean, standard deviation,
  fractions at the bounds, a histogram over ``[0, w_max]`` per sample, and
  the overall minimum and maximum (bounds check);
* mean BCM threshold ``theta_bcm`` and mean homeostatic rate trace ``nu_h``
  of the E neurons at the same samples.

Notes
-----
Hebbian learning here is destabilising on its own (``hebb_ltd_ratio = 0.3``,
the low end of the tutorial's 0.3-0.8: uncorrelated pairs potentiate above
7.5 Hz, below the 8 Hz target, and a network held at ``w_max = 12`` fires at
about 55 Hz); decay, BCM and scaling must hold it.  They do at the default
``hebb_eta``, at twice and at three times it (200-E version, 15 s: final
rates 8.0 and 8.6 Hz); at twice it *without* them (no decay, BCM and scaling
off) the population rate is still held by inhibition but 14% of the E
neurons leave the band within 15 s and the weights spread from 0 to
``w_max`` (``tests/test_plasticity_stability.py``; 41% with the former
``hebb_ltd_ratio = 0.2``).

:func:`build` is shared with ``benchmarks/plasticity.py``.
"""
from __future__ import annotations

import numpy as np

from analysis import plots
from protocols.plasticity.homeostasis import fixed_indegree
from protocols.config import ConfigError, Field

SECTION = {
    "plasticity_dt": Field("quantity", "1 ms", unit="time", low=0, low_open=True,
                           doc="time step of the slow weight dynamics (decay, BCM, scaling); "
                               "spikes still use protocol.dt"),
    "n_exc": Field("int", 400, low=2, doc="excitatory neurons"),
    "n_inh": Field("int", 100, low=1, doc="inhibitory neurons"),
    "k_input": Field("int", 40, low=0, doc="independent Poisson inputs per E neuron"),
    "input_rate": Field("quantity", "10 Hz", unit="frequency", low=0,
                        doc="rate of every Poisson input"),
    "w_input": Field("float", 1.0, low=0, doc="input weight (units of 10 mV), static"),
    "k_ee": Field("int", 40, low=1, doc="recurrent (plastic) E inputs per E neuron"),
    "k_ei": Field("int", 80, low=0, doc="E inputs per I neuron"),
    "k_ie": Field("int", 40, low=0, doc="I inputs per E neuron"),
    "w_ee_init": Field("float", 2.0, low=0, doc="mean initial E->E weight"),
    "w_ee_spread": Field("float", 1.0, low=0,
                         doc="initial E->E weights uniform in w_ee_init +- this"),
    "w_ei": Field("float", 0.5, low=0, doc="E->I weight (static)"),
    "w_ie": Field("float", 0.5, low=0, doc="I->E weight magnitude (static, inhibitory)"),
    "w_max": Field("float", 12.0, low=0, low_open=True, doc="upper weight bound of every rule"),
    "target_rate": Field("quantity", "8 Hz", unit="frequency", low=0, low_open=True,
                         doc="target rate nu_0 of BCM and of homeostatic scaling"),
    "stp_U": Field("float", 0.2, low=0, low_open=True, high=1, doc="STP utilisation U"),
    "stp_tau_f": Field("quantity", "100 ms", unit="time", low=0, doc="STP facilitation tau"),
    "stp_tau_d": Field("quantity", "200 ms", unit="time", low=0, low_open=True,
                       doc="STP depression (recovery) tau"),
    "hebb_eta": Field("float", 0.05, low=0, doc="Hebbian learning rate per spike"),
    "hebb_ltd_ratio": Field("float", 0.3, low=0,
                            doc="Hebbian depression per presynaptic spike / hebb_eta"),
    "decay_rate": Field("quantity", "0.05 Hz", unit="frequency", low=0,
                        doc="weight decay rate lambda"),
    "decay_baseline": Field("float", 2.0, low=0, doc="weight decay baseline w_b"),
    "bcm_eta": Field("quantity", "0.05 Hz", unit="frequency", low=0, low_open=True,
                     doc="BCM learning rate"),
    "bcm_tau_rate": Field("quantity", "100 ms", unit="time", low=0, low_open=True,
                          doc="BCM rate-trace time constant"),
    "bcm_tau_theta": Field("quantity", "2 s", unit="time", low=0, low_open=True,
                           doc="BCM threshold time constant"),
    "tau_scaling": Field("quantity", "5 s", unit="time", low=0, low_open=True,
                         doc="homeostatic scaling time constant"),
    "tau_rate_scaling": Field("quantity", "1 s", unit="time", low=0, low_open=True,
                              doc="homeostatic rate-trace time constant"),
    "duration": Field("quantity", "60 s", unit="time", low=0, low_open=True,
                      doc="simulated time"),
    "bin": Field("quantity", "500 ms", unit="time", low=0, low_open=True,
                 doc="bin of the population rates (and of the stability check)"),
    "weight_sample": Field("quantity", "2 s", unit="time", low=0, low_open=True,
                           doc="sampling interval of the weights, theta and nu_h"),
    "n_weight_bins": Field("int", 120, low=2, doc="histogram bins over [0, w_max]"),
    "final_window": Field("quantity", "10 s", unit="time", low=0, low_open=True,
                          doc="window at the end for the final rate and silent fraction"),
    "band_low": Field("quantity", "1 Hz", unit="frequency", low=0,
                      doc="lowest stable population rate (below: silent)"),
    "band_high": Field("quantity", "50 Hz", unit="frequency", low=0, low_open=True,
                       doc="highest stable population rate (above: runaway)"),
    "max_fraction_outside": Field("float", 0.05, low=0, high=1,
                                  doc="largest fraction of E neurons whose final rate may lie "
                                      "outside the band in a stable run"),
}


#: rate assumed by the memory estimate for the recorded spikes
ESTIMATE_RATE_HZ = 100.0
#: the most histogram bins of the weights (each sample's histogram is one column of a figure)
MAX_WEIGHT_BINS = 10_000


def validate(cfg, source, dt) -> None:
    """Refuse what the run cannot draw, do or measure: ``ConfigError`` naming the key."""
    from protocols.plasticity import checks

    checks.indegree(source, "combined.k_ee", cfg.k_ee, cfg.n_exc, "combined.n_exc",
                    exclude_self=True)
    checks.indegree(source, "combined.k_ei", cfg.k_ei, cfg.n_exc, "combined.n_exc")
    checks.indegree(source, "combined.k_ie", cfg.k_ie, cfg.n_inh, "combined.n_inh")
    checks.steps(source, "combined.plasticity_dt", cfg.duration, cfg.plasticity_dt,
                 "combined.plasticity_dt")
    checks.steps(source, "combined.duration", cfg.duration, checks.MS_CLOCK_S, "the weight clip")
    # the presynaptic BCM trace and the weight drift live on the synapses' clock
    # (plasticity_dt), the BCM threshold on the neurons' (protocol.dt)
    checks.euler_tau(source, "combined.bcm_tau_rate", cfg.bcm_tau_rate, cfg.plasticity_dt,
                     "combined.plasticity_dt")
    checks.euler_tau(source, "combined.bcm_tau_theta", cfg.bcm_tau_theta, dt, "protocol.dt")
    checks.euler_rate(source, "combined.decay_rate", cfg.decay_rate, cfg.plasticity_dt,
                      "combined.plasticity_dt")
    low, high = (dt, "protocol.dt"), (cfg.duration, "combined.duration")
    for key, why in (("bin", "the rates are counted in bins of the run, each at least one step"),
                     ("weight_sample", "the weights are sampled inside the run"),
                     ("final_window", "the final rates are measured inside the run")):
        checks.window(source, f"combined.{key}", cfg[key], low=low, high=high, why=why)
    if cfg.band_low >= cfg.band_high:
        raise ConfigError(source, "combined.band_low",
                          f"got {checks.show(cfg.band_low)} with combined.band_high "
                          f"{checks.show(cfg.band_high)}; allowed below combined.band_high "
                          "(because the stability band runs from band_low up to band_high)")
    if cfg.n_weight_bins > MAX_WEIGHT_BINS:
        raise ConfigError(source, "combined.n_weight_bins",
                          f"got {cfg.n_weight_bins}; allowed 2 to {MAX_WEIGHT_BINS} (because "
                          "every weight sample's histogram is stored and drawn)")


def memory_parts(cfg, dt) -> dict:
    """Bytes of the big arrays (see :func:`protocols.plasticity.estimate_memory`)."""
    duration_s, n_e, n_i = float(cfg.duration), cfg.n_exc, cfg.n_inh
    plastic = cfg.k_ee * n_e
    n_samples = duration_s / float(cfg.weight_sample) + 2
    return {"neurons": 300 * (n_e + n_i),
            "synapses": 300 * plastic + 100 * (cfg.k_ei * n_i + cfg.k_ie * n_e),
            # fixed_indegree draws one random key per (target, source) pair
            "connectivity draw": 16 * max(n_e * n_e, n_e * n_i),
            "weight samples": 4 * 8 * plastic * n_samples,
            "theta and rate traces": 3 * 8 * 2 * n_e * n_samples,
            "weight histograms": 2 * 8 * cfg.n_weight_bins * n_samples,
            "spikes": 32 * (n_e + n_i) * ESTIMATE_RATE_HZ * duration_s,
            "rate bins": 4 * 8 * (duration_s / float(cfg.bin) + 1)}


def plastic_model(cfg):
    """The E->E synapse model with every rule (see module docstring)."""
    from models import plasticity, synapses

    w_max = float(cfg.w_max)
    return (synapses.exponential()
            + plasticity.stp(U=cfg.stp_U, tau_f=cfg.stp_tau_f, tau_d=cfg.stp_tau_d)
            + plasticity.hebbian(eta=cfg.hebb_eta, ltd_ratio=cfg.hebb_ltd_ratio,
                                 w_min=0.0, w_max=w_max)
            + plasticity.weight_decay(decay_rate=cfg.decay_rate, baseline=cfg.decay_baseline)
            + plasticity.bcm(eta=cfg.bcm_eta, target_rate=cfg.target_rate,
                             tau_rate=cfg.bcm_tau_rate, tau_theta=cfg.bcm_tau_theta,
                             w_min=0.0, w_max=w_max, theta_init=cfg.target_rate)
            + plasticity.homeostatic_scaling(target_rate=cfg.target_rate,
                                             tau_scaling=cfg.tau_scaling,
                                             tau_rate=cfg.tau_rate_scaling,
                                             w_min=0.0, w_max=w_max))


def build(cfg, session: int, *, plastic: bool = True, record: bool = True):
    """Brian2 objects of the network (call inside a :func:`models.devices.backend` block).

    ``plastic=False`` gives the same network (same structure, same input)
    with static E->E synapses (transmission only: no STP, no learning, no
    per-step update) whose weights are the initial weights times the STP
    steady-state efficacy ``u x`` at the target rate
    (:func:`models.plasticity.stp_steady_state`), so that the recurrent drive,
    and the activity, stay close to the plastic network's.  ``record`` adds
    the protocol's monitors; without it only spike counters
    (``SpikeMonitor(record=False)``) are added.

    Returns ``(network, objects)`` with ``objects`` a dict naming the groups,
    synapses and monitors, and the drawn connectivity (``"ee_i"``, ...).
    """
    import brian2 as b2

    from models import lif, rng, synapses

    structure = rng.stream(session, block=0, purpose="structure")
    initial = rng.stream(session, block=0, purpose="initial_state")
    n_e, n_i = cfg.n_exc, cfg.n_inh
    model = plastic_model(cfg) if plastic else synapses.exponential()
    static = synapses.exponential()
    params = lif.LIFParams()
    exc = lif.neuron_group(n_e, params, synapse_models=[model] if plastic else (),
                           name="comb_exc")
    inh = lif.neuron_group(n_i, params, name="comb_inh")
    if plastic:
        exc.nu_h = cfg.target_rate      # rate trace starts at the target (theta_bcm does too)
    for group in (exc, inh):            # membranes spread between reset and threshold
        group.v = params.v_rest + initial.uniform(0, 1, len(group)) * params.v_unit
    objects = {"exc": exc, "inh": inh}
    if cfg.k_input > 0 and float(cfg.input_rate) > 0:
        objects["input"] = b2.PoissonInput(exc, "I_syn", N=cfg.k_input, rate=cfg.input_rate,
                                           weight=cfg.w_input * params.v_unit)
    ee_i, ee_j = fixed_indegree(structure, n_e, n_e, cfg.k_ee, exclude_self=True)
    w0 = cfg.w_ee_init + cfg.w_ee_spread * structure.uniform(-1, 1, len(ee_i))
    w0 = np.clip(w0, 0.0, cfg.w_max)
    if not plastic:
        from models import plasticity

        w0 = w0 * plasticity.stp_steady_state(cfg.stp_U, cfg.stp_tau_f, cfg.stp_tau_d,
                                              cfg.target_rate)["efficacy"]
    # the slow drift terms run on their own, coarser clock; spikes and the
    # event-driven STP and Hebbian updates keep the network's dt
    objects["ee"] = synapses.build(exc, exc, model, i=ee_i, j=ee_j, w=w0, name="comb_ee",
                                   dt=cfg.plasticity_dt if model.drift else None)
    ei_i, ei_j = fixed_indegree(structure, n_e, n_i, cfg.k_ei)
    ie_i, ie_j = fixed_indegree(structure, n_i, n_e, cfg.k_ie)
    if len(ei_i):
        objects["ei"] = synapses.build(exc, inh, static, i=ei_i, j=ei_j, w=cfg.w_ei,
                                       name="comb_ei")
    if len(ie_i):
        objects["ie"] = synapses.build(inh, exc, static, i=ie_i, j=ie_j, w=-cfg.w_ie,
                                       name="comb_ie")
    objects["spikes_exc"] = b2.SpikeMonitor(exc, record=record, name="comb_spikes_exc")
    objects["spikes_inh"] = b2.SpikeMonitor(inh, record=record, name="comb_spikes_inh")
    if record:
        objects["weights"] = b2.StateMonitor(objects["ee"], "w", record=True,
                                              dt=cfg.weight_sample, name="comb_w")
        if plastic:
            objects["traces"] = b2.StateMonitor(exc, ["theta_bcm", "nu_h"], record=True,
                                                dt=cfg.weight_sample, name="comb_traces")
    objects.update(ee_i=ee_i, ee_j=ee_j, ei_i=ei_i, ie_i=ie_i, w0=w0, model=model)
    net = b2.Network(*[o for o in objects.values() if isinstance(o, b2.BrianObject)])
    return net, objects


def run(config, device):
    """One network, one run; one point with the rate, weight and threshold histories."""
    from brian2 import Hz, second

    cfg = config.combined
    net, obj = build(cfg, config.seed.session, plastic=True, record=True)
    device.run(net, cfg.duration)

    duration = float(cfg.duration / second)
    n_e, n_i = cfg.n_exc, cfg.n_inh
    bin_s = float(cfg.bin / second)
    edges = np.arange(0.0, duration + 0.5 * bin_s, bin_s)
    edges[-1] = duration
    e_i, e_t = np.asarray(obj["spikes_exc"].i), np.asarray(obj["spikes_exc"].t / second)
    i_t = np.asarray(obj["spikes_inh"].t / second)
    rate = np.histogram(e_t, edges)[0] / n_e / np.diff(edges)
    rate_inh = np.histogram(i_t, edges)[0] / n_i / np.diff(edges)
    w_t = np.asarray(obj["weights"].t / second)
    w = np.asarray(obj["weights"].w)                       # [synapse, sample]
    # the final weights (after the last step), appended when the last sample is earlier
    w_end = np.asarray(obj["ee"].w[:])
    if w_t[-1] < duration - 1e-9:
        w_t, w = np.append(w_t, duration), np.column_stack([w, w_end])
    theta = np.asarray(obj["traces"].theta_bcm / Hz).mean(axis=0)
    nu_h = np.asarray(obj["traces"].nu_h / Hz).mean(axis=0)
    trace_t = np.asarray(obj["traces"].t / second)
    hist_edges = np.linspace(0.0, cfg.w_max, cfg.n_weight_bins + 1)
    hist = np.stack([np.histogram(np.clip(w[:, k], 0, cfg.w_max), hist_edges)[0]
                     for k in range(w.shape[1])])      # [sample, bin]
    final_start = duration - float(cfg.final_window / second)
    final_counts = np.bincount(e_i[e_t >= final_start], minlength=n_e)
    low, high = float(cfg.band_low / Hz), float(cfg.band_high / Hz)
    target = float(cfg.target_rate / Hz)
    inside = (rate >= low) & (rate <= high)
    neuron_rates = final_counts / (duration - final_start)
    below, above = float(np.mean(neuron_rates < low)), float(np.mean(neuron_rates > high))
    attrs = {
        "n_exc": n_e, "n_inh": n_i, "n_plastic_synapses": int(len(obj["ee_i"])),
        "target_rate_hz": target, "band_low_hz": low, "band_high_hz": high,
        "rate_min_hz": float(rate.min()), "rate_max_hz": float(rate.max()),
        "rate_mean_hz": float(len(e_t) / n_e / duration),
        "within_band": bool(inside.all()), "fraction_bins_within_band": float(inside.mean()),
        "final_rate_hz": float(final_counts.sum() / n_e / (duration - final_start)),
        "final_rate_inh_hz": float(np.count_nonzero(i_t >= final_start) / n_i
                                   / (duration - final_start)),
        "final_error": float(final_counts.sum() / n_e / (duration - final_start) / target - 1),
        "silent_fraction_final": float(np.mean(final_counts == 0)),
        "fraction_below_band_final": below, "fraction_above_band_final": above,
        "max_neuron_rate_final_hz": float(neuron_rates.max()),
        "stable": bool(inside.all() and below + above <= cfg.max_fraction_outside),
        "final_rate_cv_across_neurons": float(final_counts.std() / max(final_counts.mean(), 1e-12)),
        "w_min_bound": 0.0, "w_max_bound": float(cfg.w_max),
        "w_min_observed": float(w.min()), "w_max_observed": float(w.max()),
        "w_mean_initial": float(w[:, 0].mean()), "w_std_initial": float(w[:, 0].std()),
        "w_mean_final": float(w[:, -1].mean()), "w_std_final": float(w[:, -1].std()),
        "w_fraction_at_zero_final": float(np.mean(w[:, -1] <= 1e-6)),
        "w_fraction_at_max_final": float(np.mean(w[:, -1] >= cfg.w_max - 1e-6)),
        "theta_final_hz": float(theta[-1]), "nu_h_final_hz": float(nu_h[-1]),
    }
    datasets = {
        "bin_edges_s": edges, "rate_hz": rate, "rate_inh_hz": rate_inh,
        "weight_t_s": w_t, "w_mean": w.mean(axis=0), "w_std": w.std(axis=0),
        "w_fraction_at_zero": np.mean(w <= 1e-6, axis=0),
        "w_fraction_at_max": np.mean(w >= cfg.w_max - 1e-6, axis=0),
        "w_hist_edges": hist_edges, "w_hist": hist, "w_initial": w[:, 0], "w_final": w[:, -1],
        "trace_t_s": trace_t, "theta_mean_hz": theta, "nu_h_mean_hz": nu_h,
        "final_rate_per_neuron_hz": neuron_rates,
    }
    return [("combined", attrs, datasets)]


def report(result, figures):
    """Rates in the stability band; weight distribution over time; table of the measures."""
    from protocols.plasticity import config_value

    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    p = result.point
    a, d = p.attrs, p.data
    made = []

    fig = plt.figure(figsize=(13, 6.5))
    grid = fig.add_gridspec(2, 2, width_ratios=[3, 1], height_ratios=[3, 2])
    axes = [fig.add_subplot(grid[0, 0])]
    axes.append(fig.add_subplot(grid[1, 0], sharex=axes[0]))
    axes.append(fig.add_subplot(grid[:, 1]))
    ax = axes[0]
    edges = d["bin_edges_s"]
    centres = 0.5 * (edges[1:] + edges[:-1])
    ax.axhspan(a["band_low_hz"], a["band_high_hz"], color="0.93", zorder=0,
               label=f"stability band {a['band_low_hz']:g}-{a['band_high_hz']:g} Hz")
    ax.axhline(a["target_rate_hz"], color="k", ls="--", lw=1,
               label=f"target {a['target_rate_hz']:g} Hz")
    ax.plot(centres, d["rate_hz"], color="tab:red", lw=1.2, label="E (plastic E→E)")
    ax.plot(centres, d["rate_inh_hz"], color="tab:blue", lw=1.0, label="I (static)")
    ax.set_yscale("log")
    ax.set_ylim(0.5 * a["band_low_hz"] if a["band_low_hz"] > 0 else 0.1,
                2 * max(a["band_high_hz"], float(np.max(d["rate_inh_hz"]))))
    ax.set(ylabel="population rate (Hz)",
           title=f"All rules combined: rates ({1e3 * (edges[1] - edges[0]):g} ms bins)")
    ax.legend(fontsize=8, loc="lower right", ncol=2)
    ax = axes[1]
    ax.plot(d["trace_t_s"], d["theta_mean_hz"], color="tab:purple", label="mean BCM θ")
    ax.plot(d["trace_t_s"], d["nu_h_mean_hz"], color="tab:green", label="mean ν_h (scaling)")
    ax.axhline(a["target_rate_hz"], color="k", ls="--", lw=1)
    ax.set(xlabel="time (s)", ylabel="rate / threshold (Hz)",
           title="BCM threshold and homeostatic rate trace (E neurons)")
    ax.legend(fontsize=8)
    ax = axes[2]
    rates = d["final_rate_per_neuron_hz"]
    top = max(a["band_high_hz"], float(rates.max())) * 1.05
    ax.hist(rates, bins=np.linspace(0, top, 60), color="tab:red", alpha=0.8)
    for edge in (a["band_low_hz"], a["band_high_hz"]):
        ax.axvline(edge, color="0.4", ls=":", lw=1)
    ax.axvline(a["target_rate_hz"], color="k", ls="--", lw=1)
    ax.set(xlabel="E neuron rate, final window (Hz)", ylabel="neurons",
           title="Single-neuron rates at the end\n(dotted: band, dashed: target)")
    fig.tight_layout()
    made.append(plots._save(fig, figures / "combined_rate.png"))

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    t, h_edges, hist = d["weight_t_s"], d["w_hist_edges"], d["w_hist"]
    frac = hist / max(hist.sum(axis=1).max(), 1)
    t_edges = np.concatenate(([t[0]], 0.5 * (t[1:] + t[:-1]), [t[-1]]))
    mesh = ax.pcolormesh(t_edges, h_edges, frac.T, cmap="magma_r",
                         norm=LogNorm(vmin=max(frac[frac > 0].min(), 1e-5), vmax=frac.max()))
    fig.colorbar(mesh, ax=ax, label="fraction of E→E synapses per bin")
    ax.plot(t, d["w_mean"], color="tab:cyan", lw=1.5, label="mean")
    ax.plot(t, d["w_mean"] + d["w_std"], color="tab:cyan", lw=0.8, ls="--", label="mean ± std")
    ax.plot(t, d["w_mean"] - d["w_std"], color="tab:cyan", lw=0.8, ls="--")
    occupied = np.flatnonzero(hist.sum(axis=0))
    w_lo, w_hi = h_edges[occupied[0]], h_edges[occupied[-1] + 1]
    margin = 0.05 * (w_hi - w_lo)
    ax.set_ylim(max(0.0, w_lo - margin), min(h_edges[-1], w_hi + margin))
    ax.set(xlabel="time (s)", ylabel="weight w (units of 10 mV)",
           title=f"E→E weight distribution over time (bounds 0-{a['w_max_bound']:g})")
    ax.legend(fontsize=8, loc="upper right")
    ax = axes[1]
    picks = np.unique(np.linspace(0, len(t) - 1, 5).round().astype(int))
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(picks)))
    centres_w = 0.5 * (h_edges[1:] + h_edges[:-1])
    for k, colour in zip(picks, colours):
        ax.step(centres_w, hist[k] / hist[k].sum(), where="mid", color=colour,
                label=f"t = {t[k]:g} s")
    ax.set_xlim(max(0.0, w_lo - margin), min(h_edges[-1], w_hi + margin))
    ax.set(xlabel="weight w (units of 10 mV)", ylabel="fraction of synapses",
           title="Weight histograms")
    ax.legend(fontsize=8)
    fig.tight_layout()
    made.append(plots._save(fig, figures / "combined_weights.png"))

    verdict = "stable" if a["stable"] else "NOT stable"
    outside = a["fraction_below_band_final"] + a["fraction_above_band_final"]
    lines = [f"{a['n_exc']} E + {a['n_inh']} I LIF neurons with Poisson input; "
             f"{a['n_plastic_synapses']} plastic E→E synapses carrying STP + Hebbian + decay + "
             f"BCM + homeostatic scaling (target {a['target_rate_hz']:g} Hz).", "",
             f"**{verdict}**: every E rate bin within {a['band_low_hz']:g}-"
             f"{a['band_high_hz']:g} Hz: {'yes' if a['within_band'] else 'no'} "
             f"({100 * a['fraction_bins_within_band']:.0f}% of bins); E neurons outside the "
             f"band at the end: {100 * outside:.1f}% "
             f"(allowed {100 * config_value(result, 'combined', 'max_fraction_outside', 0.05):g}%).", "",
             "| measure | value |", "|---|---|",
             f"| E rate: min / mean / max over bins (Hz) | {a['rate_min_hz']:.2f} / "
             f"{a['rate_mean_hz']:.2f} / {a['rate_max_hz']:.2f} |",
             f"| final E rate (Hz), vs target | {a['final_rate_hz']:.2f} "
             f"({100 * a['final_error']:+.1f}%) |",
             f"| final I rate (Hz) | {a['final_rate_inh_hz']:.2f} |",
             f"| E neurons in the final window: silent / below band / above band | "
             f"{100 * a['silent_fraction_final']:.1f}% / "
             f"{100 * a['fraction_below_band_final']:.1f}% "
             f"/ {100 * a['fraction_above_band_final']:.1f}% |",
             f"| highest single-neuron final rate (Hz) | {a['max_neuron_rate_final_hz']:.1f} |",
             f"| CV of final E rates across neurons | {a['final_rate_cv_across_neurons']:.2f} |",
             f"| weight mean ± std: initial | {a['w_mean_initial']:.3f} ± "
             f"{a['w_std_initial']:.3f} |",
             f"| weight mean ± std: final | {a['w_mean_final']:.3f} ± {a['w_std_final']:.3f} |",
             f"| weights observed in [min, max] (bounds [{a['w_min_bound']:g}, "
             f"{a['w_max_bound']:g}]) | [{a['w_min_observed']:.3f}, {a['w_max_observed']:.3f}] |",
             f"| final fraction at 0 / at w_max | {100 * a['w_fraction_at_zero_final']:.1f}% / "
             f"{100 * a['w_fraction_at_max_final']:.1f}% |",
             f"| final mean θ_BCM / ν_h (Hz) | {a['theta_final_hz']:.2f} / "
             f"{a['nu_h_final_hz']:.2f} |"]
    lines += ["", "Weight mean and std over time:", "",
              "| t (s) | mean | std | at 0 | at w_max |", "|---|---|---|---|---|"]
    t = d["weight_t_s"]
    for k in np.unique(np.linspace(0, len(t) - 1, 7).round().astype(int)):
        lines.append(f"| {t[k]:g} | {d['w_mean'][k]:.3f} | {d['w_std'][k]:.3f} | "
                     f"{100 * d['w_fraction_at_zero'][k]:.1f}% | "
                     f"{100 * d['w_fraction_at_max'][k]:.1f}% |")
    return made, lines

