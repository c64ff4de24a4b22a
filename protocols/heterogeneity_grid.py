"""Heterogeneity grid: the chaos protocol over threshold spread x weight spread.

Every point ``(v_th_std[i], g_std[j])`` of the grid is one run of
:mod:`protocols.chaos` on its own network (block ``i * len(g_std) + j`` of the
session seed), computed in worker processes on this machine (joblib's loky;
``--jobs N``, at most ``--max-cores``/``grid.max_cores``, by default all cores
but one on machines with more than 2), on a dask.distributed cluster
(``grid.scheduler: dask``) or on MPI ranks (``grid.scheduler: mpi``, through
``mpi4py.futures``: rank 0 runs this module and writes, the other ranks
compute points).  Results stream into ``results.h5`` as points
finish, each written completely or not at all; ``--resume`` skips finished
points, so a killed run loses nothing that had finished and duplicates
nothing.  Before each point the resource guard of the ``resources`` section
(:mod:`protocols.guards`) checks free memory and the CPU temperature and
takes cooling breaks; a stop lets running points finish and exits with
status 3 (resume later with ``--resume``).

Run it::

    snnsuite run configs/heterogeneity_grid_quick.yaml --jobs 2 --out results/grid_quick
    snnsuite run configs/heterogeneity_grid.yaml --out results/grid --max-cores 4
    snnsuite run configs/heterogeneity_grid.yaml --out results/grid --resume
    mpiexec -n 8 python -m mpi4py.futures -m protocols.heterogeneity_grid \
        configs/heterogeneity_grid.yaml --out results/grid --set grid.scheduler=mpi
"""
from __future__ import annotations

import copy
import importlib.util
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from analysis import plots, stats
from analysis.reports import write_report
from analysis.results import ResultWriter, load
from protocols import chaos
from protocols import guards
from protocols import outdir
from protocols.config import Config, ConfigError, Field, UsageError

NAME = "heterogeneity_grid"

SCHEMA = copy.deepcopy(chaos.SCHEMA)
SCHEMA["grid"] = {
    "v_th_std": Field("axis", {"start": "0.05 mV", "stop": "0.5 mV", "num": 20}, unit="voltage",
                      low=0, high="20 mV",
                      doc="threshold spreads with their unit (a list, or {start, stop, num})"),
    "g_std": Field("axis", {"start": 0.05, "stop": 0.5, "num": 20}, low=0, high=50,
                   doc="weight spreads in mV/ms (a list, or {start, stop, num})"),
    "scheduler": Field("str", "joblib", choices=("joblib", "dask", "mpi"),
                       doc="joblib on this machine, dask.distributed, or MPI ranks "
                           "(mpiexec ... python -m mpi4py.futures, docs/cluster.md)"),
    "dask_address": Field("str", "", doc="scheduler address for dask; empty = a local cluster"),
    "max_cores": guards.MAX_CORES,
}
SCHEMA["resources"] = dict(guards.SCHEMA)
#: keys that say how a run is executed, not what it computes: left out of the config text in
#: results.h5, so that ``--resume`` may change them (``config.yaml`` keeps them)
RUN_ONLY = {"grid": ("max_cores",), "resources": tuple(guards.SCHEMA)}
AXES = ("v_th_std", "g_std")
MEASURES = ("lz_mean", "lz_entropy_mean", "hamming_mean", "lz_study_mean", "hamming_study_mean",
            "rate_mean", "cv_mean", "fano_mean")
#: units of the axes as stored in results.h5 (thresholds in mV, weights in mV/ms)
AXIS_UNITS = {"v_th_std": "mV", "g_std": "mV/ms"}
#: how long a run waits for the first worker of an empty dask cluster (seconds)
DASK_WORKER_WAIT_S = 600.0
DASK_MISSING = ("grid.scheduler is 'dask' but dask.distributed is not installed; "
                "pip install 'snnsuite[cluster]' or use scheduler: joblib")
#: how a grid is started on MPI ranks: rank 0 runs this module, the others serve points
MPI_LAUNCH = "mpiexec -n N python -m mpi4py.futures -m protocols.heterogeneity_grid"
#: environment variables that MPI launchers set: ranks on this node (MPICH's hydra, Open MPI,
#: SLURM's srun: '32(x4)' or '32,31' for the nodes in turn, rank 0's first), then ranks in
#: all (PMI, Open MPI)
MPI_LOCAL_RANKS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_STEP_TASKS_PER_NODE",
                   "PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


def axis_values(config) -> tuple[np.ndarray, np.ndarray]:
    """The grid's axes as floats in :data:`AXIS_UNITS` (v_th_std in mV, g_std in mV/ms)."""
    from brian2 import mV

    return (np.array([float(v / mV) for v in config.grid.v_th_std]),
            np.asarray(config.grid.g_std, dtype=float))


def validate(config) -> None:
    """The grid's own checks, then :func:`protocols.chaos.validate` for its points.

    Axes must not repeat a value (two points would share one name's place in
    the heatmaps) and the grid may hold at most
    :data:`protocols.resources.MAX_POINTS` points, refused before any task is
    made.  The resource guard's temperatures must be in order.  The chaos
    checks run with the smallest spreads of the axes, the hardest case for
    drawing thresholds above the reset.
    """
    from protocols.resources import MAX_POINTS

    source = config.source
    guards.validate(config.resources, source)
    for axis, values in zip(AXES, axis_values(config)):
        unique, counts = np.unique(values, return_counts=True)
        repeated = unique[counts > 1]
        if repeated.size:
            raise ConfigError(source, f"grid.{axis}",
                              f"repeats {', '.join(f'{v:g} {AXIS_UNITS[axis]}' for v in repeated)}; "
                              "each value may "
                              "appear once (use {start, stop, num} or a list of distinct values)")
    n_points = len(config.grid.v_th_std) * len(config.grid.g_std)
    if n_points > MAX_POINTS:
        raise ConfigError(source, "grid", f"{len(config.grid.v_th_std)} x "
                          f"{len(config.grid.g_std)} = {n_points} points; allowed are at most "
                          f"{MAX_POINTS} points per run (split the grid into several runs)")
    hardest = config.replace(**{"network.v_th_std": min(config.grid.v_th_std),
                                "network.g_std": min(config.grid.g_std)})
    try:
        chaos.validate(hardest)
    except ConfigError as exc:
        if exc.key != "network.v_th_std":
            raise
        raise ConfigError(source, "grid.v_th_std", exc.problem.replace(
            "network.v_th_std", "grid.v_th_std")) from None


def estimate_memory(config, jobs=None) -> tuple[float, str]:
    """Peak bytes of the grid on this machine: one point per worker at once, plus the
    parent's tasks.  On MPI the workers are the ranks on this node other than rank 0."""
    n_points = len(config.grid.v_th_std) * len(config.grid.g_std)
    if config.grid.scheduler == "mpi":
        n_workers = max(_mpi_local_ranks() - 1, 1)
        workers = f"{n_workers} MPI worker rank{'s' * (n_workers > 1)} on this node"
    else:
        n_workers, _ = guards.plan_workers(jobs, config.grid.max_cores, n_points,
                                           key="grid.max_cores")
        workers = f"{n_workers} workers at once"
    largest = config.replace(**{"network.v_th_std": max(config.grid.v_th_std),
                                "network.g_std": max(config.grid.g_std)})
    point, detail = chaos.point_memory(largest)
    need = n_workers * point + chaos.PROCESS_BYTES + 20_000 * n_points
    return need, f"{workers}, each {detail}"


def _mpi_local_ranks(environ=os.environ) -> int:
    """MPI processes on this node as the launcher tells them (all of them, or 2, where it
    does not say).

    >>> _mpi_local_ranks({"SLURM_STEP_TASKS_PER_NODE": "32(x4)", "PMI_SIZE": "128"})
    32
    """
    for name in MPI_LOCAL_RANKS:
        count = re.match(r"\d+", environ.get(name, ""))
        if count:
            return int(count.group())
    return 2


def mpi_world_size(config, out_dir=None) -> int:
    """Processes of the MPI world this run was started in by ``python -m mpi4py.futures``.

    Raises :class:`~protocols.config.UsageError` when mpi4py is missing, when
    this process was not started by ``python -m mpi4py.futures`` (plain
    ``python``, or ``mpiexec`` without it: every rank would run the whole
    grid), or when the world has one process (no rank to compute points).
    Never initialises MPI itself: ``python -m mpi4py.futures`` has done that
    before this module runs.
    """
    try:
        import mpi4py  # noqa: F401  (the package only; mpi4py.MPI would initialise MPI)
    except ImportError:
        raise UsageError("grid.scheduler is 'mpi' but mpi4py is not installed; pip install "
                         "'snnsuite[mpi]' (mpi4py and MPICH), or use scheduler: joblib") from None
    out = out_dir if out_dir is not None else "DIR"
    how = ("launch it with N >= 2 processes (rank 0 writes results.h5, ranks 1 to N-1 compute "
           f"points): {MPI_LAUNCH} {config.source or 'CONFIG'} --out {out} [options]")
    # python -m mpi4py.futures sets up this shared pool of the world's ranks before it runs
    # the module, on every rank; a process started otherwise has none
    if getattr(sys.modules.get("mpi4py.futures._core"), "SharedPool", None) is None:
        raise UsageError(f"grid.scheduler is 'mpi' but this process was not started by "
                         f"python -m mpi4py.futures under mpiexec; {how}")
    from mpi4py import MPI

    size = MPI.COMM_WORLD.Get_size()
    if size < 2:
        raise UsageError(f"grid.scheduler is 'mpi' but the MPI world has {size} process, so no "
                         f"rank is left to compute points; {how}")
    return size


def _check_scheduler(config, out_dir=None) -> None:
    """The scheduler can run here: its package is installed, and MPI was launched for it."""
    if config.grid.scheduler == "dask" and importlib.util.find_spec("distributed") is None:
        raise UsageError(DASK_MISSING)
    if config.grid.scheduler == "mpi":
        mpi_world_size(config, out_dir)


def preflight(config, *, out_dir, resume: bool = False) -> None:
    """Before anything is written: the scheduler's package, and for MPI how it was launched."""
    _check_scheduler(config, out_dir)


def point_name(i: int, j: int) -> str:
    return f"v{i:03d}_g{j:03d}"


def _compute(config, i: int, j: int, block: int, backend: str, build_root: str):
    """One grid point (runs in a worker process)."""
    from models.devices import drop_debug_files

    drop_debug_files()  # a worker stopped by a signal must not leave Brian2's temp files
    attrs, datasets = chaos.simulate_point(config, block=block, backend=backend,
                                           build_root=build_root)
    attrs.update(i=i, j=j, worker_pid=os.getpid())
    datasets["hamming_distance"] = datasets["hamming_distance"].astype(np.int16)
    return point_name(i, j), attrs, datasets


def _pending(config, done):
    v_axis, g_axis = config.grid.v_th_std, config.grid.g_std
    for i, v in enumerate(v_axis):
        for j, g in enumerate(g_axis):
            if point_name(i, j) not in done:
                point_cfg = config.replace(**{"network.v_th_std": v, "network.g_std": float(g)})
                yield i, j, i * len(g_axis) + j, point_cfg


@contextmanager
def _workers(n_jobs: int, jobs, scheduler: str, address: str):
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
            raise UsageError(DASK_MISSING) from exc
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


def _results_config(config) -> str:
    """The config text stored in results.h5: the config without the :data:`RUN_ONLY` keys."""
    schema = {section: {key: field for key, field in fields.items()
                        if key not in RUN_ONLY.get(section, ())}
              for section, fields in config.schema.items()}
    schema = {section: fields for section, fields in schema.items() if fields}
    values = {section: {key: config[section][key] for key in fields}
              for section, fields in schema.items()}
    return Config(config.experiment, values, schema, config.source).to_yaml()


def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False) -> Path:
    """Run (or resume) the grid into ``out_dir/results.h5``.

    Raises :class:`protocols.guards.Stopped` when the resource guard stopped
    dispatching; the points that were running are written first.
    """
    from tqdm.auto import tqdm

    _check_scheduler(config, out_dir)  # before anything is written
    guard = guards.ResourceGuard.from_environment(  # messages above the progress bar
        config.resources, say=lambda message: tqdm.write(f"snnsuite: {message}", file=sys.stderr))
    out_dir = outdir.claim(out_dir, NAME)  # a folder of its own (see protocols.outdir)
    v_axis, g_axis = axis_values(config)
    writer = ResultWriter(out_dir, NAME, _results_config(config), config.seed.session,
                          chaos.versions(), axes={"v_th_std": v_axis, "g_std": g_axis},
                          resume=resume)
    done = writer.completed()
    tasks = [(cfg, i, j, block, backend, str(out_dir / "build"))
             for i, j, block, cfg in _pending(config, done)]
    total = len(v_axis) * len(g_axis)
    n_jobs, capped = guards.plan_workers(jobs, config.grid.max_cores, len(tasks),
                                         key="grid.max_cores")
    # workers elsewhere (MPI ranks, a dask cluster of its own): this machine's cores do not
    # limit them
    remote = config.grid.scheduler == "mpi" or (config.grid.scheduler == "dask"
                                                 and bool(config.grid.dask_address))
    if capped and not remote:
        print(f"snnsuite: {capped}", flush=True)
    bar = tqdm(total=total, initial=total - len(tasks), unit="point", desc=NAME, dynamic_ncols=True)
    started = time.perf_counter()
    finished = 0

    def record(result):
        nonlocal finished
        name, attrs, datasets = result
        writer.write_point(name, attrs, datasets)  # the parent is the only writer
        finished += 1
        bar.update(1)
        bar.set_postfix_str(f"{60 * finished / (time.perf_counter() - started):.1f} points/min")

    # all points in this process with one local worker; else the first one, which
    # compiles the code once (shared cache) before workers start, so they do
    # not compile it in parallel
    here = len(tasks) if n_jobs == 1 and not remote else int(backend == "runtime")
    try:
        for result in guards.dispatch(_compute, tasks[:here], guards.InlineExecutor(), slots=1,
                                      guard=guard):
            record(result)
        if tasks[here:]:
            with _workers(n_jobs, jobs, config.grid.scheduler,
                          config.grid.dask_address) as (executor, slots):
                for result in guards.dispatch(_compute, tasks[here:], executor, slots=slots,
                                              guard=guard):
                    record(result)
    except guards.Stopped as stop:
        raise guards.Stopped(f"{stop} ({len(writer.completed())} of {total} points "
                             "finished)") from None
    finally:
        bar.close()
    chaos._remove_if_empty(out_dir / "build")
    return writer.finalize()


def summarize(result) -> dict:
    """Correlations of each heterogeneity with each measure, and the most chaotic point."""
    v_axis, g_axis = result.axes
    present = {k for point in result.points.values() for k in point.attrs}
    grids = {m: result.grid(m) for m in MEASURES if m in present}  # older files lack some
    correlations = stats.heterogeneity_correlations({"v_th_std": v_axis, "g_std": g_axis}, grids)
    i, j = stats.grid_argmax(grids["lz_mean"])
    return {"correlations": correlations, "argmax": (i, j), "grids": grids,
            "argmax_values": {"v_th_std": float(v_axis[i]), "g_std": float(g_axis[j]),
                              **{m: float(grids[m][i, j]) for m in grids}},
            "n_points": int(np.isfinite(grids["lz_mean"]).sum()), "n_total": grids["lz_mean"].size}


def report(results_path: Path, out_dir: Path | None = None) -> Path:
    """Heatmaps, ``summary.txt`` and ``report.md`` for a grid result file."""
    result = load(results_path)
    out_dir = Path(out_dir) if out_dir is not None else Path(results_path).parent
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    v_axis, g_axis = result.axes
    summary = summarize(result)
    labels = {"lz_mean": ("LZ76 complexity (c log2 n / n)", "lz_heatmap.png"),
              "hamming_mean": ("Hamming growth slope (neurons/s)", "hamming_heatmap.png"),
              "rate_mean": ("control firing rate (Hz)", "rate_heatmap.png")}
    v_label, g_label = "v_th_std (threshold spread, mV)", "g_std (weight spread, mV/ms)"
    made = []
    for measure, (label, filename) in labels.items():
        made.append(plots.heatmap(result.grid(measure), g_axis, v_axis, figures / filename,
                                  xlabel=g_label, ylabel=v_label, title=label, cbar_label=label,
                                  mark=summary["argmax"] if measure == "lz_mean" else None))
    made.append(plots.chaos_landscape(v_axis, g_axis, result.grid("lz_mean"),
                                      result.grid("hamming_mean"), figures / "chaos_landscape.png",
                                      v_label=v_label, g_label=g_label,
                                      lz_label=labels["lz_mean"][0],
                                      hamming_label=labels["hamming_mean"][0],
                                      mark=summary["argmax"]))
    if "lz_study_mean" in summary["grids"]:
        made.append(plots.chaos_landscape(
            v_axis, g_axis, result.grid("lz_study_mean"), result.grid("hamming_study_mean"),
            figures / "chaos_landscape_study.png", v_label=v_label, g_label=g_label,
            lz_label="study's LZ (phrases, 0.1 ms bins)",
            hamming_label="study's Hamming slope (neurons/ms)"))
    best = summary["argmax_values"]
    text = [f"heterogeneity grid: {summary['n_points']} of {summary['n_total']} points complete",
            f"seed {result.seed}",
            f"highest LZ complexity at v_th_std={best['v_th_std']:.4g} mV, "
            f"g_std={best['g_std']:.4g} mV/ms: "
            f"LZ={best['lz_mean']:.4g}, Hamming slope={best['hamming_mean']:.4g} neurons/s, "
            f"rate={best['rate_mean']:.3g} Hz", "",
            "Pearson correlations (parameter vs measure over grid points):"]
    for row in summary["correlations"]:
        text.append(f"  {row['parameter']:>9} vs {row['measure']:<18} r={row['r']:+.3f}  "
                    f"p={row['p']:.3g}  n={row['n']}")
    (out_dir / "summary.txt").write_text("\n".join(text) + "\n")

    times = [p.attrs["compute_time_s"] for p in result.points.values()]
    lines = ["# Heterogeneity grid: order and chaos", "",
             f"`{Path(results_path).name}`: {summary['n_points']} of {summary['n_total']} points, "
             f"{len(v_axis)} v_th_std x {len(g_axis)} g_std values, seed {result.seed}, "
             f"{np.mean(times):.2f} s of compute per point (mean).", "",
             "## Most chaotic point", "",
             f"v_th_std = {best['v_th_std']:.4g} mV, g_std = {best['g_std']:.4g} mV/ms: "
             f"LZ = {best['lz_mean']:.4g}, Hamming slope = {best['hamming_mean']:.4g} neurons/s.", "",
             "## Correlations with heterogeneity", "",
             "| parameter | measure | Pearson r | p | n |", "|---|---|---|---|---|"]
    lines += [f"| {r['parameter']} | {r['measure']} | {r['r']:+.3f} | {r['p']:.3g} | {r['n']} |"
              for r in summary["correlations"]]
    footer = ["", "Load the numbers: `from analysis.results import load; "
              "r = load('results.h5'); r.grid('lz_mean')`"]
    return write_report(out_dir, lines, made, result.versions, footer)


def main(argv=None) -> int:
    from protocols.cli import protocol_main

    return protocol_main(NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
