"""analysis.fit_plots: every figure of an E-I RNN fit writes a PNG and rejects wrong shapes."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis import fit_plots
from figures import assert_png

C, T, N, N_E, D, K, H, N_IN = 3, 20, 12, 9, 2, 2, 2, 3
DT_MS = 25.0
LABELS = [1, 2, 3]


@pytest.fixture(autouse=True)
def no_open_figures():
    """Every function closes its figure: none are left open after a test."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def is_excitatory():
    return np.arange(N) < N_E


def training_log(n_epochs=50, seed=0):
    rng = np.random.default_rng(seed)
    epoch = np.arange(1, n_epochs + 1, dtype=float)
    decay = np.exp(-epoch / 20)
    return {"epoch": epoch, "train_loss": decay + 0.1 * rng.random(n_epochs),
            "val_loss": decay + 0.2, "val_correlation": 0.9 - 0.9 * decay,
            "learning_rate": np.full(n_epochs, 1e-3), "L_neuron": decay + 0.05,
            "L_trial": 0.5 * decay + 0.05, "L_reg": np.full(n_epochs, 1e-3)}


def psths(seed=1):
    """Recorded PSTHs as bumps, the model as a noisy copy: shape [C, T, N] each, in Hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[None, :, None]
    centre = rng.uniform(0, T, (C, 1, N))
    target = 5 + 20 * np.exp(-(t - centre) ** 2 / 18)
    model = np.clip(target + rng.normal(0, 3, target.shape), 0, None)
    return model, target


def pca(seed=2, k=4):
    rng = np.random.default_rng(seed)
    real = np.cumsum(rng.normal(size=(C, T, k)), axis=1)
    model = real + rng.normal(0, 0.3, real.shape)
    ratio = np.sort(rng.dirichlet(np.ones(k + 2)))[::-1][:k]
    return real, model, ratio


def attention(seed=3):
    weights = np.random.default_rng(seed).gamma(1.0, 1.0, (C, H, N_IN, N_IN))
    return weights / weights.sum(axis=-1, keepdims=True)


def weights(seed=4):
    rng = np.random.default_rng(seed)
    w_rec = np.abs(rng.normal(0, 0.2, (N, N))) * np.where(is_excitatory(), 1.0, -3.0)
    return w_rec, rng.normal(size=(N, D)), rng.normal(size=(K, N_E))


def rng_vector(seed, low=0.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, N)


CALLS = {
    "training_curves": lambda p: fit_plots.training_curves(training_log(), p, best_epoch=30),
    "correlation_summary": lambda p: fit_plots.correlation_summary(
        rng_vector(5, -0.2, 1.0), is_excitatory(), rng_vector(6, 1, 30), rng_vector(7, 1, 30), p),
    "best_worst_psth": lambda p: fit_plots.best_worst_psth(
        *psths(), rng_vector(8, -0.5, 1.0), DT_MS, LABELS, p, n=3),
    "weight_matrices": lambda p: fit_plots.weight_matrices(*weights(), is_excitatory(), p),
    "h0_distribution": lambda p: fit_plots.h0_distribution(rng_vector(9, -1, 1),
                                                           is_excitatory(), p),
    "attention_patterns": lambda p: fit_plots.attention_patterns(attention(), LABELS, p),
    "pca_trajectories": lambda p: fit_plots.pca_trajectories(*pca(), DT_MS, LABELS, p),
    "pca_state_space": lambda p: fit_plots.pca_state_space(*pca(), LABELS, p),
    "fano_comparison": lambda p: fit_plots.fano_comparison(rng_vector(10, 0.3, 3),
                                                           rng_vector(11, 0.3, 3),
                                                           is_excitatory(), p),
}


# --------------------------------------------------------------------------- every function
@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_figure_is_written_as_a_png_in_new_folders(tmp_path, name):
    """Each function writes a PNG at the path asked, creating missing folders, and returns it."""
    path = tmp_path / "new" / f"{name}.png"
    assert_png(CALLS[name](path), path)


# --------------------------------------------------------------------------- training_curves
def test_training_curves_with_a_single_epoch(tmp_path):
    """A log of one epoch (and a best epoch equal to it) still draws every panel."""
    path = tmp_path / "one_epoch.png"
    assert_png(fit_plots.training_curves(training_log(n_epochs=1), path, best_epoch=1), path)


def test_training_curves_with_nan_and_non_positive_values(tmp_path):
    """Sparse validation (NaN between), an all-NaN term and a zero loss term are accepted."""
    log = training_log(n_epochs=40)
    log["val_loss"][np.arange(40) % 5 != 0] = np.nan
    log["val_correlation"][np.arange(40) % 5 != 0] = np.nan
    log["L_reg"] = np.zeros(40)           # no regularisation: nothing positive for the log axis
    log["L_trial"] = np.full(40, np.nan)  # term not logged
    path = tmp_path / "nan.png"
    assert_png(fit_plots.training_curves(log, path), path)


def test_training_curves_rejects_missing_keys_and_unequal_lengths(tmp_path):
    log = training_log()
    del log["L_reg"]
    with pytest.raises(ValueError, match="L_reg"):
        fit_plots.training_curves(log, tmp_path / "x.png")
    log = training_log()
    log["val_loss"] = log["val_loss"][:-1]
    with pytest.raises(ValueError, match=r"val_loss.*\(49,\)"):
        fit_plots.training_curves(log, tmp_path / "x.png")


# --------------------------------------------------------------------------- best_and_worst
def test_best_and_worst_ignores_nan_and_orders_by_correlation():
    """Best in decreasing, worst in increasing order of r; NaN never chosen."""
    r = [0.3, np.nan, 0.95, -0.4, 0.7, np.nan, 0.1, 0.8]
    best, worst = fit_plots.best_and_worst(r, 3)
    assert best.tolist() == [2, 7, 4]
    assert worst.tolist() == [3, 6, 0]


def test_best_and_worst_caps_n_by_the_finite_values():
    best, worst = fit_plots.best_and_worst([np.nan, 0.5, 0.2], 4)
    assert best.tolist() == [1, 2]
    assert worst.tolist() == [2, 1]


def test_best_worst_psth_with_n_above_the_number_of_neurons(tmp_path):
    """n larger than N (and NaN correlations) gives one column per finite neuron."""
    model, target = psths()
    r = rng_vector(12)
    r[:N - 2] = np.nan
    path = tmp_path / "few.png"
    assert_png(fit_plots.best_worst_psth(model, target, r, DT_MS, LABELS, path, n=10), path)


# --------------------------------------------------------------------------- shape checks
def bad_calls(p):
    """Calls whose inputs disagree in shape, each with the argument the error must name."""
    model, target = psths()
    real, pca_model, ratio = pca()
    w_rec, w_in, w_out = weights()
    mask, r = is_excitatory(), rng_vector(13)
    return {
        "correlation_summary: short rates": ("mean_rate_model_hz", lambda: (
            fit_plots.correlation_summary(r, mask, r[:-1], r, p))),
        "correlation_summary: short mask": ("is_excitatory", lambda: (
            fit_plots.correlation_summary(r, mask[:-1], r, r, p))),
        "best_worst_psth: target [C, T]": ("target_psth_hz", lambda: (
            fit_plots.best_worst_psth(model, target[..., 0], r, DT_MS, LABELS, p))),
        "best_worst_psth: correlations": ("correlations", lambda: (
            fit_plots.best_worst_psth(model, target, r[:-1], DT_MS, LABELS, p))),
        "best_worst_psth: labels": ("condition_labels", lambda: (
            fit_plots.best_worst_psth(model, target, r, DT_MS, LABELS[:-1], p))),
        "weight_matrices: w_rec not square": ("w_rec", lambda: (
            fit_plots.weight_matrices(w_rec[:-1], w_in, w_out, mask, p))),
        "weight_matrices: w_in rows": ("w_in", lambda: (
            fit_plots.weight_matrices(w_rec, w_in[:-1], w_out, mask, p))),
        "weight_matrices: w_out over all units": ("w_out", lambda: (
            fit_plots.weight_matrices(w_rec, w_in, np.ones((K, N)), mask, p))),
        "h0_distribution: 2-D h0": ("h0", lambda: (
            fit_plots.h0_distribution(np.ones((2, N)), mask, p))),
        "attention_patterns: 3-D": ("mean_weights", lambda: (
            fit_plots.attention_patterns(attention()[0], LABELS, p))),
        "attention_patterns: not square": ("mean_weights", lambda: (
            fit_plots.attention_patterns(attention()[..., :-1], LABELS, p))),
        "attention_patterns: input names": ("input_names", lambda: (
            fit_plots.attention_patterns(attention(), LABELS, p, input_names=["a"]))),
        "pca_trajectories: model shape": ("pca_model", lambda: (
            fit_plots.pca_trajectories(real, pca_model[:, :-1], ratio, DT_MS, LABELS, p))),
        "pca_trajectories: ratio": ("explained_variance_ratio", lambda: (
            fit_plots.pca_trajectories(real, pca_model, ratio[:2], DT_MS, LABELS, p))),
        "pca_state_space: one component": ("pca_real", lambda: (
            fit_plots.pca_state_space(real[..., :1], pca_model[..., :1], ratio, LABELS, p))),
        "fano_comparison: lengths": ("fano_real", lambda: (
            fit_plots.fano_comparison(r, r[:-1], mask, p))),
    }


@pytest.mark.parametrize("case", sorted(bad_calls(None)))
def test_shape_mismatches_raise_value_error_naming_the_argument(tmp_path, case):
    """The message names the argument that disagrees, and no file is written."""
    path = tmp_path / "bad.png"
    argument, call = bad_calls(path)[case]
    with pytest.raises(ValueError, match=argument):
        call()
    assert not path.exists()


def test_is_excitatory_must_be_boolean(tmp_path):
    with pytest.raises(TypeError, match="is_excitatory"):
        fit_plots.h0_distribution(rng_vector(14), is_excitatory().astype(int), tmp_path / "x.png")


# --------------------------------------------------------------------------- missing values
def test_nan_and_non_positive_values_are_skipped(tmp_path):
    """NaN correlations, NaN h0 and NaN / zero / negative Fano factors still give PNGs."""
    mask, r = is_excitatory(), rng_vector(15)
    r[[0, N - 1]] = np.nan
    path = tmp_path / "corr.png"
    assert_png(fit_plots.correlation_summary(r, mask, rng_vector(16), rng_vector(17), path), path)
    path = tmp_path / "h0.png"
    assert_png(fit_plots.h0_distribution(r, mask, path), path)
    fano = rng_vector(18, 0.5, 2.0)
    fano[:3] = [np.nan, 0.0, -1.0]
    path = tmp_path / "fano.png"
    assert_png(fit_plots.fano_comparison(fano, rng_vector(19, 0.5, 2.0), mask, path), path)


def test_all_excitatory_network_and_long_trials(tmp_path):
    """No I unit at all, and a trial of several seconds (time axis in s), are drawn."""
    mask = np.ones(N, dtype=bool)
    w_rec, w_in, _ = weights()
    path = tmp_path / "all_e.png"
    assert_png(fit_plots.weight_matrices(np.abs(w_rec), w_in, np.ones((K, N)), mask, path), path)
    real, model, ratio = pca()
    path = tmp_path / "long.png"
    assert_png(fit_plots.pca_trajectories(real, model, ratio, 500.0, LABELS, path,
                                          n_components=5), path)
