"""Time one chaos point: replicas in one network vs one Brian2 run per trial.

Both sides simulate the same network (1000 neurons by default), the same
noise and the same 20 perturbations; the baseline is the plain approach of
the study this suite replaces: build and run a fresh single network per trial
(control + 20 trials) in a Python loop.  Both use the runtime back-end with
a warm code cache (a warm-up run compiles first).  The spike trains of the two
approaches are also compared: they must be identical.

    python benchmarks/chaos_point.py                 # 1000 neurons, 20 trials
    python benchmarks/chaos_point.py --neurons 300 --trials 5
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import brian2 as b2
import numpy as np

from models import devices, replicas, rng
from protocols import chaos
from protocols.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def loop_of_runs(config, block=0):
    """The plain approach: a fresh one-replica network per trial."""
    n_trials = config.protocol.n_perturbations
    one = config.replace(**{"protocol.n_perturbations": 1})
    # reuse the protocol's own drawing of structure and inputs by asking for
    # the same streams: simulate_point draws them, so rebuild them here
    spikes = []
    perturbed = rng.stream(config.seed.session, block=block, purpose="perturbation").choice(
        config.network.n_neurons, size=n_trials, replace=False)
    for trial in range(n_trials + 1):
        neuron = None if trial == 0 else int(perturbed[trial - 1])
        spikes.append(chaos.simulate_single(one, block=block, perturbed_neuron=neuron))
    return spikes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_config(ROOT / "configs" / "chaos.yaml", chaos.SCHEMA,
                         [f"network.n_neurons={args.neurons}",
                          f"protocol.n_perturbations={args.trials}"])
    chaos.simulate_point(config)  # warm-up: compile the code once
    chaos.simulate_single(config, perturbed_neuron=0)

    suite_times, loop_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        attrs, _ = chaos.simulate_point(config, keep_spikes=True)
        suite_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loop_of_runs(config)
        loop_times.append(time.perf_counter() - t0)
    suite, loop = float(np.median(suite_times)), float(np.median(loop_times))
    print(f"chaos point: {args.neurons} neurons, control + {args.trials} trials, "
          f"{float(config.protocol.baseline + config.protocol.observation) * 1e3:.0f} ms, runtime back-end")
    print(f"  suite (replicas in one network): {suite:7.2f} s  (median of {args.repeats}; "
          f"simulation {attrs['simulation_time_s']:.2f} s, analysis "
          f"{attrs['compute_time_s'] - attrs['simulation_time_s']:.2f} s)")
    print(f"  plain loop (one run per trial):  {loop:7.2f} s  (median of {args.repeats})")
    print(f"  speed-up: {loop / suite:.1f}x")


if __name__ == "__main__":
    main()
