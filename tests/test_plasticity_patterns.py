"""Pattern learning and recognition (the tutorial's complete example) and the curriculum.

Patterns: after 10 epochs of Hebbian learning each learned pattern drives the
units harder than a novel one, by more than the Poisson noise of the test; the
same run without learning (eta = 0) shows no such difference, so the test can
fail.  The measured responses match those expected from the frozen weights
(linear Poisson units: r0 + gain x w_unit x tau x sum of weight x rate).

Curriculum: the phases come in the tutorial's order with graded noise; the
easy phase writes the diagonals into the weights before any noise is seen,
the reversed order imprints the noise image first instead.
"""
from pathlib import Path

import numpy as np
import pytest

from analysis.results import load
from protocols import cli, plasticity
from protocols.config import load_config
from protocols.plasticity import curriculum, patterns

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
# the shipped config with 1 ms steps (linear Poisson units: the expected response accounts
# for the step), shorter presentations at a higher learning rate
FAST = ["protocol.dt=1 ms", "patterns.test_show=500 ms", "patterns.test_repeats=2",
        "patterns.show=200 ms", "patterns.gap=50 ms", "patterns.eta=0.025"]
NAMES = list(patterns.LEARNED) + [patterns.NOVEL]


def _config(name, overrides=()):
    return load_config(CONFIGS / name, plasticity.SCHEMA, list(overrides))


def test_the_patterns_are_the_tutorials():
    shapes = patterns.images(5)
    assert list(shapes) == ["vertical", "horizontal", "diagonal", "anti_diagonal"]
    np.testing.assert_array_equal(shapes["vertical"], np.repeat([[0, 0, 1, 0, 0]], 5, axis=0))
    np.testing.assert_array_equal(shapes["horizontal"], np.repeat(
        [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], [2, 2, 1], axis=0))
    np.testing.assert_array_equal(shapes["diagonal"], np.eye(5))
    # the novel pattern shares one pixel with the vertical and diagonal ones, one with the
    # horizontal one
    novel = shapes["anti_diagonal"]
    assert [int((novel * shapes[n]).sum()) for n in patterns.LEARNED] == [1, 1, 1]


def test_the_schedule_tests_trains_and_tests_again_learning_only_in_training():
    cfg = _config("plasticity_patterns.yaml").patterns
    plan = patterns.schedule(cfg)
    phases = [p for p, _, _, _ in plan["presentations"]]
    assert phases == ["before"] * 12 + ["training"] * 30 + ["after"] * 12
    train = [img for p, img, _, _ in plan["presentations"] if p == "training"]
    assert train == [0, 1, 2] * 10                       # every pattern once per epoch
    assert plan["n_ms"] == patterns.schedule_length_ms(cfg) == 2 * 12 * 1100 + 30 * 600
    lr = plan["lr"][:plan["n_ms"]]
    assert lr.sum() == 30 * 500 and set(plan["shown"][:plan["n_ms"]][lr > 0]) == {0, 1, 2}
    ends = patterns.epoch_ends_ms(cfg)
    assert ends[0] == 12 * 1100 and np.all(np.diff(ends) == 1800)


@pytest.mark.usefixtures("numpy_target")
def test_learned_patterns_drive_the_units_harder_than_a_novel_one(tmp_path, capsys):
    assert cli.main(["run", str(CONFIGS / "plasticity_patterns.yaml"), "--out", str(tmp_path),
                     *[x for s in FAST for x in ("--set", s)]]) == 0
    out = capsys.readouterr().out
    assert "patterns: epoch 1/10: mean weight" in out and "epoch 10/10" in out
    a = load(tmp_path / "results.h5").point.attrs
    novel = patterns.NOVEL
    for name in patterns.LEARNED:
        # the units' mean response given their frozen weights (no sampling noise) ...
        assert a[f"expected_after_{name}_hz"] > a[f"expected_after_{novel}_hz"] + 5, name
        # ... and the measured one
        assert a[f"response_after_{name}_hz"] > a[f"response_after_{novel}_hz"], name
    assert a["recognized"] and a["recognition_margin_after_hz"] > 5
    # before training every pattern (5 pixels each) meets the same random weights
    expected_before = [a[f"expected_before_{n}_hz"] for n in NAMES]
    assert np.ptp(expected_before) < 0.1 * np.mean(expected_before)
    # measured responses against the frozen weights' prediction, all patterns pooled
    # (about 2 % sampling error: inputs and units are Poisson)
    for phase in ("before", "after"):
        measured = sum(a[f"response_{phase}_{n}_hz"] for n in NAMES)
        expected = sum(a[f"expected_{phase}_{n}_hz"] for n in NAMES)
        assert measured == pytest.approx(expected, rel=0.08), phase
    assert 0 <= a["w_min_observed"] and a["w_max_observed"] <= a["w_max_bound"]
    assert (tmp_path / "figures" / "patterns_recognition.png").stat().st_size > 20_000
    assert "| epoch | mean weight |" in (tmp_path / "report.md").read_text()


@pytest.mark.usefixtures("numpy_target")
def test_without_learning_the_novel_pattern_is_not_told_apart(tmp_path):
    """The control of the test above: no learning (eta = 0, no decay) keeps the weights, and
    the criterion there fails (it is not true of any network)."""
    path = plasticity.run(_config("plasticity_patterns.yaml", FAST + [
        "patterns.eta=0", "patterns.decay_rate=0 Hz", "patterns.epochs=1"]), tmp_path)
    a = load(path).point.attrs
    assert a["w_mean_final"] == pytest.approx(a["w_mean_initial"], abs=1e-12)
    margins = [a[f"expected_after_{n}_hz"] - a[f"expected_after_{patterns.NOVEL}_hz"]
               for n in patterns.LEARNED]
    assert max(abs(m) for m in margins) < 2        # the criterion above fails
    assert a["recognition_margin_after_hz"] < 5


def test_the_expected_response_counts_a_spike_from_the_next_step():
    from types import SimpleNamespace

    cfg = SimpleNamespace(r0=2.0, gain=3.0)
    w, rates = np.array([[0.5, 0.5]]), np.array([40.0, 2.0])
    # dt -> 0: tau = 5 ms, r = 2 + 3 * 10 mV * 5 ms * 21 Hz = 5.15 Hz
    assert patterns.expected_rate_hz(cfg, w, rates, 1e-9)[0] == pytest.approx(5.15, rel=1e-6)
    decay = np.exp(-0.2)                                   # dt = 1 ms
    tau = 1e-3 * decay / (1 - decay)
    assert patterns.expected_rate_hz(cfg, w, rates, 1e-3)[0] == pytest.approx(
        2 + 3 * 10 * tau * 21)


@pytest.mark.slow
def test_the_shipped_patterns_config_recognises_every_learned_pattern(tmp_path):
    assert cli.main(["run", str(CONFIGS / "plasticity_patterns.yaml"), "--out",
                     str(tmp_path)]) == 0
    a = load(tmp_path / "results.h5").point.attrs
    assert a["recognized"] and a["recognition_margin_after_hz"] > 3
    assert a["response_relative_error_max"] < 0.15


# ----------------------------------------------------------------------------- curriculum
def test_the_curriculum_phases_come_in_order_with_graded_noise():
    cfg = _config("plasticity_curriculum.yaml").curriculum
    plan = curriculum.schedule(cfg, "curriculum")
    phases = [p for p, _, _, _ in plan["presentations"]]
    assert phases == ["easy"] * 10 + ["medium"] * 10 + ["hard"] * 5
    assert [i for _, i, _, _ in plan["presentations"][:2]] == ["diagonal", "anti_diagonal"]
    reverse = curriculum.schedule(cfg, "reversed")
    assert [p for p, _, _, _ in reverse["presentations"]] == phases[::-1][:5] + \
        ["medium"] * 10 + ["easy"] * 10
    assert plan["n_ms"] == reverse["n_ms"] == curriculum.schedule_length_ms(cfg) == 25 * 400
    shapes = curriculum.images(cfg, session=1)
    amplitude = curriculum.noise_amplitude(cfg)
    assert amplitude["diagonal"] == 0 < amplitude["weak_noise"] < amplitude["full_noise"]
    assert shapes["weak_noise"].max() <= 0.3 and shapes["full_noise"].max() > 0.9
    assert np.all(shapes["uniform"] == 0.5)
    np.testing.assert_array_equal(shapes["diagonal"], np.eye(10))
    np.testing.assert_array_equal(shapes["anti_diagonal"], np.rot90(np.eye(10)))
    # drawn once from the session's stream: the same images on every call
    np.testing.assert_array_equal(shapes["full_noise"],
                                  curriculum.images(cfg, session=1)["full_noise"])


@pytest.mark.usefixtures("numpy_target")
def test_the_easy_phase_writes_the_diagonals_before_any_noise(tmp_path):
    path = plasticity.run(_config("plasticity_curriculum.yaml", [
        "protocol.dt=1 ms", "curriculum.n_units=4", "curriculum.epochs_per_phase=3",
        "curriculum.show=250 ms", "curriculum.gap=50 ms"]), tmp_path)
    plasticity.report(path, tmp_path)
    points = load(path).points
    cur, rev = points["curriculum"].attrs, points["reversed"].attrs
    assert cur["alignment_initial"] == rev["alignment_initial"]       # the same start
    assert cur["alignment_after_easy"] > cur["alignment_initial"] + 0.1
    # the reversed copy's first phase is the hard one: it imprints the noise image instead
    assert rev["alignment_after_hard"] < cur["alignment_after_easy"] - 0.1
    assert rev["noise_imprint_after_hard"] > 0.3
    for a in (cur, rev):
        assert 0 <= a["w_min_observed"] and a["w_max_observed"] <= a["w_max_bound"]
    assert (tmp_path / "figures" / "curriculum.png").stat().st_size > 20_000
    assert "| copy | after phase |" in (tmp_path / "report.md").read_text()
