"""Losses for fitting rate models to trial-structured recordings, and gradient balancing.

Activity tensors are ``[trials, time, neurons]`` in the model's rate units,
``conditions`` an integer tensor ``[trials]`` of condition indices 0..C-1.

``L_neuron``  per-neuron PSTH loss: trial-average each condition, smooth in
              time (Gaussian), z-score every neuron with the *data's* mean and
              standard deviation, mean squared difference.
``L_trial``   trial matching (Sourmpis, Petersen, Gerstner & Bellec 2023,
              "Trial matching: capturing variability with data-constrained
              spiking neural networks", NeurIPS 36; arXiv:2306.03603): within
              each condition, model trials and recorded trials are paired by
              an optimal assignment (Hungarian algorithm,
              ``scipy.optimize.linear_sum_assignment``) on their filtered,
              z-scored, population-averaged signals (E and I populations
              separately), and the loss is the mean squared error over the
              matched pairs.  It asks the model to reproduce the *distribution*
              of single trials, not only their mean, and is invariant to the
              order of the trials.  The assignment itself is not
              differentiated (it is piecewise constant).
``L_reg``     ``weight * (|W_rec|^2 + |W_in|^2)`` plus a rate-scale term
              (the population mean rate matches the data's, relative error
              squared) and a variance term (each neuron's across-trial
              variance matches the data's, squared log ratio; when the
              recording is spike counts, the variance Poisson counting adds
              is added to the model's first, so the rates are not asked to
              carry the counting noise).

Gradient balancing (:class:`GradientBalancer`): the gradients of the data
terms (``L_neuron`` and ``L_trial``) with respect to the model's output rates
are computed separately; each is divided by a running (exponential moving)
average of its own norm before they are added with their scales, so neither
term dominates because of its units or size, and the sum is back-propagated
through the network once.  The regularisers ride with ``L_neuron`` (their
gradient is divided by the same running norm), so their lambdas keep their
meaning relative to the PSTH fit.  This is the normalisation step of GradNorm
(Chen et al. 2018, ICML, arXiv:1711.02257; gradients measured at the last
representation all losses share) without its learned weights.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["gaussian_kernel", "smooth", "condition_means", "DataStats", "data_stats",
           "neuron_loss", "trial_signals", "trial_loss", "match_trials", "rate_scale_loss",
           "variance_loss", "weight_loss", "LossWeights", "GradientBalancer"]


# ----------------------------------------------------------------------------- smoothing
def gaussian_kernel(sigma_bins: float) -> np.ndarray:
    """Normalised Gaussian taps truncated at 4 sigma (scipy.ndimage's convention)."""
    if sigma_bins <= 0:
        return np.ones(1)
    radius = int(4.0 * sigma_bins + 0.5)
    k = np.arange(-radius, radius + 1)
    g = np.exp(-0.5 * (k / sigma_bins) ** 2)
    return g / g.sum()


@functools.lru_cache(maxsize=32)
def smoothing_matrix(time: int, sigma_bins: float) -> np.ndarray:
    """``S [time, time]`` with ``S @ x`` = Gaussian smoothing of ``x`` along time, edges reflected.

    The reflection of scipy's mode ``"reflect"`` (d c b a | a b c d | d c b a)
    is folded into the matrix, so smoothing is one matrix product.
    """
    taps = gaussian_kernel(sigma_bins)
    radius = len(taps) // 2
    matrix = np.zeros((time, time))
    for t in range(time):
        for k, tap in zip(range(t - radius, t + radius + 1), taps):
            while k < 0 or k >= time:
                k = -k - 1 if k < 0 else 2 * time - k - 1
            matrix[t, k] += tap
    return matrix


def smooth(x: torch.Tensor, sigma_bins: float) -> torch.Tensor:
    """Gaussian smoothing along axis 1 of ``[batch, time, channels]``, edges reflected.

    Matches ``scipy.ndimage.gaussian_filter1d(..., mode="reflect", truncate=4)``
    (the suite's :func:`analysis.population.smooth`) and is differentiable.
    """
    if sigma_bins <= 0:
        return x
    matrix = torch.as_tensor(smoothing_matrix(x.shape[1], float(sigma_bins)), dtype=x.dtype,
                             device=x.device)
    return torch.matmul(matrix, x)


def condition_means(x: torch.Tensor, conditions: torch.Tensor, n_conditions: int) -> torch.Tensor:
    """Trial average of each condition: ``[n_conditions, time, neurons]`` (0 where no trial)."""
    onehot = torch.nn.functional.one_hot(conditions, n_conditions).to(x.dtype)  # [B, C]
    counts = onehot.sum(dim=0).clamp(min=1.0)
    return torch.einsum("bc,btn->ctn", onehot, x) / counts[:, None, None]


# ----------------------------------------------------------------------------- statistics
class DataStats(NamedTuple):
    """The recording's statistics the losses use (computed once, on the training trials)."""

    mean: torch.Tensor       # [neurons] mean of the smoothed PSTH
    std: torch.Tensor        # [neurons] its std (floored)
    e_mask: torch.Tensor     # [neurons] bool, excitatory
    sigma_bins: float        # smoothing width


def data_stats(target: torch.Tensor, conditions: torch.Tensor, n_conditions: int,
               e_mask: torch.Tensor, sigma_bins: float, std_floor: float = 1e-3) -> DataStats:
    """Per-neuron mean and std of the recording's smoothed PSTHs."""
    psth = smooth(condition_means(target, conditions, n_conditions), sigma_bins)
    flat = psth.reshape(-1, psth.shape[-1])
    return DataStats(flat.mean(dim=0), flat.std(dim=0, unbiased=False).clamp(min=std_floor),
                     e_mask.bool(), float(sigma_bins))


# ----------------------------------------------------------------------------- data terms
def neuron_loss(model: torch.Tensor, target_psth: torch.Tensor, conditions: torch.Tensor,
                stats: DataStats, smoothed: bool = False) -> torch.Tensor:
    """``L_neuron``: mean squared difference of z-scored, smoothed PSTHs.

    ``target_psth`` is the recording's smoothed PSTH ``[C, time, neurons]``
    (precomputed: it does not change during training).  ``smoothed=True``:
    ``model`` is already smoothed (smoothing and trial averaging commute, so
    one smoothing of the single trials serves every loss).
    """
    model = model if smoothed else smooth(model, stats.sigma_bins)
    psth = condition_means(model, conditions, target_psth.shape[0])
    present = torch.bincount(conditions, minlength=target_psth.shape[0]) > 0
    difference = (psth - target_psth)[present] / stats.std
    return (difference ** 2).mean()


def trial_signals(x: torch.Tensor, stats: DataStats, smoothed: bool = False) -> torch.Tensor:
    """Filtered, z-scored activity averaged over the E and the I population: ``[B, T, 2]``."""
    z = ((x if smoothed else smooth(x, stats.sigma_bins)) - stats.mean) / stats.std
    e = z[..., stats.e_mask].mean(dim=-1)
    if (~stats.e_mask).any():
        i = z[..., ~stats.e_mask].mean(dim=-1)
        return torch.stack([e, i], dim=-1)
    return e[..., None]


def match_trials(model_signals: torch.Tensor, target_signals: torch.Tensor) -> tuple:
    """Optimal pairing (Hungarian) of model and recorded trials of one condition.

    Returns ``(model_index, target_index, cost)`` with ``cost[k, l]`` the mean
    squared difference of model trial k and recorded trial l.  With unequal
    numbers, the smaller set is matched completely.
    """
    cost = ((model_signals[:, None] - target_signals[None]) ** 2).flatten(2).mean(dim=-1)
    pairing = cost.detach().cpu().double().numpy()
    if not np.all(np.isfinite(pairing)):  # a diverging model: pair on what is finite, the
        # loss stays NaN/Inf so that the trainer stops (scipy refuses non-finite costs)
        pairing = np.nan_to_num(np.clip(pairing, 0.0, 1e100), nan=1e101)
    rows, cols = linear_sum_assignment(pairing)
    return (torch.as_tensor(rows, device=cost.device), torch.as_tensor(cols, device=cost.device),
            cost)


def trial_loss(model: torch.Tensor, target_signals: torch.Tensor, conditions: torch.Tensor,
               stats: DataStats, target_conditions: torch.Tensor | None = None,
               smoothed: bool = False) -> torch.Tensor:
    """``L_trial``: mean squared error over optimally matched trial pairs, per condition.

    ``target_signals`` are :func:`trial_signals` of the recorded trials
    (precomputed), ``target_conditions`` their conditions (default: the same
    as the model trials').  The loss is the mean over all matched pairs.
    """
    target_conditions = conditions if target_conditions is None else target_conditions
    signals = trial_signals(model, stats, smoothed)
    total, pairs = model.new_zeros(()), 0
    for c in torch.unique(conditions).tolist():
        mine = torch.nonzero(conditions == c).flatten()
        theirs = torch.nonzero(target_conditions == c).flatten()
        if len(theirs) == 0:
            continue
        rows, cols, cost = match_trials(signals[mine], target_signals[theirs])
        total = total + cost[rows, cols].sum()
        pairs += len(rows)
    return total / max(pairs, 1)


# ----------------------------------------------------------------------------- regularisers
def weight_loss(*weights: torch.Tensor) -> torch.Tensor:
    """Sum of squared weights (multiply by lambda)."""
    return sum((w ** 2).sum() for w in weights)


def rate_scale_loss(model: torch.Tensor, target_mean_rate: float) -> torch.Tensor:
    """Relative error of the population mean rate, squared."""
    return ((model.mean() - target_mean_rate) / max(target_mean_rate, 1e-6)) ** 2


def across_trial_variance(x: torch.Tensor, conditions: torch.Tensor, n_conditions: int,
                          sigma_bins: float, smoothed: bool = False) -> torch.Tensor:
    """Each neuron's across-trial variance (within condition), averaged over time: ``[N]``."""
    s = x if smoothed else smooth(x, sigma_bins)
    mean = condition_means(s, conditions, n_conditions)[conditions]
    return ((s - mean) ** 2).mean(dim=(0, 1))


def poisson_variance(model: torch.Tensor, counts_per_rate: float, sigma_bins: float) -> torch.Tensor:
    r"""Variance that Poisson spike counts would add to each neuron's smoothed rate: ``[N]``.

    A rate estimated from counts, :math:`\hat r = n / c` with :math:`n \sim
    \mathrm{Poisson}(c\,r)` (``c = counts_per_rate``: expected count of a
    unit rate in one bin), has variance :math:`r / c`; Gaussian smoothing
    with taps :math:`g_k` scales white noise variance by :math:`\sum_k g_k^2`.
    """
    gain = float((gaussian_kernel(sigma_bins) ** 2).sum())
    return model.mean(dim=(0, 1)) * (gain / counts_per_rate)


def variance_loss(model: torch.Tensor, conditions: torch.Tensor, target_variance: torch.Tensor,
                  n_conditions: int, sigma_bins: float, eps: float = 1e-4,
                  smoothed: bool = False, counts_per_rate: float | None = None) -> torch.Tensor:
    """Mean squared log ratio of model and data across-trial variance.

    With ``counts_per_rate`` (the recording holds spike counts) the model's
    variance is compared as the recording's would be measured: plus the
    variance Poisson counting adds (:func:`poisson_variance`), so the model is
    not asked to put the counting noise into its rates.
    """
    v = across_trial_variance(model, conditions, n_conditions, sigma_bins, smoothed)
    if counts_per_rate is not None:
        v = v + poisson_variance(model, counts_per_rate, sigma_bins)
    return (torch.log((v + eps) / (target_variance + eps)) ** 2).mean()


# ----------------------------------------------------------------------------- combining
class LossWeights(NamedTuple):
    """Scales of the loss terms (defaults: the issue's values)."""

    trial: float = 0.5       # L_trial scale
    weight: float = 1e-4     # lambda of the squared weights
    rate: float = 0.1        # lambda of the rate-scale term
    variance: float = 0.05   # lambda of the variance term


class GradientBalancer:
    """Adds the gradients of several losses, each divided by a running estimate of its norm.

    ``combine({"a": L_a, "b": L_b}, tensors, scales)`` differentiates each
    loss separately with respect to ``tensors``, updates the exponential
    moving average of each gradient's norm (``momentum``; the first value
    initialises it) and returns ``sum_k scale_k * grad_k / ema_k`` for each
    tensor.  The suite passes the model's output rates as ``tensors`` (the
    last representation every loss shares, as GradNorm measures gradients at
    the last shared layer) and back-propagates the combined gradient through
    the network once.

    >>> x = torch.tensor([1.0, 1.0], requires_grad=True)
    >>> balancer = GradientBalancer(momentum=0.9)
    >>> (g,) = balancer.combine({"a": 10 * x.sum(), "b": 0.1 * x[0]}, [x], {"a": 1, "b": 1})
    >>> [round(v, 3) for v in g.tolist()]     # (1, 1)/sqrt(2) + (1, 0)
    [1.707, 0.707]
    """

    def __init__(self, momentum: float = 0.9, eps: float = 1e-12):
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum, self.eps = momentum, eps
        self.norms: dict[str, float] = {}

    def scale(self, name: str) -> float:
        """``1 / running norm`` of a loss's gradient (1 before its first use)."""
        return 1.0 / max(self.norms.get(name, 1.0), self.eps)

    def combine(self, losses: dict, tensors: list, scales: dict) -> list:
        names = list(losses)
        grads = {}
        for k, name in enumerate(names):
            g = torch.autograd.grad(losses[name], tensors, retain_graph=k < len(names) - 1,
                                    allow_unused=True)
            g = [torch.zeros_like(t) if gi is None else gi for t, gi in zip(tensors, g)]
            norm = float(torch.sqrt(sum((gi * gi).sum() for gi in g)))
            previous = self.norms.get(name)
            self.norms[name] = norm if previous is None else (
                self.momentum * previous + (1 - self.momentum) * norm)
            grads[name] = g
        return [sum(scales[name] * self.scale(name) * grads[name][i] for name in names)
                for i in range(len(tensors))]

    def state_dict(self) -> dict:
        return {"momentum": self.momentum, "norms": dict(self.norms)}

    def load_state_dict(self, state: dict) -> None:
        self.momentum = float(state["momentum"])
        self.norms = {k: float(v) for k, v in state["norms"].items()}
