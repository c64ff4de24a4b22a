"""Curriculum learning: three phases of graded difficulty, against the reverse order.

The tutorial's ``curriculum_training`` on ``size`` x ``size`` images (10 x 10
there), each pixel a Poisson input at ``rate_off + (rate_on - rate_off) x
intensity``:

============  =============================================  ===================
phase         images (intensities in [0, 1])                 difficulty
============  =============================================  ===================
1 easy        the two diagonals (``np.eye``, ``np.rot90``)    clean lines, no noise
2 medium      uniform ``uniform_level`` (0.5); weak noise,     no structure, noise
              ``weak_noise`` x U(0, 1) (0.3)                  of amplitude 0.3
3 hard        full noise, ``full_noise`` x U(0, 1) (1.0)       noise of amplitude 1
============  =============================================  ===================

Each phase runs ``epochs_per_phase`` epochs (5), every image of the phase
shown once per epoch for ``show`` (the tutorial's 30 steps), then a pause
``gap``.  As in the tutorial each noise image is drawn once (from the
session's ``input`` stream) and shown in every epoch of its phase.

Two copies of one network (``n_units`` linear Poisson units, every pixel to
every unit, Hebbian learning with decay gated with it, as in ``patterns``)
start from the same weights, side by side in one run: ``curriculum`` sees the
phases in the tutorial's order, ``reversed`` the same presentations in the
reverse order of phases (hard first), the control.

Measures over time (at the end of every presentation) and at the end of each
phase, per copy: the mean and standard deviation of the weights; the
*alignment* with the easy images (per unit, the mean weight from the
diagonals' pixels minus the mean weight from the other pixels, averaged over
units; 0 for weights blind to the diagonals); the *noise imprint* (Pearson's
r between the units' mean weights and the full-noise image); the units' mean
rate during every presentation.
"""
from __future__ import annotations

import math

import numpy as np

from analysis import plots
from protocols.config import Field
from protocols.plasticity import selective

#: the copies of the network, the first in the tutorial's order
COPIES = ("curriculum", "reversed")
#: phases in the tutorial's order, with its names
PHASES = ("easy", "medium", "hard")
#: the images of each phase
IMAGES = {"easy": ("diagonal", "anti_diagonal"), "medium": ("uniform", "weak_noise"),
          "hard": ("full_noise",)}
#: every image, in the order of the phases
NAMES = tuple(image for name in PHASES for image in IMAGES[name])
#: the key that sets the run's length (the duration is the schedule's sum)
DURATION_KEY = "epochs_per_phase"

SECTION = {
    "size": Field("int", 10, low=3, high=32, doc="side of the square pixel grid (the tutorial's 10)"),
    "n_units": Field("int", 8, low=1, doc="postsynaptic units per copy, each receiving every pixel"),
    "rate_on": Field("quantity", "40 Hz", unit="frequency", low=0,
                     doc="rate of a pixel of intensity 1"),
    "rate_off": Field("quantity", "2 Hz", unit="frequency", low=0,
                      doc="rate of a pixel of intensity 0 (and of every pixel in the pauses)"),
    "epochs_per_phase": Field("int", 5, low=1, doc="epochs of each phase (the tutorial's 5)"),
    "show": Field("quantity", "300 ms", unit="time", low=0, low_open=True,
                  doc="how long an image is shown (the tutorial's 30 steps; whole ms)"),
    "gap": Field("quantity", "100 ms", unit="time", low=0,
                 doc="pause after every image (whole ms)"),
    "uniform_level": Field("float", 0.5, low=0, high=1,
                           doc="intensity of the uniform image of phase 2 (the tutorial's 0.5)"),
    "weak_noise": Field("float", 0.3, low=0, high=1,
                        doc="amplitude of phase 2's noise image, weak_noise x U(0, 1)"),
    "full_noise": Field("float", 1.0, low=0, high=1,
                        doc="amplitude of phase 3's noise image, full_noise x U(0, 1)"),
    "r0": Field("quantity", "2 Hz", unit="frequency", low=0, doc="spontaneous rate of a unit"),
    "gain": Field("float", 3.0, low=0, low_open=True, doc="rate per mV of synaptic input (Hz/mV)"),
    "w_init": Field("float", 0.3, low=0, doc="mean initial weight"),
    "w_init_spread": Field("float", 0.3, low=0, high=1, doc="relative spread of initial weights"),
    "eta": Field("float", 0.01, low=0, doc="Hebbian learning rate (the tutorial's 0.01)"),
    "ltd_ratio": Field("float", 0.5, low=0,
                       doc="depression per presynaptic spike / eta (the tutorial's 0.5)"),
    "w_max": Field("float", 1.0, low=0, low_open=True, doc="upper weight bound"),
    "decay_rate": Field("quantity", "0.05 Hz", unit="frequency", low=0,
                        doc="relaxation of the weights toward 0 while learning"),
    **selective.SECTION,
}


def _ms(value) -> int:
    return int(round(float(value) * 1000))


def images(cfg, session: int) -> dict:
    """Every image of the curriculum, ``size`` x ``size`` intensities in [0, 1].

    The noise images come from the session's ``input`` stream, drawn once.
    """
    from models import rng

    n = cfg.size
    draws = rng.stream(session, block=0, purpose="input")
    return {"diagonal": np.eye(n), "anti_diagonal": np.rot90(np.eye(n)),
            "uniform": np.full((n, n), float(cfg.uniform_level)),
            "weak_noise": cfg.weak_noise * draws.random((n, n)),
            "full_noise": cfg.full_noise * draws.random((n, n))}


def noise_amplitude(cfg) -> dict:
    """Each image's noise amplitude: the graded difficulty (0 for the clean ones)."""
    return {"diagonal": 0.0, "anti_diagonal": 0.0, "uniform": 0.0,
            "weak_noise": float(cfg.weak_noise), "full_noise": float(cfg.full_noise)}


def phase_order(copy: str) -> tuple:
    return PHASES if copy == "curriculum" else PHASES[::-1]


def schedule(cfg, copy: str) -> dict:
    """One copy's run, one value per millisecond: the image shown (index into
    :data:`NAMES`, -1 in pauses), the phase (index into :data:`PHASES`), the
    learning modulator; and the presentations ``(phase, image, start_ms, stop_ms)``."""
    show, gap = _ms(cfg.show), _ms(cfg.gap)
    shown, phase, lr, presentations = [], [], [], []
    t = 0
    for name in phase_order(copy):
        for _ in range(cfg.epochs_per_phase):
            for image in IMAGES[name]:
                presentations.append((name, image, t, t + show))
                shown += [NAMES.index(image)] * show + [-1] * gap
                phase += [PHASES.index(name)] * (show + gap)
                lr += [1.0] * show + [0.0] * gap
                t += show + gap
    return {"shown": np.array(shown + [-1]), "phase": np.array(phase + [phase[-1]]),
            "lr": np.array(lr + [0.0]), "presentations": presentations, "n_ms": t}


def schedule_length_ms(cfg) -> int:
    n_images = sum(len(v) for v in IMAGES.values())
    return cfg.epochs_per_phase * n_images * (_ms(cfg.show) + _ms(cfg.gap))


def duration(cfg):
    """The run's length (a Brian2 time): every phase's presentations and pauses."""
    from brian2 import ms

    return schedule_length_ms(cfg) * ms


def validate(cfg, source, dt) -> None:
    """Schedule times in whole milliseconds; selective plasticity within its population."""
    from protocols.plasticity import checks

    checks.whole_ms(source, "curriculum.show", cfg.show, at_least_one=True)
    checks.whole_ms(source, "curriculum.gap", cfg.gap, at_least_one=False)
    checks.steps(source, f"curriculum.{DURATION_KEY}", duration(cfg), checks.MS_CLOCK_S,
                 "the millisecond schedule and weight clip")
    selective.validate(cfg, source, "curriculum", n_inputs=cfg.size ** 2, n_units=cfg.n_units,
                       duration=duration(cfg))


def memory_parts(cfg, dt) -> dict:
    """Bytes of the big arrays (see :func:`protocols.plasticity.estimate_memory`)."""
    n_ms = schedule_length_ms(cfg)
    n_syn = len(COPIES) * cfg.size ** 2 * cfg.n_units
    step = math.gcd(_ms(cfg.show), _ms(cfg.gap))
    rate = max(float(cfg.rate_on), float(cfg.rate_off))
    return {"synapses": 200 * n_syn,
            "weight samples": 3 * 8 * n_syn * (n_ms / step + 1),
            "spikes": 32 * n_ms / 1000 * len(COPIES) * (cfg.size ** 2 * rate + cfg.n_units * 200),
            "schedules": len(COPIES) * 48 * (n_ms + 1)}


def alignment(w: np.ndarray, easy_mask: np.ndarray) -> np.ndarray:
    """Per sample: mean over units of (mean weight from the easy pixels - mean from the rest).

    ``w`` is unit x pixel x sample.

    >>> w = np.zeros((2, 4, 1)); w[:, :2] = 1.0
    >>> alignment(w, np.array([True, True, False, False])).tolist()
    [1.0]
    """
    return (w[:, easy_mask].mean(axis=1) - w[:, ~easy_mask].mean(axis=1)).mean(axis=0)


def imprint(w: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Per sample: Pearson's r between the units' mean weights and ``image`` (NaN when either
    is constant)."""
    mean = w.mean(axis=0)                                    # pixel x sample
    x = image.ravel() - image.mean()
    y = mean - mean.mean(axis=0)
    denominator = np.sqrt((x ** 2).sum() * (y ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (x @ y) / denominator, np.nan)


def run(config, device):
    """Both copies in one network and one run; one point per copy."""
    import brian2 as b2
    from brian2 import ms

    from models import rng, synapses
    from protocols.plasticity.hebbian import poisson_units
    from protocols.plasticity.patterns import learning_model, pixel_inputs, set_modulator

    cfg = config.curriculum
    shapes = images(cfg, config.seed.session)
    table = np.stack([shapes[n].ravel() for n in NAMES])
    n_in, n_units = cfg.size ** 2, cfg.n_units
    total = schedule_length_ms(cfg) * ms
    draws = rng.stream(config.seed.session, block=0, purpose="structure")
    pre, post = np.tile(np.arange(n_in), n_units), np.repeat(np.arange(n_units), n_in)
    w0 = np.clip(cfg.w_init * (1 + cfg.w_init_spread * draws.standard_normal(len(pre))),
                 0, cfg.w_max)                     # the same initial weights for both copies
    step = math.gcd(_ms(cfg.show), _ms(cfg.gap))
    objects, parts = [], {}
    for copy in COPIES:
        plan = schedule(cfg, copy)
        inputs = pixel_inputs(table, plan["shown"], cfg.rate_off, cfg.rate_on, f"{copy}_pixels")
        units = poisson_units(cfg, n_units, f"{copy}_units")
        syn = synapses.build(inputs, units, learning_model(cfg), i=pre, j=post, w=w0,
                             name=f"{copy}_synapses")
        extra = set_modulator(syn, plan["lr"], cfg, {"inputs": inputs, "units": units}, copy,
                              total)
        weights = b2.StateMonitor(syn, "w", record=True, dt=step * ms, name=f"{copy}_weights")
        spikes = b2.SpikeMonitor(units, name=f"{copy}_spikes")
        objects += [inputs, units, syn, weights, spikes, *extra]
        parts[copy] = (plan, syn, weights, spikes, extra)
    net = b2.Network(*objects)
    device.run(net, total)

    easy = (shapes["diagonal"] + shapes["anti_diagonal"]).ravel() > 0
    amplitude = noise_amplitude(cfg)
    points = []
    for copy in COPIES:
        plan, syn, weights, spikes, extra = parts[copy]
        t_ms = np.round(np.asarray(weights.t / ms)).astype(int)
        w = np.column_stack([np.asarray(weights.w), np.asarray(syn.w[:])])  # + final weights
        t_ms = np.append(t_ms, plan["n_ms"])
        w = w.reshape(n_units, n_in, -1)
        ends = np.array([stop for _, _, _, stop in plan["presentations"]])
        index = np.searchsorted(t_ms, ends)          # the sample at the end of each presentation
        index = np.concatenate(([0], index))
        w_p = w[..., index]                          # unit, pixel, presentation (+ start)
        align = alignment(w_p, easy)
        noise = imprint(w_p, shapes["full_noise"])
        spike_t = np.asarray(spikes.t / ms)
        response = np.array([np.count_nonzero((spike_t >= a) & (spike_t < b)) / n_units
                             / ((b - a) / 1000.0) for _, _, a, b in plan["presentations"]])
        attrs = {"copy": copy, "order": " > ".join(phase_order(copy)), "n_units": n_units,
                 "w_mean_initial": float(w0.mean()), "w_mean_final": float(w[..., -1].mean()),
                 "w_std_final": float(w[..., -1].std()),
                 "w_min_observed": float(w.min()), "w_max_observed": float(w.max()),
                 "w_max_bound": float(cfg.w_max), "alignment_initial": float(align[0]),
                 "alignment_final": float(align[-1]), "noise_imprint_final": float(noise[-1])}
        phase_of = np.array([PHASES.index(p) for p, _, _, _ in plan["presentations"]])
        phase_end_images = []
        for name in PHASES:
            last = np.flatnonzero(phase_of == PHASES.index(name))[-1] + 1   # +1: the start
            phase_end_images.append(w_p[..., last].mean(axis=0).reshape(cfg.size, cfg.size))
            attrs[f"alignment_after_{name}"] = float(align[last])
            attrs[f"w_mean_after_{name}"] = float(w_p[..., last].mean())
            attrs[f"w_std_after_{name}"] = float(w_p[..., last].std())
            attrs[f"noise_imprint_after_{name}"] = float(noise[last])
        for k, image in enumerate(NAMES):
            shown = [r for (_, img, _, _), r in zip(plan["presentations"], response)
                     if img == image]
            attrs[f"response_{image}_hz"] = float(np.mean(shown))
            attrs[f"noise_amplitude_{image}"] = amplitude[image]
        data = {"presentation_end_s": np.concatenate(([0.0], ends / 1000.0)),
                "presentation_phase": np.concatenate(([phase_of[0]], phase_of)),
                "presentation_image": np.array([NAMES.index(i) for _, i, _, _
                                                in plan["presentations"]]),
                "alignment": align, "noise_imprint": noise,
                "w_mean": w_p.mean(axis=(0, 1)), "w_std": w_p.std(axis=(0, 1)),
                "response_hz": response, "images": table.reshape(len(NAMES), cfg.size, cfg.size),
                "w_final_mean": w[..., -1].mean(axis=0).reshape(cfg.size, cfg.size),
                # mean weights over units at the end of each phase, in PHASES order
                "w_phase_end_mean": np.stack(phase_end_images)}
        if extra:
            attrs["learning_time_fraction"] = float(np.mean(extra[0].history > 0))
            attrs["selective_window_ms"] = extra[0].window_ms
            attrs["selective_population"] = cfg.selective_population
            data["lr_gate"] = extra[0].history
        attrs["selective_k"] = int(cfg.selective_k)
        points.append((copy, attrs, data))
    return points


def report(result, figures):
    """The images by phase; alignment, noise imprint and weights over time; final weights."""
    import matplotlib.pyplot as plt

    points = [result.points[c] for c in COPIES if c in result.points]
    first = points[0]
    table = first.data["images"]
    colours = {"curriculum": "tab:blue", "reversed": "tab:red"}
    shades = {0: "#e8f4e8", 1: "#fdf3e1", 2: "#f9e3e3"}
    fig = plt.figure(figsize=(16, 9.5))
    grid = fig.add_gridspec(3, 7, height_ratios=[1, 1.2, 1.2])
    for k, name in enumerate(NAMES):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(table[k], cmap="Greys", vmin=0, vmax=1)
        phase = next(p for p in PHASES if name in IMAGES[p])
        amp = first.attrs[f"noise_amplitude_{name}"]
        ax.set(title=f"{phase}: {name}\nnoise amplitude {amp:g}", xticks=[], yticks=[])
    ends = first.data["w_phase_end_mean"]
    top = max(float(ends.max()), 1e-9)
    for column, (k, label) in zip((5, 6), ((0, "after the easy phase"), (2, "at the end"))):
        ax = fig.add_subplot(grid[0, column])
        image = ax.imshow(ends[k], cmap="viridis", vmin=0, vmax=top)
        ax.set(title=f"curriculum weights\n{label}", xticks=[], yticks=[])
    fig.colorbar(image, ax=ax, label="mean weight", fraction=0.046)
    lower = grid[1:, :].subgridspec(2, 2, wspace=0.22, hspace=0.3)
    panels = ((lower[0, 0], "alignment", "alignment with the easy images\n(diagonal pixels − rest)"),
              (lower[0, 1], "noise_imprint", "imprint of the full-noise image\n(Pearson r)"),
              (lower[1, 0], "w_mean", "mean weight"),
              (lower[1, 1], "response_hz", "unit rate while shown (Hz)"))
    for where, key, label in panels:
        ax = fig.add_subplot(where)
        for p in points:
            t = p.data["presentation_end_s"]
            y = p.data[key]
            x = t[1:] if len(y) == len(t) - 1 else t
            ax.plot(x, y, "-", lw=1.3, color=colours[p.name],
                    label=f"{p.name} ({p.attrs['order']})")
        t, phase = first.data["presentation_end_s"], first.data["presentation_phase"]
        starts = [0] + [k for k in range(1, len(phase)) if phase[k] != phase[k - 1]]
        for a, b in zip(starts, starts[1:] + [len(phase) - 1]):
            ax.axvspan(t[max(a - 1, 0)], t[b], color=shades[int(phase[max(a, 1)])], zorder=0)
        ax.set(ylabel=label, xlabel="time (s); shading: the curriculum copy's phases "
                                    "(easy, medium, hard)" if key in ("w_mean", "response_hz")
               else "")
        ax.legend(fontsize=8)
    fig.suptitle("Curriculum: easy images, then weak noise, then full noise — against the "
                 "reverse order")
    fig.tight_layout()
    made = [plots._save(fig, figures / "curriculum.png")]

    lines = ["Two copies of one Hebbian network (same initial weights) see the same "
             "presentations: the curriculum in the tutorial's order (easy > medium > hard), the "
             "control in reverse.", "",
             "| copy | after phase | alignment with easy images | noise imprint | mean weight "
             "| weight std |", "|---|---|---|---|---|---|"]
    for p in points:
        a = p.attrs
        lines.append(f"| {p.name} | start | {a['alignment_initial']:+.3f} | | "
                     f"{a['w_mean_initial']:.3f} | |")
        for name in phase_order(p.name):
            lines.append(f"| {p.name} | {name} | {a[f'alignment_after_{name}']:+.3f} | "
                         f"{a[f'noise_imprint_after_{name}']:+.2f} | "
                         f"{a[f'w_mean_after_{name}']:.3f} | {a[f'w_std_after_{name}']:.3f} |")
    lines += ["", "| image | phase | noise amplitude | " +
              " | ".join(f"mean rate, {p.name} (Hz)" for p in points) + " |",
              "|---|---|---|" + "---|" * len(points)]
    for name in NAMES:
        phase = next(p for p in PHASES if name in IMAGES[p])
        lines.append(f"| {name} | {phase} | {first.attrs[f'noise_amplitude_{name}']:g} | "
                     + " | ".join(f"{p.attrs[f'response_{name}_hz']:.1f}" for p in points) + " |")
    for p in points:
        if "lr_gate" in p.data:
            a = p.attrs
            lines += ["", f"{p.name}: " + selective.report_line(
                p.data["lr_gate"], a["selective_k"], a["selective_window_ms"],
                a["selective_population"])]
    return made, lines
