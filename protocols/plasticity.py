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
and ``report(result, figures_dir) -> (figure paths, markdown lines)``.  This
module owns the config, the result file and the report around them::

    snnsuite run configs/plasticity_stp.yaml --out results/stp
    python -m protocols.plasticity configs/plasticity_stp.yaml
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

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


def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False) -> Path:
    """Run the sub-experiment named by ``protocol.kind`` into ``out_dir/results.h5``."""
    import brian2 as b2

    from models import devices, rng

    kind = config.protocol.kind
    out_dir = outdir.claim(out_dir, NAME)  # a folder of its own (see protocols.outdir)
    writer = ResultWriter(out_dir, NAME, config.to_yaml(), config.seed.session, versions(),
                          resume=resume)
    if not writer.completed():
        started = time.perf_counter()
        with devices.backend(backend, build_root=out_dir / "build") as device:
            b2.defaultclock.dt = config.protocol.dt
            b2.seed(rng.integer_seed(config.seed.session, block=0, purpose="noise"))
            points = _module(kind).run(config, device)
        elapsed = time.perf_counter() - started
        for name, attrs, datasets in points:
            writer.write_point(name, {**attrs, "kind": kind, "backend": backend,
                                      "compute_time_s": elapsed}, datasets)
    from protocols.chaos import _remove_if_empty

    _remove_if_empty(out_dir / "build")
    return writer.finalize()


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
