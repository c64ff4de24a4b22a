"""snnsuite export: the study's pickle and summary from chaos and grid result files,
and analysis.plots.chaos_landscape.

The result files are written here with ResultWriter from synthetic values (no
simulation); every expected value is derived from the small tables below, not
from the exporter.
"""
import doctest
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import plots
from analysis.results import ResultWriter
from protocols import cli, export

SEED = 11
VERSIONS = {"numpy": np.__version__, "snnsuite": "0.1.0"}
V_AXIS = [0.1, 0.4]            # threshold spreads, mV
G_AXIS = [0.05, 0.25, 0.5]     # weight spreads, mV/ms
N_TRIALS = 4
# the study's LZ count per point: row i = V_AXIS[i], column j = G_AXIS[j]; the largest
# mean is at (0, 2), which is neither the first nor the last point of the list
LZ_BASE = [[100, 140, 300], [120, 200, 260]]
PICKLE = f"chaos_results_session_{SEED}.pkl"
SUMMARY = f"experiment_summary_session_{SEED}.txt"


# --------------------------------------------------------------------------- synthetic results
def trial_values(i, j):
    """Per-trial datasets of grid point (i, j), in the units the suite stores them."""
    k = np.arange(N_TRIALS)
    return {
        "lz_study": LZ_BASE[i][j] + 2.0 * k,              # the study's count, stored as float
        "hamming_slope_study": 0.1 * (i + 1) + 0.01 * j + 0.001 * k,  # neurons/ms
        "lz": 0.5 + 0.1 * i + 0.01 * j + 0.001 * k,              # c log2(n) / n
        "lz_phrases": 1000.0 + 100 * i + 10 * j + k,              # c, stored as float
        "lz_entropy": 0.4 + 0.001 * k,
        "hamming_slope": 1000.0 * (i + 1) + 10 * j + k,           # neurons/s
        "perturbed_neurons": np.array([7 + i, 11 + j, 13, 17 + i + j]),
    }


def point_attrs(i, j, *, v_axis=V_AXIS, g_axis=G_AXIS):
    data = trial_values(i, j)
    return {
        "v_th_std": v_axis[i], "g_std": g_axis[j], "n_trials": N_TRIALS, "n_neurons": 300,
        "block_id": i * len(g_axis) + j, "compute_time_s": 10.0 + i + 0.5 * j,
        # the suite's summaries differ from the study's, so a mix-up shows
        "lz_mean": float(data["lz"].mean()), "lz_std": float(data["lz"].std()),
        "hamming_mean": float(data["hamming_slope"].mean()),
        "hamming_std": float(data["hamming_slope"].std()),
        "lz_study_mean": float(data["lz_study"].mean()),
        "lz_study_std": float(data["lz_study"].std()),
        "hamming_study_mean": float(data["hamming_slope_study"].mean()),
        "hamming_study_std": float(data["hamming_slope_study"].std()),
        "rate_mean": 5.0 + i, "cv_mean": 0.8 + 0.1 * j, "trials": "independent",
        "transient_s": 0.2,
    }


def write_grid(folder, *, points=None, v_axis=V_AXIS, old_version=False, protocol=None):
    """A heterogeneity_grid results.h5; ``old_version``: without the study's measures."""
    writer = ResultWriter(folder, protocol or "heterogeneity_grid", "experiment: grid\n", SEED,
                          VERSIONS, axes={"v_th_std": v_axis, "g_std": G_AXIS})
    for i, j in points or [(i, j) for i in range(len(v_axis)) for j in range(len(G_AXIS))]:
        attrs, data = point_attrs(i, j, v_axis=v_axis), trial_values(i, j)
        if old_version:
            for key in ("lz_study", "hamming_slope_study", "lz_phrases"):
                del data[key]
            for key in ("lz_study_mean", "lz_study_std", "hamming_study_mean",
                        "hamming_study_std", "trials", "transient_s"):
                del attrs[key]
        writer.write_point(f"v{i:03d}_g{j:03d}", attrs, data)
    return writer.finalize()


def write_chaos(folder):
    writer = ResultWriter(folder, "chaos", "experiment: chaos\n", SEED, VERSIONS)
    writer.write_point("p0000", point_attrs(1, 2), trial_values(1, 2))
    return writer.finalize()


def run_cli(*argv):
    return cli.main(["export", *map(str, argv)])


@pytest.fixture
def grid_file(tmp_path):
    return write_grid(tmp_path / "grid")


# --------------------------------------------------------------------------- the pickle
STUDY_SCRIPT = r"""
import builtins, json, pickle, sys
import numpy as np
from scipy.stats import pearsonr

class NoSuite:  # the pickle must not need the suite: any import of it fails
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"analysis", "protocols", "models", "training", "snnsuite"}:
            raise ImportError(f"the pickle imported {name}")
sys.meta_path.insert(0, NoSuite())

with open(sys.argv[1], "rb") as f:
    results = pickle.load(f)

# the study's README, "Analysis Examples"
v_th_std = np.array([r["v_th_std"] for r in results])
g_std = np.array([r["g_std"] for r in results])
lz_complexity = np.array([r["lz_mean"] for r in results])
hamming_slope = np.array([r["hamming_mean"] for r in results])
n_v_th = len(np.unique(v_th_std))
n_g = len(np.unique(g_std))
lz_grid = lz_complexity.reshape(n_v_th, n_g)
hamming_grid = hamming_slope.reshape(n_v_th, n_g)
v_th_lz_corr, v_th_lz_p = pearsonr(v_th_std, lz_complexity)
g_lz_corr, g_lz_p = pearsonr(g_std, lz_complexity)
optimal_params = results[np.argmax(lz_complexity)]

types = sorted({type(v).__module__ + "." + type(v).__name__ for r in results for v in r.values()})
print(json.dumps({"lz_grid": lz_grid.tolist(), "hamming_grid": hamming_grid.tolist(),
                  "r_v": v_th_lz_corr, "r_g": g_lz_corr,
                  "best": [optimal_params["v_th_std"], optimal_params["g_std"]],
                  "types": types, "dict": all(type(r) is dict for r in results)}))
"""


def test_pickle_loads_without_the_suite_and_the_study_analysis_runs_on_it(grid_file, tmp_path):
    pkl, _ = export.export_pickle(grid_file, tmp_path / "out")
    script = tmp_path / "study_analysis.py"
    script.write_text(STUDY_SCRIPT)
    done = subprocess.run([sys.executable, "-I", str(script), str(pkl)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    lz_means = [[base + 3.0 for base in row] for row in LZ_BASE]  # mean of base + 2k, k=0..3
    np.testing.assert_allclose(out["lz_grid"], lz_means)
    np.testing.assert_allclose(out["hamming_grid"],
                               [[0.1 * (i + 1) + 0.01 * j + 0.0015 for j in range(3)]
                                for i in range(2)])
    v = np.repeat(V_AXIS, 3)
    g = np.tile(G_AXIS, 2)
    flat = np.ravel(lz_means)
    assert out["r_v"] == pytest.approx(np.corrcoef(v, flat)[0, 1])
    assert out["r_g"] == pytest.approx(np.corrcoef(g, flat)[0, 1])
    assert out["best"] == [0.1, 0.5]
    assert out["dict"]
    assert set(out["types"]) <= {"builtins.float", "builtins.int", "builtins.str",
                                 "builtins.list", "numpy.ndarray"}


def test_study_fields_hold_the_study_measures_in_the_study_units(grid_file, tmp_path):
    pkl, _ = export.export_pickle(grid_file, tmp_path / "out")
    records = pickle.loads(pkl.read_bytes())
    assert len(records) == 6
    for r in records:
        i, j = V_AXIS.index(r["v_th_std"]), G_AXIS.index(r["g_std"])
        data = trial_values(i, j)
        np.testing.assert_array_equal(r["lz_complexities"], LZ_BASE[i][j] + 2 * np.arange(4))
        assert r["lz_complexities"].dtype == np.int64 and r["lz76"].dtype == np.int64  # counts
        np.testing.assert_allclose(r["hamming_slopes"], data["hamming_slope_study"])  # neurons/ms
        assert r["lz_mean"] == pytest.approx(LZ_BASE[i][j] + 3.0)
        assert r["lz_std"] == pytest.approx(np.sqrt(5.0))  # population std of 0, 2, 4, 6
        assert r["hamming_mean"] == pytest.approx(0.1 * (i + 1) + 0.01 * j + 0.0015)
        assert r["hamming_std"] == pytest.approx(0.001 * np.sqrt(1.25))
        assert r["n_trials"] == 4 and type(r["n_trials"]) is int
        assert r["computation_time"] == pytest.approx(10.0 + i + 0.5 * j)
        assert r["block_id"] == 3 * i + j and type(r["block_id"]) is int
        assert r["perturbation_neurons"] == [7 + i, 11 + j, 13, 17 + i + j]
        assert all(type(k) is int for k in r["perturbation_neurons"])
        # the suite's measures, under their own names and units
        np.testing.assert_array_equal(r["lz76"], 1000 + 100 * i + 10 * j + np.arange(4))
        np.testing.assert_allclose(r["lz76_normalised"], data["lz"])
        np.testing.assert_allclose(r["hamming_growth_slope"],
                                   1000.0 * (i + 1) + 10 * j + np.arange(4))  # neurons/s
        assert (r["n_neurons"], r["trials"], r["session"]) == (300, "independent", SEED)
        assert r["rate_mean"] == pytest.approx(5.0 + i)
        assert r["cv_mean"] == pytest.approx(0.8 + 0.1 * j)
        assert type(r["v_th_std"]) is float and type(r["lz_mean"]) is float


def test_study_keys_come_first_in_the_study_order(grid_file, tmp_path):
    pkl, _ = export.export_pickle(grid_file, tmp_path / "out")
    keys = list(pickle.loads(pkl.read_bytes())[0])
    assert keys[:12] == ["v_th_std", "g_std", "lz_complexities", "hamming_slopes", "lz_mean",
                         "lz_std", "hamming_mean", "hamming_std", "n_trials",
                         "computation_time", "block_id", "perturbation_neurons"]


def test_points_are_ordered_v_th_std_major_then_g_std_by_value(tmp_path):
    """A descending threshold axis, points written in a scrambled order: the list is still
    sorted by v_th_std value, then g_std, so the study's reshape lines up with np.unique."""
    scrambled = [(1, 2), (0, 0), (1, 0), (0, 2), (1, 1), (0, 1)]
    path = write_grid(tmp_path / "grid", points=scrambled, v_axis=[0.4, 0.1])
    pkl, _ = export.export_pickle(path, tmp_path / "out")
    records = pickle.loads(pkl.read_bytes())
    assert [(r["v_th_std"], r["g_std"]) for r in records] == \
        [(0.1, 0.05), (0.1, 0.25), (0.1, 0.5), (0.4, 0.05), (0.4, 0.25), (0.4, 0.5)]
    # on the axis [0.4, 0.1], v_th_std = 0.1 is index 1: its LZ row is LZ_BASE[1]
    assert [r["lz_mean"] for r in records[:3]] == [123.0, 203.0, 263.0]
    assert [r["block_id"] for r in records] == [3, 4, 5, 0, 1, 2]


def test_a_chaos_result_gives_a_list_of_one_dict(tmp_path):
    pkl, txt = export.export_pickle(write_chaos(tmp_path / "chaos"), tmp_path / "out")
    records = pickle.loads(pkl.read_bytes())
    assert isinstance(records, list) and len(records) == 1 and type(records[0]) is dict
    assert (records[0]["v_th_std"], records[0]["g_std"]) == (0.4, 0.5)
    assert records[0]["lz_mean"] == pytest.approx(263.0)
    assert "1 x 1 = 1 combinations (1 computed)" in txt.read_text()


def test_summary_names_its_source_the_measures_every_point_and_the_most_chaotic(grid_file,
                                                                                tmp_path):
    _, txt = export.export_pickle(grid_file, tmp_path / "out")
    text = txt.read_text()
    assert "Written by snnsuite" in text and str(grid_file.resolve()) in text
    assert "the study's measures" in text and "neurons/ms" in text
    assert "Session ID: 11" in text
    assert "2 x 3 = 6 combinations (6 computed)" in text
    assert "v_th_std values (mV): 0.1, 0.4" in text
    assert "g_std values (mV/ms): 0.05, 0.25, 0.5" in text
    rows = [line for line in text.splitlines() if "±" in line and "block" not in line
            and ":" not in line]
    assert len(rows) == 6
    assert rows[2].split()[:4] == ["2", "0.1", "0.5", "303"]  # block, v, g, LZ mean
    assert "Total computation time" in text and "(66.0 s)" in text  # sum of 10 + i + j/2
    best = text.split("Most chaotic point (highest LZ mean):")[1]
    assert "v_th_std = 0.1 mV, g_std = 0.5 mV/ms (block 2): LZ = 303" in best


# --------------------------------------------------------------------------- the command line
def test_cli_writes_both_files_beside_the_results_by_default(grid_file, capsys):
    assert run_cli(grid_file, "--format", "pickle") == 0
    out = capsys.readouterr().out
    assert (grid_file.parent / PICKLE).is_file() and (grid_file.parent / SUMMARY).is_file()
    assert PICKLE in out and SUMMARY in out


def test_cli_creates_the_out_folder(grid_file, tmp_path, capsys):
    assert run_cli(grid_file, "--format", "pickle", "--out", tmp_path / "a" / "b") == 0
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == [PICKLE, SUMMARY]


def test_an_existing_file_is_refused_and_left_byte_identical(grid_file, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / SUMMARY).write_bytes(b"my own notes\n")
    assert run_cli(grid_file, "--format", "pickle", "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and SUMMARY in err and "--overwrite" in err
    assert (out / SUMMARY).read_bytes() == b"my own notes\n"
    assert sorted(p.name for p in out.iterdir()) == [SUMMARY]  # nor the pickle, nor a temp file


def test_a_second_export_is_refused_and_the_first_kept(grid_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(grid_file, "--format", "pickle", "--out", out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert run_cli(grid_file, "--format", "pickle", "--out", out) == 2
    assert PICKLE in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_overwrite_replaces_both_files(grid_file, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / PICKLE).write_bytes(b"old pickle")
    (out / SUMMARY).write_bytes(b"old summary")
    assert run_cli(grid_file, "--format", "pickle", "--out", out, "--overwrite") == 0
    assert len(pickle.loads((out / PICKLE).read_bytes())) == 6
    assert (out / SUMMARY).read_text().startswith("Spiking RNN Chaos Experiment Summary")
    assert sorted(p.name for p in out.iterdir()) == [PICKLE, SUMMARY]


def test_a_failed_write_leaves_the_old_files_whole_and_no_temporary_file(grid_file, tmp_path,
                                                                         monkeypatch, capsys):
    """Both files are written under temporary names first; a failure (here: at the first
    rename, as a full disk or a kill would stop it) leaves the old files as they were."""
    out = tmp_path / "out"
    out.mkdir()
    (out / PICKLE).write_bytes(b"old pickle")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(export.os, "replace", failing_replace)
    assert run_cli(grid_file, "--format", "pickle", "--out", out, "--overwrite") == 2
    assert "No space left" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [PICKLE]
    assert (out / PICKLE).read_bytes() == b"old pickle"


def test_another_experiment_is_refused_with_exit_2(tmp_path, capsys):
    path = write_grid(tmp_path / "grid", protocol="plasticity")
    assert run_cli(path, "--format", "pickle", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'plasticity'" in err and "heterogeneity_grid" in err
    assert not (tmp_path / "out").exists()


def test_a_file_without_the_study_datasets_is_refused_with_exit_2(tmp_path, capsys):
    path = write_grid(tmp_path / "grid", old_version=True)
    assert run_cli(path, "--format", "pickle") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "lz_study" in err and "hamming_slope_study" in err and "lz_phrases" in err
    assert "rerun" in err and "(and 5 more points)" in err
    assert not (path.parent / PICKLE).exists()


def test_a_missing_result_file_is_exit_2_with_one_line(tmp_path, capsys):
    assert run_cli(tmp_path / "nowhere" / "results.h5", "--format", "pickle") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "result file not found" in err


def test_a_file_that_is_not_a_result_file_is_exit_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "results.h5"
    path.write_bytes(b"not hdf5 at all" * 10)
    assert run_cli(path, "--format", "pickle", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a readable HDF5 file" in err
    assert not (tmp_path / "out").exists()


def test_a_damaged_result_file_is_exit_2_and_names_the_repair(grid_file, capsys):
    import h5py

    with h5py.File(grid_file, "a") as f:
        f["v000_g001/lz_study"][0] = 999
    assert run_cli(grid_file, "--format", "pickle") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "checksum" in err and "snnsuite report" in err


def test_only_the_pickle_format_is_accepted(grid_file, capsys):
    assert run_cli(grid_file, "--format", "csv") == 2
    assert "invalid choice: 'csv'" in capsys.readouterr().err


def test_an_empty_out_is_refused(grid_file, capsys):
    assert run_cli(grid_file, "--format", "pickle", "--out", "") == 2
    assert "--out: empty" in capsys.readouterr().err


def test_a_partial_grid_is_exported_with_a_warning(tmp_path, capsys):
    path = write_grid(tmp_path / "grid", points=[(0, 0), (0, 1), (1, 1)])  # no g_std = 0.5
    assert run_cli(path, "--format", "pickle") == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "3 of 6 grid points" in err and "--resume" in err
    assert len(pickle.loads((path.parent / PICKLE).read_bytes())) == 3
    summary = (path.parent / SUMMARY).read_text()
    assert "2 x 3 = 6 combinations (3 computed)" in summary
    assert "g_std values (mV/ms): 0.05, 0.25, 0.5" in summary  # the whole axis


def test_export_module_doctests_pass():
    assert doctest.testmod(export, optionflags=doctest.ELLIPSIS).failed == 0


# --------------------------------------------------------------------------- chaos_landscape
def test_chaos_landscape_writes_a_png_with_missing_points_and_a_mark(tmp_path):
    lz = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, 4.0]])
    path = plots.chaos_landscape(V_AXIS, G_AXIS, lz, lz / 10, tmp_path / "fig" / "land.png",
                                 v_label="v_th_std (mV)", g_label="g_std (mV/ms)",
                                 lz_label="LZ (count)", hamming_label="Hamming (neurons/ms)",
                                 mark=(1, 2))
    assert path == tmp_path / "fig" / "land.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_chaos_landscape_draws_a_single_point(tmp_path):
    path = plots.chaos_landscape([0.4], [0.5], [[263.0]], [[0.2]], tmp_path / "one.png",
                                 v_label="v_th_std (mV)", g_label="g_std (mV/ms)",
                                 lz_label="LZ", hamming_label="Hamming")
    assert path.stat().st_size > 0


def test_chaos_landscape_rejects_a_grid_of_the_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match=r"hamming_grid must have shape .*\(2, 3\), got \(3, 2\)"):
        plots.chaos_landscape(V_AXIS, G_AXIS, np.zeros((2, 3)), np.zeros((3, 2)),
                              tmp_path / "x.png", v_label="v", g_label="g", lz_label="lz",
                              hamming_label="h")
    assert not (tmp_path / "x.png").exists()
