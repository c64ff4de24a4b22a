"""Spike statistics and binning: hand-computed cases, Poisson limits, Elephant."""
import importlib

import numpy as np
import pytest

from analysis.spikes import (bin_spikes, cv_isi, fano_factor, firing_rates, isi,
                             local_variation)


def poisson_train(rng, rate_hz, duration_s):
    return np.cumsum(rng.exponential(1.0 / rate_hz, size=int(rate_hz * duration_s)))


# ----------------------------------------------------------------------------- ISI, CV, LV
def test_isi_by_hand():
    assert isi([0.0, 0.1, 0.3, 0.6]) == pytest.approx([0.1, 0.2, 0.3])
    assert isi([1.0]).size == 0
    assert isi([]).size == 0


def test_isi_rejects_unsorted_and_non_1d_times():
    with pytest.raises(ValueError, match="sorted ascending"):
        isi([0.0, 0.3, 0.2])
    with pytest.raises(ValueError, match="1-D"):
        isi([[0.0, 0.1], [0.2, 0.3]])
    with pytest.raises(ValueError, match="finite"):
        isi([0.0, np.nan])


def test_cv_by_hand():
    # intervals 0.1, 0.2, 0.3: mean 0.2, population std sqrt(0.02/3)
    assert cv_isi([0.0, 0.1, 0.3, 0.6]) == pytest.approx(np.sqrt(0.02 / 3) / 0.2)
    assert cv_isi(np.arange(10) * 0.05) == pytest.approx(0.0, abs=1e-12)


def test_cv_needs_two_intervals():
    assert np.isnan(cv_isi([0.0, 0.1]))
    assert np.isnan(cv_isi([]))
    assert type(cv_isi([0.0, 0.1, 0.3])) is float


def test_local_variation_by_hand():
    # intervals 0.1, 0.2, 0.3: 3/2 * ((-0.1/0.3)^2 + (-0.1/0.5)^2)
    expected = 1.5 * ((1 / 3) ** 2 + (1 / 5) ** 2)
    assert local_variation([0.0, 0.1, 0.3, 0.6]) == pytest.approx(expected)
    # alternating intervals 1, 3, 1, 3: every ratio is 1/2
    assert local_variation(np.cumsum([0, 1, 3, 1, 3])) == pytest.approx(3 * 0.25)


def test_local_variation_limits():
    assert local_variation(np.arange(20) * 0.01) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(local_variation([0.0, 0.1]))
    with pytest.raises(ValueError, match="zero intervals"):
        local_variation([0.0, 0.1, 0.1, 0.1])


def test_poisson_train_has_unit_cv_and_lv():
    train = poisson_train(np.random.default_rng(0), rate_hz=20.0, duration_s=1000.0)
    assert cv_isi(train) == pytest.approx(1.0, abs=0.03)
    assert local_variation(train) == pytest.approx(1.0, abs=0.03)


# ----------------------------------------------------------------------------- Fano factor
def test_fano_factor_by_hand():
    # mean 4, population variance 8/3
    assert fano_factor([2, 4, 6]) == pytest.approx(2 / 3)
    assert fano_factor([5, 5, 5]) == 0.0
    assert np.isnan(fano_factor([0, 0, 0]))


def test_poisson_counts_have_unit_fano_factor():
    counts = np.random.default_rng(1).poisson(7.0, size=50_000)
    assert fano_factor(counts) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("counts, match", [
    (np.ones((2, 3)), "1-D"),
    ([], "1-D"),
    ([1, -1], "non-negative"),
    ([1, np.inf], "finite"),
])
def test_fano_factor_rejects_invalid_counts(counts, match):
    with pytest.raises(ValueError, match=match):
        fano_factor(counts)


# ----------------------------------------------------------------------------- rates
def test_firing_rates_by_hand():
    rates = firing_rates(np.array([0, 3, 3, 1, 3]), n_neurons=5, duration_s=0.5)
    assert rates.tolist() == [2.0, 2.0, 0.0, 6.0, 0.0]
    assert firing_rates([], n_neurons=2, duration_s=1.0).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("indices, n_neurons, duration_s, match", [
    ([0, 3], 3, 1.0, r"\[0, 3\)"),
    ([-1], 3, 1.0, r"\[0, 3\)"),
    ([0.5], 3, 1.0, "integers"),
    ([0], 0, 1.0, "n_neurons"),
    ([0], 3, 0.0, "duration_s"),
    ([0], 3, -2.0, "duration_s"),
])
def test_firing_rates_rejects_invalid_input(indices, n_neurons, duration_s, match):
    with pytest.raises(ValueError, match=match):
        firing_rates(indices, n_neurons, duration_s)


# ----------------------------------------------------------------------------- binning
def test_bin_spikes_by_hand():
    indices = [0, 0, 1, 2, 2, 2]
    times = [0.00, 0.25, 0.10, 0.05, 0.07, 0.39]
    counts = bin_spikes(indices, times, 3, 0.0, 0.4, 0.1, binary=False)
    assert counts.dtype == np.int32
    assert counts.tolist() == [[1, 0, 1, 0],
                               [0, 1, 0, 0],
                               [2, 0, 0, 1]]
    binary = bin_spikes(indices, times, 3, 0.0, 0.4, 0.1)
    assert binary.dtype == np.uint8
    assert binary.tolist() == [[1, 0, 1, 0],
                               [0, 1, 0, 0],
                               [1, 0, 0, 1]]


def test_bin_spikes_edges():
    # with t_start = 0.1 and 0.1 s bins, (0.3 - 0.1) / 0.1 = 1.9999999999999998 and
    # (0.7 - 0.1) / 0.1 = 5.999999999999999, yet 0.3 s and 0.7 s start bins 2 and 6;
    # t_start is kept, t_stop and everything outside [t_start, t_stop) is dropped
    times = [0.3, 0.7, 0.1, 0.5, 0.9, 1.0, 0.0999, -0.01, 1.2]
    counts = bin_spikes([0] * len(times), times, 1, 0.1, 1.0, 0.1, binary=False)
    assert counts.shape == (1, 9)
    assert counts[0].tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1]


def test_bin_spikes_matches_histogram_away_from_edges():
    rng = np.random.default_rng(2)
    n_neurons, n_bins, bin_s = 40, 250, 0.002
    # times strictly inside bins, so no floating-point edge decisions are involved
    indices = rng.integers(0, n_neurons, 20_000)
    bins = rng.integers(-5, n_bins + 5, 20_000)
    times = 0.5 + (bins + rng.uniform(0.01, 0.99, 20_000)) * bin_s
    counts = bin_spikes(indices, times, n_neurons, 0.5, 0.5 + n_bins * bin_s, bin_s, binary=False)
    expected = np.zeros((n_neurons, n_bins), dtype=int)
    for i, k in zip(indices, bins):
        if 0 <= k < n_bins:
            expected[i, k] += 1
    assert np.array_equal(counts, expected)


def test_bin_spikes_handles_a_million_spikes():
    rng = np.random.default_rng(3)
    n = 1_000_000
    indices = rng.integers(0, 1000, n)
    times = rng.uniform(0.0, 0.5, n)
    counts = bin_spikes(indices, times, 1000, 0.0, 0.5, 0.001, binary=False)
    assert counts.shape == (1000, 500)
    assert counts.sum() == n
    assert np.array_equal(counts.sum(axis=1), np.bincount(indices, minlength=1000))


@pytest.mark.parametrize("kwargs, match", [
    (dict(bin_s=0.3), "whole number of bins"),
    (dict(bin_s=0.0), "bin_s"),
    (dict(t_stop_s=0.0), "t_start_s < t_stop_s"),
    (dict(spike_times_s=[0.1]), "same length"),
    (dict(spike_times_s=[0.1, np.nan]), "finite"),
    (dict(spike_indices=[0, 5]), r"\[0, 2\)"),
    (dict(n_neurons=0), "n_neurons"),
])
def test_bin_spikes_rejects_invalid_input(kwargs, match):
    args = dict(spike_indices=[0, 1], spike_times_s=[0.1, 0.2], n_neurons=2,
                t_start_s=0.0, t_stop_s=1.0, bin_s=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        bin_spikes(**args)


# ----------------------------------------------------------------------------- Elephant
def _random_trains(seed, count=20):
    rng = np.random.default_rng(seed)
    return [np.sort(rng.uniform(0.0, 10.0, int(rng.integers(3, 200)))) for _ in range(count)]


def test_isi_cv_and_lv_agree_with_elephant():
    statistics = importlib.import_module("elephant.statistics")
    for train in _random_trains(4):
        np.testing.assert_allclose(isi(train), statistics.isi(train))
        assert cv_isi(train) == pytest.approx(float(statistics.cv(statistics.isi(train))))
        assert local_variation(train) == pytest.approx(float(statistics.lv(statistics.isi(train))))


def test_fano_factor_agrees_with_elephant():
    statistics = importlib.import_module("elephant.statistics")
    trains = _random_trains(5, count=30)
    counts = [len(train) for train in trains]
    assert fano_factor(counts) == pytest.approx(float(statistics.fanofactor(trains)))
