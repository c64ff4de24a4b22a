"""The study's own measures: hand-worked values, the references, the quirks."""
import numpy as np
import pytest

from analysis.chaos_study import (
    LZ_BIN_MS,
    SLOPE_BIN_MS,
    difference_matrix,
    difference_matrix_reference,
    hamming_slope_study,
    hamming_slope_study_reference,
    lz_study,
    lz_study_reference,
    trial_measures,
)


def row(text):
    """One-row matrix from a 0/1 string: the parse reads it as it is."""
    return np.array([[int(ch) for ch in text]], dtype=np.uint8)


def distance_matrix(distance, n_neurons=None):
    """A binary matrix whose column sums are ``distance`` (the first d_c rows set)."""
    distance = np.asarray(distance)
    n_neurons = int(distance.max()) + 1 if n_neurons is None else n_neurons
    return (np.arange(n_neurons)[:, None] < distance[None, :]).astype(np.uint8)


# ----------------------------------------------------------------------------- LZ: hand-worked
@pytest.mark.parametrize("text, expected", [
    ("0", 1),                # 0
    ("01", 2),               # 0 | 1
    ("010", 3),              # 0 | 1 | 0 (a copy)
    ("0000", 3),             # 0 | 00 | 0 (a copy)
    ("010110", 4),           # 0 | 1 | 01 | 10
    ("1111111", 4),          # 1 | 11 | 111 | 1 (a copy)
    ("0010110111", 4),       # 0 | 01 | 011 | 0111
    ("0000000000", 4),       # 0 | 00 | 000 | 0000
    ("00000000000", 5),      # 0 | 00 | 000 | 0000 | 0 (a copy)
    ("1000100101", 6),       # 1 | 0 | 00 | 10 | 01 | 01 (a copy)
    ("0101010101", 6),       # 0 | 1 | 01 | 010 | 10 | 1 (a copy)
])
def test_hand_parsed_sequences(text, expected):
    assert lz_study(row(text)) == expected
    assert lz_study_reference(row(text)) == expected


def test_empty_matrix_has_no_phrases():
    assert lz_study(np.zeros((3, 0), dtype=np.uint8)) == 0
    assert lz_study_reference(np.zeros((3, 0), dtype=np.uint8)) == 0


def test_rows_are_sorted_by_activity_then_read_column_by_column():
    x = np.array([[0, 0, 0, 1],    # sum 1
                  [1, 1, 1, 0],    # sum 3: read first
                  [0, 0, 0, 0]])   # sum 0: read last
    # sorted rows 1110 / 0001 / 0000, read time-major: 100 100 100 010
    # = 1 | 0 | 01 | 00 | 10 | 001 | 0 (a copy)
    assert lz_study(x) == 7
    assert lz_study(x) == lz_study(row("100100100010"))


def test_bool_and_integer_matrices_give_the_same_count():
    x = np.random.default_rng(1).random((7, 40)) < 0.2
    assert lz_study(x) == lz_study(x.astype(np.uint8)) == lz_study(x.astype(float))


# ----------------------------------------------------------------------------- LZ: reference
def _random_matrices(seed, count):
    rng = np.random.default_rng(seed)
    for trial in range(count):
        shape = (int(rng.integers(1, 12)), int(rng.integers(1, 120)))
        kind = trial % 5
        if kind == 0:  # any density
            yield rng.random(shape) < rng.random()
        elif kind == 1:  # sparse: long runs of zeros
            yield rng.random(shape) < 0.03 * rng.random()
        elif kind == 2:  # all zeros or all ones
            yield np.full(shape, trial % 2 == 0)
        elif kind == 3:  # tied row sums with different rows
            base = rng.random(shape[1]) < 0.3
            yield np.array([np.roll(base, k) for k in range(shape[0])])
        else:  # periodic in time
            yield np.tile(rng.random((shape[0], 3)) < 0.4, (1, shape[1] // 3 + 1))


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference_on_random_matrices(seed):
    for x in _random_matrices(seed, 300):
        assert lz_study(x) == lz_study_reference(x), x.astype(int).tolist()


def test_matches_reference_beyond_the_initial_trie_capacity():
    rng = np.random.default_rng(2)
    for density in (0.5, 0.1, 0.002):  # ~2000, ~1100 and ~150 phrases
        x = rng.random((20, 1000)) < density
        assert lz_study(x) == lz_study_reference(x)


def test_matches_reference_on_long_runs_of_zeros():
    # runs longer and shorter than the root's chain of zeros, and a run that ends the sequence
    for zeros in (0, 1, 2, 5, 44, 45, 46, 1000, 1034):
        for tail in ("", "1", "10", "0" * 40):
            x = row("0" * zeros + "1" + "0" * 30 + "1" + "0" * zeros + tail)
            assert lz_study(x) == lz_study_reference(x), (zeros, tail)


# ----------------------------------------------------------------------------- difference matrix
def test_difference_matrix_of_a_hand_worked_trial():
    # perturbation at 250 ms, end at 255 ms, 1 ms bins: 5 bins
    ctrl_i = [0, 1, 2, 2]
    ctrl_t_s = [0.2510,   # r = 1.0 -> bin 1
                0.2524,   # r = 2.4 -> bin 2
                0.2490,   # before the perturbation: dropped
                0.2560]   # r = 6 -> bin 6 >= 5: dropped
    pert_i = [0, 1, 2, 2, 2]
    pert_t_s = [0.2512,   # r = 1.2 -> bin 1, as in the control
                0.2536,   # r = 3.6 -> bin 4 (nearest, not the bin it falls in)
                0.2500,   # r = 0 -> bin 0
                0.2531,   # r = 3.1 -> bin 3
                0.2534]   # r = 3.4 -> bin 3 again: still one
    diff = difference_matrix(ctrl_i, ctrl_t_s, pert_i, pert_t_s, n_neurons=3,
                             perturbation_time_s=0.25, end_s=0.255, perturbed_neuron=2,
                             bin_ms=1.0)
    assert diff.dtype == np.uint8
    # column 0 marks neuron 2; bins 0..4 are columns 1..5
    assert diff.tolist() == [[0, 0, 0, 0, 0, 0],   # bin 1 in both runs
                             [0, 0, 0, 1, 0, 1],   # bin 2 vs bin 4
                             [1, 1, 0, 0, 1, 0]]   # bins 0 and 3 only when perturbed
    assert difference_matrix_reference(ctrl_i, ctrl_t_s, pert_i, pert_t_s, 3, 0.25, 0.255,
                                       2, 1.0).tolist() == diff.tolist()
    # row sums 0, 2, 3: order 2, 1, 0; time-major 100 100 000 010 100 010
    # = 1 | 0 | 01 | 00 | 000 | 010 | 10 | 001 | 0 (a copy)
    assert lz_study(diff) == 9
    assert lz_study_reference(diff) == 9


def test_spikes_at_half_bins_round_to_even():
    # 2.5 ms -> bin 2 and 3.5 ms -> bin 4 (half to even); 0.0025 * 1000.0 == 2.5 exactly
    diff = difference_matrix([0, 0], [0.0025, 0.0035], [], [], n_neurons=1,
                             perturbation_time_s=0.0, end_s=0.006, perturbed_neuron=0,
                             bin_ms=1.0)
    assert diff.tolist() == [[1, 0, 0, 1, 0, 1, 0]]


def test_number_of_bins_truncates_and_last_half_bin_is_dropped():
    # 4.9 ms after the perturbation with 1 ms bins: int(4.9) = 4 bins;
    # a spike at 3.6 ms rounds to bin 4, outside: dropped
    diff = difference_matrix([0, 0], [0.1031, 0.1036], [], [], n_neurons=1,
                             perturbation_time_s=0.1, end_s=0.1049, perturbed_neuron=0,
                             bin_ms=1.0)
    assert diff.tolist() == [[1, 0, 0, 0, 1]]


def test_identical_runs_differ_only_in_the_prepended_column():
    rng = np.random.default_rng(0)
    i, t = rng.integers(0, 5, 100), rng.uniform(0.0, 1.0, 100)
    diff = difference_matrix(i, t, i, t, 5, 0.3, 1.0, perturbed_neuron=3, bin_ms=LZ_BIN_MS)
    assert diff.shape == (5, 1 + 7000)
    assert diff.sum() == 1 and diff[3, 0] == 1


@pytest.mark.parametrize("bin_ms", [0.1, 1.0, 0.7, 3.0])
def test_difference_matrix_matches_spike_by_spike_reference(bin_ms):
    rng = np.random.default_rng(int(bin_ms * 10))
    for _ in range(10):
        n = int(rng.integers(1, 20))
        # times on the study's 0.1 ms grid and off it, before and after the window
        ctrl_t = np.round(rng.uniform(0.09, 0.16, 300), 4)
        pert_t = np.where(rng.random(300) < 0.8, ctrl_t, rng.uniform(0.09, 0.16, 300))
        args = (rng.integers(0, n, 300), ctrl_t, rng.integers(0, n, 300), pert_t, n, 0.1,
                0.15, int(rng.integers(0, n)), bin_ms)
        assert np.array_equal(difference_matrix(*args), difference_matrix_reference(*args))


def test_trial_measures_uses_the_studys_bins():
    rng = np.random.default_rng(3)
    ctrl_i, ctrl_t = rng.integers(0, 30, 400), np.round(rng.uniform(0, 0.3, 400), 4)
    pert_i, pert_t = ctrl_i.copy(), ctrl_t.copy()
    late = ctrl_t > 0.15
    pert_t[late] += 0.002  # the runs diverge after 50 ms
    args = (ctrl_i, ctrl_t, pert_i, pert_t, 30, 0.1, 0.3, 7)
    lz, slope = trial_measures(*args)
    assert lz == lz_study(difference_matrix(*args, bin_ms=LZ_BIN_MS))
    assert slope == hamming_slope_study(difference_matrix(*args, bin_ms=SLOPE_BIN_MS))
    assert type(lz) is int and type(slope) is float


def test_trial_measures_from_the_spikes_equal_the_dense_matrix_pipeline():
    """trial_measures writes the sorted sequence from the differing cells alone; on
    random spike trains (many tied row sums, spikes on and off the bin grid, both
    runs partly shared) it counts exactly what lz_study / hamming_slope_study count
    on the dense difference matrices."""
    rng = np.random.default_rng(11)
    for case in range(30):
        n = int(rng.integers(1, 60))
        m = int(rng.integers(0, 400))
        ctrl_i, ctrl_t = rng.integers(0, n, m), rng.uniform(0.0, 0.25, m)
        if case % 2:
            ctrl_t = np.round(ctrl_t, 4)          # on the 0.1 ms grid
        keep = rng.random(m) < rng.uniform(0, 1)
        extra = int(rng.integers(0, 50))
        pert_i = np.concatenate([ctrl_i[keep], rng.integers(0, n, extra)])
        pert_t = np.concatenate([ctrl_t[keep], rng.uniform(0.0, 0.25, extra)])
        args = (ctrl_i, ctrl_t, pert_i, pert_t, n, 0.05, 0.25, int(rng.integers(0, n)))
        lz, slope = trial_measures(*args)
        assert lz == lz_study(difference_matrix(*args, bin_ms=LZ_BIN_MS)), case
        assert slope == hamming_slope_study(difference_matrix(*args, bin_ms=SLOPE_BIN_MS)), case


# ----------------------------------------------------------------------------- Hamming slope
def test_ramp_after_the_window_start_has_its_slope():
    # columns 0..49 (centres 0.5..49.5 ms) climb 5 per ms but are before 50 ms;
    # from column 50 on, d = 2 (c - 50): slope 2 neurons per ms
    d = np.concatenate([5 * np.arange(50), 2 * np.arange(30)])
    assert hamming_slope_study(distance_matrix(d)) == 2.0
    assert hamming_slope_study_reference(distance_matrix(d)) == pytest.approx(2.0)


def test_ramp_then_plateau_keeps_the_ramp_slope():
    d = np.concatenate([np.zeros(50), 2 * np.arange(15), np.full(40, 28)])
    assert hamming_slope_study(distance_matrix(d)) == pytest.approx(2.0)


@pytest.mark.parametrize("d", [np.full(100, 7), 150 - np.arange(100)])
def test_flat_or_decreasing_distance_has_zero_slope(d):
    assert hamming_slope_study(distance_matrix(d)) == 0.0
    assert hamming_slope_study_reference(distance_matrix(d)) == 0.0


def test_correlation_threshold_excludes_a_noisy_ramp():
    # 10 kept columns (centres 50.5..59.5 ms) alternating 0, 1: one window, with
    # cov = 2.5 and var_t = 82.5 (in bins), so slope 2.5 / 82.5 = 1/33 per ms and
    # r = 2.5 / sqrt(82.5 * 2.5) = 0.174: below 0.3, above 0.1
    d = np.concatenate([np.arange(50), np.arange(10) % 2])
    x = distance_matrix(d)
    assert hamming_slope_study(x) == 0.0
    assert hamming_slope_study(x, min_correlation=0.1) == pytest.approx(1 / 33, rel=1e-12)
    assert hamming_slope_study(x, min_correlation=0.17) == pytest.approx(1 / 33, rel=1e-12)
    assert hamming_slope_study(x, min_correlation=0.175) == 0.0


def test_too_few_columns_after_the_start_give_zero():
    d = np.concatenate([np.zeros(50), 2 * np.arange(9)])  # 9 kept columns
    assert hamming_slope_study(distance_matrix(d)) == 0.0
    assert hamming_slope_study(distance_matrix(d), min_window=5) == 2.0


def test_slope_is_per_ms_and_window_start_follows_the_bin():
    # 2 ms bins: centres 1, 3, 5, ...; start 50 ms keeps columns 25 on
    d = np.concatenate([np.zeros(25), 4 * np.arange(20)])
    assert hamming_slope_study(distance_matrix(d), bin_ms=2.0) == 2.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_slope_matches_polyfit_reference_on_random_distances(seed):
    rng = np.random.default_rng(seed)
    for trial in range(8):
        n_cols = int(rng.integers(40, 110))
        c = np.arange(n_cols)
        growth = rng.uniform(-1, 3) * np.clip(c - rng.integers(30, 80), 0, None)
        d = np.clip(np.round(growth + rng.normal(0, rng.uniform(0, 6), n_cols)), 0, 80)
        if trial % 4 == 0:
            d[rng.integers(0, n_cols):] = d[-1]  # constant stretches
        x = distance_matrix(d.astype(int), n_neurons=81)
        options = [{}, {"min_window": 4, "max_window": 12, "min_correlation": 0.6},
                   {"bin_ms": 0.5, "window_start_ms": 10.0, "min_correlation": -0.2}][trial % 3]
        fast = hamming_slope_study(x, **options)
        slow = hamming_slope_study_reference(x, **options)
        assert fast == pytest.approx(slow, rel=1e-9, abs=0), (seed, trial)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("x, error, match", [
    ([0, 1, 1], ValueError, "2-D"),
    ([[0, 2]], ValueError, "only 0 and 1"),
    (np.array([[0, 2]], dtype=np.uint8), ValueError, "only 0 and 1"),
    ([[0.5, 1.0]], ValueError, "only 0 and 1"),
    ([["0", "1"]], TypeError, "dtype"),
])
def test_invalid_matrices_are_rejected(x, error, match):
    with pytest.raises(error, match=match):
        lz_study(x)
    with pytest.raises(error, match=match):
        hamming_slope_study(x)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"bin_ms": 0.0}, ValueError, "bin_ms"),
    ({"min_window": 1}, ValueError, "min_window"),
    ({"min_window": 10.0}, TypeError, "min_window"),
    ({"max_window": 5}, ValueError, "max_window"),
    ({"min_correlation": float("nan")}, ValueError, "min_correlation"),
])
def test_invalid_slope_parameters_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        hamming_slope_study(np.zeros((2, 60), dtype=np.uint8), **kwargs)


GOOD = dict(ctrl_i=[0], ctrl_t_s=[0.1], pert_i=[1], pert_t_s=[0.1], n_neurons=2,
            perturbation_time_s=0.05, end_s=0.2, perturbed_neuron=0, bin_ms=1.0)


@pytest.mark.parametrize("change, error, match", [
    ({"ctrl_i": [2]}, ValueError, "ctrl_i must be in"),
    ({"pert_i": [-1]}, ValueError, "pert_i must be in"),
    ({"ctrl_i": [0.0]}, TypeError, "integer"),
    ({"ctrl_i": [0, 1]}, ValueError, "equal length"),
    ({"pert_t_s": [float("nan")]}, ValueError, "finite"),
    ({"n_neurons": 0}, ValueError, "n_neurons"),
    ({"perturbed_neuron": 2}, ValueError, "perturbed_neuron"),
    ({"perturbed_neuron": True}, TypeError, "perturbed_neuron"),
    ({"end_s": 0.04}, ValueError, "end_s"),
    ({"bin_ms": -1.0}, ValueError, "bin_ms"),
])
def test_invalid_spike_arguments_are_rejected(change, error, match):
    with pytest.raises(error, match=match):
        difference_matrix(**{**GOOD, **change})


def test_empty_runs_are_accepted():
    diff = difference_matrix(**{**GOOD, "ctrl_i": [], "ctrl_t_s": [], "pert_i": [],
                                "pert_t_s": []})
    assert diff.sum() == 1 and diff.shape == (2, 151)


def test_importing_the_module_does_not_import_numba():
    import subprocess
    import sys

    code = "import sys, analysis.chaos_study; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_speed_of_lz_on_the_protocols_matrix_size():
    import time
    rng = np.random.default_rng(0)
    lz_study(row("0110"))  # compile first
    x = (rng.random((1000, 5001)) < 0.02).astype(np.uint8)
    start = time.perf_counter()
    lz_study(x)
    assert time.perf_counter() - start < 0.1
