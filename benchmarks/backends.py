"""Time a chaos grid on three back-ends in one run: runtime, cpp compiled once, cpp
recompiled per point.

Each side is the real protocol (``protocols.heterogeneity_grid.run``, joblib over
``--jobs`` workers, writing ``results.h5``) on the same network and seeds:

- ``runtime``: Brian2's runtime back-end (Cython), its code cache warmed first;
- ``cpp once``: every point runs on one cached cpp build of the grid's structure (its
  values, connectivity and seed given on the binary's command line); the cache starts
  empty, so the one compile is inside the time;
- ``cpp recompile``: every point generates and compiles its own project
  (``SNNSUITE_COMPILE_ONCE=0``), as before compile-once.

Compile-once needs arrays of one size at every point, so the grid runs with
``network.fixed_indegree: true`` and ``input.noise: device`` on all three sides.  The
results of the two cpp sides are compared (they must be identical), and with runtime.

    python benchmarks/backends.py                       # quick grid, then 4 points of the default
    python benchmarks/backends.py --grid quick
    python benchmarks/backends.py --grid default --size 20   # the whole default grid (hours)

The default grid has 20 x 20 points of 1000 neurons and 40 replicas; ``--size`` (default 2)
runs its first axis values only, and the totals for 400 points are projected from the
per-point times measured here (marked as projected).  Targets (issue 12): cpp once at
least 5x faster than recompiling, and faster than runtime, on the default grid.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.results import load  # noqa: E402
from protocols import chaos, heterogeneity_grid  # noqa: E402
from protocols.config import load_config  # noqa: E402

GRIDS = {"quick": "heterogeneity_grid_quick.yaml", "default": "heterogeneity_grid.yaml"}
SETTINGS = ["network.fixed_indegree=true", "input.noise=device"]
MODES = ("runtime", "cpp once", "cpp recompile")


def grid_config(name: str, size: int | None):
    overrides = list(SETTINGS)
    if size is not None:
        base = load_config(ROOT / "configs" / GRIDS[name], heterogeneity_grid.SCHEMA)
        v_axis, g_axis = heterogeneity_grid.axis_values(base)
        # the first `size` values of each axis: the grid's own points, not a new grid
        v_num, g_num = min(size, len(v_axis)), min(size, len(g_axis))
        overrides += [f"grid.v_th_std={{start: {v_axis[0]} mV, stop: "
                      f"{v_axis[v_num - 1]} mV, num: {v_num}}}",
                      f"grid.g_std={{start: {g_axis[0]}, stop: {g_axis[g_num - 1]}, "
                      f"num: {g_num}}}"]
    return load_config(ROOT / "configs" / GRIDS[name], heterogeneity_grid.SCHEMA, overrides)


def full_points(name: str) -> int:
    base = load_config(ROOT / "configs" / GRIDS[name], heterogeneity_grid.SCHEMA)
    v_axis, g_axis = heterogeneity_grid.axis_values(base)
    return len(v_axis) * len(g_axis)


def run_mode(mode: str, config, folder: Path, jobs: int) -> dict:
    env = os.environ.copy()
    os.environ[chaos.COMPILE_ONCE_VARIABLE] = "0" if mode == "cpp recompile" else "1"
    os.environ["SNNSUITE_CACHE_DIR"] = str(folder / "cache")    # empty: the compile counts
    out = folder / mode.replace(" ", "_")
    started = time.perf_counter()
    try:
        heterogeneity_grid.run(config, out, backend="runtime" if mode == "runtime" else "cpp",
                               jobs=jobs)
    finally:
        os.environ.clear()
        os.environ.update(env)
    wall = time.perf_counter() - started
    result = load(out / "results.h5")
    points = {name: p for name, p in result.points.items()}
    builds = {p.attrs.get("build_hash") for p in points.values()} - {None}
    compile_s = sum(float(p.attrs["build_time_s"]) for p in points.values()
                    if p.attrs.get("build_hash") and not p.attrs.get("build_reused"))
    return {"wall_s": wall, "points": len(points), "builds": len(builds), "compile_s": compile_s,
            "data": {name: {k: np.asarray(p.data[k]) for k in ("lz", "hamming_slope",
                                                                 "control_rates_hz")}
                     for name, p in points.items()}}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[p][k], b[p][k]) for p in a for k in a[p])


def bench(name: str, size: int | None, jobs: int, keep: Path | None) -> dict:
    config = grid_config(name, size)
    n_points = len(config.grid.v_th_std) * len(config.grid.g_std)
    print(f"\n== {name} grid: {n_points} points, {config.network.n_neurons} neurons, "
          f"{config.protocol.n_perturbations} trials, {jobs} worker(s); "
          f"{', '.join(SETTINGS)}", flush=True)
    print("warm-up: runtime code cache ...", flush=True)
    chaos.simulate_point(config.replace(**{"protocol.n_perturbations": 1,
                                           "protocol.observation": "50 ms"}))
    folder = Path(tempfile.mkdtemp(prefix="snnsuite_backends_", dir=keep))
    results = {}
    try:
        for mode in MODES:
            print(f"-- {mode} ...", flush=True)
            results[mode] = run_mode(mode, config, folder, jobs)
            print(f"   {results[mode]['wall_s']:.1f} s", flush=True)
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    once, recompile, runtime = (results[m] for m in ("cpp once", "cpp recompile", "runtime"))
    summary = {
        "grid": name, "points": n_points, "full_grid_points": full_points(name), "jobs": jobs,
        "neurons": int(config.network.n_neurons),
        "trials": int(config.protocol.n_perturbations),
        "wall_s": {m: results[m]["wall_s"] for m in MODES},
        "builds_cpp_once": once["builds"], "compile_s_cpp_once": once["compile_s"],
        "cpp_identical": same(once["data"], recompile["data"]),
        "runtime_identical_to_cpp": same(runtime["data"], once["data"]),
        "ratio_recompile_over_once": recompile["wall_s"] / once["wall_s"],
        "ratio_runtime_over_once": runtime["wall_s"] / once["wall_s"],
    }
    if summary["full_grid_points"] > n_points:
        # every side scales with the number of points, except the one compile of cpp once
        total = summary["full_grid_points"]
        projected = {m: results[m]["wall_s"] / n_points * total for m in MODES}
        compile_s = once["compile_s"]
        projected["cpp once"] = compile_s + (once["wall_s"] - compile_s) / n_points * total
        summary["projected_full_grid_s"] = projected
        summary["projected_ratio_recompile_over_once"] = \
            projected["cpp recompile"] / projected["cpp once"]
        summary["projected_ratio_runtime_over_once"] = \
            projected["runtime"] / projected["cpp once"]
    report(summary)
    return summary


def report(s: dict) -> None:
    print(f"\n{s['grid']} grid, {s['points']} points ({s['neurons']} neurons, {s['trials']} "
          f"trials, {s['jobs']} worker(s)):")
    print(f"  {'back-end':<15} {'wall (s)':>9} {'per point (s)':>14}")
    for mode, wall in s["wall_s"].items():
        print(f"  {mode:<15} {wall:>9.1f} {wall / s['points']:>14.2f}")
    print(f"  cpp once made {s['builds_cpp_once']} build(s) ({s['compile_s_cpp_once']:.1f} s to "
          f"generate and compile); cpp once == cpp recompile: "
          f"{'identical' if s['cpp_identical'] else 'DIFFERENT'}; runtime == cpp: "
          f"{'identical' if s['runtime_identical_to_cpp'] else 'differs'}")
    print(f"  ratio recompile / once: {s['ratio_recompile_over_once']:.1f}x "
          f"(target >= 5x: {'met' if s['ratio_recompile_over_once'] >= 5 else 'missed'})")
    print(f"  ratio runtime / once:   {s['ratio_runtime_over_once']:.2f}x "
          f"(target > 1x: {'met' if s['ratio_runtime_over_once'] > 1 else 'missed'})")
    if "projected_full_grid_s" in s:
        p = s["projected_full_grid_s"]
        print(f"  projected to all {s['full_grid_points']} points (not measured): "
              + ", ".join(f"{m} {v / 60:.0f} min" for m, v in p.items()))
        print(f"  projected ratios: recompile / once {s['projected_ratio_recompile_over_once']:.1f}x, "
              f"runtime / once {s['projected_ratio_runtime_over_once']:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=("quick", "default", "both"), default="both")
    parser.add_argument("--size", type=int, default=2,
                        help="values per axis of the default grid (default 2: 4 points; 20: "
                             "all 400)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the grids' result folders under this folder")
    args = parser.parse_args()
    summaries = []
    if args.grid in ("quick", "both"):
        summaries.append(bench("quick", None, args.jobs, args.keep))
    if args.grid in ("default", "both"):
        summaries.append(bench("default", args.size, args.jobs, args.keep))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summaries, indent=1))
        print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
