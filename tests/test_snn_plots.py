"""analysis.snn_plots: the statistics helpers against hand-computed values, and every figure
writes a real PNG for realistic inputs and for edge cases, and rejects mismatched shapes."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.sparse as sp

from analysis import snn_plots
from analysis.spikes import cv_isi, fano_factor, firing_rates
from figures import assert_png

N_NEURONS, N_E, N_INPUTS, N_STEPS, DT_S = 500, 400, 150, 4000, 5e-4  # 2 s of 0.5 ms steps
E, I = "excitatory", "inhibitory"


@pytest.fixture(autouse=True)
def no_open_figures():
    """Every function closes its figure: none are left open after a test."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def poisson_spikes(rng, rates_hz, n_steps=N_STEPS, dt_s=DT_S):
    """(steps, neurons) of independent Bernoulli-per-step trains, one per rate, time-sorted."""
    fired = rng.random((n_steps, len(rates_hz))) < np.asarray(rates_hz) * dt_s
    steps, neurons = np.nonzero(fired)
    return steps, neurons


@pytest.fixture(scope="module")
def network():
    """A 500-neuron network (400 E, 100 I) with Poisson-like spikes, weights and inputs."""
    rng = np.random.default_rng(0)
    cell_type = np.array([E] * N_E + [I] * (N_NEURONS - N_E))
    rates = rng.lognormal(np.log(3), 0.8, N_NEURONS) * np.where(cell_type == I, 3, 1)
    rates[rng.random(N_NEURONS) < 0.1] = 0.0  # some silent neurons
    steps, neurons = poisson_spikes(rng, rates)
    weights = sp.random(N_NEURONS, N_NEURONS, density=0.1, random_state=1, format="csr")
    ff = sp.random(N_INPUTS, N_NEURONS, density=0.05, random_state=2, format="csr")
    mitral_steps, mitral_cells = poisson_spikes(rng, rng.gamma(2, 5, N_INPUTS))
    return dict(cell_type=cell_type, steps=steps, neurons=neurons, weights=weights, ff=ff,
                mitral_steps=mitral_steps, mitral_cells=mitral_cells, rng=rng)


NO_SPIKES = (np.array([], dtype=int), np.array([], dtype=int))


# =========================================================================== statistics
def test_spike_counts_bins_by_steps_and_drops_the_partial_last_bin():
    """Steps 0-4 fall in bin 0, 5-9 in bin 1; step 10 is in an incomplete bin, left out."""
    counts = snn_plots.spike_counts([0, 4, 5, 9, 9, 10], [1, 1, 0, 0, 2, 2], n_neurons=3,
                                    n_steps=11, bin_steps=5)
    assert counts.shape == (2, 3)
    assert counts.tolist() == [[0, 2, 0], [2, 0, 1]]
    assert counts.dtype.kind == "i"


def test_spike_counts_rejects_spikes_beyond_n_steps_and_mismatched_lengths():
    with pytest.raises(ValueError, match="n_steps"):
        snn_plots.spike_counts([3, 12], [0, 0], n_neurons=1, n_steps=10, bin_steps=5)
    with pytest.raises(ValueError, match="spike_neurons"):
        snn_plots.spike_counts([3, 4], [0], n_neurons=1, n_steps=10, bin_steps=5)
    with pytest.raises(ValueError, match="spike_neurons"):
        snn_plots.spike_counts([3], [2], n_neurons=2, n_steps=10, bin_steps=5)
    with pytest.raises(ValueError, match="bin_steps"):
        snn_plots.spike_counts([3], [0], n_neurons=1, n_steps=10, bin_steps=11)


def test_fano_per_neuron_is_variance_over_mean_with_nan_for_silent_neurons():
    """Counts (1, 3) have mean 2 and variance 1 (ddof 0): F = 0.5; (2, 2): F = 0."""
    fano = snn_plots.fano_per_neuron([[1, 2, 0], [3, 2, 0]])
    assert fano[0] == pytest.approx(0.5)
    assert fano[1] == 0.0
    assert np.isnan(fano[2])


def test_fano_per_neuron_agrees_with_the_single_neuron_fano_factor():
    counts = np.random.default_rng(3).poisson(2.0, (50, 7))
    expected = [fano_factor(counts[:, i]) for i in range(7)]
    np.testing.assert_allclose(snn_plots.fano_per_neuron(counts), expected)


def test_fano_per_neuron_rejects_a_1d_array_and_negative_counts():
    with pytest.raises(ValueError, match="counts"):
        snn_plots.fano_per_neuron([1, 2, 3])
    with pytest.raises(ValueError, match="counts"):
        snn_plots.fano_per_neuron([[1, -1]])


def test_isi_per_neuron_sorts_each_neurons_spikes_and_skips_single_spikes():
    """Neuron 2 fires at steps 7, 1, 3 (unsorted): ISIs 2 and 4 steps; neuron 0 once."""
    isi_s, neuron = snn_plots.isi_per_neuron([7, 5, 1, 3], [2, 0, 2, 2], n_neurons=3, dt_s=0.5)
    assert isi_s.tolist() == [1.0, 2.0]
    assert neuron.tolist() == [2, 2]


def test_cv_per_neuron_by_hand_and_nan_with_fewer_than_two_intervals():
    """Intervals 1, 3 steps: mean 2, std 1, CV 0.5; a regular train has CV 0."""
    cv = snn_plots.cv_per_neuron([0, 1, 4, 0, 2, 4, 0, 9], [0, 0, 0, 1, 1, 1, 2, 2],
                                 n_neurons=4, dt_s=1e-3)
    assert cv[0] == pytest.approx(0.5)
    assert cv[1] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(cv[2]) and np.isnan(cv[3])


def test_cv_per_neuron_agrees_with_cv_isi_of_each_train(network):
    steps, neurons = network["steps"], network["neurons"]
    cv = snn_plots.cv_per_neuron(steps, neurons, N_NEURONS, DT_S)
    expected = [cv_isi(np.sort(steps[neurons == i]) * DT_S) for i in range(N_NEURONS)]
    np.testing.assert_allclose(cv, expected, rtol=1e-9)


def test_cv_per_neuron_rejects_a_non_positive_dt():
    with pytest.raises(ValueError, match="dt_s"):
        snn_plots.cv_per_neuron([0, 1, 2], [0, 0, 0], n_neurons=1, dt_s=0.0)


# =========================================================================== figures
def all_figures(network, tmp_path):
    """Every figure function with realistic inputs: {file name: call}."""
    cell_type, steps, neurons = network["cell_type"], network["steps"], network["neurons"]
    rng = np.random.default_rng(5)
    counts = snn_plots.spike_counts(steps, neurons, N_NEURONS, N_STEPS, 200)
    isi_s, neuron_of_isi = snn_plots.isi_per_neuron(steps, neurons, N_NEURONS, DT_S)
    assembly = np.arange(N_NEURONS) % 10
    rows, cols = network["weights"].nonzero()
    assembly_weights = np.zeros((10, 10))
    np.add.at(assembly_weights, (assembly[rows], assembly[cols]),
              np.asarray(network["weights"][rows, cols]).ravel())
    epochs = np.arange(1, 21)
    teacher = network["weights"].data
    return {
        "assembly_graph.png": lambda p: snn_plots.assembly_graph(assembly_weights, p),
        "connectivity_matrix.png": lambda p: snn_plots.connectivity_matrix(
            network["weights"], cell_type, p, max_neurons=200),
        "mitral_cell_spikes.png": lambda p: snn_plots.mitral_raster(
            network["mitral_steps"], network["mitral_cells"], N_INPUTS, DT_S, p),
        "feedforward_connectivity.png": lambda p: snn_plots.feedforward_connectivity(
            network["ff"], cell_type, p),
        "spike_raster.png": lambda p: snn_plots.spike_raster(steps, neurons, cell_type, DT_S, p),
        "firing_rate_distribution.png": lambda p: snn_plots.firing_rate_distribution(
            firing_rates(neurons, N_NEURONS, N_STEPS * DT_S), cell_type, p,
            target_hz={E: 2.0, I: 8.0}),
        "membrane_voltages.png": lambda p: snn_plots.membrane_voltages(
            -70 + rng.normal(0, 2, (N_STEPS, 4)), DT_S, p, neuron_ids=[0, 1, 400, 401],
            thresholds_mv=[-50, -50, -52, -52], cell_labels=[E, E, I, I]),
        "fano_factors.png": lambda p: snn_plots.fano_factors(
            snn_plots.fano_per_neuron(counts), cell_type, p, window_s=0.1),
        "cv_histogram.png": lambda p: snn_plots.cv_histogram(
            snn_plots.cv_per_neuron(steps, neurons, N_NEURONS, DT_S), cell_type, p,
            target_cv=1.0),
        "isi_distribution.png": lambda p: snn_plots.isi_distribution(
            isi_s, p, cell_type_of_isi=cell_type[neuron_of_isi]),
        "training_curves.png": lambda p: snn_plots.training_curves(
            epochs, {"total loss": 5 / epochs, "FR loss": 3 / epochs,
                     "CV loss": {"train": 2 / epochs, "validation": 2.2 / epochs}}, p),
        "statistics_over_training.png": lambda p: snn_plots.statistics_over_training(
            epochs, {"mean rate E (Hz)": 0.5 + 3 / epochs, "mean rate I (Hz)": 2 + 5 / epochs,
                     "mean CV E": 1 - 0.5 / epochs, "active fraction": 1 - 0.2 / epochs},
            {"mean rate E (Hz)": 0.5, "mean rate I (Hz)": 2.0}, p),
        "weight_scatter.png": lambda p: snn_plots.weight_scatter(
            teacher * rng.lognormal(0, 0.2, teacher.size), teacher, p,
            cell_type_of_pre=cell_type[rows], title="Student vs teacher"),
    }


def test_every_figure_writes_a_png_for_realistic_inputs(network, tmp_path):
    for name, draw in all_figures(network, tmp_path).items():
        path = tmp_path / name
        assert_png(draw(path), path)


def test_spike_figures_handle_a_run_without_any_spike(tmp_path):
    cell_type = np.array([E] * 40 + [I] * 10)
    steps, neurons = NO_SPIKES
    isi_s, neuron = snn_plots.isi_per_neuron(steps, neurons, 50, DT_S)
    cv = snn_plots.cv_per_neuron(steps, neurons, 50, DT_S)
    fano = snn_plots.fano_per_neuron(snn_plots.spike_counts(steps, neurons, 50, 1000, 100))
    assert isi_s.size == 0 and neuron.size == 0 and np.isnan(cv).all() and np.isnan(fano).all()
    calls = {
        "raster.png": lambda p: snn_plots.spike_raster(steps, neurons, cell_type, DT_S, p),
        "mitral.png": lambda p: snn_plots.mitral_raster(steps, neurons, 30, DT_S, p),
        "rates.png": lambda p: snn_plots.firing_rate_distribution(np.zeros(50), cell_type, p,
                                                                  target_hz=1.0),
        "fano.png": lambda p: snn_plots.fano_factors(fano, cell_type, p),
        "cv.png": lambda p: snn_plots.cv_histogram(cv, cell_type, p, target_cv=[1.0, 0.8]),
        "isi.png": lambda p: snn_plots.isi_distribution(isi_s, p,
                                                        cell_type_of_isi=cell_type[neuron]),
    }
    for name, draw in calls.items():
        assert_png(draw(tmp_path / name), tmp_path / name)


def test_figures_by_type_handle_a_network_without_inhibitory_neurons(network, tmp_path):
    cell_type = np.array([E] * 60)
    rng = np.random.default_rng(7)
    steps, neurons = poisson_spikes(rng, np.full(60, 5.0), n_steps=2000)
    weights = rng.random((60, 60)) * (rng.random((60, 60)) < 0.2)
    calls = {
        "matrix.png": lambda p: snn_plots.connectivity_matrix(weights, cell_type, p),
        "ff.png": lambda p: snn_plots.feedforward_connectivity(rng.random((20, 60)), cell_type, p),
        "raster.png": lambda p: snn_plots.spike_raster(steps, neurons, cell_type, DT_S, p),
        "rates.png": lambda p: snn_plots.firing_rate_distribution(
            firing_rates(neurons, 60, 1.0), cell_type, p, target_hz={I: 8.0}),
        "cv.png": lambda p: snn_plots.cv_histogram(
            snn_plots.cv_per_neuron(steps, neurons, 60, DT_S), cell_type, p,
            target_cv={E: 1.0}),
    }
    for name, draw in calls.items():
        assert_png(draw(tmp_path / name), tmp_path / name)


def test_histograms_handle_all_nan_values_and_degenerate_inputs(tmp_path):
    cell_type = np.array([E] * 8 + [I] * 2)
    nan = np.full(10, np.nan)
    assert_png(snn_plots.cv_histogram(nan, cell_type, tmp_path / "cv.png"), tmp_path / "cv.png")
    assert_png(snn_plots.fano_factors(nan, cell_type, tmp_path / "f.png"), tmp_path / "f.png")
    rates = np.full(10, 4.0)  # every neuron at the same rate
    assert_png(snn_plots.firing_rate_distribution(rates, cell_type, tmp_path / "r.png"),
               tmp_path / "r.png")
    quantised = np.array([0.5e-3, 1e-3, 1e-3, 2e-3])  # whole time steps, short intervals
    assert_png(snn_plots.isi_distribution(quantised, tmp_path / "i.png"), tmp_path / "i.png")


def test_graph_and_weight_figures_handle_empty_and_signed_weights(tmp_path):
    assert_png(snn_plots.assembly_graph(np.eye(4), tmp_path / "g.png"), tmp_path / "g.png")
    signed = np.array([[5.0, -1.0, 2.0], [0.5, 4.0, -3.0], [1.0, 0.0, 6.0]])
    assert_png(snn_plots.assembly_graph(signed, tmp_path / "s.png"), tmp_path / "s.png")
    assert_png(snn_plots.connectivity_matrix(sp.csr_matrix((5, 5)), [E] * 4 + [I],
                                             tmp_path / "m.png"), tmp_path / "m.png")
    teacher = np.array([1.0, -2.0, 0.0, 3.0, np.nan])
    learned = np.array([1.1, -1.5, 0.2, -3.0, 1.0])
    assert_png(snn_plots.weight_scatter(learned, teacher, tmp_path / "w.png"), tmp_path / "w.png")
    assert_png(snn_plots.weight_scatter([], [], tmp_path / "e.png"), tmp_path / "e.png")


def test_training_figures_handle_one_epoch_nan_and_non_positive_losses(tmp_path):
    assert_png(snn_plots.training_curves([1], {"total loss": [0.3]}, tmp_path / "a.png"),
               tmp_path / "a.png")
    losses = {"total loss": [1.0, np.nan, 0.5], "signed term": [0.2, -0.1, 0.0],
              "not computed": [np.nan] * 3}
    assert_png(snn_plots.training_curves([1, 2, 3], losses, tmp_path / "b.png"),
               tmp_path / "b.png")
    assert_png(snn_plots.statistics_over_training([1, 2, 3], {"mean rate E (Hz)": [np.nan] * 3},
                                                  {}, tmp_path / "c.png"), tmp_path / "c.png")


def test_membrane_voltages_takes_one_trace_and_a_scalar_threshold(tmp_path):
    path = tmp_path / "v.png"
    assert_png(snn_plots.membrane_voltages(np.linspace(-70, -50, 300), 1e-4, path,
                                           thresholds_mv=-52.0), path)


MISMATCHED = [
    ("assembly_weights", lambda p: snn_plots.assembly_graph(np.ones((3, 4)), p)),
    ("weights", lambda p: snn_plots.connectivity_matrix(np.ones((5, 4)), [E] * 5, p)),
    ("cell_type", lambda p: snn_plots.connectivity_matrix(np.ones((5, 5)), [E] * 4, p)),
    ("cell_type", lambda p: snn_plots.connectivity_matrix(np.ones((2, 2)), [E, "glia"], p)),
    ("spike_cells", lambda p: snn_plots.mitral_raster([1, 2], [0], 10, DT_S, p)),
    ("spike_cells", lambda p: snn_plots.mitral_raster([1, 2], [0, 10], 10, DT_S, p)),
    ("cell_type", lambda p: snn_plots.feedforward_connectivity(np.ones((3, 5)), [E] * 3, p)),
    ("spike_neurons", lambda p: snn_plots.spike_raster([1, 2, 3], [0, 1], [E, I], DT_S, p)),
    ("spike_neurons", lambda p: snn_plots.spike_raster([1, 2], [0, 2], [E, I], DT_S, p)),
    ("rates_hz", lambda p: snn_plots.firing_rate_distribution([1.0, 2.0], [E, I, I], p)),
    ("target_hz", lambda p: snn_plots.firing_rate_distribution([1.0, 2.0], [E, I], p,
                                                               target_hz=[1, 2, 3])),
    ("v_mv", lambda p: snn_plots.membrane_voltages(np.zeros((10, 9)), DT_S, p)),
    ("thresholds_mv", lambda p: snn_plots.membrane_voltages(np.zeros((10, 2)), DT_S, p,
                                                            thresholds_mv=[1, 2, 3])),
    ("neuron_ids", lambda p: snn_plots.membrane_voltages(np.zeros((10, 2)), DT_S, p,
                                                         neuron_ids=[4])),
    ("fano", lambda p: snn_plots.fano_factors(np.ones((2, 2)), [E, I], p)),
    ("cell_type", lambda p: snn_plots.fano_factors(np.ones(3), [E, I], p)),
    ("cell_type", lambda p: snn_plots.cv_histogram(np.ones(3), [E, I], p)),
    ("cell_type", lambda p: snn_plots.isi_distribution([0.1, 0.2], p, cell_type_of_isi=[E])),
    ("curves", lambda p: snn_plots.training_curves([1, 2], {"loss": [1.0, 2.0, 3.0]}, p)),
    ("stats", lambda p: snn_plots.statistics_over_training([1, 2], {"r": [1.0]}, {}, p)),
    ("targets", lambda p: snn_plots.statistics_over_training([1, 2], {"r": [1.0, 2.0]},
                                                             {"rate": 1.0}, p)),
    ("teacher", lambda p: snn_plots.weight_scatter([1.0, 2.0], [1.0], p)),
    ("cell_type", lambda p: snn_plots.weight_scatter([1.0, 2.0], [1.0, 2.0], p,
                                                     cell_type_of_pre=[E])),
]


@pytest.mark.parametrize("argument, draw", MISMATCHED,
                         ids=[f"{i}-{name}" for i, (name, _) in enumerate(MISMATCHED)])
def test_mismatched_shapes_raise_a_value_error_naming_the_argument(tmp_path, argument, draw):
    path = tmp_path / "never.png"
    with pytest.raises(ValueError, match=argument):
        draw(path)
    assert not path.exists()
    plt.close("all")  # a figure is never opened before validation, but be sure


def test_rasters_show_at_most_max_neurons_and_say_so(network, tmp_path, monkeypatch):
    """The raster draws a subsample of max_neurons rows, and its title gives the count."""
    titles = []
    original = plt.Axes.set_title

    def spy(self, label, *args, **kwargs):
        titles.append(label)
        return original(self, label, *args, **kwargs)

    monkeypatch.setattr(plt.Axes, "set_title", spy)
    snn_plots.spike_raster(network["steps"], network["neurons"], network["cell_type"], DT_S,
                           tmp_path / "r.png", max_neurons=50)
    assert any("50 of 500 neurons" in t for t in titles)


def test_stratified_subsample_keeps_type_shares_and_index_order():
    codes = np.array([0] * 800 + [1] * 200)
    shown, blocks = snn_plots._stratified(codes, [(E, "r"), (I, "b")], 100)
    assert [(stop - start) for start, stop, _ in blocks] == [80, 20]
    assert np.all(np.diff(shown[:80]) > 0) and np.all(np.diff(shown[80:]) > 0)
    assert shown[0] == 0 and shown[79] == 799 and shown[80] == 800 and shown[-1] == 999


def test_integer_type_codes_stand_for_the_entries_of_cell_types(network, tmp_path):
    """cell_type as 0/1 codes (models.connectome's convention) draws like the labels, and a
    code outside cell_types is a ValueError."""
    codes = (network["cell_type"] == I).astype(np.int64)
    cv = snn_plots.cv_per_neuron(network["steps"], network["neurons"], N_NEURONS, DT_S)
    path = tmp_path / "cv_codes.png"
    assert_png(snn_plots.cv_histogram(cv, codes, path, target_cv={E: 1.0, I: 0.9}), path)
    path = tmp_path / "raster_codes.png"
    assert_png(snn_plots.spike_raster(network["steps"], network["neurons"], codes, DT_S, path),
               path)
    with pytest.raises(ValueError, match="cell_type"):
        snn_plots.cv_histogram(cv, codes + 1, tmp_path / "never.png")
    assert snn_plots._cell_types(codes, N_NEURONS, "cv", (E, I))[0].tolist() == codes.tolist()


def test_membrane_legend_names_neuron_and_type_once(tmp_path, monkeypatch):
    """A type label is appended to the neuron id; a label that already names the neuron is
    written as it is, not "neuron 3 (neuron 3 (E))"."""
    names = []
    original = plt.Axes.legend

    def spy(self, *args, handles=None, **kwargs):
        names.extend(h.get_label() for h in handles or [])
        return original(self, *args, handles=handles, **kwargs)

    monkeypatch.setattr(plt.Axes, "legend", spy)
    snn_plots.membrane_voltages(np.zeros((50, 2)), DT_S, tmp_path / "v.png", neuron_ids=[3, 7],
                                cell_labels=["neuron 3 (E)", I])
    assert "neuron 3 (E)" in names and "neuron 7 (inhibitory)" in names
