"""The real protocols end to end through the command line: results, resume, errors."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.results import load
from protocols import cli

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"

TINY_NETWORK = ["network.n_neurons=80", "protocol.n_perturbations=3", "protocol.observation=120 ms"]
TINY_GRID = TINY_NETWORK + ["grid.v_th_std=[0.1 mV, 0.4 mV]", "grid.g_std=[0.1, 0.3, 0.5]"]
PER_POINT_DATA = ("lz", "lz_entropy", "hamming_slope", "perturbed_neurons", "hamming_distance",
                  "control_rates_hz")


def run_cli(*args) -> int:
    return cli.main([str(a) for a in args])


def sets(overrides):
    return [x for o in overrides for x in ("--set", o)]


def grid_run(out, *extra):
    return run_cli("run", CONFIGS / "heterogeneity_grid_quick.yaml", "--out", out,
                   *sets(TINY_GRID), *extra)


def same_points(a, b):
    """Two grid results hold the same points with identical per-trial data."""
    assert sorted(a.points) == sorted(b.points)
    for name in a.points:
        for key in PER_POINT_DATA:
            np.testing.assert_array_equal(a.points[name].data[key], b.points[name].data[key],
                                          err_msg=f"{name}/{key}")
        for key in ("lz_mean", "hamming_mean", "rate_mean", "block_id"):
            assert a.points[name].attrs[key] == b.points[name].attrs[key], (name, key)


@pytest.fixture(scope="module")
def serial_grid(tmp_path_factory):
    """The tiny 2 x 3 grid computed in one process."""
    out = tmp_path_factory.mktemp("serial")
    assert grid_run(out, "--jobs", 1) == 0
    return out


def test_chaos_run_writes_results_figures_report_and_config(tmp_path, capsys):
    """One chaos point: a loadable file with the study's per-point fields, figures, report."""
    assert run_cli("run", CONFIGS / "chaos_quick.yaml", "--out", tmp_path,
                   *sets(TINY_NETWORK)) == 0
    result = load(tmp_path / "results.h5")
    a, d = result.point.attrs, result.point.data
    for key in ("v_th_std", "g_std", "n_trials", "compute_time_s", "block_id", "lz_mean",
                "lz_std", "hamming_mean", "hamming_std", "rate_mean", "cv_mean", "fano_mean"):
        assert key in a, key
    assert d["lz"].shape == d["hamming_slope"].shape == d["perturbed_neurons"].shape == (3,)
    assert len(set(d["perturbed_neurons"].tolist())) == 3
    assert a["lz_mean"] == pytest.approx(d["lz"].mean())
    assert 0 < a["rate_mean"] < 200
    assert result.seed == 1 and "network:" in result.config
    assert {"brian2", "numpy", "snnsuite"} <= set(result.versions)
    for png in ("raster.png", "hamming.png", "lz_distribution.png"):
        assert (tmp_path / "figures" / png).read_bytes()[:4] == b"\x89PNG"
    assert "LZ complexity" in (tmp_path / "report.md").read_text()
    assert "n_neurons: 80" in (tmp_path / "config.yaml").read_text()
    assert "results.h5" in capsys.readouterr().out


def test_same_config_and_seed_give_the_same_numbers(serial_grid, tmp_path):
    """Reproducible: a second run, in two worker processes, gives identical points."""
    assert grid_run(tmp_path, "--jobs", 2) == 0
    same_points(load(serial_grid / "results.h5"), load(tmp_path / "results.h5"))


def test_grid_file_axes_grid_and_report(serial_grid, tmp_path):
    """The grid file: real axis values, [n_v_th_std, n_g_std] summaries, heatmaps, summary."""
    result = load(serial_grid / "results.h5")
    np.testing.assert_allclose(result.axes[0], [0.1, 0.4])
    np.testing.assert_allclose(result.axes[1], [0.1, 0.3, 0.5])
    assert result.axis_names == ("v_th_std", "g_std")
    lz = result.grid("lz_mean")
    assert lz.shape == (2, 3) and np.isfinite(lz).all()
    assert result.points["v001_g002"].attrs["v_th_std"] == pytest.approx(0.4)
    assert result.grid("g_std")[1, 2] == pytest.approx(0.5)
    summary = (serial_grid / "summary.txt").read_text()
    assert "6 of 6 points" in summary and "g_std vs lz_mean" in summary
    for png in ("lz_heatmap.png", "hamming_heatmap.png", "rate_heatmap.png",
                "chaos_landscape.png", "chaos_landscape_study.png"):
        assert (serial_grid / "figures" / png).stat().st_size > 1000
    assert "v_th_std values (mV): 0.1, 0.4" in export_summary(serial_grid, tmp_path / "export")


def export_summary(folder, out) -> str:
    """`snnsuite export` on a real grid: the study's pickle and its summary."""
    import pickle

    assert run_cli("export", folder / "results.h5", "--format", "pickle", "--out", out) == 0
    with open(out / "chaos_results_session_1.pkl", "rb") as f:
        records = pickle.load(f)
    assert [(r["v_th_std"], r["g_std"]) for r in records][:2] == [(0.1, 0.1), (0.1, 0.3)]
    assert all(len(r["lz_complexities"]) == 3 for r in records)
    return (out / "experiment_summary_session_1.txt").read_text()


def test_finished_grid_resumes_to_nothing_to_do(serial_grid, tmp_path):
    """--resume on a finished grid computes nothing and changes no point."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(serial_grid, copy)
    assert grid_run(copy, "--resume") == 0
    same_points(load(serial_grid / "results.h5"), load(copy / "results.h5"))


def test_kill_9_loses_nothing_and_resume_duplicates_nothing(serial_grid, tmp_path):
    """A grid killed with SIGKILL mid-run resumes to exactly the uninterrupted result."""
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "protocols.heterogeneity_grid",
               str(CONFIGS / "heterogeneity_grid_quick.yaml"), "--out", str(out), "--jobs", "1",
               *sets(TINY_GRID)]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "points").glob("*.h5"))) < 2:
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    finished = {p.stem for p in (out / "points").glob("*.h5")}
    assert 2 <= len(finished) < 6, "the child should be killed mid-grid"
    assert grid_run(out, "--resume", "--jobs", 1) == 0
    resumed = load(out / "results.h5")
    same_points(load(serial_grid / "results.h5"), resumed)
    with h5py.File(out / "results.h5") as f:
        assert sorted(k for k in f if k != "axes") == sorted(resumed.points)


def run_error(capsys, *args) -> str:
    """Run the CLI expecting a user error: exit code 2, one line, no traceback."""
    assert run_cli(*args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("snnsuite: error:")
    return err


@pytest.mark.parametrize("override, fragments", [
    ("network.n_neuron=100", ["network.n_neuron", "n_neurons"]),
    ("network.tau_m=20", ["network.tau_m", "unit"]),
    ("network.tau_m=20 mV", ["network.tau_m", "mV"]),
    ("network.n_neurons=-5", ["network.n_neurons", "-5"]),
    ("input.channel_connectivity=1.5", ["input.channel_connectivity", "1.5"]),
    ("protocol.n_perturbations=500", ["n_perturbations", "500", "n_neurons"]),
])
def test_bad_values_are_named_before_any_simulation(tmp_path, capsys, override, fragments):
    """Wrong key, unit or range: exit 2, a message naming key and value, nothing written."""
    err = run_error(capsys, "run", CONFIGS / "chaos_quick.yaml", "--out", tmp_path / "out",
                    "--set", override)
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "out" / "results.h5").exists()


def test_unknown_key_in_the_file_names_the_file(tmp_path, capsys):
    text = (CONFIGS / "chaos_quick.yaml").read_text().replace("  g_std:", "  g_sdt:")
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    err = run_error(capsys, "run", path, "--out", tmp_path / "out")
    assert "typo.yaml" in err and "g_sdt" in err and "g_std" in err


def test_missing_config_file(tmp_path, capsys):
    err = run_error(capsys, "run", tmp_path / "nope.yaml")
    assert "nope.yaml" in err


def test_existing_run_is_not_overwritten_without_resume(serial_grid, capsys):
    """A second run into the same folder is refused; the file is untouched."""
    before = (serial_grid / "results.h5").read_bytes()
    err = run_error(capsys, "run", CONFIGS / "heterogeneity_grid_quick.yaml", "--out",
                    serial_grid, *sets(TINY_GRID))
    assert "--resume" in err
    assert (serial_grid / "results.h5").read_bytes() == before


def test_resume_with_another_config_is_refused(serial_grid, capsys):
    before = (serial_grid / "results.h5").read_bytes()
    err = run_error(capsys, "run", CONFIGS / "heterogeneity_grid_quick.yaml", "--out",
                    serial_grid, *sets(TINY_GRID), "--set", "network.g_std=0.3", "--resume")
    assert "different config" in err and "results.h5" in err
    assert (serial_grid / "results.h5").read_bytes() == before


@pytest.mark.parametrize("content", [b"not an hdf5 file at all", b"\x89HDF\r\n\x1a\n" + b"\0" * 64])
def test_report_and_resume_on_a_corrupt_file(tmp_path, capsys, content):
    """A corrupt results.h5 given to report or --resume: exit 2, named, left as it was."""
    bad = tmp_path / "results.h5"
    bad.write_bytes(content)
    err = run_error(capsys, "report", bad)
    assert "results.h5" in err and "HDF5" in err
    err = run_error(capsys, "run", CONFIGS / "chaos_quick.yaml", "--out", tmp_path, "--resume")
    assert "results.h5" in err
    assert bad.read_bytes() == content


def test_report_on_a_foreign_hdf5_file(tmp_path, capsys):
    foreign = tmp_path / "other.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    err = run_error(capsys, "report", foreign)
    assert "other.h5" in err and "not a snnsuite result file" in err


def test_report_regenerates_figures_from_the_file_alone(serial_grid, tmp_path):
    assert run_cli("report", serial_grid / "results.h5", "--out", tmp_path) == 0
    assert (tmp_path / "figures" / "lz_heatmap.png").exists()
    assert "Most chaotic point" in (tmp_path / "report.md").read_text()


def test_dask_scheduler_gives_the_same_points(serial_grid, tmp_path):
    """grid.scheduler=dask (a local dask.distributed cluster) reproduces the joblib grid."""
    import distributed  # noqa: F401  (in the test extra, so make test installs it)
    assert grid_run(tmp_path, "--jobs", 2, "--set", "grid.scheduler=dask") == 0
    same_points(load(serial_grid / "results.h5"), load(tmp_path / "results.h5"))


def test_cpp_backend_reproduces_the_runtime_point(tmp_path):
    """The same point on the C++ standalone back-end: identical spikes, noise included."""
    runs = {}
    for backend in ("runtime", "cpp"):
        out = tmp_path / backend
        assert run_cli("run", CONFIGS / "chaos_quick.yaml", "--out", out, "--backend", backend,
                       *sets(TINY_NETWORK)) == 0
        runs[backend] = load(out / "results.h5").point
        assert not (out / "build").exists() or not any((out / "build").iterdir())
    assert runs["cpp"].attrs["backend"] == "cpp"
    for key in ("control_spike_i", "control_spike_t_s", "trial_spike_i", "trial_spike_t_s", "lz",
                "hamming_distance"):
        np.testing.assert_array_equal(runs["runtime"].data[key], runs["cpp"].data[key], err_msg=key)
