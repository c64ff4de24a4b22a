"""STP sub-experiment: facilitating vs depressing synapses driven at several rates.

Every (preset, rate) pair is one synapse from its own regular spike train to
its own accumulator, all side by side in one network and one run.  The
efficacy ``u*x`` of every presynaptic spike is read from what the target
received, and compared with the analytic Tsodyks-Markram steady state
(:func:`models.plasticity.stp_steady_state`) and the paired-pulse ratio
(second spike over first).
"""
from __future__ import annotations

import numpy as np

from analysis import plots
from protocols.config import ConfigError, Field

PRESETS = ("facilitating", "depressing")

SECTION = {
    "rates_hz": Field("float_list", [2, 5, 10, 20, 40], low=0.1, high=500,
                      doc="presynaptic rates (regular trains), Hz"),
    "duration": Field("quantity", "3 s", unit="time", low=0, low_open=True,
                      doc="length of each train"),
    "n_spikes_shown": Field("int", 20, low=2, doc="spikes per train drawn in the efficacy figure"),
}


#: the first spike of every train (a step after t = 0, so it is transmitted and recorded)
FIRST_SPIKE_S = 1e-3


def point_name(preset: str, rate: float) -> str:
    return f"{preset}_{rate:g}hz"


def validate(cfg, source, dt) -> None:
    """Refuse what the run cannot measure: ``ConfigError`` naming the key.

    Every train needs two spikes (the paired-pulse ratio, and an efficacy
    after the first), each on its own time step; rates name the points, so
    they must differ as printed.
    """
    from brian2 import second

    from protocols.plasticity import checks

    rates = [float(r) for r in cfg.rates_hz]
    checks.distinct(source, "stp.rates_hz", rates, lambda r: point_name("depressing", r))
    fastest = max(rates)
    if 1.0 / fastest < 2 * float(dt):
        raise ConfigError(source, "stp.rates_hz",
                          f"got {fastest:g} Hz with protocol.dt {checks.show(dt)}; allowed at "
                          f"most 1/(2 protocol.dt) = {1 / (2 * float(dt)):g} Hz (because two "
                          "spikes of a train would share a time step)")
    slowest = min(rates)
    needed = (FIRST_SPIKE_S + 1.0 / slowest) * second + dt
    checks.window(source, "stp.duration", cfg.duration, low=(needed, "1 ms + 1/min(stp.rates_hz)"
                                                             " + protocol.dt"),
                  why=f"every train, also at {slowest:g} Hz, needs two spikes: the first at "
                      "1 ms, the second one period later")


def memory_parts(cfg, dt) -> dict:
    """Bytes of the big arrays: the received input of every pair at every step, the spikes."""
    duration_s, n_pairs = float(cfg.duration), len(PRESETS) * len(cfg.rates_hz)
    n_steps = duration_s / float(dt) + 1
    n_spikes = len(PRESETS) * sum(float(r) for r in cfg.rates_hz) * duration_s
    return {"recorded input (pairs x steps)": 4 * 8 * n_pairs * n_steps,
            "spike trains": 64 * n_spikes}


def run(config, device):
    """Simulate all (preset, rate) pairs in one network; one point per pair."""
    import brian2 as b2
    from brian2 import Hz, mV, second

    from models import plasticity, synapses

    cfg = config.stp
    duration_s = float(cfg.duration / second)
    rates = [float(r) for r in cfg.rates_hz]
    pairs = [(preset, rate) for preset in PRESETS for rate in rates]
    indices, times, starts = [], [], []
    for k, (_, rate) in enumerate(pairs):
        spike_times = np.arange(FIRST_SPIKE_S, duration_s, 1.0 / rate)
        starts.append(len(times))
        indices += [k] * len(spike_times)
        times += spike_times.tolist()
    source = b2.SpikeGeneratorGroup(len(pairs), np.array(indices), np.array(times) * second,
                                    name="stp_source")
    target = b2.NeuronGroup(len(pairs), "I_syn : volt", threshold="False", reset="",
                            name="stp_target")
    groups = []
    for preset in PRESETS:
        model = synapses.exponential(w_unit=1 * mV) + getattr(plasticity, preset)()
        ks = [k for k, (p, _) in enumerate(pairs) if p == preset]
        groups.append((preset, model, synapses.build(source, target, model, i=ks, j=ks, w=1.0,
                                                     name=f"stp_{preset}")))
    # what each target has received, sampled just after each step's synapses
    received = b2.StateMonitor(target, "I_syn", record=True, when="after_synapses",
                               name="stp_received")
    spikes = b2.SpikeMonitor(source, name="stp_spikes")
    net = b2.Network(source, target, received, spikes, *[g for _, _, g in groups])
    device.run(net, cfg.duration)

    total = np.asarray(received.I_syn / mV)
    t_mon = np.asarray(received.t / second)
    spike_i, spike_t = np.asarray(spikes.i), np.asarray(spikes.t / second)
    points = []
    for k, (preset, rate) in enumerate(pairs):
        model = next(m for p, m, _ in groups if p == preset)
        ns = model.namespace
        t_k = spike_t[spike_i == k]
        steps = np.searchsorted(t_mon, t_k - 1e-9)
        after = total[k, steps]
        efficacy = np.diff(np.concatenate(([0.0], after)))
        theory = plasticity.stp_steady_state(ns["U_stp"], ns.get("tau_stp_f", 0 * second),
                                             ns["tau_stp_d"], rate * Hz)
        points.append((point_name(preset, rate), {
            "preset": preset, "rate_hz": rate, "U": ns["U_stp"],
            "tau_f_s": float(ns.get("tau_stp_f", 0 * second) / second),
            "tau_d_s": float(ns["tau_stp_d"] / second),
            "efficacy_first": float(efficacy[0]),
            "paired_pulse_ratio": float(efficacy[1] / efficacy[0]) if len(efficacy) > 1 else np.nan,
            "efficacy_steady": float(efficacy[-1]),
            "efficacy_theory": theory["efficacy"], "u_theory": theory["u"],
            "x_theory": theory["x"],
            "relative_error": float(abs(efficacy[-1] / theory["efficacy"] - 1)),
        }, {"spike_times_s": t_k, "efficacy": efficacy}))
    return points


def report(result, figures):
    """Efficacy per spike with the analytic steady state; steady state vs rate; PPR."""
    from protocols.plasticity.checks import fmt
    from protocols.plasticity import config_value

    import matplotlib.pyplot as plt
    from brian2 import Hz, second

    from models import plasticity

    points = list(result.points.values())
    n_shown = int(config_value(result, "stp", "n_spikes_shown", 20))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    all_rates = sorted({p.attrs["rate_hz"] for p in points})   # one colour each, however many
    colours = dict(zip(all_rates, plt.get_cmap("viridis")(np.linspace(0, 0.9, len(all_rates)))))
    for preset, ax in zip(("facilitating", "depressing"), axes[:2]):
        for p in sorted((p for p in points if p.attrs["preset"] == preset),
                        key=lambda p: p.attrs["rate_hz"]):
            e = p.data["efficacy"][:n_shown]
            c = colours[p.attrs["rate_hz"]]
            ax.plot(np.arange(1, len(e) + 1), e, "o-", ms=3, color=c,
                    label=f"{p.attrs['rate_hz']:g} Hz")
            ax.axhline(p.attrs["efficacy_theory"], color=c, ls="--", lw=0.8)
        ax.set(xlabel="spike number", ylabel="efficacy u·x per spike",
               title=f"{preset} (dashed: analytic steady state)")
        ax.legend(fontsize=8)
    ax = axes[2]
    for preset, marker in (("facilitating", "o"), ("depressing", "s")):
        sel = sorted((p for p in points if p.attrs["preset"] == preset),
                     key=lambda p: p.attrs["rate_hz"])
        rates = np.array([p.attrs["rate_hz"] for p in sel])
        a = sel[0].attrs
        fine = np.geomspace(rates.min(), rates.max(), 100)
        curve = [plasticity.stp_steady_state(a["U"], a["tau_f_s"] * second, a["tau_d_s"] * second,
                                             r * Hz)["efficacy"] for r in fine]
        line, = ax.plot(fine, curve, lw=1)
        ax.plot(rates, [p.attrs["efficacy_steady"] for p in sel], marker, color=line.get_color(),
                label=f"{preset}: simulated (line: theory)")
    ax.set(xscale="log", xlabel="presynaptic rate (Hz)", ylabel="steady-state efficacy",
           title="Steady state vs rate")
    ax.minorticks_off()
    ax.set_xticks(rates)
    ax.set_xticklabels([f"{r:g}" for r in rates])
    ax.legend(fontsize=8)
    fig.tight_layout()
    made = [plots._save(fig, figures / "stp_efficacy.png")]

    lines = ["Tsodyks-Markram synapses driven by regular trains; efficacy u·x per spike as "
             "received by the target.", "",
             "| preset | rate (Hz) | first | paired-pulse ratio | steady (sim) | steady (theory) "
             "| error |", "|---|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (p.attrs["preset"], p.attrs["rate_hz"])):
        a = p.attrs
        lines.append(f"| {a['preset']} | {a['rate_hz']:g} | {a['efficacy_first']:.4f} | "
                     f"{fmt(a['paired_pulse_ratio'], '.3f')} | {a['efficacy_steady']:.4f} | "
                     f"{a['efficacy_theory']:.4f} | {100 * a['relative_error']:.2f}% |")
    return made, lines

