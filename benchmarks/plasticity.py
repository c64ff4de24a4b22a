"""Time the combined-plasticity network: all rules on vs static synapses, per back-end.

The network is the one of the ``combined`` plasticity sub-experiment
(:func:`protocols.plasticity.combined.build`, defaults of
``configs/plasticity_combined.yaml``) resized: ``--neurons`` split 80% E /
20% I, and ``--synapses`` plastic E->E synapses (fixed in-degree
``k_ee = synapses / n_exc``; the initial E->E weights, their spread and the
decay baseline are scaled by ``40 / k_ee`` so that the recurrent drive stays
that of the protocol's network).  The *static* version is the same network
(same structure, same input) whose E->E synapses only transmit (no STP, no
learning, no per-step weight update); their weights are the initial weights
times the STP steady-state efficacy at the target rate, so that both versions
run at similar rates (printed).

For each back-end and version the script reports

* ``setup``: building the Brian2 objects (numpy connectivity included);
* ``prepare``: what precedes the simulation loop - runtime: code generation
  and loading the (cached) Cython modules; cpp: generating, compiling
  (``make -j<jobs>``) and launching the C++ project, i.e. the call's wall time
  minus the loop;
* ``loop``: the simulation loop alone (``brian2.device._last_run_time``: timed
  by Brian2 around the loop, by the standalone binary itself for cpp);
* synaptic events: presynaptic spikes x outgoing synapses, summed over every
  ``Synapses`` (E->E, E->I, I->E), plus, for the plastic E->E synapses,
  postsynaptic spikes x incoming synapses (their ``on_post`` pathway);
  Poisson input (``PoissonInput``, no synapse objects) is not counted.
  ``events/s`` = events / loop time.
* plastic synapse-steps/s: the plastic E->E weights drift (decay, BCM,
  scaling) and are clipped every time step, so the plastic version also does
  ``n_synapses x n_steps`` clock-driven updates whatever the activity; their
  number per second of loop is printed too, since it, not the event count,
  dominates the cost of the plastic version.

Compilation is excluded from ``loop`` and from events/s: the runtime back-end
first does a short warm-up run of each version (compiles and caches the Cython
code; reported separately), the cpp back-end compiles inside every run (the
``prepare`` column).  Ratios are plastic / static: loop time (how much longer
plasticity takes) and events/s.

    python benchmarks/plasticity.py                       # 1000 neurons, 1e5 synapses, 10 s
    python benchmarks/plasticity.py --duration 2s --backends runtime
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def make_config(neurons: int, synapses: int, duration: str, seed: int):
    """The combined-protocol config resized to ``neurons`` and ``synapses`` (plastic E->E)."""
    from protocols import plasticity
    from protocols.config import load_config

    base = load_config(ROOT / "configs" / "plasticity_combined.yaml", plasticity.SCHEMA)
    n_exc = int(round(0.8 * neurons))
    n_inh = neurons - n_exc
    k_ee = synapses // n_exc
    if not 1 <= k_ee < n_exc:
        raise SystemExit(f"--synapses {synapses} with {n_exc} E neurons gives in-degree "
                         f"{k_ee}; need 1 <= k_ee < {n_exc}")
    factor = base.combined.k_ee / k_ee
    overrides = [f"combined.n_exc={n_exc}", f"combined.n_inh={n_inh}", f"combined.k_ee={k_ee}",
                 f"combined.k_ie={min(base.combined.k_ie, n_inh)}",
                 f"combined.k_ei={min(base.combined.k_ei, n_exc)}",
                 f"combined.w_ee_init={base.combined.w_ee_init * factor!r}",
                 f"combined.w_ee_spread={base.combined.w_ee_spread * factor!r}",
                 f"combined.decay_baseline={base.combined.decay_baseline * factor!r}",
                 f"combined.duration={duration}", f"seed.session={seed}"]
    return load_config(ROOT / "configs" / "plasticity_combined.yaml", plasticity.SCHEMA,
                       overrides)


def synaptic_events(objects, plastic: bool) -> dict:
    """Presynaptic (and, for plastic E->E, postsynaptic) events per synapse object."""
    count_e = np.asarray(objects["spikes_exc"].count[:], dtype=np.int64)
    count_i = np.asarray(objects["spikes_inh"].count[:], dtype=np.int64)
    events = {}
    for name, counts in (("ee", count_e), ("ei", count_e), ("ie", count_i)):
        if name in objects:
            out_degree = np.bincount(np.asarray(objects[name].i[:]), minlength=len(counts))
            events[f"{name}_pre"] = int(counts @ out_degree)
    if plastic:
        in_degree = np.bincount(np.asarray(objects["ee"].j[:]), minlength=len(count_e))
        events["ee_post"] = int(count_e @ in_degree)
    events["total"] = sum(events.values())
    events["spikes_exc"], events["spikes_inh"] = int(count_e.sum()), int(count_i.sum())
    return events


def one_run(config, backend: str, plastic: bool, duration, build_root: Path) -> dict:
    """Build and run one version on one back-end; timings, events and rates."""
    import brian2 as b2
    from brian2 import second

    from models import devices, rng
    from protocols.plasticity import combined

    with devices.backend(backend, build_root=build_root) as device:
        b2.defaultclock.dt = config.protocol.dt
        b2.seed(rng.integer_seed(config.seed.session, block=0, purpose="noise"))
        started = time.perf_counter()
        net, objects = combined.build(config.combined, config.seed.session, plastic=plastic,
                                      record=False)
        setup = time.perf_counter() - started
        started = time.perf_counter()
        device.run(net, duration)
        call = time.perf_counter() - started
        loop = float(b2.device._last_run_time)
        events = synaptic_events(objects, plastic)
        n_syn = {name: len(objects[name]) for name in ("ee", "ei", "ie") if name in objects}
    seconds = float(duration / second)
    steps = int(round(float(duration / config.protocol.dt)))
    return {"setup": setup, "prepare": call - loop, "loop": loop, "events": events,
            "synapse_steps": n_syn["ee"] * steps if plastic else 0,
            "synapses": n_syn, "events_per_s": events["total"] / loop,
            "rate_exc": events["spikes_exc"] / config.combined.n_exc / seconds,
            "rate_inh": events["spikes_inh"] / config.combined.n_inh / seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--synapses", type=int, default=100_000,
                        help="plastic E->E synapses (in-degree synapses / n_exc)")
    parser.add_argument("--duration", default="10s", help="biological time, e.g. 10s or '2 s'")
    parser.add_argument("--backends", nargs="+", default=["runtime", "cpp"],
                        choices=["runtime", "cpp"])
    parser.add_argument("--warmup", default="200ms",
                        help="runtime back-end: length of the warm-up run that compiles the code")
    parser.add_argument("--jobs", type=int, default=1, help="make -j for the cpp back-end")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import brian2 as b2

    from protocols.config import parse_quantity

    duration = parse_quantity(args.duration, "time")
    warmup = parse_quantity(args.warmup, "time")
    config = make_config(args.neurons, args.synapses, args.duration, args.seed)
    b2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{args.jobs}"]
    c = config.combined
    print(f"combined plasticity network: {c.n_exc} E + {c.n_inh} I, "
          f"{c.n_exc * c.k_ee} plastic E->E synapses (in-degree {c.k_ee}), "
          f"dt {float(config.protocol.dt) * 1e3:g} ms, {float(duration):g} s biological time; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="snnsuite_bench_") as tmp:
        for backend in args.backends:
            for plastic in (True, False):
                label = "plastic" if plastic else "static"
                if backend == "runtime":
                    started = time.perf_counter()
                    one_run(config, backend, plastic, warmup, Path(tmp))
                    print(f"  [{backend:7s} {label:7s}] warm-up {float(warmup) * 1e3:g} ms run "
                          f"(code generation + Cython compile/cache): "
                          f"{time.perf_counter() - started:.1f} s", flush=True)
                r = one_run(config, backend, plastic, duration, Path(tmp))
                results[backend, label] = r
                ev = r["events"]
                print(f"  [{backend:7s} {label:7s}] setup {r['setup']:6.2f} s | prepare "
                      f"{r['prepare']:6.2f} s | loop {r['loop']:7.2f} s | rates E "
                      f"{r['rate_exc']:.2f} Hz, I {r['rate_inh']:.2f} Hz | events "
                      f"{ev['total']:.3e} (E->E pre {ev['ee_pre']:.2e}"
                      f"{', post %.2e' % ev['ee_post'] if 'ee_post' in ev else ''}) | "
                      f"{r['events_per_s']:.3e} events/s"
                      + (f" | {r['synapse_steps'] / r['loop']:.3e} plastic synapse-steps/s"
                         if plastic else ""), flush=True)

    print()
    print(f"{'back-end':9s} {'plastic loop':>13s} {'static loop':>12s} {'loop ratio':>11s} "
          f"{'plastic ev/s':>13s} {'static ev/s':>12s} {'ev/s ratio':>11s} "
          f"{'wall plastic':>13s} {'wall static':>12s}")
    for backend in args.backends:
        p, s = results[backend, "plastic"], results[backend, "static"]
        wall_p = p["setup"] + p["prepare"] + p["loop"]
        wall_s = s["setup"] + s["prepare"] + s["loop"]
        print(f"{backend:9s} {p['loop']:12.2f}s {s['loop']:11.2f}s {p['loop'] / s['loop']:10.2f}x "
              f"{p['events_per_s']:13.3e} {s['events_per_s']:12.3e} "
              f"{p['events_per_s'] / s['events_per_s']:10.3f}x {wall_p:12.1f}s {wall_s:11.1f}s")
    print("loop = simulation loop only (compilation excluded); wall = setup + prepare + loop "
          "(runtime: warm Cython cache; cpp: includes the C++ compile); ratios plastic/static.")
    if len(args.backends) > 1 and "runtime" in args.backends and "cpp" in args.backends:
        for label in ("plastic", "static"):
            print(f"cpp speed-up over runtime ({label}, loop): "
                  f"{results['runtime', label]['loop'] / results['cpp', label]['loop']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
