"""analysis.results: damaged result files that still open, and their repair from points/.

Each test damages a copy of one small finished grid run (flipped bytes, a deleted
attribute or dataset, a changed value, a garbled root attribute; in results.h5 or
in a file of points/) and checks the three readers:

* ``load(path)`` returns correct data or raises ResultFileError (nothing else);
* ``load_or_rebuild(path)`` returns every point correct, or raises ResultFileError
  with nothing changed;
* ``ResultWriter(..., resume=True)`` leaves a results.h5 and a points/ whose every
  point equals what was written, keeps the damaged bytes aside, deletes nothing.

Nothing here imports brian2 or torch.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis import results
from analysis.results import (DamagedFileError, ResultFileError, ResultWriter, load,
                              load_or_rebuild)

AXES = {"v": [0.0, 0.5, 1.0], "g": [0.1, 0.2]}
CONFIG = "grid:\n  v: [0.0, 0.5, 1.0]\n  g: [0.1, 0.2]\n"
GRID = [(i, j) for i in range(3) for j in range(2)]
NAMES = [f"v{i}_g{j}" for i, j in GRID]
DAMAGED_POINT = "v1_g1"  # the point whose group or file a test damages


# --------------------------------------------------------------------------- helpers
def make_writer(out, resume=False):
    return ResultWriter(out, "grid", CONFIG, 7, {"numpy": np.__version__}, axes=AXES,
                        resume=resume)


def point(i, j):
    """Name, attrs and datasets of grid point (i, j): every value derived from (i, j), with NaNs."""
    attrs = {"v": AXES["v"][i], "g": AXES["g"][j], "score": 10.0 * i + j, "n_trials": 3 + i,
             "label": f"point {i},{j}", "saturated": bool(i % 2),
             "spread": float("nan") if j else 0.5}
    data = {"lz": np.array([0.1 * i, np.nan, j], dtype=np.float32),
            "counts": (np.arange(6, dtype=np.int16) + j).reshape(2, 3),
            "mask": np.array([True, bool(j)]),
            "big": (np.arange(5000) % 251).astype(np.uint8) + np.uint8(i)}  # gzip-compressed
    return f"v{i}_g{j}", attrs, data


EXPECTED = {name: (attrs, data) for name, attrs, data in (point(i, j) for i, j in GRID)}


def is_correct(p) -> bool:
    """p equals what was written: attrs (types too, NaN equal to NaN), dataset dtypes, shapes, values."""
    attrs, data = EXPECTED[p.name]
    try:
        assert sorted(p.attrs) == sorted(attrs) and sorted(p.data) == sorted(data)
        assert {k: type(v) for k, v in p.attrs.items()} == {k: type(v) for k, v in attrs.items()}
        np.testing.assert_equal(p.attrs, attrs)
        for key, expected in data.items():
            assert p.data[key].dtype == expected.dtype and p.data[key].shape == expected.shape
            np.testing.assert_array_equal(p.data[key], expected)
    except AssertionError:
        return False
    return True


def assert_whole(out: Path, names=NAMES):
    """results.h5 and points/ both hold exactly `names`, every point as written."""
    r = load(out / "results.h5")
    assert sorted(r.points) == sorted(names) and r.n_incomplete == 0
    assert all(is_correct(p) for p in r.points.values())
    for name in names:
        assert is_correct(load(out / "points" / f"{name}.h5").point)
    assert sorted(p.stem for p in (out / "points").glob("*.h5")) == sorted(names)


def contents(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def assert_kept(before: dict, out: Path, damaged: str):
    """The damaged file's bytes are still there (in place or aside); every other shard is untouched.

    results.h5, when intact, may have been appended to.
    """
    after = contents(out)
    assert before[damaged] in (after.get(damaged), *(v for k, v in after.items()
                                                     if k.startswith(damaged + ".damaged-")))
    for name, data in before.items():
        if name not in (damaged, "results.h5") and not name.endswith(".tmp"):
            assert after[name] == data, f"{name} changed"


def asides(out: Path) -> list:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.damaged-*"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A finished six-point grid run; tests damage copies of it."""
    out = tmp_path_factory.mktemp("pristine") / "run"
    w = make_writer(out)
    for i, j in GRID:
        w.write_point(*point(i, j))
    w.finalize()
    return out


@pytest.fixture
def run(pristine, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(pristine, out)
    return out


def copies(out: Path, n: int) -> list:
    """n more copies of the folder (one per reader, since readers repair)."""
    extra = []
    for k in range(n):
        shutil.copytree(out, out.with_name(f"copy{k}"))
        extra.append(out.with_name(f"copy{k}"))
    return extra


# --------------------------------------------------------------------------- the damage
def flip(path: Path, seed: int, region: str) -> None:
    """Flip 1 to 16 random bits in the first 2 KiB, the middle third, or the last 2 KiB
    before the file's trailing zeros (unused node space, where a flip changes nothing)."""
    data = bytearray(path.read_bytes())
    end = len(bytes(data).rstrip(b"\0"))
    lo, hi = {"header": (0, 2048), "middle": (len(data) // 3, 2 * len(data) // 3),
              "end": (end - 2048, end)}[region]
    rng = np.random.default_rng(seed)
    for _ in range(int(rng.integers(1, 17))):
        data[int(rng.integers(lo, hi))] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(data))


def delete_attr(key):
    def damage(f, name):
        del f[name].attrs[key]
    return damage


def delete_dataset(key):
    def damage(f, name):
        del f[name][key]
    return damage


def set_value(key, value):
    def damage(f, name):
        f[name][key][...] = value
    return damage


def set_attr(key, value):
    def damage(f, name):
        f[name].attrs[key] = value
    return damage


def recast(key, dtype):
    def damage(f, name):
        values = f[name][key][()]
        del f[name][key]
        f[name][key] = values.astype(dtype)
    return damage


def reshape(key):
    def damage(f, name):
        values = f[name][key][()]
        del f[name][key]
        f[name][key] = values.reshape(-1)
    return damage


POINT_DAMAGE = {
    "attr score deleted": delete_attr("score"),
    "axis attr g deleted": delete_attr("g"),
    "checksum deleted": delete_attr("checksum"),
    "attr score changed": set_attr("score", 99.0),
    "attr spread NaN -> 0": set_attr("spread", 0.0),
    "attr n_trials int -> float": set_attr("n_trials", 4.0),
    "dataset lz deleted": delete_dataset("lz"),
    "dataset counts changed": set_value("counts", 0),
    "dataset lz NaN -> 0": set_value("lz", 0.0),
    "dataset counts int16 -> int64": recast("counts", np.int64),
    "dataset counts reshaped": reshape("counts"),
    "dataset added": lambda f, name: f[name].create_dataset("extra", data=[1]),
}


def root_attr(key, value=None):
    def damage(f):
        if value is None:
            del f.attrs[key]
        else:
            f.attrs[key] = value
    return damage


def axis_value(f):
    f["axes/g"][1] = 0.25


ROOT_DAMAGE = {
    "config deleted": root_attr("config"),
    "config changed": root_attr("config", CONFIG.replace("0.2]", "0.3]")),
    "seed deleted": root_attr("seed"),
    "seed changed": root_attr("seed", 8),
    "seed garbled to text": root_attr("seed", "seven"),
    "protocol deleted": root_attr("protocol"),
    "versions not JSON": root_attr("versions", "{numpy"),
    "axis_names garbled": root_attr("axis_names", '["v", "x"]'),
    "created deleted": root_attr("created"),
    "config not UTF-8": root_attr("config", np.bytes_(b"grid: \xff\xfe")),
    "axis value changed": axis_value,
}


def damage_point(path: Path, how) -> None:
    with h5py.File(path, "a") as f:
        how(f, DAMAGED_POINT)


def damage_root(path: Path, how) -> None:
    with h5py.File(path, "a") as f:
        how(f)


# --------------------------------------------------------------------------- checks
def check_load(path: Path, n_points: int):
    """load() gives correct points, every one accounted for, or raises ResultFileError."""
    try:
        r = load(path)
    except ResultFileError:
        return
    assert all(is_correct(p) for p in r.points.values())
    assert len(r.points) + r.n_incomplete == n_points  # a point left out is counted


def check_load_or_rebuild(out: Path, damaged: str):
    """load_or_rebuild() gives all six points correct, or refuses and changes nothing."""
    before = contents(out)
    try:
        r = load_or_rebuild(out / "results.h5")
    except ResultFileError as exc:
        assert "--resume" in str(exc)
        assert contents(out) == before
        return
    assert sorted(r.points) == NAMES and all(is_correct(p) for p in r.points.values())
    assert_whole(out)
    assert_kept(before, out, damaged)


def check_resume(out: Path, damaged: str, may_lose=()):
    """A resumed writer completes every point (but those in may_lose), keeping every damaged byte."""
    before = contents(out)
    w = make_writer(out, resume=True)
    assert_kept(before, out, damaged)
    done = w.completed()
    assert set(NAMES) - set(may_lose) <= done <= set(NAMES)
    w.finalize()
    assert_whole(out, sorted(done))
    return done


# --------------------------------------------------------------------------- main file
@pytest.mark.parametrize("region", ["header", "middle", "end"])
@pytest.mark.parametrize("seed", range(4))
def test_flipped_bits_in_the_main_file_are_found_and_repaired(run, seed, region):
    """Random bit flips in results.h5: load is right or raises ResultFileError; resume restores every point."""
    flip(run / "results.h5", seed, region)
    lor, resume = copies(run, 2)
    check_load(run / "results.h5", 6)
    check_load_or_rebuild(lor, "results.h5")
    check_resume(resume, "results.h5")


@pytest.mark.parametrize("how", POINT_DAMAGE.values(), ids=POINT_DAMAGE.keys())
def test_a_damaged_point_in_the_main_file_is_refused_and_rebuilt_from_its_shard(run, how):
    """A point deleted, changed, recast or extended in results.h5: load names it; both repairs restore it."""
    damage_point(run / "results.h5", how)
    damaged = (run / "results.h5").read_bytes()
    with pytest.raises(DamagedFileError, match=f"'{DAMAGED_POINT}'"):
        load(run / "results.h5")
    lor, resume = copies(run, 2)
    r = load_or_rebuild(lor / "results.h5")
    assert sorted(r.points) == NAMES and all(is_correct(p) for p in r.points.values())
    assert [(lor / a).read_bytes() for a in asides(lor)] == [damaged]
    check_resume(resume, "results.h5")
    assert [(resume / a).read_bytes() for a in asides(resume)] == [damaged]


@pytest.mark.parametrize("how", ROOT_DAMAGE.values(), ids=ROOT_DAMAGE.keys())
def test_a_damaged_root_attribute_of_the_main_file_is_refused_and_rebuilt(run, how):
    """config, seed, protocol, versions, axes removed or garbled in results.h5: damage, not another run."""
    damage_root(run / "results.h5", how)
    with pytest.raises(DamagedFileError):
        load(run / "results.h5")
    lor, resume = copies(run, 2)
    check_load_or_rebuild(lor, "results.h5")
    assert len(asides(lor)) == 1
    check_resume(resume, "results.h5")
    assert len(asides(resume)) == 1


def test_a_half_written_flag_on_a_complete_point_is_rebuilt_not_dropped(run):
    """complete=False on a whole point (never written so): load leaves it out; resume keeps the file aside."""
    with h5py.File(run / "results.h5", "a") as f:
        f[DAMAGED_POINT].attrs["complete"] = False
    r = load(run / "results.h5")
    assert DAMAGED_POINT not in r.points and r.n_incomplete == 1
    check_resume(run, "results.h5")
    assert len(asides(run)) == 1


def test_load_or_rebuild_of_an_intact_run_changes_nothing(run):
    """An intact, consistent run: load_or_rebuild returns it and writes nothing."""
    before = contents(run)
    r = load_or_rebuild(run / "results.h5")
    assert sorted(r.points) == NAMES and all(is_correct(p) for p in r.points.values())
    assert contents(run) == before


def test_load_or_rebuild_appends_points_the_main_file_lacks(run):
    """A kill between the shard and the append: load_or_rebuild appends the point from points/."""
    with h5py.File(run / "results.h5", "a") as f:
        del f[DAMAGED_POINT]
    assert sorted(load_or_rebuild(run / "results.h5").points) == NAMES
    assert_whole(run)
    assert asides(run) == []


def test_unreadable_main_file_is_rebuilt_by_load_or_rebuild(run):
    """results.h5 truncated: load_or_rebuild rebuilds it from points/ and keeps the truncated bytes."""
    data = (run / "results.h5").read_bytes()[:3000]
    (run / "results.h5").write_bytes(data)
    assert sorted(load_or_rebuild(run / "results.h5").points) == NAMES
    assert [(run / a).read_bytes() for a in asides(run)] == [data]
    assert_whole(run)


def test_load_or_rebuild_without_points_folder_is_load(run):
    """No points/ beside the file (after discard_shards): load_or_rebuild is load, damage included."""
    shutil.rmtree(run / "points")
    assert sorted(load_or_rebuild(run / "results.h5").points) == NAMES
    damage_point(run / "results.h5", set_value("lz", 0.0))
    before = contents(run)
    with pytest.raises(DamagedFileError, match=f"'{DAMAGED_POINT}'"):
        load_or_rebuild(run / "results.h5")
    assert contents(run) == before


def test_main_only_points_that_read_cleanly_are_accepted(run):
    """Points in results.h5 without a shard are kept as they are; no rebuild, nothing aside."""
    for name in NAMES[:3]:
        (run / "points" / f"{name}.h5").unlink()
    before = (run / "results.h5").read_bytes()
    assert sorted(load_or_rebuild(run / "results.h5").points) == NAMES
    w = make_writer(run, resume=True)
    assert w.completed() == set(NAMES)
    assert (run / "results.h5").read_bytes() == before and asides(run) == []


def test_a_damaged_point_without_any_intact_copy_is_recomputed(run):
    """Damaged in results.h5 and no shard: load_or_rebuild refuses naming --resume; resume drops it."""
    (run / "points" / f"{DAMAGED_POINT}.h5").unlink()
    damage_point(run / "results.h5", set_value("counts", 0))
    before = contents(run)
    with pytest.raises(DamagedFileError) as info:
        load_or_rebuild(run / "results.h5")
    message = str(info.value)
    assert f"'{DAMAGED_POINT}'" in message and "--resume" in message and str(run) in message
    assert contents(run) == before
    w = make_writer(run, resume=True)
    assert w.completed() == set(NAMES) - {DAMAGED_POINT}  # to be computed again
    w.write_point(*point(1, 1))
    w.finalize()
    assert_whole(run)
    assert [(run / a).read_bytes() for a in asides(run)] == [before["results.h5"]]


def test_a_shard_differing_from_a_checksummed_main_point_wins_as_the_newer_write(run, tmp_path):
    """Both copies intact but different (a kill after a rewritten shard, before its append): the shard wins."""
    other = tmp_path / "other"
    w = make_writer(other)
    name, attrs, data = point(1, 1)
    w.write_point(name, {**attrs, "score": -1.0}, data)
    shutil.copy(other / "points" / f"{name}.h5", run / "points" / f"{name}.h5")
    w = make_writer(run, resume=True)
    r = load(w.finalize())
    assert r.points[name].attrs["score"] == -1.0
    assert load(run / "points" / f"{name}.h5").point.attrs["score"] == -1.0
    assert len(asides(run)) == 1


# --------------------------------------------------------------------------- shards
@pytest.mark.parametrize("region", ["header", "middle", "end"])
@pytest.mark.parametrize("seed", range(4))
def test_flipped_bits_in_a_shard_are_found_and_repaired_from_the_main_file(run, seed, region):
    """Random bit flips in points/x.h5: load is right or raises; resume rewrites it from results.h5."""
    shard = run / "points" / f"{DAMAGED_POINT}.h5"
    flip(shard, seed, region)
    lor, resume = copies(run, 2)
    check_load(shard, 1)
    check_load_or_rebuild(lor, f"points/{DAMAGED_POINT}.h5")
    check_resume(resume, f"points/{DAMAGED_POINT}.h5")


@pytest.mark.parametrize("how", POINT_DAMAGE.values(), ids=POINT_DAMAGE.keys())
def test_a_damaged_point_in_a_shard_is_set_aside_and_rewritten(run, how):
    """A shard's point deleted, changed, recast or extended: moved aside, rewritten from results.h5."""
    shard = run / "points" / f"{DAMAGED_POINT}.h5"
    damage_point(shard, how)
    damaged = shard.read_bytes()
    with pytest.raises(DamagedFileError, match=f"'{DAMAGED_POINT}'"):
        load(shard)
    lor, resume = copies(run, 2)
    check_load_or_rebuild(lor, f"points/{DAMAGED_POINT}.h5")
    check_resume(resume, f"points/{DAMAGED_POINT}.h5")
    for out in (lor, resume):
        assert [(out / a).read_bytes() for a in asides(out)] == [damaged]
        assert asides(out)[0].startswith(f"points/{DAMAGED_POINT}.h5.damaged-")


SHARD_ROOT_DAMAGE = {k: v for k, v in ROOT_DAMAGE.items() if k != "created deleted"}  # none


@pytest.mark.parametrize("how", SHARD_ROOT_DAMAGE.values(), ids=SHARD_ROOT_DAMAGE.keys())
def test_a_damaged_root_attribute_of_a_shard_is_set_aside_and_rewritten(run, how):
    """A shard's config, seed, versions or axes garbled: damage (not another run); rewritten from results.h5."""
    shard = run / "points" / f"{DAMAGED_POINT}.h5"
    damage_root(shard, how)
    with pytest.raises(DamagedFileError):
        load(shard)
    lor, resume = copies(run, 2)
    check_load_or_rebuild(lor, f"points/{DAMAGED_POINT}.h5")
    check_resume(resume, f"points/{DAMAGED_POINT}.h5")
    for out in (lor, resume):
        assert len(asides(out)) == 1


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign"])
def test_an_unreadable_shard_is_set_aside_and_rewritten(run, damage):
    """A shard truncated, overwritten or replaced by another HDF5 file: aside, rewritten from results.h5."""
    shard = run / "points" / f"{DAMAGED_POINT}.h5"
    if damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:1000])
    elif damage == "garbage":
        shard.write_bytes(os.urandom(2000))
    else:
        with h5py.File(shard, "w") as f:
            f["x"] = [1, 2, 3]
    check_resume(run, f"points/{DAMAGED_POINT}.h5")
    assert len(asides(run)) == 1


def test_a_damaged_shard_of_a_point_the_main_file_lacks_is_recomputed(run):
    """Shard damaged, point never appended: load_or_rebuild refuses (nothing changed); resume recomputes it."""
    shard = run / "points" / f"{DAMAGED_POINT}.h5"
    with h5py.File(run / "results.h5", "a") as f:
        del f[DAMAGED_POINT]
    damage_point(shard, set_value("counts", 0))
    damaged = shard.read_bytes()
    before = contents(run)
    with pytest.raises(ResultFileError, match="--resume"):
        load_or_rebuild(run / "results.h5")
    assert contents(run) == before
    done = check_resume(run, f"points/{DAMAGED_POINT}.h5", may_lose=[DAMAGED_POINT])
    assert done == set(NAMES) - {DAMAGED_POINT}
    assert [(run / a).read_bytes() for a in asides(run)] == [damaged]


def test_point_damaged_in_both_copies_is_recomputed_and_both_are_kept(run):
    """The same point damaged in results.h5 and in points/: resume computes it again, both files kept aside."""
    damage_point(run / "results.h5", set_value("lz", 0.0))
    damage_point(run / "points" / f"{DAMAGED_POINT}.h5", delete_attr("score"))
    before = contents(run)
    with pytest.raises(DamagedFileError, match="--resume"):
        load_or_rebuild(run / "results.h5")
    assert contents(run) == before
    w = make_writer(run, resume=True)
    assert w.completed() == set(NAMES) - {DAMAGED_POINT}
    assert len(asides(run)) == 2
    w.write_point(*point(1, 1))
    w.finalize()
    assert_whole(run)
    kept = sorted((run / a).read_bytes() for a in asides(run))
    assert kept == sorted([before["results.h5"], before[f"points/{DAMAGED_POINT}.h5"]])


def test_shards_of_another_run_are_still_refused(run, tmp_path):
    """An intact shard with another seed is another run's, not damage: resume refuses and touches nothing."""
    other = tmp_path / "other"
    w = ResultWriter(other, "grid", CONFIG, 8, {}, axes=AXES)
    w.write_point(*point(1, 1))
    shutil.copy(other / "points" / f"{DAMAGED_POINT}.h5", run / "points" / f"{DAMAGED_POINT}.h5")
    before = contents(run)
    with pytest.raises(ResultFileError, match="cannot resume.*seed=8"):
        make_writer(run, resume=True)
    assert contents(run) == before


# --------------------------------------------------------------------------- axes
def test_a_point_lacking_an_axis_attribute_is_damage_naming_the_point(run):
    """Even in a file without checksums, a point lacking an axis value raises DamagedFileError, never KeyError."""
    strip_checksums(run / "results.h5")
    with h5py.File(run / "results.h5", "a") as f:
        del f[DAMAGED_POINT].attrs["v"]
    with pytest.raises(DamagedFileError, match=f"'{DAMAGED_POINT}': lacks the axis attribute 'v'"):
        load(run / "results.h5")


def test_grid_never_raises_key_error_for_a_point_without_an_axis_value(run):
    """A Result holding such a point (not from load) makes .grid raise ResultFileError naming it."""
    r = load(run / "results.h5")
    del r.points[DAMAGED_POINT].attrs["g"]
    with pytest.raises(ResultFileError, match=f"'{DAMAGED_POINT}': lacks the axis attribute 'g'"):
        r.grid("score")


def test_write_point_refuses_attrs_without_the_axis_values(tmp_path):
    """write_point raises ValueError when attrs lack an axis or give a value off the axis; nothing written."""
    w = make_writer(tmp_path)
    name, attrs, data = point(0, 0)
    with pytest.raises(ValueError, match="lacks the axis attribute 'g'"):
        w.write_point(name, {k: v for k, v in attrs.items() if k != "g"}, data)
    with pytest.raises(ValueError, match="not on the grid axis"):
        w.write_point(name, {**attrs, "v": 0.7}, data)
    assert w.completed() == set() and list((tmp_path / "points").iterdir()) == []


# --------------------------------------------------------------------------- compatibility
def strip_checksums(path: Path) -> None:
    """Make a file as written before checksums existed."""
    with h5py.File(path, "a") as f:
        for group in (f, *(f[k] for k in f if k != "axes")):
            for key in ("checksum", "shard_sha256"):
                if key in group.attrs:
                    del group.attrs[key]


def test_files_written_before_checksums_load_and_resume(run):
    """A run without checksums loads, and resumes by appending without a rebuild."""
    strip_checksums(run / "results.h5")
    for shard in (run / "points").glob("*.h5"):
        strip_checksums(shard)
    with h5py.File(run / "results.h5", "a") as f:
        del f[DAMAGED_POINT]
    assert sorted(load(run / "results.h5").points) == sorted(set(NAMES) - {DAMAGED_POINT})
    w = make_writer(run, resume=True)
    assert w.completed() == set(NAMES)
    w.finalize()
    assert_whole(run)
    assert asides(run) == []
    assert make_writer(run, resume=True).completed() == set(NAMES)


def test_a_legacy_shard_differing_from_a_legacy_main_point_wins(run):
    """Without checksums, the shard is the reference: a changed value in results.h5 is rebuilt from it."""
    strip_checksums(run / "results.h5")
    for shard in (run / "points").glob("*.h5"):
        strip_checksums(shard)
    damage_point(run / "results.h5", set_value("counts", 0))
    assert sorted(load_or_rebuild(run / "results.h5").points) == NAMES
    assert_whole(run)
    assert len(asides(run)) == 1


# --------------------------------------------------------------------------- locks, errors, speed
@pytest.mark.skipif(os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() == "FALSE",
                    reason="HDF5 file locking is switched off")
def test_a_main_file_open_in_another_process_is_not_damage(run):
    """results.h5 held open for writing elsewhere: load and resume raise ResultFileError and move nothing."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, h5py; f = h5py.File(sys.argv[1], 'a'); "
                               "print('open', flush=True); sys.stdin.read()",
         str(run / "results.h5")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        before = contents(run)
        for read in (load, load_or_rebuild, lambda p: make_writer(p.parent, resume=True)):
            with pytest.raises(ResultFileError, match="another process") as info:
                read(run / "results.h5")
            assert not isinstance(info.value, DamagedFileError)
        assert contents(run) == before
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_damaged_file_error_is_a_result_file_error():
    """Callers catching ResultFileError (or ValueError) also catch damage."""
    assert issubclass(DamagedFileError, ResultFileError) and issubclass(DamagedFileError, ValueError)


def test_resume_of_an_intact_run_reads_no_shard(run, monkeypatch):
    """Shards byte for byte as recorded in results.h5 are not opened: a resume reads one file.

    That keeps a 400-point resume under a second (it reads and checks results.h5 alone).
    """
    read = []
    original = results._read_contents
    monkeypatch.setattr(results, "_read_contents", lambda path: read.append(path) or original(path))
    assert make_writer(run, resume=True).completed() == set(NAMES)
    assert read == [run / "results.h5"]
    flip(run / "points" / "v0_g0.h5", 0, "middle")  # any changed byte: that shard is read
    read.clear()
    make_writer(run, resume=True)
    assert sorted(read) == [run / "points" / "v0_g0.h5", run / "results.h5"]


# ----------------------------------------------------------------------------- command line
def test_report_and_resume_repair_a_damaged_grid_file_that_still_opens(tmp_path, monkeypatch,
                                                                       capsys):
    """The issue's case: a point missing an attribute, then flipped bytes in results.h5;
    `snnsuite report` and `--resume` rebuild from points/ instead of failing."""
    import shutil as _shutil

    from protocols import cli

    root = Path(__file__).resolve().parent.parent
    _shutil.copytree(root / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    grid = ["configs/heterogeneity_grid_quick.yaml", "--out", "X", "--jobs", "1",
            "--set", "network.n_neurons=30", "--set", "protocol.n_perturbations=2",
            "--set", "protocol.observation=40 ms", "--set", "protocol.fano_window=20 ms",
            "--set", "grid.v_th_std=[0.2 mV]", "--set", "grid.g_std=[0.1, 0.3]"]
    assert cli.main(["run", *grid]) == 0
    path = tmp_path / "X" / "results.h5"
    expected = {n: p.attrs for n, p in load(path).points.items()}
    with h5py.File(path, "a") as f:
        del f["v000_g001"].attrs["lz_mean"]
    capsys.readouterr()
    assert cli.main(["report", str(path)]) == 0, capsys.readouterr().err
    assert {n: p.attrs for n, p in load(path).points.items()} == expected
    assert list((tmp_path / "X").glob("results.h5.damaged-*"))
    data = bytearray(path.read_bytes())
    for k in range(len(data) // 3, len(data) // 3 + 64):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    assert cli.main(["run", *grid, "--resume"]) == 0, capsys.readouterr().err
    assert {n: p.attrs for n, p in load(path).points.items()} == expected
