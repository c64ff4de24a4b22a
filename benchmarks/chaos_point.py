"""Time one chaos point: replicas in one network vs one Brian2 run per run.

Both sides simulate the same network (1000 neurons by default), the same
independent trials (each trial's own initial state and noise) and the same
20 perturbations, and compute the same measures (the suite's and the study's,
per trial); the baseline is the plain approach of the study this suite
replaces: build and run a fresh single network for each control and each
perturbed run (2 x 20 runs) in a Python loop.  Both use the runtime back-end
with a warm code cache (a warm-up run compiles first).  The spike trains of
the two approaches are also compared: they must be identical.

    python benchmarks/chaos_point.py                 # 1000 neurons, 20 trials
    python benchmarks/chaos_point.py --neurons 300 --trials 5
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from protocols import chaos
from protocols.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def loop_of_runs(config, block=0):
    """The plain approach: a fresh one-replica network per run (each trial's
    control, then its perturbed run).

    Returns the spikes of every run (indexed as the suite's replicas) and the
    seconds spent simulating; the same measures as the suite's are then
    computed from them.
    """
    started = time.perf_counter()
    drawn = chaos.draw(config, block)
    spikes = {}
    for k in range(config.protocol.n_perturbations):
        for perturbed, replica in ((False, drawn.layout.control[k]),
                                   (True, drawn.layout.perturbed[k])):
            spikes[int(replica)] = chaos.simulate_single(config, block=block, trial=k,
                                                         perturbed=perturbed, drawn=drawn)
    simulation = time.perf_counter() - started
    chaos.measure(config, drawn, spikes.__getitem__)
    return spikes, simulation, drawn


def same_spikes(a, b) -> bool:
    return len(a[0]) == len(b[0]) and np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_config(ROOT / "configs" / "chaos.yaml", chaos.SCHEMA,
                         [f"network.n_neurons={args.neurons}",
                          f"protocol.n_perturbations={args.trials}"])
    print("warm-up (compiles the code once) ...", flush=True)
    chaos.simulate_point(config)
    chaos.simulate_single(config, perturbed=True)

    suite_times, loop_times, simulation_ratios = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        attrs, data = chaos.simulate_point(config, keep_spikes=True)
        suite_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loop, loop_simulation, drawn = loop_of_runs(config)
        loop_times.append(time.perf_counter() - t0)
        simulation_ratios.append(loop_simulation / attrs["simulation_time_s"])
    first_control, first_perturbed = int(drawn.layout.control[0]), int(drawn.layout.perturbed[0])
    identical = (same_spikes(loop[first_control], (data["control_spike_i"],
                                                   data["control_spike_t_s"]))
                 and same_spikes(loop[first_perturbed], (data["trial_spike_i"],
                                                         data["trial_spike_t_s"])))
    suite, loop = float(np.median(suite_times)), float(np.median(loop_times))
    print(f"chaos point: {args.neurons} neurons, {args.trials} independent trials "
          f"({2 * args.trials} runs), "
          f"{float(config.protocol.baseline + config.protocol.observation) * 1e3:.0f} ms, "
          "runtime back-end")
    print(f"  suite (replicas in one network): {suite:7.2f} s  (median of {args.repeats}; "
          f"last run: simulation {attrs['simulation_time_s']:.2f} s, analysis "
          f"{attrs['compute_time_s'] - attrs['simulation_time_s']:.2f} s)")
    print(f"  plain loop (one run per run):    {loop:7.2f} s  (median of {args.repeats}; "
          f"same measures computed)")
    print(f"speed-up: {loop / suite:.1f}x (simulation alone: "
          f"{float(np.median(simulation_ratios)):.1f}x)")
    print(f"  spike trains of control and trial 1 identical in both approaches: {identical}")
    if not identical:
        raise SystemExit("the two approaches disagree: the benchmark compares different work")


if __name__ == "__main__":
    main()
