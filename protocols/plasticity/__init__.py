"""Plasticity experiments: one protocol, the sub-experiment chosen by protocol.kind.

==============  =====================================================================
``kind``        experiment (config)
==============  =====================================================================
``stp``         facilitating vs depressing synapses at several rates, against the
                analytic steady state (``configs/plasticity_stp.yaml``)
``hebbian``     Hebbian + decay learning of repeated Poisson patterns
``bcm``         BCM selectivity for one of two patterns; theta tracks <post^2>
``homeostasis`` homeostatic scaling brings pushed rates back to the target
``combined``    STP + Hebbian + decay + BCM + scaling in one recurrent network
``strategies``  continuous / periodic / epoch / reward / curriculum gating of learning
``patterns``    the tutorial's complete example: three 5x5 patterns learned over 10
                epochs, then recognised against a novel one
``curriculum``  three phases of graded difficulty (easy patterns, weak noise, full
                noise) against the same presentations in reverse order
==============  =====================================================================

Every sub-experiment runs on the runtime, C++ and CUDA back-ends; selective
plasticity (``selective_k`` of ``hebbian``, ``patterns``, ``curriculum``) and
checkpoints (``protocol.checkpoint_every``) on the runtime back-end.

Each sub-experiment is a module of this package, ``protocols/plasticity/<kind>.py``,
providing ``SECTION`` (its config keys), ``run(config, device) -> [(point,
attrs, datasets)]`` (it builds its network and calls ``device.run(net,
duration)`` once: the back-end, or :class:`~protocols.plasticity.checkpoint.SegmentedRun`
around it) and ``report(result, figures_dir) -> (figure paths, markdown
lines)``, and optionally ``validate(section, source, dt)`` (checks across its
keys, see :func:`validate`), ``memory_parts(section, dt) -> {what: bytes}``
(see :func:`estimate_memory`) and, when its length is the sum of a schedule
rather than a ``duration`` key, ``duration(section)`` and ``DURATION_KEY``.
Helpers: ``checks`` (shared checks), ``selective`` (selective plasticity),
``checkpoint`` (checkpoints and ``--resume``).  This module owns the config,
the result file and the report around them::

    snnsuite run configs/plasticity_stp.yaml --out results/stp
    python -m protocols.plasticity configs/plasticity_stp.yaml
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np

from analysis.reports import write_report
from analysis.results import ResultWriter, load
from protocols import outdir
from protocols.config import Field, UsageError

NAME = "plasticity"
KINDS = ("stp", "hebbian", "bcm", "homeostasis", "combined", "strategies", "patterns",
         "curriculum")


def _module(kind: str):
    return importlib.import_module(f"protocols.plasticity.{kind}")


def _available() -> tuple:
    found = []
    for kind in KINDS:
        try:
            _module(kind)
        except ModuleNotFoundError:
            continue
        found.append(kind)
    return tuple(found)


AVAILABLE = _available()

SCHEMA = {
    "protocol": {
        "kind": Field("str", "stp", choices=AVAILABLE, doc="which plasticity experiment to run"),
        "dt": Field("quantity", "0.1 ms", unit="time", low=0, low_open=True,
                    doc="integration time step"),
        "checkpoint_every": Field("quantity", "0 s", unit="time", low=0,
                                  doc="network time between checkpoints of a run on the runtime "
                                      "back-end, which --resume continues from (0 s, or as "
                                      "long as the run: none)"),
    },
    "seed": {"session": Field("int", 1, low=0, doc="session seed; every stream derives from it")},
    **{kind: _module(kind).SECTION for kind in AVAILABLE},
}


def config_value(result, section: str, key: str, default):
    """A value of the config stored in a result file (the YAML text, as written)."""
    import yaml

    return (yaml.safe_load(result.config) or {}).get(section, {}).get(key, default)


def versions() -> dict:
    from protocols import chaos

    return chaos.versions()


def duration(config):
    """The run's length (a Brian2 time): the sub-experiment's ``duration`` key, or the sum
    of its schedule (``patterns``, ``curriculum``: epochs of presentations)."""
    module, section = _module(config.protocol.kind), config[config.protocol.kind]
    return module.duration(section) if hasattr(module, "duration") else section.duration


def duration_key(config) -> str:
    """The config key that sets the run's length, for messages."""
    module = _module(config.protocol.kind)
    return f"{config.protocol.kind}.{getattr(module, 'DURATION_KEY', 'duration')}"


def validate(config) -> None:
    """Checks across keys that the schema cannot express; ``ConfigError`` names the key.

    Made before anything is built (the command line calls it first, and
    :func:`run` again), so that an accepted config runs to the end: the run
    lasts at least one step of ``protocol.dt`` and at most
    :data:`~protocols.resources.MAX_STEPS` of them; then the sub-experiment's
    own ``validate(section, source, dt)`` checks its windows against its
    duration, in-degrees against population sizes, lists for emptiness and
    repeated values, and whatever else its run and measures depend on.
    ``protocol.checkpoint_every``, when not 0, is a whole number of
    milliseconds (one as long as the run or longer writes no checkpoint).  For example (``tests/test_plasticity_package.py``
    runs it: Brian2's doctest collector cannot read a package's ``__init__``)::

        cfg = load_config_text("experiment: plasticity", SCHEMA, ["stp.rates_hz=[]"])
        validate(cfg)
        # ConfigError: <text>: stp.rates_hz: got an empty list; allowed one value or more
        # (because each value is one condition of the run)
    """
    from protocols.plasticity import checks

    kind, dt = config.protocol.kind, config.protocol.dt
    section = config[kind]
    length, key = duration(config), duration_key(config)
    checks.window(config.source, key, length, low=(dt, "protocol.dt"),
                  why="the run needs at least one time step")
    checks.steps(config.source, key, length, dt, "protocol.dt")
    every = config.protocol.checkpoint_every
    if float(every) > 0:   # one as long as the run or longer: the run has no checkpoint
        checks.whole_ms(config.source, "protocol.checkpoint_every", every, at_least_one=True,
                        why="the run stops for a checkpoint on the millisecond grid of its "
                            "schedules")
    module = _module(kind)
    if hasattr(module, "validate"):
        module.validate(section, config.source, dt)


#: what one Python process with Brian2, numpy and the suite loaded holds before any network
PROCESS_BYTES = 300 * 2**20


def estimate_memory(config, jobs=None) -> tuple[float, str]:
    """Peak bytes of a plasticity run (one process) and what dominates it.

    An upper bound from the config alone, made before anything is built:
    :data:`PROCESS_BYTES` plus the sum of the sub-experiment's
    ``memory_parts(section, dt)``, each a simple product of sizes, e.g.

    * weight samples: ``factor x 8 B x n_recorded x (duration / sample interval + 1)``
      (a ``StateMonitor``'s storage with its growth slack, and the arrays
      read back from it: factor 3-4) - usually the largest part;
    * recorded spikes: ``32 B x neurons x rate x duration`` at the input rate
      for inputs and 100 Hz (a plausible upper rate) for recorded neurons;
    * synapses 100-300 B and neurons 200-300 B each (Brian2's arrays);
    * drawing a fixed in-degree: ``16 B x n_pre x n_post`` for the largest pathway;
    * ``stp``: the received input of every pair at every step,
      ``4 x 8 B x pairs x duration / dt``;
    * ``hebbian``/``strategies``: the millisecond schedules, 24 / 120 B per ms.

    ``jobs`` is ignored: a plasticity run is one process.  The defaults
    (``stp``) need between 300 and 400 MiB; the detail starts with
    ``'stp: 10 (preset, rate) pairs, 3000 ms'`` (tested in
    ``tests/test_plasticity_package.py``).
    """
    from protocols.plasticity import checks
    from protocols.resources import format_bytes

    kind, dt = config.protocol.kind, config.protocol.dt
    section = config[kind]
    module = _module(kind)
    parts = module.memory_parts(section, dt) if hasattr(module, "memory_parts") else {}
    biggest = max(parts, key=parts.get) if parts else "process"
    size = {"stp": lambda c: f"{2 * len(c.rates_hz)} (preset, rate) pairs",
            "hebbian": lambda c: f"{c.n_inputs} inputs x {c.n_units} units",
            "bcm": lambda c: f"{c.n_inputs} inputs x {c.n_units} units",
            "homeostasis": lambda c: f"{len(c.scales)} x {c.n_exc + c.n_inh} neurons",
            "combined": lambda c: f"{c.n_exc + c.n_inh} neurons",
            "strategies": lambda c: f"5 x {c.n_inputs} inputs x {c.n_units} units",
            "patterns": lambda c: f"{c.size ** 2} pixels x {c.n_units} units",
            "curriculum": lambda c: f"2 x {c.size ** 2} pixels x {c.n_units} units",
            }[kind](section)
    detail = (f"{kind}: {size}, {checks.show(duration(config))}; most for the {biggest}"
              + (f" ({format_bytes(parts[biggest])})" if parts else ""))
    return PROCESS_BYTES + sum(parts.values()), detail


def _simulate(config, backend: str, build_root, *, checkpoint_path=None,
              resume_from=None) -> tuple[list, float]:
    """The sub-experiment's points ``[(name, attrs, datasets)]`` on the session's noise
    stream, and the seconds it took.

    With ``checkpoint_path`` and ``protocol.checkpoint_every`` > 0 on the runtime
    back-end the network runs in segments, a checkpoint after each
    (:class:`~protocols.plasticity.checkpoint.SegmentedRun`); ``resume_from``
    (a loaded checkpoint) continues from it.
    """
    import brian2 as b2

    from models import devices, rng
    from protocols.plasticity import checkpoint

    every = float(config.protocol.checkpoint_every)
    started = time.perf_counter()
    with devices.backend(backend, build_root=build_root) as device:
        b2.defaultclock.dt = config.protocol.dt
        b2.seed(rng.integer_seed(config.seed.session, block=0, purpose="noise"))
        if checkpoint_path is not None and every > 0 and backend == "runtime":
            header = _checkpoint_header(config, backend, checkpoint.runtime_target())
            if resume_from is not None:
                _check_checkpoint(resume_from[0], header, checkpoint_path)
            device = checkpoint.SegmentedRun(device, checkpoint_path, every_s=every,
                                             header=header, resume_from=resume_from)
        elif checkpoint_path is not None and every > 0:
            print(f"snnsuite: protocol.checkpoint_every is not used on the {backend} back-end "
                  "(a standalone build runs in one piece); this run writes no checkpoint",
                  flush=True)
        points = _module(config.protocol.kind).run(config, device)
    return points, time.perf_counter() - started


#: header keys of a checkpoint that a resumed run must share with it
_CHECKPOINT_MATCH = ("experiment", "kind", "config", "backend", "target", "versions")


def _checkpoint_header(config, backend: str, target: str) -> dict:
    import json

    return {"experiment": NAME, "kind": config.protocol.kind, "config": config.to_yaml(),
            "backend": backend, "target": target,
            "versions": json.dumps(versions(), sort_keys=True)}


def _check_checkpoint(saved: dict, current: dict, path) -> None:
    """``CheckpointError`` when a checkpoint was written by another run, back-end or version."""
    from analysis.results import _config_difference
    from protocols.plasticity.checkpoint import CheckpointError

    for key in _CHECKPOINT_MATCH:
        if key not in current or saved.get(key) == current[key]:
            continue
        if key == "config":
            why = f"its config differs ({_config_difference(saved['config'], current['config'])})"
        elif key in ("backend", "target"):
            why = (f"it was written on the {saved.get('backend')} back-end with the "
                   f"{saved.get('target')} code target, this run uses {current['backend']} with "
                   f"{current['target']} (a resumed run equals an uninterrupted one only on the "
                   "same back-end; set SNNSUITE_RUNTIME_TARGET to the checkpoint's target)")
        elif key == "versions":
            why = (f"it was written with other versions ({saved.get('versions')}, now "
                   f"{current['versions']})")
        else:
            why = f"its {key} is {saved.get(key)!r}, this run's {current[key]!r}"
        raise CheckpointError(f"{path}: cannot resume from this checkpoint: {why}; resume with "
                              "the run's own config and back-end, or delete the checkpoint to "
                              "start again from the beginning")


def _checkpoint_to_resume(config, out_dir: Path, resume: bool):
    """The checkpoint ``--resume`` continues from (``(header, state)``), or ``None``.

    Without ``resume`` a checkpoint in ``out_dir`` is an interrupted run that
    this one would overwrite: ``UsageError``.
    """
    from protocols.plasticity import checkpoint

    path = Path(out_dir) / checkpoint.CHECKPOINT_NAME
    if not path.exists():
        if resume and float(config.protocol.checkpoint_every) > 0:
            print("snnsuite: no checkpoint to resume from; the run starts from the beginning",
                  flush=True)
        return None
    if not resume:
        raise UsageError(f"{out_dir}: holds an interrupted run ({checkpoint.CHECKPOINT_NAME}); "
                         "pass --resume to continue it, or choose another --out")
    header, state = checkpoint.load(path)
    current = _checkpoint_header(config, header.get("backend", ""), header.get("target", ""))
    _check_checkpoint(header, {k: current[k] for k in ("experiment", "kind", "config")}, path)
    return header, state


def preflight(config, *, out_dir, resume: bool = False) -> None:
    """Before anything is written: a checkpoint in ``out_dir`` needs ``--resume``, and with
    it must be intact and of this config (see :mod:`protocols.plasticity.checkpoint`)."""
    if Path(out_dir).is_dir():
        _checkpoint_to_resume(config, Path(out_dir), resume)


def check_backend(config, backend: str) -> None:
    """``UsageError`` for what the back-end cannot run: selective plasticity computes its
    gate in Python while the network runs, which standalone builds cannot do."""
    section = config[config.protocol.kind]
    if backend != "runtime" and section.get("selective_k", 0) > 0:
        raise UsageError(f"{config.protocol.kind}.selective_k: got {section.selective_k} with "
                         f"--backend {backend}; selective plasticity works on the runtime "
                         "back-end only (its gate is computed in Python as the network runs); "
                         f"use --backend runtime, or {config.protocol.kind}.selective_k: 0")


def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False) -> Path:
    """Run the sub-experiment named by ``protocol.kind`` into ``out_dir/results.h5``.

    ``ConfigError`` (from :func:`validate`) before anything is built or
    written when the config cannot run to the end.  With
    ``protocol.checkpoint_every`` the run writes checkpoints as it goes and
    ``resume`` continues from the last one (:mod:`protocols.plasticity.checkpoint`);
    the checkpoint is removed once ``results.h5`` holds the result.
    """
    from protocols.plasticity import checkpoint

    validate(config)
    check_backend(config, backend)
    kind = config.protocol.kind
    out_dir = outdir.claim(out_dir, NAME)  # a folder of its own (see protocols.outdir)
    resume_from = _checkpoint_to_resume(config, out_dir, resume)   # before results.h5 is touched
    writer = ResultWriter(out_dir, NAME, config.to_yaml(), config.seed.session, versions(),
                          resume=resume)
    path = out_dir / checkpoint.CHECKPOINT_NAME
    if not writer.completed():
        points, elapsed = _simulate(config, backend, out_dir / "build", checkpoint_path=path,
                                    resume_from=resume_from)
        for name, attrs, datasets in points:
            writer.write_point(name, {**attrs, "kind": kind, "backend": backend,
                                      "compute_time_s": elapsed}, datasets)
    for stale in (path, path.with_name(path.name + ".tmp")):   # the result holds it all now
        stale.unlink(missing_ok=True)
    from protocols.chaos import _remove_if_empty

    _remove_if_empty(path.parent)
    _remove_if_empty(out_dir / "build")
    return writer.finalize()


def sweep_point(config, *, block: int = 0, backend: str = "runtime",
                build_root: str | None = None) -> tuple[dict, dict]:
    """One point of a sweep (:mod:`protocols.sweep`): the sub-experiment as :func:`run` runs it.

    Every point uses the session's streams as a run of its own would (``block``
    is ignored: common random numbers across the sweep), so a point's numbers
    equal those of ``snnsuite run`` with that config.  Returns the scalar
    measures of the sub-experiment's points (``attrs``) and their arrays
    (``datasets``), each name prefixed with its point's name (``stp_fac_10hz_...``)
    when the sub-experiment has several points.
    """
    kind = config.protocol.kind
    check_backend(config, backend)
    points, elapsed = _simulate(config, backend, build_root)
    attrs, datasets = {}, {}
    for name, point_attrs, point_data in points:
        prefix = f"{name}_" if len(points) > 1 else ""
        attrs.update({f"{prefix}{k}": v for k, v in point_attrs.items()
                      if isinstance(v, (int, float, bool, np.integer, np.floating, np.bool_))})
        datasets.update({f"{prefix}{k}": np.asarray(v) for k, v in point_data.items()})
    attrs.update(kind=kind, backend=backend, compute_time_s=elapsed)
    return attrs, datasets


def report(results_path: Path, out_dir: Path | None = None) -> Path:
    """Figures and ``report.md`` of a plasticity result file."""
    result = load(results_path)
    out_dir = Path(out_dir) if out_dir is not None else Path(results_path).parent
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    kind = next(iter(result.points.values())).attrs["kind"]
    made, lines = _module(kind).report(result, figures)
    text = [f"# Plasticity: {kind}", "",
            f"Result file: `{Path(results_path).name}`; seed {result.seed}; "
            f"created {result.created}.", ""] + list(lines)
    return write_report(out_dir, text, made, result.versions)


def main(argv=None) -> int:
    from protocols.cli import protocol_main

    return protocol_main(NAME, argv)
