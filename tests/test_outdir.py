"""Output folders: a run writes only into a new or empty folder, or one it wrote itself.

Every protocol that writes results is tried against folders it must not touch;
each refusal is exit 2 with one line, and the folder is byte-for-byte unchanged.
"""
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from protocols import cli, outdir
from protocols.config import UsageError

ROOT = Path(__file__).resolve().parent.parent
from conftest import QUICK_CONFIGS as CONFIGS  # noqa: E402  (one small config per protocol)
TINY_GRID = ["--set", "network.n_neurons=30", "--set", "protocol.n_perturbations=2",
             "--set", "protocol.observation=40 ms", "--set", "protocol.fano_window=20 ms",
             "--set", "grid.v_th_std=[0.2 mV]", "--set", "grid.g_std=[0.1, 0.3]", "--jobs", "1"]


def snapshot(folder: Path) -> dict:
    """Every file below ``folder``: its content hash and modification time."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = (hashlib.sha256(path.read_bytes()).hexdigest(),
                                                   path.stat().st_mtime_ns)
    return out


def one_line_error(capsys, code, *needles):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working folder with a copy of the configs (the user's files)."""
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ----------------------------------------------------------------------------- the rule itself
def test_new_and_empty_folders_are_claimed_with_a_marker_first(tmp_path):
    new = outdir.claim(tmp_path / "a" / "b", "chaos")
    assert json.loads((new / outdir.MARKER).read_text())["experiment"] == "chaos"
    (tmp_path / "empty").mkdir()
    outdir.claim(tmp_path / "empty", "plasticity")
    assert outdir.owner(tmp_path / "empty") == "plasticity"
    assert outdir.claim(tmp_path / "empty", "plasticity") == tmp_path / "empty"  # its own


def test_dry_run_writes_nothing(tmp_path):
    outdir.claim(tmp_path / "new", "chaos", dry_run=True)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("setup, needle", [
    (lambda d: (d / "notes.txt").write_text("mine"), "not empty (notes.txt)"),
    (lambda d: outdir.claim(d, "ei_rnn"), "holds a 'ei_rnn' run"),
    (lambda d: (d / outdir.MARKER).write_text("{broken"), "unreadable run marker"),
    (lambda d: (d / outdir.MARKER).write_text('{"suite": "other"}'), "not a snnsuite run marker"),
])
def test_folders_of_others_are_refused_untouched(tmp_path, setup, needle):
    folder = tmp_path / "x"
    folder.mkdir()
    setup(folder)
    before = snapshot(folder)
    with pytest.raises(UsageError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        outdir.claim(folder, "chaos")
    assert snapshot(folder) == before


def test_a_file_and_the_current_folder_are_refused(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        outdir.claim(tmp_path / "f", "chaos")
    monkeypatch.chdir(tmp_path)
    for text in ("", "."):
        with pytest.raises(UsageError, match="current folder"):
            outdir.claim(Path(text), "chaos")
    with pytest.raises(UsageError, match="empty"):
        outdir.check_text("  ")


def test_an_old_runs_folder_is_adopted_only_for_its_own_experiment(tmp_path):
    from analysis.results import ResultWriter

    ResultWriter(tmp_path / "old", "chaos", "seed: 1\n", seed=1, versions={}).finalize()
    with pytest.raises(UsageError, match="holds a 'chaos' run"):
        outdir.claim(tmp_path / "old", "plasticity")
    outdir.claim(tmp_path / "old", "chaos")
    assert outdir.owner(tmp_path / "old") == "chaos"


# ----------------------------------------------------------------------------- every protocol, CLI
@pytest.mark.parametrize("experiment", sorted(CONFIGS))
def test_every_protocol_refuses_folders_it_did_not_write(workdir, capsys, experiment):
    config = f"configs/{CONFIGS[experiment]}"
    other = "chaos" if experiment != "chaos" else "plasticity"
    foreign = workdir / "foreign"
    outdir.claim(foreign, other)
    (foreign / "results.h5").write_bytes(b"another run's result")
    (foreign / "report.md").write_text("# another run\n")
    user = workdir / "mine"
    user.mkdir()
    (user / "config.yaml").write_text("my notes")
    (user / "report.md").write_text("my report")
    (workdir / "a_file").write_text("data")
    before = snapshot(workdir)
    cases = [(["--out", str(foreign)], f"holds a '{other}' run"),
             (["--out", str(user)], "not empty"),
             (["--out", ""], "--out: empty"),
             (["--out", "configs"], "not empty"),
             (["--out", "a_file"], "is a file")]
    for extra, needle in cases:
        one_line_error(capsys, cli.main(["run", config, *extra]), needle)
        assert snapshot(workdir) == before, extra
    assert not (workdir / "results").exists()


def test_check_runs_every_check_and_writes_nothing(workdir, capsys):
    assert cli.main(["run", "configs/chaos_quick.yaml", "--out", "new", "--check"]) == 0
    assert "nothing was run or written" in capsys.readouterr().out
    assert not (workdir / "new").exists()
    (workdir / "mine").mkdir()
    (workdir / "mine" / "x").write_text("x")
    one_line_error(capsys, cli.main(["run", "configs/chaos_quick.yaml", "--out", "mine",
                                     "--check"]), "not empty")


def test_a_grid_folder_survives_an_ei_rnn_and_a_chaos_run(workdir, capsys):
    """The issue's reproduction: grid into X, then other experiments into X."""
    assert cli.main(["run", "configs/heterogeneity_grid_quick.yaml", "--out", "X", *TINY_GRID]) == 0
    capsys.readouterr()
    before = snapshot(workdir / "X")
    assert {"results.h5", "report.md", "config.yaml"} <= set(before)
    assert any(name.startswith("points/") for name in before)
    one_line_error(capsys, cli.main(["run", "configs/ei_rnn_quick.yaml", "--out", "X"]),
                   "holds a 'heterogeneity_grid' run, not a 'ei_rnn' one")
    one_line_error(capsys, cli.main(["run", "configs/chaos_quick.yaml", "--out", "X"]),
                   "holds a 'heterogeneity_grid' run")
    # its own config.yaml, changed, given back as input: refused, the file kept
    one_line_error(capsys, cli.main(["run", "X/config.yaml", "--out", "X", "--resume",
                                     "--set", "network.n_neurons=31"]),
                   "is the config.yaml this run would write")
    assert snapshot(workdir / "X") == before
    # the same experiment: a rerun needs --resume, which finds every point done
    one_line_error(capsys, cli.main(["run", "configs/heterogeneity_grid_quick.yaml", "--out", "X",
                                     *TINY_GRID]), "pass --resume")
    assert cli.main(["run", "configs/heterogeneity_grid_quick.yaml", "--out", "X", "--resume",
                     *TINY_GRID]) == 0
    after = snapshot(workdir / "X")
    assert {k: v for k, v in after.items() if k.startswith("points/")} == \
        {k: v for k, v in before.items() if k.startswith("points/")}


def test_report_into_a_folder_of_others_is_refused(workdir, capsys):
    from analysis.results import ResultWriter

    path = ResultWriter(workdir / "run", "chaos", "seed: 1\n", seed=1, versions={}).finalize()
    (workdir / "mine").mkdir()
    (workdir / "mine" / "report.md").write_text("my report")
    before = snapshot(workdir / "mine")
    one_line_error(capsys, cli.main(["report", str(path), "--out", "mine"]), "not empty")
    assert snapshot(workdir / "mine") == before


# ----------------------------------------------------------------------------- environment
def test_a_full_disk_is_one_line_and_exit_2(workdir, capsys, monkeypatch):
    import errno

    from protocols import chaos

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "X/points/p0000.h5")

    monkeypatch.setattr(chaos, "run", full)
    err = one_line_error(capsys, cli.main(["run", "configs/chaos_quick.yaml", "--out", "X"]),
                         "No space left on device", "--resume")
    assert "X/points/p0000.h5" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_line_and_exit_2(workdir, capsys):
    (workdir / "ro").mkdir()
    (workdir / "ro").chmod(0o555)
    try:
        one_line_error(capsys, cli.main(["run", "configs/chaos_quick.yaml", "--out", "ro/x"]),
                       "permission denied")
    finally:
        (workdir / "ro").chmod(0o755)


def test_sigterm_stops_a_grid_and_its_workers_and_resume_finishes(workdir):
    """SIGTERM to the parent: exit 143, no worker left, no Brian2 temp files, and
    --resume completes the grid from the points already written."""
    import signal
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    tmp = workdir / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    grid = ["--set", "network.n_neurons=20", "--set", "protocol.n_perturbations=2",
            "--set", "protocol.observation=20 ms", "--set", "protocol.fano_window=10 ms",
            "--set", "grid.v_th_std=[0.1 mV, 0.2 mV, 0.3 mV]", "--set", "grid.g_std=[0.1, 0.2]"]
    command = [sys.executable, "-m", "protocols.heterogeneity_grid",
               "configs/heterogeneity_grid_quick.yaml", "--out", "X", "--jobs", "2", *grid]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(process.pid)
    deadline = time.time() + 240
    workers = []
    while time.time() < deadline and process.poll() is None:
        workers = parent.children(recursive=True)
        if len(workers) >= 2 and (workdir / "X" / "points").is_dir():
            break
        time.sleep(0.2)
    assert process.poll() is None, process.stderr.read()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    err = process.stderr.read()
    assert code == 143, err
    assert "terminated" in err and "Traceback" not in err
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, f"workers still running: {alive}"
    assert not list(tmp.glob("brian_debug_*")) and not list(tmp.glob("brian_script_*"))
    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    from analysis.results import load

    assert len(load(workdir / "X" / "results.h5").points) == 6


def test_a_run_that_failed_before_its_first_point_can_be_rerun(workdir, capsys, monkeypatch):
    """A failure inside Brian2: exit 1, one line, traceback in error.log, and the folder
    (an empty results.h5, config.yaml) neither blocks a corrected rerun nor --resume."""
    from protocols import chaos

    real = chaos.simulate_point

    def broken(*args, **kwargs):
        raise RuntimeError("Brian2 failed somewhere deep")

    monkeypatch.setattr(chaos, "simulate_point", broken)
    tiny = ["--set", "network.n_neurons=30", "--set", "protocol.n_perturbations=2",
            "--set", "protocol.observation=40 ms", "--set", "protocol.fano_window=20 ms"]
    assert cli.main(["run", "configs/chaos_quick.yaml", "--out", "X", *tiny]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "RuntimeError: Brian2 failed somewhere deep" in err and "error.log" in err
    assert "Traceback" in (workdir / "X" / "error.log").read_text()
    assert (workdir / "X" / "config.yaml").is_file()   # written first: the run can be resumed
    monkeypatch.setattr(chaos, "simulate_point", real)
    # a corrected config, without --resume: nothing was finished, so it starts again
    assert cli.main(["run", "configs/chaos_quick.yaml", "--out", "X", *tiny,
                     "--set", "seed.session=7"]) == 0, capsys.readouterr().err
    from analysis.results import load

    assert load(workdir / "X" / "results.h5").seed == 7
    # the same failure, then --resume with the saved config
    monkeypatch.setattr(chaos, "simulate_point", broken)
    assert cli.main(["run", "configs/chaos_quick.yaml", "--out", "Y", *tiny]) == 1
    monkeypatch.setattr(chaos, "simulate_point", real)
    capsys.readouterr()
    assert cli.main(["run", "Y/config.yaml", "--out", "Y", "--resume"]) == 0, \
        capsys.readouterr().err
    assert len(load(workdir / "Y" / "results.h5").points) == 1


def test_a_folder_that_cannot_be_created_is_one_line_and_exit_2(workdir, capsys, monkeypatch):
    """What a read-only parent gives (simulated: root may write anywhere)."""
    import errno

    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    one_line_error(capsys, cli.main(["run", "configs/chaos_quick.yaml", "--out", "ro/x"]),
                   "ro/x: cannot write the output folder (permission denied)")
    assert not (workdir / "ro").exists()
