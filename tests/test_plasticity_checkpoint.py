"""Checkpoints and --resume of plasticity runs (protocols.plasticity.checkpoint).

A run interrupted after a checkpoint and resumed equals the uninterrupted run
bit for bit: every attribute and dataset of results.h5 but the compute time.
The interruption is the module's test aid (SNNSUITE_STOP_AFTER_CHECKPOINTS),
which stops the run as Ctrl+C does right after a checkpoint; the slow test
kills a real process with SIGKILL instead.
"""
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from analysis.results import load
from protocols import cli, plasticity
from protocols.config import ConfigError, load_config
from protocols.plasticity import checkpoint

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
# a small Hebbian run with selective plasticity, so the gate's own state is checkpointed too
SMALL = ["hebbian.duration=2 s", "hebbian.n_units=2", "hebbian.n_inputs=20", "protocol.dt=1 ms",
         "hebbian.selective_k=2", "hebbian.selective_population=inputs"]
EVERY = "protocol.checkpoint_every=500 ms"


def _run(out, *extra, config="plasticity_hebbian.yaml"):
    args = ["run", str(CONFIGS / config), "--out", str(out)]
    for item in extra:
        args += ["--set", item] if "=" in item else [item]
    return cli.main(args)


def assert_same_result(a: Path, b: Path) -> None:
    """Every point, attribute and dataset equal (NaN equal to NaN), the compute time aside."""
    ra, rb = load(a), load(b)
    assert sorted(ra.points) == sorted(rb.points)
    for name, p in ra.points.items():
        q = rb.points[name]
        assert set(p.attrs) == set(q.attrs) and set(p.data) == set(q.data)
        for key, value in p.attrs.items():
            if key != "compute_time_s":
                assert np.array_equal(value, q.attrs[key], equal_nan=isinstance(value, float)), key
        for key, value in p.data.items():
            np.testing.assert_array_equal(value, q.data[key], err_msg=key)


@pytest.mark.usefixtures("numpy_target")
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, capsys):
    straight, segmented, cut = tmp_path / "straight", tmp_path / "segmented", tmp_path / "cut"
    for out, extra in ((straight, []), (segmented, [EVERY])):   # no report: only the numbers
        plasticity.run(load_config(CONFIGS / "plasticity_hebbian.yaml", plasticity.SCHEMA,
                                   SMALL + extra), out)         # segments change nothing
    assert_same_result(straight / "results.h5", segmented / "results.h5")
    assert not (segmented / "checkpoints").exists()            # removed once the result is in
    monkeypatch.setenv(checkpoint.STOP_VARIABLE, "2")
    assert _run(cut, *SMALL, EVERY) == 130                      # stopped after 2 checkpoints
    monkeypatch.delenv(checkpoint.STOP_VARIABLE)
    saved = cut / checkpoint.CHECKPOINT_NAME
    header, state = checkpoint.load(saved)
    assert header["t_s"] == pytest.approx(1.0) and header["n_checkpoints"] == 2
    assert not load(cut / "results.h5").points
    capsys.readouterr()
    assert _run(cut, *SMALL, EVERY) == 2                        # never overwritten silently
    assert "pass --resume" in capsys.readouterr().err
    assert _run(cut, *SMALL, EVERY, "--resume") == 0
    assert "resuming from the checkpoint at t = 1 s" in capsys.readouterr().out
    assert_same_result(straight / "results.h5", cut / "results.h5")
    assert not saved.exists()
    assert (cut / "figures" / "hebbian_weights.png").exists()


@pytest.mark.usefixtures("numpy_target")
def test_a_damaged_or_foreign_checkpoint_is_refused_and_kept(tmp_path, monkeypatch, capsys):
    cut = tmp_path / "cut"
    monkeypatch.setenv(checkpoint.STOP_VARIABLE, "1")
    assert _run(cut, *SMALL, EVERY) == 130
    monkeypatch.delenv(checkpoint.STOP_VARIABLE)
    saved = cut / checkpoint.CHECKPOINT_NAME
    capsys.readouterr()
    # another config: refused before anything is written, naming the difference
    assert _run(cut, *SMALL, EVERY, "hebbian.eta=0.003", "--resume") == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "eta" in err and len(err.strip().splitlines()) == 1
    # a changed byte in the middle of the file: its checksum no longer matches
    original = saved.read_bytes()
    import h5py

    with h5py.File(saved, "a") as f:
        f.attrs["t_s"] = 1.5
    assert _run(cut, *SMALL, EVERY, "--resume") == 2
    err = capsys.readouterr().err
    assert "damaged checkpoint" in err and str(saved) in err and "checksum" in err
    # a truncated file
    saved.write_bytes(original[: len(original) // 2])
    assert _run(cut, *SMALL, EVERY, "--resume") == 2
    err = capsys.readouterr().err
    assert "damaged checkpoint" in err and "does not read cleanly" in err
    assert saved.read_bytes() == original[: len(original) // 2]     # left as it was


@pytest.mark.usefixtures("numpy_target")
def test_a_checkpoint_from_another_code_target_is_refused(tmp_path, monkeypatch):
    cut = tmp_path / "cut"
    monkeypatch.setenv(checkpoint.STOP_VARIABLE, "1")
    assert _run(cut, *SMALL, EVERY) == 130
    monkeypatch.delenv(checkpoint.STOP_VARIABLE)
    cfg = load_config(CONFIGS / "plasticity_hebbian.yaml", plasticity.SCHEMA, SMALL + [EVERY])
    header, state = checkpoint.load(cut / checkpoint.CHECKPOINT_NAME)
    assert header["target"] == "numpy"
    current = plasticity._checkpoint_header(cfg, "runtime", "cython")
    with pytest.raises(checkpoint.CheckpointError, match="same back-end"):
        plasticity._check_checkpoint(header, current, "x")


@pytest.mark.parametrize("value, words", [
    ("2.5 ms", "whole number of milliseconds"),
    ("0.5 ms", "whole number of milliseconds"),
])
def test_bad_checkpoint_intervals_are_refused(value, words):
    cfg = load_config(CONFIGS / "plasticity_hebbian.yaml", plasticity.SCHEMA,
                      SMALL + [f"protocol.checkpoint_every={value}"])
    with pytest.raises(ConfigError) as info:
        plasticity.validate(cfg)
    assert info.value.key == "protocol.checkpoint_every" and words in info.value.problem


def test_the_random_buffer_is_saved_by_content_and_restored_into_new_memory():
    """Brian2's Cython code draws from a C buffer the device points to; a checkpoint keeps
    the numbers not used yet, since the address means nothing in another process."""
    import brian2 as b2

    device = b2.get_device()
    size = checkpoint._buffer_size()
    libc = checkpoint._libc()
    before = (int(device.rand_buffer[0]), int(device.rand_buffer_index[0]))
    address = libc.malloc(8 * size)
    values = np.random.default_rng(0).random(size)
    ctypes.memmove(address, values.ctypes.data, values.nbytes)
    try:
        device.rand_buffer[0], device.rand_buffer_index[0] = address, 123
        state = checkpoint.random_state()
        assert state["rand"]["position"] == 123
        np.testing.assert_array_equal(state["rand"]["values"], values)
        checkpoint.set_random_state(state)                      # frees the old buffer
        restored = int(device.rand_buffer[0])
        assert restored and int(device.rand_buffer_index[0]) == 123
        copy = np.ctypeslib.as_array((ctypes.c_double * size).from_address(restored))
        np.testing.assert_array_equal(copy, values)
    finally:
        libc.free(int(device.rand_buffer[0]))
        device.rand_buffer[0], device.rand_buffer_index[0] = before


def test_nested_state_round_trips_through_the_file_with_its_types(tmp_path):
    import h5py

    state = {"a": (np.arange(3, dtype=np.int32), 3), "queue": (5, [[1, 2], [], [3]]),
             "none": None, "flags": [True, 2, 2.5, "x"], "scalar": np.float64(1.5),
             "nested": {"b": np.zeros((2, 2))}, "empty": []}
    hasher = checkpoint._Hasher()
    with h5py.File(tmp_path / "s.h5", "w") as f:
        checkpoint._put(f, "state", state, hasher, "state")
    again = checkpoint._Hasher()
    with h5py.File(tmp_path / "s.h5", "r") as f:
        back = checkpoint._get(f["state"], again, "state")
    assert again.hexdigest() == hasher.hexdigest()
    assert back["queue"] == (5, [[1, 2], [], [3]]) and back["none"] is None
    assert back["flags"] == [True, 2, 2.5, "x"] and type(back["flags"][1]) is int
    assert back["a"][0].dtype == np.int32 and back["a"][1] == 3 and back["empty"] == []
    np.testing.assert_array_equal(back["nested"]["b"], np.zeros((2, 2)))


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_uninterrupted_result_on_cython(tmp_path):
    """SIGKILL after the first checkpoint, then --resume in a new process (Cython target:
    the random buffer's contents carry over)."""
    env = {**os.environ, "SNNSUITE_RUNTIME_TARGET": "cython"}
    small = ["hebbian.duration=6 s", "hebbian.n_units=3", "protocol.checkpoint_every=1.5 s"]
    sets = [x for item in small for x in ("--set", item)]
    command = [sys.executable, "-m", "protocols.plasticity",
               str(CONFIGS / "plasticity_hebbian.yaml"), *sets]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(command + ["--out", str(straight)], env=env, check=True, cwd=ROOT,
                   capture_output=True)
    process = subprocess.Popen(command + ["--out", str(killed)], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    saved = killed / checkpoint.CHECKPOINT_NAME
    deadline = time.time() + 600
    while not saved.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert saved.exists()
    resumed = subprocess.run(command + ["--out", str(killed), "--resume"], env=env, cwd=ROOT,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_result(straight / "results.h5", killed / "results.h5")


TINY = {  # every sub-experiment small enough for a second, and where its checkpoint falls
    "stp": (["stp.rates_hz=[20, 40]", "stp.duration=0.2 s"], "100 ms"),
    "bcm": (["bcm.duration=0.4 s", "bcm.period=50 ms", "bcm.window=100 ms", "bcm.n_units=2",
             "bcm.n_inputs=10"], "150 ms"),
    "homeostasis": (["homeostasis.n_exc=20", "homeostasis.n_inh=5", "homeostasis.n_input=20",
                     "homeostasis.k_input=5", "homeostasis.k_ee=3", "homeostasis.k_ei=3",
                     "homeostasis.k_ie=3", "homeostasis.duration=0.3 s", "homeostasis.bin=50 ms",
                     "homeostasis.weight_sample=50 ms", "homeostasis.initial_window=50 ms",
                     "homeostasis.final_window=100 ms", "homeostasis.scales=[0.8, 1.2]"],
                    "100 ms"),
    "combined": (["combined.n_exc=20", "combined.n_inh=5", "combined.k_ee=3", "combined.k_ei=3",
                  "combined.k_ie=3", "combined.duration=0.3 s", "combined.bin=50 ms",
                  "combined.weight_sample=50 ms", "combined.final_window=100 ms"], "100 ms"),
    "strategies": (["strategies.duration=0.3 s", "strategies.period_on=50 ms",
                    "strategies.epoch=50 ms", "strategies.n_units=2", "strategies.n_inputs=8",
                    "strategies.show=20 ms", "strategies.gap=10 ms"], "100 ms"),
    "patterns": (["patterns.epochs=2", "patterns.test_repeats=1", "patterns.show=20 ms",
                  "patterns.test_show=30 ms", "patterns.gap=10 ms", "patterns.n_units=3",
                  "patterns.selective_k=1"], "150 ms"),
    "curriculum": (["curriculum.epochs_per_phase=1", "curriculum.show=30 ms",
                    "curriculum.gap=10 ms", "curriculum.n_units=2", "curriculum.size=5"],
                   "60 ms"),
}


#: the recurrent LIF networks and the five-copy one take 4-8 s here: slow
SLOW_KINDS = ("combined", "homeostasis", "strategies")


@pytest.mark.usefixtures("numpy_target")
@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.slow) if k in SLOW_KINDS
                                  else k for k in sorted(TINY)])
def test_every_sub_experiment_resumes_to_its_uninterrupted_result(kind, tmp_path, monkeypatch):
    overrides, every = TINY[kind]

    def config(*extra):
        return load_config(CONFIGS / f"plasticity_{kind}.yaml", plasticity.SCHEMA,
                           ["protocol.dt=1 ms", *overrides, *extra])

    plasticity.run(config(), tmp_path / "straight")
    monkeypatch.setenv(checkpoint.STOP_VARIABLE, "1")
    with pytest.raises(KeyboardInterrupt):
        plasticity.run(config(f"protocol.checkpoint_every={every}"), tmp_path / "cut")
    monkeypatch.delenv(checkpoint.STOP_VARIABLE)
    assert (tmp_path / "cut" / checkpoint.CHECKPOINT_NAME).exists()
    plasticity.run(config(f"protocol.checkpoint_every={every}"), tmp_path / "cut", resume=True)
    assert_same_result(tmp_path / "straight" / "results.h5", tmp_path / "cut" / "results.h5")
