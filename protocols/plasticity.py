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
==============  =====================================================================

Each sub-experiment lives in ``protocols/_plasticity_<kind>.py`` and provides
``SECTION`` (its config keys), ``run(config) -> [(point, attrs, datasets)]``
and ``report(result, figures_dir) -> (figure paths, markdown lines)``, and
optionally ``validate(section, source, dt)`` (checks across its keys, see
:func:`validate`) and ``memory_parts(section, dt) -> {what: bytes}`` (see
:func:`estimate_memory`).  This module owns the config, the result file and
the report around them::

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
from protocols.config import Field

NAME = "plasticity"
KINDS = ("stp", "hebbian", "bcm", "homeostasis", "combined", "strategies")


def _module(kind: str):
    return importlib.import_module(f"protocols._plasticity_{kind}")


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


def validate(config) -> None:
    """Checks across keys that the schema cannot express; ``ConfigError`` names the key.

    Made before anything is built (the command line calls it first, and
    :func:`run` again), so that an accepted config runs to the end: the run
    lasts at least one step of ``protocol.dt`` and at most
    :data:`~protocols.resources.MAX_STEPS` of them; then the sub-experiment's
    own ``validate(section, source, dt)`` checks its windows against its
    duration, in-degrees against population sizes, lists for emptiness and
    repeated values, and whatever else its run and measures depend on.

    >>> from protocols.config import load_config_text
    >>> cfg = load_config_text("experiment: plasticity", SCHEMA, ["stp.rates_hz=[]"])
    >>> validate(cfg)
    Traceback (most recent call last):
    ...
    protocols.config.ConfigError: <text>: stp.rates_hz: got an empty list; allowed one value or more (because each value is one condition of the run)
    """
    from protocols import _plasticity_checks as checks

    kind, dt = config.protocol.kind, config.protocol.dt
    section = config[kind]
    checks.window(config.source, f"{kind}.duration", section.duration, low=(dt, "protocol.dt"),
                  why="the run needs at least one time step")
    checks.steps(config.source, f"{kind}.duration", section.duration, dt, "protocol.dt")
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

    ``jobs`` is ignored: a plasticity run is one process.

    >>> from protocols.config import load_config_text
    >>> cfg = load_config_text("experiment: plasticity", SCHEMA)
    >>> need, detail = estimate_memory(cfg)
    >>> 300 * 2**20 < need < 400 * 2**20, detail.split(";")[0]
    (True, 'stp: 10 (preset, rate) pairs, 3000 ms')
    """
    from protocols import _plasticity_checks as checks
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
            "strategies": lambda c: f"5 x {c.n_inputs} inputs x {c.n_units} units"}[kind](section)
    detail = (f"{kind}: {size}, {checks.show(section.duration)}; most for the {biggest}"
              + (f" ({format_bytes(parts[biggest])})" if parts else ""))
    return PROCESS_BYTES + sum(parts.values()), detail


def _simulate(config, backend: str, build_root) -> tuple[list, float]:
    """The sub-experiment's points ``[(name, attrs, datasets)]`` on the session's noise
    stream, and the seconds it took."""
    import brian2 as b2

    from models import devices, rng

    started = time.perf_counter()
    with devices.backend(backend, build_root=build_root) as device:
        b2.defaultclock.dt = config.protocol.dt
        b2.seed(rng.integer_seed(config.seed.session, block=0, purpose="noise"))
        points = _module(config.protocol.kind).run(config, device)
    return points, time.perf_counter() - started


def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False) -> Path:
    """Run the sub-experiment named by ``protocol.kind`` into ``out_dir/results.h5``.

    ``ConfigError`` (from :func:`validate`) before anything is built or
    written when the config cannot run to the end.
    """
    validate(config)
    kind = config.protocol.kind
    out_dir = outdir.claim(out_dir, NAME)  # a folder of its own (see protocols.outdir)
    writer = ResultWriter(out_dir, NAME, config.to_yaml(), config.seed.session, versions(),
                          resume=resume)
    if not writer.completed():
        points, elapsed = _simulate(config, backend, out_dir / "build")
        for name, attrs, datasets in points:
            writer.write_point(name, {**attrs, "kind": kind, "backend": backend,
                                      "compute_time_s": elapsed}, datasets)
    from protocols.chaos import _remove_if_empty

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


if __name__ == "__main__":
    raise SystemExit(main())
