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
import os
from pathlib import Path

import numpy as np

from analysis import plots, stats
from analysis.reports import write_report
from analysis.results import ResultWriter, load
from protocols import chaos
from protocols import guards
from protocols import outdir
from protocols import sweep
from protocols.config import ConfigError, Field

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
DASK_MISSING = sweep.DASK_MISSING.format(key="grid.scheduler")
#: how a grid is started on MPI ranks: rank 0 runs this module, the others serve points
MPI_LAUNCH = "mpiexec -n N python -m mpi4py.futures -m protocols.heterogeneity_grid"


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
        n_workers = max(sweep.mpi_local_ranks() - 1, 1)
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


def mpi_world_size(config, out_dir=None) -> int:
    """Processes of the MPI world this run was started in by ``python -m mpi4py.futures``
    (:func:`protocols.sweep.mpi_world_size` for ``grid.scheduler``)."""
    return sweep.mpi_world_size(config.source, out_dir, key="grid.scheduler", launch=MPI_LAUNCH)


def _check_scheduler(config, out_dir=None) -> None:
    """The scheduler can run here: its package is installed, and MPI was launched for it."""
    sweep.check_scheduler(config.grid.scheduler, config.source, out_dir, key="grid.scheduler",
                          launch=MPI_LAUNCH)


def preflight(config, *, out_dir, resume: bool = False) -> None:
    """Before anything is written: the scheduler's package, and for MPI how it was launched."""
    _check_scheduler(config, out_dir)


def point_name(i: int, j: int) -> str:
    return f"v{i:03d}_g{j:03d}"


def _compute(config, i: int, j: int, block: int, backend: str, build_root: str):
    """One grid point (runs in a worker process)."""
    from models.devices import drop_debug_files

    drop_debug_files()  # a worker stopped by a signal must not leave Brian2's temp files
    attrs, datasets = chaos.sweep_point(config, block=block, backend=backend,
                                        build_root=build_root)
    attrs.update(i=i, j=j, worker_pid=os.getpid())
    return point_name(i, j), attrs, datasets


def _pending(config, done):
    v_axis, g_axis = config.grid.v_th_std, config.grid.g_std
    for i, v in enumerate(v_axis):
        for j, g in enumerate(g_axis):
            if point_name(i, j) not in done:
                point_cfg = config.replace(**{"network.v_th_std": v, "network.g_std": float(g)})
                yield i, j, i * len(g_axis) + j, point_cfg


def _results_config(config) -> str:
    """The config text stored in results.h5: the config without the :data:`RUN_ONLY` keys."""
    return sweep.results_config(config, RUN_ONLY)


def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False) -> Path:
    """Run (or resume) the grid into ``out_dir/results.h5``.

    Raises :class:`protocols.guards.Stopped` when the resource guard stopped
    dispatching; the points that were running are written first.
    """
    _check_scheduler(config, out_dir)  # before anything is written
    out_dir = outdir.claim(out_dir, NAME)  # a folder of its own (see protocols.outdir)
    v_axis, g_axis = axis_values(config)
    writer = ResultWriter(out_dir, NAME, _results_config(config), config.seed.session,
                          chaos.versions(), axes={"v_th_std": v_axis, "g_std": g_axis},
                          resume=resume)
    done = writer.completed()
    tasks = [(cfg, i, j, block, backend, str(out_dir / "build"))
             for i, j, block, cfg in _pending(config, done)]
    note = chaos.compile_note(config, backend) if tasks else None
    if note:
        print(f"snnsuite: {note}", flush=True)
    return sweep.run_points(NAME, _compute, tasks, writer=writer,
                            total=len(v_axis) * len(g_axis), out_dir=out_dir,
                            scheduler=config.grid.scheduler, address=config.grid.dask_address,
                            max_cores=config.grid.max_cores, max_cores_key="grid.max_cores",
                            resources=config.resources, jobs=jobs, backend=backend)


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
