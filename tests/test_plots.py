"""analysis.plots: every figure function writes a real PNG where asked and returns its path."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis import plots
from figures import assert_png


def spikes(seed, n_neurons=50, n_spikes=400, duration_s=0.5):
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n_neurons, n_spikes)
    t = np.round(rng.uniform(0, duration_s, n_spikes), 4)
    return i, t


@pytest.fixture(autouse=True)
def no_open_figures():
    """Every function closes its figure: none are left open after a test."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


# --------------------------------------------------------------------------- raster_comparison
def test_raster_comparison_writes_a_png(tmp_path):
    """Overlaid control/perturbed rasters (shared, control-only, trial-only spikes) give a PNG."""
    ci, ct = spikes(0)
    keep = ct < 0.25  # identical before the perturbation, different after it
    ti, tt = spikes(1)
    ti = np.concatenate([ci[keep], ti[tt >= 0.25]])
    tt = np.concatenate([ct[keep], tt[tt >= 0.25]])
    path = tmp_path / "raster.png"
    assert_png(plots.raster_comparison(ci, ct, ti, tt, path, perturbation_time_s=0.25,
                                       perturbed_neuron=7, n_show=50), path)


@pytest.mark.parametrize("which", ["trial", "control", "both"])
def test_raster_comparison_handles_empty_spike_arrays(tmp_path, which):
    """A run without any spike (empty index and time arrays) still gives a PNG, not an error."""
    ci, ct = spikes(2)
    ti, tt = spikes(3)
    empty_i, empty_t = np.array([], dtype=int), np.array([], dtype=float)
    if which in ("control", "both"):
        ci, ct = empty_i, empty_t
    if which in ("trial", "both"):
        ti, tt = empty_i, empty_t
    path = tmp_path / f"raster_{which}.png"
    assert_png(plots.raster_comparison(ci, ct, ti, tt, path, perturbation_time_s=0.1), path)


def test_raster_comparison_accepts_plain_lists_and_neurons_beyond_n_show(tmp_path):
    """Lists work as input, and spikes of neurons >= n_show are simply left out."""
    path = tmp_path / "raster_lists.png"
    result = plots.raster_comparison([0, 3, 500], [0.01, 0.02, 0.03], [0, 600], [0.01, 0.05],
                                     str(path), perturbation_time_s=0.02, n_show=10)
    assert_png(result, path)


# --------------------------------------------------------------------------- hamming_over_time
def test_hamming_over_time_writes_a_png(tmp_path):
    """Several trials of distance over time, with the saturation line, give a PNG."""
    time_s = np.arange(100) * 1e-3
    distances = np.random.default_rng(4).uniform(0, 1, (5, 100)).cumsum(axis=1)
    path = tmp_path / "hamming.png"
    assert_png(plots.hamming_over_time(time_s, distances, path, saturation=40.0,
                                       title="test divergence"), path)


@pytest.mark.parametrize("saturation", [None, float("nan")])
def test_hamming_over_time_with_one_trial_and_no_saturation(tmp_path, saturation):
    """A single 1-d trial and a missing (None or NaN) saturation level are accepted."""
    path = tmp_path / "hamming_one.png"
    assert_png(plots.hamming_over_time(np.arange(20) * 1e-3, np.arange(20.0), path,
                                       saturation=saturation), path)


# --------------------------------------------------------------------------- lz_distribution
def test_lz_distribution_writes_a_png(tmp_path):
    """A histogram of per-trial LZ complexities gives a PNG."""
    path = tmp_path / "lz.png"
    lz = np.random.default_rng(5).normal(0.8, 0.05, 40)
    assert_png(plots.lz_distribution(lz, path), path)


@pytest.mark.parametrize("lz", [[], [0.7], [0.5, np.nan, 0.6]], ids=["empty", "one", "nan"])
def test_lz_distribution_with_few_or_missing_values(tmp_path, lz):
    """No trials, one trial or a NaN among the trials still give a PNG."""
    path = tmp_path / "lz_few.png"
    assert_png(plots.lz_distribution(lz, path, xlabel="LZ"), path)


# --------------------------------------------------------------------------- heatmap
def heat_values(rows=5, cols=7, seed=6):
    return np.random.default_rng(seed).uniform(0, 1, (rows, cols))


def test_heatmap_writes_a_png(tmp_path):
    """A grid with real-unit axes, a colour bar and a ringed maximum gives a PNG."""
    values = heat_values()
    path = tmp_path / "heat.png"
    row, col = np.unravel_index(values.argmax(), values.shape)
    assert_png(plots.heatmap(values, np.linspace(0, 0.6, 7), np.linspace(0, 2, 5), path,
                             xlabel="g_std (relative)", ylabel="v_th_std (mV)",
                             title="LZ complexity", cbar_label="LZ", mark=(row, col)), path)


def test_heatmap_handles_nan_points(tmp_path):
    """Points not computed (NaN) are allowed, including a grid that is entirely NaN."""
    values = heat_values()
    values[0, :3] = values[4, 6] = np.nan
    for name, grid in (("some_nan.png", values), ("all_nan.png", np.full((5, 7), np.nan))):
        path = tmp_path / name
        assert_png(plots.heatmap(grid, np.arange(7), np.arange(5), path, xlabel="x", ylabel="y"),
                   path)


def test_heatmap_of_a_large_grid_and_a_single_point(tmp_path):
    """Tick thinning on a 30 x 40 grid and a 1 x 1 grid both work."""
    big = tmp_path / "big.png"
    assert_png(plots.heatmap(heat_values(30, 40), np.linspace(0, 1, 40), np.linspace(0, 3, 30),
                             big, xlabel="x", ylabel="y"), big)
    one = tmp_path / "one.png"
    assert_png(plots.heatmap([[0.3]], [0.1], [2.0], one, xlabel="x", ylabel="y", mark=(0, 0)), one)


# --------------------------------------------------------------------------- all functions
CALLS = {
    "raster_comparison": lambda p: plots.raster_comparison(*spikes(7), *spikes(8), p,
                                                           perturbation_time_s=0.2),
    "hamming_over_time": lambda p: plots.hamming_over_time(np.arange(10) * 1e-3,
                                                           np.ones((2, 10)), p),
    "lz_distribution": lambda p: plots.lz_distribution([0.1, 0.2, 0.3], p),
    "heatmap": lambda p: plots.heatmap(heat_values(2, 3), [1, 2, 3], [1, 2], p,
                                       xlabel="x", ylabel="y"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_missing_parent_folders_are_created(tmp_path, name):
    """Each function creates the folders above its output path."""
    path = tmp_path / "not" / "yet" / "there" / f"{name}.png"
    assert_png(CALLS[name](path), path)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_an_existing_file_is_overwritten(tmp_path, name):
    """Each function replaces a file already at the output path."""
    path = tmp_path / f"{name}.png"
    path.write_bytes(b"old")
    assert_png(CALLS[name](str(path)), path)
