"""The tutorial's learning-rate sweep and its learning rate x decay grid, as sweep configs.

Both run the ``hebbian`` sub-experiment through the general sweep runner
(protocols.sweep).  The shipped configs hold the tutorial's values; the runs
here shrink the network and, for the grid, the axes, and check that the
report carries the tutorial's measures, and that they move the way the
Hebbian-decay balance says: the mean weight grows with the learning rate and
shrinks with the decay (w* = eta nu_pre (nu_post (tau_pre + tau_post) - ltd) / decay).
"""
from pathlib import Path

import numpy as np
import pytest

from analysis.results import load
from protocols import cli, plasticity, sweep

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
# two units for 2 s; they fire above 0.3 / 40 ms = 7.5 Hz, so Hebbian learning potentiates
SMALL = ["hebbian.duration=2 s", "hebbian.n_units=2", "protocol.dt=1 ms"]


def _run(config, out, *extra):
    args = ["run", str(CONFIGS / config), "--out", str(out), "--jobs", "1"]
    for item in [*SMALL, *extra]:
        args += ["--set", item]
    return cli.main(args)


def test_the_shipped_sweeps_hold_the_tutorials_values():
    lr = sweep.load(CONFIGS / "plasticity_lr_sweep.yaml", plasticity.SCHEMA)
    assert list(sweep.axes_of(lr)["hebbian.eta"]) == [0.001, 0.01, 0.1]
    grid = sweep.load(CONFIGS / "plasticity_lr_decay_grid.yaml", plasticity.SCHEMA)
    axes = sweep.axes_of(grid)
    assert list(axes["hebbian.eta"]) == [0.001, 0.01, 0.1]
    # 0.0001, 0.001, 0.01 per update, one update every 10 ms: 0.01, 0.1, 1 Hz
    np.testing.assert_allclose([float(v) for v in axes["hebbian.decay_rate"]], [0.01, 0.1, 1])
    assert len(sweep.points(lr)) == 3 and len(sweep.points(grid)) == 9
    for config in (lr, grid):
        sweep.validate(config, plasticity)
        assert config.seed.session == 42


@pytest.mark.usefixtures("numpy_target")
def test_the_learning_rate_sweep_reports_final_mean_and_std(tmp_path):
    assert _run("plasticity_lr_sweep.yaml", tmp_path) == 0
    result = load(tmp_path / "results.h5")
    assert result.axis_names == ("hebbian.eta",)
    mean, std = result.grid("w_mean_final"), result.grid("w_std_final")
    assert mean.shape == std.shape == (3,) and np.isfinite(mean).all()
    assert result.grid("unit_rate_hz").min() > 7.5
    assert np.all(np.diff(mean) > 0)          # faster learning, larger weights (potentiation)
    report = (tmp_path / "report.md").read_text()
    for measure in ("w_mean_final", "w_std_final"):
        assert f"`{measure}`" in report and f"figures/sweep_{measure}.png" in report
        assert (tmp_path / "figures" / f"sweep_{measure}.png").stat().st_size > 5_000


@pytest.mark.usefixtures("numpy_target")
def test_the_grid_reports_weight_change_and_variance_over_rate_and_decay(tmp_path):
    assert _run("plasticity_lr_decay_grid.yaml", tmp_path, "sweep.hebbian.eta=[0.01, 0.1]",
                "sweep.hebbian.decay_rate=[0.01 Hz, 1 Hz]") == 0
    result = load(tmp_path / "results.h5")
    assert result.axis_names == ("hebbian.eta", "hebbian.decay_rate")
    change, variance = result.grid("w_change_mean"), result.grid("w_var_final")
    assert change.shape == variance.shape == (2, 2)
    assert np.all(change[1] > change[0])           # along the learning rate
    assert np.all(change[:, 0] > change[:, 1])     # against the decay
    np.testing.assert_allclose(variance, result.grid("w_std_final") ** 2, rtol=1e-9)
    report = (tmp_path / "report.md").read_text()
    for measure in ("w_change_mean", "w_var_final"):
        assert f"figures/sweep_{measure}.png" in report
