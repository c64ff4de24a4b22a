"""Models: seeds, structure, the LIF neuron against theory, replicas, back-ends."""
import brian2 as b2
import numpy as np
import pytest
from brian2 import Hz, mV, ms, second

from models import devices, lif, replicas, rng, structure


# ----------------------------------------------------------------------------- seeds
def test_streams_are_addressed_not_sequential():
    a = rng.stream(5, block=2, trial=3, purpose="noise").random(4)
    rng.stream(5, block=1, purpose="structure").random(1000)  # drawing elsewhere changes nothing
    b = rng.stream(5, block=2, trial=3, purpose="noise").random(4)
    assert np.array_equal(a, b)


def test_streams_differ_across_session_block_trial_and_purpose():
    base = rng.stream(5, block=2, trial=3, purpose="noise").random(8)
    for other in (rng.stream(6, 2, 3, "noise"), rng.stream(5, 1, 3, "noise"),
                  rng.stream(5, 2, 4, "noise"), rng.stream(5, 2, 3, "input"),
                  rng.stream(5, 2, None, "noise")):
        assert not np.array_equal(base, other.random(8))


def test_unknown_purpose_and_negative_seed_are_rejected():
    with pytest.raises(ValueError, match="purpose"):
        rng.stream(1, purpose="weights")
    with pytest.raises(ValueError, match="session"):
        rng.stream(-1)


# ----------------------------------------------------------------------------- structure
def test_bernoulli_connectivity_has_expected_count_and_no_autapses():
    n, p = 400, 0.1
    pre, post = structure.recurrent_connections(n, p, np.random.default_rng(3))
    expected = p * n * (n - 1)
    assert abs(pre.size - expected) < 4 * np.sqrt(expected * (1 - p))
    assert not np.any(pre == post)
    assert len(set(zip(pre.tolist(), post.tolist()))) == pre.size  # no duplicates


def test_fixed_indegree_gives_every_neuron_the_same_number_of_inputs():
    pre, post = structure.recurrent_connections(300, 0.1, np.random.default_rng(0), fixed_indegree=True)
    assert set(np.bincount(post, minlength=300)) == {30}
    assert not np.any(pre == post)


def test_channels_overlap_about_connectivity_squared():
    targets = structure.channel_targets(2000, 20, 0.3, np.random.default_rng(1))
    overlaps = [np.intersect1d(targets[a], targets[b]).size / 2000
                for a in range(20) for b in range(a + 1, 20)]
    assert all(t.size == 600 for t in targets)
    assert np.mean(overlaps) == pytest.approx(0.09, abs=0.005)


def test_thresholds_are_truncated_above_the_reset_gap():
    x = structure.truncated_normal(np.random.default_rng(2), 1.0, 10_000, low=-0.9)
    assert x.min() > -0.9
    assert x.std() < 1.0  # truncation narrows the spread


# ----------------------------------------------------------------------------- LIF vs theory
def _single_neuron(params, duration, *, spike_at=None, w=0 * mV):
    b2.start_scope()
    with devices.backend("runtime") as device:
        group = lif.neuron_group(1, params, dt=0.1 * ms)
        group.v = params.v_rest
        group.v_th = 0 * mV  # never reached
        objects = [group, b2.StateMonitor(group, "v", record=0, name="vm")]
        if spike_at is not None:
            gen = b2.SpikeGeneratorGroup(1, [0], [spike_at])
            syn = b2.Synapses(gen, group, lif.SYNAPSE_MODEL, on_pre=lif.ON_PRE, namespace={})
            syn.connect()
            syn.w = w
            objects += [gen, syn]
        net = b2.Network(*objects)
        device.run(net, duration)
        return np.asarray(objects[1].v[0] / mV)


def test_psp_peak_matches_the_analytic_alpha_difference():
    params = lif.LIFParams()
    v = _single_neuron(params, 100 * ms, spike_at=5 * ms, w=10 * mV)
    peak = v.max() - float(params.v_rest / mV)
    assert peak == pytest.approx(10 * lif.psp_peak_factor(params.tau_m, params.tau_syn), rel=0.01)


def test_constant_bias_settles_at_rest_plus_bias():
    params = lif.LIFParams(I_bias=7 * mV)
    v = _single_neuron(params, 200 * ms)
    assert v[-1] == pytest.approx(-65 + 7, abs=1e-3)


def test_regular_firing_rate_matches_the_lif_interval_formula():
    # T = t_ref + tau_m ln((mu - v_reset) / (mu - v_th)), mu = v_rest + I_bias
    params = lif.LIFParams(I_bias=15 * mV)
    b2.start_scope()
    with devices.backend("runtime") as device:
        group = lif.neuron_group(1, params, dt=0.01 * ms)
        group.v = params.v_reset
        group.v_th = params.v_th_mean
        mon = b2.SpikeMonitor(group)
        device.run(b2.Network(group, mon), 1 * second)
        times = np.asarray(mon.t / ms)
    mu = -65 + 15
    expected = 2 + 20 * np.log((mu + 65) / (mu + 55))
    assert np.diff(times).mean() == pytest.approx(expected, abs=0.02)


# ----------------------------------------------------------------------------- replicas
def test_replicas_without_perturbation_are_bit_identical(small_chaos_config, numpy_target):
    from protocols import chaos

    config = small_chaos_config()
    drawn = chaos.draw(config)
    spikes = chaos.simulate(config, drawn, [], realisations=drawn.realisations[:1],
                            replica_realisation=[0] * 5)
    ctrl_i, ctrl_t = spikes.of(0)
    assert ctrl_i.size > 100
    for r in range(1, 5):
        i, t = spikes.of(r)
        assert np.array_equal(i, ctrl_i) and np.array_equal(t, ctrl_t)


def test_replica_trial_equals_the_same_trial_run_alone(small_chaos_config, numpy_target):
    """Independent check of the replica layout: each run of trial k inside the
    replica network spikes exactly as a separate one-network run of it."""
    from protocols import chaos

    config = small_chaos_config()
    drawn = chaos.draw(config)
    together = chaos.simulate(config, drawn, chaos.perturbations_of(config, drawn))
    for k in (0, 2):
        for perturbed, replica in ((False, drawn.layout.control[k]),
                                   (True, drawn.layout.perturbed[k])):
            alone = chaos.simulate_single(config, trial=k, perturbed=perturbed, drawn=drawn)
            i, t = together.of(int(replica))
            assert np.array_equal(i, alone[0]) and np.array_equal(t, alone[1])


def test_perturbation_changes_nothing_before_it_and_something_after(small_chaos_config,
                                                                   numpy_target):
    from protocols import chaos

    config = small_chaos_config()
    drawn = chaos.draw(config)
    t_pert = float(config.protocol.baseline / second)
    spikes = chaos.simulate(config, drawn, [replicas.Perturbation(1, int(drawn.perturbed[0]),
                                                                  config.protocol.baseline)],
                            realisations=drawn.realisations[:1], replica_realisation=[0, 0])
    (ci, ct), (ti, tt) = spikes.of(0), spikes.of(1)
    before_c, before_t = ct < t_pert, tt < t_pert
    assert np.array_equal(ci[before_c], ti[before_t]) and np.array_equal(ct[before_c], tt[before_t])
    assert not (np.array_equal(ci, ti) and np.array_equal(ct, tt))


def test_unknown_and_unavailable_backends_raise_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(devices.BackendError, match="unknown backend"):
        with devices.backend("gpu"):
            pass
    # cuda without a toolkit: one message naming what to do
    with pytest.raises(devices.BackendError, match="no nvcc in"):
        with devices.backend("cuda", cuda_path=tmp_path):
            pass
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.delenv("CUDA_HOME", raising=False)
    from models import cuda

    monkeypatch.setattr(cuda.glob, "glob", lambda pattern: [])
    with pytest.raises(devices.BackendError, match="no CUDA toolkit found"):
        with devices.backend("cuda"):
            pass


def test_cpp_standalone_reproduces_the_runtime_for_deterministic_input(tmp_path):
    """Same deterministic network (no noise) on both back-ends: same spikes."""
    params = lif.LIFParams(I_bias=12 * mV)
    struct = structure.draw_structure(
        n_neurons=60, connection_prob=0.2, fixed_indegree=False, g_std=0.3, v_th_std=0.2,
        min_threshold_gap=-0.9, n_channels=0, channel_connectivity=0.3,
        rngs={k: rng.stream(3, purpose=k) for k in ("structure", "thresholds", "input")})
    inputs = replicas.InputParams(background_rate=0 * Hz, n_channels=0)
    v0 = -0.065 + 0.01 * rng.stream(3, purpose="initial_state").random(60)
    none = (np.zeros(0, np.int32), np.zeros(0, np.int32))
    realisation = replicas.Realisation(v0, none, none)
    results = {}
    for name in ("runtime", "cpp"):
        b2.start_scope()
        with devices.backend(name, build_root=tmp_path) as device:
            net, objects = replicas.build(struct, params, inputs, realisations=[realisation],
                                          replica_realisation=[0, 0], weight_unit=10 * mV,
                                          threshold_unit=10 * mV, perturbations=[],
                                          dt=0.1 * ms)
            device.run(net, 300 * ms)
            results[name] = replicas.spikes_of(objects, 60)
    rt, cpp = results["runtime"], results["cpp"]
    assert rt.neuron.size > 50
    assert np.array_equal(rt.neuron, cpp.neuron)
    assert np.allclose(rt.time_s, cpp.time_s, atol=1e-9)
    assert not any(tmp_path.iterdir()), "the standalone build directory is removed after the run"
