"""Statistics over parameter grids: correlations and the extreme point.

>>> import numpy as np
>>> pearson([1, 2, 3, 4], [2, 4, 6, 8.5])[0] > 0.99
True
>>> grid_argmax(np.array([[1.0, np.nan], [3.0, 2.0]]))
(1, 0)
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _scipy_stats


def pearson(x, y) -> tuple[float, float, int]:
    """Pearson's r, its two-sided p-value and n, over the pairs where both are finite.

    NaN for r and p when fewer than three pairs remain or either side is constant.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in size: {x.size} vs {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, n = x[keep], y[keep], int(keep.sum())
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan"), n
    xc, yc = x - x.mean(), y - y.mean()
    r = float(np.clip((xc @ yc) / np.sqrt((xc @ xc) * (yc @ yc)), -1.0, 1.0))
    if abs(r) > 1.0 - 8 * np.finfo(float).eps:  # an exact line, up to the BLAS's rounding
        r = float(np.sign(r))
    if abs(r) == 1.0:
        return r, 0.0, n
    t = r * np.sqrt((n - 2) / (1 - r * r))
    p = float(2 * _scipy_stats.t.sf(abs(t), n - 2))
    return r, p, n


def heterogeneity_correlations(axes: dict, grids: dict) -> list[dict]:
    """Pearson correlation of each grid parameter with each measure, over all points.

    ``axes`` maps parameter names to their values, in the order of the grid's
    dimensions (first name = rows); ``grids`` maps measure names to arrays of
    that shape (NaN = point not computed).  Returns one dict per
    (parameter, measure) with keys ``parameter, measure, r, p, n``.
    """
    names = list(axes)
    shape = tuple(len(axes[n]) for n in names)
    mesh = np.meshgrid(*[np.asarray(axes[n], dtype=float) for n in names], indexing="ij")
    rows = []
    for measure, values in grids.items():
        values = np.asarray(values, dtype=float)
        if values.shape != shape:
            raise ValueError(f"measure {measure!r} has shape {values.shape}, axes give {shape}")
        for name, coords in zip(names, mesh):
            r, p, n = pearson(coords, values)
            rows.append({"parameter": name, "measure": measure, "r": r, "p": p, "n": n})
    return rows


def grid_argmax(values) -> tuple[int, ...]:
    """Index of the largest finite value of a grid; ValueError if there is none."""
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).any():
        raise ValueError("the grid holds no finite value")
    flat = np.where(np.isfinite(values), values, -np.inf).argmax()
    return tuple(int(i) for i in np.unravel_index(flat, values.shape))
