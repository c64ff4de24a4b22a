"""Figures of a conductance-based E/I spiking network trained on olfactory input.

The network: excitatory and inhibitory cells grouped in assemblies, driven by
``n_inputs`` (1500) olfactory mitral cells. A training run calls these
functions every few epochs and writes the figures into ``figures/epoch_XXXX/``
under the file names given in each docstring.

Matplotlib, Agg back-end; every figure function converts its inputs with
``np.asarray``, validates their shapes first (``ValueError`` naming the
argument and the shape given), draws one figure, writes it through
:func:`analysis.plots._save` and returns its path.

Conventions shared by all figures:

- Spikes come as two parallel 1-D integer arrays, the time step of each spike
  (``spike_steps``, step ``k`` is time ``k * dt_s``) and the index of the
  neuron (``spike_neurons``) or mitral cell (``spike_cells``) that fired.
- ``cell_type`` holds one label per neuron, each one of ``cell_types``
  (default ``("excitatory", "inhibitory")``), or, as an integer array, the
  index of each neuron's type in ``cell_types`` (0 = excitatory, 1 =
  inhibitory, as ``models.connectome`` codes them); a label or code outside
  ``cell_types`` is a ``ValueError``, a type without neurons is left out.
- Colours: ``CELL_COLOURS`` (excitatory tab:red, inhibitory tab:blue); other
  type labels get the remaining tab10 colours in the order of ``cell_types``.
- Large populations are subsampled for drawing only, never for statistics:
  rasters and matrices show evenly spaced neurons of each type (a stratified
  subsample that keeps the index order within a type, each type's share of
  the rows equal to its share of the population), and a time window; the
  title says what is shown. Rates, degrees, block densities and correlations
  are computed from all the data.
- Weights carry the unit ``weight_unit`` (default "a.u."), written on the
  colour bars and axes.

The pure statistics helpers (:func:`spike_counts`, :func:`fano_per_neuron`,
:func:`isi_per_neuron`, :func:`cv_per_neuron`) are vectorised over the whole
population and agree with the single-train functions of
:mod:`analysis.spikes` (:func:`~analysis.spikes.fano_factor`,
:func:`~analysis.spikes.cv_isi`): ddof = 0, NaN where undefined. Mean firing
rates come from :func:`analysis.spikes.firing_rates`.

>>> counts = spike_counts([0, 1, 5, 5, 9], [0, 0, 0, 1, 1], n_neurons=2, n_steps=10,
...                       bin_steps=5)
>>> counts.tolist()
[[2, 0], [1, 2]]
>>> fano_per_neuron(counts).round(3).tolist()
[0.167, 1.0]
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from matplotlib.collections import LineCollection, PatchCollection, PolyCollection  # noqa: E402
from matplotlib.colors import ListedColormap, Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle, Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from analysis.plots import _save  # noqa: E402
from analysis.spikes import _n_neurons, _spike_indices, bin_spikes  # noqa: E402

__all__ = ["CELL_COLOURS", "spike_counts", "fano_per_neuron", "isi_per_neuron", "cv_per_neuron",
           "assembly_graph", "connectivity_matrix", "mitral_raster", "feedforward_connectivity",
           "spike_raster", "firing_rate_distribution", "membrane_voltages", "fano_factors",
           "cv_histogram", "isi_distribution", "training_curves", "statistics_over_training",
           "weight_scatter"]

CELL_COLOURS = {"excitatory": "tab:red", "inhibitory": "tab:blue"}
CELL_TYPES = ("excitatory", "inhibitory")  # default order of the types in every figure
_OTHER_COLOURS = ("tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink",
                  "tab:olive", "tab:cyan", "tab:gray")  # types other than E and I
INPUT_COLOUR = "0.2"        # mitral cells (inputs), in rasters
MAX_EDGES = 400             # strongest assembly-to-assembly edges drawn in assembly_graph
MAX_SCATTER_POINTS = 20000  # points drawn in weight_scatter (all are used for Pearson r)
RATE_BIN_S = 0.010          # population-rate bin under the spike raster (10 ms)
MAX_TRACES = 8              # membrane traces in one figure


# =========================================================================== statistics
def spike_counts(spike_steps, spike_neurons, n_neurons, n_steps, bin_steps) -> np.ndarray:
    r"""Spike counts of every neuron in consecutive bins of ``bin_steps`` time steps.

    .. math:: N_{b,i} = \#\{\text{spikes of neuron } i \text{ with }
              b\,\Delta \le k < (b+1)\,\Delta\}, \qquad
              n_{\mathrm{bins}} = \lfloor n_{\mathrm{steps}} / \Delta \rfloor

    A trailing partial bin (``n_steps % bin_steps`` steps) is dropped, so
    every count covers the same duration. Uses :func:`analysis.spikes.bin_spikes`.

    Parameters
    ----------
    spike_steps : array_like of int, shape (n_spikes,)
        Time step of each spike, in ``[0, n_steps)``; any order.
    spike_neurons : array_like of int, shape (n_spikes,)
        Neuron of each spike, in ``[0, n_neurons)``.
    n_neurons : int
        Number of neurons (columns), >= 1.
    n_steps : int
        Number of simulated time steps, >= ``bin_steps``.
    bin_steps : int
        Bin width in time steps, >= 1.

    Returns
    -------
    numpy.ndarray of int32, shape (n_bins, n_neurons)

    Raises
    ------
    ValueError
        If the arrays are not 1-D or differ in length, a step or neuron is out
        of range or not an integer, or the sizes are not positive integers.

    Examples
    --------
    >>> spike_counts([0, 1, 5, 5, 9, 10], [0, 0, 0, 1, 1, 1], n_neurons=2, n_steps=11,
    ...              bin_steps=5).tolist()
    [[2, 0], [1, 2]]
    """
    n_neurons = _n_neurons(n_neurons)
    n_steps = _positive_int(n_steps, "n_steps")
    bin_steps = _positive_int(bin_steps, "bin_steps")
    if bin_steps > n_steps:
        raise ValueError(f"bin_steps must be <= n_steps = {n_steps}, got {bin_steps}")
    steps, neurons = _spikes(spike_steps, spike_neurons, n_neurons, "spike_neurons")
    if steps.size and steps.max() >= n_steps:
        raise ValueError(f"spike_steps must lie in [0, n_steps) = [0, {n_steps}), got "
                         f"{steps[steps >= n_steps][:5].tolist()}")
    n_bins = n_steps // bin_steps
    counts = bin_spikes(neurons, steps.astype(float), n_neurons, 0.0, float(n_bins * bin_steps),
                        float(bin_steps), binary=False)  # time measured in steps: exact
    return np.ascontiguousarray(counts.T)


def fano_per_neuron(counts) -> np.ndarray:
    r"""Fano factor of every neuron's spike counts over bins.

    .. math:: F_i = \frac{\operatorname{var}_b(N_{b,i})}{\operatorname{mean}_b(N_{b,i})}

    with the population variance (ddof = 0), as
    :func:`analysis.spikes.fano_factor` for one neuron; F = 1 for Poisson
    counts (Fano 1947, Phys Rev 72:26, doi:10.1103/PhysRev.72.26).

    Parameters
    ----------
    counts : array_like, shape (n_bins, n_neurons)
        Non-negative spike counts, e.g. from :func:`spike_counts`; n_bins >= 1.

    Returns
    -------
    numpy.ndarray of float, shape (n_neurons,)
        F per neuron; NaN where the mean count is 0 (silent neurons).

    Raises
    ------
    ValueError
        If ``counts`` is not 2-D with at least one bin, or holds non-finite or
        negative values.

    Examples
    --------
    >>> fano_per_neuron([[2, 0, 1], [4, 0, 1], [6, 0, 1]]).round(4).tolist()
    [0.6667, nan, 0.0]
    """
    n = np.asarray(counts, dtype=float)
    if n.ndim != 2 or n.shape[0] == 0:
        raise ValueError(f"counts must have shape (n_bins >= 1, n_neurons), got shape {n.shape}")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ValueError("counts must be finite and non-negative")
    mean = n.mean(axis=0)
    variance = n.var(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, variance / np.where(mean > 0, mean, 1.0), np.nan)


def isi_per_neuron(spike_steps, spike_neurons, n_neurons, dt_s) -> tuple[np.ndarray, np.ndarray]:
    r"""Inter-spike intervals of every neuron, and the neuron each interval belongs to.

    .. math:: I_{i,k} = (s_{i,k+1} - s_{i,k})\,\Delta t

    for the sorted spike steps :math:`s_{i,1} \le s_{i,2} \le \dots` of neuron i.

    Parameters
    ----------
    spike_steps : array_like of int, shape (n_spikes,)
        Time step of each spike (>= 0), in any order.
    spike_neurons : array_like of int, shape (n_spikes,)
        Neuron of each spike, in ``[0, n_neurons)``.
    n_neurons : int
        Number of neurons, >= 1.
    dt_s : float
        Time step in seconds, > 0.

    Returns
    -------
    isi_s : numpy.ndarray of float, shape (n_intervals,)
        Intervals in seconds, grouped by neuron (ascending), in time order
        within a neuron; ``n_intervals = n_spikes - n_neurons_with_spikes``.
    neuron_of_isi : numpy.ndarray of int64, shape (n_intervals,)
        The neuron of each interval (to look up its type:
        ``cell_type[neuron_of_isi]``).

    Raises
    ------
    ValueError
        If the arrays are not 1-D or differ in length, a step is negative or
        not an integer, a neuron is out of range, or ``dt_s`` is not > 0.

    Examples
    --------
    >>> isi_s, neuron = isi_per_neuron([30, 0, 10, 4, 5], [0, 0, 0, 2, 1], n_neurons=3,
    ...                                dt_s=0.001)
    >>> isi_s.round(6).tolist(), neuron.tolist()
    ([0.01, 0.02], [0, 0])
    """
    n_neurons = _n_neurons(n_neurons)
    dt_s = _positive_float(dt_s, "dt_s")
    steps, neurons = _spikes(spike_steps, spike_neurons, n_neurons, "spike_neurons")
    order = np.lexsort((steps, neurons))  # by neuron, then by time
    steps, neurons = steps[order], neurons[order]
    same = neurons[1:] == neurons[:-1]
    return np.diff(steps)[same] * dt_s, neurons[1:][same]


def cv_per_neuron(spike_steps, spike_neurons, n_neurons, dt_s) -> np.ndarray:
    r"""Coefficient of variation of every neuron's inter-spike intervals.

    .. math:: \mathrm{CV}_i = \frac{\operatorname{std}(I_i)}{\operatorname{mean}(I_i)}

    with the population standard deviation (ddof = 0), as
    :func:`analysis.spikes.cv_isi` for one train; CV = 1 for a Poisson
    process, 0 for a regular train (Softky & Koch 1993, J Neurosci 13:334,
    doi:10.1523/JNEUROSCI.13-01-00334.1993).

    Parameters
    ----------
    spike_steps, spike_neurons, n_neurons, dt_s
        As :func:`isi_per_neuron`.

    Returns
    -------
    numpy.ndarray of float, shape (n_neurons,)
        CV per neuron; NaN with fewer than two intervals (fewer than three
        spikes) or when all intervals are zero.

    Raises
    ------
    ValueError
        As :func:`isi_per_neuron`.

    Examples
    --------
    Neuron 0 has intervals 10, 20, 30 ms (CV = 0.408), neuron 1 a regular
    train, neuron 2 only two spikes:

    >>> cv_per_neuron([0, 10, 30, 60, 0, 5, 10, 0, 7], [0, 0, 0, 0, 1, 1, 1, 2, 2],
    ...               n_neurons=3, dt_s=0.001).round(3).tolist()
    [0.408, 0.0, nan]
    """
    isi_s, neuron = isi_per_neuron(spike_steps, spike_neurons, n_neurons, dt_s)
    n_neurons = int(n_neurons)
    n_isi = np.bincount(neuron, minlength=n_neurons)
    total = np.bincount(neuron, weights=isi_s, minlength=n_neurons)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n_isi
        deviation = isi_s - mean[neuron]  # two passes: no cancellation in E[x^2] - E[x]^2
        std = np.sqrt(np.bincount(neuron, weights=deviation ** 2, minlength=n_neurons) / n_isi)
        cv = std / mean
    return np.where((n_isi >= 2) & (mean > 0), cv, np.nan)


# =========================================================================== figures
def assembly_graph(assembly_weights, path, *, title: str = "Assembly graph",
                   weight_unit: str = "a.u.") -> Path:
    """Assemblies as nodes on a circle, the summed weights between them as arrows.

    File name used by training: ``assembly_graph.png``.

    ``assembly_weights[a, b]`` is the summed weight from assembly ``a``
    (presynaptic, rows) to assembly ``b``. Arrows run pre -> post, curved
    (clockwise seen from the source) so that ``a -> b`` and ``b -> a`` are
    both visible; width, opacity and colour grow with ``|weight|`` from the
    weakest to the strongest connection drawn (first colour bar); the
    ``MAX_EDGES`` strongest are drawn and the title says when some are left
    out. The diagonal (within-assembly weight) colours the nodes (second
    colour bar). Negative (inhibitory) sums use a red/blue diverging scale.

    Raises
    ------
    ValueError
        If ``assembly_weights`` is not a square 2-D array with >= 1 row, or
        holds NaN or inf.
    """
    w = np.asarray(assembly_weights, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] == 0:
        raise ValueError(f"assembly_weights must be a square [A, A] array, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("assembly_weights must be finite, got NaN or inf values")
    n = w.shape[0]
    angle = np.pi / 2 - 2 * np.pi * np.arange(n) / n  # clockwise from 12 o'clock
    centres = np.column_stack([np.cos(angle), np.sin(angle)])
    radius = min(0.09, 0.8 * np.pi / n)  # node radius, in units of the circle's radius
    within = np.diag(w).copy()
    between = w.copy()
    np.fill_diagonal(between, 0.0)
    pre, post = np.nonzero(between)
    strength = np.abs(between[pre, post])
    order = np.argsort(strength, kind="stable")[::-1][:MAX_EDGES][::-1]  # strongest on top
    n_left_out = len(pre) - len(order)
    pre, post, strength = pre[order], post[order], strength[order]

    fig = plt.figure(figsize=(9.6, 7.4))
    grid = fig.add_gridspec(1, 3, width_ratios=(1, 0.035, 0.035), wspace=0.45)
    ax, edge_bar, node_bar = (fig.add_subplot(grid[0, i]) for i in range(3))
    signed = between[pre, post]
    edge_cmap, edge_norm = _weight_scale(signed, span_from_zero=False)
    node_cmap, node_norm = _weight_scale(within, positive_cmap="YlOrBr")
    if len(pre):
        low, high = strength.min(), strength.max()
        fraction = (strength - low) / (high - low) if high > low else np.ones(len(strength))
        lines, heads = _curved_arrows(centres[pre], centres[post], radius,
                                      head_length=0.035 + 0.035 * fraction)
        colours = edge_cmap(edge_norm(signed))
        colours[:, 3] = 0.12 + 0.83 * fraction  # opacity grows with the weight
        ax.add_collection(LineCollection(lines, colors=colours, linewidths=0.4 + 3.4 * fraction,
                                         capstyle="butt", zorder=1))
        ax.add_collection(PolyCollection(heads, facecolors=colours, edgecolors="none", zorder=2))
    else:
        ax.text(0, 0, "no connections between assemblies", ha="center", va="center",
                color="0.4")
    nodes = PatchCollection([Circle(tuple(c), radius) for c in centres], cmap=node_cmap,
                            norm=node_norm, edgecolors="k", linewidths=0.8, zorder=3)
    nodes.set_array(within)
    ax.add_collection(nodes)
    if n <= 40:
        for a in range(n):
            ax.text(*(centres[a] * (1 + radius + 0.07)), str(a), ha="center", va="center",
                    fontsize=8)
    ax.set(xlim=(-1.22, 1.22), ylim=(-1.22, 1.22), aspect="equal")
    ax.set_axis_off()
    fig.colorbar(plt.cm.ScalarMappable(norm=edge_norm, cmap=edge_cmap), cax=edge_bar,
                 label=f"between assemblies, pre → post: summed weight ({weight_unit})")
    fig.colorbar(nodes, cax=node_bar,
                 label=f"within the assembly (node colour): summed weight ({weight_unit})")
    for bar in (edge_bar, node_bar):
        bar.yaxis.label.set_size(9)
    detail = f"{n} assemblies, {len(pre) + n_left_out} directed connections between them"
    if n_left_out:
        detail += f" ({len(pre)} strongest drawn)"
    ax.set_title(f"{title}\n{detail}\narrows pre → post; width, opacity and colour grow with "
                 f"|summed weight|", fontsize=10)
    return _save(fig, path)


def connectivity_matrix(weights, cell_type, path, *, cell_types: Sequence = CELL_TYPES,
                        max_neurons: int = 400, weight_unit: str = "a.u.") -> Path:
    """Recurrent weight matrix of a stratified subsample of neurons, signed by Dale's law.

    File name used by training: ``connectivity_matrix.png``.

    ``weights[i, j]`` is the weight from neuron ``i`` (presynaptic, rows) to
    ``j``; a ``scipy.sparse`` matrix or a dense ``[n, n]`` array. At most
    ``max_neurons`` neurons are shown, grouped by type in the order of
    ``cell_types`` and evenly spaced within each type (index order kept);
    lines mark the type boundaries. Colour is ``|w|`` with the sign of the
    presynaptic type: excitatory rows positive (red), every other type
    negative (blue); absent synapses are white. Each block is labelled with
    its connection probability ``p`` and mean ``|w|`` over all synapses of
    the full matrix (not only the ones drawn).

    Raises
    ------
    ValueError
        If ``weights`` is not square ``[n, n]`` with ``n = len(cell_type)``,
        ``cell_type`` holds a label not in ``cell_types``, or
        ``max_neurons < 1``.
    """
    matrix = _matrix(weights, "weights")
    n = matrix.shape[0]
    if matrix.shape != (n, n):
        raise ValueError(f"weights must be square [n, n], got shape {matrix.shape}")
    codes, types = _cell_types(cell_type, n, "weights rows", cell_types)
    max_neurons = _positive_int(max_neurons, "max_neurons")
    shown, blocks = _stratified(codes, types, max_neurons)
    sub = _dense_block(matrix, shown, shown)
    sign = np.where(np.asarray([types[c][0] == "excitatory" for c in codes[shown]]), 1.0, -1.0)
    signed = np.abs(sub) * sign[:, None]
    limit = _robust_limit(signed[signed != 0])
    # block statistics over the full matrix
    rows, cols, values = _nonzero(matrix)
    n_types = len(types)
    pair = codes[rows] * n_types + codes[cols]
    n_synapses = np.bincount(pair, minlength=n_types ** 2).reshape(n_types, n_types)
    total = np.bincount(pair, weights=np.abs(values), minlength=n_types ** 2)
    total = total.reshape(n_types, n_types)
    size = np.bincount(codes, minlength=n_types)

    fig, ax = plt.subplots(figsize=(8, 7))
    cmap = _signed_cmap()
    image = ax.imshow(np.ma.masked_equal(signed, 0.0), cmap=cmap, vmin=-limit, vmax=limit,
                      interpolation="nearest", aspect="equal")
    for start, stop, code in blocks:
        for other_start, other_stop, other in blocks:
            possible = size[code] * size[other]
            p = n_synapses[code, other] / possible if possible else 0.0
            mean = total[code, other] / n_synapses[code, other] if n_synapses[code, other] else 0
            ax.text((other_start + other_stop) / 2 - 0.5, (start + stop) / 2 - 0.5,
                    f"{_short(types[code][0])}→{_short(types[other][0])}\n"
                    f"p = {p:.3g}\nmean |w| = {mean:.3g}",
                    ha="center", va="center", fontsize=8,
                    bbox=dict(boxstyle="round", fc="white", ec="0.5", alpha=0.8))
    for start, _, _ in blocks[1:]:
        ax.axhline(start - 0.5, color="k", lw=1)
        ax.axvline(start - 0.5, color="k", lw=1)
    centres = [(start + stop) / 2 - 0.5 for start, stop, _ in blocks]
    names = [f"{types[code][0]}\n({stop - start} of {size[code]})" for start, stop, code in blocks]
    ax.set_xticks(centres, names, fontsize=8)
    ax.set_yticks(centres, names, fontsize=8, rotation=90, va="center")
    ax.set(xlabel="postsynaptic neuron (sampled, grouped by type)",
           ylabel="presynaptic neuron (sampled, grouped by type)")
    ax.set_title(f"Recurrent connectivity: {len(shown)} of {n} neurons "
                 f"(evenly spaced within each type)\n{int(len(values))} synapses in all; "
                 f"block labels: probability and mean |w| of the full matrix", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, extend="both",
                 label=f"weight, signed by presynaptic type ({weight_unit})")
    return _save(fig, path)


def mitral_raster(spike_steps, spike_cells, n_inputs, dt_s, path, *, max_cells: int = 200,
                  window_s: float = 2.0, t_start_s: float = 0.0) -> Path:
    """Spike raster of the mitral cells (the network's input), with their mean rate below.

    File name used by training: ``mitral_cell_spikes.png``.

    Shows at most ``max_cells`` cells, evenly spaced over ``[0, n_inputs)``
    (the tick labels give the real cell indices), in the window
    ``[t_start_s, t_start_s + window_s)``. The panel below gives the mean rate
    of all ``n_inputs`` cells in 10 ms bins over the same window.

    Raises
    ------
    ValueError
        If the spike arrays are not 1-D or differ in length, a cell index is
        outside ``[0, n_inputs)``, a step is negative, or ``dt_s``,
        ``window_s`` or ``max_cells`` is not positive.
    """
    n_inputs = _n_neurons(n_inputs)
    dt_s = _positive_float(dt_s, "dt_s")
    window_s = _positive_float(window_s, "window_s")
    max_cells = _positive_int(max_cells, "max_cells")
    steps, cells = _spikes(spike_steps, spike_cells, n_inputs, "spike_cells")
    codes = np.zeros(n_inputs, dtype=np.int64)
    types = [("mitral cells", INPUT_COLOUR)]
    return _raster(steps, cells, codes, types, dt_s, path, max_rows=max_cells, window_s=window_s,
                   t_start_s=float(t_start_s), what="mitral cells",
                   ylabel="mitral cell index (sampled)", title="Mitral-cell (input) spikes")


def feedforward_connectivity(ff_weights, cell_type, path, *, cell_types: Sequence = CELL_TYPES,
                             max_inputs: int = 300, max_neurons: int = 400,
                             weight_unit: str = "a.u.") -> Path:
    """Mitral-cell -> network weights of a subsample, and the in-degree of every neuron.

    File name used by training: ``feedforward_connectivity.png``.

    ``ff_weights[m, j]`` is the weight from mitral cell ``m`` (rows,
    ``n_inputs``) to network neuron ``j`` (columns); ``scipy.sparse`` or
    dense. Left: at most ``max_inputs`` evenly spaced inputs against at most
    ``max_neurons`` neurons (stratified by type as in
    :func:`connectivity_matrix`), absent synapses white. Right: histogram of
    the number of mitral inputs per neuron (in-degree), one per target type,
    over all neurons.

    Raises
    ------
    ValueError
        If ``ff_weights`` is not 2-D with ``len(cell_type)`` columns,
        ``cell_type`` holds a label not in ``cell_types``, or a maximum is < 1.
    """
    matrix = _matrix(ff_weights, "ff_weights")
    n_inputs, n = matrix.shape
    codes, types = _cell_types(cell_type, n, "ff_weights columns", cell_types)
    max_inputs = _positive_int(max_inputs, "max_inputs")
    max_neurons = _positive_int(max_neurons, "max_neurons")
    inputs = _spread(np.arange(n_inputs), max_inputs)
    shown, blocks = _stratified(codes, types, max_neurons)
    sub = _dense_block(matrix, inputs, shown)
    rows, cols, values = _nonzero(matrix)
    in_degree = np.bincount(cols, minlength=n)

    fig, (ax, ax_degree) = plt.subplots(1, 2, figsize=(13, 6),
                                        gridspec_kw=dict(width_ratios=(1.6, 1)))
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    magnitude = np.abs(sub)
    limit = _robust_limit(magnitude[magnitude != 0])
    image = ax.imshow(np.ma.masked_equal(magnitude, 0.0), cmap=cmap, vmin=0, vmax=limit,
                      interpolation="nearest", aspect="auto")
    for start, _, _ in blocks[1:]:
        ax.axvline(start - 0.5, color="k", lw=1.2)
    centres = [(start + stop) / 2 - 0.5 for start, stop, _ in blocks]
    ax.set_xticks(centres, [f"{types[code][0]}\n({stop - start} of {np.sum(codes == code)})"
                            for start, stop, code in blocks], fontsize=8)
    _index_ticks(ax.yaxis, inputs)
    ax.set(xlabel="network neuron (sampled, grouped by type)", ylabel="mitral cell (index)")
    ax.set_title(f"Feedforward weights: {len(inputs)} of {n_inputs} mitral cells × "
                 f"{len(shown)} of {n} neurons\n(evenly spaced; {len(values)} synapses in all)",
                 fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, extend="max",
                 label=f"|weight| ({weight_unit})")

    high = int(in_degree.max()) if n else 0
    bins = np.arange(-0.5, high + 1.5) if high <= 60 else np.linspace(-0.5, high + 0.5, 51)
    for code, (name, colour) in enumerate(types):
        degree = in_degree[codes == code]
        if degree.size == 0:
            continue
        weights = np.full(degree.size, 1.0 / degree.size)
        label = f"{name} (n = {degree.size}, mean {degree.mean():.1f})"
        ax_degree.hist(degree, bins=bins, weights=weights, color=colour, alpha=0.35)
        ax_degree.hist(degree, bins=bins, weights=weights, color=colour, histtype="step", lw=1.3,
                       label=label)
    ax_degree.set(xlabel="mitral inputs per neuron (in-degree)", ylabel="fraction of neurons",
                  title="In-degree from the mitral cells, all neurons")
    _headroom(ax_degree)
    ax_degree.legend(fontsize=8, loc="upper right", framealpha=0.85)
    fig.tight_layout()
    return _save(fig, path)


def spike_raster(spike_steps, spike_neurons, cell_type, dt_s, path, *,
                 cell_types: Sequence = CELL_TYPES, max_neurons: int = 300,
                 window_s: float = 2.0, t_start_s: float = 0.0) -> Path:
    """Spike raster coloured by cell type, with the population rate of every type below.

    File name used by training: ``spike_raster.png``.

    Shows at most ``max_neurons`` neurons (stratified by type, evenly spaced
    within a type, grouped in the order of ``cell_types``) in the window
    ``[t_start_s, t_start_s + window_s)``. The lower panel gives the mean
    rate per neuron of each type over all its neurons (not only the ones
    shown) in 10 ms bins over the same window.

    Raises
    ------
    ValueError
        If the spike arrays are not 1-D or differ in length, a neuron is
        outside ``[0, len(cell_type))``, a step is negative, ``cell_type``
        holds a label not in ``cell_types``, or ``dt_s``, ``window_s`` or
        ``max_neurons`` is not positive.
    """
    labels = np.asarray(cell_type)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"cell_type must be a non-empty 1-D array, got shape {labels.shape}")
    codes, types = _cell_types(labels, labels.size, "cell_type", cell_types)
    dt_s = _positive_float(dt_s, "dt_s")
    window_s = _positive_float(window_s, "window_s")
    max_neurons = _positive_int(max_neurons, "max_neurons")
    steps, neurons = _spikes(spike_steps, spike_neurons, labels.size, "spike_neurons")
    return _raster(steps, neurons, codes, types, dt_s, path, max_rows=max_neurons,
                   window_s=window_s, t_start_s=float(t_start_s), what="neurons",
                   ylabel="neuron index (sampled, grouped by type)", title="Network spikes")


def firing_rate_distribution(rates_hz, cell_type, path, *, cell_types: Sequence = CELL_TYPES,
                             target_hz=None) -> Path:
    """Distribution of mean firing rates per type on a log axis, silent neurons apart.

    File name used by training: ``firing_rate_distribution.png``.

    One row per type present. Left, a bar of the silent fraction (rate 0,
    which a log axis cannot show); right, the active neurons as a fraction of
    all the type's neurons per decade of rate, on about 40 log-spaced bins
    shared by all types, so that the histogram's area (in decades) plus the
    silent fraction is 1. Rates that are whole multiples of one quantum (spike
    counts over one duration, 1/T) get bin edges halfway between multiples, so
    no bin is narrower than one spike and low rates show no comb. The legend
    gives the mean rate (silent neurons included) and the silent count.
    ``target_hz`` (a number, a mapping type -> Hz, or a sequence in the order
    of ``cell_types``; None or NaN entries are skipped) is drawn dashed.

    Raises
    ------
    ValueError
        If ``rates_hz`` is not 1-D with the length of ``cell_type``, holds a
        negative or non-finite rate, or ``target_hz`` has the wrong length.
    """
    rates = np.asarray(rates_hz, dtype=float)
    if rates.ndim != 1 or rates.size == 0:
        raise ValueError(f"rates_hz must be a non-empty 1-D array, got shape {rates.shape}")
    if not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError("rates_hz must be finite and non-negative")
    codes, types = _cell_types(cell_type, rates.size, "rates_hz", cell_types)
    targets = _per_type(target_hz, types, "target_hz")
    present = [code for code in range(len(types)) if np.any(codes == code)]
    active = rates[rates > 0]
    if active.size:
        edges = _log_edges(active, n_bins=40, include=[t for t in targets.values() if t > 0])
        decades = np.diff(np.log10(edges))
    fig, axes = plt.subplots(len(present), 2, figsize=(10, 1.6 + 2.5 * len(present)),
                             squeeze=False, sharex="col",
                             gridspec_kw=dict(width_ratios=(1, 9), wspace=0.3))
    for row, code in enumerate(present):
        name, colour = types[code]
        ax_silent, ax = axes[row]
        chosen = rates[codes == code]
        silent = int(np.sum(chosen == 0))
        fraction = silent / chosen.size
        ax_silent.bar([0], [fraction], width=0.6, color=colour, alpha=0.6, edgecolor=colour)
        ax_silent.text(0, fraction + 0.03, f"{100 * fraction:.3g} %", ha="center", va="bottom",
                       fontsize=8)
        ax_silent.set(xlim=(-0.6, 0.6), ylim=(0, 1.15), ylabel="silent fraction")
        ax_silent.set_xticks([0], ["silent\n(0 Hz)"], fontsize=8)
        ax_silent.set_yticks([0, 0.5, 1])
        on = chosen[chosen > 0]
        if on.size:
            density = np.histogram(on, bins=edges)[0] / chosen.size / decades
            ax.stairs(density, edges, color=colour, fill=True, alpha=0.35)
            ax.stairs(density, edges, color=colour, lw=1.3)
        else:
            _no_data(ax, "no active neurons")
        if chosen.mean() > 0:
            ax.axvline(chosen.mean(), color=colour, lw=1.8,
                       label=f"mean {chosen.mean():.3g} Hz (silent included)")
        if code in targets:
            ax.axvline(targets[code], color="k", ls="--", lw=1.5,
                       label=f"target {targets[code]:.3g} Hz")
        ax.plot([], [], " ", label=f"silent: {silent} of {chosen.size}")
        if active.size:
            ax.set_xscale("log")
            ax.set_xlim(edges[0], edges[-1])
            _log_ticks(ax.xaxis, edges[0], edges[-1])
        _headroom(ax, 1.35)
        ax.set_ylabel("fraction of neurons\nper decade", fontsize=9)
        ax.legend(fontsize=8, loc="upper left", framealpha=0.85)
        ax.set_title(f"{name}: {chosen.size} neurons", fontsize=10)
    axes[-1, 1].set_xlabel("mean firing rate (Hz, log scale)")
    if not active.size:
        axes[-1, 1].set_xticks([])
    fig.suptitle("Firing-rate distribution (silent neurons at left)", fontsize=11)
    return _save(fig, path)


def membrane_voltages(v_mv, dt_s, path, *, neuron_ids=None, thresholds_mv=None,
                      cell_labels=None) -> Path:
    """Membrane-potential traces of up to eight neurons, one panel each, threshold dashed.

    File name used by training: ``membrane_voltages.png``.

    ``v_mv`` has shape ``[n_steps, k]`` (a 1-D array is one trace), in mV,
    sampled every ``dt_s`` seconds. Each panel's legend reads
    "neuron {neuron_ids[j]} ({cell_labels[j]})"; ``neuron_ids`` defaults to
    0..k-1, and a label that itself begins with "neuron" ("neuron 3 (E)") is
    written as it is. A label naming a type ("excitatory", "inhibitory", or E
    / I as a word) also sets the colour. ``thresholds_mv`` is one number or k
    numbers (NaN: none). Time in ms for traces under 2 s, else in s.

    Raises
    ------
    ValueError
        If ``v_mv`` is not 1-D/2-D with at least one step and 1..8 traces, or
        ``neuron_ids``, ``thresholds_mv`` or ``cell_labels`` do not hold k
        entries.
    """
    v = np.asarray(v_mv, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] == 0 or not 1 <= v.shape[1] <= MAX_TRACES:
        raise ValueError(f"v_mv must have shape [n_steps >= 1, k] with 1 <= k <= {MAX_TRACES}, "
                         f"got shape {np.shape(v_mv)}")
    dt_s = _positive_float(dt_s, "dt_s")
    n_steps, k = v.shape
    ids = _k_entries(neuron_ids, k, "neuron_ids", list(range(k)))
    labels = _k_entries(cell_labels, k, "cell_labels", [None] * k)
    if thresholds_mv is None or np.ndim(thresholds_mv) == 0:
        thresholds = np.full(k, np.nan if thresholds_mv is None else float(thresholds_mv))
    else:
        thresholds = np.asarray(thresholds_mv, dtype=float)
        if thresholds.shape != (k,):
            raise ValueError(f"thresholds_mv must be one number or {k} numbers (one per trace "
                             f"of v_mv), got shape {thresholds.shape}")
    duration_s = n_steps * dt_s
    scale, unit = (1.0, "s") if duration_s >= 2.0 else (1e3, "ms")
    time = np.arange(n_steps) * dt_s * scale
    fig, axes = plt.subplots(k, 1, figsize=(10, 1.1 + 1.45 * k), sharex=True, squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        label = labels[j]
        colour = "0.2" if label is None else CELL_COLOURS.get(label) or _colour_of_name(
            str(label), 0)
        ax.plot(time, v[:, j], color=colour, lw=0.7)
        if label is not None and str(label).lower().startswith("neuron"):
            name = str(label)  # already names the neuron: "neuron 3 (E)"
        else:
            name = f"neuron {ids[j]}" + (f" ({label})" if label is not None else "")
        handles = [Line2D([], [], color=colour, lw=1, label=name)]
        if np.isfinite(thresholds[j]):
            ax.axhline(thresholds[j], color="k", ls="--", lw=0.9)
            handles.append(Line2D([], [], color="k", ls="--", lw=0.9,
                                  label=f"threshold {thresholds[j]:.3g} mV"))
        if not np.isfinite(v[:, j]).any():
            _no_data(ax)
        ax.set_ylabel("V (mV)")
        ax.legend(handles=handles, fontsize=8, loc="upper right", framealpha=0.85)
        ax.grid(alpha=0.2)
    axes[-1, 0].set_xlabel(f"time ({unit})")
    axes[-1, 0].set_xlim(time[0], time[-1] if n_steps > 1 else time[0] + dt_s * scale)
    axes[0, 0].set_title(f"Membrane potential of {k} neuron{'s' * (k > 1)} "
                         f"({duration_s:.3g} s, dt = {dt_s * 1e3:.3g} ms)", fontsize=10)
    fig.tight_layout(h_pad=0.3)
    return _save(fig, path)


def fano_factors(fano, cell_type, path, *, cell_types: Sequence = CELL_TYPES,
                 window_s: float | None = None) -> Path:
    """Histogram per type of the Fano factors of spike counts, Poisson (F = 1) marked.

    File name used by training: ``fano_factors.png``.

    ``fano`` holds one value per neuron (e.g. :func:`fano_per_neuron`); NaN
    (silent neurons) and inf are left out and counted in the title.
    ``window_s`` is the counting window, written in the title. Values beyond
    the 99th percentile are gathered in the last bin (the legend says how
    many).

    Raises
    ------
    ValueError
        If ``fano`` is not 1-D with the length of ``cell_type``, or holds a
        negative value.
    """
    values = _per_neuron_values(fano, "fano")
    detail = f"counts in {window_s * 1e3:.4g} ms windows" if window_s is not None else ""
    return _type_histogram(values, cell_type, cell_types, path, name="fano",
                           xlabel="Fano factor var(N) / mean(N)", title="Fano factor of spike "
                           "counts" + (f" ({detail})" if detail else ""),
                           reference=1.0, reference_label="Poisson (F = 1)",
                           targets=None, nan_reason="silent")


def cv_histogram(cv, cell_type, path, *, cell_types: Sequence = CELL_TYPES,
                 target_cv=None) -> Path:
    """Histogram per type of the CV of inter-spike intervals, Poisson (CV = 1) marked.

    File name used by training: ``cv_histogram.png``.

    ``cv`` holds one value per neuron (e.g. :func:`cv_per_neuron`); NaN
    (fewer than two ISIs) is left out and counted in the title. ``target_cv``
    (a number, a mapping type -> CV, or a sequence in the order of
    ``cell_types``) is drawn dashed in the type's colour.

    Raises
    ------
    ValueError
        If ``cv`` is not 1-D with the length of ``cell_type``, holds a
        negative value, or ``target_cv`` has the wrong length.
    """
    values = _per_neuron_values(cv, "cv")
    return _type_histogram(values, cell_type, cell_types, path, name="cv",
                           xlabel="CV of the inter-spike intervals (std / mean)",
                           title="Irregularity of firing", reference=1.0,
                           reference_label="Poisson (CV = 1)", targets=target_cv,
                           nan_reason="< 2 ISIs")


def isi_distribution(isi_s, path, *, cell_type_of_isi=None,
                     cell_types: Sequence = CELL_TYPES) -> Path:
    """Histogram of inter-spike intervals on a log time axis, with a Poisson reference.

    File name used by training: ``isi_distribution.png``.

    ``isi_s`` are intervals in seconds (e.g. from :func:`isi_per_neuron`),
    drawn in ms as the fraction of intervals per decade (so that bins of any
    width compare), one histogram per type if ``cell_type_of_isi`` (one label
    per interval, e.g. ``cell_type[neuron_of_isi]``) is given. Intervals that
    are whole multiples of a time step (as from a simulation) get bin edges
    halfway between multiples, so no bin is narrower than one step and the
    short intervals show no comb. The dotted line of each histogram is the
    exponential ISI density (a Poisson process) of the same mean, integrated
    over the same bins. The legend gives the pooled CV of all the type's
    intervals (not a per-neuron CV). Non-positive intervals are left out and
    counted.

    Raises
    ------
    ValueError
        If ``isi_s`` is not 1-D or holds NaN/inf, or ``cell_type_of_isi``
        does not hold one label per interval or holds a label not in
        ``cell_types``.
    """
    isi = np.asarray(isi_s, dtype=float)
    if isi.ndim != 1:
        raise ValueError(f"isi_s must be 1-D, got shape {isi.shape}")
    if not np.all(np.isfinite(isi)):
        raise ValueError("isi_s must be finite, got NaN or inf values")
    if cell_type_of_isi is None:
        codes, types = np.zeros(isi.size, dtype=np.int64), [("all neurons", "0.25")]
    else:
        codes, types = _cell_types(cell_type_of_isi, isi.size, "isi_s", cell_types)
    positive = isi > 0
    n_dropped = int((~positive).sum())
    isi_ms = isi * 1e3
    fig, ax = plt.subplots(figsize=(8, 4.8))
    if positive.any():
        edges = _log_edges(isi_ms[positive], n_bins=60)
        decades = np.diff(np.log10(edges))
        for code, (name, colour) in enumerate(types):
            chosen = isi_ms[positive & (codes == code)]
            if chosen.size == 0:
                continue
            density = np.histogram(chosen, bins=edges)[0] / chosen.size / decades
            mean = chosen.mean()
            ax.stairs(density, edges, color=colour, fill=True, alpha=0.3)
            ax.stairs(density, edges, color=colour, lw=1.3,
                      label=f"{name} (n = {chosen.size}, mean {mean:.3g} ms, "
                            f"pooled CV {chosen.std() / mean:.2f})")
            poisson = (np.exp(-edges[:-1] / mean) - np.exp(-edges[1:] / mean)) / decades
            ax.stairs(poisson, edges, color=colour, ls=":", lw=1.6,
                      label=f"{name}: exponential (Poisson), same mean")
        ax.set_xscale("log")
        ax.set_xlim(edges[0], edges[-1])
        _log_ticks(ax.xaxis, edges[0], edges[-1])
        _headroom(ax)
        ax.legend(fontsize=8, loc="upper left", framealpha=0.85)
    else:
        _no_data(ax, "no inter-spike intervals")
    title = f"Inter-spike intervals ({int(positive.sum())} intervals"
    title += f"; {n_dropped} non-positive left out)" if n_dropped else ")"
    ax.set(xlabel="inter-spike interval (ms, log scale)",
           ylabel="fraction of intervals per decade", title=title)
    ax.grid(alpha=0.2, which="major")
    return _save(fig, path)


def training_curves(epochs, curves: Mapping, path, *, title: str = "Training") -> Path:
    """Loss curves against the epoch, one panel per entry of ``curves``.

    File name used by training: ``training_curves.png``.

    ``curves`` maps a panel title to a 1-D array (one curve) or to a mapping
    ``{label: array}`` (several curves in one panel, e.g. train and
    validation), each with one value per entry of ``epochs``. NaN marks an
    epoch without a value; each curve joins its finite points. A panel is
    log-scaled on y when all its finite values are > 0, else linear.

    Raises
    ------
    ValueError
        If ``epochs`` is not 1-D and non-empty, ``curves`` is empty, or a
        curve does not have the length of ``epochs``.
    TypeError
        If ``curves`` is not a mapping.
    """
    epoch = _epochs(epochs)
    panels = _panels(curves, "curves", len(epoch))
    fig, axes = _grid(len(panels))
    for ax, (panel, lines) in zip(axes, panels.items()):
        finite = np.concatenate([v[np.isfinite(v)] for v in lines.values()])
        log_y = finite.size > 0 and bool(np.all(finite > 0))
        for index, (label, values) in enumerate(lines.items()):
            colour = "0.15" if len(lines) == 1 else f"C{index}"
            _curve(ax, epoch, values, colour, label)
        if finite.size == 0:
            _no_data(ax)
        if log_y:
            ax.set_yscale("log")
            _log_ticks(ax.yaxis, finite.min(), finite.max())
        ax.set(title=panel, xlabel="epoch", ylabel="loss" + (" (log scale)" if log_y else ""))
        _epoch_axis(ax, epoch)
        if len(lines) > 1:
            ax.legend(fontsize=8, loc="best", framealpha=0.85)
        ax.grid(alpha=0.25, which="both" if log_y else "major")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def statistics_over_training(epochs, stats: Mapping, targets: Mapping, path) -> Path:
    """Network statistics against the epoch, one panel per entry, targets dashed.

    File name used by training: ``statistics_over_training.png``.

    ``stats`` maps a name with its unit (``"mean rate E (Hz)"``) to a 1-D
    array (or to a mapping ``{label: array}`` for several curves in a panel),
    one value per epoch, NaN where not computed. ``targets`` maps some of
    those names to a number, drawn as a dashed line (``{}`` for none). A
    panel's colour follows the type named in it (" E"/"excitatory": red,
    " I"/"inhibitory": blue).

    Raises
    ------
    ValueError
        If ``epochs`` is not 1-D and non-empty, ``stats`` is empty, a series
        does not have the length of ``epochs``, or ``targets`` names a key not
        in ``stats``.
    TypeError
        If ``stats`` or ``targets`` is not a mapping.
    """
    epoch = _epochs(epochs)
    panels = _panels(stats, "stats", len(epoch))
    if targets is None:
        targets = {}
    if not isinstance(targets, Mapping):
        raise TypeError(f"targets must be a mapping name -> number, got {type(targets).__name__}")
    unknown = [key for key in targets if key not in panels]
    if unknown:
        raise ValueError(f"targets names keys not in stats: {unknown} (stats has "
                         f"{list(panels)})")
    fig, axes = _grid(len(panels))
    for ax, (panel, lines) in zip(axes, panels.items()):
        for index, (label, values) in enumerate(lines.items()):
            colour = _colour_of_name(panel if len(lines) == 1 else label, index)
            _curve(ax, epoch, values, colour, label if len(lines) > 1 else "_nolegend_")
        if not any(np.isfinite(v).any() for v in lines.values()):
            _no_data(ax)
        if panel in targets and targets[panel] is not None:
            target = float(targets[panel])
            ax.axhline(target, color="k", ls="--", lw=1.2, label=f"target {target:.3g}")
        ax.set(title=panel, xlabel="epoch", ylabel=panel)
        _epoch_axis(ax, epoch)
        ax.yaxis.label.set_size(8)
        if len(lines) > 1 or panel in targets:
            ax.legend(fontsize=8, loc="best", framealpha=0.85)
        ax.grid(alpha=0.25)
    fig.suptitle("Network statistics over training", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def weight_scatter(learned, teacher, path, *, cell_type_of_pre=None,
                   cell_types: Sequence = CELL_TYPES, title: str = "",
                   weight_unit: str = "a.u.") -> Path:
    """Learned (student) against teacher weight of every synapse, log-log, identity dotted.

    File name chosen by the caller (e.g. ``weight_scatter.png``).

    ``learned`` and ``teacher`` are 1-D arrays over the same existing
    synapses. The title gives the Pearson r of the raw weights over all
    finite pairs, and of log |w| over the pairs drawn; ``MAX_SCATTER_POINTS``
    pairs at most are drawn (a fixed-seed subsample, the same every call). A
    log axis shows magnitudes: when a weight is negative (signed inhibitory
    weights) the axes show |w| and the title counts the pairs whose signs
    disagree; pairs with a zero weight cannot be drawn and are counted.
    ``cell_type_of_pre`` (one label per synapse) colours the points.

    Raises
    ------
    ValueError
        If ``learned`` and ``teacher`` are not 1-D of one length, or
        ``cell_type_of_pre`` does not hold one label per synapse or holds a
        label not in ``cell_types``.
    """
    student = np.asarray(learned, dtype=float)
    reference = np.asarray(teacher, dtype=float)
    if student.ndim != 1:
        raise ValueError(f"learned must be 1-D (one weight per synapse), got shape "
                         f"{student.shape}")
    if reference.shape != student.shape:
        raise ValueError(f"teacher must have the shape of learned {student.shape}, got shape "
                         f"{reference.shape}")
    if cell_type_of_pre is None:
        codes, types = np.zeros(student.size, dtype=np.int64), [("synapses", "0.2")]
    else:
        codes, types = _cell_types(cell_type_of_pre, student.size, "learned", cell_types)
    finite = np.isfinite(student) & np.isfinite(reference)
    pearson = _pearson(reference[finite], student[finite])
    signed = bool(np.any(student[finite] < 0) or np.any(reference[finite] < 0))
    disagree = int(np.sum(np.sign(student[finite]) != np.sign(reference[finite])))
    drawable = finite & (student != 0) & (reference != 0)
    n_zero = int(np.sum(finite & ~drawable))
    index = np.flatnonzero(drawable)
    if index.size > MAX_SCATTER_POINTS:
        index = np.sort(np.random.default_rng(0).choice(index, MAX_SCATTER_POINTS,
                                                        replace=False))
    log_r = _pearson(np.log(np.abs(reference[drawable])), np.log(np.abs(student[drawable])))
    x, y = np.abs(reference[index]), np.abs(student[index])

    fig, ax = plt.subplots(figsize=(6.8, 6.4))
    size = 4 if index.size > 2000 else 10
    for code, (name, colour) in enumerate(types):
        chosen = codes[index] == code
        if chosen.any():
            ax.scatter(x[chosen], y[chosen], s=size, color=colour, alpha=0.35,
                       edgecolors="none", label=f"{name} ({int(chosen.sum())} drawn)",
                       rasterized=True)
    if index.size:
        low = min(x.min(), y.min()) / 1.5
        high = max(x.max(), y.max()) * 1.5
        ax.plot([low, high], [low, high], color="k", ls=":", lw=1.2, label="identity")
        ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high), aspect="equal")
        _log_ticks(ax.xaxis, low, high)
        _log_ticks(ax.yaxis, low, high)
        ax.legend(fontsize=8, loc="upper left", framealpha=0.85, markerscale=2)
    else:
        _no_data(ax, "no pair of non-zero finite weights")
    magnitude = "|weight|" if signed else "weight"
    ax.set(xlabel=f"teacher {magnitude} ({weight_unit}, log)",
           ylabel=f"learned {magnitude} ({weight_unit}, log)")
    lines = [title or "Learned vs teacher weights",
             f"Pearson r = {pearson:.3f} ({int(finite.sum())} pairs); "
             f"r of log|w| = {log_r:.3f} ({int(drawable.sum())} non-zero pairs)"]
    notes = []
    if index.size < drawable.sum():
        notes.append(f"{index.size} of {int(drawable.sum())} pairs drawn")
    if n_zero:
        notes.append(f"{n_zero} with a zero weight not drawn")
    if signed:
        notes.append(f"{disagree} pairs with opposite signs")
    if finite.sum() < student.size:
        notes.append(f"{int(student.size - finite.sum())} non-finite left out")
    if notes:
        lines.append("; ".join(notes))
    ax.set_title("\n".join(lines), fontsize=10)
    ax.grid(alpha=0.2, which="major")
    return _save(fig, path)


# =========================================================================== validation
def _positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_float(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}") from None
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _spikes(spike_steps, spike_index, n: int, index_name: str):
    """Validated (steps, indices) as int64 arrays of one length; indices in [0, n)."""
    steps = np.asarray(spike_steps)
    if steps.ndim != 1:
        raise ValueError(f"spike_steps must be 1-D, got shape {steps.shape}")
    if steps.size and steps.dtype.kind not in "iu":
        if steps.dtype.kind != "f" or not np.all(np.isfinite(steps)) \
                or np.any(steps != np.round(steps)):
            raise ValueError(f"spike_steps must be integer time steps, got dtype {steps.dtype}")
    steps = steps.astype(np.int64)
    if steps.size and steps.min() < 0:
        raise ValueError(f"spike_steps must be >= 0, got {steps[steps < 0][:5].tolist()}")
    index = np.asarray(spike_index)
    if index.ndim != 1 or index.shape != steps.shape:
        raise ValueError(f"{index_name} must be 1-D with the length of spike_steps "
                         f"({steps.size}), got shape {index.shape}")
    try:
        index = _spike_indices(index, n)
    except ValueError as error:  # the same message, naming this argument
        raise ValueError(str(error).replace("spike_indices", index_name)) from None
    return steps, index


def _cell_types(cell_type, n: int, n_from: str, cell_types: Sequence):
    """(codes, types): the index in ``cell_types`` of every neuron's label, and the
    (name, colour) of every type in ``cell_types``.

    ``cell_type`` holds labels from ``cell_types`` or, when it is an integer array and
    ``cell_types`` holds no integers, the codes themselves (0 = ``cell_types[0]``, ...).
    """
    labels = np.asarray(cell_type)
    if labels.shape != (n,):
        raise ValueError(f"cell_type must hold one label per neuron, shape ({n},) to match "
                         f"{n_from}, got shape {labels.shape}")
    names = list(cell_types)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"cell_types must be distinct labels, got {cell_types!r}")
    integer_names = any(isinstance(name, (int, np.integer)) for name in names)
    if labels.dtype.kind in "iu" and not integer_names:
        codes = labels.astype(np.int64)
        if np.any((codes < 0) | (codes >= len(names))):
            bad = sorted(set(codes[(codes < 0) | (codes >= len(names))][:1000].tolist()))
            raise ValueError(f"cell_type codes must index cell_types {names} (0 to "
                             f"{len(names) - 1}), got {bad[:5]}")
    else:
        codes = np.full(n, -1, dtype=np.int64)
        for code, name in enumerate(names):
            codes[labels == name] = code
        if np.any(codes < 0):
            unknown = sorted({str(v) for v in labels[codes < 0][:1000]})
            raise ValueError(f"cell_type holds labels not in cell_types {names}: {unknown[:5]}")
    others = iter(_OTHER_COLOURS * (1 + len(names) // len(_OTHER_COLOURS)))
    types = [(str(name), CELL_COLOURS.get(name) or next(others)) for name in names]
    return codes, types


def _per_type(target, types, name: str) -> dict:
    """A target per type code: a number for all, a mapping name -> number, or a sequence in the
    order of ``types``; None/NaN entries are skipped."""
    if target is None:
        return {}
    if isinstance(target, Mapping):
        known = [t for t, _ in types]
        unknown = [key for key in target if key not in known]
        if unknown:
            raise ValueError(f"{name} names types not in cell_types {known}: {unknown}")
        values = {known.index(key): value for key, value in target.items()}
    elif np.ndim(target) == 0:
        values = {code: target for code in range(len(types))}
    else:
        sequence = list(target)
        if len(sequence) != len(types):
            raise ValueError(f"{name} must hold one value per type of cell_types "
                             f"({len(types)}), got {len(sequence)}")
        values = dict(enumerate(sequence))
    return {code: float(v) for code, v in values.items()
            if v is not None and np.isfinite(float(v))}


def _per_neuron_values(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per neuron), got shape {array.shape}")
    if np.any(array[~np.isnan(array)] < 0):
        raise ValueError(f"{name} must be non-negative (or NaN), got negative values")
    return array


def _matrix(weights, name: str):
    """A 2-D scipy.sparse matrix (as CSR) or a dense float array."""
    if sp.issparse(weights):
        matrix = sp.csr_matrix(weights)
        if matrix.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {matrix.shape}")
        return matrix
    matrix = np.asarray(weights, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array or scipy.sparse matrix, got shape "
                         f"{matrix.shape}")
    return matrix


def _nonzero(matrix):
    """(rows, cols, values) of the non-zero finite entries of a sparse or dense matrix."""
    if sp.issparse(matrix):
        coo = matrix.tocoo()
        rows, cols, values = coo.row, coo.col, coo.data
    else:
        rows, cols = np.nonzero(matrix)
        values = matrix[rows, cols]
    keep = (values != 0) & np.isfinite(values)
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64), values[keep]


def _dense_block(matrix, rows, cols) -> np.ndarray:
    if sp.issparse(matrix):
        block = matrix[rows][:, cols].toarray()
    else:
        block = matrix[np.ix_(rows, cols)]
    return np.where(np.isfinite(block), block, 0.0).astype(float)


def _k_entries(values, k: int, name: str, default: list) -> list:
    if values is None:
        return default
    entries = list(np.asarray(values, dtype=object).ravel()) if np.ndim(values) else [values]
    if len(entries) != k:
        raise ValueError(f"{name} must hold one entry per trace of v_mv ({k}), got "
                         f"{len(entries)}")
    return entries


def _epochs(epochs) -> np.ndarray:
    epoch = np.asarray(epochs, dtype=float)
    if epoch.ndim != 1 or epoch.size == 0:
        raise ValueError(f"epochs must be a non-empty 1-D array, got shape {epoch.shape}")
    return epoch


def _panels(series, name: str, n_epochs: int) -> dict:
    """{panel: {label: 1-D float array}} from {panel: array or {label: array}}."""
    if not isinstance(series, Mapping):
        raise TypeError(f"{name} must be a mapping name -> array, got {type(series).__name__}")
    if not series:
        raise ValueError(f"{name} must hold at least one entry, got an empty mapping")
    panels = {}
    for panel, value in series.items():
        lines = value if isinstance(value, Mapping) else {panel: value}
        panels[panel] = {}
        for label, values in lines.items():
            array = np.asarray(values, dtype=float)
            if array.shape != (n_epochs,):
                where = f"{name}[{panel!r}]" + (f"[{label!r}]" if isinstance(value, Mapping)
                                                else "")
                raise ValueError(f"{where} must have the length of epochs ({n_epochs},), got "
                                 f"shape {array.shape}")
            panels[panel][label] = array
    return panels


# =========================================================================== drawing helpers
def _spread(indices: np.ndarray, k: int) -> np.ndarray:
    """At most ``k`` entries of ``indices``, evenly spaced, in their order."""
    if len(indices) <= k:
        return np.asarray(indices)
    return np.asarray(indices)[np.round(np.linspace(0, len(indices) - 1, k)).astype(np.int64)]


def _stratified(codes: np.ndarray, types, max_total: int):
    """Neurons to draw, grouped by type, evenly spaced within each type; each type's share of
    ``max_total`` is its share of the population (at least one row per present type).

    Returns the indices and the blocks ``(start, stop, code)`` of each type in them.
    """
    n = len(codes)
    shown, blocks = [], []
    for code in range(len(types)):
        members = np.flatnonzero(codes == code)
        if members.size == 0:
            continue
        quota = max(1, int(round(max_total * members.size / n)))
        chosen = _spread(members, quota)
        start = sum(len(s) for s in shown)
        blocks.append((start, start + len(chosen), code))
        shown.append(chosen)
    return np.concatenate(shown), blocks


def _raster(steps, index, codes, types, dt_s, path, *, max_rows, window_s, t_start_s, what,
            ylabel, title) -> Path:
    """Raster of a stratified subsample in a time window, and each type's mean rate below."""
    n = len(codes)
    shown, blocks = _stratified(codes, types, max_rows)
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[shown] = np.arange(len(shown))
    start_step = int(math.floor(t_start_s / dt_s + 1e-9))
    stop_step = int(math.ceil((t_start_s + window_s) / dt_s - 1e-9))
    in_window = (steps >= start_step) & (steps < stop_step)
    time_s = steps * dt_s

    fig, (ax, ax_rate) = plt.subplots(2, 1, figsize=(10, 7.2), sharex=True,
                                      gridspec_kw=dict(height_ratios=(3, 1.1), hspace=0.2))
    drawn = in_window & (row_of[index] >= 0)
    marker = max(1.0, min(4.0, 600 / max(len(shown), 1)))
    handles = []
    for start, stop, code in blocks:
        name, colour = types[code]
        chosen = drawn & (codes[index] == code)
        ax.plot(time_s[chosen], row_of[index[chosen]], ls="none", marker="|", ms=marker,
                mew=0.6, color=colour, rasterized=True)
        handles.append(Patch(color=colour, label=f"{name}: {stop - start} of "
                                                 f"{int(np.sum(codes == code))} shown"))
    for start, _, _ in blocks[1:]:
        ax.axhline(start - 0.5, color="0.5", lw=0.6)
    if not drawn.any():
        _no_data(ax, "no spikes in this window")
    _index_ticks(ax.yaxis, shown)
    ax.set(ylabel=ylabel, ylim=(len(shown) - 0.5, -0.5))
    ax.set_title(f"{title}: {len(shown)} of {n} {what} (evenly spaced"
                 f"{' within each type' if len(blocks) > 1 else ''}), "
                 f"t = {t_start_s:.3g}–{t_start_s + window_s:.3g} s", fontsize=10)
    if len(blocks) > 1:
        ax.legend(handles=handles, fontsize=8, loc="upper right", framealpha=0.9)

    # population rate of every type, from all its members, in RATE_BIN_S bins
    bin_steps = max(1, int(round(RATE_BIN_S / dt_s)))
    n_bins = max(1, int(math.ceil((stop_step - start_step) / bin_steps)))
    edges_s = (start_step + np.arange(n_bins + 1) * bin_steps) * dt_s
    slot = (steps[in_window] - start_step) // bin_steps
    window_codes = codes[index[in_window]]
    for code, (name, colour) in enumerate(types):
        members = int(np.sum(codes == code))
        if members == 0:
            continue
        counts = np.bincount(slot[window_codes == code], minlength=n_bins)[:n_bins]
        rate = counts / (members * bin_steps * dt_s)
        ax_rate.stairs(rate, edges_s, color=colour, lw=1.0,
                       label=f"{name} (mean {rate.mean():.3g} Hz)")
    ax_rate.set(xlabel="time (s)", ylabel="rate per neuron (Hz)",
                xlim=(t_start_s, t_start_s + window_s), ylim=(0, None))
    _headroom(ax_rate, 1.45)  # the legend above the curves
    ax_rate.set_title(f"Population rate, all {what}, {bin_steps * dt_s * 1e3:.3g} ms bins",
                      fontsize=9, loc="left")
    ax_rate.legend(fontsize=8, loc="upper right", framealpha=0.85)
    ax_rate.grid(alpha=0.2)
    return _save(fig, path)


def _type_histogram(values, cell_type, cell_types, path, *, name, xlabel, title, reference,
                    reference_label, targets, nan_reason) -> Path:
    """Overlaid per-type histograms (fraction of the type's finite values) on shared bins."""
    codes, types = _cell_types(cell_type, values.size, name, cell_types)
    target = _per_type(targets, types, f"target_{name}")
    finite = np.isfinite(values)
    n_dropped = int((~finite).sum())
    fig, ax = plt.subplots(figsize=(8, 4.8))
    if finite.any():
        high = max(float(np.percentile(values[finite], 99)), reference * 1.2,
                   *[t * 1.1 for t in target.values()])
        bins = np.linspace(0.0, high, 41)
        n_clipped = int(np.sum(values[finite] > high))
    for code, (type_name, colour) in enumerate(types):
        members = codes == code
        chosen = values[members & finite]
        lost = int(np.sum(members & ~finite))
        if chosen.size == 0:
            if members.any():
                ax.plot([], [], color=colour, lw=6, alpha=0.35,
                        label=f"{type_name}: no finite values ({lost} NaN)")
            continue
        weights = np.full(chosen.size, 1.0 / chosen.size)
        clipped = np.minimum(chosen, high)
        label = f"{type_name}: median {np.median(chosen):.3g} (n = {chosen.size}"
        label += f", {lost} NaN: {nan_reason})" if lost else ")"
        ax.hist(clipped, bins=bins, weights=weights, color=colour, alpha=0.3)
        ax.hist(clipped, bins=bins, weights=weights, color=colour, histtype="step", lw=1.3,
                label=label)
        if code in target:
            ax.axvline(target[code], color=colour, ls="--", lw=1.6,
                       label=f"target {type_name}: {target[code]:.3g}")
    ax.axvline(reference, color="k", ls=":", lw=1.4, label=reference_label)
    if finite.any():
        ax.set_xlim(0, high)
        if n_clipped:
            ax.plot([], [], " ", label=f"{n_clipped} value{'s' * (n_clipped > 1)} > "
                                       f"{high:.3g} in the last bin")
    else:
        _no_data(ax, f"no finite values (all {values.size} NaN)")
        ax.set(xlim=(0, 2 * reference), ylim=(0, 1 / 1.45))
    _headroom(ax, 1.45)
    ax.legend(fontsize=8, loc="upper right", framealpha=0.85)
    full = title + (f"\n{n_dropped} of {values.size} neurons NaN ({nan_reason}), left out"
                    if n_dropped else f"\nall {values.size} neurons")
    ax.set(xlabel=xlabel, ylabel="fraction of the type's neurons", title=full)
    ax.grid(alpha=0.2)
    return _save(fig, path)


def _weight_scale(values: np.ndarray, positive_cmap: str = "viridis", span_from_zero=True):
    """(colour map, norm) of weights: symmetric red/blue if any is < 0, else ``positive_cmap``
    from 0 (or from the smallest value, ``span_from_zero=False``) to the largest."""
    values = np.asarray(values, dtype=float)
    largest = float(np.abs(values).max()) if values.size else 0.0
    largest = largest if largest > 0 else 1.0
    if np.any(values < 0):
        return plt.get_cmap("RdBu_r"), Normalize(-largest, largest)
    smallest = 0.0 if span_from_zero or not values.size else float(values.min())
    if smallest >= largest:
        smallest = 0.0
    return plt.get_cmap(positive_cmap), Normalize(smallest, largest)


def _curved_arrows(start: np.ndarray, stop: np.ndarray, node_radius: float,
                   head_length: np.ndarray, bend: float = 0.15, n_points: int = 24):
    """Quadratic Bezier arcs from the rim of each start node to the rim of each stop node
    (bent to the right of the direction of travel), and a triangular head at the end of each.

    Returns the line vertices ``[m, n_points, 2]`` (ending at the base of the head) and the
    heads ``[m, 3, 2]``, in data units (the axes must have an equal aspect).
    """
    chord = stop - start
    normal = np.column_stack([chord[:, 1], -chord[:, 0]])  # to the right of the chord
    control = (start + stop) / 2 + bend * normal
    # parameters where the arc leaves the start node and reaches the head's base, by the
    # chord length: the arc is close enough to its chord for these nodes
    length = np.linalg.norm(chord, axis=1)[:, None]
    t_start = node_radius / length
    t_stop = 1 - (node_radius + head_length[:, None]) / length
    t = t_start + (t_stop - t_start) * np.linspace(0, 1, n_points)[None, :]
    tip_t = 1 - node_radius / length

    def point(t_values):
        t3 = t_values[..., None]
        return ((1 - t3) ** 2 * start[:, None] + 2 * (1 - t3) * t3 * control[:, None]
                + t3 ** 2 * stop[:, None])

    lines = point(t)
    tip = point(tip_t)[:, 0]
    base = lines[:, -1]
    direction = tip - base
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    side = np.column_stack([-direction[:, 1], direction[:, 0]]) * (0.45 * head_length[:, None])
    heads = np.stack([tip, base + side, base - side], axis=1)
    return lines, heads


def _log_edges(values: np.ndarray, n_bins: int, include: Sequence[float] = ()) -> np.ndarray:
    """About ``n_bins`` log-spaced edges over at least a decade around the positive ``values``
    (and the ``include`` values); if all values are whole multiples of one quantum q (time steps,
    one spike in T), the edges lie at (k + 1/2) q, so that every bin holds whole multiples and
    none is narrower than q."""
    low = min([float(values.min()), *include])
    high = max([float(values.max()), *include])
    low, high = min(low, high / 10), max(high, low * 10)  # at least a decade
    edges = np.geomspace(low / 1.05, high * 1.05, n_bins + 1)
    distinct = np.unique(values)
    if distinct.size >= 2:
        quantum = float(np.diff(distinct).min())
        multiples = values / quantum
        if np.allclose(multiples, np.round(multiples), rtol=0, atol=1e-6):
            snapped = np.unique(np.round(edges / quantum - 0.5)) + 0.5
            snapped = snapped[snapped > 0]
            if snapped.size >= 2:
                edges = snapped * quantum
    return edges


def _signed_cmap():
    """RdBu_r without its white centre (white is kept for absent synapses), so that the weakest
    synapse is still clearly red or blue."""
    base = plt.get_cmap("RdBu_r")
    colours = np.vstack([base(np.linspace(0.0, 0.36, 128)), base(np.linspace(0.64, 1.0, 128))])
    return ListedColormap(colours, name="signed_weight").with_extremes(bad="white")


def _robust_limit(magnitudes: np.ndarray, percentile: float = 99.0) -> float:
    """Colour limit: the ``percentile`` of |w| (the maximum if that is 0; 1 without data)."""
    magnitudes = np.abs(magnitudes[np.isfinite(magnitudes)])
    if magnitudes.size == 0:
        return 1.0
    limit = float(np.percentile(magnitudes, percentile))
    limit = limit if limit > 0 else float(magnitudes.max())
    return limit if limit > 0 else 1.0


def _index_ticks(axis, indices: np.ndarray, n_ticks: int = 8):
    """Ticks at a few rows of a subsample, labelled with the real indices of those rows."""
    if len(indices) == 0:
        return
    rows = np.unique(np.round(np.linspace(0, len(indices) - 1, min(n_ticks, len(indices))))
                     .astype(int))
    axis.set_ticks(rows, [str(int(indices[r])) for r in rows])


def _curve(ax, epoch, values, colour, label):
    keep = np.isfinite(values) & np.isfinite(epoch)
    few = keep.sum() <= 30  # markers keep single or sparse points visible
    ax.plot(epoch[keep], values[keep], color=colour, lw=1.3, label=label,
            marker="o" if few else None, ms=3)


def _epoch_axis(ax, epoch: np.ndarray):
    """x limits over all epochs (also for a panel without data), integer ticks for whole epochs."""
    finite = epoch[np.isfinite(epoch)]
    if finite.size:
        span = finite.max() - finite.min()
        pad = max(0.5, 0.03 * span)
        ax.set_xlim(finite.min() - pad, finite.max() + pad)
    if np.all(finite == np.round(finite)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _grid(n_panels: int):
    columns = min(n_panels, 3)
    rows = -(-n_panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.ravel()[n_panels:]:
        ax.set_axis_off()
    return fig, axes.ravel()[:n_panels]


def _colour_of_name(name: str, index: int):
    """The type colour when ``name`` names a type ("excitatory", or E / I as a word:
    "mean rate E (Hz)", "neuron 3 (I)"), else the index-th other colour."""
    if "excitatory" in name.lower() or re.search(r"(?<![A-Za-z])E(?![A-Za-z])", name):
        return CELL_COLOURS["excitatory"]
    if "inhibitory" in name.lower() or re.search(r"(?<![A-Za-z])I(?![A-Za-z])", name):
        return CELL_COLOURS["inhibitory"]
    return "0.15" if index == 0 else f"C{index + 1}"


def _log_ticks(axis, low: float, high: float):
    """Readable labels on a log axis from ``low`` to ``high``: over less than three decades,
    plain numbers (0.2, 5, 50) at 1, 2, 5 x 10^k (every integer x 10^k under one decade);
    wider spans keep matplotlib's powers of ten. Minor ticks stay unlabelled either way."""
    if not (low > 0 and high > low) or high / low >= 1000:
        return
    subs = (1.0, 2.0, 5.0) if high / low >= 10 else tuple(range(1, 10))
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
    axis.set_minor_formatter(NullFormatter())


def _short(type_name: str) -> str:
    return {"excitatory": "E", "inhibitory": "I"}.get(type_name, type_name)


def _headroom(ax, factor: float = 1.3):
    """Raise the top of the y axis so that a legend at the top covers no bar."""
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, bottom + factor * (top - bottom))


def _no_data(ax, message: str = "no finite values"):
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN with fewer than two points or a constant variable."""
    if x.size < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])
