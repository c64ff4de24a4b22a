"""The plasticity protocol end to end: STP sub-experiment, config errors."""
from pathlib import Path

import pytest

from analysis.results import load
from protocols import cli

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.slow   # 47 s cold; the STP steady states against theory stay in the fast suite
# (tests/test_plasticity.py), and the stp experiment's resume (test_plasticity_checkpoint.py)
def test_stp_experiment_matches_theory_and_reports(tmp_path):
    """Every (preset, rate) steady state within 2% of Tsodyks-Markram; PPR says which is which."""
    assert cli.main(["run", str(CONFIGS / "plasticity_stp.yaml"), "--out", str(tmp_path),
                     "--set", "stp.rates_hz=[5, 20]", "--set", "stp.duration=3 s"]) == 0
    result = load(tmp_path / "results.h5")
    assert result.protocol == "plasticity" and len(result.points) == 4
    for point in result.points.values():
        a = point.attrs
        assert a["relative_error"] < 0.02, point.name
        assert a["efficacy_first"] == pytest.approx(a["U"], rel=1e-9)
        if a["preset"] == "facilitating":
            assert a["paired_pulse_ratio"] > 1.2
        else:
            assert a["paired_pulse_ratio"] < 0.8
    assert (tmp_path / "figures" / "stp_efficacy.png").stat().st_size > 10_000
    assert "paired-pulse ratio" in (tmp_path / "report.md").read_text()


def test_unknown_kind_is_a_config_error(tmp_path, capsys):
    assert cli.main(["run", str(CONFIGS / "plasticity_stp.yaml"), "--out", str(tmp_path),
                     "--set", "protocol.kind=stdp"]) == 2
    err = capsys.readouterr().err
    assert "protocol.kind" in err and "stdp" in err and "stp" in err
