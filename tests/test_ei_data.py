"""training.data: MAT-file loading (v5 and v7.3), trial splits, the synthetic E-I teacher."""
import os

import h5py
import numpy as np
import pytest
import scipy.io
from scipy.ndimage import gaussian_filter1d

from training.data import DataError, Recording, load_recording, make_synthetic, split_trials

SMALL = dict(n_neurons=9, n_inputs=3, n_conditions=3, trials_per_condition=4, n_steps=10)


# ----------------------------------------------------------------------------- helpers
def write_hdf5(path, variables, *, matlab, reverse=None):
    """An HDF5 file written independently of the module: MATLAB-style (axes reversed,
    MATLAB userblock) or plain numpy/h5py (canonical order, no userblock).  ``reverse``
    overrides the axis order alone."""
    reverse = matlab if reverse is None else reverse
    with h5py.File(path, "w", userblock_size=512 if matlab else 0) as f:
        for name, value in variables.items():
            value = np.asarray(value, dtype=float)
            f[name] = np.atleast_2d(value).T if reverse else value
    if matlab:
        with open(path, "r+b") as f:
            f.write(b"MATLAB 7.3 MAT-file, Platform: test, Created on: today HDF5 schema 1.00 .")


def valid_variables(n_trials=6, n_steps=5, n_neurons=3, n_inputs=2, seed=0):
    """A small, valid recording in canonical order (spike counts, two conditions)."""
    rng = np.random.default_rng(seed)
    return {"spikes": rng.poisson(1.0, (n_trials, n_steps, n_neurons)).astype(float),
            "inputs": rng.normal(size=(n_trials, n_steps, n_inputs)),
            "conditions": np.arange(n_trials) % 2 + 1,
            "ei_labels": (np.arange(n_neurons) >= n_neurons - 1).astype(float),
            "dt": 25.0}


def save_v5(tmp_path, variables, name="rec.mat"):
    path = tmp_path / name
    scipy.io.savemat(path, variables)
    return path


@pytest.fixture(scope="module")
def default_data(tmp_path_factory):
    """The default synthetic recording (seed 0), written once for the statistical tests."""
    path = tmp_path_factory.mktemp("synthetic") / "default.mat"
    truth = make_synthetic(path)
    return truth, load_recording(path)


# ----------------------------------------------------------------------------- round trips
def test_v5_round_trip_returns_the_arrays_written(tmp_path):
    path = tmp_path / "small.mat"
    truth = make_synthetic(path, **SMALL, dt_ms=20.0, seed=3)
    rec = load_recording(path)
    raw = scipy.io.loadmat(path)
    assert isinstance(rec, Recording) and rec.variable == "spikes" and rec.source == str(path)
    assert rec.rates_hz.shape == (12, 10, 9) and rec.counts.shape == (12, 10, 9)
    assert (rec.n_trials, rec.n_steps, rec.n_neurons, rec.n_inputs, rec.n_conditions) == \
        (12, 10, 9, 3, 3)
    np.testing.assert_array_equal(rec.counts, raw["spikes"])
    np.testing.assert_array_equal(rec.rates_hz, raw["spikes"] * 50.0)  # 1 / 20 ms = 50 Hz
    np.testing.assert_array_equal(rec.inputs, raw["inputs"])
    np.testing.assert_array_equal(rec.conditions, raw["conditions"].ravel())
    np.testing.assert_array_equal(rec.ei_labels, raw["ei_labels"].ravel())
    assert rec.dt_ms == 20.0 and raw["dt"].shape == (1, 1)
    assert rec.conditions.dtype == np.int64 and rec.ei_labels.dtype == np.int64
    np.testing.assert_array_equal(rec.conditions, truth["conditions"])
    np.testing.assert_array_equal(rec.inputs, truth["inputs"])


def test_v73_file_is_matlab_hdf5_and_reads_back_as_the_v5_file(tmp_path):
    v5, v73 = tmp_path / "a.mat", tmp_path / "b.mat"
    make_synthetic(v5, **SMALL, seed=7)
    make_synthetic(v73, **SMALL, seed=7, format="v7.3")
    assert h5py.is_hdf5(v73) and not h5py.is_hdf5(v5)
    with h5py.File(v73, "r") as f:
        assert f.userblock_size == 512
        assert f["spikes"].shape == (9, 10, 12) and f["inputs"].shape == (3, 10, 12)
        assert f["conditions"].shape == (12, 1) and f["dt"].shape == (1, 1)
    with open(v73, "rb") as f:
        assert f.read(19) == b"MATLAB 7.3 MAT-file"
    a, b = load_recording(v5), load_recording(v73)
    for field in ("rates_hz", "counts", "inputs", "conditions", "ei_labels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.dt_ms == b.dt_ms and a.variable == b.variable


def test_hdf5_in_canonical_order_without_userblock_loads_as_written(tmp_path):
    variables = valid_variables(n_trials=6, n_steps=5, n_neurons=3, n_inputs=2)
    path = tmp_path / "numpy.h5"
    write_hdf5(path, variables, matlab=False)
    rec = load_recording(path)
    np.testing.assert_array_equal(rec.counts, variables["spikes"])
    np.testing.assert_array_equal(rec.inputs, variables["inputs"])
    np.testing.assert_array_equal(rec.conditions, [1, 2, 1, 2, 1, 2])


def test_hdf5_reversed_axes_are_recognised_with_or_without_matlab_signature(tmp_path):
    variables = valid_variables(n_trials=6, n_steps=5, n_neurons=3, n_inputs=2)
    for matlab in (True, False):
        path = tmp_path / f"reversed_{matlab}.mat"
        write_hdf5(path, variables, matlab=matlab, reverse=True)
        with h5py.File(path, "r") as f:
            assert f["spikes"].shape == (3, 5, 6) and f.userblock_size == (512 if matlab else 0)
        rec = load_recording(path)
        np.testing.assert_array_equal(rec.counts, variables["spikes"])
        np.testing.assert_array_equal(rec.inputs, variables["inputs"])
        np.testing.assert_array_equal(rec.ei_labels, [0, 0, 1])


def test_ambiguous_hdf5_shapes_follow_the_matlab_signature(tmp_path):
    # 4 trials, 4 neurons, 4 inputs: both axis orders agree with every variable
    rng = np.random.default_rng(1)
    variables = {"spikes": rng.poisson(2.0, (4, 5, 4)).astype(float),
                 "inputs": rng.normal(size=(4, 5, 4)), "conditions": [1, 1, 2, 2],
                 "ei_labels": [0, 0, 0, 1], "dt": 10.0}
    plain, matlab = tmp_path / "plain.h5", tmp_path / "matlab.mat"
    write_hdf5(plain, variables, matlab=False)
    write_hdf5(matlab, variables, matlab=True)
    for path in (plain, matlab):
        rec = load_recording(path)
        np.testing.assert_array_equal(rec.counts, variables["spikes"], err_msg=str(path))
        np.testing.assert_array_equal(rec.inputs, variables["inputs"], err_msg=str(path))
    # a MATLAB file whose shapes only agree in the canonical order is still read correctly
    unambiguous = valid_variables(n_trials=6, n_neurons=3)
    path = tmp_path / "canonical_in_matlab.mat"
    write_hdf5(path, {k: np.atleast_2d(v).T for k, v in unambiguous.items()}, matlab=True)
    np.testing.assert_array_equal(load_recording(path).counts, unambiguous["spikes"])


def test_two_dimensional_inputs_are_one_channel(tmp_path):
    variables = valid_variables()
    variables["inputs"] = variables["inputs"][:, :, 0]                 # [trials, time]
    matlab = tmp_path / "matlab.mat"
    write_hdf5(matlab, variables, matlab=True)                        # stored as [time, trials]
    for path in (save_v5(tmp_path, variables), matlab):
        rec = load_recording(path)
        assert rec.inputs.shape == (6, 5, 1) and rec.n_inputs == 1
        np.testing.assert_array_equal(rec.inputs[:, :, 0], variables["inputs"])


def test_spike_counts_become_rates_by_dividing_by_the_bin_width(tmp_path):
    variables = valid_variables()
    variables["spikes"][0, 0] = [0.0, 1.0, 3.0]
    variables["dt"] = 20.0
    rec = load_recording(save_v5(tmp_path, variables))
    assert rec.rates_hz[0, 0].tolist() == [0.0, 50.0, 150.0]  # 1 spike in 20 ms = 50 Hz
    np.testing.assert_array_equal(rec.counts, variables["spikes"])


def test_rates_file_keeps_rates_and_has_no_counts(tmp_path):
    variables = valid_variables()
    variables["rates"] = variables.pop("spikes") * 12.5
    rec = load_recording(save_v5(tmp_path, variables))
    assert rec.variable == "rates" and rec.counts is None
    np.testing.assert_array_equal(rec.rates_hz, variables["rates"])


def test_synthetic_rates_file_holds_the_spike_counts_divided_by_dt(tmp_path):
    spikes = load_recording(make_synthetic(tmp_path / "s.mat", **SMALL)["path"])
    rates = load_recording(make_synthetic(tmp_path / "r.mat", **SMALL, variable="rates")["path"])
    assert rates.variable == "rates" and rates.counts is None
    np.testing.assert_allclose(rates.rates_hz, spikes.counts / 0.025)


def test_condition_index_maps_sorted_labels_to_0_to_c_minus_1(tmp_path):
    variables = valid_variables()
    variables["conditions"] = [7, 3, 3, 7, 10, 10]
    rec = load_recording(save_v5(tmp_path, variables))
    assert rec.condition_labels.tolist() == [3, 7, 10]
    assert rec.condition_index.tolist() == [1, 0, 0, 1, 2, 2]
    assert rec.condition_index.dtype == np.int64 and rec.n_conditions == 3


def test_ei_labels_are_optional(tmp_path):
    variables = valid_variables()
    del variables["ei_labels"]
    assert load_recording(save_v5(tmp_path, variables)).ei_labels is None


# ----------------------------------------------------------------------------- errors
def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nowhere.mat"
    with pytest.raises(DataError, match=f"data file not found: {path}"):
        load_recording(path)


def test_text_and_corrupt_files_are_refused(tmp_path):
    text = tmp_path / "notes.mat"
    text.write_text("not a MAT-file at all, just some words")
    with pytest.raises(DataError, match=r"notes\.mat: not a readable MATLAB file.*v7\.3/HDF5"):
        load_recording(text)
    broken = tmp_path / "broken.mat"
    write_hdf5(broken, valid_variables(), matlab=False)
    with open(broken, "r+b") as f:
        f.truncate(1200)  # signature kept, data cut off
    with pytest.raises(DataError, match=r"broken\.mat: .*(HDF5 file cannot be read|variable)"):
        load_recording(broken)


def _broken(tmp_path, **changes):
    variables = valid_variables()
    for name, value in changes.items():
        if value is None:
            del variables[name]
        else:
            variables[name] = value
    return save_v5(tmp_path, variables)


@pytest.mark.parametrize("changes, message", [
    (dict(inputs=None), r"variable 'inputs' is missing; the file holds \['conditions', 'dt', "
                        r"'ei_labels', 'spikes'\]"),
    (dict(conditions=None), r"variable 'conditions' is missing"),
    (dict(spikes=None), r"exactly one of the variables 'rates' .* and 'spikes' .*found neither"),
    (dict(rates=np.ones((6, 5, 3))), r"exactly one of .*found both"),
    (dict(conditions=[1, 2, 1, 2, 1]), r"shapes do not agree: 'conditions' has 5 entries but "
                                       r"'spikes' \[trials, time, neurons\] = \(6, 5, 3\) has "
                                       r"6 trials"),
    (dict(ei_labels=[0, 1]), r"'ei_labels' has 2 entries but 'spikes' .* has 3 neurons"),
    (dict(inputs=np.zeros((6, 4, 2))), r"'inputs' .* has 4 time bins but 'spikes' .* has 5"),
    (dict(inputs=np.zeros((5, 5, 2))), r"'inputs' .* has 5 trials but 'spikes' .* has 6"),
    (dict(spikes=np.ones((6, 5))), r"variable 'spikes' must be 3-D \[trials, time, neurons\]"),
    (dict(conditions=np.ones((2, 3))), r"variable 'conditions' must be a vector"),
    (dict(ei_labels=[0, 2, -1]), r"variable 'ei_labels' must hold only 0 \(E\) and 1 \(I\), "
                                 r"found -1, 2"),
    (dict(ei_labels=[1, 1, 1]), r"variable 'ei_labels' has no excitatory \(0\) neuron"),
    (dict(conditions=[1, 1, 1, 1, 1, 2]), r"variable 'conditions': every condition needs at "
                                          r"least 2 trials.*label 2 has 1 trial"),
    (dict(conditions=[1, 1.5, 1, 2, 2, 2]), r"variable 'conditions' holds 1 non-integer"),
    (dict(dt=None), r"variable 'dt' is missing"),
    (dict(dt=0.0), r"variable 'dt' must be a positive finite bin width in ms, got 0.0"),
    (dict(dt=-5.0), r"variable 'dt' must be a positive finite bin width in ms, got -5.0"),
    (dict(dt=np.nan), r"variable 'dt' must be a positive finite"),
    (dict(dt=[25.0, 25.0]), r"variable 'dt' must be a scalar"),
    (dict(inputs=np.array(["text"], dtype=object)),
     r"variable 'inputs' is not a real numeric array"),
])
def test_invalid_recordings_raise_data_error_naming_the_variable(tmp_path, changes, message):
    path = _broken(tmp_path, **changes)
    with pytest.raises(DataError, match=message) as caught:
        load_recording(path)
    assert str(path) in str(caught.value)


def test_non_finite_values_are_counted(tmp_path):
    spikes = valid_variables()["spikes"]
    spikes[0, 0, :2] = np.nan
    spikes[1, 1, 1] = np.inf
    with pytest.raises(DataError, match=r"variable 'spikes' holds 3 NaN or Inf values"):
        load_recording(_broken(tmp_path, spikes=spikes))
    inputs = valid_variables()["inputs"]
    inputs[2, 3, 1] = -np.inf
    with pytest.raises(DataError, match=r"variable 'inputs' holds 1 NaN or Inf values"):
        load_recording(_broken(tmp_path, inputs=inputs))


def test_negative_and_fractional_activity_are_refused(tmp_path):
    spikes = valid_variables()["spikes"]
    spikes[0, 0, 0] = -1.0
    with pytest.raises(DataError, match=r"variable 'spikes' holds 1 negative values"):
        load_recording(_broken(tmp_path, spikes=spikes))
    rates = -np.ones((6, 5, 3))
    with pytest.raises(DataError, match=r"variable 'rates' holds 90 negative values"):
        load_recording(_broken(tmp_path, spikes=None, rates=rates))
    spikes = valid_variables()["spikes"]
    spikes[1, 2, 0] = 0.5
    with pytest.raises(DataError, match=r"variable 'spikes' holds 1 non-integer values"):
        load_recording(_broken(tmp_path, spikes=spikes))


def test_shape_errors_in_hdf5_report_both_axis_orders(tmp_path):
    variables = valid_variables()
    variables["conditions"] = [1, 1, 2, 2]
    path = tmp_path / "bad.mat"
    write_hdf5(path, variables, matlab=True)
    expected = (r"shapes do not agree when read with axes reversed \(MATLAB v7\.3 order\): "
                r"'conditions' has 4 entries but 'spikes' .* = \(6, 5, 3\) has 6 trials.*; "
                r"nor when read as stored: 'conditions' has 4 entries")
    with pytest.raises(DataError, match=expected):
        load_recording(path)


# ----------------------------------------------------------------------------- splitting
def test_split_is_stratified_disjoint_complete_and_seeded():
    rng = np.random.default_rng(5)
    conditions = rng.permutation(np.repeat([1, 2, 5], [10, 23, 7]))
    train, val = split_trials(conditions, val_fraction=0.2, seed=42)
    assert train.dtype == np.int64 and val.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(40))
    counts = {c: int(np.sum(conditions[val] == c)) for c in (1, 2, 5)}
    assert counts == {1: 2, 2: 5, 5: 1}  # round(0.2 * 10), round(4.6), round(1.4)
    # the documented draw: one generator, a permutation per condition in sorted order
    draw = np.random.default_rng(42)
    expected = np.sort(np.concatenate([draw.permutation(np.flatnonzero(conditions == c))[:k]
                                       for c, k in sorted(counts.items())]))
    np.testing.assert_array_equal(val, expected)
    again = split_trials(conditions, val_fraction=0.2, seed=42)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(split_trials(conditions, val_fraction=0.2, seed=43)[1], val)


def test_split_keeps_at_least_one_trial_on_each_side():
    conditions = [1, 1, 2, 2, 2]
    for fraction in (0.01, 0.99):
        train, val = split_trials(conditions, val_fraction=fraction, seed=0)
        for c in (1, 2):
            members = np.flatnonzero(np.asarray(conditions) == c)
            assert np.isin(members, val).sum() >= 1 and np.isin(members, train).sum() >= 1


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_fractions_outside_0_1(fraction):
    with pytest.raises(ValueError, match="val_fraction must be in"):
        split_trials([1, 1, 2, 2], val_fraction=fraction)


def test_split_rejects_a_condition_with_one_trial():
    with pytest.raises(ValueError, match="label 2 has 1 trial"):
        split_trials([1, 1, 2])


# ----------------------------------------------------------------------------- the teacher
def test_teacher_obeys_dale_and_is_stable(default_data):
    truth, rec = default_data
    w, ei = truth["W_rec"], truth["ei_labels"]
    np.testing.assert_array_equal(ei, rec.ei_labels)
    assert (ei == 0).sum() == 80 and (ei == 1).sum() == 20
    assert np.all(w[:, ei == 0] >= 0) and np.all(w[:, ei == 1] <= 0)
    np.testing.assert_allclose(w.sum(axis=1), 0.0, atol=1e-9)  # balanced rows
    radius = np.abs(np.linalg.eigvals(w)).max()
    assert 0.8 <= radius < 1.0
    np.testing.assert_allclose(truth["x0"], w @ np.maximum(truth["x0"], 0) + truth["b"])


def test_teacher_rates_follow_the_documented_step(tmp_path):
    truth = make_synthetic(tmp_path / "t.mat", **SMALL, noise_std=0.0, rate_scale_hz=30.0)
    alpha = 25.0 / 50.0
    x = np.tile(truth["x0"], (12, 1))
    for t in range(10):
        x = (1 - alpha) * x + alpha * (np.maximum(x, 0) @ truth["W_rec"].T
                                       + truth["inputs"][:, t] @ truth["W_in"].T + truth["b"])
        np.testing.assert_allclose(truth["rates_hz"][:, t], 30.0 * np.maximum(x, 0), atol=1e-9)


def test_conditions_get_different_inputs_and_psths(default_data):
    truth, rec = default_data
    stimulus = rec.inputs[:, 10:40].mean(axis=1)                       # [trials, n_inputs]
    patterns = np.array([stimulus[rec.conditions == c].mean(axis=0) for c in (1, 2, 3, 4)])
    assert rec.inputs[:, 50:60, -1].min() == 1.0 and rec.inputs[:, 0:10].max() == 0.0
    psth = truth["psth_hz"]
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.abs(patterns[a] - patterns[b]).max() > 0.5
            assert np.sqrt(np.mean((psth[a] - psth[b]) ** 2)) > 5.0  # Hz


def test_default_rates_are_in_a_cortical_range(default_data):
    truth, rec = default_data
    mean_hz = truth["rates_hz"].mean(axis=(0, 1))
    assert 8.0 < np.median(mean_hz) < 25.0 and np.all(mean_hz > 1.0) and mean_hz.max() < 60.0
    assert rec.counts.shape == (400, 80, 100)


def test_poisson_counts_have_fano_factor_at_least_one(default_data):
    _, rec = default_data
    fano = []
    for c in rec.condition_labels:
        counts = rec.counts[rec.conditions == c]                        # [trials, time, N]
        mean = counts.mean(axis=0)
        keep = mean > 0.2
        fano.append((counts.var(axis=0, ddof=1)[keep] / mean[keep]))
    fano = np.concatenate(fano)
    assert 0.98 < fano.mean() < 1.5


def test_held_out_psth_matches_the_teacher(default_data):
    # per neuron Pearson r over condition x time of 1-bin-smoothed PSTHs, mean over neurons
    truth, rec = default_data
    _, val = split_trials(rec.conditions, val_fraction=0.2, seed=42)
    index = rec.condition_index
    empirical = np.stack([rec.rates_hz[val][index[val] == c].mean(axis=0)
                          for c in range(rec.n_conditions)])
    a = gaussian_filter1d(empirical, 1.0, axis=1).reshape(-1, rec.n_neurons)
    b = gaussian_filter1d(truth["psth_hz"], 1.0, axis=1).reshape(-1, rec.n_neurons)
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    r = (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    assert np.all(np.isfinite(r))
    assert r.mean() > 0.95 and np.percentile(r, 5) > 0.85


# ----------------------------------------------------------------------------- make_synthetic
@pytest.mark.parametrize("argument, value", [
    ("n_neurons", 0), ("n_neurons", 2.5), ("n_inputs", 0), ("n_conditions", -1),
    ("trials_per_condition", 1), ("n_steps", True), ("dt_ms", 0.0), ("tau_ms", np.inf),
    ("dt_ms", 60.0), ("e_fraction", 1.0), ("e_fraction", 0.0), ("noise_std", -0.1),
    ("rate_scale_hz", 0.0), ("variable", "counts"), ("format", "v7"),
])
def test_make_synthetic_rejects_bad_arguments(tmp_path, argument, value):
    with pytest.raises(ValueError, match=argument):
        make_synthetic(tmp_path / "x.mat", **{**SMALL, argument: value})
    assert not (tmp_path / "x.mat").exists()


def test_make_synthetic_leaves_no_half_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "x.mat"
    path.write_bytes(b"old")

    def crash(file, *args, **kwargs):
        file.write(b"MATLAB 5.0 MAT-file, half written")
        raise KeyboardInterrupt

    monkeypatch.setattr(scipy.io, "savemat", crash)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic(path, **SMALL)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.mat"]


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    a = make_synthetic(tmp_path / "a.mat", **SMALL, seed=1)
    b = make_synthetic(tmp_path / "b.mat", **SMALL, seed=1)
    c = make_synthetic(tmp_path / "c.mat", **SMALL, seed=2)
    np.testing.assert_array_equal(load_recording(a["path"]).counts,
                                  load_recording(b["path"]).counts)
    assert not np.array_equal(a["W_rec"], c["W_rec"])


# ----------------------------------------------------------------------------- other names
def test_a_recording_with_other_variable_names_loads_through_a_mapping(tmp_path):
    import scipy.io

    from training.data import DataError, load_recording

    counts = np.random.default_rng(0).poisson(2.0, size=(6, 5, 3))
    path = tmp_path / "renamed.mat"
    scipy.io.savemat(path, {"spike_counts": counts, "stim": np.zeros((6, 5)),
                            "trial_type": [1, 1, 1, 2, 2, 2], "bin_ms": 20.0,
                            "dt": 999.0, "rates": np.ones((6, 5, 3))})
    mapping = {"spikes": "spike_counts", "inputs": "stim", "conditions": "trial_type",
               "dt": "bin_ms"}
    rec = load_recording(path, mapping)
    assert rec.variable == "spikes" and rec.dt_ms == 20.0   # the file's 'dt' and 'rates' ignored
    assert np.array_equal(rec.rates_hz, counts / 0.02)
    with pytest.raises(DataError, match="spikes -> 'counts'.*the file holds"):
        load_recording(path, {**mapping, "spikes": "counts"})
    with pytest.raises(DataError, match="unknown name"):
        load_recording(path, {"spike": "spike_counts"})
    with pytest.raises(DataError, match="variable 'inputs' is missing"):
        load_recording(path, {"spikes": "spike_counts"})      # nothing maps 'stim'
