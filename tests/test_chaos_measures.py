"""Chaos measures: Hamming distance, its saturation level and its growth rate."""
import numpy as np
import pytest

from analysis.chaos import hamming_distance, hamming_slope, saturation_level

DT = 0.001  # s, bin width used throughout


def ramp_then_plateau(rate_per_s=3000.0, plateau=150.0, onset_bin=20, n_bins=400):
    """Zero until onset, then a linear ramp at rate_per_s, capped at the plateau."""
    t = np.arange(n_bins) * DT
    return np.clip((t - onset_bin * DT) * rate_per_s, 0.0, plateau)


# ----------------------------------------------------------------------------- distance
def test_hamming_distance_counts_differing_neurons_per_bin():
    a = np.array([[1, 0, 1, 0],
                  [0, 0, 1, 1],
                  [1, 1, 0, 0]])
    b = np.array([[1, 1, 0, 0],
                  [1, 0, 1, 0],
                  [1, 0, 0, 0]])
    # bin 0: neuron 1; bin 1: neurons 0, 2; bin 2: neuron 0; bin 3: neuron 1
    distance = hamming_distance(a, b)
    assert distance.tolist() == [1, 2, 1, 1]
    assert distance.dtype.kind == "i"


def test_hamming_distance_treats_counts_as_spiked_or_not():
    a = np.array([[3, 0, 1]])
    b = np.array([[1, 0, 0]])
    assert hamming_distance(a, b).tolist() == [0, 0, 1]


def test_identical_runs_have_zero_distance():
    x = (np.random.default_rng(0).random((50, 30)) < 0.2).astype(np.uint8)
    assert not hamming_distance(x, x.copy()).any()


def test_hamming_distance_rejects_shape_mismatch_and_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        hamming_distance(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="2-D"):
        hamming_distance(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="non-negative"):
        hamming_distance([[-1, 0]], [[0, 0]])


# ----------------------------------------------------------------------------- saturation
def test_saturation_level_by_hand():
    binned = np.array([[1, 0, 1, 0],   # p = 1/2 -> 2 * 1/2 * 1/2 = 0.5
                       [1, 1, 1, 1],   # p = 1   -> 0
                       [0, 0, 0, 2]])  # p = 1/4 -> 2 * 1/4 * 3/4 = 0.375
    level = saturation_level(binned)
    assert isinstance(level, float)
    assert level == pytest.approx(0.875)


def test_saturation_level_matches_independent_runs():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.0, 0.3, size=200)
    a = rng.random((200, 20_000)) < p[:, None]
    b = rng.random((200, 20_000)) < p[:, None]
    assert hamming_distance(a, b).mean() == pytest.approx(saturation_level(a), rel=0.02)


def test_saturation_level_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        saturation_level([1, 0, 1])
    with pytest.raises(ValueError, match="at least one bin"):
        saturation_level(np.zeros((3, 0)))


# ----------------------------------------------------------------------------- slope
def test_growth_slope_recovers_ramp_despite_plateau():
    distance = ramp_then_plateau(rate_per_s=3000.0, plateau=150.0)
    slope = hamming_slope(distance, DT, saturation=150.0)
    assert slope == pytest.approx(3000.0, rel=0.01)


def test_window_slope_is_flattened_by_the_plateau():
    distance = ramp_then_plateau(rate_per_s=3000.0, plateau=150.0)
    # 0.2 s covers the onset, the 50 ms ramp and 130 ms of plateau
    windowed = hamming_slope(distance, DT, method="window", window=0.2)
    assert windowed < 0.9 * 3000.0
    expected = np.polyfit(np.arange(200) * DT, distance[:200], 1)[0]
    assert windowed == pytest.approx(expected)


def test_growth_slope_of_noisy_ramp_is_close():
    rng = np.random.default_rng(2)
    distance = np.maximum(ramp_then_plateau(2000.0, 200.0, n_bins=600)
                          + rng.normal(0.0, 3.0, 600), 0.0)
    distance[:20] = 0.0
    assert hamming_slope(distance, DT, saturation=200.0) == pytest.approx(2000.0, rel=0.05)


def test_all_zero_distance_has_zero_slope():
    assert hamming_slope(np.zeros(100), DT, saturation=10.0) == 0.0
    assert hamming_slope(np.zeros(100), DT) == 0.0


def test_single_bin_window_gives_distance_over_dt():
    # the first nonzero bin already reaches the threshold 0.5 * 4
    distance = np.array([0.0, 0.0, 8.0, 8.0, 8.0])
    assert hamming_slope(distance, DT, saturation=4.0, smooth_bins=1) == pytest.approx(8.0 / DT)
    # a distance that becomes nonzero only in the last bin
    assert hamming_slope([0.0, 0.0, 5.0], DT) == pytest.approx(5.0 / DT)


def test_without_saturation_the_fit_runs_to_the_end():
    distance = np.concatenate([np.zeros(10), 4.0 * np.arange(1, 41)])
    assert hamming_slope(distance, DT) == pytest.approx(4.0 / DT)


def test_window_ends_where_trailing_average_reaches_threshold():
    # D = 2k in bins 0..10, then 40 in bin 11 and beyond.  Threshold 0.5 * 40 = 20.
    # Trailing 3-bin mean: bin 10 -> (16 + 18 + 20)/3 = 18, bin 11 -> (18 + 20 + 40)/3 = 26,
    # so the window is bins 1..11 and includes the first 40.  (A centred mean would
    # already stop at bin 10 and return exactly 2/DT.)
    distance = np.concatenate([2.0 * np.arange(11), [40.0] * 20])
    slope = hamming_slope(distance, DT, saturation=40.0, smooth_bins=3)
    expected = np.polyfit(np.arange(1, 12) * DT, distance[1:12], 1)[0]
    assert slope == pytest.approx(expected)
    assert slope > 1.05 * 2.0 / DT


def test_slope_returns_python_float():
    assert type(hamming_slope(ramp_then_plateau(), DT, saturation=150.0)) is float
    assert type(hamming_slope(ramp_then_plateau(), DT, method="window", window=0.1)) is float


@pytest.mark.parametrize("kwargs, match", [
    (dict(dt=0.0), "dt"),
    (dict(dt=-0.001), "dt"),
    (dict(fraction=0.0), "fraction"),
    (dict(fraction=1.5), "fraction"),
    (dict(smooth_bins=0), "smooth_bins"),
    (dict(smooth_bins=2.5), "smooth_bins"),
    (dict(saturation=-1.0), "saturation"),
    (dict(method="polyfit"), "method"),
    (dict(method="window"), "window"),
    (dict(method="window", window=0.0015), "at least two"),
])
def test_slope_rejects_invalid_arguments(kwargs, match):
    args = dict(dt=DT)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        hamming_slope(ramp_then_plateau(), **args)


@pytest.mark.parametrize("distance, match", [
    (np.zeros((3, 3)), "1-D"),
    ([], "1-D"),
    ([0.0, np.nan], "finite"),
])
def test_slope_rejects_invalid_distance(distance, match):
    with pytest.raises(ValueError, match=match):
        hamming_slope(distance, DT)
