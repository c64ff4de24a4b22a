"""analysis.results: round trip, refusal, resume checks, kill safety (simulated and real), load errors.

Every test writes into its own ``tmp_path``; nothing here imports brian2 or torch.
"""
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis import results
from analysis.results import Point, Result, ResultFileError, ResultWriter, load

ROOT = Path(__file__).resolve().parent.parent
AXES = {"v_th_std": [0.0, 0.5, 1.0], "g_std": [0.1, 0.2]}
CONFIG = "network:\n  n_neurons: 10\nprotocol:\n  trials: 3\n"
VERSIONS = {"numpy": np.__version__, "snnsuite": "0.1"}
ALL_POINTS = [(i, j) for i in range(3) for j in range(2)]


# --------------------------------------------------------------------------- helpers
def make_writer(out, *, resume=False, protocol="grid", config=CONFIG, seed=7, axes=AXES):
    return ResultWriter(out, protocol, config, seed, VERSIONS, axes=axes, resume=resume)


def lz_mean(i, j):
    return 10.0 * i + j + 0.5


def point(i, j):
    """Name, scalar attrs and datasets of grid point (i, j), every value derived from (i, j)."""
    name = f"v{i:02d}_g{j:02d}"
    attrs = {"v_th_std": AXES["v_th_std"][i], "g_std": AXES["g_std"][j], "lz_mean": lz_mean(i, j),
             "n_trials": np.int64(3 + i), "label": f"point {i},{j}", "saturated": bool(i % 2)}
    data = {"lz": np.linspace(0, 1, 4, dtype=np.float32) + i,
            "counts": (np.arange(6, dtype=np.int16) + j).reshape(2, 3),
            "mask": np.array([True, False, bool(j)]),
            "big": (np.arange(5000) % 251).astype(np.uint8) + np.uint8(i)}  # > 4096: gzip path
    return name, attrs, data


def write(writer, *ij):
    for i, j in ij:
        writer.write_point(*point(i, j))


def check_point(p: Point, i, j):
    """p holds exactly what point(i, j) wrote: same values, same dtypes, same Python types."""
    name, attrs, data = point(i, j)
    assert p.name == name
    assert p.attrs == attrs
    assert {k: type(v) for k, v in p.attrs.items()} == {
        "v_th_std": float, "g_std": float, "lz_mean": float, "n_trials": int, "label": str,
        "saturated": bool}
    assert sorted(p.data) == sorted(data)
    for key, expected in data.items():
        assert p.data[key].dtype == expected.dtype, key
        np.testing.assert_array_equal(p.data[key], expected)


def snapshot(folder: Path) -> dict:
    """Every file below folder with its bytes and modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def groups_in(path: Path) -> list:
    with h5py.File(path, "r") as f:
        return [name for name in f if name != "axes"]


# --------------------------------------------------------------------------- round trip
def test_root_attributes_round_trip(tmp_path):
    """schema_version, suite, protocol, config text, seed, versions, created and axis names come back."""
    w = make_writer(tmp_path)
    write(w, (0, 0))
    r = load(w.finalize())
    assert isinstance(r, Result) and r.path == tmp_path / "results.h5"
    assert r.attrs["schema_version"] == results.SCHEMA_VERSION == 1
    assert r.attrs["suite"] == "snnsuite"
    assert r.protocol == "grid"
    assert r.config == CONFIG
    assert r.seed == 7 and type(r.seed) is int
    assert r.versions == VERSIONS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r.created)
    assert r.attrs["n_complete"] == 1 and re.fullmatch(r"\d{4}-.*Z", r.attrs["finished"])
    assert r.n_incomplete == 0


def test_point_attrs_and_datasets_round_trip_with_dtypes(tmp_path):
    """Every scalar attr and every dataset (float32, int16, bool, gzip-compressed uint8) is equal after load."""
    w = make_writer(tmp_path)
    write(w, *ALL_POINTS)
    r = load(w.finalize())
    assert list(r.points) == sorted(point(i, j)[0] for i, j in ALL_POINTS)
    for i, j in ALL_POINTS:
        check_point(r.points[point(i, j)[0]], i, j)


def test_large_datasets_are_compressed_and_small_ones_not(tmp_path):
    """Datasets above 4096 elements are stored gzip-compressed, smaller ones plainly."""
    w = make_writer(tmp_path)
    write(w, (1, 1))
    with h5py.File(w.finalize(), "r") as f:
        assert f["v01_g01/big"].compression == "gzip"
        assert f["v01_g01/lz"].compression is None


def test_load_accepts_a_string_path(tmp_path):
    """load() takes a str as well as a Path."""
    w = make_writer(tmp_path)
    write(w, (0, 1))
    assert list(load(str(w.finalize())).points) == ["v00_g01"]


def test_point_property_of_a_one_point_file(tmp_path):
    """.point returns the only point of a file without grid axes (a chaos run)."""
    w = make_writer(tmp_path, protocol="chaos", axes=None)
    name, attrs, data = point(2, 1)
    w.write_point("p0000", attrs, data)
    r = load(w.finalize())
    assert r.axis_names == () and r.axes == ()
    assert r.point.name == "p0000" and r.point.attrs == attrs
    np.testing.assert_array_equal(r.point.data["big"], data["big"])


@pytest.mark.parametrize("n_points", [0, 2])
def test_point_property_refuses_zero_or_several_points(tmp_path, n_points):
    """.point raises ResultFileError naming the count when the file has 0 or 2 points."""
    w = make_writer(tmp_path)
    write(w, *ALL_POINTS[:n_points])
    r = load(w.finalize())
    with pytest.raises(ResultFileError, match=f"holds {n_points} complete points, not exactly one"):
        r.point


def test_axes_and_axis_names(tmp_path):
    """.axis_names keeps the order the axes were given in; .axes holds their float values."""
    w = make_writer(tmp_path)
    r = load(w.finalize())
    assert r.axis_names == ("v_th_std", "g_std")
    assert len(r.axes) == 2
    for axis, name in zip(r.axes, r.axis_names):
        assert axis.dtype == np.float64
        np.testing.assert_array_equal(axis, AXES[name])


def test_grid_places_each_point_at_its_axis_values_and_nan_elsewhere(tmp_path):
    """.grid(name) has shape [len(ax0), len(ax1)], each value at its (i, j), NaN where no point."""
    w = make_writer(tmp_path)
    done = [(2, 1), (0, 0), (1, 1)]
    write(w, *done)
    grid = load(w.finalize()).grid("lz_mean")
    assert grid.shape == (3, 2)
    for i, j in ALL_POINTS:
        if (i, j) in done:
            assert grid[i, j] == lz_mean(i, j)
        else:
            assert np.isnan(grid[i, j])


def test_grid_of_a_complete_run_equals_the_expected_array(tmp_path):
    """With every point written, .grid has no NaN and equals the array built directly."""
    w = make_writer(tmp_path)
    write(w, *reversed(ALL_POINTS))
    r = load(w.finalize())
    expected = np.array([[lz_mean(i, j) for j in range(2)] for i in range(3)])
    np.testing.assert_array_equal(r.grid("lz_mean"), expected)
    np.testing.assert_array_equal(r.grid("g_std"), np.tile(AXES["g_std"], (3, 1)))


def test_grid_of_a_run_without_points_is_all_nan(tmp_path):
    """A grid file with no point yet gives an all-NaN grid of the right shape."""
    grid = load(make_writer(tmp_path).finalize()).grid("lz_mean")
    assert grid.shape == (3, 2) and np.isnan(grid).all()


def test_grid_of_an_unknown_summary_names_the_known_ones(tmp_path):
    """.grid('nope') raises KeyError listing the per-point summaries the file does have."""
    w = make_writer(tmp_path)
    write(w, (0, 0))
    with pytest.raises(KeyError) as info:
        load(w.finalize()).grid("nope")
    message = str(info.value)
    assert "'nope'" in message
    for known in ("lz_mean", "g_std", "v_th_std", "n_trials"):
        assert known in message


def test_grid_of_a_file_without_axes_is_refused(tmp_path):
    """.grid on a one-point file without axes raises ResultFileError naming the protocol."""
    w = make_writer(tmp_path, protocol="chaos", axes=None)
    w.write_point("p0000", {"lz_mean": 1.0}, {})
    with pytest.raises(ResultFileError, match="'chaos' has no grid axes"):
        load(w.finalize()).grid("lz_mean")


def test_plain_h5py_reads_the_file(tmp_path):
    """Without this module: root attrs, /axes/<name>, point datasets and complete=True are all there."""
    w = make_writer(tmp_path)
    write(w, (1, 0))
    with h5py.File(w.finalize(), "r") as f:
        assert f.attrs["suite"] == "snnsuite" and f.attrs["protocol"] == "grid"
        assert f.attrs["config"] == CONFIG and int(f.attrs["seed"]) == 7
        assert sorted(f["axes"]) == ["g_std", "v_th_std"]
        np.testing.assert_array_equal(f["axes/v_th_std"][()], AXES["v_th_std"])
        group = f["v01_g00"]
        assert bool(group.attrs["complete"]) is True
        assert group.attrs["lz_mean"] == lz_mean(1, 0)
        np.testing.assert_array_equal(group["counts"][()], point(1, 0)[2]["counts"])


def test_each_point_also_has_its_own_shard_file(tmp_path):
    """write_point leaves points/<name>.h5, itself a loadable result file with that one point."""
    w = make_writer(tmp_path)
    write(w, (2, 0))
    assert sorted(p.name for p in (tmp_path / "points").iterdir()) == ["v02_g00.h5"]
    shard = load(tmp_path / "points" / "v02_g00.h5")
    assert shard.config == CONFIG and shard.axis_names == tuple(AXES)
    check_point(shard.point, 2, 0)


def test_writing_a_point_again_replaces_it(tmp_path):
    """A second write_point with the same name replaces the first; the group exists once."""
    w = make_writer(tmp_path)
    name, attrs, data = point(0, 0)
    w.write_point(name, {**attrs, "lz_mean": -1.0}, {"lz": np.zeros(2)})
    w.write_point(name, attrs, data)
    r = load(w.finalize())
    assert groups_in(r.path) == [name]
    check_point(r.points[name], 0, 0)


@pytest.mark.parametrize("name", ["", "a/b", "axes"])
def test_invalid_point_names_are_refused(tmp_path, name):
    """Empty names, names with '/' and the reserved 'axes' raise ValueError and write nothing."""
    w = make_writer(tmp_path)
    with pytest.raises(ValueError, match="invalid point name"):
        w.write_point(name, {"x": 1.0}, {})
    assert list((tmp_path / "points").iterdir()) == [] and w.completed() == set()


def test_discard_shards_keeps_every_point_in_the_main_file(tmp_path):
    """discard_shards() removes points/ but load() still returns every point."""
    w = make_writer(tmp_path)
    write(w, *ALL_POINTS[:3])
    path = w.finalize()
    w.discard_shards()
    assert not (tmp_path / "points").exists()
    assert len(load(path).points) == 3


def test_repr_names_protocol_seed_points_and_grid(tmp_path):
    """repr(Result) shows the protocol, seed, point count and axis sizes."""
    w = make_writer(tmp_path)
    write(w, (0, 0), (1, 1))
    text = repr(load(w.finalize()))
    assert "'grid'" in text and "seed=7" in text and "points=2" in text
    assert "v_th_std[3] x g_std[2]" in text


# --------------------------------------------------------------------------- refusal
def test_second_writer_without_resume_is_refused_and_changes_nothing(tmp_path):
    """A second ResultWriter on the same out_dir without resume raises (mentioning --resume); bytes unchanged."""
    w = make_writer(tmp_path)
    write(w, (0, 0), (1, 0))
    w.finalize()
    before = snapshot(tmp_path)
    with pytest.raises(ResultFileError, match="--resume"):
        make_writer(tmp_path)
    assert snapshot(tmp_path) == before


def test_shards_alone_count_as_an_existing_run(tmp_path):
    """With results.h5 gone but points/ holding shards, a writer without resume is still refused."""
    w = make_writer(tmp_path)
    write(w, (0, 0))
    (tmp_path / "results.h5").unlink()
    before = snapshot(tmp_path)
    with pytest.raises(ResultFileError, match="--resume"):
        make_writer(tmp_path)
    assert snapshot(tmp_path) == before


def test_resume_on_an_empty_folder_starts_a_new_run(tmp_path):
    """resume=True where nothing exists yet simply creates a fresh run."""
    w = make_writer(tmp_path / "new", resume=True)
    assert w.completed() == set()
    write(w, (0, 0))
    assert list(load(w.finalize()).points) == ["v00_g00"]


# --------------------------------------------------------------------------- resume
def test_completed_lists_finished_points_before_and_after_resume(tmp_path):
    """completed() names exactly the points written, in the writer and in a resumed writer."""
    w = make_writer(tmp_path)
    assert w.completed() == set()
    write(w, (0, 0), (2, 1))
    assert w.completed() == {"v00_g00", "v02_g01"}
    w.completed().add("junk")  # a copy: the writer's own set is not exposed
    assert w.completed() == {"v00_g00", "v02_g01"}
    assert make_writer(tmp_path, resume=True).completed() == {"v00_g00", "v02_g01"}


def test_resume_continues_the_run_and_keeps_earlier_points(tmp_path):
    """Points written before and after a resume are all in the final file, each once, with their data."""
    write(make_writer(tmp_path), *ALL_POINTS[:2])
    w = make_writer(tmp_path, resume=True)
    write(w, *ALL_POINTS[2:])
    r = load(w.finalize())
    assert r.attrs["n_complete"] == 6 and len(groups_in(r.path)) == 6
    for i, j in ALL_POINTS:
        check_point(r.points[point(i, j)[0]], i, j)


@pytest.mark.parametrize("change, message", [
    ({"config": CONFIG.replace("trials: 3", "trials: 4")}, "different config"),
    ({"protocol": "chaos"}, "protocol='grid'"),
    ({"seed": 8}, "seed=7"),
])
def test_resume_of_a_different_run_is_refused_and_touches_nothing(tmp_path, change, message):
    """Resume with another config text, protocol or seed raises ResultFileError; every file keeps bytes and mtime."""
    w = make_writer(tmp_path)
    write(w, (0, 0), (1, 1))
    w.finalize()
    (tmp_path / "points" / "v02_g00.h5.tmp").write_bytes(b"half a point")
    with h5py.File(tmp_path / "results.h5", "a") as f:  # and a half-written group
        f.create_group("v02_g01").attrs["lz_mean"] = 1.0
    before = snapshot(tmp_path)
    time.sleep(0.01)  # so that a rewrite would show in the mtimes
    with pytest.raises(ResultFileError, match="cannot resume") as info:
        make_writer(tmp_path, resume=True, **change)
    assert message in str(info.value)
    assert snapshot(tmp_path) == before


def test_config_mismatch_message_names_the_differing_line_and_section(tmp_path):
    """The refusal for a changed config quotes both lines and the YAML section they are in."""
    write(make_writer(tmp_path), (0, 0))  # a finished point: a changed config must not mix in
    with pytest.raises(ResultFileError) as info:
        make_writer(tmp_path, resume=True, config=CONFIG.replace("trials: 3", "trials: 4"))
    message = str(info.value)
    assert "section 'protocol'" in message
    assert "'trials: 3'" in message and "'trials: 4'" in message
    assert str(tmp_path / "config.yaml") in message


def test_resume_over_another_suites_hdf5_file_is_refused_and_touches_nothing(tmp_path):
    """An HDF5 results.h5 that is not a snnsuite file is never treated as damage, never moved."""
    with h5py.File(tmp_path / "results.h5", "w") as f:
        f["x"] = [1, 2, 3]
    before = snapshot(tmp_path)
    with pytest.raises(ResultFileError, match="not a snnsuite result file"):
        make_writer(tmp_path, resume=True)
    assert {k: v for k, v in snapshot(tmp_path).items()} == before


@pytest.mark.parametrize("main", ["garbage", "missing"])
def test_resume_of_a_different_run_with_a_damaged_main_file_touches_nothing(tmp_path, main):
    """Even with results.h5 damaged or gone, resuming another run's shards is refused and deletes no .tmp."""
    w = make_writer(tmp_path)
    write(w, (0, 0))
    if main == "garbage":
        (tmp_path / "results.h5").write_bytes(b"garbage")
    else:
        (tmp_path / "results.h5").unlink()
    (tmp_path / "points" / "v01_g00.h5.tmp").write_bytes(b"half a point")
    before = snapshot(tmp_path)
    with pytest.raises(ResultFileError, match="cannot resume"):
        make_writer(tmp_path, resume=True, seed=8)
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- kill safety, simulated
def test_half_written_group_is_ignored_by_load_and_dropped_on_resume(tmp_path):
    """(a) Groups without complete=True (or with complete=False) are not loaded, and resume deletes them."""
    w = make_writer(tmp_path)
    write(w, (0, 0))
    with h5py.File(tmp_path / "results.h5", "a") as f:
        half = f.create_group("v01_g00")  # killed before `complete` was set
        half.create_dataset("lz", data=np.arange(3.0))
        half.attrs.update(v_th_std=0.5, g_std=0.1, lz_mean=99.0)
        f.create_group("v02_g00").attrs["complete"] = False
    r = load(tmp_path / "results.h5")
    assert list(r.points) == ["v00_g00"] and r.n_incomplete == 2
    assert np.isnan(r.grid("lz_mean")[1, 0])
    w = make_writer(tmp_path, resume=True)
    assert w.completed() == {"v00_g00"}
    assert groups_in(tmp_path / "results.h5") == ["v00_g00"]
    assert load(w.finalize()).n_incomplete == 0


def test_half_written_group_of_a_point_whose_shard_exists_is_replaced(tmp_path):
    """(a+d) A kill during the append (shard done, group half copied): resume puts the full point back."""
    w = make_writer(tmp_path)
    write(w, (0, 0), (1, 1))
    with h5py.File(tmp_path / "results.h5", "a") as f:
        del f["v01_g01"]
        f.create_group("v01_g01").create_dataset("lz", data=np.zeros(1))
    w = make_writer(tmp_path, resume=True)
    assert w.completed() == {"v00_g00", "v01_g01"}
    r = load(w.finalize())
    check_point(r.points["v01_g01"], 1, 1)
    assert sorted(groups_in(r.path)) == ["v00_g00", "v01_g01"]


def test_leftover_temporary_shard_is_removed_on_resume(tmp_path):
    """(b) points/x.h5.tmp (a write cut short) is deleted on resume and x is not completed, even if it looks whole."""
    w = make_writer(tmp_path)
    write(w, (0, 0), (0, 1))
    shards = tmp_path / "points"
    (shards / "v01_g00.h5.tmp").write_bytes(b"\x89HDF\r\n\x1a\n half a file")
    os.replace(shards / "v00_g01.h5", shards / "v02_g01.h5.tmp")  # complete bytes, never renamed
    with h5py.File(tmp_path / "results.h5", "a") as f:
        del f["v00_g01"]
    w = make_writer(tmp_path, resume=True)
    assert w.completed() == {"v00_g00"}
    assert sorted(p.name for p in shards.iterdir()) == ["v00_g00.h5"]
    assert list(load(w.finalize()).points) == ["v00_g00"]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_main_file_is_rebuilt_from_the_shards_and_kept_aside(tmp_path, damage):
    """(c) results.h5 truncated, overwritten or empty: resume rebuilds it with every shard's point, keeps the damaged bytes."""
    w = make_writer(tmp_path)
    write(w, *ALL_POINTS[:4])
    main = tmp_path / "results.h5"
    good = main.read_bytes()
    broken = {"truncated": good[: len(good) // 2], "garbage": os.urandom(3000), "empty": b""}[damage]
    main.write_bytes(broken)
    w = make_writer(tmp_path, resume=True)
    assert w.completed() == {point(i, j)[0] for i, j in ALL_POINTS[:4]}
    kept = list(tmp_path.glob("results.h5.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == broken
    write(w, *ALL_POINTS[4:])
    r = load(w.finalize())
    assert r.protocol == "grid" and r.config == CONFIG and r.axis_names == tuple(AXES)
    assert sorted(groups_in(r.path)) == sorted(point(i, j)[0] for i, j in ALL_POINTS)
    for i, j in ALL_POINTS:
        check_point(r.points[point(i, j)[0]], i, j)


def test_missing_main_file_is_rebuilt_from_the_shards(tmp_path):
    """(c) results.h5 deleted but points/ intact: resume recreates it with every point (nothing to keep aside)."""
    w = make_writer(tmp_path)
    write(w, *ALL_POINTS[:3])
    (tmp_path / "results.h5").unlink()
    r = load(make_writer(tmp_path, resume=True).finalize())
    assert sorted(r.points) == sorted(point(i, j)[0] for i, j in ALL_POINTS[:3])
    assert list(tmp_path.glob("results.h5.damaged-*")) == []


def test_damaged_main_file_without_shards_is_an_error_and_kept(tmp_path):
    """(c) With nothing to rebuild from, a corrupt results.h5 is an error and stays as it was."""
    make_writer(tmp_path)
    (tmp_path / "results.h5").write_bytes(b"not hdf5 at all")
    before = snapshot(tmp_path)
    with pytest.raises(ResultFileError, match="not a readable HDF5"):
        make_writer(tmp_path, resume=True)
    assert snapshot(tmp_path) == before


def test_two_recoveries_in_the_same_second_keep_both_damaged_files(tmp_path, monkeypatch):
    """(c) A damaged file is never deleted, even when a second rebuild happens within the same second."""
    monkeypatch.setattr(results.time, "time", lambda: 1_700_000_000.0)
    write(make_writer(tmp_path), (0, 0))
    for k in range(2):
        (tmp_path / "results.h5").write_bytes(b"damage %d" % k)
        make_writer(tmp_path, resume=True)
    kept = sorted(p.read_bytes() for p in tmp_path.glob("results.h5.damaged-*"))
    assert kept == [b"damage 0", b"damage 1"]
    assert list(load(tmp_path / "results.h5").points) == ["v00_g00"]


def test_kill_during_an_append_leaving_a_dangling_link_is_rebuilt(tmp_path):
    """(c) A kill can leave results.h5 openable but linking a group never written; resume rebuilds it from points/.

    Forged as a real SIGKILL left it: the superblock's end-of-allocation (offset 40
    in a version-0 superblock) still at the size before the last append.
    """
    w = make_writer(tmp_path)
    write(w, (0, 0))
    size_before = (tmp_path / "results.h5").stat().st_size
    write(w, (1, 1))
    main = bytearray((tmp_path / "results.h5").read_bytes())
    assert main[8] == 0  # superblock version 0: end-of-allocation address at byte 40
    struct.pack_into("<Q", main, 40, size_before)
    (tmp_path / "results.h5").write_bytes(bytes(main))
    r = load(tmp_path / "results.h5")
    assert list(r.points) == ["v00_g00"] and r.n_incomplete == 1  # the cut point is not lost silently
    w = make_writer(tmp_path, resume=True)
    assert w.completed() == {"v00_g00", "v01_g01"}
    kept = list(tmp_path.glob("results.h5.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(main)
    write(w, (2, 1))
    r = load(w.finalize())
    assert r.n_incomplete == 0 and sorted(groups_in(r.path)) == ["v00_g00", "v01_g01", "v02_g01"]
    for i, j in [(0, 0), (1, 1), (2, 1)]:
        check_point(r.points[point(i, j)[0]], i, j)


def test_damaged_group_index_in_a_file_that_opens_is_rebuilt(tmp_path):
    """(c) results.h5 opens but its point index is damaged: load() says so naming the file; resume rebuilds.

    The damage: the signature of the root group's local heap (address at byte 88
    of a version-0 superblock) overwritten, so listing the points fails.
    """
    w = make_writer(tmp_path)
    write(w, *ALL_POINTS[:3])
    main = bytearray((tmp_path / "results.h5").read_bytes())
    heap = struct.unpack_from("<Q", main, 88)[0]
    assert main[heap:heap + 4] == b"HEAP"
    main[heap:heap + 4] = b"XXXX"
    (tmp_path / "results.h5").write_bytes(bytes(main))
    with pytest.raises(ResultFileError) as info:
        load(tmp_path / "results.h5")
    assert str(tmp_path / "results.h5") in str(info.value)
    w = make_writer(tmp_path, resume=True)
    assert w.completed() == {point(i, j)[0] for i, j in ALL_POINTS[:3]}
    kept = list(tmp_path.glob("results.h5.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(main)
    r = load(w.finalize())
    for i, j in ALL_POINTS[:3]:
        check_point(r.points[point(i, j)[0]], i, j)


def test_main_file_lacking_a_shards_point_gets_it_appended_once(tmp_path):
    """(d) A point in points/ but not in results.h5 (kill before the append) is appended; repeated resumes add no duplicates."""
    w = make_writer(tmp_path)
    write(w, *ALL_POINTS[:3])
    with h5py.File(tmp_path / "results.h5", "a") as f:
        del f[point(*ALL_POINTS[1])[0]]
    assert len(load(tmp_path / "results.h5").points) == 2
    for _ in range(3):
        w = make_writer(tmp_path, resume=True)
        assert w.completed() == {point(i, j)[0] for i, j in ALL_POINTS[:3]}
    r = load(w.finalize())
    assert len(groups_in(r.path)) == 3 and r.attrs["n_complete"] == 3
    check_point(r.points[point(*ALL_POINTS[1])[0]], *ALL_POINTS[1])


# --------------------------------------------------------------------------- kill safety, real
CHILD = """
import sys
import numpy as np
sys.path.insert(0, {root!r})
from analysis.results import ResultWriter
w = ResultWriter({out!r}, "chaos", "x: 1\\n", 3, {{}}, resume=True)
start = len(w.completed())
for k in range(start, 100_000):
    data = np.random.default_rng(k).random(50_000)
    w.write_point(f"p{{k:05d}}", {{"k": k, "total": float(data.sum())}}, {{"data": data}})
    print(k, flush=True)
"""


def run_and_kill(out: Path, n_reported: int, delay_s: float) -> list:
    """Start a writer in a child process, SIGKILL it after it reported n points (plus delay_s)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT), out=str(out))],
                             stdout=subprocess.PIPE, text=True)
    reported = []
    try:
        deadline = time.monotonic() + 30
        while len(reported) < n_reported and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            reported.append(int(line))
        time.sleep(delay_s)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    reported += [int(line) for line in child.stdout.read().split()]  # printed before the kill
    child.stdout.close()
    assert len(reported) >= n_reported, "the child did not write points"
    return reported


def test_sigkilled_writer_loses_no_reported_point_and_leaves_none_half_present(tmp_path):
    """A writer SIGKILLed twice mid-run: after resume every reported point is there once with its exact data."""
    out = tmp_path / "run"
    reported = run_and_kill(out, 6, 0.0)
    reported += run_and_kill(out, 4, 0.013)  # the second child resumes, then is killed too
    w = ResultWriter(out, "chaos", "x: 1\n", 3, {}, resume=True)
    done = w.completed()
    assert {f"p{k:05d}" for k in reported} <= done
    # points are written in order, so what is done is a prefix: nothing skipped, nothing extra
    assert done == {f"p{k:05d}" for k in range(len(done))}
    assert not list((out / "points").glob("*.tmp"))
    r = load(w.finalize())
    assert r.n_incomplete == 0
    assert sorted(groups_in(r.path)) == sorted(done) == sorted(r.points)
    for name, p in r.points.items():
        k = p.attrs["k"]
        assert name == f"p{k:05d}"
        expected = np.random.default_rng(k).random(50_000)
        np.testing.assert_array_equal(p.data["data"], expected)
        assert p.attrs["total"] == float(expected.sum())


# --------------------------------------------------------------------------- load errors
def _write_foreign(path):
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)


def _write_other_suite(path):
    with h5py.File(path, "w") as f:
        f.attrs.update(schema_version=1, suite="othersuite", protocol="grid")


def _write_newer(path):
    with h5py.File(path, "w") as f:
        f.attrs.update(schema_version=results.SCHEMA_VERSION + 1, suite="snnsuite",
                       protocol="grid")


@pytest.mark.parametrize("make, message", [
    (None, "result file not found"),
    (lambda p: p.write_text("time,lz\n0,1\n"), "not a readable HDF5"),
    (lambda p: p.write_bytes(b""), "not a readable HDF5"),
    (lambda p: p.mkdir(), "not a readable HDF5"),
    (_write_foreign, "not a snnsuite result file"),
    (_write_other_suite, "not a snnsuite result file"),
    (_write_newer, "schema_version 2 is newer"),
], ids=["missing", "text", "empty", "directory", "foreign", "other-suite", "newer-schema"])
def test_load_errors_are_result_file_errors_naming_the_path(tmp_path, make, message):
    """Missing, non-HDF5, foreign and newer-schema files raise ResultFileError whose message contains the path."""
    path = tmp_path / "sub" / "results.h5"
    path.parent.mkdir()
    if make is not None:
        make(path)
    with pytest.raises(ResultFileError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)  # callers catching ValueError still work


def test_a_run_without_a_finished_point_is_replaced_not_refused(tmp_path):
    """results.h5 of a run that failed before its first point blocks neither a new run
    (another config, no --resume) nor a resume; one with a point does."""
    make_writer(tmp_path)
    w = make_writer(tmp_path, config=CONFIG.replace("trials: 3", "trials: 4"))
    assert w.completed() == set()
    assert "trials: 4" in load(tmp_path / "results.h5").config
    write(w, (0, 0))
    with pytest.raises(ResultFileError, match="already holds a run"):
        make_writer(tmp_path)
