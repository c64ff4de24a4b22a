"""Independent trials of the chaos protocol, the forced spike, and the study's model.

Each trial is a pair (control_k, perturbed_k) with its own initial state and
noise from trial k's seed streams (protocols.chaos, models.replicas).  These
tests run small networks on Brian2's numpy target (nothing compiled).
"""
import numpy as np
import pytest
from brian2 import mV, ms, second

from models import replicas, rng
from protocols import chaos
from protocols.config import ConfigError, load_config
from tests.conftest import CONFIGS

pytestmark = pytest.mark.usefixtures("numpy_target")


def config_of(*overrides, n=80, trials=3):
    return load_config(CONFIGS / "chaos_quick.yaml", chaos.SCHEMA,
                       [f"network.n_neurons={n}", f"protocol.n_perturbations={trials}",
                        "protocol.observation=100 ms", *overrides])


def same(a, b) -> bool:
    return np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_the_two_runs_of_a_pair_are_identical_without_a_perturbation():
    config = config_of("protocol.perturb=false")
    drawn = chaos.draw(config)
    spikes = chaos.simulate(config, drawn, chaos.perturbations_of(config, drawn))
    for k in range(3):
        control = spikes.of(int(drawn.layout.control[k]))
        assert control[0].size > 50
        assert same(control, spikes.of(int(drawn.layout.perturbed[k])))


def test_different_pairs_differ_from_the_start():
    config = config_of()
    drawn = chaos.draw(config)
    spikes = chaos.simulate(config, drawn, chaos.perturbations_of(config, drawn))
    baseline = [spikes.of(int(c)) for c in drawn.layout.control]
    baseline = [(i[t < 0.05], t[t < 0.05]) for i, t in baseline]   # before any forced spike
    assert baseline[0][0].size > 0
    for a in range(3):
        for b in range(a + 1, 3):
            assert not same(baseline[a], baseline[b])
    # and so do their initial states and noise
    r = drawn.realisations
    assert not np.array_equal(r[0].v0, r[1].v0)
    assert not np.array_equal(r[0].background[1][:100], r[1].background[1][:100])


def test_a_pair_is_identical_until_the_forced_spike_and_differs_after():
    config = config_of()
    drawn = chaos.draw(config)
    spikes = chaos.simulate(config, drawn, chaos.perturbations_of(config, drawn))
    t_p = float(drawn.perturbation_time / second)
    changed = 0
    for k in range(3):
        (ci, ct), (qi, qt) = (spikes.of(int(drawn.layout.control[k])),
                              spikes.of(int(drawn.layout.perturbed[k])))
        assert same((ci[ct < t_p], ct[ct < t_p]), (qi[qt < t_p], qt[qt < t_p]))
        # the forced spike is in the perturbed run's spikes, at the perturbation time
        at = np.isclose(qt, t_p, atol=1e-9)
        assert int(drawn.perturbed[k]) in qi[at]
        changed += not same((ci, ct), (qi, qt))
    assert changed == 3


def test_each_run_of_a_pair_equals_the_same_run_simulated_alone():
    config = config_of()
    drawn = chaos.draw(config)
    together = chaos.simulate(config, drawn, chaos.perturbations_of(config, drawn))
    k = 1
    for perturbed, replica in ((False, drawn.layout.control[k]), (True, drawn.layout.perturbed[k])):
        alone = chaos.simulate_single(config, trial=k, perturbed=perturbed, drawn=drawn)
        assert same(alone, together.of(int(replica)))


def test_initial_states_and_noise_are_reproducible_from_the_seed_per_trial():
    a, b = chaos.draw(config_of()), chaos.draw(config_of())
    more = chaos.draw(config_of(trials=5))     # trial k's streams do not depend on the others
    other_seed = chaos.draw(config_of("seed.session=2"))
    for k in range(3):
        for x in (b, more):
            assert np.array_equal(a.realisations[k].v0, x.realisations[k].v0)
            assert all(np.array_equal(p, q) for p, q in zip(a.realisations[k].background,
                                                            x.realisations[k].background))
        assert not np.array_equal(a.realisations[k].v0, other_seed.realisations[k].v0)
    # trial k is trial k + 1 of the seed streams (trial 0 belongs to a shared control)
    config = config_of()
    expected = rng.stream(config.seed.session, block=0, trial=2, purpose="initial_state").random(80)
    v_reset, v_rest = -0.080, -0.070
    assert np.allclose(a.realisations[1].v0, v_reset + expected * (v_rest - v_reset))


def test_shared_control_reads_one_realisation_and_has_one_control():
    config = config_of("protocol.trials=shared_control")
    drawn = chaos.draw(config)
    assert drawn.layout.n_replicas == 4 and len(drawn.realisations) == 1
    assert drawn.layout.control.tolist() == [0, 0, 0]
    spikes = chaos.simulate(config, drawn, [])
    assert all(same(spikes.of(0), spikes.of(r)) for r in range(1, 4))


def test_the_forced_spike_resets_the_neuron_and_makes_it_refractory():
    """The perturbed neuron goes to v_reset at the perturbation time and stays
    there for the refractory period, as after a spike of its own."""
    from models import devices

    config = config_of("input.background_rate=0 Hz", "input.bias=30 mV", trials=1)
    drawn = chaos.draw(config)
    neuron = int(drawn.perturbed[0])
    with devices.backend("runtime"):
        net, objects = replicas.build(
            drawn.structure, drawn.params, drawn.inputs, realisations=drawn.realisations,
            replica_realisation=[0, 0], weight_unit=drawn.weight_unit,
            threshold_unit=drawn.threshold_unit,
            perturbations=[replicas.Perturbation(1, neuron, 20 * ms)], dt=0.1 * ms, record_v=True)
        net.run(30 * ms)
        v = objects["v_monitor"].v[:] / mV
        t = objects["v_monitor"].t[:] / ms
    trace, control = v[80 + neuron], v[neuron]
    after = (t > 20.05) & (t < 21.95)      # the monitor records at the start of each step
    assert np.allclose(trace[after], -80.0)
    assert not np.allclose(control[after], -80.0)
    assert trace[np.argmin(np.abs(t - 22.2))] > -80.0     # refractory period over: it moves again
    # before the forced spike the pair is identical
    assert np.array_equal(trace[t <= 20.0], control[t <= 20.0])


def test_the_study_model_is_the_default():
    config = load_config(CONFIGS / "chaos.yaml", chaos.SCHEMA)
    net, inp, pr = config.network, config.input, config.protocol
    assert (net.tau_m, net.v_rest, net.v_reset, net.refractory) == (20 * ms, -70 * mV, -80 * mV,
                                                                     2 * ms)
    assert (net.v_th_mean, net.tau_syn, net.connection_prob) == (-55 * mV, 5 * ms, 0.1)
    assert inp.background_weight == 1.0 and inp.bias == 0 * mV and not inp.channels_on
    assert pr.trials == "independent" and pr.transient == 0 * ms
    drawn = chaos.draw(config_of())
    # a weight of 1 mV/ms is a jump of tau_m x 1 mV/ms = 20 mV of R*I in the suite's equations
    assert drawn.weight_unit == 20 * mV
    assert not np.any(drawn.structure.pre == drawn.structure.post)   # no autapses


def test_a_threshold_spread_without_a_unit_is_refused_and_says_so():
    with pytest.raises(ConfigError, match="without a unit"):
        config_of("network.v_th_std=0.2")


def test_the_transient_shifts_the_perturbation_and_is_not_measured():
    config = config_of("protocol.transient=30 ms")
    attrs, data = chaos.simulate_point(config)
    assert attrs["transient_s"] == pytest.approx(0.03)
    assert attrs["perturbation_time_s"] == pytest.approx(0.08)
    assert attrs["observation_s"] == pytest.approx(0.1)
    assert data["hamming_distance"].shape == (3, 100)


def test_a_point_records_both_kinds_of_measures_per_trial():
    attrs, data = chaos.simulate_point(config_of())
    for name in ("lz", "lz_phrases", "lz_entropy", "hamming_slope", "lz_study",
                 "hamming_slope_study"):
        assert data[name].shape == (3,) and np.all(np.isfinite(data[name])), name
    assert np.all(data["lz_study"] >= 1) and np.all(data["lz_phrases"] >= 1)
    assert attrs["lz_study_mean"] == pytest.approx(data["lz_study"].mean())
    assert attrs["v_th_std"] == pytest.approx(0.25) and attrs["g_std"] == 0.25
    assert attrs["n_controls"] == 3 and attrs["trials"] == "independent"


def test_a_trials_noise_and_initial_state_are_the_same_in_another_process():
    """Seeds do not depend on the process (the study's mixed in Python's salted
    string hash): a fresh interpreter with another hash seed draws the same trial."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("from protocols import chaos; from protocols.config import load_config; "
            "from tests.conftest import CONFIGS; import hashlib; "
            "c = load_config(CONFIGS / 'chaos_quick.yaml', chaos.SCHEMA, "
            "['network.n_neurons=80', 'protocol.n_perturbations=3']); d = chaos.draw(c); "
            "r = d.realisations[2]; "
            "print(hashlib.sha256(r.v0.tobytes() + r.background[0].tobytes() "
            "+ r.background[1].tobytes() + d.structure.weight.tobytes()).hexdigest())")
    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True)
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1
