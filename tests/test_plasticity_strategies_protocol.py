"""Training strategies end to end: the modulator's schedule decides what is learned."""
from pathlib import Path

import numpy as np
import pytest

from analysis.results import load
from protocols import cli
from protocols.plasticity.strategies import schedules

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_schedules_have_the_shapes_they_promise():
    from protocols import plasticity
    from protocols.config import load_config

    cfg = load_config(CONFIGS / "plasticity_strategies.yaml", plasticity.SCHEMA,
                      ["strategies.duration=12 s"]).strategies
    shown = np.repeat([0, 1, 2, 3, -1], 1000).tolist() * 3
    lr = schedules(cfg, np.array(shown[:12000]))
    assert lr["continuous"].min() == 1
    assert lr["periodic"][:2000].min() == 1 and lr["periodic"][2000:4000].max() == 0
    assert lr["epochs"][:5000].min() == 1 and lr["epochs"][5000:7500].max() == 0
    assert np.isclose(lr["epochs"][7600], 0.7)
    assert set(np.unique(lr["reward"][np.array(shown[:12000]) == 0])) == {1.0}
    assert lr["reward"][np.array(shown[:12000]) != 0].max() == 0
    early = np.array(shown[:4000])
    assert lr["curriculum"][:4000][early >= 2].max() == 0 and lr["curriculum"][4000:].min() == 1


@pytest.mark.slow
def test_reward_gating_makes_the_rewarded_pattern_win(tmp_path):
    """Five copies of the pattern-learning network for 20 s (20-60 s of wall time)."""
    assert cli.main(["run", str(CONFIGS / "plasticity_strategies.yaml"), "--out", str(tmp_path),
                     "--set", "strategies.duration=20 s"]) == 0
    points = load(tmp_path / "results.h5").points
    assert set(points) == {"continuous", "periodic", "epochs", "reward", "curriculum"}
    reward, continuous = points["reward"].attrs, points["continuous"].attrs
    assert reward["reward_preference_final"] > continuous["reward_preference_final"] + 0.02
    assert continuous["w_mean_final"] > points["periodic"].attrs["w_mean_final"]
    assert (tmp_path / "figures" / "strategies.png").exists()
