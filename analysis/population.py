"""Population analysis of trial-structured activity: PSTHs, fit quality, PCA, Fano factors.

Activity comes as arrays ``[trials, time, neurons]`` (rates in Hz or counts
per bin) with one integer condition label per trial.  Everything here is
numpy/scipy: a recording and a model's output are analysed by the same code.

References
----------
Churchland MM et al. (2010). Stimulus onset quenches neural variability: a
widespread cortical phenomenon. Nat Neurosci 13:369-378.
doi:10.1038/nn.2501 (Fano factor of counts in windows, across trials)
Cunningham JP, Yu BM (2014). Dimensionality reduction for large-scale neural
recordings. Nat Neurosci 17:1500-1509. doi:10.1038/nn.3776 (PCA of PSTHs)
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

__all__ = ["smooth", "psth", "neuron_correlations", "pca", "count_fano_factors",
           "fano_problem", "finite_mean"]


def _activity(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 3:
        raise ValueError(f"{name} must be [trials, time, neurons], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds {int((~np.isfinite(x)).sum())} NaN or Inf values")
    return x


def _conditions(conditions, n_trials: int) -> np.ndarray:
    c = np.asarray(conditions)
    if c.shape != (n_trials,):
        raise ValueError(f"conditions must have one label per trial ({n_trials}), "
                         f"got shape {c.shape}")
    if not np.issubdtype(c.dtype, np.integer):
        if not np.all(np.isfinite(c.astype(float))) or np.any(c != np.round(c)):
            raise ValueError("conditions must be integer labels")
        c = c.astype(np.int64)
    return c


def smooth(x, sigma_bins: float, axis: int = 1) -> np.ndarray:
    r"""Gaussian smoothing along time.

    .. math:: \tilde x_t = \sum_k g_k\, x_{t-k}, \qquad g_k \propto e^{-k^2 / 2\sigma^2}

    truncated at 4 sigma, the edges reflected (``scipy.ndimage`` mode
    ``"reflect"``: the first value weighs twice at the edge).  ``sigma_bins = 0``
    returns a copy.

    >>> smooth([[1.0, 0.0, 0.0, 0.0, 1.0]], 1.0, axis=1).round(3).tolist()
    [[0.641, 0.301, 0.117, 0.301, 0.641]]
    """
    x = np.asarray(x, dtype=float)
    if not np.isfinite(sigma_bins) or sigma_bins < 0:
        raise ValueError(f"sigma_bins must be finite and >= 0, got {sigma_bins!r}")
    if sigma_bins == 0:
        return x.copy()
    return gaussian_filter1d(x, sigma_bins, axis=axis, mode="reflect", truncate=4.0)


def psth(activity, conditions, *, sigma_bins: float = 0.0, labels=None) -> np.ndarray:
    r"""Peri-stimulus time histograms: the trial average of each condition, smoothed.

    .. math:: \mathrm{PSTH}_{c,t,i} = \frac{1}{|T_c|} \sum_{k \in T_c} x_{k,t,i}

    Parameters
    ----------
    activity : array_like, shape (trials, time, neurons)
    conditions : array_like of int, shape (trials,)
    sigma_bins : float
        Gaussian smoothing along time after averaging (0: none).
    labels : array_like of int, optional
        The conditions, in the order of the output's first axis (default:
        the sorted unique labels of ``conditions``).  A label without trials
        gives NaN.

    Returns
    -------
    numpy.ndarray, shape (n_conditions, time, neurons)

    >>> x = np.arange(12.0).reshape(4, 3, 1)
    >>> psth(x, [0, 1, 0, 1])[:, :, 0].tolist()
    [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]
    """
    x = _activity(activity, "activity")
    c = _conditions(conditions, x.shape[0])
    labels = np.unique(c) if labels is None else np.asarray(labels)
    out = np.full((len(labels), x.shape[1], x.shape[2]), np.nan)
    for k, label in enumerate(labels):
        members = c == label
        if members.any():
            out[k] = x[members].mean(axis=0)
    return smooth(out, sigma_bins, axis=1) if sigma_bins > 0 else out


def neuron_correlations(model, target) -> np.ndarray:
    r"""Pearson correlation of each neuron's model and target activity.

    Both arrays are ``[..., neurons]`` (e.g. PSTHs ``[conditions, time,
    neurons]``); each neuron's values over all leading axes are correlated:

    .. math:: r_i = \frac{\sum (m_i - \bar m_i)(y_i - \bar y_i)}
                       {\sqrt{\sum (m_i - \bar m_i)^2 \sum (y_i - \bar y_i)^2}}

    NaN for a neuron whose model or target activity is constant.

    >>> t = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    >>> neuron_correlations(2 * t + 1, t).tolist()
    [1.0, nan]
    """
    m = np.asarray(model, dtype=float)
    y = np.asarray(target, dtype=float)
    if m.shape != y.shape or m.ndim < 2:
        raise ValueError(f"model and target must share a shape [..., neurons], got "
                         f"{m.shape} and {y.shape}")
    m = m.reshape(-1, m.shape[-1])
    y = y.reshape(-1, y.shape[-1])
    m = m - m.mean(axis=0)
    y = y - y.mean(axis=0)
    denominator = np.sqrt((m * m).sum(axis=0) * (y * y).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (m * y).sum(axis=0) / denominator
    r[denominator == 0] = np.nan
    return np.clip(r, -1.0, 1.0)


def pca(x, n_components: int):
    r"""Principal components of the rows of ``x`` (samples x features).

    The components are the leading right singular vectors of the centred
    data, signs fixed so that each component's largest-magnitude loading is
    positive (reproducible across runs and platforms).

    Parameters
    ----------
    x : array_like, shape (samples, features)
        E.g. PSTHs reshaped to ``[conditions * time, neurons]``.
    n_components : int
        At most ``min(samples, features)``.

    Returns
    -------
    components : numpy.ndarray, shape (n_components, features)
        Orthonormal rows.
    explained_variance_ratio : numpy.ndarray, shape (n_components,)
        Fraction of the total variance along each component.
    mean : numpy.ndarray, shape (features,)
        Subtract before projecting: ``(x - mean) @ components.T``.

    >>> rng = np.random.default_rng(0)
    >>> data = rng.normal(size=(200, 1)) * [3.0, 0.0] + rng.normal(size=(200, 2)) * 0.1
    >>> comps, ratio, mean = pca(data, 1)
    >>> np.abs(comps).round(2).tolist(), bool(ratio[0] > 0.99)
    ([[1.0, 0.0]], True)
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"x must be [samples, features], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x holds NaN or Inf values")
    limit = min(x.shape)
    if not 1 <= n_components <= limit:
        raise ValueError(f"n_components must be in 1..{limit}, got {n_components}")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    components = vt[:n_components]
    flip = np.sign(components[np.arange(n_components), np.abs(components).argmax(axis=1)])
    components = components * np.where(flip == 0, 1.0, flip)[:, None]
    total = float((s ** 2).sum())
    ratio = (s[:n_components] ** 2) / total if total > 0 else np.zeros(n_components)
    return components, ratio, mean


def count_fano_factors(counts, conditions, window_bins: int = 1) -> np.ndarray:
    r"""Fano factor of each neuron's spike counts across trials.

    Counts are summed in consecutive windows of ``window_bins`` bins; in each
    condition and window the across-trial Fano factor var/mean is computed
    with the unbiased variance (ddof = 1, so Poisson counts give 1 in
    expectation even with few trials), and each neuron's value is the mean over the
    conditions and windows where its mean count is positive (Churchland et al.
    2010 compute it the same way, before mean matching).

    Parameters
    ----------
    counts : array_like, shape (trials, time, neurons)
        Non-negative spike counts per bin.
    conditions : array_like of int, shape (trials,)
    window_bins : int
        Bins summed into one counting window (the last partial window is dropped).

    Returns
    -------
    numpy.ndarray, shape (neurons,)
        NaN for a neuron that never fires, and for every neuron when the
        factor cannot be computed at all: no condition has two trials, or the
        window is longer than a trial (:func:`fano_problem` says which).

    Raises
    ------
    ValueError
        If ``counts`` is not 3-D, holds NaN, Inf or negative values, the
        conditions do not match the trials, or ``window_bins < 1``.

    >>> counts = np.array([[[1.0]], [[3.0]], [[2.0]], [[2.0]]])   # 4 trials, 1 bin
    >>> count_fano_factors(counts, [0, 0, 1, 1]).tolist()    # (2/2 + 0/2) / 2
    [0.5]
    >>> count_fano_factors(counts, [0, 1, 2, 3]).tolist()    # one trial per condition
    [nan]
    """
    x = _activity(counts, "counts")
    if np.any(x < 0):
        raise ValueError("counts must be non-negative")
    c = _conditions(conditions, x.shape[0])
    if int(window_bins) != window_bins or window_bins < 1:
        raise ValueError(f"window_bins must be a positive integer, got {window_bins!r}")
    window_bins = int(window_bins)
    if fano_problem(c, x.shape[1], window_bins) is not None:
        return np.full(x.shape[2], np.nan)
    n_windows = x.shape[1] // window_bins
    windows = x[:, :n_windows * window_bins].reshape(x.shape[0], n_windows, window_bins,
                                                     x.shape[2]).sum(axis=2)
    ratios = []
    for label in np.unique(c):
        group = windows[c == label]
        if len(group) < 2:
            continue  # one trial has no across-trial variance
        mean, var = group.mean(axis=0), group.var(axis=0, ddof=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios.append(np.where(mean > 0, var / mean, np.nan))
    ratios = np.concatenate(ratios, axis=0)  # [conditions * windows, neurons]
    fired = np.isfinite(ratios).any(axis=0)
    out = np.full(x.shape[2], np.nan)
    out[fired] = np.nanmean(ratios[:, fired], axis=0)
    return out


def fano_problem(conditions, n_bins: int, window_bins: int) -> str | None:
    """Why :func:`count_fano_factors` gives NaN for every neuron; None when it can compute.

    The across-trial Fano factor needs a condition with at least two trials
    and a counting window that fits in a trial.

    Parameters
    ----------
    conditions : array_like of int, shape (trials,)
    n_bins : int
        Time bins per trial.
    window_bins : int
        Bins per counting window.

    Returns
    -------
    str or None
        The reason in words, or None.

    >>> fano_problem([0, 0, 1], 10, 4) is None
    True
    >>> fano_problem([0, 1, 2], 10, 4)
    'no condition has 2 trials (at most 1)'
    >>> fano_problem([0, 0], 3, 4)
    'the counting window (4 bins) is longer than a trial (3 bins)'
    """
    c = np.asarray(conditions)
    if c.ndim != 1:
        raise ValueError(f"conditions must be 1-D, got shape {c.shape}")
    if window_bins > n_bins:
        return f"the counting window ({window_bins} bins) is longer than a trial ({n_bins} bins)"
    most = int(np.unique(c, return_counts=True)[1].max()) if c.size else 0
    if most < 2:
        return f"no condition has 2 trials (at most {most})"
    return None


def finite_mean(x) -> float:
    """Mean of the finite values; NaN when there are none (no warning).

    >>> finite_mean([1.0, np.nan, 3.0]), finite_mean([np.nan])
    (2.0, nan)
    """
    x = np.asarray(x, dtype=float)
    finite = np.isfinite(x)
    return float(x[finite].mean()) if finite.any() else float("nan")
