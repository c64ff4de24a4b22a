"""The BCM sub-experiment end to end: selectivity emerges, theta tracks <y^2>/nu0."""
from pathlib import Path

import numpy as np
import pytest

from analysis.results import load
from protocols import cli

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.slow   # 75 s cold; the fast suite keeps BCM's fixed point and selectivity
# (tests/test_plasticity.py) and this experiment's checkpoint/resume
def test_bcm_units_become_selective_and_theta_tracks_its_fixed_point(tmp_path):
    assert cli.main(["run", str(CONFIGS / "plasticity_bcm.yaml"), "--out", str(tmp_path),
                     "--set", "bcm.n_units=4", "--set", "bcm.duration=45 s"]) == 0
    points = list(load(tmp_path / "results.h5").points.values())
    assert len(points) == 4
    for p in points:
        assert p.attrs["theta_relative_error"] < 0.05, p.name
    first = np.array([abs(p.attrs["selectivity_initial"]) for p in points])
    last = np.array([abs(p.attrs["selectivity_final"]) for p in points])
    assert (last > 0.5).sum() >= 3, last
    assert last.mean() > first.mean() + 0.3
    for p in points:   # the preferred pattern's weights dominate (at the tutorial's 5 Hz
        # target the slowest unit's non-preferred weights are still falling at 45 s: 2x)
        strong, weak = sorted([p.attrs["w_a_final"], p.attrs["w_b_final"]])[::-1]
        if abs(p.attrs["selectivity_final"]) > 0.5:
            assert strong > 2 * max(weak, 1e-3)
    assert (tmp_path / "figures" / "bcm_selectivity.png").exists()
    assert "selectivity" in (tmp_path / "report.md").read_text()
