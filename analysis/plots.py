"""Figures for result files (matplotlib, Agg back-end; every function returns the path)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def raster_comparison(control_i, control_t, trial_i, trial_t, path, *,
                      perturbation_time_s: float, perturbed_neuron: int | None = None,
                      n_show: int = 200) -> Path:
    """Raster of the control and one perturbed trial, overlaid, for the first ``n_show`` neurons.

    Spikes in both runs at the same time step look black; spikes only in the
    control (blue) or only in the trial (red) show where the runs diverged.
    """
    control_i, trial_i = np.asarray(control_i), np.asarray(trial_i)
    control_t, trial_t = np.asarray(control_t), np.asarray(trial_t)
    ctrl = set(zip(control_i.tolist(), np.round(control_t, 6).tolist()))
    tri = set(zip(trial_i.tolist(), np.round(trial_t, 6).tolist()))
    groups = {"both": ctrl & tri, "control only": ctrl - tri, "perturbed only": tri - ctrl}
    colours = {"both": "0.15", "control only": "tab:blue", "perturbed only": "tab:red"}
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for label, spikes in groups.items():
        spikes = [(i, t) for i, t in spikes if i < n_show]
        if spikes:
            i, t = np.array(spikes).T
            ax.scatter(t * 1e3, i, s=2, marker="|", color=colours[label],
                       label=f"{label} ({len(spikes)})", linewidths=0.8)
    ax.axvline(perturbation_time_s * 1e3, color="tab:orange", lw=1,
               label="perturbation" + (f" (neuron {perturbed_neuron})"
                                       if perturbed_neuron is not None else ""))
    ax.set(xlabel="time (ms)", ylabel="neuron", ylim=(-1, n_show),
           title=f"Control vs perturbed trial (first {n_show} neurons)")
    ax.legend(loc="upper left", fontsize=8, markerscale=4, framealpha=0.9)
    return _save(fig, path)


def hamming_over_time(time_s, distances, path, *, saturation: float | None = None,
                      title: str = "") -> Path:
    """Hamming distance to the control per bin, one thin line per trial plus the mean."""
    time_s, distances = np.asarray(time_s), np.atleast_2d(distances)
    fig, ax = plt.subplots(figsize=(7, 4))
    for row in distances:
        ax.plot(time_s * 1e3, row, color="tab:blue", alpha=0.3, lw=0.7)
    ax.plot(time_s * 1e3, distances.mean(axis=0), color="k", lw=1.5,
            label=f"mean of {len(distances)} trials")
    if saturation is not None and np.isfinite(saturation):
        ax.axhline(saturation, color="tab:red", ls="--", lw=1,
                   label="saturation Σ 2p(1-p)")
    ax.set(xlabel="time (ms)", ylabel="Hamming distance (neurons per bin)",
           title=title or "Divergence from the control")
    ax.legend(fontsize=8)
    return _save(fig, path)


def lz_distribution(lz, path, *, xlabel: str = "LZ complexity (c log2 n / n)") -> Path:
    """Histogram of per-trial Lempel-Ziv complexities with the mean marked."""
    lz = np.asarray(lz, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(lz, bins=max(5, min(30, len(lz) // 2)), color="tab:purple", alpha=0.8)
    if len(lz):
        ax.axvline(lz.mean(), color="k", lw=1.5, label=f"mean {lz.mean():.3g} (n={len(lz)})")
        ax.legend(fontsize=8)
    ax.set(xlabel=xlabel, ylabel="trials", title="LZ complexity of the difference matrices")
    return _save(fig, path)


def heatmap(values, x_values, y_values, path, *, xlabel: str, ylabel: str, title: str = "",
            cbar_label: str = "", mark: tuple[int, int] | None = None) -> Path:
    """A grid of values (rows = ``y_values``, columns = ``x_values``), axes in real units.

    Points not computed (NaN) are grey; ``mark=(row, column)`` rings one point.
    """
    values = np.asarray(values, dtype=float)
    x_values, y_values = np.asarray(x_values, float), np.asarray(y_values, float)
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.8")
    image = ax.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", cmap=cmap)
    step_x, step_y = max(1, -(-len(x_values) // 6)), max(1, -(-len(y_values) // 8))
    ax.set_xticks(range(0, len(x_values), step_x))
    ax.set_xticklabels([f"{v:.3g}" for v in x_values[::step_x]])
    ax.set_yticks(range(0, len(y_values), step_y))
    ax.set_yticklabels([f"{v:.3g}" for v in y_values[::step_y]])
    if mark is not None:
        ax.scatter([mark[1]], [mark[0]], s=160, facecolors="none", edgecolors="tab:red", lw=2)
        title = (f"{title}\n(red ring: maximum at {ylabel.split(' ')[0]}={y_values[mark[0]]:.3g}, "
                 f"{xlabel.split(' ')[0]}={x_values[mark[1]]:.3g})")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.colorbar(image, ax=ax, label=cbar_label)
    return _save(fig, path)


def chaos_landscape(v_axis, g_axis, lz_grid, hamming_grid, path, *, v_label: str, g_label: str,
                    lz_label: str, hamming_label: str,
                    mark: tuple[int, int] | None = None) -> Path:
    """LZ complexity and Hamming slope over the grid, side by side, each with its colour bar.

    Rows are ``v_axis`` (threshold spread), columns ``g_axis`` (weight spread),
    origin lower; the ticks show the axis values, so the labels must carry the
    units (``"v_th_std (mV)"``).  Points not computed (NaN) are grey;
    ``mark=(i, j)`` rings the point ``(v_axis[i], g_axis[j])`` in both panels.
    """
    v_axis, g_axis = np.asarray(v_axis, dtype=float), np.asarray(g_axis, dtype=float)
    grids = {"lz_grid": np.asarray(lz_grid, dtype=float),
             "hamming_grid": np.asarray(hamming_grid, dtype=float)}
    if v_axis.ndim != 1 or g_axis.ndim != 1:
        raise ValueError(f"v_axis and g_axis must be 1-D, got shapes {v_axis.shape} and "
                         f"{g_axis.shape}")
    for name, grid in grids.items():
        if grid.shape != (len(v_axis), len(g_axis)):
            raise ValueError(f"{name} must have shape (len(v_axis), len(g_axis)) = "
                             f"{(len(v_axis), len(g_axis))}, got {grid.shape}")
    if mark is not None and not (0 <= mark[0] < len(v_axis) and 0 <= mark[1] < len(g_axis)):
        raise ValueError(f"mark must index the grid {(len(v_axis), len(g_axis))}, got {mark}")
    step_g, step_v = max(1, -(-len(g_axis) // 6)), max(1, -(-len(v_axis) // 8))
    fig, axes = plt.subplots(1, 2, figsize=(12.8, 5.2))
    panels = ((axes[0], grids["lz_grid"], lz_label, "viridis"),
              (axes[1], grids["hamming_grid"], hamming_label, "plasma"))
    for ax, grid, label, colours in panels:
        cmap = plt.get_cmap(colours).with_extremes(bad="0.8")  # NaN: not computed, grey
        image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap)
        ax.set_xticks(range(0, len(g_axis), step_g))
        ax.set_xticklabels([f"{v:.3g}" for v in g_axis[::step_g]])
        ax.set_yticks(range(0, len(v_axis), step_v))
        ax.set_yticklabels([f"{v:.3g}" for v in v_axis[::step_v]])
        title = label
        if mark is not None:
            ax.scatter([mark[1]], [mark[0]], s=160, facecolors="none", edgecolors="tab:red", lw=2)
            title += (f"\n(red ring: {v_label.split(' ')[0]}={v_axis[mark[0]]:.3g}, "
                      f"{g_label.split(' ')[0]}={g_axis[mark[1]]:.3g})")
        if np.isnan(grid).any():
            title += f"\n(grey: {int(np.isnan(grid).sum())} of {grid.size} points not computed)"
        ax.set(xlabel=g_label, ylabel=v_label, title=title)
        fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    return _save(fig, path)


def line(x_values, values, path, *, xlabel: str, ylabel: str, title: str = "") -> Path:
    """One measure against one parameter (a 1-D sweep); points not computed (NaN) are left out."""
    x_values, values = np.asarray(x_values, float), np.asarray(values, float)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(x_values, values, "o-", color="tab:blue")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return _save(fig, path)
