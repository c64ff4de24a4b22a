"""Memory and size checks made before a run builds anything."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

from protocols import chaos, cli, heterogeneity_grid, resources
from protocols.config import ConfigError, UsageError, load_config

ROOT = Path(__file__).resolve().parent.parent


def one_line(capsys, code, needle):
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err
    return err


def test_check_memory_refuses_with_the_estimate():
    resources.check_memory(1e6, "x", available=2e6)
    with pytest.raises(UsageError, match=r"needs about 1\.9 MiB of memory \(big\), more than "
                                         r"the 976\.6 KiB free"):
        resources.check_memory(2e6, "x", "big", available=1e6)


def test_a_network_too_big_for_the_machine_is_refused_before_building(tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = time.process_time()
    err = one_line(capsys, cli.main(["run", str(ROOT / "configs/chaos.yaml"), "--out", "x",
                                     "--set", "network.n_neurons=300000"]), "of memory")
    assert "GiB" in err and "40 x 300000 neurons" in err   # 20 trials: 2 x 20 replicas
    assert time.process_time() - started < 5
    assert not (tmp_path / "x").exists()


def test_the_memory_check_uses_the_free_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(resources, "available_memory", lambda: 100 * 2**20)
    one_line(capsys, cli.main(["run", str(ROOT / "configs/chaos_quick.yaml"), "--out", "x"]),
             "more than the 100.0 MiB free")
    assert not (tmp_path / "x").exists()


def test_a_grid_of_millions_of_points_is_refused_before_any_task(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(heterogeneity_grid, "_pending",
                        lambda *a: pytest.fail("tasks were made for a refused grid"))
    started = time.process_time()
    one_line(capsys, cli.main(["run", str(ROOT / "configs/heterogeneity_grid.yaml"), "--out", "x",
                               "--set", "grid.v_th_std={start: 0 mV, stop: 20 mV, num: 2000}",
                               "--set", "grid.g_std={start: 0, stop: 5, num: 2000}"]),
             "4000000 points")
    assert time.process_time() - started < 5


@pytest.mark.parametrize("override, key", [
    ('grid.v_th_std=["0.1 mV", "0.2 mV", "0.1 mV"]', "grid.v_th_std"),
    ("grid.g_std=[0.3, 0.3]", "grid.g_std"),
    ('grid.v_th_std=["0 mV", "1 mV"]', "grid.v_th_std"),     # v_reset is -56 mV below
])
def test_grid_axes_are_checked_for_every_point(override, key):
    overrides = [override, "network.v_reset=-56 mV"] if '"0 mV"' in override else [override]
    config = load_config(ROOT / "configs/heterogeneity_grid_quick.yaml", heterogeneity_grid.SCHEMA,
                         overrides)
    with pytest.raises(ConfigError) as info:
        heterogeneity_grid.validate(config)
    assert info.value.key == key


@pytest.mark.parametrize("overrides, key", [
    (["network.v_reset=-56 mV", "network.v_th_std=0 mV"], "network.v_th_std"),
    (["network.v_reset=-54.5 mV"], "network.v_reset"),
    (["protocol.fano_window=600 ms"], "protocol.fano_window"),
    (["protocol.bin=600 ms"], "protocol.bin"),
    (["protocol.baseline=0.01 ms"], "protocol.baseline"),
    (["protocol.observation=1e6 s"], "protocol.observation"),
    (["input.channels_on=true", "input.channel_interval=1e-9 ms"], "input.channel_interval"),
    (["protocol.n_perturbations=301"], "protocol.n_perturbations"),
])
def test_chaos_configs_that_cannot_run_are_refused_naming_the_key(overrides, key):
    config = load_config(ROOT / "configs/chaos_quick.yaml", chaos.SCHEMA, overrides)
    started = time.process_time()
    with pytest.raises(ConfigError) as info:
        chaos.validate(config)
    assert info.value.key == key and time.process_time() - started < 1


def test_the_issues_infinite_loop_is_refused_in_a_second(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = time.process_time()
    err = one_line(capsys, cli.main(["run", str(ROOT / "configs/chaos_quick.yaml"), "--out", "x",
                                     "--set", "network.v_reset=-56 mV",
                                     "--set", "network.v_th_std=0 mV"]), "network.v_th_std")
    assert "network.v_reset" in err
    assert time.process_time() - started < 5


def measured_peak(command) -> int:
    """Peak resident memory (bytes) of ``command``, measured by a fresh parent process
    whose only child it is (ru_maxrss is in KiB on Linux)."""
    measure = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", measure, *command], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1]) * 1024


def test_the_memory_estimate_bounds_a_real_run(tmp_path):
    """The chaos estimate is above the peak memory a real point uses, and within 4x of it."""
    config = ROOT / "configs/chaos_quick.yaml"
    sets = ["network.n_neurons=400", "protocol.n_perturbations=10", "protocol.observation=200 ms"]
    command = [sys.executable, "-m", "protocols.chaos", str(config), "--out", str(tmp_path / "x"),
               *[a for s in sets for a in ("--set", s)]]
    peak = measured_peak(command)
    estimate, _ = chaos.estimate_memory(load_config(config, chaos.SCHEMA, sets))
    assert peak < estimate < 4 * peak, (peak, estimate)


def test_an_ei_rnn_fit_too_big_for_the_machine_is_refused_before_any_data(tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = one_line(capsys, cli.main(["run", str(ROOT / "configs/ei_rnn_quick.yaml"), "--out", "x",
                                     "--set", "synthetic.trials_per_condition=1000000000"]),
                   "of memory")
    assert "3000000000 trials" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow  # a real fit of 200 neurons; the chaos estimate is checked in the fast suite
def test_the_ei_rnn_estimate_bounds_a_real_fit(tmp_path):
    """Above the measured peak of a small fit, and within 2x of it."""
    from protocols import ei_rnn

    config = ROOT / "configs/ei_rnn_quick.yaml"
    sets = ["synthetic.n_neurons=200", "synthetic.trials_per_condition=100", "trainer.max_epochs=1",
            "trainer.report_every=0"]
    command = [sys.executable, "-m", "protocols.ei_rnn", str(config), "--out", str(tmp_path / "x"),
               *[a for s in sets for a in ("--set", s)]]
    peak = measured_peak(command)
    estimate, _ = ei_rnn.estimate_memory(load_config(config, ei_rnn.SCHEMA, sets))
    assert peak < estimate < 2 * peak, (peak, estimate)
