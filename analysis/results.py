"""Self-describing HDF5 result files: one writer for every protocol, one loader.

Layout of ``results.h5``::

    /                       attrs: schema_version, suite, protocol, config (YAML text),
                                   created (UTC ISO), versions (JSON), seed, axis_names (JSON)
    /axes/<name>            parameter values of a grid axis (grid files only)
    /<point>/               one group per parameter point (``p0000``, ``v03_g11``, ...)
        attrs               scalar summaries (lz_mean, hamming_mean, ...) and, set last,
                            ``complete = True``
        <dataset>           per-trial arrays (lz, hamming_slope, perturbed_neurons, ...)

A point is written completely or not at all.  Each finished point is first
written to its own small file ``points/<point>.h5`` (written under a temporary
name, then renamed, which is atomic), and only then appended to ``results.h5``
with ``complete`` set last.  A run killed at any instant therefore leaves every
finished point in ``points/``; ``ResultWriter(..., resume=True)`` drops
half-written groups, re-appends what ``results.h5`` lacks, and rebuilds
``results.h5`` from ``points/`` if the kill corrupted it (the damaged file is
kept beside it, never deleted).

Plain ``h5py`` reads the file; :func:`load` reads it into numpy arrays:

>>> import tempfile, numpy as np
>>> out = tempfile.mkdtemp()
>>> w = ResultWriter(out, "demo", "seed: 1\\n", seed=1, versions={"numpy": np.__version__},
...                  axes={"a": [0.1, 0.2], "b": [1.0, 2.0, 3.0]})
>>> w.write_point("p0", {"a": 0.2, "b": 3.0, "score": 5.0}, {"trials": np.arange(3)})
>>> r = load(w.finalize())
>>> r.protocol, r.seed, r.axis_names
('demo', 1, ('a', 'b'))
>>> r.grid("score")
array([[nan, nan, nan],
       [nan, nan,  5.]])
>>> r.points["p0"].data["trials"]
array([0, 1, 2])
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

SCHEMA_VERSION = 1
SUITE = "snnsuite"
RESULTS_NAME = "results.h5"
SHARDS_NAME = "points"
_HEADER_KEYS = ("schema_version", "suite", "protocol", "config", "seed", "axis_names")


class ResultFileError(ValueError):
    """A result file that is missing, corrupt, foreign or does not match the run."""


class Point(NamedTuple):
    """One parameter point: its scalar ``attrs`` and its ``data`` arrays."""

    name: str
    attrs: dict
    data: dict


class Result:
    """A result file read into memory (see :func:`load`)."""

    def __init__(self, path: Path, attrs: dict, axes: dict, points: dict, n_incomplete: int):
        self.path = path
        self.attrs = attrs
        self.axis_names = tuple(axes)
        self.axes = tuple(axes[name] for name in self.axis_names)
        self.points = points
        self.n_incomplete = n_incomplete

    protocol = property(lambda self: self.attrs["protocol"])
    seed = property(lambda self: self.attrs["seed"])
    config = property(lambda self: self.attrs["config"])
    versions = property(lambda self: self.attrs["versions"])
    created = property(lambda self: self.attrs.get("created"))

    @property
    def point(self) -> Point:
        """The single point of a one-point result (a chaos run)."""
        if len(self.points) != 1:
            raise ResultFileError(f"{self.path}: holds {len(self.points)} complete points, "
                                  "not exactly one; use .points or .grid(name)")
        return next(iter(self.points.values()))

    def grid(self, name: str) -> np.ndarray:
        """Per-point summary ``name`` as an array over the axes (NaN where not computed).

        Shape ``[len(axes[0]), len(axes[1]), ...]``; for the heterogeneity grid
        that is ``[n_v_th_std, n_g_std]``.
        """
        if not self.axis_names:
            raise ResultFileError(f"{self.path}: protocol {self.protocol!r} has no grid axes")
        known = sorted({k for p in self.points.values() for k in p.attrs})
        if self.points and name not in known:
            raise KeyError(f"no per-point summary {name!r} in {self.path}; known: {', '.join(known)}")
        values = np.full(tuple(len(a) for a in self.axes), np.nan)
        for point in self.points.values():
            index = tuple(_axis_index(axis, point.attrs[axis_name], axis_name, point.name)
                          for axis_name, axis in zip(self.axis_names, self.axes))
            values[index] = point.attrs.get(name, np.nan)   # a point without it: NaN
        return values

    def __repr__(self) -> str:
        shape = " x ".join(f"{n}[{len(a)}]" for n, a in zip(self.axis_names, self.axes))
        return (f"<Result {self.protocol!r} seed={self.seed} points={len(self.points)}"
                f"{' grid ' + shape if shape else ''} from {self.path}>")


def _config_difference(old: str, new: str) -> str:
    """The first line where two config texts differ, with its section."""
    section = ""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for k in range(max(len(old_lines), len(new_lines))):
        a = old_lines[k] if k < len(old_lines) else "<end>"
        b = new_lines[k] if k < len(new_lines) else "<end>"
        if a != b:
            where = f"in section {section!r}: " if section else ""
            return f"{where}the file has {a.strip()!r}, this run {b.strip()!r}"
        if a and not a[0].isspace():
            section = a.rstrip(":")
    return "no line differs"


def _axis_index(axis: np.ndarray, value: float, axis_name: str, point: str) -> int:
    hits = np.flatnonzero(np.isclose(axis, value, rtol=1e-9, atol=1e-12))
    if len(hits) != 1:
        raise ResultFileError(f"point {point!r}: {axis_name}={value!r} is not on the grid axis "
                              f"{axis.tolist()}")
    return int(hits[0])


# --------------------------------------------------------------------------- reading
def _decode(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _open(path: Path, mode: str = "r") -> h5py.File:
    """Open an HDF5 file, turning h5py's errors into one clear message."""
    try:
        return h5py.File(path, mode)
    except FileNotFoundError:
        raise ResultFileError(f"{path}: result file not found") from None
    except OSError as exc:
        raise ResultFileError(f"{path}: not a readable HDF5 file (corrupt, truncated or another "
                              f"format): {exc}") from None


def _header(f: h5py.File, path: Path) -> dict:
    attrs = {k: _decode(v) for k, v in f.attrs.items()}
    if "schema_version" not in attrs or attrs.get("suite") != SUITE or "protocol" not in attrs:
        raise ResultFileError(f"{path}: an HDF5 file, but not a {SUITE} result file (it lacks "
                              f"the root attributes schema_version, suite={SUITE!r}, protocol)")
    if attrs["schema_version"] > SCHEMA_VERSION:
        raise ResultFileError(f"{path}: schema_version {attrs['schema_version']} is newer than "
                              f"this version reads ({SCHEMA_VERSION}); upgrade {SUITE}")
    for key in ("versions", "axis_names"):
        if isinstance(attrs.get(key), str):
            attrs[key] = json.loads(attrs[key])
    attrs["axis_names"] = tuple(attrs.get("axis_names", ()))
    return attrs


def _read_point(group: h5py.Group) -> Point:
    attrs = {k: _decode(v) for k, v in group.attrs.items() if k != "complete"}
    data = {k: ds[()] for k, ds in group.items() if isinstance(ds, h5py.Dataset)}
    return Point(group.name.strip("/"), attrs, data)


def _check_objects(f: h5py.File, path: Path) -> None:
    """Open every point group and its members: a kill during an append can leave a
    link to an object that was never written, or a group index half updated, in a
    file that still opens."""
    name = "/"
    try:
        for name in list(f):
            group = f[name]
            for member in (list(group) if isinstance(group, h5py.Group) else ()):
                group[member]
    except (KeyError, OSError, RuntimeError) as exc:
        raise ResultFileError(f"{path}: not a readable HDF5 file (corrupt, truncated or "
                              f"another format): object {name!r}: {exc}") from None


def _complete(group) -> bool:
    return isinstance(group, h5py.Group) and bool(group.attrs.get("complete", False))


def load(path) -> Result:
    """Read any result file into a :class:`Result` (complete points only).

    Raises :class:`ResultFileError` naming the file if it is missing, not HDF5,
    not a result file of this suite, or damaged (a kill during an append).
    """
    path = Path(path)
    with _open(path) as f:
        attrs = _header(f, path)
        try:
            axes = {name: np.asarray(f["axes"][name][()]) for name in attrs["axis_names"]}
            points, incomplete = {}, 0
            for name, group in f.items():
                if name == "axes" or not (group is None or isinstance(group, h5py.Group)):
                    continue  # group is None: a link to an object never written (a kill)
                if _complete(group):
                    points[name] = _read_point(group)
                else:
                    incomplete += 1
        except (KeyError, OSError, RuntimeError) as exc:
            raise ResultFileError(f"{path}: damaged result file ({exc}); if its run left "
                                  f"{SHARDS_NAME}/ beside it, resume the run to rebuild "
                                  "it") from None
    return Result(path, attrs, axes, dict(sorted(points.items())), incomplete)


# --------------------------------------------------------------------------- writing
class ResultWriter:
    """Write points of one run into ``out_dir/results.h5``, each completely or not at all.

    ``resume=False`` refuses an ``out_dir`` that already holds a run;
    ``resume=True`` continues one, after checking it was written by the same
    protocol with the same config text.  :meth:`completed` names the points
    already done.
    """

    def __init__(self, out_dir, protocol: str, config: str, seed: int, versions: dict, *,
                 axes: dict | None = None, resume: bool = False):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / RESULTS_NAME
        self.shards = self.out_dir / SHARDS_NAME
        axes = {name: np.asarray(values, dtype=float) for name, values in (axes or {}).items()}
        self.header = {"schema_version": SCHEMA_VERSION, "suite": SUITE, "protocol": protocol,
                       "config": config, "seed": int(seed),
                       "axis_names": json.dumps(list(axes)), "versions": json.dumps(versions)}
        self.axes = axes
        existing = self.path.exists() or (self.shards.is_dir() and any(self.shards.glob("*.h5")))
        if existing and not resume:
            raise ResultFileError(f"{self.out_dir}: already holds a run ({RESULTS_NAME} or "
                                  f"{SHARDS_NAME}/); pass --resume to continue it, or choose "
                                  "another --out")
        self.shards.mkdir(parents=True, exist_ok=True)
        self._done: set[str] = set()
        if existing:
            self._recover()
        else:
            self._create()

    # -- setup
    def _create(self) -> None:
        tmp = self.path.with_suffix(".h5.tmp")
        with h5py.File(tmp, "w") as f:
            self._write_header(f)
            f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            axes = f.create_group("axes")
            for name, values in self.axes.items():
                axes.create_dataset(name, data=values)
        os.replace(tmp, self.path)

    def _write_header(self, f: h5py.File) -> None:
        for key, value in self.header.items():
            f.attrs[key] = value

    def _check_header(self, f: h5py.File, path: Path) -> None:
        """Refuse to mix this run with a run of another protocol or config."""
        found = _header(f, path)
        for key in ("protocol", "seed", "config"):
            if found.get(key) != self.header[key]:
                if key == "config":
                    problem = (f"was written with a different config ({_config_difference(found['config'], self.header['config'])}); "
                               "resume with the config saved beside it "
                               f"({self.out_dir / 'config.yaml'}) or choose another --out")
                else:
                    problem = (f"was written with {key}={found.get(key)!r}, this run has "
                               f"{key}={self.header[key]!r}")
                raise ResultFileError(f"{path}: cannot resume: the file {problem}")

    def _valid_shards(self) -> dict[str, Path]:
        shards = {}
        for shard in sorted(self.shards.glob("*.h5")):
            with _open(shard) as f:
                self._check_header(f, shard)
                names = [n for n, g in f.items() if _complete(g)]
            shards.update({n: shard for n in names})
        for tmp in self.shards.glob("*.tmp"):  # only once the shards are known to be this run's
            tmp.unlink()  # a point whose write was interrupted: recomputed
        return shards

    def _recover(self) -> None:
        damage = None
        try:
            with _open(self.path) as f:
                self._check_header(f, self.path)
                _check_objects(f, self.path)
        except ResultFileError as exc:
            if self.path.exists() and "not a readable HDF5" not in str(exc):
                raise  # another run's file: never touched
            damage = exc
        shards = self._valid_shards()
        if damage is not None:
            if not shards:
                raise damage
            if self.path.exists():  # a kill during an append: keep it, rebuild from points/
                stamp, k = int(time.time()), 0
                aside = self.path.with_name(f"{RESULTS_NAME}.damaged-{stamp}")
                while aside.exists():  # an earlier rebuild in the same second: keep both
                    k += 1
                    aside = self.path.with_name(f"{RESULTS_NAME}.damaged-{stamp}-{k}")
                os.replace(self.path, aside)
            self._create()
        with h5py.File(self.path, "a") as f:
            for name in [n for n, g in f.items() if n != "axes" and not _complete(g)]:
                del f[name]  # half-written group
            self._done = {n for n in f if n != "axes"}
        for name, shard in shards.items():
            if name not in self._done:
                self._append(name, shard)
        self._done |= set(shards)

    # -- public API
    def completed(self) -> set[str]:
        """Names of the points that are completely written."""
        return set(self._done)

    def write_point(self, name: str, attrs: dict, datasets: dict) -> None:
        """Write one point: first its own file in ``points/``, then into ``results.h5``."""
        if not name or "/" in name or name == "axes":
            raise ValueError(f"invalid point name {name!r}")
        shard = self.shards / f"{name}.h5"
        tmp = shard.with_suffix(".h5.tmp")
        with h5py.File(tmp, "w") as f:
            self._write_header(f)   # a shard is itself a loadable one-point result file
            axes = f.create_group("axes")
            for axis, values in self.axes.items():
                axes.create_dataset(axis, data=values)
            group = f.create_group(name)
            for key, value in datasets.items():
                group.create_dataset(key, data=np.asarray(value),
                                     compression="gzip" if np.size(value) > 4096 else None)
            for key, value in attrs.items():
                group.attrs[key] = value
            group.attrs["complete"] = True
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, shard)
        self._append(name, shard)
        self._done.add(name)

    def _append(self, name: str, shard: Path) -> None:
        with h5py.File(shard, "r") as src, h5py.File(self.path, "a") as dst:
            if name in dst:
                del dst[name]
            dst.copy(src[name], dst, name=name)
            group = dst[name]
            del group.attrs["complete"]
            group.attrs["complete"] = True  # set last
            dst.flush()

    def finalize(self) -> Path:
        """Record the number of complete points; returns the path of ``results.h5``."""
        with h5py.File(self.path, "a") as f:
            f.attrs["n_complete"] = len(self._done)
            f.attrs["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return self.path

    def discard_shards(self) -> None:
        """Remove ``points/`` (only the copies; ``results.h5`` keeps every point)."""
        shutil.rmtree(self.shards, ignore_errors=True)
