"""homeostatic_training and fitting_activity end to end: files, console, resume, bad input, TOML."""
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.results import load
from protocols.cli import main

ROOT = Path(__file__).resolve().parent.parent
HOMEOSTATIC = str(ROOT / "configs" / "homeostatic_training_quick.yaml")
FITTING = str(ROOT / "configs" / "fitting_activity_quick.yaml")
#: a network small enough for seconds per run
TINY = ["network.n_neurons=40", "network.n_assemblies=2", "input.n_inputs=60",
        "input.p_excitatory=0.3", "input.firing_rate=20 Hz", "input.w_mean=1.0", "simulation.duration=0.2 s", "simulation.epochs=4",
        "simulation.accumulation_interval=2", "simulation.checkpoint_interval=2",
        "simulation.report_interval=2",
        "simulation.record_neurons=2", "simulation.batch_size=1"]
FIGURES = ("assembly_graph", "connectivity_matrix", "mitral_cell_spikes",
           "feedforward_connectivity", "spike_raster", "firing_rate_distribution",
           "membrane_voltages", "fano_factors", "cv_histogram", "isi_distribution")


def run(config, out, *extra, sets=()):
    buffer = io.StringIO()
    args = ["run", config, "--out", str(out), *extra]
    for item in (*TINY, *sets):
        args += ["--set", item]
    with contextlib.redirect_stdout(buffer):
        status = main(args)
    return status, buffer.getvalue()


class Done:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


def cli(*args):
    """``snnsuite ARGS`` in this process (a subprocess would import brian2 and torch again)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(args))
        except SystemExit as exc:
            status = exc.code
    return Done(status, err.getvalue())


@pytest.fixture(scope="module")
def homeostatic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hp") / "run"
    status, text = run(HOMEOSTATIC, out, sets=["simulation.epochs=2"])
    assert status == 0, text
    return out, text


def test_homeostatic_writes_the_studys_files(homeostatic_run):
    out, _ = homeostatic_run
    for name in ("checkpoints/checkpoint_latest.pt", "checkpoints/checkpoint_best.pt",
                 "parameters.yaml", "parameters.toml", "metadata.json", "results.h5",
                 "report.md", "training_log.json"):
        assert (out / name).is_file(), name
    assert not (out / "model_final.pt").exists() and not (out / "model_best.pt").exists()
    for epoch in (2,):
        folder = out / "figures" / f"epoch_{epoch:04d}"
        missing = [f for f in FIGURES if not (folder / f"{f}.png").is_file()]
        assert not missing, (epoch, missing)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 42 and "torch" in meta["versions"]


def test_homeostatic_console_is_the_studys(homeostatic_run):
    _, text = homeostatic_run
    assert "Starting training from epoch 0..." in text and "Target firing rate:" in text
    block = text[text.index("Epoch 2/2:"):]
    for label in ("CV Loss:", "FR Loss:", "Total Loss:", "Mean FR:", "Mean CV:",
                  "Active fraction:", "Generating plots...", "Saved plots to"):
        assert label in block, label
    assert "TRAINING COMPLETE" in text


def test_homeostatic_results_load_with_one_call(homeostatic_run):
    out, _ = homeostatic_run
    result = load(out / "results.h5")
    data = result.point.data
    assert list(data["log_epoch"]) == [1, 2]
    assert np.isfinite(data["log_train_loss"]).all() and np.isfinite(data["log_fr_loss"]).all()
    assert data["rates_hz"].shape == (40,) and (data["weights"] > 0).all()
    assert result.protocol == "homeostatic_training"


def test_parameters_toml_runs_again(homeostatic_run, tmp_path):
    out, _ = homeostatic_run
    done = cli("run", str(out / "parameters.toml"), "--out", str(tmp_path / "again"), "--check")
    assert done.returncode == 0, done.stderr


def test_resume_continues_exactly(tmp_path):
    straight, _ = run(HOMEOSTATIC, tmp_path / "straight", sets=["simulation.plots=false"])
    assert straight == 0
    first, _ = run(HOMEOSTATIC, tmp_path / "split", sets=["simulation.plots=false",
                                                         "simulation.epochs=2"])
    assert first == 0
    second, text = run(HOMEOSTATIC, tmp_path / "split", "--resume",
                       sets=["simulation.plots=false"])
    assert second == 0, text
    a = json.loads((tmp_path / "straight" / "training_log.json").read_text())["epochs"]
    b = json.loads((tmp_path / "split" / "training_log.json").read_text())["epochs"]
    assert [e["epoch"] for e in b] == [1, 2, 3, 4]
    assert [e["train_loss"] for e in a] == [e["train_loss"] for e in b]


def test_fitting_activity_end_to_end(tmp_path):
    out = tmp_path / "fit"
    status, text = run(FITTING, out, sets=["simulation.plots=false",
                                           "hyperparameters.loss_weight.van_rossum=0.05"])
    assert status == 0, text
    assert "teacher:" in text and "Weight correlation" in text
    data = load(out / "results.h5").point
    corr = data.data["log_weight_correlation"]
    assert np.isfinite(corr).all() and -1 <= corr.min() <= corr.max() <= 1
    assert np.isfinite(data.data["log_van_rossum_loss"]).all()
    assert 0 < data.attrs["initial_weight_correlation"] < 1
    for key in ("log_membrane_variance_loss", "log_silent_loss", "log_rate_error_E"):
        assert np.isfinite(data.data[key]).all(), key


@pytest.mark.parametrize("sets, words", [
    (["network.n_neuron=40"], "unknown key"),
    (["targets.firing_rates=0 Hz"], "targets.firing_rates"),
    (["targets.firing_rates.excitatory=-1 Hz"], "targets.firing_rates.excitatory"),
    (["simulation.accumulation_interval=2", "simulation.checkpoint_interval=3"], "multiple of"),
    (["simulation.duration=0.2001 s"], "whole number"),
])
def test_bad_config_exits_2_with_one_line(tmp_path, sets, words):
    args = ["run", HOMEOSTATIC, "--out", str(tmp_path / "x"), "--check"]
    for item in sets:
        args += ["--set", item]
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr


def test_connectome_file_of_the_wrong_shape_exits_2(tmp_path):
    import scipy.sparse as sp

    path = tmp_path / "bad.npz"
    sp.save_npz(path, sp.random(5, 7, density=0.3, format="csr"))
    done = cli("run", HOMEOSTATIC, "--out", str(tmp_path / "x"),
               "--set", f"network.connectome={path}")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.npz" in lines[0], done.stderr


def test_resume_from_another_experiment_exits_2(homeostatic_run):
    out, _ = homeostatic_run
    done = cli("run", FITTING, "--out", str(out), "--resume")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


STUDY_TOML = """
[targets]
firing_rates = 0.5
cvs = 1.0

[simulation]
dt = 0.5
chunk_size = 10000
seed = 42
epochs = 500
accumulation_interval = 5

[hyperparameters]
surrgrad_scale = 100.0
cv_high_loss = 10.0
loss_ratio = 0.5
learning_rate = 5e-4

[feedforward.topology]
num_neurons = 1500
conn_inputs = [[0.02, 0.0]]

[feedforward.weights]
w_mu = [[0.4, 0.0]]
w_sigma = [[0.2, 0.0]]

[feedforward.activity.mitral]
firing_rate = 6.0

[recurrent.cell_types]
names = ['excitatory', 'inhibitory']
proportion = [0.8, 0.2]

[recurrent.topology]
num_neurons = 5000
num_assemblies = 20
conn_within = [[0.2, 0.2], [0.4, 0.2]]
conn_between = [[0.02, 0.02], [0.02, 0.02]]

[recurrent.physiology.excitatory]
tau_mem = 85.0
theta = -38.0
U_reset = -60.0
E_L = -60.0
g_L = 1.35
tau_ref = 8.0

[recurrent.synapses.inhibitory]
names = ['GABA_A']
tau_rise = [1.0]
tau_decay = [6.0]
E_syn = [-70.0]
g_bar = [1.5]
"""


def test_the_studys_toml_file_reads_into_the_same_config(tmp_path):
    from protocols import homeostatic_training as hp
    from protocols.config import load_config

    path = tmp_path / "homeostatic-plasticity.toml"
    path.write_text(STUDY_TOML)
    config = load_config(path, hp.SCHEMA, experiment="homeostatic_training",
                         translate=hp.translate_toml)
    default = load_config(ROOT / "configs" / "homeostatic_training.yaml", hp.SCHEMA)
    assert config == default
    done = cli("run", str(path), "--out", str(tmp_path / "x"), "--check")
    assert done.returncode == 2 and "experiment" in done.stderr
    done = subprocess.run([sys.executable, "-m", "protocols.homeostatic_training", str(path),
                           "--out", str(tmp_path / "x"), "--check"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_quick_homeostatic_training_moves_rate_and_cv_to_the_targets(tmp_path):
    """The quick config (100 neurons, 40 epochs): the mean rate and the mean CV of the last 6
    epochs within 20% of their targets (measured: 0.85 Hz for 1 Hz, CV 0.99 for 1.0), the
    loss at most half its start, and most neurons active."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["run", HOMEOSTATIC, "--out", str(tmp_path / "q"), "--set",
                       "simulation.plots=false"])
    assert status == 0, buffer.getvalue()
    data = load(tmp_path / "q" / "results.h5").point.data
    late = slice(-6, None)       # the last 6 epochs
    start = float(np.mean(data["log_mean_rate"][:2]))
    rate = float(np.mean(data["log_mean_rate"][late]))
    assert start > 2.0 and abs(rate - 1.0) < 0.2, (start, rate)
    cv = float(np.mean(data["log_mean_cv"][late]))
    assert abs(cv - 1.0) < 0.2, cv
    assert np.mean(data["log_active_fraction"][late]) > 0.8
    assert data["log_train_loss"][late].mean() < 0.5 * data["log_train_loss"][:2].mean()


@pytest.mark.slow
def test_fitting_recovers_the_teachers_rates_and_weights(tmp_path):
    """The quick fit (30 epochs): per-type rates within 10% of the teacher's over the last 6
    epochs, and the learned weights correlate better with the teacher's than the perturbed
    start did (measured: 0.685 -> 0.696, late rate errors +1% E, +3% I)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["run", FITTING, "--out", str(tmp_path / "f"), "--set",
                       "simulation.plots=false"])
    assert status == 0, buffer.getvalue()
    point = load(tmp_path / "f" / "results.h5").point
    late = slice(-6, None)
    for short in ("E", "I"):
        error = float(np.mean(point.data[f"log_rate_error_{short}"][late]))
        assert abs(error) < 0.1, (short, error)
    assert point.attrs["final_weight_correlation"] > point.attrs["initial_weight_correlation"]


DEFAULT_CONFIG = str(ROOT / "configs" / "homeostatic_training.yaml")


@pytest.mark.slow
def test_default_size_homeostatic_training_reaches_the_targets(tmp_path):
    """The issue's default-size criterion: the study's 5000-neuron network, connectome and
    input, 10-s epochs, mean rate and CV of the last 5 epochs within 10% of 0.5 Hz and 1.0
    (measured: 0.507 Hz, CV 0.95 over the 50-s CV window; per type E 0.30 Hz, I 1.33 Hz).
    The study's schedule (500 epochs, lr 5e-4) takes about 12.6 h here; this one takes a step
    every epoch at lr 0.05 for 30 epochs (49 min on one core, 12 GB of memory)."""
    from protocols.resources import available_memory

    if available_memory() < 13 * 2**30:
        pytest.skip("needs about 12 GB of free memory (a 10-s epoch of 5000 neurons)")
    buffer = io.StringIO()
    sets = ["simulation.plots=false", "simulation.accumulation_interval=1",
            "simulation.report_interval=5", "simulation.checkpoint_interval=10",
            "simulation.epochs=30", "hyperparameters.learning_rate=0.05"]
    args = ["run", DEFAULT_CONFIG, "--out", str(tmp_path / "d")]
    for item in sets:
        args += ["--set", item]
    with contextlib.redirect_stdout(buffer):
        status = main(args)
    assert status == 0, buffer.getvalue()
    data = load(tmp_path / "d" / "results.h5").point.data
    late = slice(-5, None)
    rate = float(np.mean(data["log_mean_rate"][late]))
    cv = float(np.mean(data["log_mean_cv"][late]))
    assert abs(rate - 0.5) < 0.05 and abs(cv - 1.0) < 0.1, (rate, cv)
