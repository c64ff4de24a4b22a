"""Hostile data and configs for the ei_rnn protocol.

Every check that depends on the data's shape runs before the first epoch: data
the fit cannot use is refused with one line naming the key or the data variable
(exit 2, no checkpoint written); data it can use trains to the end, and the
measures it cannot give are NaN with a note in ``training_report.md`` (exit 0),
in the detailed log entries too, and their figures say "not computable".
The synthetic recording cached in the output folder is keyed by every
``synthetic.*`` value, so a changed size never trains on stale data.
"""
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from analysis import population
from analysis.results import load
from protocols import ei_rnn
from protocols.cli import main
from protocols.config import load_config

ROOT = Path(__file__).resolve().parent.parent
QUICK = str(ROOT / "configs" / "ei_rnn_quick.yaml")
#: a small, fast version of the quick config (2 epochs, a detailed report at epoch 2)
SMALL = ("synthetic.n_neurons=10", "synthetic.n_steps=12", "synthetic.trials_per_condition=10",
         "model.embed_dim=8", "model.n_heads=2", "trainer.max_epochs=2",
         "trainer.report_every=2", "trainer.checkpoint_every=2")
FIGURES = ("training_curves", "loss_terms", "per_neuron_correlation_histogram",
           "per_neuron_correlation_scatter", "neuron_correlations", "best_worst_neurons",
           "weight_matrices", "h0_distribution", "attention_patterns", "attention_maps",
           "pca_trajectories", "pca_state_space", "fano_factor_comparison")


def run(capsys, out, *settings, args=()):
    """``snnsuite run`` in-process: (status, stdout, stderr); stderr is one line at most."""
    status = main(["run", QUICK, "--out", str(out), *args,
                   *[item for s in (*SMALL, *settings) for item in ("--set", s)]])
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err and len(printed.err.strip().splitlines()) <= 1, \
        printed.err
    return status, printed.out, printed.err


def recording(path, *, n_trials_per_condition=4, n_conditions=2, n_steps=10, n_neurons=6,
              ei_labels=None, spikes=None, seed=0):
    """A small MATLAB recording of Poisson counts, with only the variables asked for."""
    rng = np.random.default_rng(seed)
    conditions = np.repeat(np.arange(1, n_conditions + 1), n_trials_per_condition)
    n_trials = conditions.size
    variables = {"spikes": rng.poisson(1.0, size=(n_trials, n_steps, n_neurons)).astype(float)
                 if spikes is None else spikes,
                 "inputs": rng.normal(size=(n_trials, n_steps, 2)),
                 "conditions": conditions.astype(float), "dt": 25.0}
    if ei_labels is not None:
        variables["ei_labels"] = np.asarray(ei_labels, dtype=float)
    scipy.io.savemat(path, variables)
    return f"data.path={path}"


def finished(status, out, printed=""):
    """The run ended normally with every file; returns (summary attrs, report text, notes)."""
    assert status == 0, printed
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").stat().st_size > 0, name
    attrs = load(out / "results.h5").point.attrs
    text = (out / "training_report.md").read_text()
    return attrs, text, json.loads(attrs["notes_json"])


def refused(status, err, *words, out=None):
    """Exit 2 with one line naming ``words``, before any epoch (no checkpoint)."""
    assert status == 2, err
    assert err.startswith("snnsuite: error: ") and len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err, (word, err)
    if out is not None:
        assert not (out / "checkpoints").exists() and not (out / "model_best.pt").exists()


# ----------------------------------------------------------------------------- Fano factor
def test_one_validation_trial_per_condition_gives_nan_fano_also_on_resume(tmp_path, capsys):
    """5 trials per condition hold out 1 each: the run trained and then failed at the
    detailed report and the export (count_fano_factors needs two trials), and --resume did
    too; now the Fano factors are NaN, with a note, in the log entries and the report."""
    out = tmp_path / "x"
    few = "synthetic.trials_per_condition=5"
    status, printed, _ = run(capsys, out, few, "trainer.max_epochs=1")
    attrs, text, notes = finished(status, out, printed)
    assert np.isnan(attrs["fano_model"]) and np.isnan(attrs["fano_target"])
    assert any("Fano" in n and "data.val_fraction" in n for n in notes)
    assert "## Notes" in text and "data.val_fraction" in text
    assert printed.index("note: Fano factors are NaN") < printed.index("Epoch 1 |")  # up front
    status, printed, _ = run(capsys, out, few, "trainer.max_epochs=2", args=["--resume"])
    attrs, text, notes = finished(status, out, printed)
    assert attrs["epochs"] == 2 and np.isnan(attrs["fano_model"])
    assert np.all(np.isnan(np.load(out / "metrics/per_neuron_fano_model.npy")))
    details = json.loads((out / "training_log.json").read_text())["epochs"][1]
    assert details["fano_model"] != details["fano_model"]    # NaN in the detailed log entry
    assert "not computable" in details["fano_note"]
    assert "Fano factor: not computable" in printed
    assert np.isfinite(attrs["val_correlation"]) and np.isfinite(attrs["decoding_accuracy"])
    assert len(list((out / "data").glob("*.mat"))) == 1     # the resumed run found its data


def test_fano_factors_are_nan_when_not_computable():
    counts = np.ones((4, 3, 2))
    assert np.isnan(population.count_fano_factors(counts, [0, 1, 2, 3])).all()
    assert np.isnan(population.count_fano_factors(counts, [0, 0, 1, 1], 4)).all()
    assert population.fano_problem([0, 0, 1, 1], 3, 4).startswith("the counting window")
    assert population.fano_problem([0, 0, 1, 1], 3, 3) is None
    with pytest.raises(ValueError, match="window_bins"):
        population.count_fano_factors(counts, [0, 0, 1, 1], 0)


# ----------------------------------------------------------------------------- data shapes
def test_one_time_bin_of_one_condition_is_nan_with_notes(tmp_path, capsys):
    """One sample per neuron: no correlation, no PCA, no Fano window, no decoding; every
    figure exists, and ``snnsuite report`` redraws them from results.h5 alone."""
    data = recording(tmp_path / "t1.mat", n_conditions=1, n_steps=1, n_trials_per_condition=8)
    out = tmp_path / "x"
    status, printed, _ = run(capsys, out, data, "trainer.monitor=val_loss")
    attrs, text, notes = finished(status, out, printed)
    assert np.isnan(attrs["val_correlation"]) and np.isnan(attrs["pca_variance_real_top3"])
    assert np.isnan(attrs["decoding_accuracy"]) and np.isnan(attrs["fano_model"])
    for words in ("PSTH correlation is NaN", "PCA is NaN", "data.fano_window", "one condition"):
        assert any(words in n for n in notes), words
    assert "pca_state_space.png` not drawn" in text
    assert main(["report", str(out / "results.h5"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "figures" / "pca_state_space.png").is_file()
    # the correlation (the default monitor) cannot pick a best epoch here: refused up front
    status, _, err = run(capsys, tmp_path / "y", data)
    refused(status, err, "trainer.monitor", "val_loss", out=tmp_path / "y")


@pytest.mark.slow  # a full run with its figures; the fast suite keeps two such cases
def test_a_minimal_recording_trains(tmp_path, capsys):
    """One bin, two conditions of two trials, E neurons only, batches of one trial."""
    data = recording(tmp_path / "min.mat", n_steps=1, n_trials_per_condition=2,
                     ei_labels=np.zeros(6))
    out = tmp_path / "x"
    status, printed, _ = run(capsys, out, data, "trainer.batch_size=1")
    attrs, _, notes = finished(status, out, printed)
    assert attrs["n_trials_train"] == 2 and attrs["n_trials_val"] == 2
    assert np.isfinite(attrs["val_correlation_E"]) and np.isnan(attrs["val_correlation_I"])
    assert np.isnan(attrs["fano_model"])
    for words in ("no inhibitory neuron", "state-space figure is not drawn", "data.fano_window"):
        assert any(words in n for n in notes), words


@pytest.mark.slow  # a full run with its figures; the fast suite keeps two such cases
def test_two_time_bins_train_and_report(tmp_path, capsys):
    out = tmp_path / "x"
    status, printed, _ = run(capsys, out, "synthetic.n_steps=2", "synthetic.n_conditions=1")
    attrs, _, notes = finished(status, out, printed)
    assert np.load(out / "outputs/val_model_psth.npy").shape == (1, 2, 10)
    assert np.isnan(attrs["decoding_accuracy"]) and np.isnan(attrs["fano_target"])
    assert any("data.fano_window (100 ms = 4 bins" in n and "50 ms" in n for n in notes)


@pytest.mark.parametrize("case, words", [
    ("one_neuron", ("'spikes'", "(16, 10, 1)", "1 neuron", "2 or more")),
    ("silent", ("'spikes'", "zero everywhere")),
    ("no_excitatory_unit", ("model.e_fraction", "got 0.1", "above 0.125")),
])
def test_unusable_recordings_are_refused_before_training(tmp_path, capsys, case, words):
    path = tmp_path / f"{case}.mat"
    settings = {"one_neuron": lambda: [recording(path, n_trials_per_condition=8, n_neurons=1)],
                "silent": lambda: [recording(path, spikes=np.zeros((8, 10, 6)))],
                "no_excitatory_unit": lambda: [recording(path, n_neurons=4),
                                               "model.e_fraction=0.1"],
                }[case]()
    status, _, err = run(capsys, tmp_path / "x", *settings)
    refused(status, err, *words, out=tmp_path / "x")


# ----------------------------------------------------------------------------- config values
@pytest.mark.parametrize("setting, words, before_data", [
    ("synthetic.n_neurons=2", ("synthetic.n_neurons", "got 2", "3 or more"), True),
    ("trainer.threads=100000", ("trainer.threads", "got 100000", "allowed: 0"), True),
    ("trainer.batch_size=1000", ("trainer.batch_size", "got 1000", "1 to 24"), False),
    ("data.smoothing=20 s", ("data.smoothing", "20000 ms", "0 to 300 ms"), False),
    ("model.tau=10 ms", ("model.tau", "alpha = dt/tau"), False),
])
def test_config_values_that_failed_later_are_refused_up_front(tmp_path, capsys, setting, words,
                                                              before_data):
    out = tmp_path / "x"
    status, _, err = run(capsys, out, setting)
    refused(status, err, *words, out=out)
    if before_data:      # config-only checks (validate) come before the data is made
        assert not (out / "data").exists()


@pytest.mark.parametrize("where, key", [("training.data.make_synthetic", "synthetic.n_neurons"),
                                        ("training.ei_rnn.EIRNN", "model.embed_dim")])
def test_sizes_that_do_not_fit_in_memory_are_refused(tmp_path, capsys, monkeypatch, where, key):
    """numpy's MemoryError (absurd sizes) becomes one line naming the keys, before training."""
    def allocate(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.28 TiB for an array")
    monkeypatch.setattr(where, allocate)
    status, _, err = run(capsys, tmp_path / "x")
    refused(status, err, key, "7.28 TiB", "allowed", out=tmp_path / "x")


def test_too_many_jobs_are_refused(tmp_path, capsys):
    status, _, err = run(capsys, tmp_path / "x", args=["--jobs", "100000"])
    refused(status, err, "--jobs 100000", out=tmp_path / "x")


@pytest.mark.slow  # a full run with its figures; the fast suite keeps two such cases
def test_a_diverging_model_still_exports_with_notes(tmp_path, capsys):
    """A loss that is Inf from the first epoch: no best checkpoint, yet every file, and NaN
    where the model's rates cannot be used (it used to fail inside the trial matching)."""
    out = tmp_path / "x"
    status, printed, _ = run(capsys, out, "model.h0_init=1e30")
    attrs, text, notes = finished(status, out, printed)
    assert attrs["stop_reason"] == "diverged" and attrs["epochs"] == 0
    assert any("no epoch gave a finite val_loss" in n for n in notes)
    assert "training_curves.png` not drawn" in text
    assert "no best checkpoint" in attrs["stop_message"]


def test_many_input_channels_make_synthetic_data_at_once(tmp_path):
    """make_synthetic listed all 2**(n_inputs - 1) channel sets; now only those it uses."""
    from training.data import make_synthetic

    started = time.perf_counter()
    truth = make_synthetic(tmp_path / "many.mat", n_neurons=6, n_inputs=80, n_conditions=3,
                           trials_per_condition=2, n_steps=8)
    assert time.perf_counter() - started < 10
    assert truth["inputs"].shape == (6, 8, 80)


# ----------------------------------------------------------------------------- cached data
SYNTHETIC_CHANGES = {"n_neurons": 11, "n_inputs": 3, "n_conditions": 2,
                     "trials_per_condition": 5, "n_steps": 13, "variable": "rates",
                     "format": "v7.3", "seed": 1}


def _config(*overrides):
    return load_config(QUICK, ei_rnn.SCHEMA, [*SMALL, *overrides])


def test_every_synthetic_key_is_in_the_data_key():
    assert set(SYNTHETIC_CHANGES) == set(ei_rnn.SCHEMA["synthetic"])


@pytest.mark.parametrize("key", sorted(SYNTHETIC_CHANGES))
def test_changing_a_synthetic_key_makes_new_data(tmp_path, key):
    old = ei_rnn._recording(_config(), tmp_path)
    config = _config(f"synthetic.{key}={SYNTHETIC_CHANGES[key]}")
    assert ei_rnn.synthetic_path(config, tmp_path) != ei_rnn.synthetic_path(_config(), tmp_path)
    new = ei_rnn._recording(config, tmp_path)
    s = config.synthetic
    assert new.rates_hz.shape == (s.n_conditions * s.trials_per_condition, s.n_steps,
                                  s.n_neurons)
    assert new.n_inputs == s.n_inputs and new.variable == s.variable
    assert new.source != old.source and len(list((tmp_path / "data").glob("*.mat"))) == 2


def test_an_identical_config_reuses_the_cached_data(tmp_path, monkeypatch):
    from training import data

    first = ei_rnn._recording(_config(), tmp_path)
    stamp = os.stat(first.source).st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("the cached recording was made again")
    monkeypatch.setattr(data, "make_synthetic", fail)
    again = ei_rnn._recording(_config("trainer.max_epochs=7"), tmp_path)   # not a data key
    assert again.source == first.source and os.stat(again.source).st_mtime_ns == stamp
    assert np.array_equal(again.rates_hz, first.rates_hz)


@pytest.mark.slow  # a full run with its figures; the fast suite keeps two such cases
def test_a_rerun_with_new_sizes_trains_on_new_data(tmp_path, capsys):
    """A run refused after its data was written, rerun with other sizes in the same folder:
    the new run trains on data of the new sizes, as config.json states."""
    out = tmp_path / "x"
    status, _, err = run(capsys, out, "trainer.batch_size=1000")
    refused(status, err, "trainer.batch_size", out=out)
    assert len(list((out / "data").glob("*.mat"))) == 1
    status, printed, _ = run(capsys, out, "synthetic.n_neurons=12")
    attrs, text, notes = finished(status, out, printed)
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["synthetic"]["n_neurons"] == 12 == saved["data"]["n_neurons"]
    assert np.load(out / "weights/W_rec.npy").shape == (12, 12)
    assert len(list((out / "data").glob("*.mat"))) == 2
    assert notes == [] and "## Notes" not in text          # a normal run has nothing to note
