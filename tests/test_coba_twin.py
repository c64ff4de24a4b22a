"""The torch twin compiled from the Brian2 equations reproduces Brian2, and exports back.

The same connectome, weights and input spikes run in Brian2 (runtime; cpp in
a slow test) and in :class:`training.snn.COBATwin`: membrane potentials agree
to 1e-4 relative before the first spike and at least 95% of spikes coincide
within one time step over 1 s.
"""
import numpy as np
import pytest
import torch

from models import coba, connectome as cm
from models.rng import stream
from training.compiler import compile_model, twin_value
from training.snn import COBATwin, SuperSpike, export_to_brian2

DT_MS = 0.5
STEPS = 2000  # 1 s


def small_network(seed=3, n=160, n_inputs=200):
    """A 160-neuron assembly network whose E and I cells fire a few Hz to tens of Hz."""
    net = cm.assembly_network(n, n_assemblies=4, p_within=((0.2, 0.2), (0.4, 0.2)),
                              p_between=((0.05, 0.05), (0.05, 0.05)),
                              w_mean=((0.5, 0.5), (1.0, 0.5)), w_std=((0.3, 0.3), (0.3, 0.3)),
                              rng=stream(seed, purpose="structure"))
    ff = cm.feedforward_weights(n_inputs, net.cell_type, p=(0.15, 0.1), w_mean=(1.0, 1.0),
                                w_std=(0.3, 0.3), rng=stream(seed, purpose="input"))
    rates = np.full(n_inputs, 10.0)
    spikes = cm.poisson_input(rates, STEPS, DT_MS * 1e-3, stream(seed, trial=1, purpose="input"))
    return net, ff, spikes


def run_brian(net, ff, spikes, backend="runtime"):
    import brian2 as b2

    steps, cells = np.nonzero(spikes)
    return coba.simulate(coba.default_model(), net, ff, steps, cells, dt=DT_MS * b2.ms,
                         n_steps=len(spikes), backend=backend, record_v=np.arange(net.n))


def run_twin(net, ff, spikes, dtype):
    twin = COBATwin(coba.default_model(), net, ff, DT_MS, dtype=dtype, learn="none")
    with torch.no_grad():
        out = twin(torch.as_tensor(spikes)[None], record_v="all")
    return twin, out


def compare(brian, out, label):
    steps, neurons = np.nonzero(out.spikes[0].numpy())
    assert len(brian.spike_steps) > 200, f"{label}: too few spikes to compare"
    first = int(min(brian.spike_steps.min(), steps.min()))
    assert first > 5
    # Brian2 records v at the start of a step = the twin's v at the end of the previous one
    vb, vt = brian.v_mv[1:first], out.v[0].numpy()[:first - 1]
    rel = np.abs(vt - vb) / np.abs(vb)
    assert rel.max() < 1e-4, f"{label}: v differs by {rel.max():.2e} relative before a spike"
    brian_set = set(zip(brian.spike_steps.tolist(), brian.spike_neurons.tolist()))
    twin_set = set(zip(steps.tolist(), neurons.tolist()))
    hits = sum(1 for s, i in twin_set if {(s - 1, i), (s, i), (s + 1, i)} & brian_set)
    fraction = hits / max(len(twin_set), len(brian_set))
    assert fraction >= 0.95, f"{label}: {fraction:.1%} of spikes coincide within one step"
    return fraction


@pytest.fixture(scope="module")
def network():
    return small_network()


@pytest.fixture(scope="module")
def brian_runtime(network):
    import os

    previous = os.environ.get("SNNSUITE_RUNTIME_TARGET")
    os.environ["SNNSUITE_RUNTIME_TARGET"] = "numpy"
    try:
        return run_brian(*network)
    finally:
        if previous is None:
            del os.environ["SNNSUITE_RUNTIME_TARGET"]
        else:
            os.environ["SNNSUITE_RUNTIME_TARGET"] = previous


def test_compiled_update_is_brian2s_exponential_euler():
    step = compile_model(coba.default_model(), DT_MS)
    assert step.state[0] == "v" and step.refractory == ("v",)
    assert "_BA_v" in step.source and "exp" in step.source
    # a conductance decays by exp(-dt/tau) per step; v relaxes to E_L with tau_mem
    state = {name: torch.zeros(1, dtype=torch.float64) for name in step.state}
    state["v"] = torch.tensor([-50.0], dtype=torch.float64)
    state["g_AMPA_decay"] = torch.tensor([1.0], dtype=torch.float64)
    consts = {"C_m": torch.tensor([85 * 1.35], dtype=torch.float64),
              "g_L": torch.tensor([1.35], dtype=torch.float64),
              "E_L": torch.tensor([-60.0], dtype=torch.float64),
              "v_th": torch.tensor([-38.0], dtype=torch.float64),
              "v_reset": torch.tensor([-60.0], dtype=torch.float64),
              "t_ref": torch.tensor([8.0], dtype=torch.float64)}
    new = step(state, consts)
    assert float(new["g_AMPA_decay"]) == pytest.approx(np.exp(-DT_MS / 5.0), rel=1e-12)
    state["g_AMPA_decay"] = torch.zeros(1, dtype=torch.float64)
    new = step(state, consts)
    assert float(new["v"]) == pytest.approx(-60 + 10 * np.exp(-DT_MS / 85.0), rel=1e-12)
    assert float(step.threshold(state, consts)) == pytest.approx(-50 + 38)


def test_twin_units_are_consistent():
    import brian2 as b2

    assert twin_value(1 * b2.nS * 1 * b2.mV / (1 * b2.pF)) == pytest.approx(1.0)  # mV/ms
    assert twin_value(85 * b2.ms) == 85.0


@pytest.fixture(scope="module")
def twin32(network):
    return run_twin(*network, torch.float32)


@pytest.mark.slow
def test_twin_equals_brian2_runtime_float64(network, brian_runtime):
    twin, out = run_twin(*network, torch.float64)
    assert compare(brian_runtime, out, "runtime, float64") == 1.0


def test_twin_matches_brian2_runtime_float32(twin32, brian_runtime):
    """The training precision: the issue's criterion (1e-4 before the first spike, 95%)."""
    twin, out = twin32
    compare(brian_runtime, out, "runtime, float32")


@pytest.mark.slow
def test_twin_equals_brian2_cpp(network):
    brian = run_brian(*network, backend="cpp")
    twin, out = run_twin(*network, torch.float64)
    assert compare(brian, out, "cpp, float64") == 1.0


def test_refractory_period_is_applied(twin32):
    twin, out = twin32
    spikes = out.spikes[0].numpy()
    steps, neurons = np.nonzero(spikes)
    ref = int(round(8.0 / DT_MS))
    for i in np.unique(neurons):
        gaps = np.diff(steps[neurons == i])
        assert gaps.size == 0 or gaps.min() >= ref, f"neuron {i} fired twice within 8 ms"
    # the membrane stays at reset during the refractory period
    v = out.v[0].numpy()
    s, i = steps[0], neurons[0]
    assert np.allclose(v[s:s + ref, i], -60.0, atol=1e-4)


def test_surrogate_gradient_shape():
    x = torch.linspace(-1, 1, 201, requires_grad=True)
    SuperSpike.apply(x, 100.0).sum().backward()
    expected = 1.0 / (100.0 * x.detach().abs() + 1.0) ** 2
    assert torch.allclose(x.grad, expected)
    assert float(x.grad.max()) == pytest.approx(1.0, abs=1e-4)  # peak 1 at threshold


@pytest.mark.parametrize("layout", ["sparse", "dense"])
def test_gradients_reach_every_weight_type_and_dale_holds(network, layout):
    net, ff, spikes = network
    twin = COBATwin(coba.default_model(), net, ff, DT_MS, learn="weights", layout=layout)
    synapses = {name: twin.weight(name).detach() > 0 for name in ("w_0", "w_1", "w_in")}
    optimiser = torch.optim.Adam(twin.parameters(), lr=0.5)
    inputs = torch.as_tensor(spikes[:100])[None]
    for _ in range(2):
        out = twin(inputs)
        loss = ((out.spikes.sum(1) / 0.2 - 1.0) ** 2).mean()
        loss.backward()
        for name, p in twin.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert float(p.grad.abs().sum()) > 0, f"no gradient reaches {name}"
        optimiser.step()
        optimiser.zero_grad()
    for name, mask in synapses.items():
        w = twin.weight(name)
        assert (w[mask] > 0).all() and (w[~mask] == 0).all(), name
    # inhibitory cells drive only GABA_A, excitatory ones only AMPA and NMDA
    names = {name for _, t, inc in twin.sources for name in inc if t == 1}
    assert names == {"GABA_A"}


def test_sparse_and_dense_layouts_are_the_same_network(network):
    """Same spikes, and the same gradients of every synapse, from both weight layouts
    (float64; only the order of the sums differs)."""
    net, ff, spikes = network
    inputs = torch.as_tensor(spikes[:400])[None].repeat(2, 1, 1)
    grads, outs = {}, {}
    for layout in ("sparse", "dense"):
        twin = COBATwin(coba.default_model(), net, ff, DT_MS, learn="weights", layout=layout,
                        dtype=torch.float64)
        out = twin(inputs)
        ((out.spikes.sum(1) / 0.2 - 5.0) ** 2).mean().backward()
        outs[layout] = out.spikes.detach()
        grads[layout] = {name: twin.weight(name).detach() for name in twin.weight_names()}
        for name in twin.weight_names():
            log_w = getattr(twin, f"log_{name}")
            grads[layout][name] = (log_w.grad if layout == "sparse"
                                   else log_w.grad[getattr(twin, f"mask_{name}")])
            dense = twin.weight(name).detach()
            assert torch.allclose(twin.synapse_log_weights(name), dense[dense > 0].log(),
                                  rtol=0, atol=1e-12), name
    assert outs["sparse"].sum() > 100
    assert torch.equal(outs["sparse"], outs["dense"])
    for name, g in grads["sparse"].items():
        assert float(g.abs().sum()) > 0, name
        assert torch.allclose(g, grads["dense"][name], rtol=1e-9, atol=1e-12), name


def test_state_carries_across_calls(network):
    net, ff, spikes = network
    twin = COBATwin(coba.default_model(), net, ff, DT_MS, learn="none")
    inputs = torch.as_tensor(spikes[:300])[None]
    with torch.no_grad():
        whole = twin(inputs)
        first = twin(inputs[:, :120])
        second = twin(inputs[:, 120:], first.state)
    joined = torch.cat([first.spikes, second.spikes], dim=1)
    assert torch.equal(joined, whole.spikes)


def test_export_to_brian2_reproduces_the_twins_rates(network, numpy_target):
    """A trained twin exported to Brian2 fires at the twin's per-type rates (within 5%)."""
    net, ff, spikes = network
    twin = COBATwin(coba.default_model(), net, ff, DT_MS, learn="weights")
    optimiser = torch.optim.Adam(twin.parameters(), lr=0.05)
    inputs = torch.as_tensor(spikes[:200])[None]
    out = twin(inputs)      # a training step: weights that differ from the connectome's
    ((out.spikes.sum(1) / 0.1 - 5.0) ** 2).mean().backward()
    optimiser.step()
    exported, ff_exported = export_to_brian2(twin)
    assert exported.n == net.n and np.array_equal(exported.cell_type, net.cell_type)
    assert not np.allclose(exported.weights.toarray(), net.weights.toarray())
    half = spikes[:STEPS // 2]       # 0.5 s: about 1500 spikes per type
    with torch.no_grad():
        twin_out = twin(torch.as_tensor(half)[None])
    brian = run_brian(exported, ff_exported, half)
    twin_counts = twin_out.spikes[0].sum(0).numpy()
    brian_counts = np.bincount(brian.spike_neurons, minlength=net.n)
    for t in (0, 1):
        sel = net.cell_type == t
        a, b = twin_counts[sel].mean(), brian_counts[sel].mean()
        assert a > 0 and abs(a - b) / b < 0.05, f"type {t}: twin {a:.2f}, Brian2 {b:.2f} spikes"
