"""Plasticity protocol, stability experiments: homeostatic scaling and all rules combined.

Small versions of ``configs/plasticity_homeostasis.yaml`` and
``configs/plasticity_combined.yaml`` run end to end (result file, figures,
report) and their measures are checked against what the experiments claim:
pushed rates return to the target; the fully plastic network stays in its
stability band while the same network without its stabilising rules does not.

The three end-to-end runs of 12 s and 15 s of network time are marked slow
(``make test-slow``): with a cold Brian2 cache they cost over 6 CPU-minutes
(compiling the combined network is most of it), which kept the fast suite
over its 10 minutes on 2 cores.  The rules they combine stay checked against
theory in the fast suite (tests/test_plasticity.py: homeostatic convergence,
BCM's fixed point, the Hebbian-decay balance).
"""
from pathlib import Path

import pytest

from analysis.results import load
from protocols import cli

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

# 3 copies x 60 E neurons (in-degrees unchanged, so the calibration holds), 12 s; the down
# copy pushed a little harder than the shipped 0.75 (which starts this smaller network
# 29% below the 5 Hz target, the full one 41%)
HOMEOSTASIS_SMALL = ["homeostasis.n_exc=60", "homeostasis.n_inh=16", "homeostasis.n_input=60",
                     "homeostasis.duration=12 s", "homeostasis.final_window=4 s",
                     "homeostasis.scales=[0.7, 1.0, 1.45]"]
# 200 E + 50 I, 15 s, Hebbian learning twice the default so that the
# unstabilised control diverges within the run (the stabilising rules still hold it at
# 3x the default, 0.15: final rate 8.6 Hz)
COMBINED_SMALL = ["combined.n_exc=200", "combined.n_inh=50", "combined.duration=15 s",
                  "combined.weight_sample=1 s", "combined.final_window=5 s",
                  "combined.hebb_eta=0.1"]
# the stabilising rules switched off: no decay, (almost) no BCM, no scaling
UNSTABILISED = ["combined.decay_rate=0 Hz", "combined.bcm_eta=1e-9 Hz",
                "combined.tau_scaling=1e6 s"]


def _run(config, tmp_path, overrides):
    args = ["run", str(CONFIGS / config), "--out", str(tmp_path)]
    for item in overrides:
        args += ["--set", item]
    assert cli.main(args) == 0
    return load(tmp_path / "results.h5")


def _outputs_written(tmp_path, figures, text):
    for name in figures:
        assert (tmp_path / "figures" / name).stat().st_size > 10_000, name
    report = (tmp_path / "report.md").read_text()
    assert text in report
    for name in figures:
        assert f"figures/{name}" in report


@pytest.mark.slow
def test_homeostasis_returns_pushed_rates_to_target(tmp_path):
    """Copies started >30% below and above target end within 10% of it; weights moved back."""
    result = _run("plasticity_homeostasis.yaml", tmp_path, HOMEOSTASIS_SMALL)
    assert result.protocol == "plasticity"
    points = {p.attrs["condition"]: p.attrs for p in result.points.values()}
    assert set(points) == {"down", "unperturbed", "up"}
    down, up, same = points["down"], points["up"], points["unperturbed"]
    assert down["initial_deviation"] < -0.3, down["initial_rate_hz"]
    assert up["initial_deviation"] > 0.3, up["initial_rate_hz"]
    for a in (down, up, same):
        assert abs(a["final_error"]) < 0.10, (a["condition"], a["final_rate_hz"])
        assert a["silent_fraction_final"] < 0.05
    # the weights were scaled back, toward the unperturbed copy's
    assert down["mean_w_ee_final"] > 1.2 * down["mean_w_ee_initial"]
    assert up["mean_w_ee_final"] < 0.85 * up["mean_w_ee_initial"]
    assert up["final_effective_scale"] == pytest.approx(same["final_effective_scale"], rel=0.15)
    assert down["final_effective_scale"] == pytest.approx(same["final_effective_scale"], rel=0.15)
    _outputs_written(tmp_path, ["homeostasis_rate.png", "homeostasis_weights.png"],
                     "| condition | initial scale |")


@pytest.mark.slow
def test_combined_rules_keep_the_network_stable(tmp_path):
    """All rules on: every rate bin in the band, no silent or runaway neuron, weights bounded."""
    result = _run("plasticity_combined.yaml", tmp_path, COMBINED_SMALL)
    point = result.point
    a, d = point.attrs, point.data
    assert a["n_plastic_synapses"] == 200 * 40
    assert a["within_band"] and a["stable"]
    assert d["rate_hz"].min() >= a["band_low_hz"]          # never silent, whole run
    assert d["rate_hz"].max() <= a["band_high_hz"]         # no runaway, whole run
    assert a["silent_fraction_final"] == 0
    assert a["fraction_below_band_final"] + a["fraction_above_band_final"] <= 0.05
    assert 0.0 <= a["w_min_observed"] and a["w_max_observed"] <= a["w_max_bound"]
    # plasticity was at work: the weight distribution moved
    assert abs(a["w_mean_final"] - a["w_mean_initial"]) > 0.2 or \
        abs(a["w_std_final"] - a["w_std_initial"]) > 0.1
    assert d["w_hist"].shape == (len(d["weight_t_s"]), 120)
    _outputs_written(tmp_path, ["combined_rate.png", "combined_weights.png"], "**stable**")


@pytest.mark.slow
def test_without_stabilising_rules_the_same_network_is_flagged_unstable(tmp_path):
    """Control: Hebbian + STP alone let single neurons fall silent or run away."""
    result = _run("plasticity_combined.yaml", tmp_path, COMBINED_SMALL + UNSTABILISED)
    a = result.point.attrs
    assert not a["stable"]
    assert a["fraction_below_band_final"] + a["fraction_above_band_final"] > 0.05
    assert a["w_std_final"] > 2 * a["w_std_initial"]
    assert "NOT stable" in (tmp_path / "report.md").read_text()


def test_the_combined_experiment_runs_end_to_end_on_a_tiny_network(tmp_path, numpy_target):
    """The fast suite's end-to-end check of the combined experiment (the long runs above
    are slow): a tiny network on Brian2's numpy target writes its result, figures and
    report, and every plastic weight stays within its bounds."""
    result = _run("plasticity_combined.yaml", tmp_path,
                  ["combined.n_exc=100", "combined.n_inh=25", "combined.k_ee=20",
                   "combined.k_ei=40", "combined.k_ie=20", "combined.duration=1 s",
                   "combined.bin=100 ms", "combined.weight_sample=0.5 s",
                   "combined.final_window=0.5 s"])
    a, d = result.point.attrs, result.point.data
    assert result.protocol == "plasticity" and a["n_plastic_synapses"] > 0
    assert 0.0 <= a["w_min_observed"] and a["w_max_observed"] <= a["w_max_bound"]
    assert d["rate_hz"].size > 0 and (d["rate_hz"] >= 0).all()
    _outputs_written(tmp_path, ["combined_rate.png", "combined_weights.png"], "stable")
