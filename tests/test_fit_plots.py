"""analysis.fit_plots: every figure of an E-I RNN fit writes a PNG and rejects wrong shapes."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.text import Text

from analysis import fit_plots
from figures import assert_png

C, T, N, N_E, D, K, H, N_IN = 3, 20, 12, 9, 2, 2, 2, 3
EMBED, HEADS = 8, 2  # attention embedding width and heads of the Q, K, V heatmaps
DT_MS = 25.0
LABELS = [1, 2, 3]


@pytest.fixture(autouse=True)
def no_open_figures():
    """Every function closes its figure: none are left open after a test."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


@pytest.fixture
def drawn(monkeypatch):
    """What each saved figure holds: its texts and the (rows, columns) of its subplot grids."""
    figures, save = [], fit_plots._save

    def capture(fig, path):
        figures.append({
            "texts": [t.get_text() for t in fig.findobj(Text)],
            "grids": [ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes
                      if ax.get_subplotspec() is not None],
        })
        return save(fig, path)
    monkeypatch.setattr(fit_plots, "_save", capture)
    return figures


def texts_with(figure, fragment):
    return [text for text in figure["texts"] if fragment in text]


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


def qkv(seed=20):
    """Q, K [EMBED, EMBED] and V [HEADS, EMBED], as the attention embedding stores them."""
    w = np.random.default_rng(seed).normal(0, EMBED ** -0.5, (2 * EMBED + HEADS, EMBED))
    return w[:EMBED], w[EMBED:2 * EMBED], w[2 * EMBED:]


CALLS = {
    "training_curves": lambda p: fit_plots.training_curves(training_log(), p, best_epoch=30),
    "loss_terms": lambda p: fit_plots.loss_terms(training_log(), p, best_epoch=30),
    "correlation_summary": lambda p: fit_plots.correlation_summary(
        rng_vector(5, -0.2, 1.0), is_excitatory(), rng_vector(6, 1, 30), rng_vector(7, 1, 30), p),
    "correlation_histogram": lambda p: fit_plots.correlation_histogram(
        rng_vector(5, -0.2, 1.0), is_excitatory(), p),
    "correlation_scatter": lambda p: fit_plots.correlation_scatter(
        rng_vector(5, -0.2, 1.0), is_excitatory(), rng_vector(7, 1, 30), p),
    "best_worst_psth": lambda p: fit_plots.best_worst_psth(
        *psths(), rng_vector(8, -0.5, 1.0), DT_MS, LABELS, p, n=3),
    "weight_matrices": lambda p: fit_plots.weight_matrices(*weights(), is_excitatory(), p),
    "h0_distribution": lambda p: fit_plots.h0_distribution(rng_vector(9, -1, 1),
                                                           is_excitatory(), p),
    "attention_patterns": lambda p: fit_plots.attention_patterns(attention(), LABELS, p),
    "qkv_heatmaps": lambda p: fit_plots.qkv_heatmaps(*qkv(), p),
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


def test_training_curves_has_the_plans_four_panels(tmp_path, drawn):
    """Loss, validation correlation, learning rate and best correlation; no loss terms."""
    fit_plots.training_curves(training_log(), tmp_path / "x.png")
    (figure,) = drawn
    assert figure["grids"] == [(2, 2)] * 4
    for title in ("Loss", "Validation PSTH correlation", "Learning rate",
                  "Best validation correlation"):
        assert texts_with(figure, title)
    assert not texts_with(figure, "Loss terms")


def test_best_correlation_star_at_the_given_best_epoch(tmp_path, drawn):
    """The annotation gives the correlation logged at best_epoch, and that epoch."""
    log = training_log()
    expected = f"r = {log['val_correlation'][29]:.3f}\nepoch 30"
    fit_plots.training_curves(log, tmp_path / "x.png", best_epoch=30)
    assert texts_with(drawn[0], expected)


def test_best_correlation_star_without_best_epoch_at_the_highest_finite_value(tmp_path, drawn):
    """Without best_epoch the star marks the highest finite correlation; NaN are ignored."""
    log = training_log(n_epochs=40)
    log["val_correlation"][np.arange(40) % 4 != 1] = np.nan  # validated at epochs 2, 6, ...
    log["val_correlation"][17] = 0.987                         # epoch 18, the highest
    fit_plots.training_curves(log, tmp_path / "x.png")
    assert texts_with(drawn[0], "r = 0.987\nepoch 18")


def test_best_epoch_chosen_by_loss_also_marks_the_highest_correlation(tmp_path, drawn):
    """A checkpoint below the highest correlation: the highest is named in the legend."""
    log = training_log()
    log["val_correlation"][9] = 0.995  # epoch 10, above the correlation at the best epoch 30
    fit_plots.training_curves(log, tmp_path / "x.png", best_epoch=30)
    assert texts_with(drawn[0], "highest r = 0.995 (epoch 10)")


def test_loss_terms_needs_only_the_epoch_and_the_terms(tmp_path):
    log = {key: training_log()[key] for key in ("epoch", "L_neuron", "L_trial", "L_reg")}
    path = tmp_path / "terms.png"
    assert_png(fit_plots.loss_terms(log, path), path)
    del log["L_trial"]
    with pytest.raises(ValueError, match="L_trial"):
        fit_plots.loss_terms(log, path)
    with pytest.raises(TypeError, match="log"):
        fit_plots.loss_terms([1.0, 2.0], path)


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


def test_best_worst_psth_default_grid_is_two_rows_of_four(tmp_path, drawn):
    """Best on the top row, worst on the bottom, 4 columns by default."""
    model, target = psths()
    r = rng_vector(8, -0.5, 1.0)
    fit_plots.best_worst_psth(model, target, r, DT_MS, LABELS, tmp_path / "x.png")
    (figure,) = drawn
    assert figure["grids"] == [(2, 4)] * 8
    best = np.argmax(r)
    assert texts_with(figure, f"neuron {best}, r = {r[best]:.3f}")


def test_best_worst_psth_has_fewer_columns_only_with_fewer_neurons(tmp_path, drawn):
    model, target = psths()
    r = rng_vector(8)
    r[3:] = np.nan  # three neurons with a finite correlation
    fit_plots.best_worst_psth(model, target, r, DT_MS, LABELS, tmp_path / "x.png")
    assert drawn[0]["grids"] == [(2, 3)] * 6


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
    q, k, v = qkv()
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
        "fano_comparison: 2-D model": ("fano_model", lambda: (
            fit_plots.fano_comparison(np.ones((2, N)), r, mask, p))),
        "loss_terms: unequal lengths": ("L_neuron", lambda: (
            fit_plots.loss_terms({**training_log(), "L_neuron": np.ones(3)}, p))),
        "correlation_histogram: 2-D": ("correlations", lambda: (
            fit_plots.correlation_histogram(np.ones((2, N)), mask, p))),
        "correlation_histogram: short mask": ("is_excitatory", lambda: (
            fit_plots.correlation_histogram(r, mask[:-1], p))),
        "correlation_scatter: short rate": ("mean_rate_hz", lambda: (
            fit_plots.correlation_scatter(r, mask, r[:-1], p))),
        "correlation_scatter: 2-D rate": ("mean_rate_hz", lambda: (
            fit_plots.correlation_scatter(r, mask, np.ones((N, 1)), p))),
        "correlation_scatter: short mask": ("is_excitatory", lambda: (
            fit_plots.correlation_scatter(r, mask[1:], r, p))),
        "qkv_heatmaps: 1-D q": ("^q must", lambda: fit_plots.qkv_heatmaps(q[0], k, v, p)),
        "qkv_heatmaps: q not square": ("^q must", lambda: fit_plots.qkv_heatmaps(q[:-1], k, v, p)),
        "qkv_heatmaps: empty q": ("^q must", lambda: (
            fit_plots.qkv_heatmaps(np.ones((0, 0)), k, v, p))),
        "qkv_heatmaps: k shape": ("^k must", lambda: fit_plots.qkv_heatmaps(q, k[:-1, :-1], v, p)),
        "qkv_heatmaps: 3-D k": ("^k must", lambda: fit_plots.qkv_heatmaps(q, k[None], v, p)),
        "qkv_heatmaps: v columns": ("^v must", lambda: fit_plots.qkv_heatmaps(q, k, v[:, :-1], p)),
        "qkv_heatmaps: 1-D v": ("^v must", lambda: fit_plots.qkv_heatmaps(q, k, v[0], p)),
        "qkv_heatmaps: no heads": ("^v must", lambda: (
            fit_plots.qkv_heatmaps(q, k, np.ones((0, EMBED)), p))),
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


def all_nan(p):
    """Calls whose data are NaN throughout (epochs and masks excepted)."""
    nan, mask = np.full(N, np.nan), is_excitatory()
    log = {key: np.full(20, np.nan) for key in fit_plots.LOG_KEYS}
    log["epoch"] = np.arange(1.0, 21.0)
    model, target = psths()
    q, k, v = (np.full_like(w, np.nan) for w in qkv())
    return {
        "training_curves": lambda: fit_plots.training_curves(log, p, best_epoch=10),
        "loss_terms": lambda: fit_plots.loss_terms(log, p),
        "correlation_histogram": lambda: fit_plots.correlation_histogram(nan, mask, p),
        "correlation_scatter": lambda: fit_plots.correlation_scatter(nan, mask, nan, p),
        "best_worst_psth": lambda: fit_plots.best_worst_psth(model, target, nan, DT_MS,
                                                             LABELS, p),
        "qkv_heatmaps": lambda: fit_plots.qkv_heatmaps(q, k, v, p),
        "fano_comparison": lambda: fit_plots.fano_comparison(nan, nan, mask, p),
    }


@pytest.mark.parametrize("name", sorted(all_nan(None)))
def test_all_nan_input_draws_a_figure_that_says_so(tmp_path, drawn, name):
    """No finite value at all: still a PNG, with a note instead of an empty panel."""
    path = tmp_path / f"{name}.png"
    assert_png(all_nan(path)[name](), path)
    assert texts_with(drawn[0], "no finite") or texts_with(drawn[0], "finite correlation")


def test_fano_distributions_state_both_medians(tmp_path, drawn):
    """Panel (b) writes each distribution's median under it."""
    real = np.linspace(0.5, 1.5, N)   # median 1.00
    model = 2 * real                  # median 2.00
    fit_plots.fano_comparison(model, real, is_excitatory(), tmp_path / "x.png")
    (figure,) = drawn
    assert figure["grids"] == [(1, 2)] * 2
    assert texts_with(figure, "recorded\nmedian 1.00")
    assert texts_with(figure, "model\nmedian 2.00")


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
