"""Plasticity rules against theory: STP steady states, Hebbian balance, BCM, homeostasis."""
import brian2 as b2
import numpy as np
import pytest
from brian2 import Hz, mV, ms, second

from models import lif, plasticity, synapses


@pytest.fixture(autouse=True)
def fresh_brian():
    b2.start_scope()
    b2.set_device("runtime")
    b2.prefs.codegen.target = "cython"
    b2.defaultclock.dt = 0.1 * ms
    b2.seed(7)
    yield


def regular_source(rate, duration, n=1):
    """n neurons spiking regularly at ``rate`` from t = 1 ms."""
    times = np.arange(1e-3, float(duration / second), 1.0 / float(rate / Hz))
    return b2.SpikeGeneratorGroup(n, np.repeat(np.arange(n), len(times)),
                                  np.tile(times, n) * second)


def accumulator(n=1):
    """A target that only sums what it receives: I_syn never decays."""
    return b2.NeuronGroup(n, "I_syn : volt", threshold="False")


# ----------------------------------------------------------------------------- composition
def test_models_compose_and_expose_brian2_arguments():
    m = synapses.exponential() + plasticity.stp(0.5, 10 * ms, 100 * ms) + plasticity.hebbian() \
        + plasticity.weight_decay()
    assert m.names == ("exponential", "stp", "hebbian", "weight_decay")
    assert m.model.splitlines()[0].startswith("dw/dt = (-decay_rate * (w - w_baseline))")
    pre = m.on_pre.splitlines()
    assert pre.index("u += U_stp * (1 - u)") < pre.index("I_syn_post += w_unit * w * u*x") \
        < pre.index("x -= u * x")
    assert m.namespace["tau_stp_d"] == 100 * ms and "lr_mod" in m.model
    # straight into brian2.Synapses
    source, target = regular_source(10 * Hz, 100 * ms), accumulator()
    syn = b2.Synapses(source, target, model=m.model, on_pre=m.on_pre, on_post=m.on_post,
                      namespace=m.namespace)
    syn.connect()
    b2.run(10 * ms)


def test_conflicting_parameters_and_repeated_rules_are_rejected():
    with pytest.raises(ValueError, match="w_max"):
        plasticity.hebbian(w_max=1.0) + plasticity.bcm(w_max=2.0).__class__(
            names=("other",), params=(("w_max", 2.0),))
    with pytest.raises(ValueError, match="twice"):
        plasticity.hebbian() + plasticity.hebbian()
    with pytest.raises(ValueError, match="U"):
        plasticity.stp(U=1.5)
    with pytest.raises(ValueError, match="tau_d"):
        plasticity.stp(tau_d=5)
    with pytest.raises(ValueError, match="w_min < w_max"):
        plasticity.hebbian(w_min=1, w_max=0)


def test_builder_names_missing_neuron_variables():
    source, target = regular_source(10 * Hz, 10 * ms), accumulator()
    with pytest.raises(ValueError, match="nu_bcm"):
        synapses.build(source, target, synapses.exponential() + plasticity.bcm(), p=1)


# ----------------------------------------------------------------------------- STP
@pytest.mark.parametrize("preset", ["facilitating", "depressing"])
@pytest.mark.parametrize("rate", [5 * Hz, 20 * Hz, 50 * Hz])
def test_stp_steady_state_matches_tsodyks_markram(preset, rate):
    """Efficacy u*x per spike under regular spiking converges to the analytic steady state."""
    model = synapses.exponential(w_unit=1 * mV) + getattr(plasticity, preset)()
    source, target = regular_source(rate, 3 * second), accumulator()
    syn = synapses.build(source, target, model, i=[0], j=[0], w=1.0)
    received = b2.StateMonitor(target, "I_syn", record=0, dt=1 * ms)
    b2.run(3 * second)
    total = received.I_syn[0] / mV
    per_spike = np.diff(total[:: int(round(1000 / float(rate / Hz)))])
    params = dict(model.namespace)
    theory = plasticity.stp_steady_state(params["U_stp"], params.get("tau_stp_f", 0 * ms),
                                         params["tau_stp_d"], rate)
    assert per_spike[-1] == pytest.approx(theory["efficacy"], rel=0.02)
    assert syn.u[0] == pytest.approx(theory["u"], rel=0.02)


def test_first_spike_transmits_U_and_facilitation_grows():
    model = synapses.exponential(w_unit=1 * mV) + plasticity.facilitating()
    source, target = regular_source(20 * Hz, 200 * ms), accumulator()
    syn = synapses.build(source, target, model, i=[0], j=[0], w=1.0)
    monitor = b2.StateMonitor(target, "I_syn", record=0, dt=1 * ms)
    b2.run(200 * ms)
    # spikes at 1, 51, 101 ms; samples at 2, 52, 102 ms see each one's effect
    increments = np.diff(np.concatenate(([0.0], monitor.I_syn[0][2::50] / mV)))
    assert increments[0] == pytest.approx(0.03, rel=1e-6)  # U
    assert increments[3] > 2 * increments[0]      # facilitation
    assert syn.u[0] > 0.03


# ----------------------------------------------------------------------------- Hebbian + decay
def test_hebbian_and_decay_settle_at_the_analytic_balance():
    """Independent Poisson pre/post: mean w -> eta nu_pre (nu_post (tau_pre+tau_post) - ltd)/decay."""
    n, nu_pre, nu_post = 400, 20 * Hz, 10 * Hz
    eta, ltd, decay = 0.002, 0.1, 1 * Hz
    pre = b2.PoissonGroup(n, nu_pre)
    post = b2.NeuronGroup(1, "I_syn : volt", threshold="rand() < nu_post * dt",
                          namespace={"nu_post": nu_post})
    model = synapses.exponential() + plasticity.hebbian(eta=eta, ltd_ratio=ltd, w_max=10.0) \
        + plasticity.weight_decay(decay_rate=decay)
    syn = synapses.build(pre, post, model, p=1, w=0.0)
    weights = b2.StateMonitor(syn, "w", record=True, dt=100 * ms)
    b2.run(8 * second)
    drift = eta * float(nu_pre / Hz) * (float(nu_post / Hz) * 0.040 - ltd)
    expected = drift / float(decay / Hz)
    settled = weights.w[:, weights.t > 4 * second].mean()
    assert expected > 0.01
    assert settled == pytest.approx(expected, rel=0.05)
    assert weights.w.min() >= 0.0 and weights.w.max() <= 10.0


def test_hebbian_weights_stay_within_bounds():
    pre = b2.PoissonGroup(50, 50 * Hz)
    post = b2.NeuronGroup(1, "I_syn : volt", threshold="rand() < 0.005")
    syn = synapses.build(pre, post, synapses.exponential() + plasticity.hebbian(
        eta=0.2, ltd_ratio=0.0, w_min=0.1, w_max=0.6), p=1, w=0.3)
    b2.run(1 * second)
    assert syn.w[:].max() == pytest.approx(0.6) and syn.w[:].min() >= 0.1


def test_modulator_zero_freezes_learning():
    pre = b2.PoissonGroup(20, 50 * Hz)
    post = b2.NeuronGroup(1, "I_syn : volt", threshold="rand() < 0.01")
    syn = synapses.build(pre, post, synapses.exponential() + plasticity.hebbian(eta=0.05),
                         p=1, w=0.5, lr_mod=0.0)
    b2.run(500 * ms)
    assert np.all(syn.w[:] == 0.5)


# ----------------------------------------------------------------------------- BCM
def test_bcm_threshold_converges_to_its_fixed_point():
    """theta -> <y^2>/nu0 with y the Poisson rate trace: (nu^2 + nu/(2 tau_rate))/nu0."""
    nu, nu0, tau_rate = 20 * Hz, 10 * Hz, 100 * ms
    model = synapses.exponential() + plasticity.bcm(target_rate=nu0, tau_rate=tau_rate,
                                                   tau_theta=500 * ms)
    parts = synapses.neuron_equations(model)
    post = b2.NeuronGroup(200, "I_syn : volt\n" + parts.equations, threshold="rand() < nu * dt",
                          reset=parts.reset, namespace={**parts.namespace, "nu": nu})
    post.run_regularly(parts.every_step, when="after_groups")
    theta = b2.StateMonitor(post, "theta_bcm", record=True, dt=10 * ms)
    b2.run(6 * second)
    expected = (20.0 ** 2 + 20.0 / (2 * 0.1)) / 10.0
    measured = theta.theta_bcm[:, theta.t > 3 * second].mean() / Hz
    assert measured == pytest.approx(expected, rel=0.05)


def test_bcm_makes_a_neuron_selective_for_one_of_two_patterns():
    """Two alternating input patterns: the weights of one grow, of the other shrink.

    The postsynaptic neuron is a linear Poisson unit (rate = r0 + gain * I_syn),
    the rate neuron BCM theory is written for; it never falls silent, so the
    outcome is BCM's, not a threshold's.
    """
    n_in, half = 100, 50
    pattern = b2.TimedArray(np.array([0, 1] * 100), dt=200 * ms)
    rates = ("(40*Hz*int(i < 50) + 2*Hz*int(i >= 50)) * (1 - pattern(t)) + "
             "(40*Hz*int(i >= 50) + 2*Hz*int(i < 50)) * pattern(t)")
    inputs = b2.PoissonGroup(n_in, rates=rates, namespace={"pattern": pattern})
    model = synapses.exponential() + plasticity.bcm(eta=0.05 * Hz, target_rate=10 * Hz,
                                                   tau_rate=50 * ms, tau_theta=1 * second)
    parts = synapses.neuron_equations(model)
    post = b2.NeuronGroup(1, "dI_syn/dt = -I_syn / (5*ms) : volt\n" + parts.equations,
                          threshold="rand() < (2*Hz + 2*Hz/mV * I_syn) * dt",
                          reset=parts.reset, namespace=parts.namespace, method="exact")
    post.theta_bcm = 10 * Hz
    post.run_regularly(parts.every_step, when="after_groups")
    rng = np.random.default_rng(1)
    syn = synapses.build(inputs, post, model, i=np.arange(n_in), j=np.zeros(n_in, int),
                         w=0.05 * (1 + 0.1 * rng.standard_normal(n_in)))
    theta = b2.StateMonitor(post, "theta_bcm", record=0, dt=100 * ms)
    b2.run(30 * second)
    w = syn.w[:]
    weak, strong = sorted([w[:half].mean(), w[half:].mean()])
    assert strong > 3 * weak, (w[:half].mean(), w[half:].mean())
# ----------------------------------------------------------------------------- homeostasis
@pytest.mark.parametrize("start_weight", [
    pytest.param(0.25, marks=pytest.mark.slow),   # 55 s cold; from above (0.9) stays fast
    0.9])
def test_homeostatic_scaling_returns_the_rate_to_target(start_weight):
    """Rates pushed below or above target by the weight scale return within 10%."""
    target = 10 * Hz
    model = synapses.exponential() + plasticity.homeostatic_scaling(
        target_rate=target, tau_scaling=1 * second, tau_rate=500 * ms, w_max=5.0)
    params = lif.LIFParams(I_bias=0 * mV)
    neurons = lif.neuron_group(50, params, synapse_models=[model])
    neurons.v = -65 * mV
    inputs = b2.PoissonGroup(200, 10 * Hz)
    syn = synapses.build(inputs, neurons, model, p=0.2, w=start_weight)
    spikes = b2.SpikeMonitor(neurons)
    b2.run(1 * second)
    initial = spikes.num_spikes / 50 / 1.0
    b2.run(24 * second)
    before = spikes.num_spikes
    b2.run(5 * second)
    final = (spikes.num_spikes - before) / 50 / 5.0
    assert abs(initial - 10) > 3, f"start not pushed away from target: {initial} Hz"
    assert final == pytest.approx(10.0, rel=0.10)
    assert syn.w[:].max() <= 5.0


# ----------------------------------------------------------------------------- back-ends
def _all_rules_trajectory(backend, tmp_path):
    from models import devices

    model = synapses.exponential() + plasticity.stp(0.2, 100 * ms, 200 * ms) \
        + plasticity.hebbian(eta=0.01) + plasticity.weight_decay(0.5 * Hz) \
        + plasticity.bcm(eta=0.02 * Hz, target_rate=10 * Hz) \
        + plasticity.homeostatic_scaling(target_rate=10 * Hz, tau_scaling=2 * second)
    with devices.backend(backend, build_root=tmp_path) as device:
        b2.defaultclock.dt = 0.1 * ms
        source = regular_source(25 * Hz, 1 * second, n=4)
        post = lif.neuron_group(2, lif.LIFParams(I_bias=12 * mV), synapse_models=[model])
        syn = synapses.build(source, post, model, i=[0, 1, 2, 3], j=[0, 0, 1, 1],
                             w=[0.2, 0.4, 0.3, 0.5])
        weights = b2.StateMonitor(syn, ["w", "u", "x"], record=True, dt=5 * ms)
        net = b2.Network(source, post, syn, weights)
        device.run(net, 1 * second)
        return np.array(weights.w), np.array(weights.u), np.array(weights.x)


@pytest.mark.slow
def test_all_rules_give_the_same_trajectories_on_runtime_and_cpp(tmp_path):
    """Deterministic input, every rule on: identical weight trajectories on both back-ends."""
    runtime = _all_rules_trajectory("runtime", tmp_path)
    cpp = _all_rules_trajectory("cpp", tmp_path)
    assert np.ptp(runtime[0]) > 0.01   # the weights did change
    for a, b in zip(runtime, cpp):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
