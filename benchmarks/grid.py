"""Time the heterogeneity grid: the suite's parallel replica run against the plain approach.

The suite side is the real protocol (``protocols.heterogeneity_grid.run``)
with joblib over all cores, writing ``results.h5`` as a user's run would.  The
baseline is the plain approach (one Brian2 run per control and per perturbed run in a Python loop,
the same measures) timed on a few grid points in this same run and
extrapolated to the whole grid spread perfectly over the same cores; the
ratio printed is therefore an estimate, and says so.  Both sides use the
runtime back-end with a warm code cache.

    python benchmarks/grid.py                          # 20 x 20, 1000 neurons, 20 trials
    python benchmarks/grid.py --size 4 --neurons 300   # a quick look
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from chaos_point import loop_of_runs  # noqa: E402

from brian2 import mV  # noqa: E402

from analysis.results import load  # noqa: E402
from protocols import chaos, heterogeneity_grid  # noqa: E402
from protocols.config import load_config  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20, help="grid points per axis (default 20)")
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--baseline-points", type=int, default=2,
                        help="grid points timed with the plain loop (default 2)")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the result here (default: a temporary folder)")
    args = parser.parse_args()
    config = load_config(ROOT / "configs" / "heterogeneity_grid.yaml", heterogeneity_grid.SCHEMA,
                         [f"network.n_neurons={args.neurons}",
                          f"protocol.n_perturbations={args.trials}",
                          f"grid.v_th_std={{start: 0.05 mV, stop: 0.5 mV, num: {args.size}}}",
                          f"grid.g_std={{start: 0.05, stop: 0.5, num: {args.size}}}"])
    print("warm-up (compiles the code once) ...", flush=True)
    chaos.simulate_point(config.replace(**{"protocol.n_perturbations": 1}))
    chaos.simulate_single(config)

    out = args.out or Path(tempfile.mkdtemp(prefix="snnsuite_grid_bench_"))
    started = time.perf_counter()
    heterogeneity_grid.run(config, out, jobs=args.jobs)
    wall = time.perf_counter() - started
    result = load(out / "results.h5")
    n_points = len(result.points)
    point_times = np.array([p.attrs["compute_time_s"] for p in result.points.values()])

    # the plain approach on evenly spread points of the same grid, one core
    v_axis, g_axis = result.axes
    picks = np.linspace(0, n_points - 1, args.baseline_points).round().astype(int)
    names = sorted(result.points)
    loop_times = []
    for index in picks:
        point = result.points[names[index]]
        cfg = config.replace(**{"network.v_th_std": point.attrs["v_th_std"] * mV,
                                "network.g_std": point.attrs["g_std"]})
        t0 = time.perf_counter()
        loop_of_runs(cfg, block=int(point.attrs["block_id"]))
        loop_times.append((time.perf_counter() - t0, point.attrs["compute_time_s"]))
    loop_per_point = np.array([t for t, _ in loop_times])
    suite_same = np.array([s for _, s in loop_times])
    loop_wall = loop_per_point.mean() * n_points / args.jobs

    print(f"heterogeneity grid: {len(v_axis)} x {len(g_axis)} points, {args.neurons} neurons, "
          f"{args.trials} independent trials each, {args.jobs} jobs, runtime back-end")
    print(f"  suite: wall {wall:8.1f} s = {wall / 60:.1f} min, {60 * n_points / wall:.1f} points/min; "
          f"{np.median(point_times):.2f} s per point on one core (median)")
    print(f"  plain loop on {len(picks)} of these points: {loop_per_point.mean():.2f} s per point "
          f"(the suite: {suite_same.mean():.2f} s on the same points)")
    print(f"  plain loop, extrapolated to the grid on {args.jobs} cores: {loop_wall:8.1f} s "
          f"= {loop_wall / 60:.1f} min")
    print(f"  speed-up (estimate): {loop_wall / wall:.1f}x")
    print(f"  result: {out / 'results.h5'}")


if __name__ == "__main__":
    main()
