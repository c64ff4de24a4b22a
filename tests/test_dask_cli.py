"""``snnsuite run --scheduler tcp://HOST:PORT`` and ``--dask-local N``: grids and sweeps on dask.

A dask cluster of two worker processes, bound to 127.0.0.1, stands in for a
cluster's scheduler: the quick grid made tiny (as in ``tests/test_mpi.py``)
computed through ``--scheduler tcp://...``, stopped by the resource guard and
resumed, gives the numbers of joblib for the same seed; resuming a finished
file changes nothing.  The workers run Brian2's numpy target: the variable
``SNNSUITE_RUNTIME_TARGET`` is set before the cluster starts, so that its
worker processes inherit it.  Without dask.distributed (the ``cluster`` extra)
the tests that need it are skipped.
"""
import contextlib
import importlib.util
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.results import load
from protocols import cli, guards, heterogeneity_grid, sweep

ROOT = Path(__file__).resolve().parent.parent
GRID_CONFIG = ROOT / "configs" / "heterogeneity_grid_quick.yaml"
CHAOS_CONFIG = ROOT / "configs" / "chaos_quick.yaml"
#: a 2 x 2 grid of 30-neuron networks: about a second per point on the numpy target
TINY = ["network.n_neurons=30", "protocol.n_perturbations=2", "protocol.observation=40 ms",
        "protocol.fano_window=20 ms", "grid.v_th_std=[0.1 mV, 0.3 mV]", "grid.g_std=[0.1, 0.3]"]
#: the same networks as a 1 x 2 grid, and as a chaos sweep of two points
TINY_ROW = [*TINY[:4], "grid.v_th_std=[0.1 mV]", "grid.g_std=[0.1, 0.3]"]
TINY_SWEEP = [*TINY[:4], "sweep.network.g_std=[0.1, 0.3]"]
#: point attributes that say how a point was run, not what it computed
HOW_RUN = {"compute_time_s", "simulation_time_s", "worker_pid"}
HAS_DASK = importlib.util.find_spec("distributed") is not None
needs_dask = pytest.mark.skipif(not HAS_DASK, reason="dask.distributed is not installed: "
                                "pip install 'snnsuite[cluster]'")


def sets(overrides):
    return [word for override in overrides for word in ("--set", str(override))]


@pytest.fixture(scope="module")
def cluster():
    """A dask LocalCluster on 127.0.0.1 whose two worker processes simulate on numpy."""
    from dask.distributed import Client, LocalCluster

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SNNSUITE_RUNTIME_TARGET", "numpy")  # inherited by the worker processes
        with LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as local:
            with Client(local) as client:
                local.worker_pids = set(client.run(os.getpid).values())
                assert client.run(os.environ.get, "SNNSUITE_RUNTIME_TARGET") \
                    == dict.fromkeys(client.nthreads(), "numpy")
                # the workers import Brian2 and the protocol while the test computes its
                # reference: the first points they get start at once
                warming = [client.submit(exec, "import protocols.heterogeneity_grid",
                                         workers=[worker], pure=False)
                           for worker in client.nthreads()]
                yield local
                del warming


def points(path: Path) -> dict:
    """``{point: (attrs, data)}`` of a result file."""
    result = load(path)
    return {name: (dict(point.attrs), {k: np.asarray(v) for k, v in point.data.items()})
            for name, point in result.points.items()}


def assert_same_points(found: dict, wanted: dict, *, how_run: bool = False) -> None:
    """The same points with the same data and measures (and, with ``how_run``, the same
    pids and times: nothing was computed again)."""
    assert sorted(found) == sorted(wanted)
    for name, (attrs, data) in wanted.items():
        assert sorted(found[name][1]) == sorted(data), name
        for key, values in data.items():
            np.testing.assert_array_equal(found[name][1][key], values, err_msg=f"{name}/{key}")
        keys = set(attrs) if how_run else set(attrs) - HOW_RUN
        assert keys <= set(found[name][0]), name
        for key in keys:
            assert str(found[name][0][key]) == str(attrs[key]), (name, key)


def root(path: Path) -> dict:
    """A result file's root attributes but the time it was last finalised (and the checksum
    that covers that time)."""
    with h5py.File(path, "r") as f:
        return {key: str(value) for key, value in f.attrs.items()
                if key not in ("finished", "checksum")}


def no_report(results_path, out_dir):
    """Stands in for a protocol's report (figures take seconds and are tested elsewhere)."""


@needs_dask
def test_a_grid_through_a_tcp_scheduler_gives_the_numbers_of_joblib_and_resumes(
        tmp_path, monkeypatch, capsys, numpy_target, cluster):
    """--scheduler tcp://127.0.0.1:PORT, stopped by the resource guard after the first point
    (exit 3) and resumed through the same scheduler, and joblib, same seed: every point's
    data and measures identical; the points not computed here ran on the cluster's workers,
    none twice; resuming the finished file computes nothing and leaves it as it was."""
    monkeypatch.setattr(heterogeneity_grid, "report", no_report)
    address = cluster.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    reference = tmp_path / "joblib"
    assert cli.main(["run", str(GRID_CONFIG), "--out", str(reference), *sets(TINY),
                     "--jobs", "1"]) == 0
    out = tmp_path / "dask"
    command = ["run", str(GRID_CONFIG), "--out", str(out), *sets(TINY), "--scheduler", address]
    monkeypatch.setenv("SNNSUITE_FAKE_TEMPERATURE", "60,90")  # hot before the second point
    capsys.readouterr()
    assert cli.main(command) == 3
    assert "(1 of 4 points finished)" in capsys.readouterr().err
    first = points(out / "results.h5")
    assert list(first) == ["v000_g000"]
    monkeypatch.delenv("SNNSUITE_FAKE_TEMPERATURE")
    assert cli.main([*command, "--resume"]) == 0
    assert "Traceback" not in capsys.readouterr().err

    wanted, found = points(reference / "results.h5"), points(out / "results.h5")
    assert_same_points(found, wanted)
    assert_same_points({"v000_g000": found["v000_g000"]}, first, how_run=True)  # not redone
    # each run computes its first point here (Brian2 sets up once), the rest on the cluster
    pids = {name: attrs["worker_pid"] for name, (attrs, _) in found.items()}
    assert pids["v000_g000"] == pids["v000_g001"] == os.getpid()
    assert {pids["v001_g000"], pids["v001_g001"]} <= cluster.worker_pids
    saved = (out / "config.yaml").read_text()
    assert "scheduler: dask" in saved and f"dask_address: {address}" in saved

    header = root(out / "results.h5")
    assert cli.main([*command, "--resume"]) == 0  # a finished file: nothing to compute
    assert_same_points(points(out / "results.h5"), found, how_run=True)
    assert root(out / "results.h5") == header


@contextlib.contextmanager
def recording_workers(calls, n_jobs, jobs, scheduler, address, *, key):
    """Stands in for :func:`protocols.sweep.workers`: records what the run asked for and
    computes the points in this process."""
    calls.append({"n_jobs": n_jobs, "jobs": jobs, "scheduler": scheduler, "address": address,
                  "key": key})
    yield guards.InlineExecutor(), 1


@needs_dask
def test_dask_local_reaches_the_runner_as_a_local_cluster_of_n_workers(tmp_path, monkeypatch,
                                                                       numpy_target):
    """--dask-local 2 on a grid of two points: the runner is asked for a dask cluster with
    no address (a local one) of 2 workers, --jobs 2; config.yaml keeps scheduler dask."""
    calls = []
    monkeypatch.setattr(sweep, "workers", lambda *a, **k: recording_workers(calls, *a, **k))
    monkeypatch.setattr(heterogeneity_grid, "report", no_report)
    out = tmp_path / "run"
    assert cli.main(["run", str(GRID_CONFIG), "--out", str(out), *sets(TINY_ROW),
                     "--max-cores", "2", "--dask-local", "2"]) == 0
    assert calls == [{"n_jobs": 2, "jobs": 2, "scheduler": "dask", "address": "",
                      "key": "grid.scheduler"}]
    assert len(load(out / "results.h5").points) == 2
    saved = (out / "config.yaml").read_text()
    assert "scheduler: dask" in saved and "dask_address: ''" in saved


@needs_dask
@pytest.mark.parametrize("config, overrides, flags, section, wanted", [
    (GRID_CONFIG, [], ["--dask-local", "3"], "grid", ("dask", "", 3)),
    (GRID_CONFIG, ["grid.scheduler=mpi", "grid.dask_address=tcp://old:1"],
     ["--scheduler", "tcp://[::1]:8786"], "grid", ("dask", "tcp://[::1]:8786", None)),
    (GRID_CONFIG, ["grid.dask_address=tcp://old:1"], ["--scheduler", "joblib", "--jobs", "2"],
     "grid", ("joblib", "tcp://old:1", 2)),
    (CHAOS_CONFIG, TINY_SWEEP, ["--scheduler", "tcp://node-7.cluster:8786"], "sweep",
     ("dask", "tcp://node-7.cluster:8786", None)),
    (CHAOS_CONFIG, TINY_SWEEP, ["--dask-local", "2", "--jobs", "2"], "sweep", ("dask", "", 2)),
], ids=["grid-dask-local", "grid-tcp-ipv6-over-set", "grid-joblib", "sweep-tcp",
        "sweep-dask-local-and-same-jobs"])
def test_the_flags_set_the_scheduler_keys_of_grids_and_sweeps(
        tmp_path, monkeypatch, config, overrides, flags, section, wanted):
    """--scheduler tcp://...: scheduler dask at that address; joblib, dask, mpi: the
    scheduler alone; --dask-local N: dask with no address and N workers (--jobs N); over a
    --set of the same keys; grid.* for a grid, sweep.* for a config with a sweep: section.
    Checked with --check (the memory estimate sees the config and the workers)."""
    seen = []

    def estimate(config, jobs=None):
        seen.append((config[section]["scheduler"], config[section]["dask_address"], jobs))
        return 0.0, "nothing"

    monkeypatch.setattr(heterogeneity_grid, "estimate_memory", estimate)
    monkeypatch.setattr(sweep.Sweep, "estimate_memory", lambda self, c, jobs=None: estimate(c, jobs))
    out = tmp_path / "run"
    assert cli.main(["run", str(config), "--out", str(out), *sets(overrides), *flags,
                     "--check"]) == 0
    assert seen == [wanted]
    assert not out.exists()


def one_line_error(capsys, code) -> str:
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


ACCEPTED = "heterogeneity_grid configs (grid.scheduler) and chaos or plasticity configs with a " \
           "sweep: section (sweep.scheduler)"


@pytest.mark.parametrize("config, flags, fragments", [
    (GRID_CONFIG, ["--scheduler", "127.0.0.1:8786"],
     ["--scheduler '127.0.0.1:8786': not a dask scheduler address; give tcp://HOST:PORT with a "
      "port from 1 to 65535", "or one of joblib, dask (a local cluster), mpi"]),
    (GRID_CONFIG, ["--scheduler", "tcp://127.0.0.1"], ["not a dask scheduler address"]),
    (GRID_CONFIG, ["--scheduler", "tcp://host:0"], ["port 0 is outside 1-65535"]),
    (GRID_CONFIG, ["--scheduler", "tcp://host:65536"], ["port 65536 is outside 1-65535"]),
    (GRID_CONFIG, ["--scheduler", "tls://host:8786"], ["not a dask scheduler address"]),
    (GRID_CONFIG, ["--scheduler", "Dask"], ["--scheduler 'Dask': not a dask scheduler"]),
    (GRID_CONFIG, ["--scheduler", "tcp://h:1\nx"], ["--scheduler 'tcp://h:1\\nx'"]),
    (GRID_CONFIG, ["--scheduler", "tcp://127.0.0.1:8786", "--dask-local", "2"],
     ["--scheduler and --dask-local both say who computes the points; give one"]),
    (GRID_CONFIG, ["--dask-local", "0"], ["--dask-local '0': expected the number of local dask "
                                          "worker processes, a positive integer"]),
    (GRID_CONFIG, ["--dask-local", "two"], ["--dask-local 'two': expected"]),
    (GRID_CONFIG, ["--dask-local", "2", "--jobs", "3"],
     ["--jobs 3 and --dask-local 2 disagree", "give one of them"]),
    (CHAOS_CONFIG, ["--scheduler", "tcp://127.0.0.1:8786"],
     [f"--scheduler: the chaos config {CHAOS_CONFIG} has no sweep: section", "add a sweep: "
      f"section or leave the option out (--scheduler is for {ACCEPTED})"]),
    (ROOT / "configs" / "homeostatic_training_quick.yaml", ["--dask-local", "2"],
     ["--dask-local: the homeostatic_training experiment runs in this process and has no "
      f"scheduler; leave the option out (--dask-local is for {ACCEPTED})"]),
    (ROOT / "configs" / "ei_rnn_quick.yaml", ["--scheduler", "dask"],
     ["--scheduler: the ei_rnn experiment runs in this process and has no scheduler"]),
], ids=["no-scheme", "no-port", "port-0", "port-65536", "tls", "unknown-name", "newline",
        "both", "dask-local-0", "dask-local-word", "jobs-disagree", "chaos-without-sweep",
        "homeostatic_training", "ei_rnn"])
def test_bad_scheduler_flags_are_one_line_errors(tmp_path, capsys, config, flags, fragments):
    """Exit 2 before anything is written, with one line: what is wrong, what would be right."""
    out = tmp_path / "run"
    err = one_line_error(capsys, cli.main(["run", str(config), "--out", str(out), *flags]))
    for fragment in fragments:
        assert fragment in err, err
    assert not out.exists()
