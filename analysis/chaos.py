"""Divergence of perturbed spiking runs: Hamming distance and its growth rate.

A network is run twice from the same state, once with a tiny perturbation
(for example one extra spike).  The binned spike matrices of the two runs are
compared bin by bin; in a chaotic network the number of neurons whose state
differs grows until it saturates at the level expected for two independent
runs with the same firing probabilities.  The rate of growth measures how
fast perturbations spread.

References
----------
Derrida B, Pomeau Y (1986). Random networks of automata: a simple annealed
approximation. Europhys Lett 1:45-49. doi:10.1209/0295-5075/1/2/001
(the Hamming distance between perturbed and unperturbed trajectories)
London M, Roth A, Beeren L, Hausser M, Latham PE (2010). Sensitivity to
perturbations in vivo implies high noise and suggests rate coding in cortex.
Nature 466:123-127. doi:10.1038/nature09086
"""
import numpy as np

__all__ = ["hamming_distance", "saturation_level", "hamming_slope"]

_METHODS = ("growth", "window")


def hamming_distance(a, b):
    r"""Number of neurons whose binned state differs between two runs, per bin.

    .. math::

        D(k) = \sum_i \left[\, [a_{ik} > 0] \ne [b_{ik} > 0] \,\right]

    Counts are reduced to the binary state "spiked in bin k" before comparing.

    Parameters
    ----------
    a, b : array_like, shape (n_neurons, n_bins)
        Binned spike matrices (binary or non-negative counts) of the two runs.

    Returns
    -------
    numpy.ndarray of int64, shape (n_bins,)
        D(k) for each bin.

    Raises
    ------
    ValueError
        If the inputs are not 2-D, differ in shape, or hold negative or
        non-finite values.

    References
    ----------
    Derrida B, Pomeau Y (1986). Europhys Lett 1:45.
    doi:10.1209/0295-5075/1/2/001

    Examples
    --------
    >>> hamming_distance([[1, 0, 2], [0, 0, 1]], [[1, 1, 0], [1, 0, 3]]).tolist()
    [1, 1, 1]
    """
    a = _binned_matrix(a, "a")
    b = _binned_matrix(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    return np.count_nonzero((a > 0) != (b > 0), axis=0).astype(np.int64)


def saturation_level(binned):
    r"""Expected Hamming distance per bin between two independent runs.

    With :math:`p_i` the fraction of bins in which neuron i spiked, two
    independent runs with these probabilities differ in neuron i with
    probability :math:`2p_i(1-p_i)`, so

    .. math::

        D_{\mathrm{sat}} = \sum_i 2\,p_i\,(1 - p_i).

    Parameters
    ----------
    binned : array_like, shape (n_neurons, n_bins)
        Binned spike matrix (binary or non-negative counts; counts mean
        "spiked in bin").

    Returns
    -------
    float
        :math:`D_{\mathrm{sat}}`, in neurons per bin.

    Raises
    ------
    ValueError
        If ``binned`` is not 2-D, has no bins, or holds negative or
        non-finite values.

    Examples
    --------
    Neuron 0 spikes in half of the bins, neuron 1 in all of them:

    >>> saturation_level([[1, 0, 1, 0], [1, 1, 1, 1]])
    0.5
    """
    binned = _binned_matrix(binned, "binned")
    if binned.shape[1] == 0:
        raise ValueError(f"binned must have at least one bin, got shape {binned.shape}")
    p = np.count_nonzero(binned > 0, axis=1) / binned.shape[1]
    return float(np.sum(2.0 * p * (1.0 - p)))


def hamming_slope(distance, dt, saturation=None, fraction=0.5, smooth_bins=5,
                  method="growth", window=None):
    r"""Rate at which the Hamming distance grows, in distance units per second.

    ``method="growth"`` (default) fits the growth phase only.  The window
    starts at the first bin with :math:`D > 0` and ends (inclusive) at the
    first bin :math:`k` at or after it where the *trailing* moving average

    .. math::

        \bar D(k) = \frac{1}{m}\sum_{j=k-m+1}^{k} D(j), \qquad
        m = \min(\texttt{smooth\_bins},\, k + 1),

    reaches ``fraction * saturation``; if ``saturation`` is None or the level
    is never reached, the window runs to the end of the trace.  The result is
    the ordinary least-squares slope of D against :math:`t_k = k\,dt` over
    that window,

    .. math::

        s = \frac{\sum_k (t_k - \bar t)(D_k - \bar D)}{\sum_k (t_k - \bar t)^2},

    so the plateau after saturation does not flatten the estimate.  A trace
    that is never above zero gives 0.0; a window of a single bin k gives
    :math:`D_k / dt`.

    ``method="window"`` reproduces the original windowed fit,
    ``np.polyfit(t, D, 1)[0]`` over the bins with :math:`t_k < ` ``window``
    (at least two bins), starting at :math:`t = 0`; it is kept for
    comparison and is biased low once the window includes the plateau.

    Parameters
    ----------
    distance : array_like, shape (n_bins,)
        Hamming distance per bin (e.g. from :func:`hamming_distance`).
    dt : float
        Bin width in seconds, > 0.
    saturation : float or None, default None
        Saturation level (e.g. from :func:`saturation_level`), >= 0.
        Only used by ``method="growth"``.
    fraction : float, default 0.5
        End the growth window when the smoothed distance reaches
        ``fraction * saturation``; 0 < fraction <= 1.
    smooth_bins : int, default 5
        Width of the trailing moving average in bins, >= 1.
    method : {'growth', 'window'}, default 'growth'
        Which estimate to return (see above).
    window : float or None, default None
        Fit window in seconds from t = 0; required by ``method="window"``.

    Returns
    -------
    float
        Divergence rate in distance units (neurons) per second.

    Raises
    ------
    ValueError
        If ``distance`` is not a non-empty finite 1-D array, ``dt`` is not
        > 0, ``fraction`` is outside (0, 1], ``smooth_bins`` is not a
        positive integer, ``saturation`` is negative, ``method`` is unknown,
        or ``window`` is missing or covers fewer than two bins for
        ``method="window"``.

    References
    ----------
    Derrida B, Pomeau Y (1986). Europhys Lett 1:45.
    doi:10.1209/0295-5075/1/2/001 (growth of the distance between
    trajectories; the growth-window fit above is this module's choice)

    Examples
    --------
    A ramp of 2 neurons per 1 ms bin (2000 per second) saturating at 40:

    >>> d = [0.0] + [2.0 * k for k in range(21)] + [40.0] * 30
    >>> round(hamming_slope(d, dt=0.001, saturation=40.0))
    2000
    >>> round(hamming_slope(d, dt=0.001, method="window", window=0.052))
    738
    >>> hamming_slope([0, 0, 0], dt=0.001)
    0.0
    """
    distance = np.asarray(distance, dtype=float)
    if distance.ndim != 1 or distance.size == 0:
        raise ValueError(f"distance must be a non-empty 1-D array, got shape {distance.shape}")
    if not np.all(np.isfinite(distance)):
        raise ValueError("distance must be finite, got NaN or inf values")
    dt = _positive_float(dt, "dt")
    if not (isinstance(method, str) and method in _METHODS):
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    fraction = float(fraction)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must satisfy 0 < fraction <= 1, got {fraction!r}")
    if isinstance(smooth_bins, (bool, np.bool_)) or not isinstance(smooth_bins, (int, np.integer)) \
            or smooth_bins < 1:
        raise ValueError(f"smooth_bins must be a positive integer, got {smooth_bins!r}")
    if saturation is not None:
        saturation = float(saturation)
        if not (np.isfinite(saturation) and saturation >= 0.0):
            raise ValueError(f"saturation must be a finite value >= 0 or None, got {saturation!r}")
    t = np.arange(distance.size) * dt

    if method == "window":
        if window is None:
            raise ValueError("window (seconds) is required when method='window'")
        window = _positive_float(window, "window")
        n_fit = min(int(np.floor(window / dt + 1e-9)), distance.size)
        if n_fit < 2:
            raise ValueError(f"window={window!r} s covers {n_fit} bin(s) of dt={dt!r} s; "
                             f"at least two are needed")
        return float(np.polyfit(t[:n_fit], distance[:n_fit], 1)[0])

    above = np.flatnonzero(distance > 0)
    if above.size == 0:
        return 0.0
    start = int(above[0])
    stop = distance.size - 1
    if saturation is not None:
        csum = np.concatenate(([0.0], np.cumsum(distance)))
        k = np.arange(distance.size)
        width = np.minimum(smooth_bins, k + 1)
        smoothed = (csum[k + 1] - csum[k + 1 - width]) / width
        reached = np.flatnonzero(smoothed[start:] >= fraction * saturation)
        if reached.size:
            stop = start + int(reached[0])
    if stop == start:
        return float(distance[start] / dt)
    tw, dw = t[start:stop + 1], distance[start:stop + 1]
    tc = tw - tw.mean()
    return float(np.dot(tc, dw - dw.mean()) / np.dot(tc, tc))


# ----------------------------------------------------------------------------- helpers
def _binned_matrix(x, name):
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_neurons, n_bins), got shape {arr.shape}")
    if arr.dtype != bool:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"{name} must hold binary values or spike counts, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{name} must hold finite, non-negative counts")
    return arr


def _positive_float(value, name):
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (np.isfinite(out) and out > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return out
