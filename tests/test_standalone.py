"""Standalone builds as a product (snnsuite build / collect) and the CUDA tool chain.

Fast tests generate projects without compiling them and check every refusal;
the slow ones compile: the C++ round trip (build, run the binary by hand,
collect == snnsuite run --backend cpp) and the nvcc build of the quick chaos
network for CUDA."""
import contextlib
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from protocols.cli import main

ROOT = Path(__file__).resolve().parent.parent
QUICK = str(ROOT / "configs" / "chaos_quick.yaml")
SMALL = ["--set", "network.n_neurons=40", "--set", "protocol.observation=60 ms",
         "--set", "protocol.baseline=20 ms", "--set", "protocol.n_perturbations=2"]


def run_cli(args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(args)
        except SystemExit as exc:      # argparse
            status = exc.code
    return status, out.getvalue(), err.getvalue()


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# ----------------------------------------------------------------------------- build (no compile)
@pytest.fixture
def generated(tmp_path):
    """A chaos point's C++ project, generated but not compiled."""
    status, out, err = run_cli(["build", QUICK, "--backend", "cpp", "--no-compile",
                                "--out", str(tmp_path / "b"), *SMALL])
    assert status == 0, err
    return tmp_path / "b", out


def test_build_writes_the_project_readme_and_manifest_without_running(generated):
    folder, out = generated
    assert (folder / "project" / "makefile").is_file()
    assert (folder / "project" / "main.cpp").is_file()
    assert not (folder / "project" / "main").exists()           # --no-compile
    assert not (folder / "results.h5").exists()
    manifest = json.loads((folder / "snnsuite_build.json").read_text())
    assert manifest["experiment"] == "chaos" and manifest["backend"] == "cpp"
    assert manifest["compiled"] is False
    assert "n_neurons: 40" in manifest["config"]
    files = manifest["built"]["spike_files"]
    assert files["i"].startswith("_dynamic_array_spikes_i")
    readme = (folder / "README.md").read_text()
    assert "make" in readme and "./main" in readme and "snnsuite collect" in readme
    assert "nothing has run yet" in readme.lower()
    assert "snnsuite collect" in out


def test_collect_before_the_binary_ran_says_so(generated):
    folder, _ = generated
    status, _, err = run_cli(["collect", str(folder)])
    assert status == 2
    line = one_line_error(err)
    assert "./main" in line and "has not run" in line


def test_collect_reads_the_files_the_manifest_names(generated, tmp_path):
    """Fake binary output (a spike monitor's i and t files) is read into the chaos measures."""
    folder, _ = generated
    manifest = json.loads((folder / "snnsuite_build.json").read_text())
    results = folder / "project" / "results"
    results.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    n_replicas, n = 4, 40
    t = np.sort(rng.uniform(0, 0.08, 300))
    i = rng.integers(0, n_replicas * n, 300).astype(np.int32)
    i.tofile(results / manifest["built"]["spike_files"]["i"])
    t.tofile(results / manifest["built"]["spike_files"]["t"])
    (results / "last_run_info.txt").write_text("0.5 1\n")
    status, out, err = run_cli(["collect", str(folder), "--out", str(tmp_path / "c")])
    assert status == 0, err
    from analysis.results import load

    point = load(tmp_path / "c" / "results.h5").point
    assert point.attrs["simulation_time_s"] == 0.5
    assert point.attrs["backend"] == "cpp"
    spikes = point.data["control_spike_i"]
    assert len(spikes) > 0
    # a damaged pair of files (lengths differ) is refused in one line
    i[:-1].tofile(results / manifest["built"]["spike_files"]["i"])
    status, _, err = run_cli(["collect", str(folder), "--out", str(tmp_path / "d")])
    assert status == 2 and "differ in length" in one_line_error(err)


@pytest.mark.parametrize("content, fragment", [
    (None, "no snnsuite_build.json"),
    ("{", "damaged"),
    ("[]", "damaged"),
    ('{"format": 1}', "damaged"),
    ('{"format": 99, "experiment": "chaos", "backend": "cpp", "built": {}, "config": ""}',
     "cannot collect"),
    ('{"format": 1, "experiment": "ei_rnn", "backend": "cpp", "built": {}, "config": ""}',
     "cannot collect"),
])
def test_collect_refuses_a_missing_or_damaged_manifest(tmp_path, content, fragment):
    folder = tmp_path / "b"
    folder.mkdir()
    if content is not None:
        (folder / "snnsuite_build.json").write_text(content)
    status, _, err = run_cli(["collect", str(folder)])
    assert status == 2 and fragment in one_line_error(err)


def test_collect_of_a_folder_that_does_not_exist(tmp_path):
    status, _, err = run_cli(["collect", str(tmp_path / "nowhere")])
    assert status == 2 and "no such folder" in one_line_error(err)


@pytest.mark.parametrize("config, extra, fragment", [
    ("configs/plasticity_hebbian.yaml", [], "chaos point"),
    ("configs/heterogeneity_grid_quick.yaml", [], "chaos point"),
    (QUICK, ["--set", "network.n_neurons=0"], "n_neurons"),
    (QUICK, ["--compute-capability", "8.0"], "--backend cuda only"),
])
def test_build_refusals_are_one_line(tmp_path, config, extra, fragment):
    config = str(ROOT / config) if not os.path.isabs(config) else config
    status, _, err = run_cli(["build", config, "--backend", "cpp", "--no-compile",
                              "--out", str(tmp_path / "b"), *extra])
    assert status == 2 and fragment in one_line_error(err)
    assert not (tmp_path / "b" / "project").exists()


def test_build_never_writes_over_an_earlier_build(generated):
    folder, _ = generated
    before = sorted(p.name for p in (folder / "project").iterdir())
    status, _, err = run_cli(["build", QUICK, "--backend", "cpp", "--no-compile",
                              "--out", str(folder), *SMALL])
    assert status == 2 and "already holds a build" in one_line_error(err)
    assert sorted(p.name for p in (folder / "project").iterdir()) == before


def test_build_runtime_backend_is_refused_by_the_parser(tmp_path):
    status, _, err = run_cli(["build", QUICK, "--backend", "runtime", "--out", str(tmp_path)])
    assert status == 2 and "invalid choice" in err


# ----------------------------------------------------------------------------- CUDA tool chain
@pytest.mark.parametrize("value", ["abc", "0.5", "8.05", "25", "-1"])
def test_a_bad_compute_capability_is_one_line(tmp_path, value):
    status, _, err = run_cli(["build", QUICK, "--backend", "cuda", "--no-compile",
                              "--compute-capability", value, "--out", str(tmp_path / "b")])
    assert status == 2 and "compute capability" in one_line_error(err)


def test_a_cuda_path_without_nvcc_is_one_line(tmp_path):
    status, _, err = run_cli(["build", QUICK, "--backend", "cuda", "--no-compile",
                              "--cuda-path", str(tmp_path), "--out", str(tmp_path / "b")])
    assert status == 2 and "no nvcc" in one_line_error(err)


@pytest.mark.parametrize("value", ["-1", "x", "1.5"])
def test_a_bad_gpu_id_is_one_line(tmp_path, value):
    status, _, err = run_cli(["build", QUICK, "--backend", "cuda", "--no-compile",
                              "--gpu-id", value, "--out", str(tmp_path / "b")])
    assert status == 2 and ("GPU id" in err or "invalid int value" in err)


def test_no_gpu_is_reported_and_forced_by_the_fake_switch(monkeypatch):
    from models import cuda

    monkeypatch.setenv("SNNSUITE_FAKE_NO_GPU", "1")
    assert cuda.gpu_present() is False


def test_curand_missing_names_what_to_install(tmp_path, monkeypatch):
    from models import cuda

    monkeypatch.setattr(cuda, "_wheel_roots", lambda: [])
    (tmp_path / "include").mkdir()
    with pytest.raises(cuda.CudaError, match="pip install 'nvidia-curand"):
        cuda.find_curand(tmp_path)


def test_curand_found_in_a_wheel_layout(tmp_path, monkeypatch):
    """The CUDA 13 wheel's layout: include/curand.h and lib/libcurand.so.10 (no .so link)."""
    from models import cuda

    wheel = tmp_path / "nvidia" / "cu13"
    (wheel / "include").mkdir(parents=True)
    (wheel / "lib").mkdir()
    (wheel / "include" / "curand.h").write_text("")
    (wheel / "lib" / "libcurand.so.10").write_text("")
    monkeypatch.setattr(cuda, "_wheel_roots", lambda: [wheel])
    include, library = cuda.find_curand(tmp_path / "toolkit")
    assert include == wheel / "include" and library.name == "libcurand.so.10"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc (the CUDA toolkit)")
def test_configure_sets_cxx17_and_no_detection_and_restores_the_preferences(tmp_path,
                                                                           monkeypatch):
    from brian2 import prefs

    from models import cuda

    monkeypatch.setenv("SNNSUITE_FAKE_NO_GPU", "1")
    try:
        tools = cuda.toolchain()
    except cuda.CudaError as exc:
        pytest.skip(str(exc))
    before = (list(prefs.codegen.cpp.extra_compile_args_gcc),
              list(prefs.codegen.cpp.library_dirs))
    with cuda.configure(tools, tmp_path):
        cb = prefs.devices.cuda_standalone.cuda_backend
        assert cb.detect_gpus is False and cb.compute_capability == 8.0 and cb.gpu_id == 0
        assert "-std=c++17" in cb.extra_compile_args_nvcc
        assert "-std=c++17" in prefs.codegen.cpp.extra_compile_args_gcc
        assert not any(a == "-std=c++11" for a in prefs.codegen.cpp.extra_compile_args_gcc)
        assert (tmp_path / "curand_link" / "libcurand.so").resolve() == \
            tools.curand_library.resolve()
    assert (list(prefs.codegen.cpp.extra_compile_args_gcc),
            list(prefs.codegen.cpp.library_dirs)) == before


# ----------------------------------------------------------------------------- compiled (slow)
@pytest.mark.slow
def test_cpp_round_trip_equals_snnsuite_run(tmp_path):
    """build -> make and ./main by hand -> collect gives what snnsuite run --backend cpp gives."""
    from analysis.results import load

    status, _, err = run_cli(["build", QUICK, "--backend", "cpp", "--out", str(tmp_path / "b")])
    assert status == 0, err
    project = tmp_path / "b" / "project"
    subprocess.run(["make", "-s"], cwd=project, check=True, capture_output=True, timeout=600)
    subprocess.run(["./main"], cwd=project, check=True, capture_output=True, timeout=600)
    status, _, err = run_cli(["collect", str(tmp_path / "b")])
    assert status == 0, err
    status, _, err = run_cli(["run", QUICK, "--backend", "cpp", "--out", str(tmp_path / "r")])
    assert status == 0, err
    built, ran = load(tmp_path / "b" / "results.h5").point, load(tmp_path / "r" / "results.h5").point
    assert sorted(built.data) == sorted(ran.data)
    for key in built.data:
        np.testing.assert_array_equal(np.asarray(built.data[key]), np.asarray(ran.data[key]),
                                      err_msg=key)
    for key, value in ran.attrs.items():
        if key not in ("compute_time_s", "simulation_time_s"):
            assert built.attrs[key] == value or (value != value and built.attrs[key] != built.attrs[key]), key


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc (the CUDA toolkit)")
def test_cuda_build_of_the_quick_chaos_network_compiles_with_nvcc(tmp_path, monkeypatch):
    """snnsuite build --backend cuda: generated and nvcc-compiled here (no GPU: nothing ran);
    snnsuite run --backend cuda: the same, then exit 2 naming the folder."""
    from models import cuda, devices

    try:
        cuda.toolchain()
    except cuda.CudaError as exc:
        pytest.skip(str(exc))
    monkeypatch.setenv("SNNSUITE_FAKE_NO_GPU", "1")
    for variable in devices.CUDA_VARIABLES.values():   # --compute-capability below sets one
        monkeypatch.setenv(variable, "")
    started = time.perf_counter()
    status, out, err = run_cli(["build", QUICK, "--backend", "cuda", "--out",
                                str(tmp_path / "b")])
    seconds = time.perf_counter() - started
    assert status == 0, err
    assert (tmp_path / "b" / "project" / "main").is_file()
    assert "compute capability 8.0 (sm_80)" in out and "nothing ran" in out
    print(f"nvcc build of the quick chaos network: {seconds:.0f} s")
    status, _, err = run_cli(["run", QUICK, "--backend", "cuda", "--compute-capability", "9.0",
                              "--out", str(tmp_path / "r"), "--set", "network.n_neurons=20",
                              "--set", "protocol.n_perturbations=1"])
    line = one_line_error(err)
    assert status == 2 and "no GPU" in line and "compute capability 9.0" in line
    assert "nothing ran" in line
