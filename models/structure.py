"""Network structure drawn in numpy: connectivity, weights, thresholds, input maps.

Everything random about a network's *structure* is drawn here from numpy
generators (see :mod:`models.rng`), never by Brian2, so a seed builds the same
network on every back-end.  Values are in the normalised units of
:mod:`models.lif` (1.0 = ``v_th_mean - v_rest``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Structure(NamedTuple):
    """One network's structure (arrays, normalised units).

    ``pre``/``post`` list the recurrent synapses sorted by (pre, post);
    ``weight`` their weights; ``v_th_offset`` each neuron's threshold minus the
    mean threshold; ``channel_targets[c]`` the neurons input channel ``c``
    projects to.
    """

    n_neurons: int
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    v_th_offset: np.ndarray
    channel_targets: tuple


def recurrent_connections(n_neurons: int, connection_prob: float, rng: np.random.Generator,
                          fixed_indegree: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Random recurrent connectivity without autapses.

    Bernoulli: each ordered pair ``i != j`` is connected with probability ``p``.
    Fixed in-degree: every neuron receives exactly ``K = round(p (n - 1))``
    inputs drawn without replacement from the other neurons.

    Returns ``(pre, post)`` sorted by pre, then post.

    >>> rng = np.random.default_rng(0)
    >>> pre, post = recurrent_connections(50, 0.2, rng, fixed_indegree=True)
    >>> sorted(set(np.bincount(post, minlength=50)))
    [10]
    >>> bool((pre != post).all())
    True
    """
    if n_neurons < 2:
        raise ValueError(f"n_neurons must be >= 2, got {n_neurons}")
    if not 0 < connection_prob <= 1:
        raise ValueError(f"connection_prob must be in (0, 1], got {connection_prob}")
    if fixed_indegree:
        k = int(round(connection_prob * (n_neurons - 1)))
        # rank random keys per row; the k smallest (self excluded) are the inputs
        keys = rng.random((n_neurons, n_neurons))
        np.fill_diagonal(keys, np.inf)
        sources = np.argpartition(keys, k, axis=1)[:, :k] if k < n_neurons - 1 else \
            np.argsort(keys, axis=1)[:, :k]
        post = np.repeat(np.arange(n_neurons), k)
        pre = sources.ravel()
    else:
        mask = rng.random((n_neurons, n_neurons)) < connection_prob  # [pre, post]
        np.fill_diagonal(mask, False)
        pre, post = np.nonzero(mask)
    order = np.lexsort((post, pre))
    return pre[order].astype(np.int32), post[order].astype(np.int32)


def truncated_normal(rng: np.random.Generator, std: float, size: int, low: float,
                     max_rounds: int = 64) -> np.ndarray:
    """Normal(0, ``std``) samples conditioned on being > ``low``.

    Values are redrawn where they fall at or below ``low`` (so a seed gives the
    same numbers as plain rejection sampling whenever that finishes quickly);
    after ``max_rounds`` rounds the few values left are drawn from the
    truncated normal directly (``scipy.stats.truncnorm``, by its inverse
    CDF), so the loop always ends, even when almost every draw is rejected.
    An impossible request (no spread and ``low >= 0``) is a ``ValueError``.

    >>> x = truncated_normal(np.random.default_rng(0), 1.0, 1000, low=3.0)
    >>> bool((x > 3).all()), x.size
    (True, 1000)
    >>> truncated_normal(np.random.default_rng(0), 0.0, 3, low=0.0)
    Traceback (most recent call last):
    ...
    ValueError: no value of Normal(0, 0) lies above low=0.0: give a spread > 0 or low < 0
    """
    if not (np.isfinite(std) and np.isfinite(low)) or std < 0:
        raise ValueError(f"std must be finite and >= 0 and low finite; got std={std}, low={low}")
    if std == 0:
        if low >= 0:
            raise ValueError(f"no value of Normal(0, 0) lies above low={low}: give a spread > 0 "
                             "or low < 0")
        return np.zeros(size)
    x = rng.normal(0.0, std, size)
    bad = x <= low
    for _ in range(max_rounds):
        if not bad.any():
            return x
        x[bad] = rng.normal(0.0, std, int(bad.sum()))
        bad = x <= low
    if bad.any():
        from scipy.stats import truncnorm

        tail = truncnorm.rvs(low / std, np.inf, scale=std, size=int(bad.sum()), random_state=rng)
        # the tail's lowest values can round onto the bound itself
        x[bad] = np.maximum(tail, np.nextafter(low, np.inf))
    return x


def channel_targets(n_neurons: int, n_channels: int, connectivity: float,
                    rng: np.random.Generator) -> tuple:
    """Each input channel projects to a random ``connectivity`` fraction of the neurons.

    Exactly ``round(connectivity * n)`` distinct targets per channel, drawn
    independently per channel, so two channels share on average
    ``connectivity**2`` of the neurons (9% for 30%).

    >>> t = channel_targets(100, 3, 0.3, np.random.default_rng(1))
    >>> [len(x) for x in t]
    [30, 30, 30]
    """
    k = int(round(connectivity * n_neurons))
    return tuple(np.sort(rng.choice(n_neurons, size=k, replace=False)).astype(np.int32)
                 for _ in range(n_channels))


def draw_structure(*, n_neurons: int, connection_prob: float, fixed_indegree: bool,
                   g_std: float, v_th_std: float, min_threshold_gap: float,
                   n_channels: int, channel_connectivity: float,
                   rngs: dict) -> Structure:
    """Draw one network from the streams in ``rngs`` (keys: structure, thresholds, input).

    Weights are Normal(0, ``g_std``); thresholds offsets Normal(0, ``v_th_std``)
    truncated so that every threshold stays more than ``min_threshold_gap``
    above the reset (a neuron whose threshold lies below its reset would fire
    at every step after its refractory period).
    """
    pre, post = recurrent_connections(n_neurons, connection_prob, rngs["structure"], fixed_indegree)
    weight = rngs["structure"].normal(0.0, g_std, pre.size) if g_std > 0 else np.zeros(pre.size)
    v_th_offset = truncated_normal(rngs["thresholds"], v_th_std, n_neurons, low=min_threshold_gap)
    targets = channel_targets(n_neurons, n_channels, channel_connectivity, rngs["input"])
    return Structure(n_neurons, pre, post, weight, v_th_offset, targets)
