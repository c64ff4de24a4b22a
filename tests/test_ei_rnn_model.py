"""The E-I RNN (training.ei_rnn): Dale's law, initialisation, dynamics against the numpy teacher."""
import numpy as np
import pytest
import torch

from training import data
from training.ei_rnn import EIRNN, EIRNNParams, attention, spectral_radius, step


def labels_8020(n=50):
    return EIRNN.default_labels(n, 0.8)


# ----------------------------------------------------------------------------- Dale's law
def test_dale_law_holds_for_any_raw_weights():
    model = EIRNN(labels_8020(), 3, EIRNNParams(embedding="linear", embed_dim=3))
    with torch.no_grad():
        model.w_raw.normal_()            # negative raw weights too
    w = model.w_rec.detach().numpy()
    e = model.e_mask.numpy()
    assert (w[:, e] >= 0).all() and (w[:, ~e] <= 0).all()
    assert (w[:, e] > 0).any() and (w[:, ~e] < 0).any()


def test_labels_from_data_decide_the_signs():
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    model = EIRNN(labels, 2, EIRNNParams(embedding="linear", embed_dim=2))
    w = model.w_rec.detach().numpy()
    assert (w[:, labels == 1] <= 0).all() and (w[:, labels == 0] >= 0).all()
    assert model.e_mask.numpy().tolist() == (labels == 0).tolist()
    assert model.w_out.shape == (1, 8)        # the readout reads E units only


def test_default_labels_are_80_20():
    labels = EIRNN.default_labels(100)
    assert (labels == 0).sum() == 80 and (labels == 1).sum() == 20


# ----------------------------------------------------------------------------- initialisation
@pytest.mark.parametrize("n", [10, 50, 100])
def test_spectral_radius_at_initialisation_is_0_9(n):
    model = EIRNN(labels_8020(n), 4)
    eigenvalues = np.linalg.eigvals(model.w_rec.detach().double().numpy())
    assert np.abs(eigenvalues).max() == pytest.approx(0.9, rel=1e-5)
    assert spectral_radius(model.w_rec) == pytest.approx(0.9, rel=1e-5)


def test_initialisation_is_balanced_and_seeded():
    model = EIRNN(labels_8020(60), 4, seed=3)
    w = model.w_rec.detach().double().numpy()
    assert np.abs(w.sum(axis=1)).max() < 1e-5     # each row: excitation = inhibition
    again = EIRNN(labels_8020(60), 4, seed=3)
    other = EIRNN(labels_8020(60), 4, seed=4)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    assert not torch.equal(model.w_raw, other.w_raw)


def test_initialisation_does_not_consume_torch_randomness():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    EIRNN(labels_8020(), 4)
    assert torch.equal(torch.rand(3), expected)


def test_h0_is_learnable_or_fixed():
    learned = EIRNN(labels_8020(), 2, EIRNNParams(learn_h0=True, h0_init=0.1))
    fixed = EIRNN(labels_8020(), 2, EIRNNParams(learn_h0=False, h0_init=0.2))
    assert learned.h0.requires_grad and torch.allclose(learned.initial_state, torch.tensor(0.1))
    assert fixed.h0 is None and torch.allclose(fixed.initial_state, torch.tensor(0.2))
    assert "h0" not in dict(fixed.named_parameters())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="ei_labels"):
        EIRNN([0, 2, 1], 2)
    with pytest.raises(ValueError, match="no excitatory"):
        EIRNN([1, 1, 1], 2)
    with pytest.raises(ValueError, match="embedding"):
        EIRNN(labels_8020(), 2, EIRNNParams(embedding="conv"))
    with pytest.raises(ValueError, match="divisible"):
        EIRNN(labels_8020(), 2, EIRNNParams(embed_dim=10, n_heads=4))
    with pytest.raises(ValueError, match="dt/tau"):
        EIRNN(labels_8020(), 2, EIRNNParams(dt_ms=60.0, tau_ms=50.0))


# ----------------------------------------------------------------------------- dynamics
def test_step_is_the_euler_maruyama_update():
    rng = np.random.default_rng(1)
    x, d, eta = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    w = rng.normal(size=(5, 5))
    alpha = 0.5
    expected = (1 - alpha) * x + alpha * (np.maximum(x, 0) @ w.T + d) + eta
    r, new = step(*(torch.as_tensor(a) for a in (x, d, w)), alpha, torch.as_tensor(eta))
    assert np.allclose(new.numpy(), expected) and np.allclose(r.numpy(), np.maximum(expected, 0))


def teacher_as_student(truth):
    """An EIRNN holding the numpy teacher's weights exactly (identity linear embedding)."""
    n_in = truth["n_inputs"]
    params = EIRNNParams(tau_ms=truth["tau_ms"], dt_ms=truth["dt_ms"], noise_std=0.0,
                         embedding="linear", embed_dim=n_in)
    model = EIRNN(truth["ei_labels"], n_in, params).double()
    with torch.no_grad():
        model.w_raw.copy_(torch.as_tensor(np.abs(truth["W_rec"])))
        model.embed.weight.copy_(torch.eye(n_in))
        model.w_in.copy_(torch.as_tensor(truth["W_in"]))
        model.bias.copy_(torch.as_tensor(truth["b"]))
        model.h0.copy_(torch.as_tensor(truth["x0"]))
    return model


def test_model_reproduces_the_numpy_teacher(tmp_path):
    """Two implementations of the same equation: the torch model and make_synthetic's numpy
    teacher give the same rates when the model holds the teacher's weights (no noise)."""
    truth = data.make_synthetic(tmp_path / "t.mat", n_neurons=30, n_inputs=3, n_conditions=2,
                                trials_per_condition=3, n_steps=40, noise_std=0.0, seed=5)
    model = teacher_as_student(truth)
    assert np.array_equal(model.w_rec.detach().numpy(), truth["W_rec"])
    with torch.no_grad():
        rates = model(torch.as_tensor(truth["inputs"]), noise=False).numpy()
    assert np.allclose(rates * truth["rate_scale_hz"], truth["rates_hz"], rtol=1e-10, atol=1e-9)
    assert truth["rates_hz"].max() > 1.0        # the check is not on a silent network


def test_noise_has_the_stated_variance():
    """With W = 0 and no input, x_t is an AR(1) process with variance sigma^2 * 2a/(1-(1-a)^2)."""
    params = EIRNNParams(embedding="linear", embed_dim=1, noise_std=0.1, h0_init=0.0)
    model = EIRNN(labels_8020(40), 1, params)
    with torch.no_grad():
        model.w_raw.zero_()
        model.w_in.zero_()
        state = []
        x = torch.zeros(4000, 40)
        drive = torch.zeros(4000, 40)
        gen = torch.Generator().manual_seed(0)
        a = params.alpha
        for _ in range(60):
            eta = torch.randn(4000, 40, generator=gen) * np.sqrt(2 * a) * params.noise_std
            _, x = step(x, drive, model.w_rec, a, eta)
        state = x.numpy()
    expected = 0.1 ** 2 * 2 * a / (1 - (1 - a) ** 2)
    assert state.var() == pytest.approx(expected, rel=0.03)


def test_noise_comes_from_the_given_generator():
    model = EIRNN(labels_8020(), 2, EIRNNParams(embedding="linear", embed_dim=2))
    u = torch.rand(3, 10, 2)
    with torch.no_grad():
        a = model(u, generator=torch.Generator().manual_seed(1))
        b = model(u, generator=torch.Generator().manual_seed(1))
        c = model(u, generator=torch.Generator().manual_seed(2))
        quiet = model(u, noise=False)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(quiet, model(u, noise=False))


# ----------------------------------------------------------------------------- attention
def test_attention_matches_torch_multihead_attention():
    """The suite's attention (values of D/H per head) against torch.nn.MultiheadAttention with
    the same weights, its output projection applied after."""
    torch.manual_seed(0)
    reference = torch.nn.MultiheadAttention(8, 4, batch_first=True).double()
    tokens = torch.randn(5, 3, 8, dtype=torch.float64)
    expected, expected_weights = reference(tokens, tokens, tokens, average_attn_weights=False)
    mixed, weights = attention(tokens, reference.in_proj_weight, reference.in_proj_bias, 4)
    out = mixed @ reference.out_proj.weight.t() + reference.out_proj.bias
    assert torch.allclose(out, expected, atol=1e-12)
    assert torch.allclose(weights, expected_weights, atol=1e-12)


def test_attention_embedding_is_the_plans_one_value_per_head():
    """e(u) = W_o y + b_o with y[i, h] = sum_j A_h[i, j] (V_h . token_j), written out by hand."""
    torch.manual_seed(1)
    e = EIRNN(labels_8020(), 3, EIRNNParams(embedding="attention", embed_dim=8,
                                            n_heads=2)).embed
    u = torch.rand(2, 5, 3)
    out, weights = e(u, need_weights=True)
    q, k, v = (torch.as_tensor(x) for x in e.qkv().values())
    assert q.shape == (8, 8) and k.shape == (8, 8) and v.shape == (2, 8)
    assert e.output_projection().shape == (8, 3 * 2)
    b = e.b_qkv.detach()
    for trial in range(2):
        for t in range(5):
            tokens = u[trial, t][:, None] * e.channel.detach() + e.position.detach()
            y = torch.zeros(3, 2)
            for h in range(2):
                rows = slice(4 * h, 4 * h + 4)
                qh = tokens @ q[rows].t() + b[:8][rows]
                kh = tokens @ k[rows].t() + b[8:16][rows]
                vh = tokens @ v[h] + b[16 + h]
                a = torch.softmax(qh @ kh.t() / 2.0, dim=-1)
                assert torch.allclose(weights[trial, t, h], a, atol=1e-6)
                y[:, h] = a @ vh
            expected = e.w_out.detach() @ y.reshape(-1) + e.b_out.detach()
            assert torch.allclose(out[trial, t], expected, atol=1e-5)


def test_attention_embedding_shares_repeated_inputs_exactly():
    model = EIRNN(labels_8020(), 4, EIRNNParams(embedding="attention"))
    u = torch.zeros(6, 20, 4)
    u[:, 5:10, 1] = 1.0
    u[3:, 12:, 2] = torch.rand(3, 8)
    shared, weights = model.embed_inputs(u, need_weights=True)
    e = model.embed
    tokens = u.reshape(-1, 4, 1) * e.channel + e.position
    mixed, w = attention(tokens, e.w_qkv, e.b_qkv, e.n_heads)
    direct = mixed.reshape(120, -1) @ e.w_out.t() + e.b_out
    assert torch.allclose(shared, direct.reshape(6, 20, -1), atol=1e-6)
    assert weights.shape == (6, 20, 4, 4, 4)
    assert torch.allclose(weights.sum(dim=-1), torch.ones(()), atol=1e-6)
    assert set(e.qkv()) == {"Q", "K", "V"} and e.qkv()["Q"].shape == (56, 56)
    assert e.qkv()["V"].shape == (4, 56) and e.output_projection().shape == (56, 16)


def test_gradients_reach_every_parameter():
    model = EIRNN(labels_8020(20), 3)
    rates = model(torch.rand(4, 15, 3))
    rates.pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# ----------------------------------------------------------------------------- learned noise
def test_learned_noise_starts_at_noise_std_and_follows_the_variance():
    """model.learn_noise: sigma starts at noise_std, stays positive, and a loss on the
    across-trial variance moves it the right way (down when the variance is too large)."""
    torch.manual_seed(0)
    model = EIRNN(labels_8020(10), 2, EIRNNParams(noise_std=0.1, learn_noise=True,
                                                  embedding="linear", embed_dim=4))
    assert model.sigma() == pytest.approx(0.1, rel=1e-6)
    fixed = EIRNN(labels_8020(10), 2, EIRNNParams(noise_std=0.1, embedding="linear",
                                                  embed_dim=4))
    assert fixed.log_noise is None and fixed.sigma() == 0.1
    u = torch.rand(1, 12, 2).expand(32, -1, -1)         # one condition, 32 trials
    with torch.no_grad():
        target = 0.25 * model(u, generator=torch.Generator().manual_seed(1)).var(dim=0).mean()
    optimizer = torch.optim.Adam([model.log_noise], lr=1e-2)
    for step in range(30):
        rates = model(u, generator=torch.Generator().manual_seed(step))
        loss = (rates.var(dim=0).mean() - target) ** 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert 0 < model.sigma() < 0.08
