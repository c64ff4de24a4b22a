"""Result files: round trip, refusal, resume, recovery from kills and damage, errors."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.results import ResultFileError, ResultWriter, load

ROOT = Path(__file__).resolve().parent.parent
AXES = {"a": [0.1, 0.2], "b": [1.0, 2.0, 3.0]}


def writer(out, config="x: 1\n", resume=False, **kw):
    return ResultWriter(out, kw.pop("protocol", "demo"), config, kw.pop("seed", 5),
                        {"numpy": np.__version__}, axes=kw.pop("axes", AXES), resume=resume)


def point(k):
    i, j = divmod(k, 3)
    return (f"p{k}", {"a": AXES["a"][i], "b": AXES["b"][j], "score": float(k), "label": "x"},
            {"trials": np.arange(k + 1, dtype=np.int16), "matrix": np.full((2, 3), k / 7)})


def test_round_trip_keeps_values_dtypes_and_root_attributes(tmp_path):
    w = writer(tmp_path)
    for k in (0, 4):
        w.write_point(*point(k))
    r = load(w.finalize())
    assert (r.protocol, r.seed, r.config, r.versions) == ("demo", 5, "x: 1\n",
                                                          {"numpy": np.__version__})
    assert r.attrs["schema_version"] == 1 and r.attrs["n_complete"] == 2 and r.created
    assert r.points["p4"].data["trials"].dtype == np.int16
    np.testing.assert_array_equal(r.points["p4"].data["matrix"], np.full((2, 3), 4 / 7))
    assert r.points["p4"].attrs["label"] == "x"
    with h5py.File(tmp_path / "results.h5") as f:   # plain h5py reads it too
        assert f["p4"].attrs["complete"] and list(f["axes"]) == ["a", "b"]


def test_grid_places_points_by_their_axis_values(tmp_path):
    w = writer(tmp_path)
    w.write_point(*point(5))   # a = 0.2, b = 3.0
    r = load(w.finalize())
    grid = r.grid("score")
    assert grid.shape == (2, 3) and grid[1, 2] == 5.0 and np.isnan(grid).sum() == 5
    with pytest.raises(KeyError, match="score"):
        r.grid("nope")
    w.write_point(*point(1))
    with pytest.raises(ResultFileError, match="exactly one"):
        load(w.finalize()).point


def test_existing_run_is_refused_without_resume_and_left_unchanged(tmp_path):
    w = writer(tmp_path)
    w.write_point(*point(0))
    before = (tmp_path / "results.h5").read_bytes()
    with pytest.raises(ResultFileError, match="--resume"):
        writer(tmp_path)
    assert (tmp_path / "results.h5").read_bytes() == before


@pytest.mark.parametrize("change", [{"config": "x: 2\n"}, {"protocol": "other"}, {"seed": 6}])
def test_resume_of_another_run_is_refused_and_touches_nothing(tmp_path, change):
    w = writer(tmp_path)
    w.write_point(*point(0))
    (tmp_path / "points" / "p9.h5.tmp").write_bytes(b"half")
    before = (tmp_path / "results.h5").read_bytes()
    with pytest.raises(ResultFileError, match="cannot resume"):
        writer(tmp_path, resume=True, **change)
    assert (tmp_path / "results.h5").read_bytes() == before
    assert (tmp_path / "points" / "p9.h5.tmp").exists()


def test_resume_drops_half_written_groups_and_temporary_points(tmp_path):
    w = writer(tmp_path)
    w.write_point(*point(0))
    with h5py.File(tmp_path / "results.h5", "a") as f:
        f.create_group("p1").create_dataset("trials", data=[1, 2])   # no 'complete'
    (tmp_path / "points" / "p2.h5.tmp").write_bytes(b"half")
    assert sorted(load(tmp_path / "results.h5").points) == ["p0"]
    w = writer(tmp_path, resume=True)
    assert w.completed() == {"p0"}
    assert not (tmp_path / "points" / "p2.h5.tmp").exists()
    with h5py.File(tmp_path / "results.h5") as f:
        assert "p1" not in f


def test_resume_appends_points_the_main_file_lacks(tmp_path):
    w = writer(tmp_path)
    for k in range(3):
        w.write_point(*point(k))
    with h5py.File(tmp_path / "results.h5", "a") as f:   # as if killed before the append
        del f["p2"]
    w = writer(tmp_path, resume=True)
    assert w.completed() == {"p0", "p1", "p2"}
    r = load(w.finalize())
    np.testing.assert_array_equal(r.points["p2"].data["trials"], np.arange(3))


def test_damaged_main_file_is_kept_aside_and_rebuilt_from_the_points(tmp_path):
    w = writer(tmp_path)
    for k in range(4):
        w.write_point(*point(k))
    data = (tmp_path / "results.h5").read_bytes()
    (tmp_path / "results.h5").write_bytes(data[: len(data) // 3])   # truncated mid-write
    w = writer(tmp_path, resume=True)
    assert w.completed() == {"p0", "p1", "p2", "p3"}
    r = load(w.finalize())
    assert sorted(r.points) == ["p0", "p1", "p2", "p3"]
    assert r.points["p3"].attrs["score"] == 3.0
    assert len(list(tmp_path.glob("results.h5.damaged-*"))) == 1


def test_a_corrupt_file_without_points_is_an_error_and_kept(tmp_path):
    (tmp_path / "results.h5").write_bytes(b"garbage")
    with pytest.raises(ResultFileError, match="not a readable HDF5"):
        writer(tmp_path, resume=True)
    assert (tmp_path / "results.h5").read_bytes() == b"garbage"


@pytest.mark.parametrize("content, message", [
    (None, "not found"), (b"plain text", "not a readable HDF5"), ("foreign", "not a snnsuite"),
    ("future", "newer"),
])
def test_load_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "file.h5"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "foreign":
        with h5py.File(path, "w") as f:
            f["x"] = [1]
    elif content == "future":
        with h5py.File(path, "w") as f:
            f.attrs.update(schema_version=99, suite="snnsuite", protocol="demo")
    with pytest.raises(ResultFileError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)


CHILD = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from analysis.results import ResultWriter
w = ResultWriter({out!r}, "demo", "x: 1\\n", 5, {{}}, resume=True)
for k in range(10_000):
    w.write_point(f"p{{k:05d}}", {{"k": k}}, {{"data": np.full(5000, k)}})
    print(k, flush=True)
"""


def test_sigkill_at_a_random_moment_loses_no_finished_point(tmp_path):
    """A writer killed with SIGKILL: every point it reported is back after resume, once."""
    out = str(tmp_path / "run")
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT), out=out)],
                             stdout=subprocess.PIPE, text=True)
    reported = []
    deadline = time.monotonic() + 60
    while len(reported) < 25 and time.monotonic() < deadline:
        reported.append(int(child.stdout.readline()))
    time.sleep(np.random.default_rng().uniform(0, 0.05))
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    w = ResultWriter(out, "demo", "x: 1\n", 5, {}, resume=True)
    assert {f"p{k:05d}" for k in reported} <= w.completed()
    result = load(w.finalize())
    assert len(result.points) == len(w.completed())
    for name, p in result.points.items():
        np.testing.assert_array_equal(p.data["data"], np.full(5000, p.attrs["k"]))
