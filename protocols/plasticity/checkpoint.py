"""Checkpoints of a long plasticity run: the whole network at one time, to resume from.

With ``protocol.checkpoint_every`` > 0 a run on the runtime back-end is
simulated in segments of that much network time; after each segment but the
last, everything the rest of the run depends on is written to
``checkpoints/latest.h5`` in the run's folder:

* every state variable of every Brian2 object of the network (neurons,
  synapses and their spike queues, monitors with what they recorded so far,
  the objects Brian2 adds itself: state updaters, thresholds, resets,
  synaptic pathways), and every clock;
* the random state: numpy's generator and the buffer of random numbers that
  Brian2's Cython code draws from (its contents, not only its position), so
  that the resumed run draws exactly the numbers the uninterrupted one draws;
* the state of the protocol's own objects in the network (the
  :class:`~protocols.plasticity.selective.ActivityGate` of selective plasticity);
* a header: the run's config text, the sub-experiment, the back-end and the
  runtime code target, the network time reached, the checkpoint's number.

``--resume`` rebuilds the network from the config (the same seeds give the
same structure), refuses a checkpoint of another config, back-end or code
target, restores the state and simulates the rest: the result equals that of
the uninterrupted run bit for bit (tested).  Segments themselves change
nothing: a run with checkpoints equals one without.

Writes follow the suite's conventions (as :mod:`training.trainer` and
:class:`analysis.results.ResultWriter`): a checkpoint is written to
``latest.h5.tmp``, flushed to disk, then renamed over ``latest.h5`` (a kill
never leaves half a checkpoint); its header holds a SHA-256 of its content,
and a checkpoint that does not read cleanly or does not match its checksum is
refused with one line saying what to do (:class:`CheckpointError`), never
silently ignored or overwritten.  The file is removed once the run's
``results.h5`` is written.

Objects are matched between the interrupted and the resuming process by their
names with Brian2's numeric suffixes removed (``statemonitor_1`` ->
``statemonitor``): the suffixes depend on which objects a process happens to
hold, the names a protocol gives do not.

A stand-in for an interruption, for tests: with the environment variable
:data:`STOP_VARIABLE` set to ``N`` the run stops (as Ctrl+C does) right after
writing its ``N``-th checkpoint.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from protocols.config import UsageError

#: the checkpoint file, relative to the run's folder
CHECKPOINT_NAME = "checkpoints/latest.h5"
#: version of the file layout; a checkpoint of another version is refused
FORMAT_VERSION = 1
#: test aid: stop (KeyboardInterrupt) right after writing this many checkpoints
STOP_VARIABLE = "SNNSUITE_STOP_AFTER_CHECKPOINTS"


class CheckpointError(UsageError):
    """A checkpoint that cannot be used: damaged, of another run, or of another back-end."""


# ----------------------------------------------------------------------------- names
def canonical(name: str) -> str:
    """A Brian2 object's name without the numeric suffixes Brian2 adds to make it unique.

    >>> canonical("statemonitor_1"), canonical("hebb_units_stateupdater_3"), canonical("bcm_units")
    ('statemonitor', 'hebb_units_stateupdater', 'bcm_units')
    """
    return re.sub(r"_\d+(?=_|$)", "", name)


def _objects(net) -> dict:
    """``{canonical name: object}`` of every object of ``net`` that has a state, contained
    objects included; ``RuntimeError`` when two objects would share a name."""
    found, stack = {}, list(net.objects)
    while stack:
        obj = stack.pop()
        stack.extend(obj.contained_objects)
        if not hasattr(obj, "_full_state"):
            continue
        key = canonical(obj.name)
        if key in found and found[key] is not obj:
            raise RuntimeError(f"two objects of the network are both named {key!r} (up to "
                               "Brian2's numeric suffixes); name them explicitly")
        found[key] = obj
    return found


def _clocks(net) -> dict:
    found, stack = {}, list(net.objects)
    while stack:
        obj = stack.pop()
        stack.extend(obj.contained_objects)
        clock = obj.clock
        key = canonical(clock.name)
        if key in found and found[key] is not clock:
            raise RuntimeError(f"two clocks of the network are both named {key!r}")
        found[key] = clock
    return found


def _extras(net) -> dict:
    """The protocol's own objects with a state of theirs (``checkpoint_state``)."""
    return {canonical(obj.name): obj for obj in net.objects if hasattr(obj, "checkpoint_state")}


# ----------------------------------------------------------------------------- random state
def _buffer_size() -> int:
    from brian2.codegen.generators.cython_generator import _BUFFER_SIZE

    return int(_BUFFER_SIZE)


def _libc():
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def random_state() -> dict:
    """numpy's generator and the contents of Brian2's Cython random buffers.

    The runtime device keeps, for ``rand()`` and ``randn()``, a C buffer of
    numbers drawn from numpy ahead of use and the position of the next one;
    its own ``get_random_state`` gives the buffer's *address*, meaningless in
    another process, so the numbers not used yet are copied here.
    """
    import brian2 as b2

    device = b2.get_device()
    state = {"numpy": list(np.random.get_state())}
    for name in ("rand", "randn"):
        address = int(getattr(device, f"{name}_buffer")[0])
        position = int(getattr(device, f"{name}_buffer_index")[0])
        if address and position:
            values = np.ctypeslib.as_array((ctypes.c_double * _buffer_size()).from_address(address))
            values = values.copy()
        else:   # no buffer yet, or used up: the next number refills it from numpy
            values, position = np.zeros(0), 0
        state[name] = {"position": position, "values": values}
    return state


def set_random_state(state: dict) -> None:
    """Undo :func:`random_state`: a buffer with the saved numbers, at the saved position."""
    import brian2 as b2

    device = b2.get_device()
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((str(kind), np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss),
                         float(cached)))
    for name in ("rand", "randn"):
        saved = state[name]
        buffer = getattr(device, f"{name}_buffer")
        index = getattr(device, f"{name}_buffer_index")
        if saved["position"]:
            values = np.ascontiguousarray(saved["values"], dtype=np.float64)
            libc = _libc()
            address = libc.malloc(values.nbytes)  # Brian2's Cython code frees it with free()
            if not address:
                raise MemoryError("no memory for the random buffer of the checkpoint")
            ctypes.memmove(address, values.ctypes.data, values.nbytes)
            if int(buffer[0]):
                libc.free(int(buffer[0]))
            buffer[0] = address
        index[0] = int(saved["position"])


# ----------------------------------------------------------------------------- encoding
_SCALARS = {bool: "bool", int: "int", float: "float", str: "str"}


def _ragged(value) -> bool:
    """A list of lists of integers (the spike queue of Brian2's Cython target)."""
    return (type(value) is list and len(value) > 0
            and all(type(row) is list and all(type(x) is int for x in row) for row in value))


class _Hasher:
    """SHA-256 of the content in the order it is written (and read back)."""

    def __init__(self):
        self.sha = hashlib.sha256()

    def add(self, path: str, kind: str, payload: bytes = b"") -> None:
        for part in (path.encode(), kind.encode(), payload):
            self.sha.update(len(part).to_bytes(8, "little") + part)

    def hexdigest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


def _array_bytes(a: np.ndarray) -> bytes:
    return f"{a.dtype.str}{a.shape}".encode() + np.ascontiguousarray(a).tobytes()


def _put(group, name: str, value, hasher: _Hasher, path: str) -> None:
    import h5py

    if isinstance(value, dict):
        sub = group.create_group(name)
        sub.attrs["kind"], sub.attrs["n"] = "dict", len(value)
        hasher.add(path, "dict", str(len(value)).encode())
        for k, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"{path}: a key that is not a string: {key!r}")
            hasher.add(f"{path}/{k}", "key", key.encode())
            _put(sub, str(k), item, hasher, f"{path}/{k}")
            sub[str(k)].attrs["key"] = key
    elif _ragged(value):
        sub = group.create_group(name)
        sub.attrs["kind"] = "ragged"
        lengths = np.array([len(row) for row in value], dtype=np.int64)
        flat = np.array([x for row in value for x in row], dtype=np.int64)
        sub.create_dataset("lengths", data=lengths)
        sub.create_dataset("flat", data=flat)
        hasher.add(path, "ragged", _array_bytes(lengths) + _array_bytes(flat))
    elif isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        sub = group.create_group(name)
        sub.attrs["kind"], sub.attrs["n"] = kind, len(value)
        hasher.add(path, kind, str(len(value)).encode())
        for k, item in enumerate(value):
            _put(sub, str(k), item, hasher, f"{path}/{k}")
    elif value is None:
        group.create_dataset(name, data=h5py.Empty("f8"))
        group[name].attrs["kind"] = "none"
        hasher.add(path, "none")
    elif type(value) in _SCALARS:
        kind = _SCALARS[type(value)]
        data = value if kind != "str" else np.bytes_(value.encode())
        group.create_dataset(name, data=data)
        group[name].attrs["kind"] = kind
        hasher.add(path, kind, repr(value).encode())
    elif isinstance(value, (np.ndarray, np.generic)):
        kind = "array" if isinstance(value, np.ndarray) else "npscalar"
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"{path}: cannot store an array of dtype {array.dtype}")
        group.create_dataset(name, data=array)
        group[name].attrs["kind"] = kind
        hasher.add(path, kind, _array_bytes(array))
    else:
        raise TypeError(f"{path}: cannot store a {type(value).__name__} in a checkpoint")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _get(node, hasher: _Hasher, path: str):
    kind = _text(node.attrs["kind"])
    if kind == "dict":
        n = int(node.attrs["n"])
        hasher.add(path, "dict", str(n).encode())
        out = {}
        for k in range(n):
            child = node[str(k)]
            key = _text(child.attrs["key"])
            hasher.add(f"{path}/{k}", "key", key.encode())
            out[key] = _get(child, hasher, f"{path}/{k}")
        return out
    if kind == "ragged":
        lengths, flat = np.asarray(node["lengths"][()]), np.asarray(node["flat"][()])
        hasher.add(path, "ragged", _array_bytes(lengths) + _array_bytes(flat))
        if lengths.sum() != flat.size or (lengths < 0).any():
            raise ValueError(f"{path}: ragged lengths do not add up")
        return [row.tolist() for row in np.split(flat, np.cumsum(lengths)[:-1])]
    if kind in ("list", "tuple"):
        n = int(node.attrs["n"])
        hasher.add(path, kind, str(n).encode())
        items = [_get(node[str(k)], hasher, f"{path}/{k}") for k in range(n)]
        return items if kind == "list" else tuple(items)
    if kind == "none":
        hasher.add(path, "none")
        return None
    if kind in ("bool", "int", "float", "str"):
        raw = node[()]
        value = {"bool": lambda v: bool(v), "int": lambda v: int(v), "float": lambda v: float(v),
                 "str": lambda v: _text(v)}[kind](raw)
        hasher.add(path, kind, repr(value).encode())
        return value
    if kind in ("array", "npscalar"):
        array = np.asarray(node[()])
        hasher.add(path, kind, _array_bytes(array))
        return array if kind == "array" else array[()]
    raise ValueError(f"{path}: unknown kind {kind!r}")


# ----------------------------------------------------------------------------- save and load
def network_state(net) -> dict:
    """Everything the rest of a run depends on (see the module docstring), as plain data."""
    import brian2 as b2

    for clock in _clocks(net).values():
        clock._set_t_update_dt(target_t=net.t)   # as Network.store does: clocks up to date
    return {"objects": {key: obj._full_state() for key, obj in sorted(_objects(net).items())},
            "clocks": {key: clock._full_state() for key, clock in sorted(_clocks(net).items())},
            "extras": {key: obj.checkpoint_state() for key, obj in sorted(_extras(net).items())},
            "random": random_state(),
            "t_s": float(net.t_), "dt_s": float(b2.defaultclock.dt_)}


def save(path, net, header: dict) -> Path:
    """Write the network's state and ``header`` to ``path`` atomically; returns ``path``."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    hasher = _Hasher()
    state = network_state(net)
    with h5py.File(tmp, "w") as f:
        for key, value in header.items():
            f.attrs[key] = value
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["written"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        hasher.add("header", "json", json.dumps({k: _plain(v) for k, v in sorted(header.items())},
                                                sort_keys=True).encode())
        _put(f, "state", state, hasher, "state")
        f.attrs["checksum"] = hasher.hexdigest()
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def _plain(value):
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def load(path) -> tuple[dict, dict]:
    """``(header, state)`` of a checkpoint; :class:`CheckpointError` when it is damaged."""
    import h5py

    path = Path(path)
    fix = (f"delete {path} (and run again with --resume, which then starts from the "
           "beginning) or put back an intact copy")
    try:
        with h5py.File(path, "r") as f:
            attrs = {key: _plain(f.attrs[key]) for key in f.attrs}
            version = attrs.pop("format_version", None)
            if version != FORMAT_VERSION:
                raise CheckpointError(f"{path}: not a plasticity checkpoint of this version "
                                      f"(format {version!r}, expected {FORMAT_VERSION}); {fix}")
            stored = attrs.pop("checksum", None)
            attrs.pop("written", None)
            hasher = _Hasher()
            hasher.add("header", "json", json.dumps(dict(sorted(attrs.items())),
                                                    sort_keys=True).encode())
            state = _get(f["state"], hasher, "state")
    except CheckpointError:
        raise
    except Exception as exc:  # h5py and numpy raise many types for a damaged file
        raise CheckpointError(f"{path}: damaged checkpoint, it does not read cleanly "
                              f"({type(exc).__name__}: {exc}); {fix}") from None
    if stored != hasher.hexdigest():
        raise CheckpointError(f"{path}: damaged checkpoint, its content does not match its "
                              f"checksum; {fix}")
    return attrs, state


def restore(net, state: dict, source) -> None:
    """Put a saved state into a network built from the same config; ``CheckpointError``
    naming what differs when the network is not the one the checkpoint was taken of."""
    import brian2 as b2

    objects, clocks, extras = _objects(net), _clocks(net), _extras(net)
    for what, mine, saved in (("objects", objects, state["objects"]),
                              ("clocks", clocks, state["clocks"]),
                              ("protocol objects", extras, state["extras"])):
        if set(mine) != set(saved):
            extra = sorted(set(saved) - set(mine))[:3]
            missing = sorted(set(mine) - set(saved))[:3]
            raise CheckpointError(f"{source}: the network built from this config is not the one "
                                  f"the checkpoint holds ({what} only in the checkpoint: "
                                  f"{extra or 'none'}; only in this network: "
                                  f"{missing or 'none'}); resume with the run's own config")
    if abs(float(b2.defaultclock.dt_) - state["dt_s"]) > 1e-15:
        raise CheckpointError(f"{source}: the checkpoint was taken with protocol.dt = "
                              f"{state['dt_s']:g} s, this run has {float(b2.defaultclock.dt_):g} s")
    for key, obj in objects.items():
        saved = state["objects"][key]
        unknown = sorted(set(saved) - set(obj.variables) - {"_spikequeue", "_previous_dt",
                                                           "_spikes_changed"})
        if unknown:
            raise CheckpointError(f"{source}: object {key!r} of the checkpoint has variables "
                                  f"{unknown} that this network's lacks; resume with the run's "
                                  "own config")
        obj._restore_from_full_state(saved)
    for key, clock in clocks.items():
        clock._restore_from_full_state(state["clocks"][key])
    for key, obj in extras.items():
        obj.restore_state(state["extras"][key])
    net.t_ = state["t_s"]
    set_random_state(state["random"])


# ----------------------------------------------------------------------------- the runner
def runtime_target() -> str:
    """The code target Brian2's runtime device uses now (``cython`` or ``numpy``)."""
    import brian2 as b2

    return str(b2.prefs.codegen.target)


class SegmentedRun:
    """A back-end (see :mod:`models.devices`) that runs a network in segments and writes
    a checkpoint after each; with ``resume_from`` it first restores a checkpoint.

    ``every_s`` is the segment length (network time, seconds); ``header`` the
    checkpoint's header (config text, kind, back-end, code target).  Used by
    :func:`protocols.plasticity.run` around a sub-experiment's ``run``, which
    calls :meth:`run` once with its network and duration, as it would call the
    back-end's.
    """

    def __init__(self, device, path, *, every_s: float, header: dict, resume_from=None,
                 say=print):
        self.device = device
        self.name = device.name
        self.path = Path(path)
        self.every_s = float(every_s)
        self.header = dict(header)
        self.resume_from = resume_from   # (header, state) of the checkpoint, or None
        self.say = say
        self.written = 0

    def __getattr__(self, item):   # everything else as the back-end has it
        return getattr(self.device, item)

    def run(self, net, duration) -> None:
        from brian2 import second

        stop_s = float(duration)
        if self.resume_from is not None:
            header, state = self.resume_from
            restore(net, state, self.path)
            self.written = int(header["n_checkpoints"])
            self.say(f"snnsuite: resuming from the checkpoint at t = {state['t_s']:g} s "
                     f"(of {stop_s:g} s)")
        stop_after = int(os.environ.get(STOP_VARIABLE, "0") or 0)
        while True:
            now = float(net.t_)
            # segment ends on the grid k * every_s, so an interrupted run and a resumed
            # one stop at the same times
            k = int(np.floor(now / self.every_s + 1e-9)) + 1
            end = min(k * self.every_s, stop_s)
            if end <= now + 1e-12:
                return
            net.run((end - now) * second, namespace={})
            if end >= stop_s - 1e-12:
                return
            self.written += 1
            save(self.path, net, {**self.header, "t_s": float(net.t_),
                                  "n_checkpoints": self.written})
            if stop_after and self.written >= stop_after:
                raise KeyboardInterrupt(f"{STOP_VARIABLE}={stop_after}: stopped after "
                                        f"checkpoint {self.written}")
