"""Surrogate-gradient losses (training.snn_losses) against numpy, finite differences and by hand."""
import math

import numpy as np
import pytest
import torch

from training import snn_losses as L

DT_S = 5e-4   # 0.5 ms


# ----------------------------------------------------------------------------- helpers
def pooled_isis(spikes, dt_s):
    """Per neuron: the spike-time differences of every batch row, concatenated (numpy)."""
    s = np.asarray(spikes)
    out = []
    for n in range(s.shape[2]):
        parts = [np.diff(np.flatnonzero(s[b, :, n] > 0.5)) * dt_s for b in range(s.shape[0])]
        out.append(np.concatenate(parts))
    return out


def numpy_cv(isis):
    return np.array([isi.std() / isi.mean() if isi.size >= 2 else 0.0 for isi in isis])


def straight_through(potential, threshold=1.0, width=0.2):
    """0/1 forward, sigmoid slope backward: a differentiable stand-in for a spiking layer."""
    soft = torch.sigmoid((potential - threshold) / width)
    hard = (potential > threshold).to(potential.dtype)
    return hard + soft - soft.detach()


def gamma_train(rng, shape, rate_hz, batch, n_steps, n, dt_s):
    """Gamma-process spikes binned at dt_s (several spikes in one bin count once)."""
    duration_s = n_steps * dt_s
    n_draw = int(rate_hz * duration_s * 1.5 + 50)
    isi = rng.gamma(shape, 1.0 / (rate_hz * shape), size=(batch, n, n_draw))
    times = np.cumsum(isi, axis=-1)
    assert (times[..., -1] > duration_s).all()
    s = np.zeros((batch, n_steps, n), dtype=np.float32)
    b, neuron, k = np.nonzero(times < duration_s)
    s[b, (times[b, neuron, k] / dt_s).astype(int), neuron] = 1.0
    return s


def naive_scan(c, d, x0):
    """x_t = c_t x_{t-1} + d_t by a Python loop (the reference for the blocked scan)."""
    x, out = x0, []
    for t in range(c.shape[1]):
        x = c[:, t] * x + d[:, t]
        out.append(x)
    return torch.stack(out, dim=1)


# ----------------------------------------------------------------------------- linear scan
@pytest.mark.parametrize("n_steps", [1, 2, 3, 5, 16, 17, 50, 101])
def test_linear_scan_matches_the_loop_in_value_and_gradient(n_steps):
    g = torch.Generator().manual_seed(n_steps)
    c = torch.rand(2, n_steps, 3, generator=g, dtype=torch.float64).requires_grad_()
    d = torch.randn(2, n_steps, 3, generator=g, dtype=torch.float64).requires_grad_()
    x0 = torch.randn(2, 3, generator=g, dtype=torch.float64).requires_grad_()
    w = torch.randn(2, n_steps, 3, generator=g, dtype=torch.float64)
    fast = L.linear_scan(c, d, x0)
    slow = naive_scan(c, d, x0)
    assert torch.allclose(fast, slow, rtol=1e-12, atol=1e-12)
    grads_fast = torch.autograd.grad((fast * w).sum(), (c, d, x0))
    grads_slow = torch.autograd.grad((slow * w).sum(), (c, d, x0))
    for a, b in zip(grads_fast, grads_slow):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_linear_scan_passes_gradcheck():
    g = torch.Generator().manual_seed(1)
    inputs = (torch.rand(1, 10, 2, generator=g, dtype=torch.float64).requires_grad_(),
              torch.randn(1, 10, 2, generator=g, dtype=torch.float64).requires_grad_(),
              torch.randn(1, 2, generator=g, dtype=torch.float64).requires_grad_())
    assert torch.autograd.gradcheck(L.linear_scan, inputs)


# ----------------------------------------------------------------------------- ISI moments
def test_isi_moments_are_the_spike_time_differences():
    # neuron 0: spikes at 1, 4, 6 -> ISIs 3, 2 steps; neuron 1: one spike; neuron 2: every step
    s = torch.zeros(1, 8, 3, dtype=torch.float64)
    s[0, [1, 4, 6], 0] = 1.0
    s[0, 5, 1] = 1.0
    s[0, :, 2] = 1.0
    m, state = L.isi_moments(s, dt_s=1e-3)
    assert m.count.tolist() == [2.0, 0.0, 7.0]
    assert np.allclose(m.total.numpy(), [5e-3, 0.0, 7e-3], rtol=1e-12)
    assert np.allclose(m.total_sq.numpy(), [13e-6, 0.0, 7e-6], rtol=1e-12)
    assert np.allclose(state.age_s.numpy(), [[2e-3, 3e-3, 1e-3]], rtol=1e-12)
    assert state.seen.tolist() == [[1.0, 1.0, 1.0]]


def test_isi_moments_equal_numpy_on_random_trains_pooled_over_the_batch():
    rng = np.random.default_rng(0)
    s = (rng.random((3, 700, 6)) < 0.05).astype(np.float64)
    s[:, :, 5] = 0.0                                    # one silent neuron
    m, _ = L.isi_moments(torch.as_tensor(s), DT_S)
    isis = pooled_isis(s, DT_S)
    assert np.array_equal(m.count.numpy(), [isi.size for isi in isis])
    assert np.allclose(m.total.numpy(), [isi.sum() for isi in isis], rtol=1e-12)
    assert np.allclose(m.total_sq.numpy(), [(isi ** 2).sum() for isi in isis], rtol=1e-12)


def test_cv_equals_numpy_on_poisson_trains():
    rng = np.random.default_rng(1)
    rate_hz, n_steps = 20.0, int(50.0 / DT_S)           # 2 x 50 s pooled: 100 s per neuron
    s = (rng.random((2, n_steps, 50)) < rate_hz * DT_S).astype(np.float32)
    m, _ = L.isi_moments(torch.as_tensor(s), DT_S)
    cv, valid = L.cv_from_moments(m)
    expected = numpy_cv(pooled_isis(s, DT_S))
    assert valid.all()
    assert np.allclose(cv.numpy(), expected, rtol=1e-3)            # per neuron (asked: 1 %)
    assert abs(cv.mean().item() - expected.mean()) < 1e-3 * expected.mean()
    assert abs(expected.mean() - math.sqrt(1 - rate_hz * DT_S)) < 0.02   # Bernoulli steps


@pytest.mark.parametrize("shape, theory_cv", [(4.0, 0.5), (0.5, math.sqrt(2.0))])
def test_cv_equals_numpy_on_gamma_trains(shape, theory_cv):
    rng = np.random.default_rng(int(shape * 10))
    s = gamma_train(rng, shape, rate_hz=20.0, batch=2, n_steps=int(50.0 / DT_S), n=50, dt_s=DT_S)
    m, _ = L.isi_moments(torch.as_tensor(s), DT_S)
    cv, valid = L.cv_from_moments(m)
    expected = numpy_cv(pooled_isis(s, DT_S))
    assert valid.all() and (m.count.numpy() > 1000).all()
    assert np.allclose(cv.numpy(), expected, rtol=1e-3)
    # the trains are what they claim (binning merges some short intervals of shape 0.5)
    assert abs(expected.mean() - theory_cv) < 0.1 * theory_cv


def test_chunks_with_carried_state_give_the_moments_of_the_whole_train():
    rng = np.random.default_rng(2)
    s = (rng.random((2, 400, 5)) < 0.03).astype(np.float64)
    s[:, :, 3] = 0.0
    s[:, 250, 3] = s[:, 390, 3] = 1.0                   # neuron 3 spikes only in later chunks
    s[:, 99, 4] = 1.0                                   # a spike on the last step of a chunk
    spikes = torch.as_tensor(s)
    whole, whole_state = L.isi_moments(spikes, DT_S)
    total = L.ISIMoments.zeros(5, dtype=torch.float64)
    state = None
    for a, b in [(0, 100), (100, 100), (100, 101), (101, 260), (260, 400)]:   # one chunk empty
        m, state = L.isi_moments(spikes[:, a:b], DT_S, state)
        state = state.detach()
        total = total + m
    for got, want in zip(total, whole):
        assert torch.allclose(got, want, rtol=1e-12, atol=0)
    for got, want in zip(state, whole_state):
        assert torch.allclose(got, want, rtol=1e-12, atol=0)


def test_isi_moments_record_helpers():
    a = L.ISIMoments(torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([3.0]))
    b = a + a
    assert isinstance(b, L.ISIMoments) and b.total_sq.item() == 6.0
    z = L.ISIMoments.zeros(4, dtype=torch.float64)
    assert z.count.shape == (4,) and z.total.dtype == torch.float64 and float(sum(z).sum()) == 0.0
    p = torch.ones(1, requires_grad=True)
    assert not (a + L.ISIMoments(p, p, p)).detach().count.requires_grad
    s = L.AgeState.zeros(2, 3)
    assert s.age_s.shape == (2, 3) and s.seen.sum() == 0


# ----------------------------------------------------------------------------- gradients
def test_gradient_reaches_the_parameters_through_cv_and_rate_losses():
    g = torch.Generator().manual_seed(3)
    drive = torch.randn(2, 3000, 8, generator=g)
    bias = torch.nn.Parameter(torch.full((8,), -1.5))
    gain = torch.nn.Parameter(torch.ones(8))
    spikes = straight_through(gain * drive + bias + 1.0)
    m, _ = L.isi_moments(spikes, DT_S)
    duration_s = spikes.shape[1] * DT_S
    loss = L.cv_loss(m, 0.8) + L.firing_rate_loss(spikes.sum(dim=1), duration_s, 20.0)
    loss.backward()
    for p in (bias, gain):
        assert torch.isfinite(p.grad).all()
        assert (p.grad.abs() > 0).all()


def test_age_path_gradient_matches_finite_differences_and_hand_value():
    hard = torch.zeros(1, 8, 1, dtype=torch.float64)
    hard[0, [1, 4, 6], 0] = 1.0
    dt_s = 1e-3

    def moments(scale):
        return L.isi_moments(scale * hard, dt_s)[0]

    scale = torch.ones((), dtype=torch.float64, requires_grad=True)
    m = moments(scale)
    h = 1e-6
    plus = moments(torch.tensor(1.0 + h, dtype=torch.float64))
    minus = moments(torch.tensor(1.0 - h, dtype=torch.float64))
    for field in ("count", "total", "total_sq"):
        (grad,) = torch.autograd.grad(getattr(m, field).sum(), scale, retain_graph=True)
        fd = (getattr(plus, field) - getattr(minus, field)).sum() / (2 * h)
        assert torch.allclose(grad, fd, rtol=1e-6, atol=1e-12), field
        if field == "total":
            # total = s4 a4 + s6 a6, a4 = 4 - scale, a6 = (1-scale)(4-scale) + 2 (ms)
            assert grad.item() == pytest.approx(1.0 * dt_s, rel=1e-12)


def test_gradient_at_steps_without_a_spike_rewards_a_new_interval():
    # spikes at 1, 4, 6 (dt = 1 ms): an added spike counts after the first spike; inside the
    # train it splits an interval (total unchanged); after the last one it adds its age
    s = torch.zeros(1, 9, 1, dtype=torch.float64)
    s[0, [1, 4, 6], 0] = 1.0
    s.requires_grad_()
    m, _ = L.isi_moments(s, 1e-3)
    (d_count,) = torch.autograd.grad(m.count.sum(), s, retain_graph=True)
    (d_total,) = torch.autograd.grad(m.total.sum(), s)
    assert d_count.flatten().tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1]
    # step 0: before any spike; 2, 3, 5: inside; 7, 8: ages 1 and 2 ms after the last spike
    assert np.allclose(d_total.flatten().numpy(), [0, -1e-3, 0, 0, 0, 0, 2e-3, 1e-3, 2e-3],
                       atol=1e-15)


def test_isi_moments_pass_gradcheck_at_binary_spikes():
    s = torch.zeros(2, 12, 2, dtype=torch.float64)
    s[0, [0, 3, 4, 9], 0] = s[1, [2, 11], 0] = s[0, [5, 7], 1] = 1.0
    s.requires_grad_()
    age0 = torch.tensor([[0.002, 0.0], [0.001, 0.004]], dtype=torch.float64, requires_grad=True)
    seen0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)

    def f(spikes, age):
        m, state = L.isi_moments(spikes, 1e-3, L.AgeState(age, seen0))
        return (*m, state.age_s)

    assert torch.autograd.gradcheck(f, (s, age0))


@pytest.mark.parametrize("case", ["silent", "one_spike", "one_interval", "all_spiking", "regular"])
def test_no_nan_in_losses_or_gradients(case):
    n_steps, n = 200, 4
    pattern = torch.zeros(n_steps, n)
    if case == "one_spike":
        pattern[50] = 1.0
    elif case == "one_interval":
        pattern[[50, 120]] = 1.0
    elif case == "all_spiking":
        pattern[:] = 1.0
    elif case == "regular":
        pattern[::10] = 1.0
    offset = torch.nn.Parameter(torch.zeros(n))
    potential = 2.0 * pattern.unsqueeze(0) + offset      # above threshold 1 where pattern is 1
    spikes = straight_through(potential)
    m, state = L.isi_moments(spikes, DT_S)
    cv, valid = L.cv_from_moments(m)
    rate_hz = spikes.sum(dim=1).mean(0) / (n_steps * DT_S)
    loss = (L.cv_loss(m, 0.5) + L.firing_rate_loss(spikes.sum(dim=1), n_steps * DT_S, 10.0)
            + L.silent_penalty(rate_hz)
            + L.van_rossum_distance(spikes, torch.zeros_like(spikes), DT_S))
    loss.backward()
    assert torch.isfinite(cv).all() and torch.isfinite(loss) and torch.isfinite(offset.grad).all()
    assert torch.isfinite(state.age_s).all()
    if case in ("silent", "one_spike", "one_interval"):
        assert not valid.any() and (cv == 0).all()
    if case in ("all_spiking", "regular"):
        assert valid.all() and (cv.abs() < 1e-6).all()


# ----------------------------------------------------------------------------- CV and CV loss
def test_cv_from_moments_is_the_population_cv_and_zero_when_invalid():
    rng = np.random.default_rng(4)
    isis = [rng.gamma(2.0, 0.01, size=k) for k in (0, 1, 2, 5, 40)]
    m = L.ISIMoments(torch.tensor([float(x.size) for x in isis], dtype=torch.float64),
                     torch.tensor([x.sum() for x in isis], dtype=torch.float64),
                     torch.tensor([(x ** 2).sum() for x in isis], dtype=torch.float64))
    cv, valid = L.cv_from_moments(m)
    assert valid.tolist() == [False, False, True, True, True]
    assert np.allclose(cv.numpy(), [0, 0] + [np.std(x) / np.mean(x) for x in isis[2:]], rtol=1e-10)


def test_cv_loss_uses_the_constant_for_neurons_without_two_intervals():
    m = L.ISIMoments(torch.tensor([3.0, 1.0, 0.0]), torch.tensor([0.6, 0.1, 0.0]),
                     torch.tensor([0.14, 0.01, 0.0]))
    cv = np.std([0.1, 0.2, 0.3]) / 0.2
    expected = ((cv - 0.5) ** 2 + 14.0) / 3
    assert L.cv_loss(m, 0.5, high_loss=7.0).item() == pytest.approx(expected, rel=1e-6)
    per_neuron = L.cv_loss(m, torch.tensor([1.0, 0.0, 0.0]), high_loss=0.0).item()
    assert per_neuron == pytest.approx((cv - 1.0) ** 2 / 3, rel=1e-6)


# ----------------------------------------------------------------------------- rates
def test_firing_rate_loss_matches_numpy():
    rng = np.random.default_rng(5)
    counts = rng.poisson(30.0, size=(4, 10)).astype(np.float64)
    target = rng.uniform(5.0, 40.0, size=10)
    duration_s = 1.5
    rate = counts.mean(axis=0) / duration_s
    expected = np.mean(((rate - target) / target) ** 2)
    got = L.firing_rate_loss(torch.as_tensor(counts), duration_s, torch.as_tensor(target))
    assert got.item() == pytest.approx(expected, rel=1e-12)
    got_1d = L.firing_rate_loss(torch.as_tensor(counts[0]), duration_s, 12.0)
    expected_1d = np.mean((counts[0] / duration_s / 12.0 - 1.0) ** 2)
    assert got_1d.item() == pytest.approx(expected_1d, rel=1e-12)


def test_silent_penalty_matches_numpy():
    rates = np.random.default_rng(6).uniform(0.0, 50.0, size=(3, 7))
    got = L.silent_penalty(torch.as_tensor(rates), alpha=0.05)
    assert got.item() == pytest.approx(np.mean(np.exp(-0.05 * rates)), rel=1e-12)


def test_per_type_mean_and_rate_loss_match_numpy():
    rng = np.random.default_rng(7)
    cell_type = np.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 0])
    counts = rng.poisson(20.0, size=(3, 10)).astype(np.float64)
    values = rng.normal(size=10)
    got = L.per_type_mean(torch.as_tensor(values), torch.as_tensor(cell_type), 3)
    assert np.allclose(got.numpy(), [values[cell_type == k].mean() for k in range(3)], rtol=1e-12)
    target = np.array([8.0, 15.0, 30.0])
    rate = counts.mean(axis=0) / 2.0
    type_rate = np.array([rate[cell_type == k].mean() for k in range(3)])
    expected = np.mean(((type_rate - target) / target) ** 2)
    got = L.per_type_rate_loss(torch.as_tensor(counts), 2.0, cell_type, target)
    assert got.item() == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- membrane
@pytest.mark.parametrize("per_neuron_threshold", [False, True])
def test_membrane_variance_loss_matches_numpy(per_neuron_threshold):
    rng = np.random.default_rng(8)
    v = rng.normal(-60.0, 3.0, size=(2, 300, 5)) + rng.normal(0, 2, size=5)
    threshold = rng.uniform(-52.0, -48.0, size=5) if per_neuron_threshold else -50.0
    flat = v.reshape(-1, 5)
    expected = np.mean((flat.std(axis=0) / (threshold - flat.mean(axis=0)) - 0.8) ** 2)
    got = L.membrane_variance_loss(torch.as_tensor(v), torch.as_tensor(threshold), 0.8)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_membrane_variance_loss_floors_the_gap_and_survives_constant_potential():
    v = torch.full((1, 50, 2), -40.0, dtype=torch.float64)
    v[0, ::2, 1] = -38.0                                 # neuron 1 fluctuates, mean -39 > threshold
    v.requires_grad_()
    loss = L.membrane_variance_loss(v, -45.0, 0.8, min_gap=0.5)
    loss.backward()
    assert loss.item() == pytest.approx(((0 - 0.8) ** 2 + (1.0 / 0.5 - 0.8) ** 2) / 2, rel=1e-12)
    assert torch.isfinite(v.grad).all()


# ----------------------------------------------------------------------------- van Rossum
def numpy_van_rossum(s, t, dt_s, tau_s):
    n_steps = s.shape[1]
    lag = np.arange(n_steps)[:, None] - np.arange(n_steps)[None, :]       # t - k
    kernel = np.where(lag >= 0, np.exp(-np.maximum(lag, 0) * dt_s / tau_s), 0.0)
    f = np.einsum("tk,bkn->btn", kernel, s)
    g = np.einsum("tk,bkn->btn", kernel, t)
    return ((f - g) ** 2).sum(axis=1).mean() * dt_s / tau_s


def test_van_rossum_distance_matches_a_direct_numpy_sum():
    rng = np.random.default_rng(9)
    s = (rng.random((2, 300, 4)) < 0.05).astype(np.float64)
    t = (rng.random((2, 300, 4)) < 0.05).astype(np.float64)
    got = L.van_rossum_distance(torch.as_tensor(s), torch.as_tensor(t), 1e-3, 0.01)
    assert got.item() == pytest.approx(numpy_van_rossum(s, t, 1e-3, 0.01), rel=1e-10)


def test_van_rossum_distance_is_zero_for_identical_trains_and_grows_with_a_shift():
    target = torch.zeros(1, 500, 1, dtype=torch.float64)
    target[0, 100, 0] = 1.0
    assert L.van_rossum_distance(target, target, 1e-3).item() == 0.0
    distances = []
    for shift in (1, 2, 5, 20, 100):
        s = torch.zeros_like(target)
        s[0, 100 + shift, 0] = 1.0
        distances.append(L.van_rossum_distance(s, target, 1e-3, 0.02).item())
    assert all(a < b for a, b in zip(distances, distances[1:]))
    # two spikes shift steps apart: dt/tau (2 - 2 r^shift) / (1 - r^2), r = exp(-dt/tau)
    # (continuous time: 1 - exp(-delta/tau))
    r = math.exp(-1 / 20)
    assert distances[2] == pytest.approx((2 - 2 * r ** 5) / (1 - r ** 2) / 20, rel=1e-10)
    assert distances[2] == pytest.approx(1 - math.exp(-5 / 20), rel=0.06)


def test_van_rossum_gradient_is_finite_and_flows_to_the_spikes():
    s = torch.zeros(1, 100, 2, dtype=torch.float64)
    s[0, 10, 0] = 1.0
    s.requires_grad_()
    L.van_rossum_distance(s, torch.zeros_like(s), 1e-3).backward()
    assert torch.isfinite(s.grad).all() and s.grad[0, 10, 0] > 0
    assert s.grad[0, :, 1].abs().sum() == 0


# ----------------------------------------------------------------------------- validation
SPIKES = torch.zeros(2, 10, 3)


@pytest.mark.parametrize("call, name", [
    (lambda: L.isi_moments(SPIKES, 0.0), "dt_s"),
    (lambda: L.isi_moments(SPIKES, -1e-3), "dt_s"),
    (lambda: L.isi_moments(SPIKES, float("nan")), "dt_s"),
    (lambda: L.isi_moments(SPIKES[0], 1e-3), "spikes"),
    (lambda: L.isi_moments(SPIKES.long(), 1e-3), "spikes"),
    (lambda: L.isi_moments(SPIKES, 1e-3, L.AgeState.zeros(3, 3)), "state.age_s"),
    (lambda: L.isi_moments(SPIKES, 1e-3, (torch.zeros(2, 3), torch.zeros(2, 3))), "state"),
    (lambda: L.cv_from_moments((1, 2, 3)), "m"),
    (lambda: L.cv_loss(L.ISIMoments.zeros(3), torch.ones(4)), "target_cv"),
    (lambda: L.cv_loss(L.ISIMoments.zeros(3), -0.5), "target_cv"),
    (lambda: L.cv_loss(L.ISIMoments.zeros(3), 0.5, high_loss=float("inf")), "high_loss"),
    (lambda: L.firing_rate_loss(torch.ones(3), 1.0, 0.0), "target_hz"),
    (lambda: L.firing_rate_loss(torch.ones(3), 1.0, torch.tensor([1.0, -2.0, 3.0])), "target_hz"),
    (lambda: L.firing_rate_loss(torch.ones(3), 1.0, torch.ones(2)), "target_hz"),
    (lambda: L.firing_rate_loss(torch.ones(3), 0.0, 1.0), "duration_s"),
    (lambda: L.firing_rate_loss(torch.ones(1, 2, 3), 1.0, 1.0), "counts"),
    (lambda: L.silent_penalty(torch.ones(3), alpha=-1.0), "alpha"),
    (lambda: L.membrane_variance_loss(SPIKES, torch.ones(4)), "threshold"),
    (lambda: L.membrane_variance_loss(SPIKES[0], 1.0), "v"),
    (lambda: L.membrane_variance_loss(SPIKES, 1.0, min_gap=0.0), "min_gap"),
    (lambda: L.van_rossum_distance(SPIKES, SPIKES[:, :5], 1e-3), "target_spikes"),
    (lambda: L.van_rossum_distance(SPIKES, SPIKES, 0.0), "dt_s"),
    (lambda: L.van_rossum_distance(SPIKES, SPIKES, 1e-3, tau_s=-0.02), "tau_s"),
    (lambda: L.per_type_mean(torch.ones(3), [0, 1], 2), "cell_type"),
    (lambda: L.per_type_mean(torch.ones(3), [0, 1, 2], 2), "cell_type"),
    (lambda: L.per_type_mean(torch.ones(3), [0, 0, 0], 2), "cell_type"),
    (lambda: L.per_type_mean(torch.ones(3), [0.0, 1.0, 1.0], 2), "cell_type"),
    (lambda: L.per_type_mean(torch.ones(3), [0, 1, 1], 0), "n_types"),
    (lambda: L.per_type_rate_loss(torch.ones(3), 1.0, [0, 1, 1], [2.0, 0.0]), "target_hz_per_type"),
    (lambda: L.linear_scan(torch.ones(1, 4, 2), torch.ones(1, 5, 2)), "c and d"),
    (lambda: L.linear_scan(torch.ones(1, 4, 2), torch.ones(1, 4, 2), torch.ones(2, 2)), "x0"),
])
def test_invalid_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        call()
