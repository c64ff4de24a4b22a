"""Training strategies: one network learning under five schedules of the modulator.

The pattern-learning setup of the ``hebbian`` sub-experiment (same inputs,
same units, same Hebbian + decay rule) is copied once per strategy, all copies
side by side in one network and fed by the *same* input spikes.  Only the
learning-rate modulator ``lr_mod`` differs, a function of time (and of the
pattern shown) set every millisecond:

``continuous``  1 throughout.
``periodic``    on for ``period_on``, off for ``period_off``, repeated.
``epochs``      learning epochs of ``epoch`` separated by ``rest`` pauses, the
                rate shrinking by ``epoch_decay`` from one epoch to the next.
``reward``      ``reward_high`` while the rewarded pattern (pattern 0) is shown,
                ``reward_low`` otherwise: learning scaled by a reward signal.
``curriculum``  phase 1 (first third): learn only while the easy patterns
                (the first half of them) are shown; then learn on all.

Measures over time, per strategy: the mean weight; the *pattern alignment*
(for each unit, the mean weight of its best pattern's block minus the mean of
the other blocks, averaged over units); the *reward preference* (mean weight
of pattern 0's block minus the others).
"""
from __future__ import annotations

import numpy as np

from analysis import plots
from protocols.plasticity.hebbian import SECTION as HEBBIAN_SECTION
from protocols.plasticity.hebbian import pattern_inputs, pattern_schedule, poisson_units
from protocols.config import Field

STRATEGIES = ("continuous", "periodic", "epochs", "reward", "curriculum")

SECTION = {
    **{key: HEBBIAN_SECTION[key] for key in (
        "n_inputs", "n_patterns", "rate_high", "rate_low", "show", "gap", "r0", "gain",
        "w_init", "w_init_spread", "eta", "ltd_ratio", "w_max", "decay_rate")},
    "n_units": Field("int", 4, low=1, doc="postsynaptic units per strategy"),
    "duration": Field("quantity", "20 s", unit="time", low=0, low_open=True, doc="run length"),
    "period_on": Field("quantity", "2 s", unit="time", low=0, low_open=True,
                       doc="periodic: learning on this long"),
    "period_off": Field("quantity", "2 s", unit="time", low=0, doc="periodic: then off this long"),
    "epoch": Field("quantity", "5 s", unit="time", low=0, low_open=True,
                   doc="epochs: length of a learning epoch"),
    "rest": Field("quantity", "2.5 s", unit="time", low=0, doc="epochs: pause between epochs"),
    "epoch_decay": Field("float", 0.7, low=0, high=1, doc="epochs: rate factor per epoch"),
    "reward_high": Field("float", 1.0, low=0, doc="reward: modulator while pattern 0 is shown"),
    "reward_low": Field("float", 0.0, low=0, doc="reward: modulator otherwise"),
}


#: the weights are sampled this often (seconds)
WEIGHT_SAMPLE_S = 0.25


def validate(cfg, source, dt) -> None:
    """Refuse what the run cannot do or compare: ``ConfigError`` naming the key.

    The schedules are set once a millisecond, so their times are whole
    milliseconds; the periodic and epoch strategies must switch at least once
    within the run (else they repeat the continuous one).
    """
    from protocols.plasticity import checks
    from protocols.plasticity.hebbian import validate_patterns

    validate_patterns(cfg, source, "strategies", dt)
    for key, at_least_one in (("period_on", True), ("period_off", False), ("epoch", True),
                              ("rest", False)):
        checks.whole_ms(source, f"strategies.{key}", cfg[key], at_least_one=at_least_one)
    for key, name in (("period_on", "periodic"), ("epoch", "epochs")):
        checks.window(source, f"strategies.{key}", cfg[key],
                      high=(cfg.duration, "strategies.duration"), high_open=True,
                      why=f"the {name} strategy must switch within the run, else it repeats "
                          "the continuous one")


def memory_parts(cfg, dt) -> dict:
    """Bytes of the big arrays (see :func:`protocols.plasticity.estimate_memory`)."""
    duration_s = float(cfg.duration)
    n_syn = len(STRATEGIES) * cfg.n_inputs * cfg.n_units
    return {"synapses": 200 * n_syn,
            "weight samples": 3 * 8 * n_syn * (duration_s / WEIGHT_SAMPLE_S + 1),
            # shown pattern, five schedules, their TimedArrays and float32 copies, per ms
            "schedules": 120 * (duration_s * 1000 + 2)}


def schedules(cfg, shown: np.ndarray) -> dict:
    """``lr_mod`` of every strategy, one value per millisecond."""
    from brian2 import ms

    t_ms = np.arange(len(shown))
    on, off = float(cfg.period_on / ms), float(cfg.period_off / ms)
    epoch, rest = float(cfg.epoch / ms), float(cfg.rest / ms)
    k = np.floor(t_ms / (epoch + rest))
    in_epoch = (t_ms - k * (epoch + rest)) < epoch
    duration_ms = float(cfg.duration / ms)
    easy = shown < max(1, cfg.n_patterns // 2)
    return {
        "continuous": np.ones(len(shown)),
        "periodic": ((t_ms % (on + off)) < on).astype(float),
        "epochs": in_epoch * cfg.epoch_decay ** k,
        "reward": np.where(shown == 0, cfg.reward_high, cfg.reward_low),
        "curriculum": np.where(t_ms < duration_ms / 3, (shown >= 0) & easy, 1.0).astype(float),
    }


def run(config, device):
    """Five copies, one network, one run; one point per strategy."""
    import brian2 as b2
    from brian2 import ms, second

    from models import plasticity, rng, synapses

    cfg = config.strategies
    n_in, n_units = cfg.n_inputs, cfg.n_units
    duration_s = float(cfg.duration / second)
    shown = pattern_schedule(cfg, duration_s)
    lr = schedules(cfg, shown)
    inputs = pattern_inputs(cfg, shown, name="strategy_inputs")
    model = synapses.exponential() + plasticity.hebbian(
        eta=cfg.eta, ltd_ratio=cfg.ltd_ratio, w_min=0.0, w_max=cfg.w_max) \
        + plasticity.weight_decay(decay_rate=cfg.decay_rate)
    draws = rng.stream(config.seed.session, block=0, purpose="structure")
    pre, post = np.tile(np.arange(n_in), n_units), np.repeat(np.arange(n_units), n_in)
    w0 = np.clip(cfg.w_init * (1 + cfg.w_init_spread * draws.standard_normal(len(pre))),
                 0, cfg.w_max)   # the same initial weights for every strategy
    objects, monitors = [inputs], {}
    for name in STRATEGIES:
        units = poisson_units(cfg, n_units, f"units_{name}")
        syn = synapses.build(inputs, units, model, i=pre, j=post, w=w0, name=f"syn_{name}")
        syn.namespace["lr_schedule"] = b2.TimedArray(lr[name], dt=1 * ms)
        syn.run_regularly("lr_mod = lr_schedule(t)", dt=1 * ms, when="start",
                          name=f"lr_{name}")
        monitors[name] = b2.StateMonitor(syn, "w", record=True, dt=WEIGHT_SAMPLE_S * second,
                                         name=f"weights_{name}")
        objects += [units, syn, monitors[name]]
    net = b2.Network(*objects)
    device.run(net, cfg.duration)

    size = n_in // cfg.n_patterns
    n_ms = max(1, int(np.ceil(duration_s * 1000 - 1e-6)))   # schedule values inside the run
    points = []
    for name in STRATEGIES:
        w = np.asarray(monitors[name].w).reshape(n_units, n_in, -1)     # unit, input, time
        blocks = np.stack([w[:, p * size:(p + 1) * size].mean(axis=1)
                           for p in range(cfg.n_patterns)], axis=1)      # unit, pattern, time
        best = blocks.max(axis=1)
        others = (blocks.sum(axis=1) - best) / max(cfg.n_patterns - 1, 1)
        alignment = (best - others).mean(axis=0)
        reward_pref = (blocks[:, 0] - (blocks.sum(axis=1) - blocks[:, 0])
                       / max(cfg.n_patterns - 1, 1)).mean(axis=0)
        t = np.asarray(monitors[name].t / second)
        points.append((name, {
            "strategy": name, "alignment_final": float(alignment[-1]),
            "reward_preference_final": float(reward_pref[-1]),
            "w_mean_final": float(w[..., -1].mean()),
            "learning_time_fraction": float((lr[name][:n_ms] > 0).mean()),
        }, {"t_s": t, "alignment": alignment, "reward_preference": reward_pref,
            "w_mean": w.mean(axis=(0, 1)), "lr_mod": lr[name][:n_ms].astype(np.float32)}))
    return points


def report(result, figures):
    """One figure: alignment, reward preference and mean weight per strategy; the schedules."""
    import matplotlib.pyplot as plt

    points = [result.points[name] for name in STRATEGIES if name in result.points]
    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5))
    colours = dict(zip(STRATEGIES, plt.get_cmap("tab10")(np.arange(len(STRATEGIES)))))
    panels = (("alignment", "pattern alignment (best block − others)"),
              ("reward_preference", "preference for pattern 0 (rewarded)"),
              ("w_mean", "mean weight"))
    for ax, (key, label) in zip(axes.flat, panels):
        for p in points:
            ax.plot(p.data["t_s"], p.data[key], color=colours[p.name], label=p.name)
        ax.set(xlabel="time (s)", ylabel=label)
        ax.legend(fontsize=8)
    ax = axes.flat[3]
    for k, p in enumerate(points):
        lr = p.data["lr_mod"]
        t = np.arange(len(lr)) / 1000.0
        ax.plot(t, 1.2 * k + lr / max(lr.max(), 1e-9), color=colours[p.name], lw=0.8)
    ax.set_yticks([1.2 * k + 0.5 for k in range(len(points))])
    ax.set_yticklabels([p.name for p in points])
    ax.set(xlabel="time (s)", title="lr_mod schedules (each scaled to its maximum)")
    fig.suptitle("Training strategies: the same network and inputs, different gating of learning")
    fig.tight_layout()
    made = [plots._save(fig, figures / "strategies.png")]
    lines = ["Five copies of one Hebbian + decay network, fed the same input spikes, differ "
             "only in the schedule of the learning-rate modulator `lr_mod`.", "",
             "| strategy | learning time | final alignment | final preference for pattern 0 "
             "| final mean weight |", "|---|---|---|---|---|"]
    for p in points:
        a = p.attrs
        lines.append(f"| {p.name} | {100 * a['learning_time_fraction']:.0f}% | "
                     f"{a['alignment_final']:.3f} | {a['reward_preference_final']:+.3f} | "
                     f"{a['w_mean_final']:.3f} |")
    return made, lines
