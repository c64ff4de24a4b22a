"""analysis.stats: Pearson against scipy, correlations over a parameter grid, argmax with gaps."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from analysis.stats import grid_argmax, heterogeneity_correlations, pearson


# --------------------------------------------------------------------------- pearson
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [3, 4, 10, 200])
def test_pearson_matches_scipy_r_and_p(seed, n):
    """r and the two-sided p equal scipy.stats.pearsonr on random, partly correlated data."""
    rng = np.random.default_rng(seed * 1000 + n)
    x = rng.normal(size=n)
    y = rng.uniform(-1, 1) * x + rng.normal(size=n)
    r, p, count = pearson(x, y)
    expected = scipy_stats.pearsonr(x, y)
    assert r == pytest.approx(expected.statistic, rel=1e-10, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-300)
    assert count == n
    assert isinstance(r, float) and isinstance(p, float) and isinstance(count, int)


def test_pearson_matches_scipy_for_strong_and_anti_correlation():
    """Near-perfect positive and negative correlations (tiny p) still agree with scipy."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    for y in (3 * x + 1e-3 * rng.normal(size=50), -x + 0.1 * rng.normal(size=50)):
        r, p, _ = pearson(x, y)
        expected = scipy_stats.pearsonr(x, y)
        assert r == pytest.approx(expected.statistic, rel=1e-10)
        assert p == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)


def test_pearson_of_an_exact_line_is_one_with_p_zero():
    """An exact linear relation gives r = +1 or -1 and p = 0, never a value outside [-1, 1]."""
    x = np.linspace(0, 1, 7)
    assert pearson(x, 2 * x + 3)[:2] == (1.0, 0.0)
    assert pearson(x, -5 * x)[:2] == (-1.0, 0.0)


def test_pearson_accepts_lists_and_2d_arrays():
    """Inputs are flattened: a 2-d grid and a list give the same r as the 1-d arrays."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    assert pearson(x, y) == pearson(x.ravel().tolist(), y.ravel().tolist())


def test_pearson_drops_non_finite_pairs_and_counts_the_rest():
    """Pairs where either side is NaN or inf are dropped; n counts only the pairs kept."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=20), rng.normal(size=20)
    x_gappy, y_gappy = x.copy(), y.copy()
    x_gappy[[0, 5]] = np.nan
    y_gappy[[5, 9]] = np.nan
    y_gappy[12] = np.inf
    keep = np.ones(20, bool)
    keep[[0, 5, 9, 12]] = False
    r, p, n = pearson(x_gappy, y_gappy)
    expected = scipy_stats.pearsonr(x[keep], y[keep])
    assert n == 16
    assert r == pytest.approx(expected.statistic, rel=1e-10)
    assert p == pytest.approx(expected.pvalue, rel=1e-8)


@pytest.mark.parametrize("x, y", [
    ([1, 1, 1, 1], [1, 2, 3, 4]),
    ([1, 2, 3, 4], [5, 5, 5, 5]),
    ([2, 2, 2], [2, 2, 2]),
    ([1, 2, np.nan, 3], [7, 7, 1, 7]),  # constant once the NaN pair is dropped
])
def test_pearson_of_constant_input_is_nan(x, y):
    """If either side is constant over the kept pairs, r and p are NaN (n still reported)."""
    r, p, n = pearson(x, y)
    assert np.isnan(r) and np.isnan(p)
    assert n == np.isfinite(np.asarray(x, float) * np.asarray(y, float)).sum()


@pytest.mark.parametrize("x, y, n", [
    ([], [], 0),
    ([1.0], [2.0], 1),
    ([1, 2], [3, 5], 2),
    ([1, 2, np.nan, 4], [3, 5, 6, np.nan], 2),  # four values, two usable pairs
    ([np.nan] * 5, [np.nan] * 5, 0),
])
def test_pearson_of_fewer_than_three_pairs_is_nan(x, y, n):
    """Fewer than three usable pairs give NaN for r and p, and the true count n."""
    r, p, count = pearson(x, y)
    assert np.isnan(r) and np.isnan(p) and count == n


def test_pearson_with_three_pairs_is_defined():
    """Exactly three non-degenerate pairs give a finite r and p (the smallest defined case)."""
    r, p, n = pearson([1, 2, 3], [1, 3, 2])
    expected = scipy_stats.pearsonr([1, 2, 3], [1, 3, 2])
    assert n == 3 and r == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)


@pytest.mark.parametrize("x, y", [([1, 2, 3], [1, 2]), (np.zeros(5), np.zeros(6)),
                                  (np.zeros((2, 3)), np.zeros(5))])
def test_pearson_shape_mismatch_is_a_value_error(x, y):
    """x and y of different sizes raise ValueError stating both sizes."""
    with pytest.raises(ValueError, match="differ in size"):
        pearson(x, y)


# --------------------------------------------------------------------------- heterogeneity_correlations
V = np.array([0.0, 0.25, 0.5, 0.75])      # rows
G = np.array([0.1, 0.2, 0.3])             # columns: symmetric around 0.2


def by_key(rows):
    return {(row["parameter"], row["measure"]): row for row in rows}


def test_measure_linear_in_one_axis_correlates_fully_with_it_and_not_with_the_other():
    """measure = a*v + b exactly: r = +1 with v (or -1 for a < 0) and r = 0 with g on this symmetric design."""
    axes = {"v_th_std": V, "g_std": G}
    up = np.repeat((3 * V + 1)[:, None], len(G), axis=1)
    down = np.repeat((-2 * V)[:, None], len(G), axis=1)
    along_g = np.repeat((5 * G - 1)[None, :], len(V), axis=0)
    rows = by_key(heterogeneity_correlations(axes, {"up": up, "down": down, "along_g": along_g}))
    assert rows["v_th_std", "up"]["r"] == pytest.approx(1.0, abs=1e-12)
    assert rows["v_th_std", "down"]["r"] == pytest.approx(-1.0, abs=1e-12)
    assert rows["g_std", "along_g"]["r"] == pytest.approx(1.0, abs=1e-12)
    for key in [("g_std", "up"), ("g_std", "down"), ("v_th_std", "along_g")]:
        assert rows[key]["r"] == pytest.approx(0.0, abs=1e-12), key
        assert rows[key]["p"] == pytest.approx(1.0, abs=1e-9), key
    assert all(row["n"] == V.size * G.size for row in rows.values())


def test_correlation_rows_have_the_documented_keys_and_order():
    """One dict per (measure, parameter) with keys parameter, measure, r, p, n, measures outer, axes inner."""
    axes = {"v_th_std": V, "g_std": G}
    rng = np.random.default_rng(4)
    grids = {"lz_mean": rng.normal(size=(4, 3)), "hamming_mean": rng.normal(size=(4, 3))}
    rows = heterogeneity_correlations(axes, grids)
    assert [(row["measure"], row["parameter"]) for row in rows] == [
        ("lz_mean", "v_th_std"), ("lz_mean", "g_std"),
        ("hamming_mean", "v_th_std"), ("hamming_mean", "g_std")]
    for row in rows:
        assert set(row) == {"parameter", "measure", "r", "p", "n"}


def test_correlations_equal_pearson_over_the_meshgrid_and_skip_nan_points():
    """Each row is pearson(parameter value at each point, measure at that point); NaN points are left out of n."""
    axes = {"v": V, "g": G}
    rng = np.random.default_rng(5)
    values = rng.normal(size=(4, 3))
    values[1, 2] = values[3, 0] = np.nan
    rows = by_key(heterogeneity_correlations(axes, {"m": values}))
    vv, gg = np.meshgrid(V, G, indexing="ij")
    keep = np.isfinite(values)
    for name, coords in (("v", vv), ("g", gg)):
        expected = scipy_stats.pearsonr(coords[keep], values[keep])
        assert rows[name, "m"]["n"] == 10
        assert rows[name, "m"]["r"] == pytest.approx(expected.statistic, rel=1e-10)
        assert rows[name, "m"]["p"] == pytest.approx(expected.pvalue, rel=1e-8)


def test_correlations_with_no_measures_are_empty():
    """No measures give no rows."""
    assert heterogeneity_correlations({"v": V, "g": G}, {}) == []


def test_correlations_of_a_constant_measure_are_nan():
    """A measure equal at every point has no correlation: r and p NaN."""
    rows = heterogeneity_correlations({"v": V, "g": G}, {"flat": np.full((4, 3), 2.0)})
    assert all(np.isnan(row["r"]) and np.isnan(row["p"]) for row in rows)


@pytest.mark.parametrize("shape", [(3, 4), (4,), (4, 3, 1), (12,)])
def test_correlations_refuse_a_grid_of_the_wrong_shape(shape):
    """A measure whose shape is not [len(axis0), len(axis1)] raises ValueError naming it."""
    with pytest.raises(ValueError, match="'bad' has shape"):
        heterogeneity_correlations({"v": V, "g": G}, {"good": np.zeros((4, 3)),
                                                      "bad": np.zeros(shape)})


# --------------------------------------------------------------------------- grid_argmax
def test_grid_argmax_returns_the_index_of_the_largest_value():
    """The (row, column) of the maximum, as plain ints."""
    values = np.array([[1.0, 5.0, 2.0], [4.0, 3.0, 0.0]])
    index = grid_argmax(values)
    assert index == (0, 1) and all(type(i) is int for i in index)


def test_grid_argmax_ignores_nan_and_infinite_points():
    """NaN (not computed) and +-inf never win, even when every finite value is negative."""
    values = np.array([[np.nan, -3.0], [np.inf, -1.0], [-np.inf, np.nan]])
    assert grid_argmax(values) == (1, 1)
    assert grid_argmax([[np.nan, np.nan], [np.nan, 0.0]]) == (1, 1)


def test_grid_argmax_takes_the_first_of_equal_maxima():
    """Ties go to the first index in row-major order."""
    assert grid_argmax([[0.0, 2.0], [2.0, 1.0]]) == (0, 1)


def test_grid_argmax_works_in_one_and_three_dimensions():
    """The index has as many entries as the grid has dimensions."""
    assert grid_argmax([3.0, np.nan, 7.0]) == (2,)
    cube = np.zeros((2, 3, 4))
    cube[1, 2, 0] = 1.0
    assert grid_argmax(cube) == (1, 2, 0)


@pytest.mark.parametrize("values", [np.full((2, 3), np.nan), np.array([[np.inf, -np.inf]]),
                                    np.zeros((0, 3))])
def test_grid_argmax_without_any_finite_value_is_a_value_error(values):
    """All-NaN (or all-infinite, or empty) grids raise ValueError."""
    with pytest.raises(ValueError, match="no finite value"):
        grid_argmax(values)
