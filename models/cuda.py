"""The CUDA tool chain for brian2cuda builds, found and configured by the suite.

brian2cuda's ``cuda_standalone`` device generates a CUDA project and compiles
it with ``nvcc``.  Three things stand in its way on a machine like a laptop,
a CI runner or a login node, and :func:`configure` handles each:

- **No GPU.**  brian2cuda asks ``nvidia-smi`` and ``deviceQuery`` for the GPUs
  and their compute capability.  Without a GPU the detection is switched off
  and the project is compiled for the requested compute capability (default
  8.0, an A100) and GPU id (default 0); the binary then runs on any GPU of
  that capability or newer.
- **No cuRAND in the toolkit.**  brian2cuda links ``-lcurand``.  Toolkits
  installed without the math libraries (e.g. the bare CUDA 13 compiler) lack
  it; the pip wheel ``nvidia-curand`` (CUDA 13: version 10.4) ships the
  headers and ``libcurand.so.10``.  The toolkit is searched first, then the
  wheel; the wheel's library has no unversioned ``libcurand.so`` for the
  linker, so a link to it is made inside the build folder.
- **C++ dialect.**  brian2cuda's makefile and Brian2's compiler flags ask for
  C++11, while the Thrust/CUB/libcu++ headers of CUDA 13 need C++17: the
  suite passes ``-std=c++17`` to nvcc and to the host compiler.

Preferences are set for one build and restored afterwards
(:func:`configure` is a context manager), so a later runtime or ``cpp`` run in
the same process is unaffected.
"""
from __future__ import annotations

import contextlib
import copy
import glob
import importlib.util
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: compute capability compiled for when no GPU tells us (NVIDIA A100)
DEFAULT_COMPUTE_CAPABILITY = 8.0
#: what to install when cuRAND is missing (the CUDA 13 wheel)
CURAND_HINT = ("pip install 'nvidia-curand>=10.4,<11' (cuRAND for CUDA 13; or "
               "pip install 'snnsuite[cuda]'), or install the toolkit's math libraries")


class CudaError(RuntimeError):
    """The CUDA tool chain cannot build here (the message says what is missing)."""


@dataclass(frozen=True)
class Toolchain:
    """What a CUDA build uses: where nvcc and cuRAND are, and the target GPU."""

    cuda_path: Path
    nvcc: Path
    cuda_version: str
    curand_include: Path
    curand_library: Path
    gpu_present: bool
    gpu_id: int
    compute_capability: float | None   # None: detected from the GPU by brian2cuda

    @property
    def arch(self) -> str:
        """nvcc's ``sm_XY`` name of the compute capability (``detected`` with a GPU)."""
        if self.compute_capability is None:
            return "detected"
        return "sm_" + f"{self.compute_capability:.1f}".replace(".", "")


def find_cuda(cuda_path: str | os.PathLike | None = None) -> Path:
    """The CUDA installation: ``cuda_path``, else ``$CUDA_PATH`` / ``$CUDA_HOME``, else the
    folder above the ``nvcc`` on ``PATH``, else ``/usr/local/cuda*`` (the newest); a folder
    counts when it holds ``bin/nvcc`` and ``include/cuda_runtime.h``."""
    candidates = []
    if cuda_path:
        candidates.append(("the given CUDA path", Path(cuda_path)))
    else:
        for variable in ("CUDA_PATH", "CUDA_HOME"):
            if os.environ.get(variable):
                candidates.append((f"${variable}", Path(os.environ[variable])))
        nvcc = shutil.which("nvcc")
        if nvcc:
            candidates.append(("nvcc on PATH", Path(nvcc).resolve().parent.parent))
        candidates += [("/usr/local", Path(p)) for p in
                       sorted(glob.glob("/usr/local/cuda*"), reverse=True)]
    for what, path in candidates:
        # a toolkit has its headers beside bin/nvcc (a wrapper script on PATH does not)
        if (path / "bin" / "nvcc").is_file() and (
                what == "the given CUDA path" or (path / "include" / "cuda_runtime.h").is_file()):
            return path
    if cuda_path:
        raise CudaError(f"no nvcc in {cuda_path}/bin: --cuda-path must name a CUDA toolkit "
                        "(the folder holding bin/nvcc)")
    raise CudaError("no CUDA toolkit found (nvcc is not on PATH, $CUDA_PATH is not set, "
                    "nothing in /usr/local/cuda*): install the CUDA toolkit or give "
                    "--cuda-path")


def nvcc_version(nvcc: Path) -> str:
    """``release X.Y`` of ``nvcc --version``."""
    try:
        out = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise CudaError(f"{nvcc} does not run: {exc}") from None
    match = re.search(r"release (\d+\.\d+)", out)
    return match.group(1) if match else "unknown"


def _wheel_roots() -> list[Path]:
    """``nvidia/cu*`` folders of the NVIDIA wheels installed for this Python."""
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    roots = []
    for location in spec.submodule_search_locations:
        roots += sorted(Path(location).glob("cu*"), reverse=True)   # cu13 before cu12
        roots.append(Path(location) / "curand")                    # the CUDA 12 wheel layout
    return roots


def find_curand(cuda_path: Path) -> tuple[Path, Path]:
    """``(include folder, library file)`` of cuRAND: the toolkit's, else the pip wheel's."""
    places = [(cuda_path / "include", [cuda_path / "lib64", cuda_path / "lib",
                                       cuda_path / "targets" / "x86_64-linux" / "lib"])]
    places += [(root / "include", [root / "lib"]) for root in _wheel_roots()]
    for include, libs in places:
        if not (include / "curand.h").is_file():
            continue
        for lib in libs:
            found = sorted(lib.glob("libcurand.so*"))
            if found:
                return include, found[0]
    raise CudaError(f"cuRAND is missing: the CUDA toolkit at {cuda_path} has no curand.h and "
                    f"libcurand, and no nvidia-curand wheel is installed; {CURAND_HINT}")


def gpu_present() -> bool:
    """Whether ``nvidia-smi -L`` lists a GPU (``SNNSUITE_FAKE_NO_GPU=1`` says no)."""
    if os.environ.get("SNNSUITE_FAKE_NO_GPU", "").strip() == "1":
        return False
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def check_compute_capability(value) -> float:
    """A compute capability such as 8.0 or 9.0 (a positive number with one decimal)."""
    try:
        cc = float(value)
    except (TypeError, ValueError):
        raise CudaError(f"compute capability {value!r} is not a number; give e.g. 8.0 "
                        "(A100), 8.6 (RTX 30xx), 8.9 (L4, RTX 40xx) or 9.0 (H100)") from None
    if not (3.0 <= cc < 20) or abs(cc * 10 - round(cc * 10)) > 1e-9:
        raise CudaError(f"compute capability {value!r} is out of range; give a value such as "
                        "8.0, 8.6, 8.9 or 9.0")
    return cc


def check_gpu_id(value) -> int:
    """A GPU index: a whole number >= 0."""
    try:
        index = int(value)
    except (TypeError, ValueError):
        index = -1
    if index < 0 or index != value and str(index) != str(value).strip():
        raise CudaError(f"GPU id {value!r} must be a whole number >= 0 (0 is the first GPU)")
    return index


def toolchain(*, compute_capability=None, cuda_path=None, gpu_id=None) -> Toolchain:
    """Find everything a CUDA build needs; :class:`CudaError` names what is missing."""
    cc = None if compute_capability is None else check_compute_capability(compute_capability)
    gpu_id = None if gpu_id is None else check_gpu_id(gpu_id)
    path = find_cuda(cuda_path)
    nvcc = path / "bin" / "nvcc"
    include, library = find_curand(path)
    gpu = gpu_present()
    if cc is None and not gpu:   # nothing to detect it from
        cc = DEFAULT_COMPUTE_CAPABILITY
    return Toolchain(cuda_path=path, nvcc=nvcc, cuda_version=nvcc_version(nvcc),
                     curand_include=include, curand_library=library, gpu_present=gpu,
                     gpu_id=int(gpu_id or 0), compute_capability=cc)


def _cxx17(flags: list) -> list:
    return [("-std=c++17" if f.startswith("-std=c++") else f) for f in flags] + \
        ([] if any(f.startswith("-std=") for f in flags) else ["-std=c++17"])


@contextlib.contextmanager
def configure(tools: Toolchain, build_dir: Path):
    """Set brian2cuda's and Brian2's preferences for a build of ``tools`` into ``build_dir``;
    restore them on exit."""
    import brian2cuda  # noqa: F401  (registers the cuda_standalone device and its preferences)
    from brian2 import prefs

    cb = prefs.devices.cuda_standalone.cuda_backend
    names = ["devices.cuda_standalone.cuda_backend." + k for k in
             ("detect_gpus", "gpu_id", "compute_capability", "cuda_path",
              "extra_compile_args_nvcc")]
    names += ["codegen.cpp.extra_compile_args_gcc", "codegen.cpp.library_dirs",
              "codegen.cpp.runtime_library_dirs"]
    saved = {name: copy.deepcopy(prefs[name]) for name in names}
    from brian2.utils.logger import BrianLogger

    console = BrianLogger.console_handler     # brian2cuda reports every preference at INFO
    console_level = console.level if console is not None else None
    if console is not None:
        console.setLevel(max(console_level, logging.WARNING))
    link_dir = Path(build_dir) / "curand_link"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / "libcurand.so"
    if not link.exists():
        link.symlink_to(tools.curand_library)
    try:
        cb.cuda_path = str(tools.cuda_path)
        # without a GPU (or with a compute capability given) nothing is detected: the
        # project is compiled for the requested GPU; nvidia-smi and deviceQuery are not asked
        cb.detect_gpus = tools.gpu_present and tools.compute_capability is None
        cb.gpu_id = tools.gpu_id
        cb.compute_capability = tools.compute_capability
        cb.extra_compile_args_nvcc = _cxx17(["-w", "-use_fast_math"]) + \
            [f"-I{tools.curand_include}"]
        prefs.codegen.cpp.extra_compile_args_gcc = _cxx17(
            list(prefs.codegen.cpp.extra_compile_args_gcc))
        prefs.codegen.cpp.library_dirs = list(saved["codegen.cpp.library_dirs"]) + [str(link_dir)]
        prefs.codegen.cpp.runtime_library_dirs = (
            list(saved["codegen.cpp.runtime_library_dirs"]) + [str(tools.curand_library.parent)])
        yield tools
    finally:
        for name, value in saved.items():
            prefs[name] = value
        if console is not None:
            console.setLevel(console_level)
