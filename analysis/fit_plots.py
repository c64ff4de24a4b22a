"""Figures of an E-I rate RNN fitted to recorded trial-structured activity.

Matplotlib, Agg back-end; every function validates the shapes of its inputs
first (``ValueError`` naming the argument and the shape given), writes one PNG
through :func:`analysis.plots._save` and returns its path.

Conventions shared by all figures:

- ``C`` conditions, ``T`` time bins, ``N`` neurons; ``is_excitatory`` is a
  boolean array of shape ``[N]``.
- Excitatory units are always drawn in ``E_COLOUR`` (tab:red), inhibitory
  units in ``I_COLOUR`` (tab:blue).
- Condition ``c`` (its index, not its label) is always drawn in
  ``condition_colour(c)``: the tab10 colours less red and blue, which stay
  reserved for E and I (8 colours, then the cycle repeats);
  ``condition_labels`` holds the ``C`` labels written in legends
  ("condition 1", ...).
- Recorded data are solid lines, the model is dashed.
- Time axes come from ``dt_ms`` (the bin width, in ms) and are labelled in ms,
  or in s when a trial lasts 2 s or longer.

The one pure helper, :func:`best_and_worst`, picks the neurons that
:func:`best_worst_psth` shows:

>>> best, worst = best_and_worst([0.2, float("nan"), 0.9, -0.1, 0.5], 2)
>>> best.tolist(), worst.tolist()
([2, 4], [3, 0])
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from analysis.plots import _save  # noqa: E402

E_COLOUR = "tab:red"    # excitatory units, in every figure
I_COLOUR = "tab:blue"   # inhibitory units, in every figure
MODEL_STYLE = "--"      # model traces; recorded traces are solid
CONDITION_COLOURS = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink",
                     "tab:olive", "tab:cyan", "tab:gray")  # tab10 less E and I colours
LOG_KEYS = ("epoch", "train_loss", "val_loss", "val_correlation", "learning_rate",
            "L_neuron", "L_trial", "L_reg")


def condition_colour(index: int):
    """Colour of condition number ``index`` (0-based) in every figure.

    >>> condition_colour(0), condition_colour(8)
    ('tab:orange', 'tab:orange')
    """
    return CONDITION_COLOURS[int(index) % len(CONDITION_COLOURS)]


# --------------------------------------------------------------------------- validation
def _array(value, name: str, ndim: int, what: str) -> np.ndarray:
    """``value`` as a float array of ``ndim`` dimensions; ``what`` names them, e.g. "[C, T, N]"."""
    array = np.asarray(value, dtype=float)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have shape {what}, got shape {array.shape}")
    return array


def _same_shape(array: np.ndarray, name: str, reference: np.ndarray, reference_name: str):
    if array.shape != reference.shape:
        raise ValueError(f"{name} must have the shape of {reference_name} {reference.shape}, "
                         f"got shape {array.shape}")


def _mask(is_excitatory, n: int, n_from: str) -> np.ndarray:
    """``is_excitatory`` as a bool array of length ``n`` (the size of ``n_from``)."""
    mask = np.asarray(is_excitatory)
    if mask.shape != (n,):
        raise ValueError(f"is_excitatory must have shape [N] = ({n},) to match {n_from}, "
                         f"got shape {mask.shape}")
    if mask.dtype != bool:
        raise TypeError(f"is_excitatory must be boolean, got dtype {mask.dtype}")
    return mask


def _labels(condition_labels, n_conditions: int, n_from: str) -> list:
    labels = list(condition_labels)
    if len(labels) != n_conditions:
        raise ValueError(f"condition_labels must hold C = {n_conditions} labels to match "
                         f"{n_from}, got {len(labels)}")
    return labels


def _time_axis(n_bins: int, dt_ms) -> tuple[np.ndarray, str]:
    """Bin centres and the axis label: ms, or s when the trial lasts 2 s or more."""
    dt_ms = float(dt_ms)
    if not np.isfinite(dt_ms) or dt_ms <= 0:
        raise ValueError(f"dt_ms must be a positive number of milliseconds, got {dt_ms}")
    centres_ms = (np.arange(n_bins) + 0.5) * dt_ms
    if n_bins * dt_ms >= 2000:
        return centres_ms / 1e3, "time in trial (s)"
    return centres_ms, "time in trial (ms)"


def _condition_handles(labels) -> list:
    """Legend entries: one colour per condition, then solid = recorded, dashed = model."""
    handles = [Line2D([], [], color=condition_colour(c), lw=2, label=f"condition {label}")
               for c, label in enumerate(labels)]
    handles += [Line2D([], [], color="0.2", lw=1.5, label="recorded"),
                Line2D([], [], color="0.2", lw=1.5, ls=MODEL_STYLE, label="model")]
    return handles


def _groups(mask: np.ndarray):
    """(name, boolean selector, colour) of the E and I populations that have units."""
    return [(name, sel, colour) for name, sel, colour in
            (("E", mask, E_COLOUR), ("I", ~mask, I_COLOUR)) if sel.any()]


def _no_data(ax, message: str = "no finite values"):
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _plain_log_labels(axis, span_decades: float):
    """Tick labels as plain numbers (1.05, 0.002) on a log axis spanning less than a decade.

    Matplotlib otherwise writes ``1.05 x 10^0`` there; over wider spans its
    labels at powers of ten are kept.
    """
    if span_decades < 1:
        plain = FuncFormatter(lambda value, _: f"{value:.3g}")
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)


def _ei_histograms(ax, values, e_selected, i_selected, bins, mean_format: str) -> None:
    """Filled and outlined histograms of the selected E and I values, each mean marked."""
    for name, selected, colour in (("E", e_selected, E_COLOUR), ("I", i_selected, I_COLOUR)):
        chosen = values[selected]
        if chosen.size == 0:
            continue
        ax.hist(chosen, bins=bins, color=colour, alpha=0.35)
        ax.hist(chosen, bins=bins, color=colour, histtype="step", lw=1.2)
        ax.axvline(chosen.mean(), color=colour, ls="--", lw=1.5,
                   label=f"{name}: {mean_format.format(chosen.mean())} (n = {chosen.size})")
    _headroom(ax)
    ax.legend(fontsize=8, loc="upper left", framealpha=0.85)


def _headroom(ax, factor: float = 1.3):
    """Raise the top of the y axis so that a legend at the top covers no bar."""
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, bottom + factor * (top - bottom))


def _robust_limit(w: np.ndarray, percentile: float = 99.0) -> float:
    """Symmetric colour limit: the ``percentile`` of |w| (the maximum if that is 0; else 1)."""
    magnitude = np.abs(w[np.isfinite(w)])
    if magnitude.size == 0:
        return 1.0
    limit = float(np.percentile(magnitude, percentile))
    if limit <= 0:
        limit = float(magnitude.max())
    return limit if limit > 0 else 1.0


# --------------------------------------------------------------------------- 0. placeholder
def not_computable(title: str, reason: str, path) -> Path:
    """A figure that says it cannot be drawn, and why (the data cannot give it).

    Written in place of a figure whose measure is NaN for the data at hand
    (e.g. a PCA state space with one principal component), so that a report
    keeps one figure per topic and the reader sees the reason.

    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "pca.png")
    >>> not_computable("PCA state space", "one component", target).stat().st_size > 0
    True
    """
    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    ax.set_axis_off()
    ax.set_title(f"{title}: not computable", fontsize=11)
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(str(reason), 70)) or "(no reason given)",
            transform=ax.transAxes, ha="center", va="center", color="0.3", fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------- 1. training
def _log_series(log: Mapping[str, Sequence[float]], keys: Sequence[str]) -> dict:
    """The ``keys`` of ``log`` as 1-D float arrays of one length >= 1."""
    if not isinstance(log, Mapping):
        raise TypeError(f"log must be a mapping of 1-D arrays, got {type(log).__name__}")
    missing = [key for key in keys if key not in log]
    if missing:
        raise ValueError(f"log lacks the keys {missing} (has {sorted(log)})")
    series = {key: _array(log[key], f"log[{key!r}]", 1, "[n_epochs]") for key in keys}
    n_epochs = len(series["epoch"])
    if n_epochs == 0:
        raise ValueError("log['epoch'] must hold at least one epoch, got shape (0,)")
    for key, values in series.items():
        if values.shape != (n_epochs,):
            raise ValueError(f"log[{key!r}] must have the shape of log['epoch'] ({n_epochs},), "
                             f"got shape {values.shape}")
    return series


def _curve_panel(ax, series: dict, title: str, ylabel: str, log_y: bool, curves,
                 best_epoch) -> None:
    """``curves`` (key, label, colour) of ``series`` against the epoch, each joining its finite
    points (values <= 0 left out when ``log_y``); a dashed line at ``best_epoch``."""
    epoch = series["epoch"]
    drawn = 0
    for key, label, colour in curves:
        values = series[key]
        keep = np.isfinite(values) & np.isfinite(epoch) & ((values > 0) if log_y else True)
        if not keep.any():  # say so in the legend rather than drop the curve silently
            ax.plot([], [], color=colour, lw=1.2,
                    label=f"{label}: no finite{' positive' if log_y else ''} values")
            continue
        few = keep.sum() <= 30  # markers keep sparse or single points visible
        ax.plot(epoch[keep], values[keep], color=colour, lw=1.2, label=label,
                marker="o" if few else None, ms=3)
        drawn += 1
    if log_y and drawn:
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        _plain_log_labels(ax.yaxis, np.log10(high / low))
    if not drawn:
        _no_data(ax, "no finite values" if not log_y else "no finite positive values")
    if best_epoch is not None:
        ax.axvline(best_epoch, color="k", ls="--", lw=1, label=f"best epoch ({best_epoch:g})")
    ax.set(title=title, ylabel=ylabel)
    if len(curves) > 1 or best_epoch is not None or not drawn:
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    ax.grid(alpha=0.25, which="major")


def _best_correlation_panel(ax, epoch: np.ndarray, corr: np.ndarray, best_epoch) -> None:
    """Running best of the validation correlation, a star at the best epoch, annotated.

    The star sits at ``best_epoch`` when the log has a finite correlation there,
    else at the highest correlation; when the two differ (a checkpoint chosen by
    the validation loss) the highest is marked too.
    """
    colour = "tab:green"
    keep = np.isfinite(corr) & np.isfinite(epoch)
    if best_epoch is not None:
        ax.axvline(best_epoch, color="k", ls="--", lw=1)
    ax.set(title="Best validation correlation", ylabel="validation correlation r")
    ax.grid(alpha=0.25, which="major")
    if not keep.any():
        _no_data(ax)
        return
    order = np.argsort(epoch[keep], kind="stable")
    x, r = epoch[keep][order], corr[keep][order]
    running = np.maximum.accumulate(r)
    ax.plot(x, r, color=colour, lw=0.8, alpha=0.3, label="validation r")
    ax.plot(x, running, color=colour, lw=1.8, drawstyle="steps-post", label="best so far",
            marker="o" if x.size <= 30 else None, ms=3)
    highest = int(np.argmax(r))  # the first epoch reaching the maximum
    at_best = np.flatnonzero(x == best_epoch) if best_epoch is not None else np.array([], int)
    star = int(at_best[0]) if at_best.size else highest
    ax.plot(x[star], r[star], marker="*", ms=16, color="gold", mec="k", mew=0.8, ls="",
            zorder=5, label=f"best epoch ({x[star]:g})" if at_best.size else "highest r")
    if r[highest] > r[star]:
        ax.plot(x[highest], r[highest], marker="o", ms=8, mfc="none", mec="k", mew=1.2, ls="",
                zorder=5, label=f"highest r = {r[highest]:.3f} (epoch {x[highest]:g})")
    # zoom on the last three quarters of the run: panel (b) shows the whole rise
    low, high = float(running[x.size // 4]), float(running.max())
    span = high - low if high > low else 0.05
    ax.set_ylim(low - 0.15 * span, high + 0.15 * span)
    left, right = x.min(), x.max()
    on_right = right > left and (x[star] - left) / (right - left) > 0.6
    ax.annotate(f"r = {r[star]:.3f}\nepoch {x[star]:g}", (x[star], r[star]),
                xytext=(-12 if on_right else 12, -14), textcoords="offset points",
                ha="right" if on_right else "left", va="top", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.3", fc="w", ec="0.6", alpha=0.9),
                arrowprops=dict(arrowstyle="-", color="0.4", lw=0.8))
    ax.legend(fontsize=8, loc="lower right" if not on_right else "lower center",
              framealpha=0.85)


def training_curves(log: Mapping[str, Sequence[float]], path, *,
                    best_epoch: float | None = None) -> Path:
    """Loss, validation correlation, learning rate and best correlation against the epoch.

    Four panels (2 x 2): (a) train and validation loss, (b) validation PSTH
    correlation, (c) learning rate, (d) the running best (maximum so far) of
    the validation correlation with a star at the best epoch, annotated with
    its correlation and epoch: ``best_epoch`` when given (and the log has a
    finite correlation there), else the epoch of the highest correlation.
    Panel (d) zooms on the running best from a quarter of the validated epochs
    on (its rise before then is in panel (b)).

    ``log`` maps each of ``LOG_KEYS`` to a 1-D array, all of one length >= 1;
    NaN marks epochs where a value was not computed (e.g. validation every
    k epochs): each curve joins its finite points. Values <= 0 are left out of
    the log-scale panels. ``best_epoch`` draws a dashed vertical line on every
    panel. The loss terms are drawn by :func:`loss_terms`.
    """
    series = _log_series(log, LOG_KEYS)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    _curve_panel(axes[0, 0], series, "Loss", "loss", True,
                 [("train_loss", "train", "0.25"), ("val_loss", "validation", "tab:orange")],
                 best_epoch)
    _curve_panel(axes[0, 1], series, "Validation PSTH correlation", "mean correlation r", False,
                 [("val_correlation", "validation", "tab:green")], best_epoch)
    _curve_panel(axes[1, 0], series, "Learning rate", "learning rate", True,
                 [("learning_rate", "learning rate", "tab:purple")], best_epoch)
    _best_correlation_panel(axes[1, 1], series["epoch"], series["val_correlation"], best_epoch)
    corr = series["val_correlation"]
    lowest = float(np.nanmin(corr)) if np.isfinite(corr).any() else 0.0
    axes[0, 1].set_ylim(min(0.0, lowest) - 0.02, 1.0)  # a margin keeps r = 0 points visible
    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.tick_params(labelbottom=True)
    fig.tight_layout()
    return _save(fig, path)


def loss_terms(log: Mapping[str, Sequence[float]], path, *,
               best_epoch: float | None = None) -> Path:
    """The terms of the training loss (L_neuron, L_trial, L_reg) against the epoch, log scale.

    ``log`` maps at least ``epoch``, ``L_neuron``, ``L_trial`` and ``L_reg`` to
    1-D arrays of one length >= 1; NaN and values <= 0 are left out (a term
    with none left is named in the legend). ``best_epoch`` draws a dashed
    vertical line.
    """
    series = _log_series(log, ("epoch", "L_neuron", "L_trial", "L_reg"))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    _curve_panel(ax, series, "Loss terms", "loss term", True,
                 [("L_neuron", "L_neuron", "tab:brown"), ("L_trial", "L_trial", "tab:cyan"),
                  ("L_reg", "L_reg", "tab:olive")], best_epoch)
    ax.set_xlabel("epoch")
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- 2. correlations
def _correlation_histogram_panel(ax, r: np.ndarray, mask: np.ndarray, title: str) -> None:
    """Histogram of the finite correlations ``r``, E and I overlaid on shared bins."""
    finite_r = np.isfinite(r)
    if finite_r.any():
        low = max(-1.0, np.floor(min(r[finite_r].min(), 0.95) * 20) / 20)
        bins = np.linspace(low, 1.0, 31)
        _ei_histograms(ax, r, mask & finite_r, ~mask & finite_r, bins, "mean r = {:.2f}")
        ax.set_xlim(low, 1.0)
    else:
        _no_data(ax)
    n_nan = int((~finite_r).sum())
    ax.set(xlabel="PSTH correlation r", ylabel="neurons",
           title=title + (f" ({n_nan} NaN skipped)" if n_nan else ""))


def _correlation_rate_panel(ax, r: np.ndarray, rate_hz: np.ndarray, mask: np.ndarray,
                            rate_label: str, title: str) -> None:
    """Correlation against a mean rate, one dot per neuron with both finite, E and I coloured."""
    both = np.isfinite(r) & np.isfinite(rate_hz)
    for name, sel, colour in _groups(mask):
        keep = sel & both
        ax.scatter(rate_hz[keep], r[keep], s=14, color=colour, alpha=0.7,
                   label=f"{name} ({keep.sum()})", edgecolors="none")
    if both.any():
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    else:
        _no_data(ax)
    n_skipped = int((~both).sum())
    ax.set(xlabel=rate_label, ylabel="PSTH correlation r",
           title=title + (f" ({n_skipped} NaN skipped)" if n_skipped else ""))
    ax.grid(alpha=0.25)


def _correlation_inputs(correlations, is_excitatory, rates: dict):
    """``correlations`` [N], the mask and each ``rates`` value (name -> array) as [N] arrays."""
    r = _array(correlations, "correlations", 1, "[N]")
    checked = []
    for name, value in rates.items():
        rate = _array(value, name, 1, "[N]")
        _same_shape(rate, name, r, "correlations")
        checked.append(rate)
    return r, _mask(is_excitatory, len(r), "correlations"), checked


def correlation_histogram(correlations, is_excitatory, path) -> Path:
    """Histogram of the per-neuron PSTH correlations, E and I overlaid, each mean marked.

    Both arrays have shape ``[N]``; neurons with a NaN correlation are left out
    (the title says how many).
    """
    r, mask, _ = _correlation_inputs(correlations, is_excitatory, {})
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    _correlation_histogram_panel(ax, r, mask, "Per-neuron PSTH correlation")
    fig.tight_layout()
    return _save(fig, path)


def correlation_scatter(correlations, is_excitatory, mean_rate_hz, path) -> Path:
    """Per-neuron PSTH correlation against the neuron's mean firing rate, E and I coloured.

    All three arrays have shape ``[N]``; ``mean_rate_hz`` is the rate the fit
    is judged against (the recorded one, in the report). Neurons with a NaN
    correlation or rate are left out (the title says how many).
    """
    r, mask, (rate_hz,) = _correlation_inputs(correlations, is_excitatory,
                                              {"mean_rate_hz": mean_rate_hz})
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    _correlation_rate_panel(ax, r, rate_hz, mask, "mean firing rate (Hz)",
                            "PSTH correlation vs firing rate")
    fig.tight_layout()
    return _save(fig, path)


def correlation_summary(correlations, is_excitatory, mean_rate_model_hz, mean_rate_target_hz,
                        path) -> Path:
    """Per-neuron PSTH correlations: histogram by E/I, against rate, and the rates themselves.

    All four arrays have shape ``[N]``. Neurons with a NaN correlation are left
    out of the first two panels (the title says how many), neurons with a NaN
    rate out of the panels that need it. The first two panels are also drawn
    alone by :func:`correlation_histogram` and :func:`correlation_scatter`.
    """
    r, mask, (model_hz, target_hz) = _correlation_inputs(
        correlations, is_excitatory,
        {"mean_rate_model_hz": mean_rate_model_hz, "mean_rate_target_hz": mean_rate_target_hz})

    fig, (ax_hist, ax_rate, ax_rates) = plt.subplots(1, 3, figsize=(15, 4.4))
    _correlation_histogram_panel(ax_hist, r, mask, "Per-neuron fit")
    _correlation_rate_panel(ax_rate, r, target_hz, mask, "recorded mean rate (Hz)",
                            "Fit vs firing rate")

    # (c) model against recorded mean rate, identity line
    both = np.isfinite(model_hz) & np.isfinite(target_hz)
    for name, sel, colour in _groups(mask):
        keep = sel & both
        ax_rates.scatter(target_hz[keep], model_hz[keep], s=14, color=colour, alpha=0.7,
                         label=f"{name} ({keep.sum()})", edgecolors="none")
    if both.any():
        values = np.concatenate([model_hz[both], target_hz[both]])
        low, high = min(0.0, values.min()), values.max()
        pad = 0.05 * (high - low) if high > low else 1.0
        limits = (low - (pad if low < 0 else 0), high + pad)
        ax_rates.plot(limits, limits, color="0.4", ls=":", lw=1, label="identity")
        ax_rates.set(xlim=limits, ylim=limits, aspect="equal")
        ax_rates.legend(fontsize=8, loc="best", framealpha=0.85)
    else:
        _no_data(ax_rates)
    ax_rates.set(xlabel="recorded mean rate (Hz)", ylabel="model mean rate (Hz)",
                 title="Mean rates")
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- 3. PSTHs
def best_and_worst(correlations, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``n`` neurons with the highest and the ``n`` with the lowest correlation.

    NaN correlations are ignored; ``n`` is capped by the number of finite
    values, so the two sets overlap when fewer than ``2 n`` are finite. The
    best come in decreasing order of correlation, the worst in increasing
    order; ties keep the lower index first.

    >>> best, worst = best_and_worst([0.5, 0.9, float("nan"), 0.1, 0.7], 2)
    >>> best.tolist(), worst.tolist()
    ([1, 4], [3, 0])
    >>> best_and_worst([float("nan")], 3)[0].size
    0
    """
    r = _array(correlations, "correlations", 1, "[N]")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    finite = np.flatnonzero(np.isfinite(r))
    n = min(int(n), finite.size)
    ascending = finite[np.argsort(r[finite], kind="stable")]
    descending = finite[np.argsort(-r[finite], kind="stable")]
    return descending[:n], ascending[:n]


def best_worst_psth(model_psth_hz, target_psth_hz, correlations, dt_ms, condition_labels,
                    path, *, n: int = 4) -> Path:
    """PSTHs of the ``n`` best-fitted (top row) and ``n`` worst-fitted neurons (bottom row).

    A 2 x ``n`` grid (2 x 4 by default), with fewer columns only when fewer
    than ``n`` neurons have a finite correlation; the two rows share neurons
    when fewer than ``2 n`` do.
    ``model_psth_hz`` and ``target_psth_hz`` have shape ``[C, T, N]``,
    ``correlations`` ``[N]``. Each panel shows every condition: recorded solid,
    model dashed, in the condition's colour.
    """
    model = _array(model_psth_hz, "model_psth_hz", 3, "[C, T, N]")
    target = _array(target_psth_hz, "target_psth_hz", 3, "[C, T, N]")
    _same_shape(target, "target_psth_hz", model, "model_psth_hz")
    n_conditions, n_bins, n_neurons = model.shape
    r = _array(correlations, "correlations", 1, "[N]")
    if r.shape != (n_neurons,):
        raise ValueError(f"correlations must have shape [N] = ({n_neurons},) to match "
                         f"model_psth_hz {model.shape}, got shape {r.shape}")
    labels = _labels(condition_labels, n_conditions, f"model_psth_hz {model.shape}")
    time, time_label = _time_axis(n_bins, dt_ms)
    best, worst = best_and_worst(r, n)
    n_shown = best.size
    if n_shown == 0:
        fig, ax = plt.subplots(figsize=(6, 3))
        _no_data(ax, "no neuron has a finite correlation")
        ax.set_axis_off()
        return _save(fig, path)

    fig, axes = plt.subplots(2, n_shown, figsize=(3.2 * n_shown + 0.6, 5.6), sharex=True,
                             squeeze=False)
    for row, (indices, kind) in enumerate(((best, "best"), (worst, "worst"))):
        for col, neuron in enumerate(indices):
            ax = axes[row, col]
            for c in range(n_conditions):
                colour = condition_colour(c)
                ax.plot(time, target[c, :, neuron], color=colour, lw=1.5)
                ax.plot(time, model[c, :, neuron], color=colour, lw=1.5, ls=MODEL_STYLE)
            ax.set_title(f"neuron {neuron}, r = {r[neuron]:.3f}", fontsize=10)
            ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
            if col == 0:
                ax.set_ylabel(f"{kind} fitted\nrate (Hz)")
            if row == 1:
                ax.set_xlabel(time_label)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(handles=_condition_handles(labels), loc="lower center",
               ncol=min(n_conditions + 2, 8), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    return _save(fig, path)


# --------------------------------------------------------------------------- 4. weights
def _diverging(ax, matrix, title: str, fig, extent=None):
    """``matrix`` in RdBu_r with symmetric robust limits and its own colour bar."""
    limit = _robust_limit(matrix)
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto",
                      interpolation="nearest", extent=extent)
    fig.colorbar(image, ax=ax, label="weight", fraction=0.08, pad=0.03, extend="both")
    ax.set_title(title, fontsize=10)
    return image


def weight_matrices(w_rec, w_in, w_out, is_excitatory, path) -> Path:
    """Recurrent, input and readout weights, units sorted E first then I.

    ``w_rec[post, pre]`` has shape ``[N, N]`` (E columns >= 0, I columns <= 0),
    ``w_in`` ``[N, D]`` and ``w_out`` ``[K, n_E]`` (the readout of the E units,
    in their original order). Colours are centred at 0 with symmetric limits at
    the 99th percentile of |w| of each matrix (darker values saturate).
    """
    w_rec = _array(w_rec, "w_rec", 2, "[N, N]")
    if w_rec.shape[0] != w_rec.shape[1]:
        raise ValueError(f"w_rec must be square [N, N], got shape {w_rec.shape}")
    n_units = w_rec.shape[0]
    w_in = _array(w_in, "w_in", 2, "[N, D]")
    if w_in.shape[0] != n_units:
        raise ValueError(f"w_in must have shape [N, D] with N = {n_units} (from w_rec), "
                         f"got shape {w_in.shape}")
    mask = _mask(is_excitatory, n_units, f"w_rec {w_rec.shape}")
    n_e = int(mask.sum())
    w_out = _array(w_out, "w_out", 2, "[K, n_E]")
    if w_out.shape[1] != n_e:
        raise ValueError(f"w_out must have shape [K, n_E] with n_E = {n_e} excitatory units, "
                         f"got shape {w_out.shape}")
    order = np.argsort(~mask, kind="stable")  # E first, original order within each block
    rec_sorted, in_sorted = w_rec[np.ix_(order, order)], w_in[order]

    fig = plt.figure(figsize=(12.5, 8.5))
    grid = fig.add_gridspec(2, 2, width_ratios=(4, 1.3), height_ratios=(4, 1.1),
                            wspace=0.3, hspace=0.35)
    ax_rec = fig.add_subplot(grid[0, 0])
    ax_in = fig.add_subplot(grid[0, 1], sharey=ax_rec)
    ax_out = fig.add_subplot(grid[1, 0])
    ax_note = fig.add_subplot(grid[1, 1])
    ax_note.set_axis_off()

    extent_rec = (-0.5, n_units - 0.5, n_units - 0.5, -0.5)
    _diverging(ax_rec, rec_sorted, f"W_rec [post, pre] ({n_e} E, {n_units - n_e} I)", fig,
               extent_rec)
    ax_rec.set(xlabel="presynaptic (from)", ylabel="postsynaptic (to)")
    if 0 < n_e < n_units:
        for line in (ax_rec.axvline, ax_rec.axhline):
            line(n_e - 0.5, color="k", lw=1)
        ax_in.axhline(n_e - 0.5, color="k", lw=1)
    ticks, tick_labels = [], []
    for name, start, stop in (("E", 0, n_e), ("I", n_e, n_units)):
        if stop > start:
            ticks.append((start + stop - 1) / 2)
            tick_labels.append(f"{name}\n{start}–{stop - 1}")
    # block names on top of the recurrent matrix; unit indices (sorted) on its axes
    top = ax_rec.secondary_xaxis("top")
    top.set_xticks(ticks, [t.replace("\n", " ") for t in tick_labels])
    top.tick_params(length=0)

    n_inputs = w_in.shape[1]
    if n_inputs:
        _diverging(ax_in, in_sorted, "W_in [unit, input]", fig,
                   (-0.5, n_inputs - 0.5, n_units - 0.5, -0.5))
        if n_inputs <= 8:
            ax_in.set_xticks(range(n_inputs), [f"u{j + 1}" for j in range(n_inputs)])
        else:  # an embedding: a few integer ticks, not one label per column
            ax_in.xaxis.set_major_locator(MaxNLocator(5, integer=True))
    else:
        _no_data(ax_in, "no inputs")
    ax_in.set_xlabel("input" if n_inputs <= 8 else "input embedding dimension")
    ax_in.tick_params(labelleft=False)

    n_outputs = w_out.shape[0]
    if n_e and n_outputs:
        _diverging(ax_out, w_out, "W_out [output, E unit]", fig,
                   (-0.5, n_e - 0.5, n_outputs - 0.5, -0.5))
        ax_out.set_yticks(range(n_outputs), [f"z{k + 1}" for k in range(n_outputs)]
                          if n_outputs <= 8 else None)
    else:
        _no_data(ax_out, "no readout")
    ax_out.set(xlabel="presynaptic E unit (from)", ylabel="output")
    ax_note.text(0, 0.9, "Units sorted E first, then I.\n"
                 "Colour limits: 99th percentile of |w|\nper matrix, centred at 0.",
                 va="top", fontsize=9, color="0.3", transform=ax_note.transAxes)
    return _save(fig, path)


# --------------------------------------------------------------------------- 5. h0
def h0_distribution(h0, is_excitatory, path) -> Path:
    """Histograms of the learned initial state ``h0`` (shape ``[N]``) of E and I units."""
    h0 = _array(h0, "h0", 1, "[N]")
    mask = _mask(is_excitatory, len(h0), "h0")
    finite = np.isfinite(h0)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    if finite.any():
        low, high = h0[finite].min(), h0[finite].max()
        if high == low:
            low, high = low - 0.5, high + 0.5
        bins = np.linspace(low, high, 31)
        _ei_histograms(ax, h0, mask & finite, ~mask & finite, bins, "mean {:.3g}")
    else:
        _no_data(ax)
    n_nan = int((~finite).sum())
    ax.set(xlabel="initial state h0 (a.u.)", ylabel="units",
           title="Learned initial state" + (f" ({n_nan} NaN skipped)" if n_nan else ""))
    return _save(fig, path)


# --------------------------------------------------------------------------- 6. attention
def attention_patterns(mean_weights, condition_labels, path, *,
                       input_names: Sequence[str] | None = None) -> Path:
    """Mean attention weights per condition (rows) and head (columns).

    ``mean_weights`` has shape ``[C, H, n_in, n_in]``: rows are the query
    channel, columns the key channel, each row sums to 1. One shared 0..1
    colour scale; values are written in the cells when ``n_in <= 6``.
    """
    weights = _array(mean_weights, "mean_weights", 4, "[C, H, n_in, n_in]")
    n_conditions, n_heads, n_query, n_key = weights.shape
    if n_query != n_key or min(weights.shape) == 0:
        raise ValueError("mean_weights must have shape [C, H, n_in, n_in] with two equal, "
                         f"non-zero last axes, got shape {weights.shape}")
    labels = _labels(condition_labels, n_conditions, f"mean_weights {weights.shape}")
    names = [f"u{j + 1}" for j in range(n_query)] if input_names is None else list(input_names)
    if len(names) != n_query:
        raise ValueError(f"input_names must hold n_in = {n_query} names to match mean_weights "
                         f"{weights.shape}, got {len(names)}")
    cell = max(1.9, 0.42 * n_query)
    fig, axes = plt.subplots(n_conditions, n_heads, squeeze=False, layout="constrained",
                             figsize=(cell * n_heads + 1.6, cell * n_conditions + 0.6))
    for c in range(n_conditions):
        for h in range(n_heads):
            ax = axes[c, h]
            image = ax.imshow(weights[c, h], cmap="viridis", vmin=0, vmax=1,
                              interpolation="nearest")
            if n_query <= 6:
                for q in range(n_query):
                    for k in range(n_key):
                        value = weights[c, h, q, k]
                        ax.text(k, q, f"{value:.2f}", ha="center", va="center", fontsize=8,
                                color="k" if value > 0.6 else "w")
            ticks_shown = n_query <= 12
            ax.set_xticks(range(n_key), names if ticks_shown else None)
            ax.set_yticks(range(n_query), names if ticks_shown else None)
            ax.tick_params(labelsize=8, labelbottom=c == n_conditions - 1, labelleft=h == 0)
            if c == 0:
                ax.set_title(f"head {h + 1}", fontsize=10)
            if c == n_conditions - 1:
                ax.set_xlabel("key (input)")
            if h == 0:
                ax.set_ylabel(f"condition {labels[c]}\nquery (input)", fontsize=9,
                              color=condition_colour(c))
    fig.colorbar(image, ax=axes, label="mean attention weight", shrink=0.8)
    fig.suptitle("Input attention")
    return _save(fig, path)


def _index_ticks(axis, n: int) -> None:
    """Every index of an axis of ``n`` rows or columns up to 10, else a few integers."""
    if n <= 10:
        axis.set_ticks(range(n))
    else:
        axis.set_major_locator(MaxNLocator(6, integer=True))


def qkv_heatmaps(q, k, v, path) -> Path:
    """The learned attention projections Q, K and V as heatmaps side by side.

    ``q`` and ``k`` have shape ``[embed_dim, embed_dim]`` (rows: query or key
    dimensions, head-major, ``embed_dim / heads`` per head; columns: embedding
    dimensions), ``v`` ``[heads, embed_dim]`` (one value per head). Each matrix
    has its own colour bar, centred at 0 with symmetric limits at the 99th
    percentile of its |w| (darker values saturate); lines separate the heads'
    rows of Q and K when ``embed_dim`` divides by ``heads``.
    """
    q = _array(q, "q", 2, "[embed_dim, embed_dim]")
    if q.shape[0] != q.shape[1] or q.size == 0:
        raise ValueError(f"q must be square [embed_dim, embed_dim] with embed_dim >= 1, "
                         f"got shape {q.shape}")
    k = _array(k, "k", 2, "[embed_dim, embed_dim]")
    _same_shape(k, "k", q, "q")
    v = _array(v, "v", 2, "[heads, embed_dim]")
    embed_dim, n_heads = q.shape[1], v.shape[0]
    if v.shape[1] != embed_dim or n_heads == 0:
        raise ValueError(f"v must have shape [heads, embed_dim] with heads >= 1 and "
                         f"embed_dim = {embed_dim} (from q), got shape {v.shape}")
    per_head = embed_dim // n_heads if embed_dim % n_heads == 0 else 0

    fig = plt.figure(figsize=(15, 5.2), layout="constrained")  # Q, K panels near square
    # V has `heads` rows only: it gets the top of its column, a note the rest
    grid = fig.add_gridspec(2, 3, height_ratios=(1, 2.2))
    ax_q, ax_k = fig.add_subplot(grid[:, 0]), fig.add_subplot(grid[:, 1])
    ax_v, ax_note = fig.add_subplot(grid[0, 2]), fig.add_subplot(grid[1, 2])
    ax_note.set_axis_off()
    square = (-0.5, embed_dim - 0.5, embed_dim - 0.5, -0.5)
    for ax, matrix, name, row_name in ((ax_q, q, "Q", "query"), (ax_k, k, "K", "key")):
        _diverging(ax, matrix, f"{name} [{row_name} dim, embed dim] {matrix.shape}", fig, square)
        ax.set_xlabel("embedding dimension")
        _index_ticks(ax.xaxis, embed_dim)
        has_data = np.isfinite(matrix).any()
        if not has_data:
            _no_data(ax)
        if per_head and n_heads > 1:
            if has_data:  # no line through the "no finite values" note
                for boundary in range(per_head, embed_dim, per_head):
                    ax.axhline(boundary - 0.5, color="k", lw=0.8)
            centres = [(h + 0.5) * per_head - 0.5 for h in range(n_heads)]
            ax.set_yticks(centres, [f"head {h + 1}" for h in range(n_heads)]
                          if n_heads <= 12 else [str(h + 1) for h in range(n_heads)],
                          fontsize=8)
            ax.tick_params(axis="y", length=0)
            ax.set_ylabel(f"{row_name} dimension ({per_head} per head)")
        else:
            _index_ticks(ax.yaxis, embed_dim)
            ax.set_ylabel(f"{row_name} dimension")
    _diverging(ax_v, v, f"V [head, embed dim] {v.shape}", fig,
               (-0.5, embed_dim - 0.5, n_heads - 0.5, -0.5))
    ax_v.set_xlabel("embedding dimension")
    _index_ticks(ax_v.xaxis, embed_dim)
    if n_heads <= 12:
        ax_v.set_yticks(range(n_heads), [f"head {h + 1}" for h in range(n_heads)], fontsize=8)
    else:
        _index_ticks(ax_v.yaxis, n_heads)
        ax_v.set_ylabel("head")
    if not np.isfinite(v).any():
        _no_data(ax_v)
    ax_note.text(0, 1, "Rows: the projection's outputs (Q, K head-major);\n"
                 "columns: the embedding of the input tokens.\n"
                 "Colour limits: 99th percentile of |w|\nper matrix, centred at 0.",
                 va="top", fontsize=9, color="0.3", transform=ax_note.transAxes)
    fig.suptitle("Attention projections")
    return _save(fig, path)


# --------------------------------------------------------------------------- 7-8. PCA
def _pca_inputs(pca_real, pca_model, explained_variance_ratio, condition_labels):
    real = _array(pca_real, "pca_real", 3, "[C, T, k]")
    model = _array(pca_model, "pca_model", 3, "[C, T, k]")
    _same_shape(model, "pca_model", real, "pca_real")
    ratio = _array(explained_variance_ratio, "explained_variance_ratio", 1, "[k]")
    if ratio.size < real.shape[2]:
        raise ValueError(f"explained_variance_ratio must hold at least k = {real.shape[2]} "
                         f"values to match pca_real {real.shape}, got shape {ratio.shape}")
    labels = _labels(condition_labels, real.shape[0], f"pca_real {real.shape}")
    return real, model, ratio, labels


def _pc_name(index: int, ratio: np.ndarray) -> str:
    return f"PC{index + 1} ({100 * ratio[index]:.0f}% var.)"


def pca_trajectories(pca_real, pca_model, explained_variance_ratio, dt_ms, condition_labels,
                     path, *, n_components: int = 3) -> Path:
    """Projections on the leading principal components against time, one panel per component.

    ``pca_real`` and ``pca_model`` have shape ``[C, T, k]`` (the model projected
    on the recorded data's components); ``explained_variance_ratio`` has at
    least ``k`` values. Recorded solid, model dashed, one colour per condition.
    """
    real, model, ratio, labels = _pca_inputs(pca_real, pca_model, explained_variance_ratio,
                                             condition_labels)
    if int(n_components) != n_components or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components}")
    n_conditions, n_bins, k = real.shape
    n_shown = min(int(n_components), k)
    if n_shown == 0:
        raise ValueError(f"pca_real must have at least one component, got shape {real.shape}")
    time, time_label = _time_axis(n_bins, dt_ms)
    fig, axes = plt.subplots(1, n_shown, figsize=(4.3 * n_shown, 3.8), squeeze=False)
    for p, ax in enumerate(axes[0]):
        for c in range(n_conditions):
            ax.plot(time, real[c, :, p], color=condition_colour(c), lw=1.5)
            ax.plot(time, model[c, :, p], color=condition_colour(c), lw=1.5, ls=MODEL_STYLE)
        ax.set(title=_pc_name(p, ratio), xlabel=time_label,
               ylabel="projection (a.u.)" if p == 0 else None)
        ax.grid(alpha=0.25)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles=_condition_handles(labels), loc="lower center",
               ncol=min(n_conditions + 2, 8), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    return _save(fig, path)


def pca_state_space(pca_real, pca_model, explained_variance_ratio, condition_labels,
                    path) -> Path:
    """Trajectories in the PC1-PC2 plane, recorded and model side by side on equal axes.

    Shapes as in :func:`pca_trajectories`, with ``k >= 2``. A circle marks the
    start and a square the end of each condition's trajectory.
    """
    real, model, ratio, labels = _pca_inputs(pca_real, pca_model, explained_variance_ratio,
                                             condition_labels)
    if real.shape[2] < 2:
        raise ValueError(f"pca_real must have k >= 2 components, got shape {real.shape}")
    planes = real[..., :2], model[..., :2]
    stacked = np.concatenate([p.reshape(-1, 2) for p in planes])
    stacked = stacked[np.isfinite(stacked).all(axis=1)]
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.9), sharex=True, sharey=True)
    for ax, plane, title, style in zip(axes, planes, ("Recorded", "Model"), ("-", MODEL_STYLE)):
        for c in range(real.shape[0]):
            colour = condition_colour(c)
            ax.plot(plane[c, :, 0], plane[c, :, 1], color=colour, lw=1.5, ls=style)
            ax.plot(*plane[c, 0], "o", color=colour, ms=7, mec="k", mew=0.6)
            ax.plot(*plane[c, -1], "s", color=colour, ms=7, mec="k", mew=0.6)
        ax.set(title=title, xlabel=_pc_name(0, ratio))
        ax.grid(alpha=0.25)
    axes[0].set_ylabel(_pc_name(1, ratio))
    axes[1].tick_params(labelleft=True)
    if len(stacked):
        low, high = stacked.min(axis=0), stacked.max(axis=0)
        pad = 0.06 * np.where(high > low, high - low, 1.0)
        axes[0].set_xlim(low[0] - pad[0], high[0] + pad[0])
        axes[0].set_ylim(low[1] - pad[1], high[1] + pad[1])
    handles = [Line2D([], [], color=condition_colour(c), lw=2, label=f"condition {label}")
               for c, label in enumerate(labels)]
    handles += [Line2D([], [], color="0.5", marker="o", ls="", mec="k", label="start"),
                Line2D([], [], color="0.5", marker="s", ls="", mec="k", label="end")]
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=9,
               frameon=False, bbox_to_anchor=(0.5, 0.0))
    return _save(fig, path)


# --------------------------------------------------------------------------- 9. Fano
def _plain_log_ticks(axis, span_decades: float) -> None:
    """Major ticks at 1, 2, 5 x 10^k (also 1.5, 3, 7 over less than 1.5 decades) written as
    plain numbers, minor ticks unlabelled."""
    subs = (1.0, 2.0, 5.0) if span_decades >= 1.5 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def fano_comparison(fano_model, fano_real, is_excitatory, path) -> Path:
    """Model against recorded Fano factors: per neuron, and the two distributions side by side.

    (a) model against recorded Fano factor per neuron, log-log, with the
    identity and Poisson (1) lines; (b) the recorded and the model
    distributions on one log axis (the range of (a)): every neuron a dot
    (E and I coloured, spread sideways), a box from the 25th to the 75th
    percentile with the median, whiskers at the 5th and 95th; the medians are
    written under each.

    Both arrays have shape ``[N]``; neurons with a NaN or non-positive value in
    either are left out of both panels (the title says how many), so the two
    distributions hold the same neurons.
    """
    model = _array(fano_model, "fano_model", 1, "[N]")
    real = _array(fano_real, "fano_real", 1, "[N]")
    _same_shape(real, "fano_real", model, "fano_model")
    mask = _mask(is_excitatory, len(model), "fano_model")
    valid = np.isfinite(model) & np.isfinite(real) & (model > 0) & (real > 0)
    fig, (ax, ax_dist) = plt.subplots(1, 2, figsize=(11, 5.4), width_ratios=(1.15, 1))
    if valid.any():
        for name, sel, colour in _groups(mask):
            keep = sel & valid
            ax.scatter(real[keep], model[keep], s=16, color=colour, alpha=0.7,
                       edgecolors="none", label=f"{name} ({keep.sum()})")
        values = np.concatenate([model[valid], real[valid], [1.0]])
        low, high = values.min() / 1.4, values.max() * 1.4
        ax.plot((low, high), (low, high), color="0.4", ls="--", lw=1, label="identity")
        ax.axhline(1, color="0.5", ls=":", lw=1, label="Poisson (1)")
        ax.axvline(1, color="0.5", ls=":", lw=1)
        ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high), aspect="equal")
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers, no crowded minors
            _plain_log_ticks(axis, np.log10(high / low))
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
        _fano_distributions(ax_dist, (real, model), ("recorded", "model"), mask, valid,
                            (low, high))
        title = (f"Fano factor, median model {np.median(model[valid]):.2f}, "
                 f"recorded {np.median(real[valid]):.2f}")
    else:
        for axis in (ax, ax_dist):
            _no_data(axis, "no finite positive Fano factors")
        ax_dist.set(xticks=[0, 1], xticklabels=["recorded", "model"], xlim=(-0.6, 1.6))
        title = "Fano factor"
    n_skipped = int((~valid).sum())
    if n_skipped:
        title += f" ({n_skipped} neurons skipped: NaN or <= 0)"
    ax.set(xlabel="recorded Fano factor", ylabel="model Fano factor", title="Per neuron")
    ax_dist.set(ylabel="Fano factor", title="Distributions")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _fano_distributions(ax, samples, names, mask, valid, limits) -> None:
    """Each sample's ``valid`` values at x = 0, 1, ...: jittered E/I dots, a box, the median."""
    offsets = (np.arange(int(valid.sum())) * 0.618034) % 1 - 0.5  # fixed, evenly spread jitter
    colours = np.where(mask[valid], E_COLOUR, I_COLOUR)
    tick_labels = []
    for x, (values, name) in enumerate(zip(samples, names)):
        shown = values[valid]
        ax.scatter(x + 0.28 * offsets, shown, s=12, c=colours, alpha=0.55, edgecolors="none",
                   zorder=2)
        ax.bxp([{"med": np.median(shown), "q1": np.percentile(shown, 25),
                 "q3": np.percentile(shown, 75), "whislo": np.percentile(shown, 5),
                 "whishi": np.percentile(shown, 95), "fliers": []}], positions=[x],
               widths=0.5, showfliers=False, zorder=3,
               boxprops=dict(color="0.15", lw=1.2), whiskerprops=dict(color="0.15"),
               capprops=dict(color="0.15"), medianprops=dict(color="k", lw=2.2))
        tick_labels.append(f"{name}\nmedian {np.median(shown):.2f}")
    ax.axhline(1, color="0.5", ls=":", lw=1, zorder=1)
    ax.set(yscale="log", ylim=limits, xlim=(-0.6, len(samples) - 0.4))
    _plain_log_ticks(ax.yaxis, np.log10(limits[1] / limits[0]))
    ax.set_xticks(range(len(samples)), tick_labels)
    ax.grid(alpha=0.25, axis="y")
    handles = [Line2D([], [], color=colour, marker="o", ls="", alpha=0.7,
                      label=f"{name} ({int((sel & valid).sum())})")
               for name, sel, colour in _groups(mask)]
    handles += [Line2D([], [], color="0.15", lw=1.2, label="box 25-75%, whiskers 5-95%"),
                Line2D([], [], color="0.5", ls=":", lw=1, label="Poisson (1)")]
    ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.85)
