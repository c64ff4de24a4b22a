"""Grid statistics against scipy, and the report figures as files."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from analysis import plots
from analysis.stats import grid_argmax, heterogeneity_correlations, pearson


@pytest.mark.parametrize("seed", range(5))
def test_pearson_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=30)
    y = 0.5 * x + rng.normal(size=30)
    r, p, n = pearson(x, y)
    expected = scipy_stats.pearsonr(x, y)
    assert r == pytest.approx(expected[0], rel=1e-10) and p == pytest.approx(expected[1], rel=1e-8)
    assert n == 30


def test_pearson_drops_nan_pairs_and_flags_degenerate_input():
    r, p, n = pearson([1, 2, np.nan, 4, 5], [2, 4, 1, 8, 11])
    assert n == 4 and r == pytest.approx(scipy_stats.pearsonr([1, 2, 4, 5], [2, 4, 8, 11])[0])
    assert np.isnan(pearson([1, 1, 1, 1], [1, 2, 3, 4])[0])
    assert np.isnan(pearson([1, 2], [3, 4])[0])
    with pytest.raises(ValueError, match="differ"):
        pearson([1, 2, 3], [1, 2])


def test_correlations_find_the_parameter_a_measure_depends_on():
    axes = {"v": np.array([0.1, 0.2, 0.3]), "g": np.array([1.0, 2.0, 3.0, 4.0])}
    measure = np.tile(2 * axes["g"], (3, 1))            # depends on g only
    rows = {(r["parameter"], r["measure"]): r for r in
            heterogeneity_correlations(axes, {"m": measure})}
    assert rows["g", "m"]["r"] == pytest.approx(1.0) and rows["g", "m"]["n"] == 12
    assert rows["v", "m"]["r"] == pytest.approx(0.0, abs=1e-12) or np.isnan(rows["v", "m"]["r"])
    with pytest.raises(ValueError, match="shape"):
        heterogeneity_correlations(axes, {"m": np.zeros((4, 3))})


def test_grid_argmax_ignores_missing_points():
    assert grid_argmax(np.array([[1.0, np.nan], [3.0, 2.0]])) == (1, 0)
    with pytest.raises(ValueError, match="no finite"):
        grid_argmax(np.full((2, 2), np.nan))


def test_figures_are_written_as_png(tmp_path):
    made = [
        plots.heatmap(np.array([[1.0, np.nan], [2.0, 3.0]]), [0.1, 0.2], [1, 2],
                      tmp_path / "sub" / "h.png", xlabel="g", ylabel="v", mark=(1, 1)),
        plots.hamming_over_time(np.arange(5) * 1e-3, np.ones((2, 5)), tmp_path / "d.png",
                                saturation=1.5),
        plots.lz_distribution([0.1, 0.2, 0.15], tmp_path / "lz.png"),
        plots.raster_comparison([0, 1], [0.01, 0.02], [], [], tmp_path / "r.png",
                                perturbation_time_s=0.005, n_show=5),
    ]
    for path in made:
        assert path.read_bytes()[:4] == b"\x89PNG"
