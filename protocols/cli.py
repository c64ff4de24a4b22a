"""The ``snnsuite`` command line: list experiments, run a config, report or export a result file.

Usage::

    snnsuite list                                    # experiments and their configs
    snnsuite run configs/chaos_quick.yaml            # results in results/chaos_quick/
    snnsuite run configs/heterogeneity_grid.yaml --backend cpp --jobs 2 --out results/grid1
    snnsuite run configs/heterogeneity_grid.yaml --out results/grid1 --resume
    snnsuite run configs/heterogeneity_grid.yaml --out results/grid1 --max-cores 4
    snnsuite run configs/chaos.yaml --set network.n_neurons=2000 --set network.tau_m="10 ms"
    snnsuite report results/grid1/results.h5         # figures + report.md again
    snnsuite export results/grid1/results.h5 --format pickle   # the study's pickle + summary
    python -m protocols.chaos configs/chaos_quick.yaml   # one protocol, same options

``run`` reads the config's ``experiment`` key, imports that protocol, checks
the whole config against the protocol's schema (and the ``--set`` overrides),
its cross-key rules (``validate``), what depends on the data (``preflight``)
and the memory the run needs (``estimate_memory``) *before* anything is
written or simulated; then claims the output folder (a new or empty folder,
or this experiment's own: :mod:`protocols.outdir`), runs, writes the report
and the resolved ``config.yaml`` and prints where everything is.  ``--check``
stops after the checks, having written nothing.

Exit status, always with at most one line on stderr and no traceback:

- 0: done;
- 2: a mistake in the input or a problem of the machine (a bad config, an
  unknown experiment, a missing or unreadable file, a folder the run may not
  write into, too little memory, a full disk, a protocol's
  :class:`~protocols.config.UsageError` such as "pass --resume");
- 1: a run that started and failed inside Brian2, torch or the suite; the
  traceback is appended to the run folder's ``error.log``, finished work is
  kept and ``--resume`` continues;
- 3: stopped by a resource guard (:mod:`protocols.guards`: the CPU at
  ``resources.temperature_stop``, or too little free memory); the points that
  were running finished and were written, and the message gives the command
  that resumes the run;
- 130 (Ctrl+C) and 143 (SIGTERM): stopped; parallel workers stop too;
  ``--resume`` continues.

Protocol module contract
------------------------
A protocol is a module listed in :data:`PROTOCOLS` (experiment name ->
module path, imported only when needed) that provides:

``__doc__``
    The module docstring; its first line is the one-line description shown
    by ``snnsuite list``.
``SCHEMA``
    ``{section: {key: protocols.config.Field}}``, the config it accepts.
``validate(config)``, ``preflight(config, *, out_dir, resume)``, ``estimate_memory(config, jobs) -> (bytes, text)``
    Optional checks run before anything is written; they raise
    ``ConfigError``/``UsageError``.
``translate_toml(data) -> dict``
    Optional: applied to a TOML config's parsed data before the check
    (``load_config(..., translate=)``), e.g. to read a study's own
    parameter file.  Run as ``python -m protocols.<name>``, a TOML file
    without ``experiment`` runs as that experiment.

``run(config, out_dir, *, backend, jobs, resume) -> Path``
    ``config`` is a validated :class:`~protocols.config.Config`; ``out_dir``
    a ``Path`` (may not exist yet); ``backend`` one of ``runtime``, ``cpp``,
    ``cuda``; ``jobs`` a positive int or ``None`` (the protocol's default);
    ``resume`` a bool.  Returns the path of the result file it wrote
    (normally ``out_dir / "results.h5"``).  User mistakes are raised as
    ``UsageError``; a stop of its resource guard as
    :class:`protocols.guards.Stopped`.  ``--max-cores N`` reaches it as the
    config key ``<section>.max_cores`` of its ``SCHEMA`` (a protocol without
    one refuses the option).
``report(results_path, out_dir) -> None``
    Writes ``out_dir/figures/`` and ``out_dir/report.md`` from a result file
    alone (it may return the report's path).

and, to run as ``python -m protocols.<name>``, ends with::

    def main(argv=None) -> int:
        from protocols.cli import protocol_main
        return protocol_main(NAME, argv)

    if __name__ == "__main__":
        raise SystemExit(main())
"""
from __future__ import annotations

import argparse
import ast
import errno
import functools
import importlib
import importlib.util
import json
import re
import shlex
import sys
import warnings
from pathlib import Path

from protocols.config import ConfigError, UsageError, load_config, read_experiment

# setuptools warns about one of its own private helpers whenever Brian2 compiles
# with Cython; the warning is not about anything a user can change.
warnings.filterwarnings("ignore", message="_get_vc_env is private")

#: experiment name (the config's ``experiment`` key) -> protocol module
PROTOCOLS = {
    "chaos": "protocols.chaos",
    "heterogeneity_grid": "protocols.heterogeneity_grid",
    "plasticity": "protocols.plasticity",
    "ei_rnn": "protocols.ei_rnn",
    "homeostatic_training": "protocols.homeostatic_training",
    "fitting_activity": "protocols.fitting_activity",
}
BACKENDS = ("runtime", "cpp", "cuda")
EXIT_USAGE = 2         # bad input: config, arguments, files
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl+C


# ----------------------------------------------------------------------------- helpers
def configs_dir() -> Path:
    """``./configs`` when it exists, else the ``configs/`` folder shipped beside the packages."""
    local = Path("configs")
    if local.is_dir():
        return local
    return Path(__file__).resolve().parent.parent / "configs"


def _shown(path: Path) -> str:
    """A path relative to the working directory when it lies below it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _description(module_name: str) -> str:
    """First line of a protocol's docstring, read without importing it when possible.

    Reading the source keeps ``snnsuite list`` fast (no brian2 import) and
    working when a protocol's dependencies are missing.
    """
    module = sys.modules.get(module_name)
    doc = None
    if module is not None:
        doc = module.__doc__
    else:
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            try:
                doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8")))
            except (OSError, SyntaxError, UnicodeDecodeError):
                doc = None
        elif spec is None:
            return "(module not found)"
    lines = (doc or "").strip().splitlines()
    return lines[0].strip() if lines else "(no description)"


def _known() -> str:
    return ", ".join(sorted(PROTOCOLS))


def _import_protocol(experiment: str, source: str | None = None):
    """The protocol module of an experiment; ``ConfigError`` if the name is unknown."""
    if experiment not in PROTOCOLS:
        raise ConfigError(source, "experiment", f"unknown experiment {experiment!r}; "
                          f"known experiments: {_known()}")
    module = importlib.import_module(PROTOCOLS[experiment])
    missing = [name for name in ("SCHEMA", "run", "report") if not hasattr(module, name)]
    if missing:
        raise RuntimeError(f"protocol module {module.__name__} lacks {', '.join(missing)}")
    return module


def _user_errors() -> tuple:
    """Exceptions that mean a mistake in the input: message, exit 2, no traceback."""
    errors = [ConfigError, UsageError, FileNotFoundError]
    if "models.devices" in sys.modules:  # a back-end that cannot run here
        errors.append(sys.modules["models.devices"].BackendError)
    try:
        from analysis.results import ResultFileError
    except ImportError:
        pass
    else:
        errors.append(ResultFileError)
    return tuple(errors)


def _message(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return f"{exc.strerror or 'file not found'}: {exc.filename}"
    return str(exc) or type(exc).__name__


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", type=Path,
                        help="YAML or TOML (.toml) config file")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output folder: new, empty, or this experiment's own "
                             "(default: results/<config name>)")
    parser.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", default=[],
                        dest="overrides",
                        help="override a config key, value read as YAML "
                             "(e.g. network.n_neurons=2000, network.tau_m='10 ms'); repeatable")
    parser.add_argument("--jobs", metavar="N", type=_positive_int, default=None,
                        help="parallel worker processes (default: the protocol's, "
                             "all cores for grids, at most --max-cores)")
    parser.add_argument("--max-cores", metavar="N", type=_positive_int, default=None,
                        help="at most N worker processes (overrides the config's max_cores; "
                             "default: all cores but one on machines with more than 2)")
    parser.add_argument("--backend", choices=BACKENDS, default="runtime",
                        help="Brian2 back-end (default: runtime)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                        help="who computes the points of a grid or a sweep: the dask scheduler "
                             "running at tcp://HOST:PORT, or joblib, dask (a local cluster) or "
                             "mpi; sets grid.scheduler and grid.dask_address (sweep.* for a "
                             "config with a sweep: section); docs/cluster.md")
    parser.add_argument("--dask-local", metavar="N", default=None,
                        help="the points of a grid or a sweep on a local dask cluster of N "
                             "worker processes (scheduler dask, no address, --jobs N: at most "
                             "--max-cores)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in the same output folder")
    parser.add_argument("--check", action="store_true",
                        help="check the config, the data it names, the memory it needs and the "
                             "output folder, then stop without running or writing anything")


# ----------------------------------------------------------------------------- commands
def _cmd_list(args) -> int:
    directory = Path(args.configs) if args.configs else configs_dir()
    by_experiment: dict[str, list[Path]] = {}
    unreadable = []
    if directory.is_dir():
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml"),
                            *directory.glob("*.toml")]):
            try:  # "": a TOML file without 'experiment', run as python -m protocols.<name>
                by_experiment.setdefault(read_experiment(path, default=""), []).append(path)
            except ConfigError:
                unreadable.append(path)
    width = max(len(name) for name in PROTOCOLS) + 2
    print(f"experiments (configs in {_shown(directory)}):")
    for name in sorted(PROTOCOLS):
        print(f"  {name:<{width}}{_description(PROTOCOLS[name])}")
        for path in by_experiment.pop(name, []):
            print(f"  {'':<{width}}  {_shown(path)}")
        if not directory.is_dir():
            print(f"  {'':<{width}}  (no configs folder)")
    for path in by_experiment.pop("", []):
        print(f"  (no experiment key; run it with python -m protocols.<name>) {_shown(path)}")
    for name, paths in sorted(by_experiment.items()):
        for path in paths:
            print(f"  (unknown experiment {name!r}) {_shown(path)}")
    for path in unreadable:
        print(f"  (not a valid config) {_shown(path)}")
    return 0


def _run_protocol(args, *, expected: str | None = None) -> int:
    """Shared by ``snnsuite run`` and ``python -m protocols.<name>``."""
    from protocols import outdir, resources
    from protocols import sweep as sweeps
    from protocols.guards import Stopped

    # 1. the protocol named by the config, and the whole config checked against it
    scheduler = _scheduler_keys(args)  # the flags' own mistakes first, before any import
    experiment = read_experiment(args.config, default=expected)  # a TOML file may omit it
    if expected is not None and experiment != expected:
        raise ConfigError(str(args.config), "experiment",
                          f"got {experiment!r}; this command runs experiment {expected!r} "
                          f"(use: snnsuite run {args.config})")
    module = _import_protocol(experiment, str(args.config))
    translate = getattr(module, "translate_toml", None)
    overrides = list(args.overrides)
    # a sweep: section runs the protocol at every combination of its values (protocols.sweep)
    swept = experiment != "heterogeneity_grid" and sweeps.requested(
        args.config, overrides, experiment=experiment, translate=translate)
    if swept:
        module = sweeps.Sweep(module)
    if scheduler is not None:  # --scheduler/--dask-local: the keys of the scheduler's section
        section = _scheduler_section(module.SCHEMA, experiment, args, swept=swept,
                                     sweepable=hasattr(module, "sweep_point"))
        overrides += [f"{section}.{key}={value}" for key, value in scheduler.items()]
    if args.max_cores is not None:  # the config's core limit, set from the command line
        key = "sweep.max_cores" if swept else _core_limit_key(module.SCHEMA, experiment)
        overrides.append(f"{key}={args.max_cores}")
    load = module.load if swept else functools.partial(load_config, schema=module.SCHEMA)
    config = load(args.config, overrides=overrides, experiment=experiment, translate=translate)
    _drop_brian_debug_files()
    if hasattr(module, "validate"):  # checks across keys, still before any simulation
        module.validate(config)
    if args.backend == "cuda" and (swept or experiment == "heterogeneity_grid"):
        from models import cuda

        if not cuda.gpu_present():  # one point would be compiled per point, and none could run
            raise UsageError(f"--backend cuda: no GPU on this machine, so none of the "
                             f"{experiment} points could run; build one point's CUDA project "
                             "with snnsuite build CHAOS_CONFIG --backend cuda, or run the "
                             "points with --backend cpp")
    out_dir = outdir.check_text(args.out) if args.out is not None else \
        Path("results") / Path(args.config).stem
    # 2. what the run depends on, before anything is written: data, memory, the folder
    if hasattr(module, "preflight"):
        module.preflight(config, out_dir=out_dir, resume=args.resume)
    if hasattr(module, "estimate_memory"):
        need, detail = module.estimate_memory(config, jobs=args.jobs)
        resources.check_memory(need, experiment, detail)
    outdir.check_input_inside(out_dir, args.config, config.to_yaml())
    outdir.claim(out_dir, experiment, dry_run=args.check)
    if args.check:
        print(f"snnsuite: {experiment} from {_shown(args.config)}: config, data, memory and "
              f"output folder {_shown(out_dir)} checked; nothing was run or written")
        return 0
    print(f"snnsuite: {experiment} from {_shown(args.config)} -> {_shown(out_dir)} "
          f"(backend {args.backend}{', resuming' if args.resume else ''})", flush=True)
    try:
        resolved = Path(out_dir) / "config.yaml"
        if not resolved.exists():  # written first, so a failed run can be resumed from it
            resolved.write_text(config.to_yaml(), encoding="utf-8")
        # 3. run: the protocol writes the result file
        results_path = Path(module.run(config, out_dir, backend=args.backend, jobs=args.jobs,
                                       resume=args.resume))
        (Path(out_dir) / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
        # 4. report: figures and report.md from the result file alone
        report_path = module.report(results_path, out_dir)
    except (KeyboardInterrupt, *_user_errors()):
        raise
    except Stopped as exc:
        raise RunStopped(f"{exc}; the finished points are kept in {_shown(out_dir)}; resume "
                         f"with: {_resume_command(args, out_dir)}") from exc
    except OSError as exc:
        if _environment_problem(exc):
            raise
        raise RunFailed(_failure(experiment, out_dir, exc)) from exc
    except Exception as exc:  # a bug or a failure inside Brian2/torch: one line, traceback kept
        raise RunFailed(_failure(experiment, out_dir, exc)) from exc
    report_path = Path(report_path) if report_path else Path(out_dir) / "report.md"
    print(f"results: {_shown(results_path)}")
    print(f"figures: {_shown(Path(out_dir) / 'figures')}/")
    print(f"report:  {_shown(report_path)}")
    print(f"config:  {_shown(Path(out_dir) / 'config.yaml')}")
    return 0


class RunFailed(Exception):
    """A run that started and failed for a reason that is not the input's (exit 1)."""


class RunStopped(Exception):
    """A run stopped by its resource guard, its finished points kept (exit 3)."""


#: ``--scheduler`` names: the values of grid.scheduler and sweep.scheduler
SCHEDULERS = ("joblib", "dask", "mpi")
#: a dask scheduler address, ``tcp://HOST:PORT`` (``tcp://[IPv6]:PORT`` too)
_DASK_ADDRESS = re.compile(r"tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)"
                           r":(?P<port>[0-9]{1,5})")
#: where --scheduler and --dask-local apply, for their messages
_SCHEDULED = ("heterogeneity_grid configs (grid.scheduler) and chaos or plasticity configs "
              "with a sweep: section (sweep.scheduler)")


def _scheduler_keys(args) -> dict | None:
    """``{key: YAML text}`` of the scheduler section that ``--scheduler``/``--dask-local`` set
    (None when neither is given); ``UsageError`` for a malformed value or both flags.

    ``--dask-local N`` is ``scheduler: dask`` with no address and ``--jobs N`` (the local
    cluster's worker count, as the config's scheduler: dask takes it).
    """
    scheduler, local = getattr(args, "scheduler", None), getattr(args, "dask_local", None)
    if scheduler is None and local is None:
        return None
    if scheduler is not None and local is not None:
        raise UsageError("--scheduler and --dask-local both say who computes the points; give "
                         "one: --scheduler tcp://HOST:PORT for a running dask scheduler, or "
                         "--dask-local N for a local dask cluster of N workers")
    if local is not None:
        try:
            workers = _positive_int(local)
        except argparse.ArgumentTypeError:
            raise UsageError(f"--dask-local {local!r}: expected the number of local dask worker "
                             "processes, a positive integer (e.g. --dask-local 4)") from None
        if args.jobs is not None and args.jobs != workers:
            raise UsageError(f"--jobs {args.jobs} and --dask-local {workers} disagree: "
                             "--dask-local N starts N workers (it is --jobs N on a local dask "
                             "cluster); give one of them")
        args.jobs = workers  # the count reaches the run, and its memory check, as --jobs
        return {"scheduler": "dask", "dask_address": "''"}
    if scheduler in SCHEDULERS:
        return {"scheduler": scheduler}
    match = _DASK_ADDRESS.fullmatch(scheduler)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        shown = scheduler if len(scheduler) <= 100 else scheduler[:100] + "..."
        why = (f"port {int(match['port'])} is outside 1-65535" if match is not None else
               "not a dask scheduler address")
        raise UsageError(f"--scheduler {shown!r}: {why}; give tcp://HOST:PORT with a port from "
                         "1 to 65535 (e.g. tcp://10.0.0.5:8786), or one of joblib, dask (a local "
                         "cluster), mpi")
    return {"scheduler": "dask", "dask_address": json.dumps(scheduler)}


def _scheduler_section(schema: dict, experiment: str, args, *, swept: bool,
                       sweepable: bool) -> str:
    """The config section whose ``scheduler``/``dask_address`` keys the flags set."""
    option = "--scheduler" if getattr(args, "scheduler", None) is not None else "--dask-local"
    if swept:
        return "sweep"
    for section, fields in schema.items():
        if "scheduler" in fields and "dask_address" in fields:
            return section
    if sweepable:
        raise UsageError(f"{option}: the {experiment} config {args.config} has no sweep: "
                         "section, so its one run has no points to schedule; add a sweep: "
                         f"section or leave the option out ({option} is for {_SCHEDULED})")
    raise UsageError(f"{option}: the {experiment} experiment runs in this process and has no "
                     f"scheduler; leave the option out ({option} is for {_SCHEDULED})")


def _core_limit_key(schema: dict, experiment: str) -> str:
    """The dotted config key that ``--max-cores`` sets (``grid.max_cores``)."""
    for section, fields in schema.items():
        if "max_cores" in fields:
            return f"{section}.max_cores"
    raise UsageError(f"--max-cores: the {experiment} experiment starts no worker processes to "
                     "limit; leave the option out (it is for grids such as heterogeneity_grid)")


def _launcher() -> list[str]:
    """The start of a command that runs ``snnsuite`` as this process was run: plainly, or on
    the ranks of an MPI job started by ``python -m mpi4py.futures`` (``grid.scheduler: mpi``)."""
    if getattr(sys.modules.get("mpi4py.futures._core"), "SharedPool", None) is None:
        return ["snnsuite"]
    from mpi4py import MPI  # already started by python -m mpi4py.futures

    return ["mpiexec", "-n", str(MPI.COMM_WORLD.Get_size()), "python", "-m", "mpi4py.futures",
            "-m", "protocols.cli"]


def _resume_command(args, out_dir: Path) -> str:
    """The command line that continues this run where it stopped."""
    words = [*_launcher(), "run", str(args.config), "--out", str(out_dir)]
    for override in args.overrides:
        words += ["--set", override]
    for option, value, default in (("--backend", args.backend, "runtime"),
                                   ("--jobs", args.jobs, None),
                                   ("--max-cores", args.max_cores, None),
                                   ("--scheduler", getattr(args, "scheduler", None), None),
                                   ("--dask-local", getattr(args, "dask_local", None), None),
                                   ("--compute-capability",
                                    getattr(args, "compute_capability", None), None),
                                   ("--cuda-path", getattr(args, "cuda_path", None), None),
                                   ("--gpu-id", getattr(args, "gpu_id", None), None)):
        if value != default:
            words += [option, str(value)]
    return shlex.join([*words, "--resume"])


def _failure(experiment: str, out_dir: Path, exc: BaseException) -> str:
    """One line for a failed run; the traceback goes to ``out_dir/error.log``."""
    import traceback

    log = Path(out_dir) / "error.log"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"--- {experiment} failed ---\n{text}")
        where = f"traceback in {_shown(log)}"
    except OSError:
        where = "the traceback could not be saved"
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return (f"the {experiment} run failed: {type(exc).__name__}: {first} ({where}); "
            f"finished work is kept in {_shown(out_dir)}: fix the cause and rerun with --resume, "
            "or remove the folder")


_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
                       errno.EISDIR, errno.EEXIST, errno.EDQUOT, errno.ENAMETOOLONG, errno.EMFILE}
_ENVIRONMENT_TEXT = ("No space left", "Read-only file system", "Permission denied",
                     "Disk quota exceeded")


def _environment_problem(exc: BaseException) -> bool:
    """An ``OSError`` the machine caused (disk full, no permission, read-only, ...)."""
    if not isinstance(exc, OSError):
        return False
    return exc.errno in _ENVIRONMENT_ERRNOS or any(t in str(exc) for t in _ENVIRONMENT_TEXT)


def _drop_brian_debug_files() -> None:
    """Brian2's temporary debug log and script copy are not kept (see models.devices)."""
    if "brian2" in sys.modules:
        try:
            from models.devices import drop_debug_files
        except ImportError:
            return
        drop_debug_files()


def _result_protocol(path: Path) -> str:
    """The ``protocol`` root attribute of a result file."""
    from analysis.results import load_or_rebuild

    result = load_or_rebuild(path)  # damage is repaired from points/ before the report reads it
    protocol = getattr(result, "protocol", None)
    if protocol is None:
        protocol = getattr(result, "attrs", {}).get("protocol")
    if not protocol:
        raise UsageError(f"{path}: the file names no protocol (root attribute 'protocol')")
    return str(protocol)


def _cmd_report(args) -> int:
    path = Path(args.results)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "result file not found", str(path))
    protocol = _result_protocol(path)
    if protocol not in PROTOCOLS:
        raise UsageError(f"{path}: written by protocol {protocol!r}, which this version does "
                         f"not know; known: {_known()}")
    module = _import_protocol(protocol)
    from analysis.results import load as load_result
    from protocols import outdir
    from protocols import sweep as sweeps

    if protocol != "heterogeneity_grid" and sweeps.is_sweep(load_result(path)):
        module = sweeps  # a sweep's file: its figures and report

    out_dir = outdir.check_text(args.out) if args.out is not None else path.parent
    # the folder of a verified results.h5 is that run's own; any other needs the rule
    outdir.claim(out_dir, protocol, adopt=out_dir.resolve() == path.parent.resolve()
                 and path.name == "results.h5")
    report_path = module.report(path, out_dir)
    report_path = Path(report_path) if report_path else out_dir / "report.md"
    print(f"figures: {_shown(out_dir / 'figures')}/")
    print(f"report:  {_shown(report_path)}")
    return 0


def _cmd_export(args) -> int:
    """``snnsuite export RESULTS.h5 --format pickle``: the study's pickle and summary."""
    from protocols import export, outdir

    path = Path(args.results)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "result file not found", str(path))
    out_dir = outdir.check_text(args.out) if args.out is not None else path.parent
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", export.PartialGridWarning)
        written = export.export_pickle(path, out_dir, overwrite=args.overwrite)
    for warning in caught:
        if issubclass(warning.category, export.PartialGridWarning):
            print(f"snnsuite: warning: {warning.message}", file=sys.stderr)
        else:  # not ours: shown as Python would have shown it
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    for written_path in written:
        print(f"written: {_shown(written_path)}")
    return 0


def _cmd_clean(args) -> int:
    """``snnsuite clean``: remove the cached compile-once builds (models.compiled)."""
    from models import compiled

    root = Path(args.cache).expanduser() if args.cache else compiled.cache_root()
    if args.cache and root.exists() and not root.is_dir():
        raise UsageError(f"--cache {_shown(root)} is not a folder")
    removed, skipped = compiled.clean(root, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for entry in removed:
        print(f"{verb}: {_shown(entry['path'])} ({entry['bytes'] / 2**20:.1f} MiB, built "
              f"{entry['built']})")
    for entry in skipped:
        print(f"kept: {_shown(entry['path'])}: in use by a running sweep")
    total = sum(entry["bytes"] for entry in removed) / 2**20
    if not removed and not skipped:
        print(f"no cached builds in {_shown(root)}")
    else:
        print(f"{verb} {len(removed)} cached build(s), {total:.1f} MiB, from {_shown(root)}")
    return 0


# ----------------------------------------------------------------------------- entry points
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snnsuite", description="Run spiking-network experiments from YAML configs.",
        epilog="Each run writes results.h5, config.yaml, figures/ and report.md into its folder.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="experiments and their config files")
    listing.add_argument("--configs", metavar="DIR", default=None,
                         help="configs folder (default: ./configs, else the installed one)")
    listing.set_defaults(handler=_cmd_list)

    run = commands.add_parser("run", help="run an experiment from its config")
    _add_run_arguments(run)

    report = commands.add_parser("report", help="figures and report.md from a result file")
    report.add_argument("results", metavar="RESULT.h5", help="a result file")
    report.add_argument("--out", metavar="DIR", default=None,
                        help="output folder (default: the result file's folder)")
    report.set_defaults(handler=_cmd_report)

    export = commands.add_parser("export", help="a chaos or grid result file in the study's "
                                 "pickle format (chaos_results_session_<seed>.pkl + summary)")
    export.add_argument("results", metavar="RESULTS.h5", help="a chaos or heterogeneity_grid "
                        "result file")
    export.add_argument("--format", choices=("pickle",), required=True,
                        help="pickle: the study's list of dicts (docs/results.md)")
    export.add_argument("--out", metavar="DIR", default=None,
                        help="folder for the files, created if missing "
                             "(default: the result file's folder)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace files of an earlier export (default: refuse)")
    export.set_defaults(handler=_cmd_export)

    clean = commands.add_parser("clean", help="remove the cached cpp builds of compile-once "
                                "sweeps (docs/models.md)")
    clean.add_argument("--cache", metavar="DIR", default=None,
                       help="the cache folder (default: $SNNSUITE_CACHE_DIR, else "
                            "~/.cache/snnsuite/compiled)")
    clean.add_argument("--dry-run", action="store_true",
                       help="list what would be removed, remove nothing")
    clean.set_defaults(handler=_cmd_clean)

    from protocols import standalone

    standalone.add_commands(commands)
    for name, handler in (("build", standalone.build), ("collect", standalone.collect)):
        sub = commands.choices[name]
        if name == "build":
            _add_cuda_arguments(sub)
        sub.set_defaults(handler=_with_cuda_options(handler))
    _add_cuda_arguments(run)
    run.set_defaults(handler=_with_cuda_options(_run_protocol))
    return parser


def _add_cuda_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("CUDA (--backend cuda)")
    group.add_argument("--compute-capability", metavar="X.Y", default=None,
                       help="GPU compute capability to compile for (default: the GPU's; 8.0 "
                            "where there is no GPU)")
    group.add_argument("--cuda-path", metavar="DIR", default=None,
                       help="CUDA toolkit folder (default: $CUDA_PATH, the nvcc on PATH, "
                            "/usr/local/cuda*)")
    group.add_argument("--gpu-id", metavar="N", type=int, default=None,
                       help="GPU to run on (default 0)")


def _with_cuda_options(handler):
    """``handler`` with the CUDA flags checked and passed on to :mod:`models.devices` through
    the environment (so that worker processes see them too)."""
    def call(args):
        options = {"compute_capability": getattr(args, "compute_capability", None),
                   "cuda_path": getattr(args, "cuda_path", None),
                   "gpu_id": getattr(args, "gpu_id", None)}
        if any(v is not None for v in options.values()):
            if getattr(args, "backend", None) != "cuda":
                given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None]
                raise UsageError(f"{', '.join(given)} apply to --backend cuda only (got "
                                 f"--backend {getattr(args, 'backend', 'runtime')})")
            from models import devices

            devices.set_cuda_options(**options)
        return handler(args)
    return call


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that runs stop as on Ctrl+C (workers too)."""


EXIT_FAILED = 1         # a run that started and failed (traceback in the folder's error.log)
EXIT_STOPPED = 3        # a resource guard stopped the run; --resume continues it
EXIT_TERMINATED = 143   # 128 + SIGTERM


def _on_sigterm(signum, frame):
    raise Terminated()


def _dispatch(parser: argparse.ArgumentParser, argv, call) -> int:
    """Parse, call, and turn user errors, signals and failures into messages and exit codes."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return call(args)
    except Terminated:
        print("snnsuite: terminated; finished work is kept: rerun with --resume to continue",
              file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("snnsuite: interrupted; rerun with --resume to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _user_errors() as exc:
        print(f"snnsuite: error: {_message(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except RunFailed as exc:
        print(f"snnsuite: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except RunStopped as exc:
        print(f"snnsuite: stopped: {exc}", file=sys.stderr)
        return EXIT_STOPPED
    except OSError as exc:
        if not _environment_problem(exc):
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"snnsuite: error: {where}{exc.strerror or exc}; finished work is kept: free the "
              "space or fix the permission, then rerun with --resume", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        _drop_brian_debug_files()


def main(argv=None) -> int:
    """The ``snnsuite`` console script; returns the exit status."""
    return _dispatch(build_parser(), argv, lambda args: args.handler(args))


def protocol_main(name: str, argv=None) -> int:
    """``python -m protocols.<name> CONFIG [options]``: ``run`` with the protocol fixed.

    The config's ``experiment`` must be ``name``; options are those of
    ``snnsuite run``.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m {PROTOCOLS.get(name, name)}",
        description=f"Run the {name!r} experiment from a config ({_description(PROTOCOLS[name])})"
        if name in PROTOCOLS else f"Run the {name!r} experiment from a config.")
    _add_run_arguments(parser)
    return _dispatch(parser, argv, lambda args: _run_protocol(args, expected=name))


if __name__ == "__main__":
    sys.exit(main())
