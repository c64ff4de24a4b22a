"""Selective plasticity: learning only while at least k neurons spiked in the last window.

The gate (protocols.plasticity.selective) is checked on a network whose
spikes are known in advance: presynaptic neurons fire on a fixed schedule,
so "fewer than k" and "at least k" are facts of the input, not of chance.
"""
from pathlib import Path

import numpy as np
import pytest

from analysis.results import load
from protocols import cli, plasticity
from protocols.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _gated_network(k: int):
    """10 sources; before 100 ms only sources 0-2 fire (every 5 ms), from 100 ms on sources
    0-5; the target fires 2 ms after each of their volleys.  Hebbian synapses from every
    source, gated by at least ``k`` active sources in the last 10 ms."""
    import brian2 as b2
    from brian2 import ms

    from models import plasticity as rules, synapses
    from protocols.plasticity import selective

    times = np.arange(1, 200, 5.0)
    idx, t = [], []
    for time in times:
        active = 3 if time < 100 else 6
        idx += list(range(active))
        t += [time] * active
    sources = b2.SpikeGeneratorGroup(10, np.array(idx), np.array(t) * ms, name="gate_sources")
    fire = np.zeros(2001)
    fire[np.round((times + 2) * 10).astype(int)] = 1            # steps of 0.1 ms
    post = b2.NeuronGroup(1, "I_syn : volt", threshold="fire(t) > 0.5", name="gate_post",
                          namespace={"fire": b2.TimedArray(fire, dt=0.1 * ms)})
    syn = synapses.build(sources, post, synapses.exponential() + rules.hebbian(eta=0.01),
                         i=np.arange(10), j=np.zeros(10, int), w=0.5, name="gate_syn")
    gate = selective.gate([syn], [sources], k=k, window=10 * ms, duration=200 * ms,
                          name="gate")
    return b2.Network(sources, post, syn, gate), syn, gate


@pytest.mark.usefixtures("numpy_target")
def test_no_weight_change_while_fewer_than_k_spiked_and_change_once_k_did():
    import brian2 as b2
    from brian2 import ms

    from models import devices

    with devices.backend("runtime") as device:
        b2.defaultclock.dt = 0.1 * ms
        net, syn, gate = _gated_network(k=5)
        weights = b2.StateMonitor(syn, "w", record=True, dt=1 * ms, name="gate_w")
        net.add(weights)
        device.run(net, 200 * ms)
        w = np.asarray(weights.w)
        t_ms = np.round(np.asarray(weights.t / ms)).astype(int)
    history = gate.history
    # 3 distinct sources spike in every 10 ms window before 100 ms: fewer than k = 5
    assert history[:100].max() == 0
    np.testing.assert_array_equal(w[:, t_ms <= 100], 0.5)           # nothing learned
    # from 100 ms on, 6 sources spike; the window sees them from 102 ms on
    assert history[110:].min() == 1
    assert np.abs(w[:6, -1] - 0.5).max() > 1e-3                       # the active ones learned
    np.testing.assert_array_equal(w[6:, -1], 0.5)                     # silent ones: no spike
    # the same network with k = 3 learns from the start
    with devices.backend("runtime") as device:
        b2.defaultclock.dt = 0.1 * ms
        net, syn, gate = _gated_network(k=3)
        device.run(net, 100 * ms)
        assert gate.history[10:100].min() == 1
        assert np.abs(np.asarray(syn.w[:3]) - 0.5).max() > 1e-3


def test_the_gate_counts_distinct_neurons_in_a_sliding_window():
    """Pure bookkeeping: one neuron spiking many times counts once."""
    import brian2 as b2
    from brian2 import ms

    from protocols.plasticity import selective

    group = b2.NeuronGroup(4, "v : 1", threshold="False", reset="", name="count_group")
    syn = b2.Synapses(group, group, "lr_mod : 1 (shared)", name="count_syn")
    gate = selective.gate([syn], [group], k=2, window=3 * ms, duration=10 * ms, name="count_gate")
    counts = {0: [0, 0, 0, 0], 1: [5, 0, 0, 0], 2: [9, 0, 0, 0], 3: [9, 1, 0, 0],
              4: [9, 1, 0, 0], 5: [9, 1, 0, 0], 6: [9, 1, 0, 0], 7: [9, 1, 0, 0]}

    class Counter:
        def __init__(self):
            self.now = 0

        @property
        def count(self):
            return np.array(counts[self.now])

    fake = Counter()
    gate.monitors = [fake]
    gate.synapses = []
    for now in range(8):
        fake.now = now
        gate._update()
    # at step s the window is [s - 3, s) ms: neuron 0 spiked in [0, 2), neuron 1 in [2, 3);
    # both are in the window at steps 3 and 4 only (neuron 0's many spikes count once)
    assert gate.history[:8].tolist() == [0, 0, 0, 1, 1, 0, 0, 0]


def _config(overrides=()):
    return load_config(CONFIGS / "plasticity_hebbian.yaml", plasticity.SCHEMA, list(overrides))


@pytest.mark.parametrize("overrides, key, words", [
    (["hebbian.selective_k=7"], "hebbian.selective_k", "allowed 0 to hebbian.n_units = 6"),
    (["hebbian.selective_k=101", "hebbian.selective_population=inputs"],
     "hebbian.selective_k", "hebbian.n_inputs = 100"),
    (["hebbian.selective_k=107", "hebbian.selective_population=all"], "hebbian.selective_k",
     "hebbian.n_inputs + hebbian.n_units = 106"),
    (["hebbian.selective_k=2", "hebbian.selective_window=2.5 ms"],
     "hebbian.selective_window", "whole number of milliseconds"),
    (["hebbian.selective_k=2", "hebbian.selective_window=31 s"], "hebbian.selective_window",
     "duration"),
    (["patterns.selective_k=11", "protocol.kind=patterns"], "patterns.selective_k",
     "patterns.n_units = 10"),
])
def test_bad_selective_settings_are_refused_naming_key_value_and_range(overrides, key, words):
    with pytest.raises(ConfigError) as info:
        plasticity.validate(_config(overrides))
    assert info.value.key == key and words in info.value.problem
    assert "got" in info.value.problem and "\n" not in str(info.value)


def test_an_unknown_population_names_the_allowed_ones(tmp_path, capsys):
    assert cli.main(["run", str(CONFIGS / "plasticity_hebbian.yaml"), "--out", str(tmp_path / "o"),
                     "--check", "--set", "hebbian.selective_population=everyone"]) == 2
    err = capsys.readouterr().err
    assert "hebbian.selective_population" in err and "'units', 'inputs', 'all'" in err


def test_standalone_back_ends_refuse_selective_plasticity_before_writing(tmp_path):
    cfg = _config(["hebbian.selective_k=2"])
    with pytest.raises(Exception) as info:
        plasticity.run(cfg, tmp_path / "o", backend="cpp")
    assert "hebbian.selective_k" in str(info.value) and "runtime" in str(info.value)
    assert not (tmp_path / "o").exists()


@pytest.mark.usefixtures("numpy_target")
def test_the_hebbian_experiment_learns_only_while_the_gate_is_open(tmp_path):
    """End to end, the same inputs and units: k = every input within 1 ms never opens the
    gate, and no weight moves although inputs and units spike; k = 1 within 10 ms learns.
    No decay, so any change is learning."""
    base = ["hebbian.duration=1 s", "hebbian.n_units=2", "hebbian.n_inputs=20",
            "hebbian.decay_rate=0 Hz", "protocol.dt=1 ms", "hebbian.selective_population=inputs"]
    out = tmp_path / "closed"
    plasticity.run(_config(base + ["hebbian.selective_k=20", "hebbian.selective_window=1 ms"]),
                   out)
    closed = load(out / "results.h5").point
    assert closed.attrs["learning_time_fraction"] == 0 and closed.attrs["unit_rate_hz"] > 1
    assert closed.data["coactivation"].sum() > 0          # pre and post did fire together
    assert np.all(closed.data["weight_change"] == 0)
    out = tmp_path / "open"
    path = plasticity.run(_config(base + ["hebbian.selective_k=1",
                                          "hebbian.selective_window=10 ms"]), out)
    opened = load(path).point
    assert 0.5 < opened.attrs["learning_time_fraction"] <= 1
    assert np.abs(opened.data["weight_change"]).max() > 1e-3
    plasticity.report(path, out)
    assert "learning was on for" in (out / "report.md").read_text()
