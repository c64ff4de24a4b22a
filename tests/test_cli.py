"""Command line: list, run and report dispatch, exit codes and messages, with a fake protocol."""
import subprocess
import sys
import types
from pathlib import Path

import pytest

from protocols import cli
from protocols.config import Config, Field, UsageError, load_config

ROOT = Path(__file__).resolve().parent.parent
FAKE = "snnsuite_test_fake_protocol"

FAKE_CONFIG = """\
experiment: fake
network:
  n_neurons: 12
  tau_m: "10 ms"
"""


class FakeResultFileError(Exception):
    """Stands in for analysis.results.ResultFileError."""


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A protocol module 'fake' whose run and report record their arguments and write files."""
    module = types.ModuleType(FAKE, "Fake protocol for command-line tests.\n\nMore text.")
    module.SCHEMA = {"network": {"n_neurons": Field("int", 10, low=1),
                                 "tau_m": Field("quantity", "20 ms", unit="time")}}
    module.calls = []
    module.fail_with = None

    def run(config, out_dir, *, backend, jobs, resume):
        module.calls.append(("run", config, out_dir, backend, jobs, resume))
        if module.fail_with is not None:
            raise module.fail_with
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "results.h5"
        path.write_text(f"n_neurons={config.network.n_neurons}")
        return path

    def report(results_path, out_dir):
        module.calls.append(("report", Path(results_path), Path(out_dir)))
        (Path(out_dir) / "figures").mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "report.md").write_text("# fake\n")

    module.run, module.report = run, report
    monkeypatch.setitem(sys.modules, FAKE, module)
    monkeypatch.setattr(cli, "PROTOCOLS", {"fake": FAKE})
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "fake.yaml").write_text(FAKE_CONFIG)
    (tmp_path / "configs" / "fake_quick.yaml").write_text(FAKE_CONFIG)
    (tmp_path / "configs" / "other.yaml").write_text("experiment: plasticity\n")
    return module


@pytest.fixture
def fake_results_module(monkeypatch):
    """analysis.results stand-in: load() and load_or_rebuild() read the protocol name from
    the file's text."""
    module = types.ModuleType("analysis.results")
    module.ResultFileError = FakeResultFileError

    def load(path):
        text = Path(path).read_text()
        if not text.startswith("protocol="):
            raise FakeResultFileError(f"{path}: not a snnsuite result file")
        return types.SimpleNamespace(attrs={"protocol": text.split("=", 1)[1]})

    module.load = module.load_or_rebuild = load
    monkeypatch.setitem(sys.modules, "analysis.results", module)
    return module


def assert_user_error(capsys, code, *fragments):
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("snnsuite: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    return err


# ----------------------------------------------------------------------------- list
def test_list_shows_experiments_descriptions_and_configs(fake, capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "fake" in out and "Fake protocol for command-line tests." in out
    assert "More text" not in out
    assert "configs/fake.yaml" in out and "configs/fake_quick.yaml" in out
    assert "unknown experiment 'plasticity'" in out and "configs/other.yaml" in out


def test_list_finds_the_shipped_protocols_without_importing_them(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    for name in cli.PROTOCOLS.values():
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("chaos", "heterogeneity_grid"):
        assert name in out and f"configs/{name}_quick.yaml" in out
    assert "(module not found)" not in out


# ----------------------------------------------------------------------------- run
def test_run_calls_the_protocol_with_the_options(fake, capsys):
    code = cli.main(["run", "configs/fake.yaml", "--backend", "cpp", "--jobs", "3", "--resume"])
    assert code == 0
    (_, config, out_dir, backend, jobs, resume), report = fake.calls
    assert isinstance(config, Config) and config.experiment == "fake"
    assert config.network.n_neurons == 12 and config.source == "configs/fake.yaml"
    assert out_dir == Path("results") / "fake"
    assert (backend, jobs, resume) == ("cpp", 3, True)
    assert report == ("report", out_dir / "results.h5", out_dir)
    out = capsys.readouterr().out
    for shown in ("results/fake/results.h5", "results/fake/figures/", "results/fake/report.md"):
        assert shown in out


def test_run_defaults_and_writes_the_resolved_config(fake, tmp_path):
    assert cli.main(["run", "configs/fake.yaml", "--out", "elsewhere"]) == 0
    _, config, out_dir, backend, jobs, resume = fake.calls[0]
    assert out_dir == Path("elsewhere") and (backend, jobs, resume) == ("runtime", None, False)
    assert load_config(tmp_path / "elsewhere" / "config.yaml", fake.SCHEMA) == config


def test_set_reaches_the_config(fake):
    code = cli.main(["run", "configs/fake.yaml", "--set", "network.n_neurons=2000",
                     "--set", "network.tau_m=5 ms"])
    assert code == 0
    config = fake.calls[0][1]
    assert config.network.n_neurons == 2000
    assert float(config.network.tau_m) == 0.005


def test_bad_override_stops_before_running(fake, capsys):
    code = cli.main(["run", "configs/fake.yaml", "--set", "network.n_neuron=5"])
    assert_user_error(capsys, code, "--set: network.n_neuron: unknown key",
                      "did you mean 'n_neurons'?")
    assert fake.calls == []


def test_invalid_config_stops_before_running(fake, capsys):
    Path("configs/bad.yaml").write_text(FAKE_CONFIG.replace('"10 ms"', '"10"'))
    code = cli.main(["run", "configs/bad.yaml"])
    assert_user_error(capsys, code, "configs/bad.yaml: network.tau_m: got '10' "
                                    "(a number without a unit)")
    assert fake.calls == []


def test_missing_config_file_is_a_user_error(fake, capsys):
    assert_user_error(capsys, cli.main(["run", "configs/nope.yaml"]),
                      "config file not found: configs/nope.yaml")


def test_unknown_experiment_lists_the_known_ones(fake, capsys):
    code = cli.main(["run", "configs/other.yaml"])
    assert_user_error(capsys, code, "unknown experiment 'plasticity'", "known experiments: fake")


def test_usage_error_from_the_protocol_exits_2(fake, capsys):
    fake.fail_with = UsageError("results/fake/results.h5 exists; pass --resume")
    code = cli.main(["run", "configs/fake.yaml"])
    assert_user_error(capsys, code, "results.h5 exists; pass --resume")


def test_ctrl_c_suggests_resume(fake, capsys):
    fake.fail_with = KeyboardInterrupt()
    assert cli.main(["run", "configs/fake.yaml"]) == 130
    assert "interrupted; rerun with --resume to continue" in capsys.readouterr().err


def test_programming_errors_are_not_hidden(fake, capsys):
    """A failure inside a run: exit 1, one line naming the exception, the traceback kept
    in the run folder's error.log, the folder kept for --resume."""
    fake.fail_with = ZeroDivisionError("bug")
    assert cli.main(["run", "configs/fake.yaml"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "ZeroDivisionError: bug" in err and "--resume" in err
    log = Path("results/fake/error.log").read_text()
    assert "Traceback" in log and "ZeroDivisionError: bug" in log


@pytest.mark.parametrize("argv", [
    [], ["run"], ["run", "configs/fake.yaml", "--backend", "gpu"],
    ["run", "configs/fake.yaml", "--jobs", "0"], ["frobnicate"],
])
def test_argument_errors_exit_2(fake, capsys, argv):
    assert cli.main(argv) == 2
    assert "usage:" in capsys.readouterr().err
    assert fake.calls == []


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "run" in capsys.readouterr().out


# ----------------------------------------------------------------------------- report
def test_report_dispatches_on_the_file_protocol(fake, fake_results_module, tmp_path):
    path = tmp_path / "grid" / "results.h5"
    path.parent.mkdir()
    path.write_text("protocol=fake")
    assert cli.main(["report", str(path)]) == 0
    assert fake.calls == [("report", path, path.parent)]
    assert cli.main(["report", str(path), "--out", str(tmp_path / "again")]) == 0
    assert fake.calls[-1] == ("report", path, tmp_path / "again")


def test_report_errors_are_user_errors(fake, fake_results_module, tmp_path, capsys):
    assert_user_error(capsys, cli.main(["report", "missing.h5"]),
                      "result file not found: missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_text("junk")
    assert_user_error(capsys, cli.main(["report", str(junk)]), "not a snnsuite result file")
    unknown = tmp_path / "unknown.h5"
    unknown.write_text("protocol=plasticity")
    assert_user_error(capsys, cli.main(["report", str(unknown)]), "'plasticity'")
    assert fake.calls == []


# ----------------------------------------------------------------------------- python -m
def test_protocol_main_runs_its_own_experiment(fake):
    assert cli.protocol_main("fake", ["configs/fake.yaml", "--jobs", "2"]) == 0
    assert fake.calls[0][4] == 2


def test_protocol_main_rejects_another_experiment(fake, capsys):
    Path("configs/x.yaml").write_text("experiment: plasticity\n")
    code = cli.protocol_main("fake", ["configs/x.yaml"])
    assert_user_error(capsys, code, "got 'plasticity'; this command runs experiment 'fake'")
    assert fake.calls == []


def test_console_errors_have_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "protocols.cli", "run",
                           str(tmp_path / "missing.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("snnsuite: error: config file not found")
    assert "Traceback" not in done.stderr
