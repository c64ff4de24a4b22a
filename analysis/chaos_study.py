r"""The chaos study's own per-trial measures, reproduced for comparison.

The spiking-RNN heterogeneity study this suite builds on measured, for each
perturbation trial (a control run and a run with one extra spike in neuron
``perturbed_neuron`` at ``perturbation_time_s``), two numbers.  This module
computes them exactly as that study defined them, so that results can be
compared with its tables.  The suite's own measures are different and are
preferred for new work: the LZ76 complexity of ``analysis.complexity`` and the
growth-phase slope of ``analysis.chaos``.

1. **Difference matrix** (``difference_matrix``).  Spikes at or after the
   perturbation are binned relative to it, each run gives a binary
   (neuron x bin) matrix, and the difference marks where they disagree.  In
   milliseconds, with :math:`t_p` the perturbation time and :math:`\Delta`
   the bin,

   .. math::

       b(t) = \operatorname{round}\left(\frac{t - t_p}{\Delta}\right),
       \qquad n_{\mathrm{bins}} = \left\lfloor
       \frac{t_{\mathrm{end}} - t_p}{\Delta} \right\rfloor,

   keeping :math:`0 \le b < n_{\mathrm{bins}}`.  Column 0 is prepended: 1
   at the perturbed neuron, 0 elsewhere; real bin b is column b + 1.
2. **LZ complexity** (``lz_study``), in phrases, unnormalised.  The rows of
   the 0.1 ms difference matrix are sorted by row sum (descending), the
   matrix is read time-major, and the sequence is cut into phrases by a
   dictionary parse (LZ78 style, Ziv & Lempel 1978): each phrase is the
   shortest word at its position that is not yet in the dictionary; the
   last phrase may be a copy.  It is never smaller than the LZ76 count of
   ``analysis.complexity``, whose phrases may copy any earlier word, not
   only an earlier phrase.
3. **Hamming slope** (``hamming_slope_study``), in neurons per ms.  On the
   1 ms difference matrix, the distance :math:`d_c` (differing neurons in
   column c, at the centre :math:`t_c = \Delta/2 + c\Delta`) is fitted by
   least squares against :math:`t_c` in every window of 10 to 29
   consecutive columns after 50 ms; the result is the steepest slope among
   windows whose Pearson correlation exceeds 0.3, or 0.

Quirks of the study kept on purpose
-----------------------------------
* Spikes go to the **nearest** bin (round half to even, as Python and numpy
  round), not the bin that contains them: bin b collects relative times
  in :math:`[(b - 1/2)\Delta, (b + 1/2)\Delta]` (bin 0 only its upper
  half), and spikes later than :math:`(n_{\mathrm{bins}} - 1/2)\Delta` are
  dropped: the last half-bin when the duration is a whole number of bins.
* Times are converted as ``t_ms = t_s * 1000.0`` and
  ``r = t_ms - perturbation_time_s * 1000.0``, keeping ``t_ms >= tp_ms``.
  The study had times in ms on a 0.1 ms grid, where spikes at exact
  half-bins (e.g. 2.5 ms with 1 ms bins) round to even.  From seconds the
  product can land a rounding error either side of the half (0.1025 s
  gives exactly 102.5 ms, other times may not), so such ties may go the
  other way than in the study.  With 0.1 ms bins and spikes on the 0.1 ms
  grid no time is near a half-bin, so the LZ matrix is not affected.
* The prepended column is part of both measures: it is the first column read
  by the LZ parse, and with 1 ms bins its centre is 0.5 ms (before the
  window, so it does not enter the slope with the default start).
* Rows are ordered by ``np.argsort(row_sums)[::-1]`` (row sums as int64)
  with numpy's default, unstable sort, so rows with equal sums come in an
  order that is numpy's choice: here (numpy 1.26 on an AVX-512 CPU) it
  differs between int64 and uint8 sums, and it may differ between numpy
  versions and CPUs.  That changes the count only when tied rows differ,
  not for the many all-zero rows.

References
----------
Ziv J, Lempel A (1978). Compression of individual sequences via
variable-rate coding. IEEE Trans Inf Theory 24:530-536.
doi:10.1109/TIT.1978.1055934
Derrida B, Pomeau Y (1986). Random networks of automata: a simple annealed
approximation. Europhys Lett 1:45-49. doi:10.1209/0295-5075/1/2/001

Implementation and speed
------------------------
``lz_study`` counts phrases with a numba-compiled walk down a binary trie of
the dictionary (every new phrase is an old one plus one symbol, so the
dictionary is prefix-closed), O(n), with a shortcut across runs of zeros;
``lz_study_reference`` is the literal parse with a Python set.  Measured with
``benchmarks/lz_counter.py`` on 1000 x 5001 matrices (5e6 symbols, random,
the protocol's size), medians over three runs on a shared 2-core machine
whose speed varied by about 30 %: 15-27 ms at density 0.001, 25-37 ms at
0.01, 40-52 ms at 0.05 and 50-87 ms at 0.5; about 10 ms of each is the row
sort and the time-major copy.  The reference takes 0.3-0.5 s per million
symbols, 40 (dense) to 120 (sparse) times longer.  ``hamming_slope_study``
uses exact integer prefix sums, 1-2 ms for 500 columns, against 1.1-1.4 s
for ``hamming_slope_study_reference``, which fits each window with
``np.polyfit``.
"""
import math
from numbers import Integral, Real

import numpy as np

__all__ = ["difference_matrix", "lz_study", "hamming_slope_study", "trial_measures",
           "LZ_BIN_MS", "SLOPE_BIN_MS"]

LZ_BIN_MS = 0.1     # bin of the difference matrix for the LZ count (the study's)
SLOPE_BIN_MS = 1.0  # bin of the difference matrix for the Hamming slope (the study's)
_TRIE_START_NODES = 1024  # initial trie capacity, doubled as needed


# ----------------------------------------------------------------------------- difference matrix
def difference_matrix(ctrl_i, ctrl_t_s, pert_i, pert_t_s, n_neurons, perturbation_time_s,
                      end_s, perturbed_neuron, bin_ms):
    r"""Binary (neuron x bin) difference of a control and a perturbed run, the study's way.

    With times in ms, :math:`t_p` = ``perturbation_time_s * 1000.0`` and
    :math:`\Delta` = ``bin_ms``: spikes with :math:`t \ge t_p` go to bin
    :math:`\operatorname{round}((t - t_p)/\Delta)` (half to even), kept if
    below :math:`n_{\mathrm{bins}} = \operatorname{int}((t_{\mathrm{end}} -
    t_p)/\Delta)`; each run gives a binary matrix; the difference is
    ``control != perturbed``, and a column 0 with a single 1 at
    ``perturbed_neuron`` is prepended (real bin b is column b + 1).

    Parameters
    ----------
    ctrl_i, pert_i : array_like of int, shape (n_spikes,)
        Neuron index of each spike of the control and the perturbed run.
    ctrl_t_s, pert_t_s : array_like of float, shape (n_spikes,)
        Spike times in seconds, matching ``ctrl_i`` and ``pert_i``.
    n_neurons : int
        Number of neurons (rows), > 0.
    perturbation_time_s : float
        Time of the perturbation in seconds; earlier spikes are ignored.
    end_s : float
        End of the simulation in seconds, >= ``perturbation_time_s``.
    perturbed_neuron : int
        The perturbed neuron, in ``[0, n_neurons)``.
    bin_ms : float
        Bin width in ms, > 0 (the study: 0.1 for LZ, 1 for the slope).

    Returns
    -------
    numpy.ndarray of uint8, shape (n_neurons, 1 + n_bins)
        1 where the runs differ (and at the perturbed neuron in column 0).

    Raises
    ------
    ValueError
        If an argument is out of range, the spike arrays are not 1-D and of
        equal length, a neuron index is outside ``[0, n_neurons)`` or a time
        is not finite.
    TypeError
        If neuron indices or counts are not integers.

    Examples
    --------
    Perturbation at 0.1 s, end at 0.104 s, 1 ms bins (4 bins).  Neuron 0
    fires 1 ms after the perturbation in the control run and 2 ms after in
    the perturbed one; neuron 1 spikes at 2.5 ms, which rounds to bin 2:

    >>> difference_matrix([0, 1], [0.101, 0.1025], [0, 1], [0.102, 0.1025],
    ...                   n_neurons=2, perturbation_time_s=0.1, end_s=0.104,
    ...                   perturbed_neuron=1, bin_ms=1.0).tolist()
    [[0, 0, 1, 1, 0], [1, 0, 0, 0, 0]]
    """
    n_neurons = _positive_int(n_neurons, "n_neurons")
    perturbed_neuron = _int_in_range(perturbed_neuron, "perturbed_neuron", n_neurons)
    tp_ms, n_bins = _bin_grid(perturbation_time_s, end_s, bin_ms)
    control = _binary_raster(ctrl_i, ctrl_t_s, "ctrl", n_neurons, tp_ms, bin_ms, n_bins)
    perturbed = _binary_raster(pert_i, pert_t_s, "pert", n_neurons, tp_ms, bin_ms, n_bins)
    difference = np.zeros((n_neurons, 1 + n_bins), dtype=np.uint8)
    difference[perturbed_neuron, 0] = 1
    np.not_equal(control, perturbed, out=difference[:, 1:])
    return difference


def difference_matrix_reference(ctrl_i, ctrl_t_s, pert_i, pert_t_s, n_neurons,
                                perturbation_time_s, end_s, perturbed_neuron, bin_ms):
    """``difference_matrix`` with a Python loop over spikes and Python's ``round`` (for tests).

    >>> difference_matrix_reference([0], [0.101], [], [], 1, 0.1, 0.103, 0, 1.0).tolist()
    [[1, 0, 1, 0]]
    """
    tp_ms = perturbation_time_s * 1000.0
    n_bins = int((end_s * 1000.0 - tp_ms) / bin_ms)
    rasters = []
    for neurons, times_s in ((ctrl_i, ctrl_t_s), (pert_i, pert_t_s)):
        raster = np.zeros((n_neurons, n_bins), dtype=bool)
        for neuron, t_s in zip(neurons, times_s):
            t_ms = float(t_s) * 1000.0
            if t_ms >= tp_ms:
                b = round((t_ms - tp_ms) / bin_ms)
                if 0 <= b < n_bins:
                    raster[int(neuron), b] = True
        rasters.append(raster)
    first = np.zeros((n_neurons, 1), dtype=bool)
    first[perturbed_neuron] = True
    return np.hstack([first, rasters[0] != rasters[1]]).astype(np.uint8)


def _bin_grid(perturbation_time_s, end_s, bin_ms):
    """Perturbation time in ms and number of bins, from validated arguments."""
    tp_s = _finite_float(perturbation_time_s, "perturbation_time_s")
    end_s = _finite_float(end_s, "end_s")
    bin_ms = _finite_float(bin_ms, "bin_ms")
    if bin_ms <= 0:
        raise ValueError(f"bin_ms must be > 0, got {bin_ms!r}")
    if end_s < tp_s:
        raise ValueError(f"end_s must be >= perturbation_time_s ({tp_s!r}), got {end_s!r}")
    tp_ms = tp_s * 1000.0
    return tp_ms, int((end_s * 1000.0 - tp_ms) / bin_ms)  # int(): truncation, as the study


def _binary_raster(neurons, times_s, name, n_neurons, tp_ms, bin_ms, n_bins):
    """Binary (neuron x bin) matrix of one run: nearest bin after the perturbation."""
    neuron, bins = _occupied(neurons, times_s, name, n_neurons, tp_ms, bin_ms, n_bins)
    raster = np.zeros((n_neurons, n_bins), dtype=bool)
    raster[neuron, bins] = True
    return raster


def _occupied(neurons, times_s, name, n_neurons, tp_ms, bin_ms, n_bins):
    """``(neuron, bin)`` of every spike that lands in a bin after the perturbation (int64)."""
    neurons = np.asarray(neurons)
    times_s = np.asarray(times_s)
    if neurons.ndim != 1 or times_s.ndim != 1 or neurons.size != times_s.size:
        raise ValueError(f"{name}_i and {name}_t_s must be 1-D of equal length, "
                         f"got shapes {neurons.shape} and {times_s.shape}")
    if neurons.size and not np.issubdtype(neurons.dtype, np.integer):
        raise TypeError(f"{name}_i must hold integer neuron indices, got dtype {neurons.dtype}")
    if times_s.size and not (np.issubdtype(times_s.dtype, np.floating)
                             or np.issubdtype(times_s.dtype, np.integer)):
        raise TypeError(f"{name}_t_s must hold spike times in s, got dtype {times_s.dtype}")
    if neurons.size and (neurons.min() < 0 or neurons.max() >= n_neurons):
        bad = neurons[(neurons < 0) | (neurons >= n_neurons)][:5].tolist()
        raise ValueError(f"{name}_i must be in [0, n_neurons={n_neurons}), got {bad}")
    neurons = neurons.astype(np.int64, copy=False)  # also an empty list, read as float
    t_ms = times_s.astype(float) * 1000.0
    if not np.isfinite(t_ms).all():
        raise ValueError(f"{name}_t_s must be finite, got {t_ms[~np.isfinite(t_ms)][:5] / 1000.0}")
    after = t_ms >= tp_ms
    bins = np.round((t_ms[after] - tp_ms) / bin_ms)  # nearest bin, half to even
    inside = bins < n_bins  # relative times are >= 0, so bins are too
    return neurons[after][inside], bins[inside].astype(np.int64)


# ----------------------------------------------------------------------------- LZ complexity
def lz_study(difference):
    """The study's LZ complexity of a difference matrix: dictionary phrases, unnormalised.

    The rows are ordered by ``np.argsort(row_sums)[::-1]`` (most active
    first), the matrix is read time-major (``matrix[order].flatten(order="F")``)
    and the sequence s (length n) is parsed from i = 0: the phrase at i is
    the shortest word s[i:i+l] not in the dictionary, which it then joins;
    if every word up to the end is in the dictionary, the rest s[i:] is the
    last phrase (a copy).  The result is the number of phrases: about
    sqrt(2n) for a constant sequence, of the order of n / log2(n) for a
    random one.

    Parameters
    ----------
    difference : array_like of bool or int, shape (n_neurons, n_columns)
        Binary difference matrix, normally ``difference_matrix(...,
        bin_ms=LZ_BIN_MS)``.

    Returns
    -------
    int
        Number of phrases (0 for an empty matrix).

    Raises
    ------
    ValueError
        If ``difference`` is not 2-D or holds values other than 0 and 1.
    TypeError
        If its dtype is not boolean or numeric.

    References
    ----------
    Ziv J, Lempel A (1978). IEEE Trans Inf Theory 24:530.
    doi:10.1109/TIT.1978.1055934

    Examples
    --------
    One row is read as it is: 0 | 1 | 01 | 10 and 1 | 11 | 111 | 1 (a copy).

    >>> lz_study([[0, 1, 0, 1, 1, 0]])
    4
    >>> lz_study([[1, 1, 1, 1, 1, 1, 1]])
    4

    Rows are sorted by activity, then read column by column: 10 10 00 01.

    >>> lz_study([[0, 0, 0, 1], [1, 1, 0, 0]]) == lz_study([[1, 0, 1, 0, 0, 0, 0, 1]])
    True
    """
    matrix = _binary_matrix(difference, "difference")
    sequence = _study_sequence(matrix)
    return int(_compiled(_trie_phrase_count)(sequence))


def lz_study_reference(difference):
    """``lz_study`` parsed literally with a Python set of phrases (tests; ~0.4 s per 1e6 symbols).

    >>> lz_study_reference([[0, 0, 0, 0]])  # 0 | 00 | 0 (a copy)
    3
    """
    matrix = _binary_matrix(difference, "difference")
    order = np.argsort(matrix.sum(axis=1, dtype=np.int64))[::-1]
    s = matrix[order].flatten(order="F").tobytes()
    n = len(s)
    dictionary = set()
    phrases = 0
    i = 0
    while i < n:
        length = 1
        while i + length <= n and s[i:i + length] in dictionary:
            length += 1
        dictionary.add(s[i:i + length] if i + length <= n else s[i:])
        phrases += 1
        i += length
    return phrases


def _study_sequence(matrix):
    """Rows by descending sum (the study's expression), then read time-major, as uint8."""
    accumulator = np.int32 if matrix.shape[1] < 2**31 else np.int64  # int32: 3x faster
    row_sums = matrix.sum(axis=1, dtype=accumulator).astype(np.int64)  # sorted as int64
    order = np.argsort(row_sums)[::-1]
    return matrix[order].flatten(order="F")


def _trie_phrase_count(s):
    """Number of phrases of the dictionary (LZ78-style) parse of a uint8 0/1 array (numba kernel).

    The dictionary is prefix-closed (a new phrase is a phrase already in it,
    or the empty word, plus one symbol), so it is a binary trie: node 0 is
    the empty word and ``child[2v + a]`` the node of word(v) + a, or -1.  A
    phrase walks down from the root one symbol at a time and ends by adding
    the missing child; if s ends first, the walk ended on a word already in
    the dictionary, which is the last phrase.  O(n) time.

    Shortcut for sparse input: the root's chain of zeros holds exactly the
    words 0, 00, ..., 0^depth (it only grows at its end, by a phrase of
    zeros), with ``zeros[j]`` the node of 0^j.  A phrase starting with r
    zeros jumps to ``zeros[min(r, depth + 1)]`` after counting them, instead
    of stepping through the trie; depth <= sqrt(2n) because the phrases
    0, 00, ... take 1 + 2 + ... symbols.

    The trie arrays start at ``_TRIE_START_NODES`` nodes and double; the check
    is made once per phrase (a phrase adds at most one node), since growing
    the array inside the inner loop made numba's loop 2-5 times slower.

    Written in the subset of Python that numba compiles; call it through
    ``_compiled``.
    """
    n = s.size
    capacity = _TRIE_START_NODES
    child = np.empty(2 * capacity, dtype=np.int32)
    child[0] = -1
    child[1] = -1
    zeros = np.empty(int(math.sqrt(2.0 * n)) + 3, dtype=np.int32)
    zeros[0] = 0
    depth = 0
    nodes = 1
    phrases = 0
    i = 0
    while i < n:  # one phrase per pass, from the root
        if nodes == capacity:
            grown = np.empty(4 * capacity, dtype=np.int32)
            grown[:2 * capacity] = child
            child = grown
            capacity *= 2
        phrases += 1
        node = 0
        if s[i] == 0:
            run = 1  # zeros at i, counted up to depth + 1
            while run <= depth and i + run < n and s[i + run] == 0:
                run += 1
            if run > depth:  # 0^(depth+1) is new: the phrase ends with it
                child[2 * zeros[depth]] = nodes
                child[2 * nodes] = -1
                child[2 * nodes + 1] = -1
                depth += 1
                zeros[depth] = nodes
                nodes += 1
                i += depth
                continue
            node = zeros[run]  # then a 1 (leaving the chain) or the end of s
            i += run
        while i < n:
            k = 2 * node + s[i]
            i += 1
            node = child[k]
            if node == -1:  # a new word: the phrase ends
                child[k] = nodes
                child[2 * nodes] = -1
                child[2 * nodes + 1] = -1
                nodes += 1
                break
    return phrases


# ----------------------------------------------------------------------------- Hamming slope
def hamming_slope_study(difference_1ms, bin_ms=SLOPE_BIN_MS, window_start_ms=50.0,
                        min_window=10, max_window=29, min_correlation=0.3):
    r"""The study's Hamming slope: steepest well-correlated linear growth, neurons per ms.

    The distance in column c is :math:`d_c = \sum_i D_{ic}`, at the column
    centre :math:`t_c = \Delta/2 + c\,\Delta` (the prepended column is c = 0).
    Over the columns with :math:`t_c \ge` ``window_start_ms``, every window of
    L consecutive columns, ``min_window`` <= L <= ``max_window``, gets the
    least-squares slope and the Pearson correlation of d against t,

    .. math::

        \beta = \frac{L S_{td} - S_t S_d}{L S_{tt} - S_t^2}, \qquad
        r = \frac{L S_{td} - S_t S_d}
                 {\sqrt{(L S_{tt} - S_t^2)(L S_{dd} - S_d^2)}}

    (S the sums over the window).  The result is :math:`\max(0, \max \beta)`
    over windows with :math:`r >` ``min_correlation``; a window with
    constant d has no correlation and never counts.

    Parameters
    ----------
    difference_1ms : array_like of bool or int, shape (n_neurons, n_columns)
        Binary difference matrix with its prepended column, normally
        ``difference_matrix(..., bin_ms=SLOPE_BIN_MS)``.
    bin_ms : float, default 1.0
        Width of its bins in ms, > 0.
    window_start_ms : float, default 50.0
        Columns whose centre is earlier are ignored.
    min_window, max_window : int, default 10 and 29
        Window lengths in columns, 2 <= min_window <= max_window (the
        study's ``range(10, min(n + 1, 30))``).
    min_correlation : float, default 0.3
        A window counts only if its correlation is strictly greater.

    Returns
    -------
    float
        The slope in neurons per ms, >= 0; 0.0 when fewer than
        ``min_window`` columns remain or no window counts.

    Raises
    ------
    ValueError
        If the matrix is not 2-D binary or a parameter is out of range.
    TypeError
        If the matrix dtype is not boolean or numeric, or a window length
        is not an integer.

    Notes
    -----
    Sums over windows come from prefix sums of :math:`d_c`, :math:`d_c^2` and
    :math:`k d_c` (k the column's index after the start) in int64, with t
    replaced by the window-local index j = 0..L-1 (slope and correlation
    are then exact integer expressions, divided by :math:`\Delta` at the
    end).  Because they are exact, a constant window has a variance of
    exactly 0: no tolerance is needed to exclude it.  Cost O(n (max_window
    - min_window)).

    Examples
    --------
    Distance 2 (c - 50) from column 50 (centre 50.5 ms) on: slope 2 per ms.

    >>> d = [0] * 50 + [2 * k for k in range(20)]
    >>> matrix = [[int(row < dc) for dc in d] for row in range(40)]
    >>> hamming_slope_study(matrix)
    2.0
    """
    matrix = _binary_matrix(difference_1ms, "difference_1ms")
    return _slope_of_distance(matrix.sum(axis=0, dtype=np.int64), bin_ms, window_start_ms,
                              min_window, max_window, min_correlation)


def _slope_of_distance(distance, bin_ms=SLOPE_BIN_MS, window_start_ms=50.0, min_window=10,
                       max_window=29, min_correlation=0.3):
    """:func:`hamming_slope_study` from the column sums (int64) of the difference matrix."""
    bin_ms, window_start_ms, min_window, max_window, min_correlation = _slope_parameters(
        bin_ms, window_start_ms, min_window, max_window, min_correlation)
    centres_ms = bin_ms / 2 + np.arange(distance.size) * bin_ms
    d = distance[centres_ms >= window_start_ms]
    n = d.size
    if n < min_window:
        return 0.0
    k = np.arange(n, dtype=np.int64)
    prefix_d = np.concatenate(([0], np.cumsum(d)))
    prefix_dd = np.concatenate(([0], np.cumsum(d * d)))
    prefix_kd = np.concatenate(([0], np.cumsum(k * d)))
    best = 0.0
    for length in range(min_window, min(max_window, n) + 1):
        start = np.arange(n - length + 1)
        stop = start + length
        sum_d = prefix_d[stop] - prefix_d[start]
        sum_jd = prefix_kd[stop] - prefix_kd[start] - start * sum_d  # j = k - start
        sum_j = length * (length - 1) // 2
        var_j = length * length * (length * length - 1) // 12  # L S_jj - S_j^2
        cov = length * sum_jd - sum_j * sum_d
        var_d = length * (prefix_dd[stop] - prefix_dd[start]) - sum_d * sum_d
        varying = var_d > 0
        correlation = cov[varying] / np.sqrt(float(var_j) * var_d[varying])
        counted = cov[varying][correlation > min_correlation]
        if counted.size:
            best = max(best, float(counted.max()) / var_j / bin_ms)
    return float(best)


def hamming_slope_study_reference(difference_1ms, bin_ms=SLOPE_BIN_MS, window_start_ms=50.0,
                                  min_window=10, max_window=29, min_correlation=0.3):
    """``hamming_slope_study`` by brute force: ``np.polyfit``, ``np.corrcoef`` per window (tests).

    >>> hamming_slope_study_reference([[1] * 60] * 3)  # constant distance
    0.0
    """
    distance = np.asarray(difference_1ms).sum(axis=0).astype(float)
    centres_ms = bin_ms / 2 + np.arange(distance.size) * bin_ms
    kept = centres_ms >= window_start_ms
    d, t = distance[kept], centres_ms[kept]
    n = d.size
    best = 0.0
    for length in range(min_window, min(n + 1, max_window + 1)):
        for start in range(n - length + 1):
            d_w, t_w = d[start:start + length], t[start:start + length]
            if np.all(d_w == d_w[0]):
                continue  # correlation undefined
            if np.corrcoef(t_w, d_w)[0, 1] > min_correlation:
                best = max(best, float(np.polyfit(t_w, d_w, 1)[0]))
    return best


def _slope_parameters(bin_ms, window_start_ms, min_window, max_window, min_correlation):
    bin_ms = _finite_float(bin_ms, "bin_ms")
    if bin_ms <= 0:
        raise ValueError(f"bin_ms must be > 0, got {bin_ms!r}")
    window_start_ms = _finite_float(window_start_ms, "window_start_ms")
    min_window = _positive_int(min_window, "min_window")
    max_window = _positive_int(max_window, "max_window")
    if min_window < 2:
        raise ValueError(f"min_window must be >= 2 (a slope needs two points), got {min_window}")
    if max_window < min_window:
        raise ValueError(f"max_window must be >= min_window ({min_window}), got {max_window}")
    min_correlation = _finite_float(min_correlation, "min_correlation")
    return bin_ms, window_start_ms, min_window, max_window, min_correlation


# ----------------------------------------------------------------------------- one trial
def trial_measures(ctrl_i, ctrl_t_s, pert_i, pert_t_s, n_neurons, perturbation_time_s,
                   end_s, perturbed_neuron):
    """The study's two measures of one trial: ``(lz_study, hamming_slope_study)``.

    LZ on the difference matrix with ``LZ_BIN_MS`` (0.1 ms) bins, the slope
    on the one with ``SLOPE_BIN_MS`` (1 ms) bins, default windows; the
    arguments are those of :func:`difference_matrix`.

    Returns
    -------
    tuple of (int, float)
        Phrases (unnormalised) and neurons per ms.

    Examples
    --------
    Identical runs of one neuron over 1 s: only the prepended column differs,
    so the sequence is 1 and then 10 000 zeros, which parse as 1 | 0 | 00 |
    ... | 0^140 (9870 zeros) and a copy of 0^130, 142 phrases:

    >>> trial_measures([0], [0.2], [0], [0.2], 1, 0.0, 1.0, 0)
    (142, 0.0)
    """
    n_neurons = _positive_int(n_neurons, "n_neurons")
    perturbed_neuron = _int_in_range(perturbed_neuron, "perturbed_neuron", n_neurons)
    # LZ: the time-major sequence of the row-sorted matrix, written from the differing
    # (bin, neuron) pairs alone (the dense matrix, sort and transposed copy are the cost)
    n_bins, bins, neurons = _differing(ctrl_i, ctrl_t_s, pert_i, pert_t_s, n_neurons,
                                       perturbation_time_s, end_s, LZ_BIN_MS)
    row_sums = np.bincount(neurons, minlength=n_neurons).astype(np.int64)
    row_sums[perturbed_neuron] += 1                     # the prepended column
    order = np.argsort(row_sums)[::-1]                  # as _study_sequence sorts them
    rank = np.empty(n_neurons, dtype=np.int64)
    rank[order] = np.arange(n_neurons)
    sequence = np.zeros((1 + n_bins) * n_neurons, dtype=np.uint8)
    sequence[rank[perturbed_neuron]] = 1
    sequence[(bins + 1) * n_neurons + rank[neurons]] = 1
    lz = int(_compiled(_trie_phrase_count)(sequence))
    # slope: only the column sums of the 1 ms matrix
    n_bins, bins, _ = _differing(ctrl_i, ctrl_t_s, pert_i, pert_t_s, n_neurons,
                                 perturbation_time_s, end_s, SLOPE_BIN_MS)
    distance = np.bincount(bins + 1, minlength=1 + n_bins).astype(np.int64)
    distance[0] = 1
    return lz, _slope_of_distance(distance)


def _differing(ctrl_i, ctrl_t_s, pert_i, pert_t_s, n_neurons, perturbation_time_s, end_s,
               bin_ms):
    """``(n_bins, bins, neurons)`` of the cells where the two binary rasters differ.

    The cells of :func:`difference_matrix` (without its prepended column)
    that hold 1, found from the spikes as the symmetric difference of the
    two runs' sets of occupied ``(bin, neuron)`` cells.
    """
    tp_ms, n_bins = _bin_grid(perturbation_time_s, end_s, bin_ms)
    cells = []
    for neurons, times_s, name in ((ctrl_i, ctrl_t_s, "ctrl"), (pert_i, pert_t_s, "pert")):
        neuron, binned = _occupied(neurons, times_s, name, n_neurons, tp_ms, bin_ms, n_bins)
        cells.append(np.unique(binned * n_neurons + neuron))
    differ = np.setxor1d(cells[0], cells[1], assume_unique=True)
    return n_bins, differ // n_neurons, differ % n_neurons


# ----------------------------------------------------------------------------- helpers
def _binary_matrix(x, name):
    """Validate a 2-D 0/1 matrix and return it as C-contiguous uint8."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (neurons, bins), got shape {arr.shape}")
    if arr.dtype == bool:
        return np.ascontiguousarray(arr).view(np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must hold binary values 0/1, got dtype {arr.dtype}")
    if arr.dtype == np.uint8:
        if arr.size and arr.max() > 1:
            raise ValueError(f"{name} must hold only 0 and 1, got values up to {arr.max()}")
        return np.ascontiguousarray(arr)
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise ValueError(f"{name} must hold only 0 and 1, got other values such as "
                         f"{np.unique(arr[bad])[:5].tolist()}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _finite_float(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return int(value)


def _int_in_range(value, name, stop):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not 0 <= value < stop:
        raise ValueError(f"{name} must be in [0, {stop}), got {value!r}")
    return int(value)


_COMPILED = {}  # kernel name -> numba dispatcher, filled on first use


def _compiled(kernel):
    """The numba-compiled ``kernel``; numba is imported and the kernel compiled on first use.

    Importing this module stays cheap; ``cache=True`` keeps the machine code
    in ``__pycache__`` beside this file for later processes.  (The same
    helper as in ``analysis.complexity``, kept local so each module stands
    alone.)
    """
    dispatcher = _COMPILED.get(kernel.__name__)
    if dispatcher is None:
        import numba

        dispatcher = _COMPILED[kernel.__name__] = numba.njit(cache=True)(kernel)
    return dispatcher
