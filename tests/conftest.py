"""Shared fixtures: configs of small networks and a headless matplotlib."""
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
#: one small config of every protocol that writes results
QUICK_CONFIGS = {
    "chaos": "chaos_quick.yaml",
    "heterogeneity_grid": "heterogeneity_grid_quick.yaml",
    "plasticity": "plasticity_stp.yaml",
    "ei_rnn": "ei_rnn_quick.yaml",
}


@pytest.fixture
def small_chaos_config():
    """A 120-neuron chaos point with 4 perturbations: seconds to simulate."""
    from protocols import chaos
    from protocols.config import load_config

    def make(*overrides):
        return load_config(CONFIGS / "chaos_quick.yaml", chaos.SCHEMA,
                           ["network.n_neurons=120", "protocol.n_perturbations=4",
                            "protocol.observation=200 ms", *overrides])
    return make


@pytest.fixture
def numpy_target(monkeypatch):
    """Brian2's numpy target for this test (and the processes it starts): nothing is
    compiled, which is what small networks with one-off parameter values want."""
    monkeypatch.setenv("SNNSUITE_RUNTIME_TARGET", "numpy")


@pytest.fixture(autouse=True, scope="session")
def _build_cache(tmp_path_factory):
    """Compile-once builds (models.compiled) go to a cache of the test session's, not to
    the user's ~/.cache."""
    import os

    from models.compiled import CACHE_VARIABLE

    previous = os.environ.get(CACHE_VARIABLE)
    os.environ[CACHE_VARIABLE] = str(tmp_path_factory.mktemp("build_cache"))
    yield
    if previous is None:
        os.environ.pop(CACHE_VARIABLE, None)
    else:
        os.environ[CACHE_VARIABLE] = previous
