"""The Hebbian sub-experiment end to end: co-activation predicts weight change.

The full check (20 s of network time, over 1.5 CPU-minutes with a cold Brian2
cache) is a slow test (``make test-slow``); the fast suite runs a tiny version
on Brian2's numpy target, and the Hebbian rule itself stays checked against
theory there (tests/test_plasticity.py: the Hebbian-decay balance, the bounds).
"""
from pathlib import Path

import numpy as np
import pytest

from analysis.results import load
from protocols import cli

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.slow
def test_coactivation_predicts_weight_change_and_weights_stay_bounded(tmp_path):
    assert cli.main(["run", str(CONFIGS / "plasticity_hebbian.yaml"), "--out", str(tmp_path),
                     "--set", "hebbian.duration=15 s", "--set", "hebbian.n_units=4"]) == 0
    point = load(tmp_path / "results.h5").point
    a, d = point.attrs, point.data
    assert a["pearson_r"] > 0.5 and a["pearson_p"] < 1e-6
    assert d["w_min"].min() >= 0 and d["w_max"].max() <= a["w_max_bound"] + 1e-6
    assert d["w_mean"][-1] > d["w_mean"][0]           # learning happened
    # with learning switched off (ltd balance far above any rate) co-activation
    # no longer predicts an increase: every weight falls
    off = tmp_path / "off"
    assert cli.main(["run", str(CONFIGS / "plasticity_hebbian.yaml"), "--out", str(off),
                     "--set", "hebbian.duration=5 s", "--set", "hebbian.n_units=4",
                     "--set", "hebbian.ltd_ratio=5"]) == 0
    assert np.all(load(off / "results.h5").point.data["weight_change"] < 0)
    assert (tmp_path / "figures" / "hebbian_weights.png").exists()


def test_the_hebbian_experiment_runs_end_to_end_on_a_tiny_network(tmp_path, numpy_target):
    """Fast end-to-end run: result, figure and report written, weights within bounds."""
    assert cli.main(["run", str(CONFIGS / "plasticity_hebbian.yaml"), "--out", str(tmp_path),
                     "--set", "hebbian.duration=2 s", "--set", "hebbian.n_units=2"]) == 0
    point = load(tmp_path / "results.h5").point
    a, d = point.attrs, point.data
    assert d["w_min"].min() >= 0 and d["w_max"].max() <= a["w_max_bound"] + 1e-6
    assert np.isfinite(d["weight_change"]).all()
    assert (tmp_path / "figures" / "hebbian_weights.png").stat().st_size > 10_000
