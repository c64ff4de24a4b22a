"""Grids on MPI ranks (``grid.scheduler: mpi``, mpi4py.futures): the numbers of joblib.

The run goes through the ``mpiexec`` of the ``mpich`` wheel, installed beside
this Python by the ``mpi`` extra (also in the ``test`` extra, so ``make test``
runs it); without the extra the tests that need it are skipped and say why.
MPICH needs no settings in a container: the run works with no network
interface up (``unshare -n``), the two ranks of one machine talk through
shared memory.
"""
import importlib.util
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest

from analysis.results import load
from protocols import cli, sweep

ROOT = Path(__file__).resolve().parent.parent
GRID_CONFIG = ROOT / "configs" / "heterogeneity_grid_quick.yaml"
MPIEXEC = Path(sys.executable).parent / "mpiexec"  # the mpich wheel's, in this environment
TIMEOUT_S = 120  # a hung MPI job fails the test instead of stopping the suite
#: a 2 x 2 grid of 30-neuron networks: seconds per point on the numpy target
TINY = ["network.n_neurons=30", "protocol.n_perturbations=2", "protocol.observation=40 ms",
        "protocol.fano_window=20 ms", "grid.v_th_std=[0.1 mV, 0.3 mV]", "grid.g_std=[0.1, 0.3]"]
#: point attributes that say how a point was run, not what it computed
HOW_RUN = {"compute_time_s", "simulation_time_s", "worker_pid"}
HAS_MPI4PY = importlib.util.find_spec("mpi4py") is not None  # the package, MPI not started
NO_MPI4PY = "mpi4py is not installed: pip install 'snnsuite[mpi]'"
NO_MPIEXEC = f"no mpiexec beside {sys.executable}: pip install 'snnsuite[mpi]' (the mpich wheel)"
needs_mpi4py = pytest.mark.skipif(not HAS_MPI4PY, reason=NO_MPI4PY)
needs_mpi = pytest.mark.skipif(not (HAS_MPI4PY and MPIEXEC.is_file()),
                               reason=NO_MPIEXEC if HAS_MPI4PY else NO_MPI4PY)


def sets(overrides):
    return [word for override in overrides for word in ("--set", str(override))]


def mpi_run(n_processes: int, *args) -> subprocess.CompletedProcess:
    """``mpiexec -n N python -m mpi4py.futures -m protocols.heterogeneity_grid ARGS``."""
    return mpi_run_command([str(MPIEXEC), "-n", str(n_processes), sys.executable, "-m",
                            "mpi4py.futures", "-m", "protocols.heterogeneity_grid",
                            *map(str, args)])


def mpi_run_command(command: list[str]) -> subprocess.CompletedProcess:
    """Run an MPI job; killed with all its ranks if it runs past :data:`TIMEOUT_S`."""
    process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # hydra's proxy and the ranks may sit in sessions of their own: kill them by their pids
        ranks = psutil.Process(process.pid).children(recursive=True)
        os.killpg(process.pid, signal.SIGKILL)
        for rank in ranks:
            rank.kill()
        out, err = process.communicate()
        pytest.fail(f"the MPI run did not end within {TIMEOUT_S} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def mpi_command(line: str) -> list[str]:
    """A printed ``mpiexec ... python ...`` command with this environment's programs."""
    words = shlex.split(line)
    assert words[:4] == ["mpiexec", "-n", "2", "python"], line
    return [str(MPIEXEC), *words[1:3], sys.executable, *words[4:]]


@needs_mpi
def test_two_mpi_processes_give_the_points_of_joblib_and_resume(tmp_path, monkeypatch,
                                                                numpy_target):
    """mpiexec -n 2 (rank 0 writes, rank 1 computes), stopped by the resource guard after the
    first point (exit 3) and resumed with the command it printed, and joblib, same seed:
    every point's data and measures identical; the points after the first of each run were
    computed on the worker rank."""
    assert cli.main(["run", str(GRID_CONFIG), "--out", str(tmp_path / "joblib"), *sets(TINY),
                     "--jobs", "1"]) == 0
    monkeypatch.setenv("SNNSUITE_FAKE_TEMPERATURE", "60,90")  # hot before the second point
    stopped = mpi_run(2, GRID_CONFIG, "--out", tmp_path / "mpi", *sets(TINY),
                      "--set", "grid.scheduler=mpi")
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    message = [line for line in stopped.stderr.splitlines() if "snnsuite: stopped" in line][0]
    assert "(1 of 4 points finished)" in message
    resume = message.split("resume with: ")[1]
    assert resume.startswith("mpiexec -n 2 python -m mpi4py.futures -m protocols.cli run ")
    monkeypatch.delenv("SNNSUITE_FAKE_TEMPERATURE")
    done = mpi_run_command(mpi_command(resume))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in stopped.stderr + done.stderr

    reference = load(tmp_path / "joblib" / "results.h5")
    ranks = load(tmp_path / "mpi" / "results.h5")
    assert sorted(ranks.points) == sorted(reference.points) == ["v000_g000", "v000_g001",
                                                                 "v001_g000", "v001_g001"]
    for name, point in reference.points.items():
        assert sorted(ranks.points[name].data) == sorted(point.data)
        for key, values in point.data.items():
            np.testing.assert_array_equal(ranks.points[name].data[key], values,
                                          err_msg=f"{name}/{key}")
        for key, value in point.attrs.items():
            if key not in HOW_RUN:
                assert str(ranks.points[name].attrs[key]) == str(value), (name, key)
    # rank 0 computes the first point of each run itself (it compiles once for all), rank 1
    # the rest: the resumed run's first point is v000_g001
    pids = {name: point.attrs["worker_pid"] for name, point in ranks.points.items()}
    assert pids["v001_g000"] == pids["v001_g001"] != pids["v000_g001"]
    assert len(set(pids.values())) == 3
    assert "scheduler: mpi" in (tmp_path / "mpi" / "config.yaml").read_text()


@needs_mpi
def test_one_mpi_process_is_refused_with_the_launch_command(tmp_path):
    """mpiexec -n 1: no rank would compute; exit 2, the line says how to launch it."""
    done = mpi_run(1, GRID_CONFIG, "--out", tmp_path / "grid", "--set", "grid.scheduler=mpi",
                   "--check")
    assert done.returncode == 2, done.stderr[-3000:]
    assert ("snnsuite: error: grid.scheduler is 'mpi' but the MPI world has 1 process"
            in done.stderr)
    assert "mpiexec -n N python -m mpi4py.futures -m protocols.heterogeneity_grid" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "grid").exists()


def one_line_error(capsys, code) -> str:
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@needs_mpi4py
def test_a_run_not_started_by_mpi4py_futures_says_how_to_launch(tmp_path, capsys):
    """scheduler mpi from plain python (or mpiexec without -m mpi4py.futures, where every
    rank would run the whole grid): exit 2 before anything is written."""
    err = one_line_error(capsys, cli.main(["run", str(GRID_CONFIG), "--out", str(tmp_path / "g"),
                                           "--set", "grid.scheduler=mpi"]))
    assert "not started by python -m mpi4py.futures under mpiexec" in err
    assert (f"mpiexec -n N python -m mpi4py.futures -m protocols.heterogeneity_grid "
            f"{GRID_CONFIG} --out {tmp_path / 'g'} [options]") in err
    assert not (tmp_path / "g").exists()
    assert "mpi4py.MPI" not in sys.modules, "the check must not initialise MPI in this process"


def test_a_missing_mpi4py_says_which_extra_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py raises ImportError
    err = one_line_error(capsys, cli.main(["run", str(GRID_CONFIG), "--out", str(tmp_path / "g"),
                                           "--set", "grid.scheduler=mpi", "--check"]))
    assert ("grid.scheduler is 'mpi' but mpi4py is not installed; pip install 'snnsuite[mpi]'"
            in err)


def test_memory_is_counted_for_the_worker_ranks_on_this_node():
    """MPI launchers say how many ranks share this node; rank 0 only writes."""
    assert sweep.mpi_local_ranks({"MPI_LOCALNRANKS": "4", "PMI_SIZE": "16"}) == 4
    assert sweep.mpi_local_ranks({"OMPI_COMM_WORLD_LOCAL_SIZE": "3"}) == 3
    assert sweep.mpi_local_ranks({"SLURM_STEP_TASKS_PER_NODE": "16,15",
                                                "PMI_SIZE": "31"}) == 16
    assert sweep.mpi_local_ranks({"PMI_SIZE": "8"}) == 8
    assert sweep.mpi_local_ranks({}) == 2
