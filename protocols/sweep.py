"""Parameter sweeps: any protocol run at every combination of values of its config keys.

A ``sweep:`` section in a protocol's config names config keys (``section.key``)
and their values, a list or ``{start, stop, num}`` read with that key's own
unit and bounds::

    experiment: plasticity
    protocol: {kind: hebbian}
    sweep:
      hebbian.eta: [0.001, 0.002]
      hebbian.decay_rate: {start: "0.02 Hz", stop: "0.1 Hz", num: 3}
      max_cores: 4          # run options: scheduler, dask_address, max_cores
    resources: {temperature_stop: 90}   # the resource guard (protocols.guards)

``snnsuite run CONFIG`` then runs the protocol once per combination (the
points, named ``p000_002`` by their index on each axis, the first key's index
first) with one runner: worker processes on this machine (joblib's loky;
``--jobs N``, at most ``--max-cores``/``sweep.max_cores``), a dask.distributed
cluster (``sweep.scheduler: dask``) or MPI ranks (``sweep.scheduler: mpi``,
``mpiexec -n N python -m mpi4py.futures -m protocols.cli run CONFIG ...``).
Points stream into ``results.h5`` as they finish, each written completely or
not at all, by the parent only; ``--resume`` skips finished points; the
resource guard of ``resources`` is asked before each point; a progress bar
shows points per minute.  ``heterogeneity_grid`` is this runner applied to
the chaos point over ``network.v_th_std`` x ``network.g_std``.

A protocol can be swept when it provides the point function::

    sweep_point(config, *, block, backend, build_root) -> (attrs, datasets)

``attrs`` the point's scalar measures, ``datasets`` its arrays.  ``block`` is
the point's flat index (row-major over the axes), for protocols that draw
each point's network from its own seed stream (chaos); others may ignore it.

The result file holds one axis per key, named by the key (``/axes/hebbian.eta``),
in the key's SI base unit (quantities) or as given (numbers); each point holds
its value on every axis.  ``analysis.results.load(path).grid("w_mean_final")``
is the N-D array of one measure over the axes.  Figures: a line per measure
for one key, a heatmap per measure for two, and for more keys a heatmap of
the first two keys per combination of the others' values.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import itertools
import os
import re
import sys
import time
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np

from protocols import guards
from protocols.config import (AXIS_PARTS, REQUIRED, Config, ConfigError, Field, UsageError,
                              _lookup, _read_file, _resolve)

SECTION = "sweep"
#: how a sweep runs, not what it computes: these keys of the sweep section are not axes
OPTIONS = {
    "scheduler": Field("str", "joblib", choices=("joblib", "dask", "mpi"),
                       doc="joblib on this machine, dask.distributed, or MPI ranks "
                           "(mpiexec ... python -m mpi4py.futures, docs/cluster.md)"),
    "dask_address": Field("str", "", doc="scheduler address for dask; empty = a local cluster"),
    "max_cores": guards.MAX_CORES,
}
#: field kinds that can be swept (their values are numbers or quantities)
SWEEPABLE = ("int", "float", "quantity")
#: how long a run waits for the first worker of an empty dask cluster (seconds)
DASK_WORKER_WAIT_S = 600.0
DASK_MISSING = ("{key} is 'dask' but dask.distributed is not installed; "
                "pip install 'snnsuite[cluster]' or use scheduler: joblib")
#: how a sweep is started on MPI ranks: rank 0 runs the command line, the others serve points
MPI_LAUNCH = "mpiexec -n N python -m mpi4py.futures -m protocols.cli run"
#: environment variables that MPI launchers set: ranks on this node (MPICH's hydra, Open MPI,
#: SLURM's srun: '32(x4)' or '32,31' for the nodes in turn, rank 0's first), then ranks in
#: all (PMI, Open MPI)
MPI_LOCAL_RANKS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_STEP_TASKS_PER_NODE",
                   "PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


# ----------------------------------------------------------------------------- the config
def _axis_field(field: Field, dotted: str, source: str) -> Field:
    """The axis Field of a swept key: its unit and bounds, values as a list or {start, stop, num}."""
    if field.kind not in SWEEPABLE or field.choices is not None:
        raise ConfigError(source, f"{SECTION}.{dotted}",
                          f"{dotted} is a {field.kind} key; a sweep takes keys whose values are "
                          f"numbers or quantities ({', '.join(SWEEPABLE)} keys)")
    unit = field.unit if field.kind == "quantity" else None
    return Field("axis", REQUIRED, unit=unit, low=field.low, high=field.high,
                 low_open=field.low_open, high_open=field.high_open,
                 doc=f"values of {dotted} ({field.doc})" if field.doc else f"values of {dotted}")


def _flat_keys(entries: Mapping, prefix: str = "") -> dict:
    """``{network: {g_std: [..]}}`` or ``{network.g_std: [..]}`` -> ``{'network.g_std': [..]}``."""
    flat = {}
    for key, value in entries.items():
        key = f"{prefix}{key}"
        if (isinstance(value, Mapping) and "." not in key and key not in OPTIONS
                and not set(value) & set(AXIS_PARTS)):
            flat.update(_flat_keys(value, f"{key}."))
        else:
            flat[key] = value
    return flat


def schema_for(schema: dict, keys, source: str) -> dict:
    """The protocol's schema with a ``sweep`` section for ``keys`` (and ``resources``).

    ``ConfigError`` naming an unknown key (with the closest known one) or a
    key that cannot be swept.

    >>> from protocols import plasticity
    >>> sorted(schema_for(plasticity.SCHEMA, ["hebbian.eta"], "<text>")["sweep"])
    ['dask_address', 'hebbian.eta', 'max_cores', 'scheduler']
    >>> schema_for(plasticity.SCHEMA, ["hebbian.etta"], "<text>")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.config.ConfigError: <text>: hebbian.etta: unknown key; ... did you mean 'eta'?
    """
    section = dict(OPTIONS)
    for dotted in keys:
        if "." not in dotted:
            allowed = ", ".join(OPTIONS)
            close = difflib.get_close_matches(dotted[:100], list(OPTIONS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(source, f"{SECTION}.{dotted}",
                              "unknown key; a sweep names config keys as section.key "
                              f"(e.g. hebbian.eta: [0.001, 0.002]) or the run options {allowed}"
                              f"{hint}")
        if dotted.partition(".")[0] in (SECTION, "resources"):
            raise ConfigError(source, f"{SECTION}.{dotted}", "the run's own settings cannot be "
                              "swept; sweep keys of the experiment's sections")
        _, _, field = _lookup(schema, dotted, source)
        section[dotted] = _axis_field(field, dotted, source)
    out = {name: fields for name, fields in schema.items() if name != SECTION}
    out[SECTION] = section
    out.setdefault("resources", dict(guards.SCHEMA))
    return out


def sweep_keys(config) -> tuple[str, ...]:
    """The swept keys of a sweep config, in the order written."""
    return tuple(key for key in config[SECTION] if key not in OPTIONS)


def requested(path, overrides=(), *, experiment=None, translate=None) -> bool:
    """Whether a config file (or a ``--set sweep.*`` override) asks for a sweep."""
    data = _read_file(Path(path), experiment, translate)
    return SECTION in data or any(str(o).startswith(f"{SECTION}.") for o in overrides)


def load(path, schema: dict, overrides=(), *, experiment=None, translate=None) -> Config:
    """Read a config with a ``sweep:`` section: the protocol's keys and the sweep's axes.

    ``--set sweep.hebbian.eta=[0.1,0.2]`` adds or replaces an axis,
    ``--set sweep.hebbian.eta.num=5`` changes one part of it.
    """
    path = Path(path)
    source = str(path)
    data = dict(_read_file(path, experiment, translate))
    entries = data.get(SECTION) or {}
    if not isinstance(entries, Mapping):
        raise ConfigError(source, SECTION, f"got {entries!r}; expected a mapping of config keys "
                          "to values, e.g. sweep: {hebbian.eta: [0.001, 0.002]}")
    entries = _flat_keys(entries)
    data[SECTION] = entries
    keys = [k for k in entries if k not in OPTIONS]
    for text in overrides:
        dotted = str(text).partition("=")[0].strip()
        if dotted.startswith(f"{SECTION}."):
            key = dotted[len(SECTION) + 1:]
            head, _, part = key.rpartition(".")
            key = head if part in AXIS_PARTS and head.count(".") >= 1 else key
            if key not in OPTIONS and key not in keys:
                keys.append(key)
    if not keys:
        raise ConfigError(source, SECTION, "names no config key to sweep; expected e.g. "
                          "sweep: {hebbian.eta: [0.001, 0.002]}")
    return _resolve(data, schema_for(schema, keys, source), source, overrides, experiment)


def axes_of(config) -> dict:
    """``{key: values}``: the values each swept key takes, as the config stores them."""
    return {key: config[SECTION][key] for key in sweep_keys(config)}


def _plain(value) -> float:
    """An axis value as stored in results.h5: a quantity in its SI base unit, a number as is."""
    return float(np.asarray(value))


def _stored(field: Field, value):
    """An axis value as the swept key's Field takes it (an int key takes an int)."""
    if field.kind == "int":
        return int(round(float(value)))
    return value


class Point(NamedTuple):
    name: str         # the group in results.h5
    index: tuple      # the index on each axis
    block: int        # the flat index: the point's seed block
    config: Config    # the protocol's config at this point
    values: dict      # axis name -> the value stored in results.h5


def point_name(index) -> str:
    return "p" + "_".join(f"{i:03d}" for i in index)


def base_config(config) -> Config:
    """The protocol's own config (without the sweep's sections) of a sweep config."""
    schema = {name: fields for name, fields in config.schema.items() if name != SECTION}
    if "resources" not in _protocol_schema_sections(config):
        schema.pop("resources", None)
    return Config(config.experiment, {n: dict(config[n]) for n in schema}, schema, config.source)


def _protocol_schema_sections(config) -> set:
    from protocols.cli import PROTOCOLS

    return set(importlib.import_module(PROTOCOLS[config.experiment]).SCHEMA)


def points(config) -> list[Point]:
    """Every point of a sweep config, the first key's index varying slowest."""
    base = base_config(config)
    axes = axes_of(config)
    keys = list(axes)
    fields = {key: _lookup(base.schema, key, "sweep")[2] for key in keys}
    out = []
    for block, index in enumerate(itertools.product(*(range(len(v)) for v in axes.values()))):
        values = {key: axes[key][i] for key, i in zip(keys, index)}
        cfg = base.replace(**{key: _stored(fields[key], v) for key, v in values.items()})
        out.append(Point(point_name(index), index, block, cfg,
                         {key: _plain(v) for key, v in values.items()}))
    return out


def validate(config, module) -> None:
    """Axes without repeated values or non-integers for int keys, at most MAX_POINTS points,
    the guard's settings, and the protocol's own checks at every point."""
    from protocols.resources import MAX_POINTS

    source = config.source
    guards.validate(config.resources, source)
    base = base_config(config)
    for key, values in axes_of(config).items():
        field = _lookup(base.schema, key, source)[2]
        plain = np.array([_plain(v) for v in values])
        if field.kind == "int" and not np.all(plain == np.round(plain)):
            raise ConfigError(source, f"{SECTION}.{key}", f"{key} is an integer key; got values "
                              f"{', '.join(f'{v:g}' for v in plain)} (give whole numbers)")
        unique, counts = np.unique(plain, return_counts=True)
        if (counts > 1).any():
            raise ConfigError(source, f"{SECTION}.{key}", f"repeats "
                              f"{', '.join(f'{v:g}' for v in unique[counts > 1])}; each value may "
                              "appear once (use {start, stop, num} or a list of distinct values)")
    sizes = [len(v) for v in axes_of(config).values()]
    if int(np.prod(sizes)) > MAX_POINTS:
        raise ConfigError(source, SECTION, f"{' x '.join(map(str, sizes))} = {int(np.prod(sizes))}"
                          f" points; allowed are at most {MAX_POINTS} points per run (split the "
                          "sweep into several runs)")
    if hasattr(module, "validate"):
        for point in points(config):
            try:
                module.validate(point.config)
            except ConfigError as exc:
                at = ", ".join(f"{k}={v:g}" for k, v in point.values.items())
                raise ConfigError(source, exc.key, f"at the sweep point {at}: {exc.problem}") \
                    from None


# ----------------------------------------------------------------------------- schedulers
def mpi_local_ranks(environ=os.environ) -> int:
    """MPI processes on this node as the launcher tells them (all of them, or 2, where it
    does not say).

    >>> mpi_local_ranks({"SLURM_STEP_TASKS_PER_NODE": "32(x4)", "PMI_SIZE": "128"})
    32
    """
    for name in MPI_LOCAL_RANKS:
        count = re.match(r"\d+", environ.get(name, ""))
        if count:
            return int(count.group())
    return 2


def mpi_world_size(source, out_dir=None, *, key: str, launch: str) -> int:
    """Processes of the MPI world this run was started in by ``python -m mpi4py.futures``.

    Raises :class:`~protocols.config.UsageError` when mpi4py is missing, when
    this process was not started by ``python -m mpi4py.futures`` (plain
    ``python``, or ``mpiexec`` without it: every rank would run the whole
    sweep), or when the world has one process (no rank to compute points).
    Never initialises MPI itself.  ``key`` is the scheduler's config key,
    ``launch`` the start of the command that launches the run.
    """
    try:
        import mpi4py  # noqa: F401  (the package only; mpi4py.MPI would initialise MPI)
    except ImportError:
        raise UsageError(f"{key} is 'mpi' but mpi4py is not installed; pip install "
                         "'snnsuite[mpi]' (mpi4py and MPICH), or use scheduler: joblib") from None
    out = out_dir if out_dir is not None else "DIR"
    how = ("launch it with N >= 2 processes (rank 0 writes results.h5, ranks 1 to N-1 compute "
           f"points): {launch} {source or 'CONFIG'} --out {out} [options]")
    # python -m mpi4py.futures sets up this shared pool of the world's ranks before it runs
    # the module, on every rank; a process started otherwise has none
    if getattr(sys.modules.get("mpi4py.futures._core"), "SharedPool", None) is None:
        raise UsageError(f"{key} is 'mpi' but this process was not started by "
                         f"python -m mpi4py.futures under mpiexec; {how}")
    from mpi4py import MPI

    size = MPI.COMM_WORLD.Get_size()
    if size < 2:
        raise UsageError(f"{key} is 'mpi' but the MPI world has {size} process, so no "
                         f"rank is left to compute points; {how}")
    return size


def check_scheduler(scheduler: str, source, out_dir=None, *, key: str, launch: str) -> None:
    """The scheduler can run here: its package is installed, and MPI was launched for it."""
    if scheduler == "dask" and importlib.util.find_spec("distributed") is None:
        raise UsageError(DASK_MISSING.format(key=key))
    if scheduler == "mpi":
        mpi_world_size(source, out_dir, key=key, launch=launch)


@contextmanager
def workers(n_jobs: int, jobs, scheduler: str, address: str, *, key: str = "sweep.scheduler"):
    """An executor of worker processes and how many points it runs at once.

    Workers that are still running when the block ends with an exception
    (Ctrl+C, SIGTERM, a failed point) are killed; on MPI the pending points
    are cancelled and the worker ranks end with the MPI job, which
    ``python -m mpi4py.futures`` aborts when rank 0 exits with an error.
    """
    if scheduler == "mpi":  # started by python -m mpi4py.futures (mpi_world_size checked it)
        from mpi4py.futures import MPIPoolExecutor

        executor = MPIPoolExecutor(main=False)  # the points' function is found by its module
        slots = executor.num_workers  # the ranks other than 0; --jobs may ask for fewer
        try:
            yield executor, min(jobs, slots) if jobs else slots
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        executor.shutdown(wait=True)
        return
    if scheduler == "dask":
        try:
            from dask.distributed import Client
        except ImportError as exc:  # the optional extra is missing
            raise UsageError(DASK_MISSING.format(key=key)) from exc
        if address:  # a cluster of its own size: as many points at once as it has threads
            client = Client(address)
            if not client.nthreads():  # a cluster whose workers are still starting (a batch job)
                try:
                    client.wait_for_workers(1, timeout=DASK_WORKER_WAIT_S)
                except TimeoutError:
                    client.close()
                    raise UsageError(f"the dask scheduler at {address} has had no worker for "
                                     f"{DASK_WORKER_WAIT_S:g} s; start workers (dask worker "
                                     f"{address}) or check the cluster's job queue") from None
            slots = jobs or sum(client.nthreads().values())
        else:
            client = Client(n_workers=n_jobs, threads_per_worker=1, processes=True)
            slots = n_jobs
        try:
            yield client.get_executor(pure=False), slots
        finally:
            client.close()
        return
    from joblib.externals.loky import ProcessPoolExecutor

    executor = ProcessPoolExecutor(max_workers=n_jobs)
    try:
        yield executor, n_jobs
    except BaseException:
        executor.shutdown(wait=False, kill_workers=True)
        raise
    executor.shutdown(wait=True)


def results_config(config, run_only: dict) -> str:
    """The config text stored in results.h5: the config without the ``run_only`` keys
    (``{section: keys}``), so that ``--resume`` may change them (config.yaml keeps them)."""
    schema = {section: {key: field for key, field in fields.items()
                        if key not in run_only.get(section, ())}
              for section, fields in config.schema.items()}
    schema = {section: fields for section, fields in schema.items() if fields}
    values = {section: {key: config[section][key] for key in fields}
              for section, fields in schema.items()}
    return Config(config.experiment, values, schema, config.source).to_yaml()


# ----------------------------------------------------------------------------- the runner
def run_points(name: str, compute, tasks: list, *, writer, total: int, out_dir: Path,
               scheduler: str, address: str, max_cores: int, max_cores_key: str, resources,
               jobs=None, backend: str = "runtime") -> Path:
    """Compute ``tasks`` (argument tuples of ``compute``, which returns ``(name, attrs,
    datasets)``) and write each result as it comes; the core of every sweep and grid.

    The parent is the only writer.  One local worker: everything in this
    process; otherwise the first point here (it compiles the code once, into
    the shared cache) and the rest on the scheduler's workers.  The resource
    guard is asked before each point; :class:`protocols.guards.Stopped` when it
    stopped dispatching (the points that were running are written first).
    """
    from tqdm.auto import tqdm

    guard = guards.ResourceGuard.from_environment(  # messages above the progress bar
        resources, say=lambda message: tqdm.write(f"snnsuite: {message}", file=sys.stderr))
    n_jobs, capped = guards.plan_workers(jobs, max_cores, len(tasks), key=max_cores_key)
    # workers elsewhere (MPI ranks, a dask cluster of its own): this machine's cores do not
    # limit them
    remote = scheduler == "mpi" or (scheduler == "dask" and bool(address))
    if capped and not remote:
        print(f"snnsuite: {capped}", flush=True)
    bar = tqdm(total=total, initial=total - len(tasks), unit="point", desc=name,
               dynamic_ncols=True)
    started = time.perf_counter()
    finished = 0

    def record(result):
        nonlocal finished
        point, attrs, datasets = result
        writer.write_point(point, attrs, datasets)  # the parent is the only writer
        finished += 1
        bar.update(1)
        bar.set_postfix_str(f"{60 * finished / (time.perf_counter() - started):.1f} points/min")

    here = len(tasks) if n_jobs == 1 and not remote else int(backend == "runtime")
    try:
        for result in guards.dispatch(compute, tasks[:here], guards.InlineExecutor(), slots=1,
                                      guard=guard):
            record(result)
        if tasks[here:]:
            with workers(n_jobs, jobs, scheduler, address,
                         key=max_cores_key.replace("max_cores", "scheduler")) as (executor, slots):
                for result in guards.dispatch(compute, tasks[here:], executor, slots=slots,
                                              guard=guard):
                    record(result)
    except guards.Stopped as stop:
        raise guards.Stopped(f"{stop} ({len(writer.completed())} of {total} points "
                             "finished)") from None
    finally:
        bar.close()
    _remove_if_empty(Path(out_dir) / "build")
    return writer.finalize()


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def compute_point(module_name: str, point: Point, backend: str, build_root: str):
    """One sweep point (runs in a worker process): the protocol's ``sweep_point``."""
    from models.devices import drop_debug_files

    drop_debug_files()  # a worker stopped by a signal must not leave Brian2's temp files
    module = importlib.import_module(module_name)
    started = time.perf_counter()
    attrs, datasets = module.sweep_point(point.config, block=point.block, backend=backend,
                                         build_root=build_root)
    attrs = {**attrs, **point.values, "block_id": int(point.block), "worker_pid": os.getpid()}
    attrs.setdefault("compute_time_s", float(time.perf_counter() - started))
    return point.name, attrs, datasets


class Sweep:
    """A protocol's sweep, with the protocol contract of :mod:`protocols.cli`."""

    def __init__(self, module):
        if not hasattr(module, "sweep_point"):
            raise UsageError(f"the {module.NAME} experiment cannot be swept (its protocol has no "
                             "sweep_point); sweepable: chaos, plasticity")
        self.module = module
        self.NAME = module.NAME
        self.SCHEMA = module.SCHEMA  # the base schema; load() adds the sweep section
        self.__doc__ = module.__doc__

    def load(self, path, overrides=(), *, experiment=None, translate=None) -> Config:
        return load(path, self.SCHEMA, overrides, experiment=experiment, translate=translate)

    def validate(self, config) -> None:
        validate(config, self.module)

    def preflight(self, config, *, out_dir, resume: bool = False) -> None:
        check_scheduler(config.sweep.scheduler, config.source, out_dir, key="sweep.scheduler",
                        launch=MPI_LAUNCH)
        if hasattr(self.module, "preflight"):
            self.module.preflight(base_config(config), out_dir=out_dir, resume=resume)

    def estimate_memory(self, config, jobs=None) -> tuple[float, str]:
        """One point per worker at once (the largest point's need), plus the parent."""
        all_points = points(config)
        if not hasattr(self.module, "estimate_memory"):
            return 0.0, f"{len(all_points)} points"
        need, detail = max((self.module.estimate_memory(p.config) for p in all_points),
                           key=lambda pair: pair[0])
        if config.sweep.scheduler == "mpi":
            n_workers = max(mpi_local_ranks() - 1, 1)
        else:
            n_workers, _ = guards.plan_workers(jobs, config.sweep.max_cores, len(all_points),
                                               key="sweep.max_cores")
        return ((n_workers + 1) * need + 20_000 * len(all_points),
                f"{len(all_points)} points, {n_workers} at once, each {detail}")

    def run(self, config, out_dir: Path, *, backend: str = "runtime", jobs=None,
            resume: bool = False) -> Path:
        return run_sweep(self.module, config, out_dir, backend=backend, jobs=jobs, resume=resume)

    def report(self, results_path: Path, out_dir: Path | None = None) -> Path:
        return report(results_path, out_dir)


def run_sweep(module, config, out_dir: Path, *, backend: str = "runtime", jobs=None,
              resume: bool = False) -> Path:
    """Run (or resume) ``module`` at every point of the sweep config into ``out_dir/results.h5``."""
    from analysis.results import ResultWriter
    from protocols import outdir

    check_scheduler(config.sweep.scheduler, config.source, out_dir, key="sweep.scheduler",
                    launch=MPI_LAUNCH)
    out_dir = outdir.claim(out_dir, module.NAME)  # a folder of its own (see protocols.outdir)
    all_points = points(config)
    axes = {key: np.array([_plain(v) for v in values]) for key, values in axes_of(config).items()}
    versions = module.versions() if hasattr(module, "versions") else {}
    run_only = {SECTION: tuple(OPTIONS), "resources": tuple(guards.SCHEMA)}
    writer = ResultWriter(out_dir, module.NAME, results_config(config, run_only),
                          config.seed.session, versions, axes=axes, resume=resume)
    done = writer.completed()
    build_root = str(Path(out_dir) / "build")
    tasks = [(module.__name__, p, backend, build_root) for p in all_points if p.name not in done]
    note = getattr(module, "compile_note", None)
    if note is not None and tasks and note(tasks[0][1].config, backend):
        print(f"snnsuite: {note(tasks[0][1].config, backend)}", flush=True)
    return run_points(f"{module.NAME} sweep", compute_point, tasks, writer=writer,
                      total=len(all_points), out_dir=out_dir, scheduler=config.sweep.scheduler,
                      address=config.sweep.dask_address, max_cores=config.sweep.max_cores,
                      max_cores_key="sweep.max_cores", resources=config.resources, jobs=jobs,
                      backend=backend)


# ----------------------------------------------------------------------------- report
def is_sweep(result) -> bool:
    """Whether a loaded result file was written by a sweep (its config has a sweep section)."""
    import yaml

    text = getattr(result, "config", None) or getattr(result, "attrs", {}).get("config")
    if not isinstance(text, str):
        return False
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and SECTION in data


def measures(result) -> list[str]:
    """The scalar measures of a sweep's points (numbers present in every point)."""
    from analysis.results import _is_real

    skip = set(result.axis_names) | {"block_id", "worker_pid", "compute_time_s",
                                     "simulation_time_s", "i", "j", "build_time_s",
                                     "build_reused", "compiled_once"}
    names = None
    for point in result.points.values():
        here = {k for k, v in point.attrs.items() if _is_real(v) and k not in skip}
        names = here if names is None else names & here
    return sorted(names or ())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).replace(".", "-")


def figures(result, folder: Path) -> list[Path]:
    """A line plot per measure (1 key), a heatmap (2 keys), heatmaps of the first two keys
    per combination of the others' values (3 keys or more)."""
    from analysis import plots

    folder = Path(folder)
    names, axes = result.axis_names, result.axes
    labels = [_axis_label(result.protocol, name) for name in names]
    made = []
    for measure in measures(result):
        grid = result.grid(measure)
        if grid.size > 1 and np.nanmin(grid) == np.nanmax(grid):
            continue  # the same at every point (a size, a bound): nothing to plot
        if len(names) == 1:
            made.append(plots.line(axes[0], grid, folder / f"sweep_{_slug(measure)}.png",
                                   xlabel=labels[0], ylabel=measure, title=measure))
            continue
        for rest in itertools.product(*(range(len(a)) for a in axes[2:])):
            at = ", ".join(f"{n}={axes[2 + k][i]:.3g}" for k, (n, i)
                           in enumerate(zip(names[2:], rest)))
            suffix = "".join(f"_{i}" for i in rest)
            made.append(plots.heatmap(grid[(slice(None), slice(None), *rest)], axes[1], axes[0],
                                      folder / f"sweep_{_slug(measure)}{suffix}.png",
                                      xlabel=labels[1], ylabel=labels[0],
                                      title=f"{measure}{' at ' + at if at else ''}",
                                      cbar_label=measure))
    return made


#: the SI base unit an axis of each dimension is stored in (results.h5)
SI_SYMBOLS = {"time": "s", "voltage": "V", "frequency": "Hz", "conductance": "S",
              "current": "A", "capacitance": "F", "resistance": "ohm", "charge": "C",
              "length": "m", "area": "m^2", "concentration": "M"}


def _axis_label(protocol: str, key: str) -> str:
    """``"hebbian.decay_rate (Hz)"``: a swept key with the unit its values are stored in."""
    from protocols.cli import PROTOCOLS

    try:
        section, name = key.split(".", 1)
        field = importlib.import_module(PROTOCOLS[protocol]).SCHEMA[section][name]
    except (KeyError, ValueError, ImportError, AttributeError, TypeError):
        return key
    unit = SI_SYMBOLS.get(field.unit) if field.kind == "quantity" else None
    return f"{key} ({unit})" if unit else key


def report(results_path: Path, out_dir: Path | None = None) -> Path:
    """Figures and ``report.md`` of a sweep's result file."""
    from analysis.reports import write_report
    from analysis.results import load as load_result

    result = load_result(results_path)
    out_dir = Path(out_dir) if out_dir is not None else Path(results_path).parent
    made = figures(result, out_dir / "figures")
    sizes = " x ".join(f"{len(a)} {n}" for n, a in zip(result.axis_names, result.axes))
    total = int(np.prod([len(a) for a in result.axes]))
    lines = [f"# Sweep of {result.protocol}", "",
             f"`{Path(results_path).name}`: {len(result.points)} of {total} points ({sizes}), "
             f"seed {result.seed}.", "", "## Axes", "", "| key | values |", "|---|---|"]
    lines += [f"| `{n}` | {', '.join(f'{v:.4g}' for v in a)} |"
              for n, a in zip(result.axis_names, result.axes)]
    lines += ["", "## Measures", "", ", ".join(f"`{m}`" for m in measures(result))]
    footer = ["", "Load the numbers: `from analysis.results import load; r = load('results.h5'); "
              "r.grid(MEASURE)` (an array over the axes, `r.axis_names`, `r.axes`)"]
    return write_report(out_dir, lines, made, result.versions, footer)
