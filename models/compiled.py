"""Compile once, run many: one ``cpp_standalone`` binary, new values every run.

Brian2's ``cpp_standalone`` device generates a C++ project whose parameter
values, random seed and run length are all compiled in, so a sweep recompiles
for every point (20-40 s each).  The binary can, however, take new values of
state variables on its command line (Brian2's "run_args"; here 2.8.0):
``./main --results_dir DIR neurons.v_th=FILE recurrent.w=-0.0005`` sets each
variable from a binary file of its full length, or every element to one
number, just before the network runs (``set_variable_by_name`` in the
generated ``objects.cpp``).  This module builds such a project once and runs
its binary many times without the Brian2 objects in the calling process::

    compiled = CompiledNetwork.build("build/lif", make_network, 500 * ms)
    result = compiled.run({"neurons.v_th": thresholds, "recurrent.w": 0.5 * mV},
                          seed=3, results_dir="runs/point_7")
    indices, times_s = result.spikes("spikes")

and, in another process that has only the build folder::

    compiled = CompiledNetwork.load("build/lif")

The build adds three things to the generated ``main``:

1. **The values are set before the network prepares its run.**
   ``set_from_command_line`` is placed right after ``build_fn``'s own
   initialisations.  Brian2 puts it after the synapses' spike queues are
   prepared, so that a ``delay`` given on the command line is written back
   as given but never reaches the queue: the spikes are those of the compiled
   delays.
2. **A run-time seed.**  Brian2 compiles ``b2.seed(s)`` into ``main`` as
   ``brian::_random_generators[_i].seed(sL + _i)`` for every thread.  The
   build inserts, at the start of ``main`` and after every compiled seed call,
   code that reseeds the same generators the same way from ``$SNNSUITE_SEED``
   when it is set, so a run with ``seed=s`` draws exactly the numbers of a
   build compiled with ``b2.seed(s)``.
3. **A stop before the network runs** (``$SNNSUITE_STOP_BEFORE_RUN``): the
   binary writes every array as it is just before the run and exits
   (:meth:`CompiledNetwork.initial_state`): the synapses a seed makes, and
   what the command line set.

Guards against Brian2's silent failures: a value file of the wrong length
makes the binary print an error and *keep the old values*; so the lengths are
checked against the manifest before running, the binary's output is searched
for its read errors, and the final values it writes to ``results/`` are read
back and compared (exactly, for ``(constant)`` and read-only variables).

Files of a build folder (the worker needs nothing else)::

    main, static_arrays/      the binary and the data it loads at start
    snnsuite_compiled.json    the manifest: every settable variable (name, size,
                              dtype, unit), every static array that can be
                              replaced per run, every array the binary writes
    runs/                     results of runs given no results_dir

and of one run (``results_dir``; concurrent runs never share a file)::

    values/                   the value files of this run's command line
    static_arrays/            the build's static arrays (a link), or a copy of
                              links with this run's replacements
    results/                  what the binary wrote
    stdout.txt, stderr.txt, run.json (the command line, the seed, the time)

What cannot change per run: the sizes of groups, the number of synapses
(per-synapse values and replaced connectivity must keep it), the time step
and duration, equations, and every name resolved from a ``namespace`` (those
are literals in the C++ code: declare a parameter ``(constant, shared)`` to
make it settable), nor randomness drawn in Python at build time.

Reference: M. Stimberg, R. Brette, D. F. M. Goodman (2019) "Brian 2, an
intuitive and efficient neural simulator", eLife 8:e47314,
doi:10.7554/eLife.47314; the command-line mechanism is Brian2's
``run_args`` (``CPPStandaloneDevice.run`` and the ``main.cpp`` and
``objects.cpp`` templates of Brian2 2.8.0).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

#: name of the manifest in a build folder
MANIFEST = "snnsuite_compiled.json"
FORMAT = 1
#: environment variable that reseeds the binary's random generators
SEED_VARIABLE = "SNNSUITE_SEED"
#: environment variable that makes the binary stop (and write its arrays) before the run
STOP_VARIABLE = "SNNSUITE_STOP_BEFORE_RUN"
#: largest seed + 1: ``std::mt19937::seed`` takes 32 bits
SEED_LIMIT = 2**32

#: lines of the binary's output that mean a value or file was not used
_BINARY_ERRORS = ("Error reading '", "Could not read '", "Error opening static array",
                  "Cannot set unknown variable", "Error writing output file")

_RESEED_CODE = f"""
// snnsuite (models/compiled.py): the run-time seed, exactly as b2.seed compiles it
{{
    const char* _snnsuite_seed_text = getenv("{SEED_VARIABLE}");
    if (_snnsuite_seed_text != NULL && _snnsuite_seed_text[0] != '\\0')
    {{
        char* _snnsuite_seed_end;
        const unsigned long _snnsuite_seed = strtoul(_snnsuite_seed_text, &_snnsuite_seed_end, 10);
        if (*_snnsuite_seed_end != '\\0')
        {{
            std::cerr << "snnsuite: {SEED_VARIABLE}='" << _snnsuite_seed_text
                      << "' is not a whole number" << std::endl;
            exit(2);
        }}
        for (size_t _i=0; _i<brian::_random_generators.size(); _i++)
            brian::_random_generators[_i].seed(_snnsuite_seed + _i);
    }}
}}
"""

_STOP_CODE = f"""
// snnsuite (models/compiled.py): write every array as it is before the run, and stop
if (getenv("{STOP_VARIABLE}") != NULL)
{{
    brian_end();
    return 0;
}}
"""


class CompiledRunError(RuntimeError):
    """The binary failed, or reported that it could not use a value or a file."""


class ReadBackError(CompiledRunError):
    """The values the binary wrote at the end differ from the values it was given."""


# ----------------------------------------------------------------------------- build
def _key(owner_name: str, var_name: str, taken: Mapping) -> str:
    """``owner.var``, with ``#2``, ``#3``... when an owner has two arrays of one name
    (two ``connect(i=..., j=...)`` calls on one Synapses)."""
    key, n = f"{owner_name}.{var_name}", 1
    while key in taken:
        n += 1
        key = f"{owner_name}.{var_name}#{n}"
    return key


def _unit(dim) -> dict:
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_unit

    dims = [float(d) for d in dim._dims]
    return {"dimensions": dims, "unit": "1" if dim is DIMENSIONLESS else str(get_unit(dim))}


def _describe(device, net, duration) -> dict:
    """The manifest of a built (not yet reset) cpp_standalone device."""
    from brian2 import Synapses, __version__, prefs
    from brian2.core.variables import DynamicArrayVariable

    arrays, settable, static = {}, {}, {}
    key_of = {}                                 # variable -> its manifest key
    for var, array_name in sorted(device.arrays.items(), key=lambda item: item[1]):
        owner = getattr(var.owner, "name", None)
        if owner is None:
            continue
        key = _key(owner, var.name, arrays)
        key_of[var] = key
        dynamic = isinstance(var, DynamicArrayVariable)
        two_d = var in device.dynamic_arrays_2d
        entry = {"file": device.get_array_filename(var), "dtype": np.dtype(var.dtype).name,
                 "dynamic": dynamic, "constant": bool(var.constant),
                 "read_only": bool(var.read_only), **_unit(var.dim)}
        if two_d:
            entry["columns"] = int(var.size[1])     # rows grow during the run
        elif not dynamic:
            entry["size"] = int(var.size)
        arrays[key] = entry
        # the names set_variable_by_name knows: not read-only, not 2-d, not internal
        if not var.read_only and not two_d and not var.name.startswith("_") \
                and "#" not in key:
            settable[key] = {k: entry[k] for k in ("file", "dtype", "dynamic", "constant",
                                                   "dimensions", "unit")}
            settable[key]["size"] = entry.get("size")
    for timed, name in device.timed_arrays.items():
        values = np.asarray(timed.values)
        settable[f"{name}.values"] = {"file": None, "dtype": np.dtype(values.dtype).name,
                                      "dynamic": False, "constant": True,
                                      "size": int(values.size), "shape": list(values.shape),
                                      **_unit(timed.dim)}

    # whole-variable initialisations from files: replaceable per run (same length)
    by_array_name = {name: var for var, name in device.arrays.items()}
    by_array_name.update({name: var for var, name in device.dynamic_arrays.items()})
    for kind, args in device.main_queue:
        if kind != "set_by_array":
            continue
        array_name, static_name, _ = args
        var = by_array_name.get(array_name)
        if var is None or var not in key_of:
            continue
        data = device.static_arrays[static_name]
        entry = {"file": static_name, "dtype": np.dtype(data.dtype).name,
                 "size": int(data.size), "variable": key_of[var]}
        owner = var.owner
        if isinstance(owner, Synapses) and var.name in ("sources", "targets"):
            # indices into the (sub)group: the C++ code does not check them
            group = owner.source if var.name == "sources" else owner.target
            entry["max_exclusive"] = int(len(group))
        static[_key(owner.name, var.name, static)] = entry

    environment = {**prefs["devices.cpp_standalone.run_environment_variables"],
                   **device.run_environment_variables}
    environment = {str(k): str(v) for k, v in environment.items()}
    synapses = sorted(obj.name for obj in net.objects if isinstance(obj, Synapses))
    return {"format": FORMAT, "brian2": __version__, "binary": "main",
            "duration_s": float(duration),
            "dt_s": sorted({float(obj.clock.dt_) for obj in net.objects
                            if hasattr(obj, "clock")}),
            "compiled_seeds": [args for kind, args in device.main_queue if kind == "seed"],
            "seed_variable": SEED_VARIABLE, "stop_variable": STOP_VARIABLE,
            "environment": environment,
            "synapses": synapses, "settable": settable, "static": static, "arrays": arrays}


def _insert_reseeds(device) -> None:
    """Reseed from ``$SNNSUITE_SEED`` at the start of ``main`` and after every compiled
    ``b2.seed`` call, so the run seed stands wherever a compiled seed would."""
    queue = [("insert_code", _RESEED_CODE)]
    for entry in device.main_queue:
        queue.append(entry)
        if entry[0] == "seed":
            queue.append(("insert_code", _RESEED_CODE))
    device.main_queue[:] = queue


# ----------------------------------------------------------------------------- values
def _dimension(spec: dict):
    from brian2.units.fundamentalunits import get_or_create_dimension

    return get_or_create_dimension(spec["dimensions"])


def _as_array(name: str, spec: dict, value) -> np.ndarray:
    """``value`` (a number, an array or a Brian2 quantity) as an array of the variable's
    dtype in SI units; a quantity must carry the variable's dimensions, a plain number
    only fits a dimensionless variable (as in Brian2)."""
    from brian2.units.fundamentalunits import get_dimensions

    expected = _dimension(spec)
    given = get_dimensions(value)
    if given is not expected:
        raise ValueError(f"{name}: value has dimensions {given}, expected {spec['unit']} "
                         f"(give a Brian2 quantity, e.g. values * b2.mV)")
    raw = np.asarray(value)
    dtype = np.dtype(spec["dtype"])
    if dtype.kind in "iub" and raw.dtype.kind not in "iub":
        if not np.all(np.isfinite(raw)) or not np.array_equal(raw, np.round(raw)):
            raise ValueError(f"{name}: {dtype.name} variable given non-whole values")
    return np.asarray(raw, dtype=dtype)


def _check_size(name: str, spec: dict, array: np.ndarray, size) -> None:
    if array.size == 1:
        return                                   # one value for every element
    if "shape" in spec:                          # a TimedArray's values
        if list(array.shape) != spec["shape"]:
            raise ValueError(f"{name}: given shape {array.shape}, expected "
                             f"{tuple(spec['shape'])}")
        return
    if array.ndim != 1:
        raise ValueError(f"{name}: values must be one value or a 1-D array, got shape "
                         f"{array.shape}")
    if size is not None and array.size != size:
        raise ValueError(f"{name}: given {array.size} values, expected {size} (the "
                         f"binary would keep its old values without telling)")


def _check_static(name: str, spec: dict, value) -> np.ndarray:
    raw = np.asarray(value)
    dtype = np.dtype(spec["dtype"])
    if dtype.kind in "iu" and raw.dtype.kind not in "iu":
        if raw.size and (not np.all(np.isfinite(raw)) or not np.array_equal(raw, np.round(raw))):
            raise ValueError(f"static {name}: {dtype.name} array given non-whole values")
    array = np.asarray(raw, dtype=dtype)
    if array.ndim != 1 or array.size != spec["size"]:
        raise ValueError(f"static {name}: given {array.size} values (shape {array.shape}), "
                         f"expected {spec['size']}: the length is compiled in")
    bound = spec.get("max_exclusive")
    if bound is not None and array.size and (array.min() < 0 or array.max() >= bound):
        raise ValueError(f"static {name}: indices must lie in 0..{bound - 1}, got "
                         f"{array.min()}..{array.max()}")
    return array


def _seed_text(seed) -> str | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= int(seed) < SEED_LIMIT:
        raise ValueError(f"seed must be a whole number in 0..{SEED_LIMIT - 1} or None, "
                         f"got {seed!r}")
    return str(int(seed))


def _write_array(array: np.ndarray, path: Path) -> None:
    """The raw binary file ``set_variable_from_file`` and ``_load_arrays`` read."""
    np.ascontiguousarray(array).tofile(path)


# ----------------------------------------------------------------------------- results
class RunResult:
    """What one run of the binary wrote: ``results/`` of its run folder.

    ``array(name)`` reads any array of the manifest (``"spikes.t"``) as a numpy array
    in SI units (the unit is ``manifest["arrays"][name]["unit"]``).
    """

    def __init__(self, directory: Path, manifest: dict, *, seed: int | None,
                 stopped_before_run: bool, wall_s: float):
        self.directory = Path(directory)
        self.results = self.directory / "results"
        self.manifest = manifest
        self.seed = seed
        self.stopped_before_run = stopped_before_run
        self.wall_s = wall_s

    def __repr__(self) -> str:
        return (f"RunResult({str(self.directory)!r}, seed={self.seed}, "
                f"wall_s={self.wall_s:.2f})")

    def array(self, name: str) -> np.ndarray:
        """The final values of array ``name`` (``owner.variable``), SI units."""
        spec = self.manifest["arrays"].get(name)
        if spec is None:
            raise KeyError(f"no array {name!r} in this build; known: "
                           f"{', '.join(sorted(self.manifest['arrays']))}")
        data = np.fromfile(self.results / spec["file"], dtype=np.dtype(spec["dtype"]))
        if "columns" in spec:
            return data.reshape(-1, spec["columns"]) if spec["columns"] else data.reshape(0, 0)
        return data

    def spikes(self, monitor: str) -> tuple[np.ndarray, np.ndarray]:
        """Indices and times (s) of a SpikeMonitor named ``monitor``."""
        return self.array(f"{monitor}.i"), self.array(f"{monitor}.t")

    def verify(self, values: Mapping | None = None, static: Mapping | None = None) -> None:
        """Check that the binary used ``values`` and ``static`` (as given to the run).

        Reads back the final values the binary wrote: the length of every variable
        given an array, and for ``(constant)`` variables and replaced static arrays
        of read-only variables every element, exactly.  Raises :class:`ReadBackError`.
        Variables that change during the run, and TimedArray values (not written
        back), are checked by length only (or not at all).
        """
        settable = self.manifest["settable"]
        for name, value in (values or {}).items():
            spec = settable[name]
            if spec["file"] is None:
                continue                     # TimedArray values are not written back
            given = _as_array(name, spec, value)
            found = self.array(name)
            if given.size != 1 and found.size != given.size:
                raise ReadBackError(f"{name}: the binary ran with {found.size} values, "
                                    f"{given.size} were given")
            if not (spec["constant"] or self.stopped_before_run):
                continue                     # changed by the run: length only
            _compare(name, np.broadcast_to(given, found.shape), found)
        if static:
            varied = set(values or ())
            counts = {}
            for spec in self.manifest["static"].values():
                counts[spec["variable"]] = counts.get(spec["variable"], 0) + 1
            for name, value in static.items():
                spec = self.manifest["static"][name]
                variable = spec["variable"]
                target = self.manifest["arrays"][variable]
                if (target["read_only"] or target["constant"]) and counts[variable] == 1 \
                        and variable not in varied:
                    _compare(f"static {name}", np.asarray(value, dtype=spec["dtype"]),
                             self.array(variable))


def _compare(name: str, expected: np.ndarray, found: np.ndarray) -> None:
    if expected.shape != found.shape:
        raise ReadBackError(f"{name}: the binary wrote {found.size} values, "
                            f"{expected.size} were given")
    same = (expected == found) | (np.isnan(expected) & np.isnan(found)) \
        if expected.dtype.kind == "f" else expected == found
    if not np.all(same):
        bad = np.flatnonzero(~np.asarray(same))
        raise ReadBackError(f"{name}: the binary used other values than given at "
                            f"{bad.size} of {found.size} elements (first: element "
                            f"{bad[0]}, given {expected.flat[bad[0]]!r}, used "
                            f"{found.flat[bad[0]]!r})")


# ----------------------------------------------------------------------------- network
class CompiledNetwork:
    """A compiled cpp_standalone project that runs many times with new values.

    Build with :meth:`build` (needs the Brian2 objects), open an existing build
    folder with :meth:`load` (needs only the folder).  :attr:`settable` lists the
    variables :meth:`run` accepts, :attr:`static` the static arrays it can replace.
    """

    def __init__(self, directory: str | Path, manifest: dict):
        self.directory = Path(directory).resolve()
        self.manifest = manifest
        self.binary = self.directory / manifest["binary"]

    def __repr__(self) -> str:
        return (f"CompiledNetwork({str(self.directory)!r}, {len(self.settable)} settable, "
                f"{len(self.static)} static, {self.manifest['duration_s']} s)")

    @property
    def settable(self) -> dict:
        """``name -> {size, dtype, unit, dynamic, constant}`` of every variable that
        :meth:`run` can set (``size`` is ``None`` when it depends on the seed)."""
        return self.manifest["settable"]

    @property
    def static(self) -> dict:
        """``name -> {size, dtype, variable}`` of the static arrays :meth:`run` can
        replace (e.g. ``recurrent.sources``, ``recurrent.targets`` of
        ``connect(i=..., j=...)``): same length, new contents."""
        return self.manifest["static"]

    # --------------------------------------------------------------------- build / load
    @classmethod
    def build(cls, directory: str | Path, build_fn: Callable, duration, *,
              probe_seeds: tuple[int, int] = (0, 1)) -> "CompiledNetwork":
        """Generate and compile the network that ``build_fn()`` returns, run nothing.

        Parameters
        ----------
        directory : path
            The build folder (created; an earlier build there is reused by make).
        build_fn : callable
            ``build_fn() -> brian2.Network``: creates the objects and their default
            values (``b2.seed`` calls included), inside the cpp back-end; it must not
            run the network.  Values set here are what a run without ``values`` uses.
        duration : Quantity
            How long every run lasts (compiled in).
        probe_seeds : two seeds
            The binary is started twice before the network runs, with these seeds, to
            learn the number of synapses and whether it depends on the seed.
        """
        import brian2 as b2

        from models import devices

        directory = Path(directory).resolve()
        (directory / MANIFEST).unlink(missing_ok=True)
        with devices.backend("cpp", directory=directory, build_only=True) as dev:
            device = b2.get_device()
            net = build_fn()
            if not isinstance(net, b2.Network):
                raise TypeError(f"build_fn must return a brian2.Network, got "
                                f"{type(net).__name__}")
            if device.run_args_applied or device.networks:
                raise ValueError("build_fn must build the network, not run it: the "
                                 "compiled run is the one CompiledNetwork.build starts")
            device.apply_run_args()             # run values: after build_fn's own
            device.insert_code("main", _STOP_CODE)
            _insert_reseeds(device)
            dev.run(net, duration)
            manifest = _describe(device, net, duration)
        compiled = cls(directory, manifest)
        if not compiled.binary.is_file():
            raise CompiledRunError(f"no binary {compiled.binary} after the build")
        compiled._probe_sizes(probe_seeds)
        path = directory / MANIFEST
        path.with_suffix(".tmp").write_text(json.dumps(manifest, indent=1))
        path.with_suffix(".tmp").replace(path)
        return compiled

    @classmethod
    def load(cls, directory: str | Path) -> "CompiledNetwork":
        """Open a build folder made by :meth:`build` (no Brian2 objects needed)."""
        directory = Path(directory)
        path = directory / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not a CompiledNetwork build folder (no "
                                    f"{MANIFEST})")
        manifest = json.loads(path.read_text())
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{path}: format {manifest.get('format')!r}, this code reads "
                             f"{FORMAT}")
        compiled = cls(directory, manifest)
        if not compiled.binary.is_file():
            raise FileNotFoundError(f"{compiled.binary}: the build folder has no binary")
        return compiled

    def _probe_sizes(self, seeds) -> None:
        """Fill in the size of every settable per-synapse (dynamic) variable, ``None``
        where the synapses depend on the seed."""
        dynamic = [name for name, spec in self.settable.items() if spec["dynamic"]]
        if not dynamic:
            return
        first = self._probe(seeds[0])
        try:
            second = self._probe(seeds[1])
        except BaseException:
            shutil.rmtree(first.directory.parent, ignore_errors=True)
            raise
        try:
            rewired = {syn for syn in self.manifest["synapses"]
                       for index in ("_synaptic_pre", "_synaptic_post")
                       if f"{syn}.{index}" in self.manifest["arrays"] and not np.array_equal(
                           first.array(f"{syn}.{index}"), second.array(f"{syn}.{index}"))}
            for name in dynamic:
                sizes = {first.array(name).size, second.array(name).size}
                spec = self.settable[name]
                spec["size_depends_on_seed"] = name.split(".")[0] in rewired or len(sizes) > 1
                spec["size"] = None if spec["size_depends_on_seed"] else sizes.pop()
        finally:
            shutil.rmtree(first.directory.parent, ignore_errors=True)
            shutil.rmtree(second.directory.parent, ignore_errors=True)

    def _probe(self, seed, static=None) -> RunResult:
        folder = Path(tempfile.mkdtemp(prefix="snnsuite_probe_"))
        return self.initial_state(seed=seed, static=static, results_dir=folder / "run")

    # --------------------------------------------------------------------- run
    def run(self, values: Mapping | None = None, *, seed: int | None = None,
            static: Mapping | None = None, results_dir: str | Path | None = None,
            timeout_s: float | None = None) -> RunResult:
        """Run the binary once with new values and return what it recorded.

        Parameters
        ----------
        values : mapping ``name -> value``
            Settable variables (:attr:`settable`): one value for all elements or an
            array of the variable's full length; Brian2 quantities for variables with
            units.  Set just before the network runs, after ``build_fn``'s
            initialisations.  Unnamed variables keep the compiled values.
        seed : int in 0..2**32-1, optional
            Reseeds Brian2's random generators as ``b2.seed(seed)`` would have
            (at the start and at every compiled seed call); ``None`` keeps the
            compiled seed.
        static : mapping ``name -> array``
            Replacements of static arrays (:attr:`static`), same length: e.g. the
            ``recurrent.sources`` and ``recurrent.targets`` of ``connect(i=, j=)``.
        results_dir : path, optional
            The run's own folder (must be new or empty); default a new folder under
            the build's ``runs/``.
        timeout_s : float, optional
            Kill the binary after this many seconds.

        Raises ``ValueError`` before running for unknown names, wrong units or
        lengths; :class:`CompiledRunError` when the binary fails or reports a
        value it could not use; :class:`ReadBackError` when what it used differs.
        """
        result = self._execute(values, seed, static, results_dir, timeout_s, stop=False)
        result.verify(values, static)
        return result

    def initial_state(self, values: Mapping | None = None, *, seed: int | None = None,
                      static: Mapping | None = None,
                      results_dir: str | Path | None = None) -> RunResult:
        """Start the binary as :meth:`run` does but stop just before the network
        runs: the arrays of the result hold the state the run would start from (the
        synapses a seed makes, the values set from ``values``)."""
        return self._execute(values, seed, static, results_dir, None, stop=True)

    def _values(self, values: Mapping | None, seed, static) -> tuple[dict, dict]:
        """Check every value and static array against the manifest (nothing runs):
        ``(name -> array, static name -> array)``."""
        prepared = {}
        settable = self.settable
        for name, value in (values or {}).items():
            spec = settable.get(name)
            if spec is None:
                known = self.manifest["arrays"].get(name)
                why = "it is read-only or internal" if known else "there is no such variable"
                raise ValueError(f"cannot set {name!r}: {why}; settable: "
                                 f"{', '.join(sorted(settable))}")
            prepared[name] = _as_array(name, spec, value)
        unknown = sorted(set(static or ()) - set(self.static))
        if unknown:
            raise ValueError(f"cannot replace static array(s) {', '.join(unknown)}; "
                             f"replaceable: {', '.join(sorted(self.static)) or 'none'}")
        static_arrays = {name: _check_static(name, self.static[name], value)
                         for name, value in (static or {}).items()}
        seed_dependent = [name for name, array in prepared.items()
                          if settable[name].get("size_depends_on_seed") and array.size != 1]
        sizes = {}
        if seed_dependent and (seed is not None or self.manifest["compiled_seeds"]):
            probe = self._probe(seed, static=static)       # the synapses of this seed
            try:
                sizes = {name: probe.array(name).size for name in seed_dependent}
            finally:
                shutil.rmtree(probe.directory.parent, ignore_errors=True)
        for name, array in prepared.items():
            _check_size(name, settable[name], array, sizes.get(name, settable[name]["size"]))
            if array.size == 1 and not np.isfinite(array).all() and \
                    settable[name]["size"] is None:
                raise ValueError(f"{name}: a non-finite value is written as a file of the "
                                 "variable's length, which depends on the seed here")
        return prepared, static_arrays

    def _run_folder(self, results_dir) -> Path:
        if results_dir is None:
            runs = self.directory / "runs"
            runs.mkdir(exist_ok=True)
            return Path(tempfile.mkdtemp(prefix="run_", dir=runs))
        folder = Path(results_dir).resolve()
        if folder.exists() and any(folder.iterdir()):
            raise ValueError(f"results_dir {folder} is not empty: every run needs a "
                             "folder of its own")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _execute(self, values, seed, static, results_dir, timeout_s, *, stop) -> RunResult:
        seed_text = _seed_text(seed)
        prepared, static_arrays = self._values(values, seed, static)
        folder = self._run_folder(results_dir)
        (folder / "results").mkdir()
        (folder / "values").mkdir()

        # the command line: numbers inline, arrays as files of this run
        arguments = []
        for name, array in prepared.items():
            spec = self.settable[name]
            if array.size == 1 and np.isfinite(array).all():
                text = repr(array.reshape(-1)[0].item())
            else:                             # arrays, and inf/nan (not parsed as numbers)
                if array.size == 1:
                    array = np.full(spec["size"], array.reshape(-1)[0], dtype=array.dtype)
                path = folder / "values" / f"{name.replace('#', '_')}.dat"
                _write_array(array, path)
                text = str(path)
            arguments.append(f"{name}={text}")

        # the static arrays: the build's, or this run's copy of links with replacements
        build_static = self.directory / "static_arrays"
        if static_arrays:
            (folder / "static_arrays").mkdir()
            for source in build_static.iterdir():
                (folder / "static_arrays" / source.name).symlink_to(source)
            for name, array in static_arrays.items():
                target = folder / "static_arrays" / self.static[name]["file"]
                target.unlink()
                _write_array(array, target)
        else:
            (folder / "static_arrays").symlink_to(build_static, target_is_directory=True)

        env = {k: v for k, v in os.environ.items() if k not in (SEED_VARIABLE, STOP_VARIABLE)}
        env.update(self.manifest["environment"])
        if seed_text is not None:
            env[SEED_VARIABLE] = seed_text
        if stop:
            env[STOP_VARIABLE] = "1"
        command = [str(self.binary), "--results_dir", f"{folder / 'results'}/", *arguments]
        start = time.perf_counter()
        with open(folder / "stdout.txt", "w") as out, open(folder / "stderr.txt", "w") as err:
            try:
                returncode = subprocess.call(command, cwd=folder, env=env, stdout=out,
                                             stderr=err, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise CompiledRunError(f"the binary ran longer than {timeout_s} s and was "
                                       f"stopped (run folder {folder})") from None
        wall_s = time.perf_counter() - start
        (folder / "run.json").write_text(json.dumps(
            {"command": command, "seed": None if seed is None else int(seed),
             "stopped_before_run": stop, "returncode": returncode, "wall_s": wall_s,
             "static": sorted(static_arrays)}, indent=1))

        output = (folder / "stdout.txt").read_text(errors="replace") + \
            (folder / "stderr.txt").read_text(errors="replace")
        problems = [line.strip() for line in output.splitlines()
                    if any(marker in line for marker in _BINARY_ERRORS)]
        if returncode or problems:
            what = f"failed (exit code {returncode})" if returncode else "reported errors"
            detail = "; ".join(problems) or output.strip()[-2000:] or "no output"
            raise CompiledRunError(f"the binary {what} in {folder}: {detail}")
        return RunResult(folder, self.manifest, seed=None if seed is None else int(seed),
                         stopped_before_run=stop, wall_s=wall_s)


# ----------------------------------------------------------------------------- build cache
#: the environment variable that moves the build cache
CACHE_VARIABLE = "SNNSUITE_CACHE_DIR"
#: the file that marks a folder of the cache as a build this module made
KEY_FILE = "snnsuite_build_key.json"


def cache_root() -> Path:
    """Where cached builds live: ``$SNNSUITE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/snnsuite/compiled``, else ``~/.cache/snnsuite/compiled``."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "snnsuite" / "compiled"


def structure_hash(key: Mapping) -> str:
    """A 16-hex-digit hash of ``key`` (JSON-able), the Brian2, Python and machine it is built
    with, and this module's format: builds with equal hashes are interchangeable."""
    import hashlib
    import platform

    from brian2 import __version__ as brian2_version

    text = json.dumps({"key": key, "format": FORMAT, "brian2": brian2_version,
                       "python": platform.python_version(), "machine": platform.machine()},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Lock:
    """An advisory file lock (``fcntl.flock``): released when the holder exits, even when
    killed, so a lock never outlives its process."""

    def __init__(self, path: Path, shared: bool = False):
        self.path, self.shared, self.handle = path, shared, None

    def acquire(self, blocking: bool = True) -> bool:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")
        mode = (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(self.handle, mode)
        except BlockingIOError:
            self.handle.close()
            self.handle = None
            return False
        return True

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()              # closing releases the lock
            self.handle = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


@contextlib.contextmanager
def cached_build(key: Mapping, build_fn: Callable, duration, *,
                 root: str | Path | None = None):
    """``with cached_build(key, build_fn, duration) as (compiled, built_now):`` the build of
    ``key`` from the cache, built with :meth:`CompiledNetwork.build` the first time.

    Builds live in ``root/<structure_hash(key)>/`` (default :func:`cache_root`).  Processes
    that need the same build wait for the one that builds it (a lock per build), so one
    structure compiles once however many workers a sweep has; each run then goes in a
    folder of its caller's (``run(results_dir=...)``), so workers never share a file.
    Inside the ``with`` the build is in use: :func:`clean` leaves it alone.
    """
    root = Path(root) if root is not None else cache_root()
    digest = structure_hash(key)
    folder, lock_path = root / digest, root / f"{digest}.lock"
    built_now = False
    while True:
        with _Lock(lock_path, shared=True):
            compiled = _load_cached(folder)
            if compiled is not None:
                yield compiled, built_now
                return
        with _Lock(lock_path):               # one process builds, the others wait here
            if _load_cached(folder) is None:
                (folder / KEY_FILE).unlink(missing_ok=True)
                CompiledNetwork.build(folder, build_fn, duration)
                (folder / KEY_FILE).write_text(json.dumps(
                    {"hash": digest, "key": key, "built": time.strftime("%Y-%m-%dT%H:%M:%S")},
                    indent=1, sort_keys=True, default=str))
                built_now = True


def _load_cached(folder: Path):
    """The complete build in ``folder`` (manifest, binary and key file), or ``None``."""
    if not (folder / KEY_FILE).is_file():
        return None
    try:
        return CompiledNetwork.load(folder)
    except (OSError, ValueError):
        return None                          # damaged or half-removed: build it again


def in_use(root: str | Path, digest: str) -> _Lock:
    """The lock a run holds on build ``digest`` while it uses it (shared: runs do not
    exclude each other; :func:`clean` skips a build so held).  ``acquire()``/``release()``."""
    return _Lock(Path(root) / f"{digest}.lock", shared=True)


def _size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            pass
    return total


def cached_builds(root: str | Path | None = None) -> list[dict]:
    """Every build in the cache: ``{path, hash, bytes, built, key}``; only folders with
    this module's key file count (anything else in the folder is not ours)."""
    root = Path(root) if root is not None else cache_root()
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.iterdir()):
        marker = folder / KEY_FILE
        if not folder.is_dir() or folder.is_symlink() or not marker.is_file():
            continue
        try:
            info = json.loads(marker.read_text())
        except (OSError, ValueError):
            info = {}
        out.append({"path": folder, "hash": folder.name, "bytes": _size(folder),
                    "built": info.get("built", "?"), "key": info.get("key")})
    return out


def clean(root: str | Path | None = None, *, dry_run: bool = False) -> tuple[list, list]:
    """Remove the cached builds (:func:`cached_builds`) no run is using; returns
    ``(removed, skipped)`` lists of :func:`cached_builds` entries (``skipped``: in use)."""
    root = Path(root) if root is not None else cache_root()
    removed, skipped = [], []
    for entry in cached_builds(root):
        lock = _Lock(root / f"{entry['hash']}.lock")
        if not lock.acquire(blocking=False):
            skipped.append(entry)
            continue
        try:
            if not dry_run:
                (entry["path"] / KEY_FILE).unlink()   # first: a half-removed build is not one
                shutil.rmtree(entry["path"])
            removed.append(entry)
        finally:
            lock.release()
    return removed, skipped
