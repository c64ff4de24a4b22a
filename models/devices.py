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
    brian2cuda's ``cuda_standalone``: the simulation is generated as a CUDA
    project and compiled with nvcc (:mod:`models.cuda` finds the toolkit and
    cuRAND and sets the preferences).  With a GPU it runs like ``cpp``;
    without one the project is compiled for the requested compute capability
    and :class:`NoGPU` is raised, naming the build folder: nothing ran.

``build_only=True`` generates (and, with ``compile=True``, compiles) the
standalone project without running it: ``snnsuite build`` and
``snnsuite collect`` (:mod:`protocols.standalone`).

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


class NoGPU(BackendError):
    """A CUDA project was built and compiled, but there is no GPU to run it on."""

    def __init__(self, directory: Path, compute_capability: float | None):
        self.directory = Path(directory)
        self.compute_capability = compute_capability
        cc = "the detected GPU" if compute_capability is None else \
            f"compute capability {compute_capability:.1f}"
        super().__init__(f"no GPU on this machine: the CUDA project in {self.directory} was "
                         f"generated and compiled with nvcc for {cc}, and nothing ran; on a "
                         f"machine with such a GPU run it with: cd {self.directory} && ./main "
                         "(after make clean && make if the CUDA there differs), then "
                         "snnsuite collect on the build folder")


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


def _anchor_defaultclock(net: b2.Network) -> None:
    """Work around brian2cuda 1.0a7, whose synaptic-propagation kernels read
    ``defaultclock.timestep`` (to test the synaptic delay) even when every object runs on a
    clock of its own, so that nvcc fails with "identifier defaultclock is undefined": put the
    default clock at the network's time step and give it one trivial object."""
    dts = {float(obj.clock.dt_) for obj in net.objects if hasattr(obj, "clock")}
    if len(dts) > 1:
        raise BackendError(f"the cuda back-end needs one time step for every object "
                           f"(brian2cuda reads the default clock in its synapse kernels); got "
                           f"{sorted(dts)} s")
    if dts:
        b2.defaultclock.dt = next(iter(dts)) * b2.second
    net.add(b2.NeuronGroup(1, "dx/dt = 0 / second : 1", method="euler",
                           name="cuda_defaultclock_anchor"))


class _Device:
    def __init__(self, name: str, directory: Path | None, *, build_only: bool = False,
                 compile: bool = True, tools=None):
        self.name = name
        self.directory = directory
        self.build_only = build_only
        self.compile = compile
        self.tools = tools          # models.cuda.Toolchain of a cuda build

    def run(self, net: b2.Network, duration: b2.Quantity) -> None:
        """Run ``net`` for ``duration`` (and, for standalone, build and execute)."""
        if self.name == "cuda":
            _anchor_defaultclock(net)
        net.run(duration, namespace={})
        if self.name == "runtime":
            return
        run = not self.build_only and (self.name == "cpp" or self.tools.gpu_present)
        b2.device.build(directory=str(self.directory), compile=self.compile or run, run=run,
                        with_output=False)
        if self.name == "cuda" and not self.build_only and not run:
            raise NoGPU(self.directory, self.tools.compute_capability)

    def array_file(self, variable) -> str:
        """The file (relative to the project's ``results/``) a standalone binary writes the
        values of a Brian2 variable (e.g. ``monitor.variables["i"]``) to."""
        return b2.device.get_array_filename(variable)


def make_jobs() -> int:
    """Parallel compiler processes of a standalone build: the cores this process may use
    (Brian2's default ``make -j`` starts one per source file at once, dozens of compilers
    and, with nvcc, gigabytes of memory on a small machine)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:       # not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _make_jobs():
    saved = list(b2.prefs.devices.cpp_standalone.extra_make_args_unix)
    b2.prefs.devices.cpp_standalone.extra_make_args_unix = [
        a for a in saved if not a.startswith("-j")] + [f"-j{make_jobs()}"]
    try:
        yield
    finally:
        b2.prefs.devices.cpp_standalone.extra_make_args_unix = saved


#: environment variables carrying the CUDA options to worker processes
CUDA_VARIABLES = {"compute_capability": "SNNSUITE_CUDA_COMPUTE_CAPABILITY",
                  "cuda_path": "SNNSUITE_CUDA_PATH", "gpu_id": "SNNSUITE_CUDA_GPU_ID"}


def set_cuda_options(*, compute_capability=None, cuda_path=None, gpu_id=None) -> None:
    """Check the CUDA options and make them the default of every later ``cuda`` build in this
    process and its workers (through :data:`CUDA_VARIABLES`)."""
    import os

    from models import cuda

    try:
        if compute_capability is not None:
            compute_capability = cuda.check_compute_capability(compute_capability)
        if gpu_id is not None:
            gpu_id = cuda.check_gpu_id(gpu_id)
        if cuda_path is not None:
            cuda.find_cuda(cuda_path)
    except cuda.CudaError as exc:
        raise BackendError(str(exc)) from None
    for key, value in (("compute_capability", compute_capability), ("cuda_path", cuda_path),
                       ("gpu_id", gpu_id)):
        if value is not None:
            os.environ[CUDA_VARIABLES[key]] = str(value)


def _cuda_option(key: str, given):
    import os

    if given is not None:
        return given
    text = os.environ.get(CUDA_VARIABLES[key], "").strip()
    if not text:
        return None
    return int(text) if key == "gpu_id" else (float(text) if key == "compute_capability"
                                             else text)


@contextlib.contextmanager
def backend(name: str = "runtime", *, build_root: str | Path | None = None, keep: bool = False,
            directory: str | Path | None = None, build_only: bool = False, compile: bool = True,
            compute_capability=None, cuda_path=None, gpu_id=None):
    """Select a back-end for the enclosed build-and-run (see module docstring).

    ``directory`` builds the standalone project there (kept); otherwise a new
    folder under ``build_root`` (deleted afterwards unless ``keep``, or unless a
    CUDA project was compiled without a GPU to run it).  ``compute_capability``
    (default 8.0 without a GPU, detected with one), ``cuda_path`` and ``gpu_id``
    apply to ``cuda`` only.
    """
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "runtime":
        b2.set_device("runtime")
        b2.prefs.codegen.target = _runtime_target()
        yield _Device("runtime", None)
        return
    tools = None
    if name == "cuda":
        from models import cuda

        try:
            tools = cuda.toolchain(
                compute_capability=_cuda_option("compute_capability", compute_capability),
                cuda_path=_cuda_option("cuda_path", cuda_path),
                gpu_id=_cuda_option("gpu_id", gpu_id))
        except cuda.CudaError as exc:
            raise BackendError(str(exc)) from None
    if directory is not None:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        keep = True
    else:
        root = Path(build_root) if build_root is not None else None
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"snnsuite_{name}_", dir=root))
    device = _Device(name, folder, build_only=build_only, compile=compile, tools=tools)
    default_dt = b2.defaultclock.dt     # the cuda work-around moves it
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(_make_jobs())
            if tools is not None:
                from models import cuda

                stack.enter_context(cuda.configure(tools, folder))
            b2.set_device("cuda_standalone" if name == "cuda" else "cpp_standalone",
                          directory=str(folder), build_on_run=False)
            yield device
    except NoGPU:
        keep = True       # the compiled project is what the user came for
        raise
    finally:
        b2.device.reinit()
        b2.set_device("runtime")
        b2.defaultclock.dt = default_dt
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


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
