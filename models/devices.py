"""Back-end switch: the same Brian2 network on the runtime, C++ or CUDA device.

``runtime``
    Brian2's runtime mode: code generated to Cython (compiled once, cached in
    ``~/.cython/brian_extensions``), falling back to numpy when no compiler
    works.
``cpp``
    ``cpp_standalone``: the whole simulation is generated as a C++ project,
    compiled and run in one unique build directory per run (parallel workers
    never share one); the directory is deleted afterwards unless ``keep`` is set.
``cuda``
    brian2cuda's ``cuda_standalone`` (arrives in a later release of the suite;
    selecting it now raises a clear error).

Use as a context manager around building *and* running a network::

    with devices.backend("cpp") as dev:
        net = build(...)
        dev.run(net, duration)
        spikes = monitor.i[:]        # read results inside the block

On exit the standalone device is reset and the runtime device selected again,
so the next run in the same process starts clean.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import brian2 as b2

BACKENDS = ("runtime", "cpp", "cuda")


class BackendError(RuntimeError):
    """A back-end was requested that cannot run here."""


#: environment variable that picks the runtime's code target: ``numpy`` (nothing
#: compiled: best for small networks and one-off parameter values) or ``cython``
TARGET_VARIABLE = "SNNSUITE_RUNTIME_TARGET"


def _runtime_target() -> str:
    """``$SNNSUITE_RUNTIME_TARGET`` when set, else ``cython`` when Cython is
    available, else ``numpy``.

    Cython compiles each new piece of generated code once (parameter values
    are compiled in, so every new value is a new compile, seconds each) and
    then runs it fast; numpy compiles nothing and is quicker for small
    networks run once.
    """
    import os

    chosen = os.environ.get(TARGET_VARIABLE, "").strip().lower()
    if chosen:
        if chosen not in ("numpy", "cython"):
            raise BackendError(f"{TARGET_VARIABLE}={chosen!r}; allowed: numpy, cython")
        return chosen
    try:
        import Cython  # noqa: F401
    except ImportError:
        return "numpy"
    return "cython"


class _Device:
    def __init__(self, name: str, directory: Path | None):
        self.name = name
        self.directory = directory

    def run(self, net: b2.Network, duration: b2.Quantity) -> None:
        """Run ``net`` for ``duration`` (and, for standalone, build and execute)."""
        net.run(duration, namespace={})
        if self.name != "runtime":
            b2.device.build(directory=str(self.directory), compile=True, run=True,
                            with_output=False)


@contextlib.contextmanager
def backend(name: str = "runtime", *, build_root: str | Path | None = None, keep: bool = False):
    """Select a back-end for the enclosed build-and-run (see module docstring)."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "cuda":
        raise BackendError("the 'cuda' backend (brian2cuda) is not available in this release; "
                           "use --backend runtime or --backend cpp")
    if name == "runtime":
        b2.set_device("runtime")
        b2.prefs.codegen.target = _runtime_target()
        yield _Device("runtime", None)
        return
    root = Path(build_root) if build_root is not None else None
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="snnsuite_cpp_", dir=root))
    b2.set_device("cpp_standalone", directory=str(directory), build_on_run=False)
    try:
        yield _Device(name, directory)
    finally:
        b2.device.reinit()
        b2.set_device("runtime")
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def drop_debug_files() -> None:
    """Stop Brian2's per-process debug log and script copy, and delete them.

    Brian2 writes ``brian_debug_*.log`` and ``brian_script_*.py`` into the
    temporary folder at import and keeps them when a process dies by an
    uncaught exception or a signal.  The suite reports its own errors (one
    line, the traceback in the run folder's ``error.log``), so these files
    would only pile up; this removes them for the calling process.
    """
    import logging
    import os

    from brian2.utils.logger import BrianLogger

    handler = BrianLogger.file_handler
    if handler is not None:
        logging.getLogger("brian2").removeHandler(handler)
        handler.close()
        BrianLogger.file_handler = None
    for attribute in ("tmp_log", "tmp_script"):
        path = getattr(BrianLogger, attribute, None)
        if path:
            for candidate in (path, f"{path}.1"):
                with contextlib.suppress(OSError):
                    os.remove(candidate)
            setattr(BrianLogger, attribute, None)
    b2.prefs["logging.file_log"] = False
    b2.prefs["logging.save_script"] = False
