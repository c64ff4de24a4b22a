"""Scaling of the chaos network with N: runtime (Cython) vs C++ standalone.

The network is the suite's LIF network of the chaos protocol
(``protocols/chaos.py``), built as ``chaos.draw`` + ``chaos.simulate`` build it
(same structure, thresholds, initial state and numpy-drawn Poisson
background), with ONE replica and no forced spike, from ``configs/chaos.yaml``
overridden through the config API:

- ``network.n_neurons = N``,
- ``network.fixed_indegree = true`` and ``network.connection_prob = K / (N - 1)``,
  so every neuron receives exactly ``K`` (default 100) recurrent synapses
  (``K = round(p (N - 1))``, checked after drawing),
- ``protocol.n_perturbations = 1``, ``protocol.perturb = false``, and a
  simulated time of ``--duration`` (default 1 s; 5% baseline, 95% observation).

Each (N, back-end) case runs in a fresh child process (this script with
``--one N BACKEND``) so that code caches, Brian2's device state and memory
high-water marks of one case never leak into another.  Per case it reports:

- times (wall clock, ``time.perf_counter``):
  ``draw``   numpy drawing of structure and input (the same for both back-ends);
  ``prep``   runtime: a 0 s ``Network.run`` (code generation, Cython
             compilation or loading from the on-disk cache);
             cpp: building the network objects and generating the C++ project;
  ``compile`` cpp only: ``make`` (and ``make clean``), from Brian2's
             ``device.timers["compile"]``;
  ``run``    runtime: ``Network.run(duration)`` after the 0 s run;
             cpp: wall time of the compiled binary (``./main``: loading its
             arrays, the simulation, writing results), measured around the
             binary itself (Brian2's ``device.timers["run_binary"]``, which
             also counts a small wrapper that reads the binary's memory,
             is kept in the JSON as ``run_binary_timer_s``);
- recurrent synaptic events: for every recurrent spike of the spike monitor,
  the out-degree of the neuron that fired (its number of recurrent synapses
  in ``structure.pre``), summed; ``events/s`` is that sum divided by the
  ``run`` time.  The background input (one synapse per Poisson input spike)
  is counted separately (``background_events`` in the JSON), not in events/s;
- memory: ``sim MiB`` is the peak resident memory of the process that
  simulates, from Linux's ``VmHWM`` (runtime: the Python process from the
  end of drawing to the end of the run, its high-water mark reset after
  drawing through ``/proc/self/clear_refs``; cpp: the ``./main`` binary, from
  ``os.wait4`` in a wrapper given to Brian2 as
  ``prefs.devices.cpp_standalone.run_cmd_unix``); ``all MiB`` is the peak of
  the whole case's process tree (``os.wait4`` on the child: the largest of
  the Python process, which includes drawing the fixed in-degree's N x N
  random keys, about 17 N^2 bytes, the compiler and the binary).

Both back-ends run on one thread (the runtime is single-threaded; cpp uses
``openmp_threads = 0``, Brian2's default).  The runtime uses the Cython code
target unless ``SNNSUITE_RUNTIME_TARGET`` says otherwise (:mod:`models.devices`);
the target in use is printed.  After the table, per back-end, the run time
is fitted as proportional to N x simulated seconds (``run = c N T``) and to
the recurrent synaptic events (``run = c E``), by least squares through the
origin; the cost is called "linear within +-20%" when every size's own
``run / (N T)`` (or ``run / E``) lies within 20% of the fitted ``c``.  The
log-log slope of run time against N is printed too (1.0 = linear).

    python benchmarks/scaling.py                                # N = 1000 ... 16000, 1 s, both
    python benchmarks/scaling.py --sizes 500 1000 --duration 0.1
    python benchmarks/scaling.py --backends cpp --repeat 3 --out results/scaling.json

Time and memory grow with N: at N = 16000 drawing the fixed in-degree
alone needs about 4.5 GB, and run it on a quiet machine (the timings are
wall clock).
"""
from __future__ import annotations

import os
import sys


def _exec_measured(argv: list) -> int:
    """``--exec-measured FILE CMD...``: run CMD, write its wall time and peak RSS to FILE.

    Given to Brian2 as the standalone run command; kept free of heavy imports
    so it adds little to Brian2's own timer of the binary.
    """
    import json
    import time

    out_file, command = argv[0], argv[1:]
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    with open(out_file, "w") as f:
        json.dump({"wall_s": wall, "maxrss_kib": usage.ru_maxrss}, f)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--exec-measured":
    raise SystemExit(_exec_measured(sys.argv[2:]))

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
DEFAULT_SIZES = (1000, 2000, 4000, 8000, 16000)
BACKENDS = ("runtime", "cpp")
TOLERANCE = 0.20


# --------------------------------------------------------------------------- memory (Linux)
def _vm_hwm_kib() -> int | None:
    """Peak resident memory of this process (``VmHWM``), KiB; None where not available."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- one case (child)
def _config(n: int, indegree: int, duration_s: float, config_path: Path):
    from protocols import chaos
    from protocols.config import load_config

    baseline_ms = 0.05 * duration_s * 1e3
    observation_ms = duration_s * 1e3 - baseline_ms
    return load_config(config_path, chaos.SCHEMA, [
        f"network.n_neurons={n}",
        "network.fixed_indegree=true",
        f"network.connection_prob={indegree / (n - 1)!r}",
        "protocol.n_perturbations=1",
        "protocol.perturb=false",
        "protocol.transient=0 ms",
        f"protocol.baseline={baseline_ms!r} ms",
        f"protocol.observation={observation_ms!r} ms",
        f"protocol.fano_window={min(50.0, observation_ms)!r} ms",
    ])


def run_one(n: int, backend: str, duration_s: float, indegree: int, config_path: Path) -> dict:
    """Draw, build and run one case in this process; returns its measurements."""
    import gc

    import brian2 as b2
    from brian2 import second

    from models import devices, replicas
    from protocols import chaos

    devices.drop_debug_files()
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    config = _config(n, indegree, duration_s, config_path)
    result = {"n": n, "backend": backend, "indegree": indegree}

    # 1. draw (numpy): structure, thresholds, the one realisation's initial state and input
    t0 = time.perf_counter()
    drawn = chaos.draw(config)
    result["draw_s"] = time.perf_counter() - t0
    result["draw_peak_kib"] = _vm_hwm_kib()
    struct = drawn.structure
    in_degree = np.bincount(struct.post, minlength=n)
    if in_degree.min() != indegree or in_degree.max() != indegree:
        raise RuntimeError(f"in-degree not exactly {indegree}: "
                           f"{in_degree.min()}..{in_degree.max()}")
    out_degree = np.bincount(struct.pre, minlength=n).astype(np.int64)
    realisation = drawn.realisations[int(drawn.layout.realisation[drawn.layout.control[0]])]
    dt_s = float(config.protocol.dt / second)
    sim_steps = int(round(float(drawn.duration / second) / dt_s))
    result.update(duration_s=float(drawn.duration / second), dt_s=dt_s,
                  recurrent_synapses=int(struct.pre.size),
                  background_events=int(np.count_nonzero(realisation.background[1] < sim_steps)))
    del in_degree
    gc.collect()
    result["hwm_reset"] = _reset_hwm()

    # 2. build and run, as chaos.simulate does (one replica, no perturbation)
    with devices.backend(backend) as dev:
        t0 = time.perf_counter()
        net, objects = chaos._network(config, drawn, [], [realisation], [0], block=0)
        build_s = time.perf_counter() - t0
        if backend == "runtime":
            result["target"] = str(b2.prefs.codegen.target)
            t0 = time.perf_counter()
            net.run(0 * second, namespace={})   # code generation and compilation only
            result["prep_s"] = build_s + time.perf_counter() - t0
            t0 = time.perf_counter()
            net.run(drawn.duration, namespace={})
            result["run_s"] = time.perf_counter() - t0
            result["code_objects"] = sorted({type(o.codeobj).__name__ for o in net.objects
                                             if getattr(o, "codeobj", None) is not None})
            result["compile_s"] = None
        else:
            result["target"] = "cpp_standalone"
            measured = Path(tempfile.mkstemp(prefix="snnsuite_scaling_", suffix=".json")[1])
            try:
                b2.prefs.devices.cpp_standalone.run_cmd_unix = [
                    sys.executable, str(SCRIPT), "--exec-measured", str(measured), "./main"]
                t0 = time.perf_counter()
                net.run(drawn.duration, namespace={})
                b2.device.build(directory=str(dev.directory), compile=True, run=False,
                                with_output=False)
                generate_and_compile = time.perf_counter() - t0
                compile_timers = b2.device.timers["compile"]
                result["compile_s"] = sum(v for v in compile_timers.values() if v is not None)
                result["prep_s"] = build_s + generate_and_compile - result["compile_s"]
                b2.device.run(directory=str(dev.directory), with_output=False)
                binary = json.loads(measured.read_text())
                result["run_s"] = binary["wall_s"]
                result["run_binary_timer_s"] = b2.device.timers["run_binary"]
                result["binary_peak_kib"] = binary["maxrss_kib"]
            finally:
                measured.unlink(missing_ok=True)
        spikes = replicas.spikes_of(objects, n)
    result["sim_peak_kib"] = (result["binary_peak_kib"] if backend == "cpp"
                              else _vm_hwm_kib() if result["hwm_reset"] else None)
    result["process_peak_kib"] = _vm_hwm_kib()
    result["spikes"] = int(spikes.neuron.size)
    result["rate_hz"] = spikes.neuron.size / (n * result["duration_s"])
    result["recurrent_events"] = int(out_degree[spikes.neuron].sum())
    result["events_per_s"] = result["recurrent_events"] / result["run_s"]
    return result


# --------------------------------------------------------------------------- parent
def run_case(n: int, backend: str, args) -> dict:
    """One case in a fresh child process; adds the process tree's peak memory."""
    with tempfile.TemporaryDirectory(prefix="snnsuite_scaling_") as folder:
        result_file = Path(folder) / "result.json"
        command = [sys.executable, str(SCRIPT), "--one", str(n), backend,
                   "--duration", repr(args.duration), "--indegree", str(args.indegree),
                   "--config", str(args.config), "--result-file", str(result_file)]
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 cwd=ROOT)
        output = child.stdout.read().decode(errors="replace")
        child.stdout.close()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if child.returncode != 0 or not result_file.exists():
            return {"n": n, "backend": backend, "error": f"exit {child.returncode}",
                    "output_tail": output[-3000:]}
        result = json.loads(result_file.read_text())
    result["tree_peak_kib"] = usage.ru_maxrss   # the child and every descendant it waited for
    result["case_wall_s"] = wall
    return result


def environment() -> dict:
    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        compiler = subprocess.run(["g++", "--version"], capture_output=True, text=True,
                                  check=False).stdout.splitlines()[0]
    except (OSError, IndexError):
        compiler = "g++ not found"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    target = os.environ.get("SNNSUITE_RUNTIME_TARGET", "").strip().lower() or "cython (default)"
    return {"python": platform.python_version(), "brian2": version("brian2"),
            "numpy": version("numpy"), "cython": version("cython"), "compiler": compiler,
            "cpu_count": os.cpu_count(), "cpus_usable": usable, "cpu": cpu,
            "platform": platform.platform(), "runtime_target_requested": target}


def summarise(runs: list) -> dict:
    """Median times, max memory over the repeats of one case."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {**{k: runs[0][k] for k in ("n", "backend")}, "error": runs[0]["error"]}

    def med(key):
        values = [r[key] for r in ok if r.get(key) is not None]
        return float(np.median(values)) if values else None

    def peak(key):
        values = [r[key] for r in ok if r.get(key) is not None]
        return max(values) if values else None

    first = ok[0]
    out = {k: first[k] for k in ("n", "backend", "target", "indegree", "duration_s",
                                 "recurrent_synapses")}
    out.update({k: med(k) for k in ("draw_s", "prep_s", "compile_s", "run_s", "spikes",
                                    "rate_hz", "recurrent_events", "background_events")})
    out["run_s_min"], out["run_s_max"] = (min(r["run_s"] for r in ok), max(r["run_s"] for r in ok))
    out["events_per_s"] = out["recurrent_events"] / out["run_s"]
    out.update({k: peak(k) for k in ("sim_peak_kib", "tree_peak_kib", "draw_peak_kib")})
    out["repeats"] = len(ok)
    out["failed"] = len(runs) - len(ok)
    return out


def linearity(rows: list) -> dict | None:
    """Fit run time as proportional to N x T and to the recurrent events, for one back-end.

    ``run_i = c x_i`` by least squares through the origin (``c = sum(run x) / sum(x^2)``,
    so the large sizes weigh most); each size's deviation is ``run_i / (c x_i) - 1``.
    """
    rows = sorted((r for r in rows if "error" not in r), key=lambda r: r["n"])
    if len(rows) < 2:
        return None
    n = np.array([r["n"] for r in rows], float)
    run = np.array([r["run_s"] for r in rows])
    out = {"sizes": n.astype(int).tolist(),
           "loglog_slope": float(np.polyfit(np.log(n), np.log(run), 1)[0])}
    units = (("us_per_neuron_second", n * np.array([r["duration_s"] for r in rows]), 1e6),
             ("ns_per_event", np.maximum(np.array([r["recurrent_events"] for r in rows], float),
                                         1.0), 1e9))
    for name, x, scale in units:
        fitted = float(np.sum(run * x) / np.sum(x * x))
        values = run / x
        deviation = values / fitted - 1
        out[name] = {"values": (values * scale).tolist(), "fit": fitted * scale,
                     "deviation": deviation.tolist(),
                     "max_abs_deviation": float(np.abs(deviation).max()),
                     "linear": bool(np.abs(deviation).max() <= TOLERANCE)}
    return out


def _mib(kib):
    return "-" if kib is None else f"{kib / 1024:.0f}"


def _sec(value):
    return "-" if value is None else f"{value:.2f}"


def print_table(rows: list, repeat: int) -> None:
    head = (f"{'N':>6} {'backend':>8} {'target':>14} {'rec.syn':>9} {'rate Hz':>7} "
            f"{'rec.events':>11} {'draw s':>7} {'prep s':>7} {'compile s':>9} {'run s':>7} "
            f"{'events/s':>9} {'sim MiB':>8} {'all MiB':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['n']:>6} {r['backend']:>8}  FAILED: {r['error']}")
            continue
        print(f"{r['n']:>6} {r['backend']:>8} {r['target']:>14} {r['recurrent_synapses']:>9} "
              f"{r['rate_hz']:>7.2f} {r['recurrent_events']:>11.4g} {_sec(r['draw_s']):>7} "
              f"{_sec(r['prep_s']):>7} {_sec(r['compile_s']):>9} {_sec(r['run_s']):>7} "
              f"{r['events_per_s']:>9.3g} {_mib(r['sim_peak_kib']):>8} "
              f"{_mib(r['tree_peak_kib']):>8}")
    print(f"times: median of {repeat} fresh process(es) per case; memory: the largest.")
    print("rec.events = recurrent synaptic events = sum over the recurrent spikes (spike monitor) "
          "of the firing neuron's out-degree\n  (its recurrent synapses); background input "
          "spikes (one synapse each) are not included.  events/s = rec.events / run s.")
    print("prep = runtime: build + 0 s run (code generation, Cython compile or cache load); "
          "cpp: build + C++ generation.\ncompile = cpp: make (device.timers).  run = runtime: "
          "Network.run; cpp: the ./main binary's wall time.\nsim MiB = peak RSS of the process "
          "that simulates (runtime: Python after drawing; cpp: ./main); all MiB = peak of\n  the "
          "case's whole process tree (drawing the N x N fixed-in-degree keys, compiler, binary).")


def print_linearity(backend: str, fit: dict | None) -> None:
    if fit is None:
        print(f"{backend}: fewer than two sizes ran, no scaling fit")
        return
    print(f"{backend}: run time ~ N^{fit['loglog_slope']:.2f} (log-log slope over N = "
          f"{', '.join(map(str, fit['sizes']))})")
    for key, label, unit in (("us_per_neuron_second", "per neuron x second", "us"),
                             ("ns_per_event", "per recurrent synaptic event", "ns")):
        f = fit[key]
        values = ", ".join(f"{v:.3g}" for v in f["values"])
        deviations = ", ".join(f"{100 * d:+.0f}%" for d in f["deviation"])
        verdict = ("linear within ±20%" if f["linear"] else "NOT linear within ±20% (largest "
                   f"deviation {100 * f['max_abs_deviation']:.0f}%)")
        print(f"  {label}: {values} {unit}; fit {f['fit']:.3g} {unit}; "
              f"deviation from the fit {deviations} -> {verdict}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(line for line in __doc__.splitlines() if line.startswith("    python")))
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                        help="numbers of neurons (default: 1000 2000 4000 8000 16000)")
    parser.add_argument("--duration", type=float, default=1.0,
                        help="simulated time per case, seconds (default 1)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--repeat", type=int, default=1,
                        help="fresh processes per case; times are the median (default 1)")
    parser.add_argument("--indegree", type=int, default=100,
                        help="recurrent synapses per neuron (default 100)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "chaos.yaml",
                        help="chaos config the network is read from (default configs/chaos.yaml)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--one", nargs=2, metavar=("N", "BACKEND"), help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.config = args.config.resolve()
    if args.duration <= 0 or args.repeat < 1:
        parser.error("--duration must be > 0 and --repeat >= 1")
    if min(args.sizes) <= args.indegree:
        parser.error(f"every size must exceed --indegree ({args.indegree})")

    if args.one:   # child: one case, result to --result-file
        if args.one[1] not in BACKENDS:
            parser.error(f"backend must be one of {', '.join(BACKENDS)}")
        result = run_one(int(args.one[0]), args.one[1], args.duration, args.indegree, args.config)
        args.result_file.write_text(json.dumps(result))
        return 0

    env = environment()
    print(f"python {env['python']}, brian2 {env['brian2']}, numpy {env['numpy']}, "
          f"cython {env['cython']}; {env['compiler']}")
    print(f"CPUs: {env['cpu_count']} ({env['cpus_usable']} usable), {env['cpu']}; "
          f"{env['platform']}")
    shown = args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config
    print(f"chaos network from {shown}: "
          f"one replica, no perturbation, fixed in-degree {args.indegree}, "
          f"{args.duration:g} s simulated, sizes {args.sizes}, back-ends {args.backends}, "
          f"{args.repeat} repeat(s); one thread per case; runtime code target requested: "
          f"{env['runtime_target_requested']}", flush=True)
    runs = {(n, b): [] for n in args.sizes for b in args.backends}
    for rep in range(args.repeat):
        for n in args.sizes:
            for backend in args.backends:
                print(f"  [{rep + 1}/{args.repeat}] N={n} {backend} ...", end=" ", flush=True)
                r = run_case(n, backend, args)
                runs[(n, backend)].append(r)
                if "error" in r:
                    print(f"FAILED ({r['error']}):\n{r['output_tail']}", flush=True)
                else:
                    print(f"run {r['run_s']:.2f} s, case {r['case_wall_s']:.1f} s "
                          f"({r.get('target')})", flush=True)
    rows = [summarise(runs[(n, b)]) for b in args.backends for n in args.sizes]
    print()
    print_table(rows, args.repeat)
    print()
    fits = {}
    for backend in args.backends:
        fits[backend] = linearity([r for r in rows if r["backend"] == backend])
        print_linearity(backend, fits[backend])
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "environment": env,
            "settings": {"sizes": args.sizes, "duration_s": args.duration,
                         "backends": args.backends, "repeat": args.repeat,
                         "indegree": args.indegree, "config": str(args.config),
                         "tolerance": TOLERANCE},
            "counting": "recurrent_events = sum over recurrent spikes of the firing neuron's "
                        "out-degree; events_per_s = recurrent_events / run_s; background "
                        "input events (one synapse per input spike) in background_events",
            "cases": rows, "linearity": fits,
            "runs": [r for case in runs.values() for r in case]}, indent=1))
        print(f"\nresults: {args.out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
