"""Pattern learning and recognition: the tutorial's complete example.

Three ``size`` x ``size`` binary patterns, drawn as the tutorial draws them
for ``size`` = 5 (``vertical``: the middle column; ``horizontal``: the bottom
row, its ``np.repeat([[0]*5, [0]*5, [1]*5], [2, 2, 1], axis=0)``; ``diagonal``:
``np.eye(5)``), are shown one after the other for ``epochs`` epochs.  Each
pixel is a Poisson input at ``rate_on`` when the pattern shown covers it,
else at ``rate_off``; ``n_units`` postsynaptic units (linear Poisson neurons,
rate ``r0 + gain * I_syn``, as in the ``hebbian`` sub-experiment) receive
every pixel through synapses with Hebbian learning and weight decay
(:func:`models.plasticity.hebbian`, :func:`models.plasticity.weight_decay`).
Learning is on while a training pattern is shown (``lr_mod`` = 1), off in
the pauses (``gap``) and in the tests; decay is gated with learning, as the
tutorial applies it together with each update, so the tests see frozen
weights.

Recognition test, before training and after it: every learned pattern and a
*novel* one (the anti-diagonal, which shares one pixel with the vertical and
the diagonal pattern and one with the horizontal one) is shown
``test_repeats`` times for ``test_show`` each, in turn, without learning.
The response to a pattern is the units' mean rate while it is shown.  With
weights frozen, linear Poisson units have the expected response

.. math:: r = r_0 + g\\, w_{unit}\\, \\tau_{syn} \\sum_i w_i \\nu_i

(:math:`\\nu_i` the pixel rates of the pattern, :math:`w_{unit}` = 10 mV,
:math:`\\tau_{syn}` = 5 ms), which the measured responses are compared with.

Measures: the mean weight at the end of every epoch (printed, as the
tutorial prints it) and the mean weight from each pattern's pixels; the
responses before and after, measured and expected; the recognition margin
(the smallest learned response minus the novel one, after training, and the
same before); the final weights as an image per unit.
"""
from __future__ import annotations

import math

import numpy as np

from analysis import plots
from protocols.config import Field
from protocols.plasticity import selective

#: the tutorial's three patterns, and the novel one of the recognition test
LEARNED = ("vertical", "horizontal", "diagonal")
NOVEL = "anti_diagonal"

SECTION = {
    "size": Field("int", 5, low=3, high=32, doc="side of the square pixel grid (the tutorial's 5)"),
    "n_units": Field("int", 10, low=1, doc="postsynaptic units, each receiving every pixel"),
    "rate_on": Field("quantity", "40 Hz", unit="frequency", low=0,
                     doc="rate of a pixel the shown pattern covers"),
    "rate_off": Field("quantity", "0 Hz", unit="frequency", low=0,
                      doc="rate of the other pixels (and of every pixel in the pauses): 0 of "
                          "the binary image is silence"),
    "epochs": Field("int", 10, low=1, doc="training epochs: every pattern shown once each"),
    "show": Field("quantity", "500 ms", unit="time", low=0, low_open=True,
                  doc="how long a pattern is shown in training (whole ms)"),
    "gap": Field("quantity", "100 ms", unit="time", low=0,
                 doc="pause after every presentation, training and tests (whole ms)"),
    "test_show": Field("quantity", "1 s", unit="time", low=0, low_open=True,
                       doc="how long a pattern is shown in a recognition test (whole ms)"),
    "test_repeats": Field("int", 3, low=1, doc="presentations of each pattern per test"),
    "r0": Field("quantity", "2 Hz", unit="frequency", low=0, doc="spontaneous rate of a unit"),
    "gain": Field("float", 4.0, low=0, low_open=True, doc="rate per mV of synaptic input (Hz/mV)"),
    "w_init": Field("float", 0.5, low=0, doc="mean initial weight"),
    "w_init_spread": Field("float", 0.3, low=0, high=1, doc="relative spread of initial weights"),
    "eta": Field("float", 0.01, low=0, doc="Hebbian learning rate (the tutorial's 0.01)"),
    "ltd_ratio": Field("float", 0.5, low=0,
                       doc="depression per presynaptic spike / eta (the tutorial's 0.5)"),
    "w_max": Field("float", 1.0, low=0, low_open=True, doc="upper weight bound"),
    "decay_rate": Field("quantity", "0.05 Hz", unit="frequency", low=0,
                        doc="relaxation of the weights toward 0 while learning (the "
                            "tutorial's 0.001 per update would be 0.2 Hz; see the docs)"),
    **selective.SECTION,
}

#: phases of the run, in order
PHASES = ("before", "training", "after")
#: the key that sets the run's length (the duration is the schedule's sum, see duration())
DURATION_KEY = "epochs"


def images(size: int) -> dict:
    """The patterns as ``size`` x ``size`` arrays of 0 and 1, learned ones first.

    >>> [int(p.sum()) for p in images(5).values()]
    [5, 5, 5, 5]
    >>> images(5)["horizontal"][4].tolist(), images(5)["vertical"][:, 2].tolist()
    ([1, 1, 1, 1, 1], [1, 1, 1, 1, 1])
    """
    vertical = np.zeros((size, size), dtype=int)
    vertical[:, size // 2] = 1
    horizontal = np.zeros((size, size), dtype=int)
    horizontal[-1, :] = 1
    return {"vertical": vertical, "horizontal": horizontal,
            "diagonal": np.eye(size, dtype=int), NOVEL: np.rot90(np.eye(size, dtype=int))}


def _ms(value) -> int:
    return int(round(float(value) * 1000))


def schedule(cfg) -> dict:
    """The run, one value per millisecond: the image shown (index into :func:`images`,
    ``-1`` in pauses), the phase, the learning modulator, and the presentations.

    ``presentations`` lists ``(phase, image, start_ms, stop_ms)``; tests show
    every pattern (learned and novel) ``test_repeats`` times, in turn.
    """
    show, gap, test = _ms(cfg.show), _ms(cfg.gap), _ms(cfg.test_show)
    names = list(images(cfg.size))
    shown, phase, lr, presentations = [], [], [], []
    t = 0

    def present(phase_name, image, length, learn):
        nonlocal t
        presentations.append((phase_name, image, t, t + length))
        shown.extend([image] * length + [-1] * gap)
        phase.extend([PHASES.index(phase_name)] * (length + gap))
        lr.extend([float(learn)] * length + [0.0] * gap)
        t += length + gap

    for _ in range(cfg.test_repeats):
        for k in range(len(names)):
            present("before", k, test, False)
    for _ in range(cfg.epochs):
        for k in range(len(LEARNED)):
            present("training", k, show, True)
    for _ in range(cfg.test_repeats):
        for k in range(len(names)):
            present("after", k, test, False)
    return {"shown": np.array(shown + [-1]), "phase": np.array(phase + [PHASES.index("after")]),
            "lr": np.array(lr + [0.0]), "presentations": presentations, "n_ms": t}


def duration(cfg):
    """The run's length (a Brian2 time): two tests and the training, pauses included."""
    from brian2 import ms

    return schedule_length_ms(cfg) * ms


def schedule_length_ms(cfg) -> int:
    names = len(images(cfg.size))
    test = cfg.test_repeats * names * (_ms(cfg.test_show) + _ms(cfg.gap))
    return 2 * test + cfg.epochs * len(LEARNED) * (_ms(cfg.show) + _ms(cfg.gap))


def epoch_ends_ms(cfg) -> np.ndarray:
    """Times (ms) at which the training epochs end, the start of training first."""
    start = cfg.test_repeats * len(images(cfg.size)) * (_ms(cfg.test_show) + _ms(cfg.gap))
    epoch = len(LEARNED) * (_ms(cfg.show) + _ms(cfg.gap))
    return start + epoch * np.arange(cfg.epochs + 1)


def sample_ms(cfg) -> int:
    """The weights' sampling interval: every presentation starts and ends on it."""
    return math.gcd(_ms(cfg.show), _ms(cfg.gap), _ms(cfg.test_show))


def validate(cfg, source, dt) -> None:
    """Schedule times in whole milliseconds; selective plasticity within its population."""
    from protocols.plasticity import checks

    for key in ("show", "test_show"):
        checks.whole_ms(source, f"patterns.{key}", cfg[key], at_least_one=True)
    checks.whole_ms(source, "patterns.gap", cfg.gap, at_least_one=False)
    checks.steps(source, f"patterns.{DURATION_KEY}", duration(cfg), checks.MS_CLOCK_S,
                 "the millisecond schedule and weight clip")
    selective.validate(cfg, source, "patterns", n_inputs=cfg.size ** 2, n_units=cfg.n_units,
                       duration=duration(cfg))


def memory_parts(cfg, dt) -> dict:
    """Bytes of the big arrays (see :func:`protocols.plasticity.estimate_memory`)."""
    n_ms = schedule_length_ms(cfg)
    n_syn = cfg.size ** 2 * cfg.n_units
    n_in = cfg.size ** 2
    rate = max(float(cfg.rate_on), float(cfg.rate_off))
    return {"synapses": 200 * n_syn,
            "weight samples": 3 * 8 * n_syn * (n_ms / sample_ms(cfg) + 1),
            "spikes": 32 * n_ms / 1000 * (n_in * rate + cfg.n_units * 200),
            "schedules": 48 * (n_ms + 1)}


def pixel_inputs(image_table: np.ndarray, shown: np.ndarray, rate_off, rate_on, name: str):
    """Poisson inputs, one per pixel: ``rate_off + (rate_on - rate_off) * intensity`` of the
    image shown in each millisecond (``shown``: a row of ``image_table``, -1 for none).

    The images are a table of intensities in [0, 1], one row per image (the
    last row all 0 for the pauses), read by a ``TimedArray`` indexed by the
    image number: memory grows with the number of images, not with the run.
    """
    import brian2 as b2
    from brian2 import ms

    table = np.vstack([np.asarray(image_table, dtype=float).reshape(len(image_table), -1),
                       np.zeros((1, np.asarray(image_table[0]).size))])
    blank = len(table) - 1
    index = np.where(np.asarray(shown) < 0, blank, shown).astype(float)
    return b2.PoissonGroup(
        table.shape[1], rates="rate_off + (rate_on - rate_off) * intensity(image(t) * ms, i)",
        namespace={"image": b2.TimedArray(index, dt=1 * ms),
                   "intensity": b2.TimedArray(table, dt=1 * ms),
                   "rate_off": rate_off, "rate_on": rate_on}, name=name)


def learning_model(cfg):
    """Hebbian learning + weight decay gated with it (module docstring)."""
    from models import plasticity, synapses

    return (synapses.exponential()
            + plasticity.hebbian(eta=cfg.eta, ltd_ratio=cfg.ltd_ratio, w_min=0.0, w_max=cfg.w_max)
            + plasticity.weight_decay(decay_rate=cfg.decay_rate, gated=True))


def set_modulator(syn, lr: np.ndarray, cfg, groups: dict, name: str, total):
    """``lr_mod`` of ``syn`` follows ``lr`` (one value per ms); with selective plasticity a
    gate multiplies it by the activity condition.  Returns the objects to add."""
    import brian2 as b2
    from brian2 import ms

    if cfg.selective_k > 0:
        return [selective.gate([syn], selective.watched(cfg, groups["inputs"], groups["units"]),
                               k=cfg.selective_k, window=cfg.selective_window, duration=total,
                               schedule=lr, name=f"{name}_gate")]
    syn.namespace["lr_schedule"] = b2.TimedArray(lr, dt=1 * ms)
    syn.run_regularly("lr_mod = lr_schedule(t)", dt=1 * ms, when="start", name=f"{name}_lr")
    return []


#: the units' synaptic time constant (s) and weight unit (mV), as hebbian.poisson_units has them
TAU_SYN_S, W_UNIT_MV = 5e-3, 10.0


def expected_rate_hz(cfg, w: np.ndarray, pixel_rates_hz: np.ndarray, dt_s: float) -> np.ndarray:
    """Rate of each linear Poisson unit with weights ``w`` (unit x pixel) under Poisson
    input at ``pixel_rates_hz``: ``r0 + gain * w_unit * tau * sum_i w_i nu_i``.

    ``tau`` is the mean of the synaptic input a spike leaves as the threshold
    sees it: the threshold is tested before the step's spikes arrive, so a
    spike counts from the next step on, ``tau = dt e^(-dt/tau_syn) / (1 - e^(-dt/tau_syn))``
    (4.95 ms at dt = 0.1 ms, 5 ms as dt goes to 0).

    >>> from types import SimpleNamespace
    >>> cfg = SimpleNamespace(r0=2.0, gain=10.0)
    >>> round(float(expected_rate_hz(cfg, [[1.0, 0.0]], [40.0, 2.0], 1e-7)[0]), 3)
    22.0
    """
    decay = np.exp(-dt_s / TAU_SYN_S)
    tau_s = dt_s * decay / (1 - decay)
    drive_mv = W_UNIT_MV * tau_s * (np.asarray(w, dtype=float) @ np.asarray(pixel_rates_hz))
    return float(cfg.r0) + cfg.gain * drive_mv


def run(config, device):
    """One network, one run: test, train, test; one point with every measure."""
    import brian2 as b2
    from brian2 import ms, second

    from models import rng, synapses
    from protocols.plasticity.hebbian import poisson_units

    cfg = config.patterns
    shapes = images(cfg.size)
    names = list(shapes)
    table = np.stack([shapes[n].ravel() for n in names]).astype(float)
    plan = schedule(cfg)
    total = plan["n_ms"] * ms
    n_in, n_units = cfg.size ** 2, cfg.n_units
    inputs = pixel_inputs(table, plan["shown"], cfg.rate_off, cfg.rate_on, "pattern_pixels")
    units = poisson_units(cfg, n_units, "pattern_units")
    draws = rng.stream(config.seed.session, block=0, purpose="structure")
    pre, post = np.tile(np.arange(n_in), n_units), np.repeat(np.arange(n_units), n_in)
    w0 = np.clip(cfg.w_init * (1 + cfg.w_init_spread * draws.standard_normal(len(pre))),
                 0, cfg.w_max)
    syn = synapses.build(inputs, units, learning_model(cfg), i=pre, j=post, w=w0,
                         name="pattern_synapses")
    extra = set_modulator(syn, plan["lr"], cfg, {"inputs": inputs, "units": units},
                          "pattern", total)
    step = sample_ms(cfg)
    weights = b2.StateMonitor(syn, "w", record=True, dt=step * ms, name="pattern_weights")
    spikes = b2.SpikeMonitor(units, name="pattern_unit_spikes")
    net = b2.Network(inputs, units, syn, weights, spikes, *extra)
    device.run(net, total)

    # ---- weights: samples every `step` ms, plus the final weights
    w_t_ms = np.round(np.asarray(weights.t / ms)).astype(int)
    w_hist = np.asarray(weights.w)                              # synapse x sample
    w_final = np.asarray(syn.w[:])
    at = {int(t): k for k, t in enumerate(w_t_ms)}

    def weights_at(t_ms):
        return w_final if t_ms >= plan["n_ms"] else w_hist[:, at[int(t_ms)]]

    ends = epoch_ends_ms(cfg)
    w_epochs = np.stack([weights_at(t).reshape(n_units, n_in) for t in ends])  # epoch, unit, px
    masks = {n: table[k] > 0 for k, n in enumerate(names)}
    epoch_mean = w_epochs.mean(axis=(1, 2))
    epoch_pattern = {n: w_epochs[:, :, masks[n]].mean(axis=(1, 2)) for n in names}
    for e in range(1, cfg.epochs + 1):   # as the tutorial prints it
        print(f"patterns: epoch {e}/{cfg.epochs}: mean weight {epoch_mean[e]:.3f}", flush=True)

    # ---- recognition: mean unit rate per presentation, before and after
    spike_t_ms = np.asarray(spikes.t / ms)
    attrs = {"n_units": n_units, "size": cfg.size, "epochs": cfg.epochs,
             "w_mean_initial": float(w0.mean()), "w_mean_final": float(w_final.mean()),
             "w_std_final": float(w_final.std()), "w_max_bound": float(cfg.w_max),
             "w_min_observed": float(min(w_hist.min(), w_final.min())),
             "w_max_observed": float(max(w_hist.max(), w_final.max())),
             "training_time_fraction": float(np.mean(plan["lr"][:plan["n_ms"]] > 0))}
    data = {"epoch_mean_weight": epoch_mean, "epoch_end_s": ends / 1000.0,
            "images": table.reshape(len(names), cfg.size, cfg.size),
            "w_final": w_final.reshape(n_units, cfg.size, cfg.size),
            "w_initial": w0.reshape(n_units, cfg.size, cfg.size)}
    for n in names:
        data[f"epoch_weight_{n}"] = epoch_pattern[n]
    w_before = weights_at(epoch_ends_ms(cfg)[0]).reshape(n_units, n_in)
    for phase, w_phase in (("before", w_before), ("after", w_final.reshape(n_units, n_in))):
        for k, n in enumerate(names):
            windows = [(a, b) for p, img, a, b in plan["presentations"] if p == phase and img == k]
            count = sum(np.count_nonzero((spike_t_ms >= a) & (spike_t_ms < b)) for a, b in windows)
            seconds = sum(b - a for a, b in windows) / 1000.0
            pixel_rates = float(cfg.rate_off) + (float(cfg.rate_on) - float(cfg.rate_off)) * table[k]
            attrs[f"response_{phase}_{n}_hz"] = float(count / n_units / seconds)
            attrs[f"expected_{phase}_{n}_hz"] = float(
                expected_rate_hz(cfg, w_phase, pixel_rates, float(config.protocol.dt)).mean())
    for phase in ("before", "after"):
        learned = [attrs[f"response_{phase}_{n}_hz"] for n in LEARNED]
        attrs[f"recognition_margin_{phase}_hz"] = float(
            min(learned) - attrs[f"response_{phase}_{NOVEL}_hz"])
    attrs["recognized"] = bool(attrs["recognition_margin_after_hz"] > 0)
    errors = [abs(attrs[f"response_after_{n}_hz"] / attrs[f"expected_after_{n}_hz"] - 1)
              for n in names]
    attrs["response_relative_error_max"] = float(max(errors))
    attrs["selective_k"] = int(cfg.selective_k)
    if extra:
        gate = extra[0]
        attrs["learning_time_fraction"] = float(np.mean(gate.history > 0))
        attrs["selective_window_ms"] = gate.window_ms
        attrs["selective_population"] = cfg.selective_population
        data["lr_gate"] = gate.history
    return [("patterns", attrs, data)]


def report(result, figures):
    """The patterns, the mean weight per epoch, the responses, the learned weights."""
    import matplotlib.pyplot as plt

    a, d = result.point.attrs, result.point.data
    names = list(LEARNED) + [NOVEL]
    fig = plt.figure(figsize=(15, 8))
    grid = fig.add_gridspec(2, 8, height_ratios=[1, 1.25])
    for k, n in enumerate(names):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(d["images"][k], cmap="Greys", vmin=0, vmax=1)
        ax.set(title=f"{n}\n({'learned' if n in LEARNED else 'novel'})", xticks=[], yticks=[])
    mean_rf = d["w_final"].mean(axis=0)
    ax = fig.add_subplot(grid[0, 4:6])
    image = ax.imshow(mean_rf, cmap="viridis", vmin=0, vmax=a["w_max_bound"])
    ax.set(title="final weights, mean over units", xticks=[], yticks=[])
    fig.colorbar(image, ax=ax, label="weight")
    ax = fig.add_subplot(grid[0, 6:8])
    ax.imshow(d["w_initial"].mean(axis=0), cmap="viridis", vmin=0, vmax=a["w_max_bound"])
    ax.set(title="initial weights, mean over units\n(same colour scale)", xticks=[], yticks=[])

    ax = fig.add_subplot(grid[1, 0:4])
    epochs = np.arange(len(d["epoch_mean_weight"]))
    ax.plot(epochs, d["epoch_mean_weight"], "k-o", ms=4, label="all synapses")
    for n, colour in zip(names, ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        ax.plot(epochs, d[f"epoch_weight_{n}"], "-o", ms=3, color=colour,
                label=f"from {n} pixels" + ("" if n in LEARNED else " (novel)"))
    ax.set(xlabel="epoch (0: before training)", ylabel="mean weight",
           title="Mean weight after each epoch", xticks=epochs)
    ax.legend(fontsize=8)

    ax = fig.add_subplot(grid[1, 4:8])
    x = np.arange(len(names))
    for offset, phase, colour in ((-0.2, "before", "0.6"), (0.2, "after", "tab:purple")):
        measured = [a[f"response_{phase}_{n}_hz"] for n in names]
        expected = [a[f"expected_{phase}_{n}_hz"] for n in names]
        ax.bar(x + offset, measured, width=0.38, color=colour, label=f"{phase} training")
        ax.plot(x + offset, expected, "k_", ms=18, mew=2)
    ax.plot([], [], "k_", ms=12, mew=2, label="expected from the weights")
    ax.set_xticks(x)
    ax.set_xticklabels([n if n in LEARNED else f"{n}\n(novel)" for n in names])
    ax.set(ylabel="mean unit rate while shown (Hz)",
           title="Recognition test: response to each pattern")
    ax.legend(fontsize=8)
    fig.tight_layout()
    made = [plots._save(fig, figures / "patterns_recognition.png")]

    verdict = "recognized" if a["recognized"] else "NOT recognized"
    lines = [f"{a['n_units']} units learn three {a['size']}x{a['size']} patterns (vertical, "
             f"horizontal, diagonal) over {a['epochs']} epochs with Hebbian learning and "
             f"weight decay; then a recognition test: learned patterns {verdict} (each learned "
             "pattern's response above the novel one's).", "",
             "| epoch | mean weight |", "|---|---|"]
    lines += [f"| {e} | {w:.3f} |" for e, w in enumerate(d["epoch_mean_weight"])]
    lines += ["", "| pattern | response before (Hz) | expected | response after (Hz) | "
                  "expected |", "|---|---|---|---|---|"]
    for n in names:
        lines.append(f"| {n}{'' if n in LEARNED else ' (novel)'} | "
                     f"{a[f'response_before_{n}_hz']:.1f} | {a[f'expected_before_{n}_hz']:.1f} | "
                     f"{a[f'response_after_{n}_hz']:.1f} | {a[f'expected_after_{n}_hz']:.1f} |")
    lines += ["", f"Recognition margin (smallest learned response minus the novel one): "
              f"{a['recognition_margin_before_hz']:+.1f} Hz before training, "
              f"{a['recognition_margin_after_hz']:+.1f} Hz after.  Expected responses: "
              "r0 + gain x 10 mV x 5 ms x sum of weight x pixel rate (the weights are frozen "
              "during the tests)."]
    if "lr_gate" in d:
        lines += ["", selective.report_line(d["lr_gate"], a["selective_k"],
                                            a["selective_window_ms"], a["selective_population"])
                  + " Learning is on only while a training pattern is shown, so at most "
                  f"{100 * a['training_time_fraction']:.1f}% of the run."]
    return made, lines
