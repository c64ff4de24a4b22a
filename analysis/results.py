"""Self-describing HDF5 result files: one writer for every protocol, one loader.

Layout of ``results.h5``::

    /                       attrs: schema_version, suite, protocol, config (YAML text),
                                   created (UTC ISO), versions (JSON), seed, axis_names (JSON),
                                   n_complete and finished (set by finalize), checksum
    /axes/<name>            parameter values of a grid axis (grid files only)
    /<point>/               one group per parameter point (``p0000``, ``v03_g11``, ...)
        attrs               scalar summaries (lz_mean, hamming_mean, ...), the point's value
                            on each grid axis, checksum, shard_sha256 and, set last,
                            ``complete = True``
        <dataset>           per-trial arrays (lz, hamming_slope, perturbed_neurons, ...)

A point is written completely or not at all.  Each finished point is first
written to its own file ``points/<point>.h5`` (a loadable one-point result file,
written under a temporary name, then renamed, which is atomic), and only then
appended to ``results.h5`` with ``complete`` set last.

Integrity.  ``checksum`` is ``"sha256:<hex>"`` of the canonical content: for a
point, its name, every attribute but ``complete``/``checksum``/``shard_sha256``
and every dataset (name, dtype, shape and bytes of each); for the root, every
root attribute but ``checksum``, and every ``/axes`` dataset.  ``shard_sha256``
is the sha256 of the bytes of ``points/<point>.h5`` the point was copied from.
A file is *damaged* when it does not read cleanly, a checksum does not match, a
root attribute is missing or garbled, or a point lacks its value on a grid
axis: :func:`load` raises :class:`DamagedFileError`, a :class:`ResultFileError`
(never an h5py, Key, Unicode or JSON error).  A point of ``results.h5`` is
*consistent* when it equals its copy in ``points/`` (attribute names and values,
dataset names, dtypes, shapes and values, NaN equal to NaN); any difference is
damage too.  A point without a copy in ``points/`` (after
:meth:`ResultWriter.discard_shards`) is accepted as it is if it reads cleanly.
Files written before checksums existed (no root ``checksum``) are read as they
are, checked against ``points/`` only.  A file that another process holds open
(HDF5's file lock) is not damage.

Recovery, one mechanism for ``ResultWriter(..., resume=True)`` and for
:func:`load_or_rebuild` (the ``report`` path): every point of ``results.h5`` is
checked against ``points/`` (a file there whose bytes match ``shard_sha256`` is
not opened, which keeps a 400-point resume well under a second).  Then:

* half-written groups (no ``complete``) are dropped, and points ``results.h5``
  lacks are appended from ``points/``;
* a damaged or inconsistent ``results.h5`` is rebuilt from ``points/`` plus its
  own intact points that have no copy there, the damaged file kept beside it
  as ``results.h5.damaged-<stamp>`` (``results.h5`` exists at every instant);
* a damaged ``points/<point>.h5`` is moved aside as
  ``<point>.h5.damaged-<stamp>`` and rewritten from ``results.h5`` if that holds
  the point intact, else the point is not done (a resumed run computes it
  again; :func:`load_or_rebuild` refuses, changing nothing).

Nothing is deleted but half-written groups and ``points/*.tmp``.

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

Damage is found and, with ``points/`` beside the file, repaired:

>>> import h5py
>>> with h5py.File(r.path, "a") as f:
...     f["p0/trials"][1] = 7              # a changed value
>>> load(r.path)                           # doctest: +ELLIPSIS
Traceback (most recent call last):
...
analysis.results.DamagedFileError: ...: point 'p0': its content does not match its checksum...
>>> load_or_rebuild(r.path).points["p0"].data["trials"]
array([0, 1, 2])
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
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
# attributes about a point's storage, not its content: set last; sha256 of the content;
# sha256 of the bytes of points/<point>.h5 it was copied from (results.h5 only)
_INTEGRITY = ("complete", "checksum", "shard_sha256")
_HEADER_TYPES = {"schema_version": int, "suite": str, "protocol": str, "config": str, "seed": int}
_JSON_TYPES = {"versions": dict, "axis_names": list}
_NO_LIMIT = 1 << 62


class ResultFileError(ValueError):
    """A result file that is missing, corrupt, foreign or does not match the run."""


class DamagedFileError(ResultFileError):
    """A result file of this suite that no longer holds what was written.

    Unreadable or truncated, a checksum that does not match its content, a root
    attribute missing or garbled, or a point without the value of a grid axis.
    """


class _ForeignFileError(ResultFileError):
    """An HDF5 file that is not a result file of this suite (never treated as damage)."""


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
        that is ``[n_v_th_std, n_g_std]``.  Every loaded point has a value on
        each axis (:func:`load` refuses a point without one as damage).
        """
        if not self.axis_names:
            raise ResultFileError(f"{self.path}: protocol {self.protocol!r} has no grid axes")
        known = sorted({k for p in self.points.values() for k in p.attrs})
        if self.points and name not in known:
            raise KeyError(f"no per-point summary {name!r} in {self.path}; known: {', '.join(known)}")
        values = np.full(tuple(len(a) for a in self.axes), np.nan)
        axes = dict(zip(self.axis_names, self.axes))
        for point in self.points.values():
            if why := _axis_problem(point.attrs, axes):  # only in a Result not made by load()
                raise ResultFileError(f"{self.path}: point {point.name!r}: {why}")
            index = tuple(int(_on_axis(axis, point.attrs[n])[0]) for n, axis in axes.items())
            value = point.attrs.get(name, np.nan)  # a point without it: NaN
            if not _is_real(value) and not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{self.path}: summary {name!r} of point {point.name!r} is "
                                 f"{value!r}, not a number")
            values[index] = value
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


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _on_axis(axis: np.ndarray, value) -> np.ndarray:
    return np.flatnonzero(np.isclose(axis, value, rtol=1e-9, atol=1e-12))


def _axis_problem(attrs: dict, axes: dict) -> str | None:
    """Why a point's attributes do not place it on the grid, or None."""
    for axis_name, axis in axes.items():
        if axis_name not in attrs:
            return f"lacks the axis attribute {axis_name!r}"
        value = attrs[axis_name]
        if not _is_real(value) or len(_on_axis(axis, value)) != 1:
            return f"{axis_name}={value!r} is not on the grid axis {axis.tolist()}"
    return None


# --------------------------------------------------------------------------- reading
# h5py's high-level objects cost ~0.1 ms per attribute or dataset; the low-level
# calls below read a small point several times faster, which keeps a resume that
# checks every point of a 400-point grid against points/ within a second.
class _Unreadable(Exception):
    """An object of an HDF5 file that cannot be read (internal)."""


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _read_array(obj, limit: int) -> np.ndarray:
    """The value of an attribute (``h5a.AttrID``) or a dataset (``h5d.DatasetID``)."""
    try:
        shape, dtype = obj.shape, obj.dtype
        if shape is None:
            raise _Unreadable("no dataspace")
        memory_type = None  # numbers: h5py derives it from the array
        if dtype.kind == "O" or dtype.subdtype is not None:
            memory_type = h5py.h5t.py_create(dtype)  # variable-length strings, array types
        if dtype.subdtype is not None:  # an HDF5 array type: numpy has none at the top level
            dtype, sub_shape = dtype.subdtype
            shape = tuple(shape) + sub_shape
        if math.prod(shape) * dtype.itemsize > limit:  # a garbled shape: do not allocate it
            raise _Unreadable(f"shape {shape} of {dtype} is larger than the file")
        array = np.zeros(shape, dtype)
        if isinstance(obj, h5py.h5a.AttrID):
            obj.read(array, mtype=memory_type)
        else:
            obj.read(h5py.h5s.ALL, h5py.h5s.ALL, array, mtype=memory_type)
        return array
    except _Unreadable:
        raise
    except Exception as exc:  # noqa: BLE001 -- h5py raises OSError, RuntimeError, ... on damage
        raise _Unreadable(_failure(exc)) from None


def _read_attrs(oid, limit: int) -> tuple[dict, dict]:
    """Every attribute of an object: ``{name: array}`` and ``{name: why it is unreadable}``."""
    values, problems = {}, {}
    try:
        count = h5py.h5a.get_num_attrs(oid)
    except Exception as exc:  # noqa: BLE001 -- any h5py failure here is damage
        raise _Unreadable(f"its attributes cannot be listed: {_failure(exc)}") from None
    for index in range(count):
        try:
            attr = h5py.h5a.open(oid, index=index)
            name = attr.name.decode("utf-8")
        except Exception as exc:  # noqa: BLE001
            problems[f"#{index}"] = f"attribute #{index} unreadable ({_failure(exc)})"
            continue
        try:
            values[name] = _read_array(attr, limit)
        except _Unreadable as exc:
            problems[name] = f"attribute {name!r} unreadable ({exc})"
    return values, problems


def _members(gid) -> tuple[dict, dict]:
    """Objects linked from a group: ``{name: ObjectID}`` and ``{name: why it cannot be opened}``."""
    try:
        names = list(gid)
    except Exception as exc:  # noqa: BLE001
        raise _Unreadable(f"its list of members cannot be read: {_failure(exc)}") from None
    objects, broken = {}, {}
    for raw in names:
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            broken[repr(raw)] = "a name that is not UTF-8"
            continue
        try:
            objects[name] = h5py.h5o.open(gid, raw)
        except Exception as exc:  # noqa: BLE001 -- a link to an object never written
            broken[name] = _failure(exc)
    return objects, broken


def _read_datasets(objects: dict, limit: int) -> tuple[dict, list]:
    data, problems = {}, []
    for key, obj in objects.items():
        if isinstance(obj, h5py.h5d.DatasetID):
            try:
                data[key] = _read_array(obj, limit)
            except _Unreadable as exc:
                problems.append(f"dataset {key!r} unreadable ({exc})")
    return data, problems


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(8, "little") + payload


def _canonical(value) -> bytes:
    """Bytes that identify an array: dtype, shape and content (strings by their bytes)."""
    array = np.asarray(value)
    if array.dtype.kind == "O":  # variable-length strings or arrays (others: by their repr)
        kind, payload = "O", b"".join(
            _frame(v.encode("utf-8", "surrogateescape")) if isinstance(v, str)
            else _frame(bytes(v)) if isinstance(v, bytes)
            else _canonical(v) if isinstance(v, np.ndarray) else _frame(repr(v).encode())
            for v in array.ravel())
    else:
        kind = array.dtype.str if array.dtype.names is None else repr(array.dtype.descr)
        payload = np.ascontiguousarray(array).tobytes()
    return _frame(f"{kind}{array.shape}".encode()) + _frame(payload)


def _digest(name: str, attrs: dict, data: dict) -> str:
    """``sha256:<hex>`` of a point's (or, with name "/", the root's) canonical content."""
    h = hashlib.sha256(_frame(name.encode("utf-8")))
    for key in sorted(attrs):
        if key not in _INTEGRITY:
            h.update(b"a" + _frame(key.encode("utf-8")) + _canonical(attrs[key]))
    for key in sorted(data):
        h.update(b"d" + _frame(key.encode("utf-8")) + _canonical(data[key]))
    return "sha256:" + h.hexdigest()


def _decode_attr(value: np.ndarray):
    """An attribute as Python reads it: str, int, float, bool, or an array."""
    if value.ndim == 0:
        value = value[()]
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return value.item() if isinstance(value, np.generic) else value
    if value.dtype.kind == "O":  # variable-length strings: str, as h5py gives them
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in value.flat],
                        dtype=object).reshape(value.shape)
    return value


def _decode_data(value: np.ndarray):
    return value[()] if value.ndim == 0 else value  # as h5py's ``dataset[()]``


def _as_text(value) -> str | None:
    try:
        text = _decode_attr(value)
    except UnicodeDecodeError:
        return None
    return text if isinstance(text, str) else None


class _Copy(NamedTuple):
    """One complete point as read from one file."""

    point: Point | None   # None when it could not be read
    digest: str | None    # of its content as read
    problem: str | None   # why it is damaged; None when intact
    checked: bool         # it carries a checksum, and the checksum matches
    shard_hash: str | None = None  # results.h5: digest of the points/ file it came from


class _Contents(NamedTuple):
    """A result file as read, every part judged."""

    path: Path
    attrs: dict        # root attributes, decoded (without checksum)
    axes: dict         # axis name -> float array
    problem: str | None  # damage in the root attributes or /axes; None when intact
    sealed: bool       # the root carries a checksum (written since checksums exist)
    points: dict       # name -> _Copy, for every point marked complete
    incomplete: list   # groups without the attribute complete: half-written points
    marked: list       # groups with complete=False (this suite never writes that)
    dangling: list     # links to objects that cannot be opened: a kill during an append


_HALF_WRITTEN, _MARKED_INCOMPLETE = "half written", "marked complete=False"


def _read_point(gid, name: str, limit: int, need_checksum: bool) -> _Copy | str:
    """A complete point as a :class:`_Copy`, else why it is not complete: no
    ``complete`` attribute (:data:`_HALF_WRITTEN`), or ``complete = False``
    (:data:`_MARKED_INCOMPLETE`; this suite never writes that)."""
    try:
        raw, unreadable = _read_attrs(gid, limit)
    except _Unreadable as exc:
        return _Copy(None, None, f"point {name!r}: {exc}", False)
    complete, problems = raw.get("complete"), list(unreadable.values())
    if complete is None and not unreadable:
        return _HALF_WRITTEN  # killed before `complete` was set
    if complete is None or complete.shape != () or complete.dtype.kind not in "biuf":
        problems.append("its attribute 'complete' is garbled or unreadable")
    elif not bool(complete[()]):
        return _MARKED_INCOMPLETE
    try:
        objects, broken = _members(gid)
        data, unread = _read_datasets(objects, limit)
    except _Unreadable as exc:
        objects, broken, data, unread = {}, {}, {}, [str(exc)]
    problems += unread + [f"member {k!r} cannot be opened ({why})" for k, why in broken.items()]
    digest = _digest(name, raw, data)
    stored = raw.get("checksum")
    checked = False
    if not problems:
        if stored is None:
            if need_checksum:
                problems.append("it lacks its checksum")
        elif _as_text(stored) != digest:
            problems.append("its content does not match its checksum")
        else:
            checked = True
    point = None
    try:
        point = Point(name, {k: _decode_attr(v) for k, v in raw.items() if k not in _INTEGRITY},
                      {k: _decode_data(v) for k, v in data.items()})
    except UnicodeDecodeError as exc:
        problems.append(f"an attribute is not UTF-8 text ({exc})")
    problem = f"point {name!r}: {'; '.join(problems)}" if problems else None
    shard_hash = _as_text(raw["shard_sha256"]) if "shard_sha256" in raw else None
    return _Copy(point, digest, problem, checked, shard_hash)


def _read_header(raw: dict, problems: list, axes_raw: dict, path: Path):
    """Decoded root attributes, axes, the damage found (or None) and whether sealed.

    Raises :class:`ResultFileError` for a file that is not this suite's or is newer.
    A file whose root attributes all read, without a root checksum (written
    before checksums, or never by this suite), is foreign unless its ``suite``
    attribute is this suite; one whose root attributes do not all read is damaged.
    """
    sealed, problems = "checksum" in raw, list(problems)
    attrs = {}
    for key, value in raw.items():
        if key != "checksum":
            try:
                attrs[key] = _decode_attr(value)
            except UnicodeDecodeError:
                problems.append(f"root attribute {key!r} is not UTF-8 text")
    if not sealed and not problems and attrs.get("suite") != SUITE:
        raise _ForeignFileError(f"{path}: an HDF5 file, but not a {SUITE} result file (it lacks "
                                f"the root attributes schema_version, suite={SUITE!r}, protocol)")
    if sealed and not problems and _as_text(raw["checksum"]) != _digest("/", raw, axes_raw):
        problems.append("its root attributes or /axes do not match its checksum")
    version = attrs.get("schema_version")
    if _is_real(version) and version > SCHEMA_VERSION and not problems:
        raise ResultFileError(f"{path}: schema_version {version} is newer than this version "
                              f"reads ({SCHEMA_VERSION}); upgrade {SUITE}")
    for key, kind in _HEADER_TYPES.items():
        if not isinstance(attrs.get(key), kind) or isinstance(attrs.get(key), bool):
            problems.append(f"root attribute {key!r} is missing or not {kind.__name__}")
    for key, kind in _JSON_TYPES.items():
        try:
            attrs[key] = json.loads(attrs[key]) if isinstance(attrs.get(key), str) else None
        except ValueError:
            attrs[key] = None
        if not isinstance(attrs[key], kind):
            problems.append(f"root attribute {key!r} is missing or not JSON of a {kind.__name__}")
            attrs[key] = kind()
    if not all(isinstance(n, str) for n in attrs["axis_names"]):
        problems.append("root attribute 'axis_names' is not a list of names")
        attrs["axis_names"] = []
    attrs["axis_names"] = tuple(attrs["axis_names"])
    axes = {}
    for name in attrs["axis_names"]:
        values = axes_raw.get(name)
        if values is None or values.ndim != 1 or values.dtype.kind not in "iuf":
            problems.append(f"/axes/{name} is missing or not a 1-D numeric array")
            values = np.zeros(0)
        axes[name] = values.astype(float)
    return attrs, axes, ("; ".join(problems) or None), sealed


def _open(path: Path) -> h5py.File:
    """Open an HDF5 file to read, turning h5py's errors into one clear message."""
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise ResultFileError(f"{path}: result file not found") from None
    except BlockingIOError:  # HDF5's file lock: not damage
        raise ResultFileError(f"{path}: open in another process (HDF5 file lock); wait until "
                              "that process ends") from None
    except PermissionError as exc:
        raise ResultFileError(f"{path}: cannot open it: {exc}") from None
    except Exception as exc:  # noqa: BLE001 -- OSError for most damage, others for some
        raise DamagedFileError(f"{path}: not a readable HDF5 file (corrupt, truncated or another "
                               f"format): {exc}") from None


def _read_contents(path: Path) -> _Contents:
    """Read and judge every part of a result file.

    Raises :class:`ResultFileError` when it is missing, locked, foreign or
    newer, :class:`DamagedFileError` when it cannot be read at all; damage to
    single parts is recorded in the returned :class:`_Contents`.
    """
    f = _open(path)
    try:
        with f:
            limit = max(64 << 20, 2000 * path.stat().st_size)  # gzip shrinks at most ~1000x
            raw, unreadable = _read_attrs(f.id, limit)
            problems = list(unreadable.values())
            members, dangling = _members(f.id)
            axes_raw = {}
            axes_group = members.pop("axes", None)
            if "axes" in dangling or (axes_group is not None
                                      and not isinstance(axes_group, h5py.h5g.GroupID)):
                problems.append("/axes cannot be read")
            elif axes_group is not None:
                objects, broken = _members(axes_group)
                axes_raw, unread = _read_datasets(objects, limit)
                problems += unread + [f"/axes/{k} cannot be opened" for k in broken]
            attrs, axes, problem, sealed = _read_header(raw, problems, axes_raw, path)
            points, incomplete, marked = {}, [], []
            for name, obj in sorted(members.items()):
                if isinstance(obj, h5py.h5g.GroupID):
                    copy = _read_point(obj, name, limit, need_checksum=sealed)
                    if copy == _HALF_WRITTEN:
                        incomplete.append(name)
                    elif copy == _MARKED_INCOMPLETE:
                        marked.append(name)
                    else:
                        points[name] = copy
            return _Contents(path, attrs, axes, problem, sealed, points, incomplete, marked,
                             sorted(k for k in dangling if k != "axes"))
    except ResultFileError:
        raise
    except Exception as exc:  # noqa: BLE001 -- _Unreadable, or h5py failing on close
        raise DamagedFileError(f"{path}: not a readable HDF5 file (corrupt, truncated or "
                               f"another format): {exc}") from None


def _damage(contents: _Contents) -> list:
    """Every damage in a file read on its own (header, points, axis values)."""
    found = [contents.problem] if contents.problem else []
    for copy in contents.points.values():
        if copy.problem:
            found.append(copy.problem)
        elif not contents.problem and (why := _axis_problem(copy.point.attrs, contents.axes)):
            found.append(f"point {copy.point.name!r}: {why}")
    return found


def _summary(problems: list, limit: int = 4) -> str:
    more = f"; and {len(problems) - limit} more" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


def _result(contents: _Contents) -> Result:
    points = {name: copy.point for name, copy in contents.points.items()}
    return Result(contents.path, contents.attrs, contents.axes, dict(sorted(points.items())),
                  len(contents.incomplete) + len(contents.marked) + len(contents.dangling))


def load(path) -> Result:
    """Read any result file into a :class:`Result` (complete points only).

    Raises :class:`ResultFileError` naming the file if it is missing, not HDF5,
    not a result file of this suite or newer than this version reads, and its
    subclass :class:`DamagedFileError` if it is damaged (unreadable, a checksum
    that does not match, a root attribute missing or garbled, a point without
    its axis values).  Half-written points (a kill during an append) are not
    damage: they are left out and counted in ``n_incomplete``.
    :func:`load_or_rebuild` also repairs a damaged file from ``points/``.
    """
    path = Path(path)
    contents = _read_contents(path)
    if found := _damage(contents):
        raise DamagedFileError(f"{path}: damaged: {_summary(found)}; if its run left "
                               f"{SHARDS_NAME}/ beside it, load_or_rebuild() or resuming the run "
                               "rebuilds it from there")
    return _result(contents)


# --------------------------------------------------------------------------- recovery
class _Run(NamedTuple):
    """What every file of one run agrees on."""

    header: dict  # root attributes as written (axis_names and versions as JSON text)
    axes: dict    # axis name -> float array


def _run_of(contents: _Contents) -> _Run:
    header = {key: contents.attrs[key] for key in _HEADER_TYPES}
    header["axis_names"] = json.dumps(list(contents.attrs["axis_names"]))
    header["versions"] = json.dumps(contents.attrs["versions"])
    return _Run(header, contents.axes)


def _mismatch(contents: _Contents, run: _Run, out_dir: Path) -> str | None:
    """How a file's header differs from the run's (protocol, seed, config, axes), or None."""
    for key in ("protocol", "seed", "config"):
        found, wanted = contents.attrs.get(key), run.header[key]
        if found != wanted:
            if key == "config":
                return (f"was written with a different config "
                        f"({_config_difference(found, wanted)}); resume with the config saved "
                        f"beside it ({out_dir / 'config.yaml'}) or choose another --out")
            return f"was written with {key}={found!r}, this run has {key}={wanted!r}"
    same = list(contents.axes) == list(run.axes) and all(
        len(a) == len(b) and np.allclose(a, b, rtol=1e-9, atol=1e-12)
        for a, b in zip(contents.axes.values(), run.axes.values()))
    if not same:
        found, wanted = ({k: v.tolist() for k, v in axes.items()}
                         for axes in (contents.axes, run.axes))
        return f"was written with the grid axes {found}, this run has {wanted}"
    return None


class _Survey(NamedTuple):
    """What a run folder holds, and what recovery does to it."""

    main_path: Path
    shards_dir: Path
    run: _Run
    sealed: bool       # results.h5 is kept and has a root checksum
    rebuild: list      # why results.h5 is rebuilt ([]: kept and appended to)
    sources: dict      # point -> file holding its intact copy
    digests: dict      # point -> digest of that copy
    append: list       # points copied from points/ into a kept results.h5
    drop: list         # half-written groups removed from a kept results.h5
    bad_shards: dict   # damaged file in points/ -> why; moved aside
    rewrite: list      # points whose file in points/ is rewritten from results.h5
    lost: dict         # point -> why, damaged with no intact copy anywhere
    main: _Contents | None  # results.h5 as read, when kept as it is


def _read_shards(shards_dir: Path, main: _Contents | None) -> tuple[dict, list, dict]:
    """The files in points/: ``{point: (file, _Copy)}`` of intact ones, the contents of
    those that were read, and ``{file: why}`` of damaged ones.

    ``main``: results.h5, when intact and this run's.  A file that is byte for byte
    the one its point in ``main`` was copied from (``shard_sha256``) is not read: it
    is what was written then, equal to that point, whose checksum was just checked.
    """
    shards, read, bad = {}, [], {}
    for shard in sorted(shards_dir.glob("*.h5")) if shards_dir.is_dir() else ():
        name = shard.stem
        kept = main.points.get(name) if main is not None else None
        if kept is not None and kept.checked and kept.shard_hash is not None \
                and kept.shard_hash == _file_digest(shard):
            shards[name] = (shard, kept)
            continue
        try:
            contents = _read_contents(shard)
        except (DamagedFileError, _ForeignFileError) as exc:  # points/ holds only shards
            bad[shard] = str(exc)
            continue
        if list(contents.points) != [name]:
            why = f"holds the points {list(contents.points)}, not just {name!r}"
        else:
            why = contents.problem or contents.points[name].problem
        if why:
            bad[shard] = f"{shard}: {why}"
        else:
            shards[name] = (shard, contents.points[name])
            read.append(contents)
    return shards, read, bad


def _survey(main_path: Path, shards_dir: Path, run: _Run | None) -> _Survey:
    """Read results.h5 and the files in points/, judge them against each other; change nothing.

    ``run`` is the run being resumed; None takes it from results.h5, or from
    points/ if results.h5 is damaged.  Raises :class:`ResultFileError` when the
    files belong to another run, and when results.h5 is damaged with no intact
    point in points/ to rebuild it from.
    """
    out_dir = main_path.parent
    # 1. read: results.h5, then points/ (only what results.h5 does not vouch for)
    main, main_error, rebuild = None, None, []
    if not (main_path.exists() or main_path.is_symlink()):
        rebuild.append(f"{main_path} is missing")
    else:
        try:
            main = _read_contents(main_path)
        except (DamagedFileError, _ForeignFileError) as exc:
            main_error = exc
    main_ok = main is not None and main.problem is None
    main_differs = main_ok and run is not None and _mismatch(main, run, out_dir)  # why, if so
    shards, read, bad = _read_shards(shards_dir, main if main_ok and not main_differs else None)
    # 2. the run: as given, else what results.h5 says, else what points/ says
    if run is None:
        if main_ok:
            run = _run_of(main)
        elif read:
            run = _run_of(read[0])
        elif main is not None:
            raise DamagedFileError(f"{main_path}: damaged: {main.problem}; {shards_dir} holds no "
                                   "intact point to rebuild it from")
        elif main_error is None:
            raise ResultFileError(f"{main_path}: result file not found")
    for contents in read:  # another run's files: named by results.h5 if that differs too
        if why := _mismatch(contents, run, out_dir):
            raise ResultFileError(f"{main_path if main_differs else contents.path}: cannot "
                                  f"resume: the file {main_differs or why}")
    # 3. results.h5 as a whole: kept, or rebuilt from points/
    if main_error is not None:
        if not shards:
            raise type(main_error)(f"{main_error}; {shards_dir} holds no intact point to rebuild "
                                   "it from (move it away to start the run again)")
        rebuild.append(str(main_error))
    elif main is not None:
        if main.problem:
            rebuild.append(f"{main_path}: {main.problem}")
        elif main_differs:
            if not shards:
                raise ResultFileError(f"{main_path}: cannot resume: the file {main_differs}")
            rebuild.append(f"{main_path}: {main_differs}, unlike {shards_dir}")
            main = None  # another run's file: none of its points belong here
    if main is not None and main.dangling:
        rebuild.append(f"{main_path}: links to objects never written: {main.dangling}")
    if main is not None and main.marked:
        rebuild.append(f"{main_path}: groups marked complete=False: {main.marked}")
    # 4. each point: its intact copy, and what to do with the others
    kept_points = {}
    for name, copy in (main.points if main is not None else {}).items():
        if copy.problem is None and (why := _axis_problem(copy.point.attrs, run.axes)):
            copy = copy._replace(problem=f"point {name!r}: {why}")
        kept_points[name] = copy
    for name, (shard, copy) in list(shards.items()):
        if why := _axis_problem(copy.point.attrs, run.axes):
            bad[shard] = f"{shard}: point {name!r}: {why}"
            del shards[name]
    bad_by_name = {shard.stem: shard for shard in bad}
    sources, digests, append, rewrite, lost = {}, {}, [], [], {}
    for name in sorted(set(shards) | set(kept_points) | set(bad_by_name)):
        shard, copy = shards.get(name, (None, None))
        kept = kept_points.get(name)
        kept_ok = kept is not None and kept.problem is None
        if copy and kept_ok and copy.digest != kept.digest and kept.checked and not copy.checked:
            bad[shard] = f"{shard}: differs from {main_path}, whose copy matches its checksum"
            bad_by_name[name], copy = shard, None
        if copy is not None:  # the shard is the reference (the newer write, if both check)
            sources[name], digests[name] = shard, copy.digest
            if kept is None:
                append.append(name)
            elif not kept_ok:
                rebuild.append(kept.problem)
            elif kept.digest != copy.digest:
                rebuild.append(f"point {name!r} differs from {shard}")
        elif kept_ok:
            sources[name], digests[name] = main_path, kept.digest
            if name in bad_by_name:
                rewrite.append(name)
        else:
            lost[name] = kept.problem if kept is not None else bad[bad_by_name[name]]
            if kept is not None:
                rebuild.append(kept.problem)
    if rebuild:
        return _Survey(main_path, shards_dir, run, False, rebuild, sources, digests, [], [], bad,
                       rewrite, lost, None)
    return _Survey(main_path, shards_dir, run, main.sealed, [], sources, digests, append,
                   main.incomplete, bad, rewrite, lost, main)


def _aside(path: Path) -> Path:
    """A free name ``<path>.damaged-<stamp>[-k]`` beside path."""
    stamp, k = int(time.time()), 0
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    while aside.exists():  # an earlier recovery in the same second: keep both
        k += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{k}")
    return aside


def _start_file(f: h5py.File, run: _Run, created: bool) -> None:
    for key, value in run.header.items():
        f.attrs[key] = value
    if created:
        f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    axes = f.create_group("axes")
    for name, values in run.axes.items():
        axes.create_dataset(name, data=values)


def _seal_root(f: h5py.File) -> None:
    """Set the root checksum (after every change of the root attributes)."""
    if "checksum" in f.attrs:
        del f.attrs["checksum"]
    raw, _ = _read_attrs(f.id, _NO_LIMIT)
    objects, _ = _members(f["axes"].id)
    f.attrs["checksum"] = np.bytes_(_digest("/", raw, _read_datasets(objects, _NO_LIMIT)[0]))


def _point_digest(group: h5py.Group) -> str:
    raw, _ = _read_attrs(group.id, _NO_LIMIT)
    objects, _ = _members(group.id)
    return _digest(group.name.strip("/"), raw, _read_datasets(objects, _NO_LIMIT)[0])


def _file_digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()


def _copy_point(src: h5py.File, name: str, dst: h5py.File, digest: str, *, verify: bool,
                shard: Path | None) -> None:
    """Copy a complete point, ``complete`` set last; with verify, check it arrived intact.

    ``shard``: its file in points/, whose digest results.h5 records (see :func:`_survey`).
    """
    if name in dst:
        del dst[name]
    dst.copy(src[name], dst, name=name)
    group = dst[name]
    del group.attrs["complete"]
    if verify and _point_digest(group) != digest:
        raise ResultFileError(f"{src.filename}: point {name!r} changed while it was copied; "
                              "nothing was replaced, run again")
    if "checksum" not in group.attrs:  # from a file written before checksums
        group.attrs["checksum"] = np.bytes_(digest)
    _record_shard(group, shard)
    group.attrs["complete"] = True  # set last
    dst.flush()


def _record_shard(group: h5py.Group, shard: Path | None) -> None:
    if shard is not None and shard.is_file():
        group.attrs["shard_sha256"] = np.bytes_(_file_digest(shard))
    elif "shard_sha256" in group.attrs:
        del group.attrs["shard_sha256"]


def _write_tmp(path: Path, run: _Run, points: dict, digests: dict, *, created: bool,
               shards_dir: Path | None = None) -> Path:
    """Write a result file holding ``points`` ({name: file to copy it from}) as
    ``<path>.tmp``, synced to disk; the caller renames it (atomic).  With
    ``shards_dir`` (for results.h5) each point records the digest of its file there."""
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        _start_file(f, run, created)
        source, src = None, None
        try:
            for name, path_from in sorted(points.items(), key=lambda item: str(item[1])):
                if path_from != source:  # one source file open at a time
                    if src is not None:
                        src.close()
                    source, src = path_from, h5py.File(path_from, "r")
                _copy_point(src, name, f, digests[name], verify=True,
                            shard=shards_dir / f"{name}.h5" if shards_dir else None)
        finally:
            if src is not None:
                src.close()
        _seal_root(f)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    return tmp


def _repair(survey: _Survey) -> None:
    """Carry out what :func:`_survey` found: damaged shards aside (and rewritten from
    results.h5), results.h5 rebuilt (the old one kept aside) or appended to."""
    s = survey
    for shard in s.bad_shards:
        os.replace(shard, _aside(shard))
    for name in s.rewrite:
        shard = s.shards_dir / f"{name}.h5"
        os.replace(_write_tmp(shard, s.run, {name: s.main_path}, s.digests, created=False), shard)
    if s.rebuild:
        tmp = _write_tmp(s.main_path, s.run, s.sources, s.digests, created=True,
                         shards_dir=s.shards_dir)
        if s.main_path.exists() or s.main_path.is_symlink():
            aside = _aside(s.main_path)
            try:  # a second name for the damaged file: results.h5 exists at every instant
                os.link(s.main_path, aside, follow_symlinks=False)
            except OSError:  # no hard links here (or a folder): rename it
                os.replace(s.main_path, aside)
        os.replace(tmp, s.main_path)
    elif s.drop or s.append or s.rewrite:
        try:
            with h5py.File(s.main_path, "a") as dst:
                for name in s.drop:
                    del dst[name]  # half-written group
                for name in s.append:
                    with h5py.File(s.sources[name], "r") as src:
                        _copy_point(src, name, dst, s.digests[name], verify=True,
                                    shard=s.sources[name])
                for name in s.rewrite:
                    _record_shard(dst[name], s.shards_dir / f"{name}.h5")
        except Exception as exc:  # noqa: BLE001 -- HDF5 met damage the reading did not:
            # rebuild (the sources were all checked; the file goes aside as it now is)
            _repair(s._replace(bad_shards={}, rewrite=[], rebuild=[_failure(exc)]))


def load_or_rebuild(path) -> Result:
    """:func:`load` a run's ``results.h5``, first repairing it from ``points/`` beside it.

    The ``report`` path.  When ``path`` is named ``results.h5`` and a
    ``points/`` folder lies beside it, every point of the file is checked
    against its copy there (the same check as ``ResultWriter(..., resume=True)``,
    by the same code).  A damaged or inconsistent file is rebuilt from
    ``points/`` (with its own intact points that have no copy there), the
    damaged file kept beside it as ``results.h5.damaged-<stamp>``; points in
    ``points/`` that the file lacks are appended; a damaged file in ``points/``
    is moved aside and rewritten from ``results.h5``.  Without ``points/`` it
    is :func:`load`.  Do not call it while a run writes into that folder.

    Raises :class:`ResultFileError` (nothing changed) when a damaged point has
    no intact copy in either place, or results.h5 is unreadable and
    ``points/`` holds nothing intact; the message names the damage and says
    that resuming the run (``--resume`` with that ``--out``) recomputes what
    is missing.
    """
    path = Path(path)
    shards_dir = path.parent / SHARDS_NAME
    if path.name != RESULTS_NAME or not shards_dir.is_dir():
        return load(path)
    survey = _survey(path, shards_dir, None)
    if survey.lost:
        names = ", ".join(repr(name) for name in sorted(survey.lost))
        raise DamagedFileError(
            f"{path}: damaged: {_summary(list(survey.lost.values()))}; {shards_dir} holds no "
            f"intact copy of the point(s) {names}.  Nothing was changed; resuming the run "
            f"(--resume with --out {path.parent}) keeps the damaged files aside, rebuilds "
            f"{RESULTS_NAME} from {SHARDS_NAME}/ and computes the points it lacks again")
    if survey.rebuild or survey.append or survey.bad_shards or survey.rewrite:
        _repair(survey)
        return load(path)
    return _result(survey.main)


# --------------------------------------------------------------------------- writing
class ResultWriter:
    """Write points of one run into ``out_dir/results.h5``, each completely or not at all.

    ``resume=False`` refuses an ``out_dir`` that already holds a run;
    ``resume=True`` continues one, after checking it was written by the same
    protocol with the same config text, and repairs it (see the module
    docstring: damaged files are kept aside and rebuilt from ``points/``,
    damaged points computed again).  :meth:`completed` names the points
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
        self._run = _Run(self.header, axes)
        existing = self.path.exists() or (self.shards.is_dir() and any(self.shards.glob("*.h5")))
        if existing and self._nothing_finished():
            existing = False  # a run of this protocol that failed before its first point
        if existing and not resume:
            raise ResultFileError(f"{self.out_dir}: already holds a run ({RESULTS_NAME} or "
                                  f"{SHARDS_NAME}/); pass --resume to continue it, or choose "
                                  "another --out")
        self.shards.mkdir(parents=True, exist_ok=True)
        self._done: set[str] = set()
        self._sealed = True  # results.h5 has a root checksum (False: written before them)
        self._shard_root = None  # the root checksum of this writer's shards
        if existing:
            self._recover()
        else:
            os.replace(_write_tmp(self.path, self._run, {}, {}, created=True), self.path)

    def _nothing_finished(self) -> bool:
        """``results.h5`` of this protocol, intact, without a single point, and no shard:
        a run that failed before finishing anything, which a new run may replace."""
        if self.shards.is_dir() and any(self.shards.iterdir()):
            return False
        try:
            result = load(self.path)
        except ResultFileError:
            return False
        return result.protocol == self.header["protocol"] and not result.points \
            and not result.n_incomplete

    def _recover(self) -> None:
        survey = _survey(self.path, self.shards, self._run)  # raises for another run's files
        for tmp in self.shards.glob("*.tmp"):  # only once the shards are known to be this run's
            tmp.unlink()  # a point whose write was interrupted: recomputed
        _repair(survey)
        self._sealed = survey.sealed or bool(survey.rebuild)
        self._done = set(survey.sources)

    # -- public API
    def completed(self) -> set[str]:
        """Names of the points that are completely written."""
        return set(self._done)

    def write_point(self, name: str, attrs: dict, datasets: dict) -> None:
        """Write one point: first its own file in ``points/``, then into ``results.h5``.

        ``attrs`` must give the point's value on every grid axis.
        """
        if not name or "/" in name or name == "axes":
            raise ValueError(f"invalid point name {name!r}")
        if why := _axis_problem(attrs, self.axes):
            raise ValueError(f"point {name!r}: attrs {why}")
        if bad := [k for k in attrs if k in _INTEGRITY]:
            raise ValueError(f"point {name!r}: attribute names {bad} are reserved")
        shard = self.shards / f"{name}.h5"
        tmp = shard.with_suffix(".h5.tmp")
        with h5py.File(tmp, "w") as f:
            _start_file(f, self._run, created=False)  # a shard is a loadable one-point file
            group = f.create_group(name)
            for key, value in datasets.items():
                group.create_dataset(key, data=np.asarray(value),
                                     compression="gzip" if np.size(value) > 4096 else None)
            for key, value in attrs.items():
                group.attrs[key] = value
            digest = _point_digest(group)  # of what was stored, as it reads back
            group.attrs["checksum"] = np.bytes_(digest)  # fixed length: no 4 KiB heap block
            group.attrs["complete"] = True
            if self._shard_root is None:  # every shard has the same root: read it back once
                _seal_root(f)
                self._shard_root = f.attrs["checksum"]
            f.attrs["checksum"] = self._shard_root
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, shard)
        with h5py.File(shard, "r") as src, h5py.File(self.path, "a") as dst:
            _copy_point(src, name, dst, digest, verify=False, shard=shard)
        self._done.add(name)

    def finalize(self) -> Path:
        """Record the number of complete points; returns the path of ``results.h5``."""
        with h5py.File(self.path, "a") as f:
            f.attrs["n_complete"] = len(self._done)
            f.attrs["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if self._sealed:
                _seal_root(f)
        return self.path

    def discard_shards(self) -> None:
        """Remove ``points/`` (only the copies; ``results.h5`` keeps every point)."""
        shutil.rmtree(self.shards, ignore_errors=True)
