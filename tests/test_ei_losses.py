"""Losses of the activity fit (training.losses) against scipy, brute force and by hand."""
import itertools

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from analysis.population import psth, smooth as np_smooth
from training import losses as L


def activity(seed=0, trials=12, time=30, neurons=10):
    return torch.as_tensor(np.random.default_rng(seed).gamma(2.0, 0.2, (trials, time, neurons)))


def stats_for(x, conditions, n_conditions=3, sigma=1.5):
    e_mask = torch.arange(x.shape[-1]) < int(0.8 * x.shape[-1])
    return L.data_stats(x, conditions, n_conditions, e_mask, sigma)


# ----------------------------------------------------------------------------- smoothing
@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.5, 12.0])
def test_smoothing_matches_scipy_reflect(sigma):
    x = activity(time=20)
    expected = gaussian_filter1d(x.numpy(), sigma, axis=1, mode="reflect", truncate=4.0)
    assert np.allclose(L.smooth(x, sigma).numpy(), expected, atol=1e-12)
    assert np.allclose(np_smooth(x.numpy(), sigma, axis=1), expected, atol=1e-12)


def test_no_smoothing_is_identity():
    x = activity()
    assert L.smooth(x, 0) is x


def test_condition_means_match_numpy_psth():
    x = activity()
    conditions = torch.as_tensor(np.arange(12) % 3)
    assert np.allclose(L.condition_means(x, conditions, 3).numpy(),
                       psth(x.numpy(), conditions.numpy()))


# ----------------------------------------------------------------------------- L_neuron
def test_neuron_loss_is_zero_for_the_data_and_z_scored_otherwise():
    x = activity()
    c = torch.as_tensor(np.arange(12) % 3)
    stats = stats_for(x, c)
    target = L.smooth(L.condition_means(x, c, 3), stats.sigma_bins)
    assert float(L.neuron_loss(x, target, c, stats)) == pytest.approx(0.0, abs=1e-20)
    shifted = x + 0.1          # every PSTH moves by 0.1: loss = mean((0.1 / std_i)^2)
    expected = np.mean((0.1 / stats.std.numpy()) ** 2)
    assert float(L.neuron_loss(shifted, target, c, stats)) == pytest.approx(expected, rel=1e-9)


# ----------------------------------------------------------------------------- L_trial
def trial_setup(seed=0):
    x = activity(seed, trials=12)
    c = torch.as_tensor(np.arange(12) % 3)
    stats = stats_for(x, c)
    return x, c, stats, L.trial_signals(x, stats)


def test_trial_loss_is_zero_for_identical_trial_sets():
    x, c, stats, signals = trial_setup()
    assert float(L.trial_loss(x, signals, c, stats)) == pytest.approx(0.0, abs=1e-24)


def test_trial_loss_is_invariant_to_trial_order():
    x, c, stats, signals = trial_setup()
    model = activity(7, trials=12)
    base = float(L.trial_loss(model, signals, c, stats))
    order = torch.as_tensor(np.random.default_rng(3).permutation(12))
    assert float(L.trial_loss(model[order], signals, c[order], stats, c)) == pytest.approx(base)
    # the recorded trials shuffled too
    other = torch.as_tensor(np.random.default_rng(4).permutation(12))
    assert float(L.trial_loss(model, signals[other], c, stats, c[other])) == pytest.approx(base)
    # and a shuffled copy of the data still matches perfectly
    assert float(L.trial_loss(x[order], signals, c[order], stats, c)) == pytest.approx(0.0, abs=1e-20)


def test_trial_matching_is_the_best_permutation():
    """The Hungarian pairing against brute force over all pairings of one condition."""
    rng = np.random.default_rng(5)
    model = torch.as_tensor(rng.normal(size=(5, 20, 2)))
    target = torch.as_tensor(rng.normal(size=(5, 20, 2)))
    rows, cols, cost = L.match_trials(model, target)
    cost = cost.numpy()
    best = min(sum(cost[i, p[i]] for i in range(5)) for p in itertools.permutations(range(5)))
    assert cost[rows.numpy(), cols.numpy()].sum() == pytest.approx(best)
    direct = ((model[:, None] - target[None]) ** 2).mean(dim=(2, 3)).numpy()
    assert np.allclose(cost, direct)


def test_trial_loss_prefers_the_right_distribution():
    """A model with the data's trial-to-trial spread beats one that only has the mean."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 40)
    amplitude = rng.uniform(0.5, 1.5, size=(60, 1, 1))
    data = torch.as_tensor(amplitude * np.sin(3 * t)[None, :, None] ** 2 + 0.1 * np.ones((1, 1, 6)))
    c = torch.zeros(60, dtype=torch.int64)
    stats = L.data_stats(data, c, 1, torch.ones(6, dtype=bool), 1.0)
    signals = L.trial_signals(data, stats)
    varied = torch.as_tensor(rng.uniform(0.5, 1.5, size=(60, 1, 1))
                             * np.sin(3 * t)[None, :, None] ** 2 + 0.1 * np.ones((1, 1, 6)))
    mean_only = data.mean(dim=0, keepdim=True).expand(60, -1, -1)
    assert float(L.trial_loss(varied, signals, c, stats)) < \
        float(L.trial_loss(mean_only, signals, c, stats)) / 3


def test_trial_loss_has_gradients():
    x, c, stats, signals = trial_setup()
    model = activity(9).requires_grad_(True)
    L.trial_loss(model, signals, c, stats).backward()
    assert torch.isfinite(model.grad).all() and model.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- regularisers
def test_regularisers_by_hand():
    w = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    assert float(L.weight_loss(w, torch.tensor([3.0]))) == pytest.approx(1 + 4 + 0.25 + 9)
    rates = torch.full((2, 3, 4), 2.0)
    assert float(L.rate_scale_loss(rates, 2.0)) == 0.0
    assert float(L.rate_scale_loss(rates, 1.0)) == pytest.approx(1.0)
    c = torch.tensor([0, 0])
    target_var = L.across_trial_variance(activity(1, trials=2), c, 1, 0.0)
    assert float(L.variance_loss(activity(1, trials=2), c, target_var, 1, 0.0)) == 0.0
    # across-trial variance of two trials a, b: ((a - b) / 2)^2 per bin
    a, b = torch.zeros(1, 5, 1), torch.full((1, 5, 1), 2.0)
    assert float(L.across_trial_variance(torch.cat([a, b]), c, 1, 0.0)) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- balancing
def test_balancer_is_invariant_to_the_scale_of_each_loss():
    x = torch.tensor([0.3, -1.0, 2.0], requires_grad=True)

    def combined(scale_a, scale_b):
        balancer = L.GradientBalancer(momentum=0.0)
        (g,) = balancer.combine({"a": scale_a * (x ** 2).sum(), "b": scale_b * x.sum()}, [x],
                                {"a": 1.0, "b": 0.5})
        return g
    assert torch.allclose(combined(1.0, 1.0), combined(1000.0, 0.001))


def test_balancer_running_norm_and_state():
    x = torch.tensor([3.0, 4.0], requires_grad=True)
    balancer = L.GradientBalancer(momentum=0.5)
    balancer.combine({"a": x @ x}, [x], {"a": 1.0})          # |grad| = |2x| = 10
    balancer.combine({"a": 0.5 * (x @ x)}, [x], {"a": 1.0})   # |grad| = 5
    assert balancer.norms["a"] == pytest.approx(7.5)
    restored = L.GradientBalancer()
    restored.load_state_dict(balancer.state_dict())
    assert restored.norms == balancer.norms and restored.momentum == 0.5
    with pytest.raises(ValueError, match="momentum"):
        L.GradientBalancer(momentum=1.0)


def test_smoothing_once_gives_the_same_losses():
    """Smoothing commutes with trial averaging: pre-smoothed inputs give the same terms."""
    x, c, stats, signals = trial_setup()
    model = activity(11, trials=12)
    s = L.smooth(model, stats.sigma_bins)
    target = L.smooth(L.condition_means(x, c, 3), stats.sigma_bins)
    assert float(L.neuron_loss(s, target, c, stats, smoothed=True)) == \
        pytest.approx(float(L.neuron_loss(model, target, c, stats)), rel=1e-12)
    assert float(L.trial_loss(s, signals, c, stats, smoothed=True)) == \
        pytest.approx(float(L.trial_loss(model, signals, c, stats)), rel=1e-12)
    v = L.across_trial_variance(x, c, 3, stats.sigma_bins)
    assert float(L.variance_loss(s, c, v, 3, stats.sigma_bins, smoothed=True)) == \
        pytest.approx(float(L.variance_loss(model, c, v, 3, stats.sigma_bins)), rel=1e-12)


def test_poisson_variance_matches_simulated_counts():
    """The counting-noise variance of smoothed rates against Monte Carlo Poisson counts."""
    rng = np.random.default_rng(0)
    rate, counts_per_rate, sigma = 0.6, 3.0, 1.5      # expected count per bin: 1.8
    counts = rng.poisson(rate * counts_per_rate, size=(4000, 60, 3))
    estimated = torch.as_tensor(counts / counts_per_rate)
    smoothed = L.smooth(estimated, sigma)[:, 10:-10]  # away from the reflected edges
    measured = smoothed.var(dim=0).mean(dim=0)
    predicted = L.poisson_variance(torch.full((4000, 60, 3), rate, dtype=torch.float64),
                                   counts_per_rate, sigma)
    assert np.allclose(measured.numpy(), predicted.numpy(), rtol=0.05)


def test_variance_loss_does_not_ask_rates_to_carry_counting_noise():
    """Noise-free rates equal to the truth score best once the Poisson variance is added."""
    rng = np.random.default_rng(1)
    truth = torch.as_tensor(rng.uniform(0.3, 0.9, size=(1, 30, 4))).expand(200, -1, -1)
    counts_per_rate = 2.0
    recorded = torch.as_tensor(rng.poisson(truth.numpy() * counts_per_rate) / counts_per_rate)
    c = torch.zeros(200, dtype=torch.int64)
    target = L.across_trial_variance(recorded, c, 1, 1.0)
    corrected = float(L.variance_loss(truth, c, target, 1, 1.0, counts_per_rate=counts_per_rate))
    plain = float(L.variance_loss(truth, c, target, 1, 1.0))
    assert corrected < 0.05 < plain
