"""Spike-train statistics and binning: ISIs, CV, LV, Fano factor, rates.

All times are in seconds (``spike_times_s``), rates in hertz.  Spikes of a
population come as two parallel arrays, the neuron index and the time of each
spike, as a spike monitor records them.

References
----------
Softky WR, Koch C (1993). The highly irregular firing of cortical cells is
inconsistent with temporal integration of random EPSPs. J Neurosci
13:334-350. doi:10.1523/JNEUROSCI.13-01-00334.1993 (CV of the ISI)
Shinomoto S, Shima K, Tanji J (2003). Differences in spiking patterns among
cortical neurons. Neural Comput 15:2823-2842. doi:10.1162/089976603322518759
(local variation)
Fano U (1947). Ionization yield of radiations. II. The fluctuations of the
number of ions. Phys Rev 72:26-29. doi:10.1103/PhysRev.72.26
"""
import numpy as np

__all__ = ["isi", "cv_isi", "local_variation", "fano_factor", "firing_rates", "bin_spikes"]

_EDGE_TOLERANCE = 1e-9  # in bin widths: times this close below an edge count as on it


def isi(spike_times_s):
    r"""Inter-spike intervals of one spike train.

    .. math:: I_k = t_{k+1} - t_k, \qquad k = 1, \dots, n_{\mathrm{spikes}} - 1

    Parameters
    ----------
    spike_times_s : array_like, shape (n_spikes,)
        Spike times in seconds, sorted ascending (equal times allowed).

    Returns
    -------
    numpy.ndarray of float, shape (max(n_spikes - 1, 0),)
        Intervals in seconds.

    Raises
    ------
    ValueError
        If ``spike_times_s`` is not 1-D, not finite, or not sorted ascending.

    Examples
    --------
    >>> isi([0.0, 0.1, 0.3, 0.6]).round(3).tolist()
    [0.1, 0.2, 0.3]
    """
    t = _spike_times(spike_times_s)
    intervals = np.diff(t)
    if np.any(intervals < 0):
        first = int(np.flatnonzero(intervals < 0)[0])
        raise ValueError(f"spike_times_s must be sorted ascending, got {t[first]!r} "
                         f"before {t[first + 1]!r} at index {first}")
    return intervals


def cv_isi(spike_times_s):
    r"""Coefficient of variation of one train's inter-spike intervals.

    .. math:: \mathrm{CV} = \frac{\operatorname{std}(I)}{\operatorname{mean}(I)}

    with the population standard deviation (ddof = 0).  CV = 1 for a Poisson
    process, 0 for a regular train (Softky & Koch 1993).

    Parameters
    ----------
    spike_times_s : array_like, shape (n_spikes,)
        Spike times in seconds, sorted ascending.

    Returns
    -------
    float
        The CV; NaN with fewer than two intervals (fewer than three spikes)
        or when all intervals are zero.

    Raises
    ------
    ValueError
        As :func:`isi`.

    References
    ----------
    Softky WR, Koch C (1993). J Neurosci 13:334.
    doi:10.1523/JNEUROSCI.13-01-00334.1993

    Examples
    --------
    >>> round(cv_isi([0.0, 0.1, 0.3, 0.6]), 3)
    0.408
    >>> cv_isi([0.0, 0.1])
    nan
    """
    intervals = isi(spike_times_s)
    if intervals.size < 2:
        return float("nan")
    mean = intervals.mean()
    if mean == 0.0:
        return float("nan")
    return float(intervals.std() / mean)


def local_variation(spike_times_s):
    r"""Local variation LV of one train's inter-spike intervals.

    For n intervals :math:`I_1, \dots, I_n` (Shinomoto et al. 2003):

    .. math::

        \mathrm{LV} = \frac{3}{n-1}\sum_{i=1}^{n-1}
                      \left(\frac{I_i - I_{i+1}}{I_i + I_{i+1}}\right)^2 .

    LV = 1 for a Poisson process and 0 for a regular train; unlike the CV it
    compares neighbouring intervals only, so slow rate changes do not raise it.

    Parameters
    ----------
    spike_times_s : array_like, shape (n_spikes,)
        Spike times in seconds, sorted ascending.

    Returns
    -------
    float
        LV; NaN with fewer than two intervals (fewer than three spikes).

    Raises
    ------
    ValueError
        As :func:`isi`, or if two consecutive intervals are both zero (the
        ratio is then undefined).

    References
    ----------
    Shinomoto S, Shima K, Tanji J (2003). Neural Comput 15:2823.
    doi:10.1162/089976603322518759

    Examples
    --------
    Intervals 0.1, 0.2, 0.3 s: 3/2 * ((1/3)^2 + (1/5)^2) = 0.2267

    >>> round(local_variation([0.0, 0.1, 0.3, 0.6]), 4)
    0.2267
    >>> local_variation([0.0, 0.5, 1.0, 1.5])
    0.0
    """
    intervals = isi(spike_times_s)
    if intervals.size < 2:
        return float("nan")
    sums = intervals[:-1] + intervals[1:]
    if np.any(sums == 0):
        raise ValueError("spike_times_s has two consecutive zero intervals (three equal "
                         "spike times); the local variation is undefined")
    ratio = (intervals[:-1] - intervals[1:]) / sums
    return float(3.0 * np.mean(ratio ** 2))


def fano_factor(counts):
    r"""Fano factor of spike counts: variance over mean.

    .. math:: F = \frac{\operatorname{var}(N)}{\operatorname{mean}(N)}

    with the population variance (ddof = 0).  F = 1 for Poisson counts
    (Fano 1947).

    Parameters
    ----------
    counts : array_like, shape (n_counts,)
        Non-negative spike counts, e.g. of one neuron over trials or windows,
        or of several neurons in one window.

    Returns
    -------
    float
        F; NaN when the mean count is 0.

    Raises
    ------
    ValueError
        If ``counts`` is not a non-empty 1-D array of finite, non-negative
        values.

    References
    ----------
    Fano U (1947). Phys Rev 72:26. doi:10.1103/PhysRev.72.26

    Examples
    --------
    >>> fano_factor([2, 4, 6])
    0.6666666666666666
    >>> fano_factor([0, 0])
    nan
    """
    n = np.asarray(counts, dtype=float)
    if n.ndim != 1 or n.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array, got shape {n.shape}")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ValueError("counts must be finite and non-negative")
    mean = n.mean()
    if mean == 0.0:
        return float("nan")
    return float(n.var() / mean)


def firing_rates(spike_indices, n_neurons, duration_s):
    r"""Mean firing rate of every neuron, in hertz.

    .. math:: r_i = \frac{\#\{\text{spikes of neuron } i\}}{T}

    Parameters
    ----------
    spike_indices : array_like of int, shape (n_spikes,)
        Neuron index of each spike, in ``[0, n_neurons)``.
    n_neurons : int
        Number of neurons, >= 1.
    duration_s : float
        Recording duration T in seconds, > 0.

    Returns
    -------
    numpy.ndarray of float, shape (n_neurons,)
        Rates in Hz (0 for silent neurons).

    Raises
    ------
    ValueError
        If an index is out of range or not an integer, ``n_neurons`` is not
        a positive integer, or ``duration_s`` is not > 0.

    Examples
    --------
    >>> firing_rates([0, 2, 2, 2], n_neurons=3, duration_s=2.0).tolist()
    [0.5, 0.0, 1.5]
    """
    n_neurons = _n_neurons(n_neurons)
    idx = _spike_indices(spike_indices, n_neurons)
    duration_s = float(duration_s)
    if not (np.isfinite(duration_s) and duration_s > 0.0):
        raise ValueError(f"duration_s must be a finite number > 0, got {duration_s!r}")
    return np.bincount(idx, minlength=n_neurons) / duration_s


def bin_spikes(spike_indices, spike_times_s, n_neurons, t_start_s, t_stop_s, bin_s,
               binary=True):
    r"""Bin a population's spikes into a (neurons, bins) matrix.

    With :math:`n_{\mathrm{bins}} = \mathrm{round}((t_{\mathrm{stop}} -
    t_{\mathrm{start}})/\Delta)`, a spike at time t goes to bin

    .. math:: k = \left\lfloor \frac{t - t_{\mathrm{start}}}{\Delta} + 10^{-9} \right\rfloor ,

    and is kept if :math:`0 \le k < n_{\mathrm{bins}}`, i.e. spikes outside
    :math:`[t_{\mathrm{start}}, t_{\mathrm{stop}})` are ignored.  The
    :math:`10^{-9}` (in bin widths) puts a time that floating point leaves
    just below a bin edge, such as ``0.3 / 0.1 = 2.9999999999999996``, on that
    edge; the same applies at ``t_start`` (kept) and ``t_stop`` (dropped).

    Parameters
    ----------
    spike_indices : array_like of int, shape (n_spikes,)
        Neuron index of each spike, in ``[0, n_neurons)``.
    spike_times_s : array_like of float, shape (n_spikes,)
        Spike times in seconds (any order).
    n_neurons : int
        Number of rows, >= 1.
    t_start_s, t_stop_s : float
        Time range in seconds, ``t_stop_s > t_start_s``.
    bin_s : float
        Bin width in seconds; ``(t_stop_s - t_start_s) / bin_s`` must be an
        integer to within 1e-6.
    binary : bool, default True
        True: uint8 0/1 "spiked in bin"; False: int32 spike counts.

    Returns
    -------
    numpy.ndarray, shape (n_neurons, n_bins)
        uint8 if ``binary`` else int32.

    Raises
    ------
    ValueError
        If the arrays are not 1-D or differ in length, an index is out of
        range, a time is not finite, the time range or bin width is not
        positive, or the range is not a whole number of bins.

    Examples
    --------
    >>> bin_spikes([0, 1, 1, 1], [0.05, 0.1, 0.12, 0.35], n_neurons=2,
    ...            t_start_s=0.0, t_stop_s=0.3, bin_s=0.1, binary=False).tolist()
    [[1, 0, 0], [0, 2, 0]]
    """
    n_neurons = _n_neurons(n_neurons)
    idx = _spike_indices(spike_indices, n_neurons)
    t = np.asarray(spike_times_s, dtype=float)
    if t.ndim != 1:
        raise ValueError(f"spike_times_s must be 1-D, got shape {t.shape}")
    if t.shape != idx.shape:
        raise ValueError(f"spike_indices and spike_times_s must have the same length, "
                         f"got {idx.size} and {t.size}")
    if not np.all(np.isfinite(t)):
        raise ValueError("spike_times_s must be finite, got NaN or inf values")
    t_start_s, t_stop_s, bin_s = float(t_start_s), float(t_stop_s), float(bin_s)
    if not (np.isfinite(t_start_s) and np.isfinite(t_stop_s) and t_stop_s > t_start_s):
        raise ValueError(f"need finite t_start_s < t_stop_s, got t_start_s={t_start_s!r}, "
                         f"t_stop_s={t_stop_s!r}")
    if not (np.isfinite(bin_s) and bin_s > 0.0):
        raise ValueError(f"bin_s must be a finite number > 0, got {bin_s!r}")
    exact = (t_stop_s - t_start_s) / bin_s
    n_bins = int(round(exact))
    if n_bins < 1 or abs(exact - n_bins) > 1e-6:
        raise ValueError(f"(t_stop_s - t_start_s) / bin_s must be a whole number of bins, "
                         f"got {exact!r}")
    k = np.floor((t - t_start_s) / bin_s + _EDGE_TOLERANCE)
    keep = (k >= 0) & (k < n_bins)
    flat = idx[keep] * n_bins + k[keep].astype(np.int64)
    counts = np.bincount(flat, minlength=n_neurons * n_bins).reshape(n_neurons, n_bins)
    if binary:
        return (counts > 0).astype(np.uint8)
    return counts.astype(np.int32)


# ----------------------------------------------------------------------------- helpers
def _spike_times(spike_times_s):
    t = np.asarray(spike_times_s, dtype=float)
    if t.ndim != 1:
        raise ValueError(f"spike_times_s must be 1-D, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("spike_times_s must be finite, got NaN or inf values")
    return t


def _n_neurons(n_neurons):
    if isinstance(n_neurons, (bool, np.bool_)) or not isinstance(n_neurons, (int, np.integer)) \
            or n_neurons < 1:
        raise ValueError(f"n_neurons must be a positive integer, got {n_neurons!r}")
    return int(n_neurons)


def _spike_indices(spike_indices, n_neurons):
    idx = np.asarray(spike_indices)
    if idx.ndim != 1:
        raise ValueError(f"spike_indices must be 1-D, got shape {idx.shape}")
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    if idx.dtype.kind not in "iu":
        if idx.dtype.kind != "f" or not np.all(np.isfinite(idx)) or np.any(idx != np.round(idx)):
            raise ValueError(f"spike_indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    out = (idx < 0) | (idx >= n_neurons)
    if out.any():
        raise ValueError(f"spike_indices must lie in [0, {n_neurons}), got "
                         f"{idx[out][:5].tolist()}")
    return idx
