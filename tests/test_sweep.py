"""Sweeps: any protocol run over any config keys by the one runner (protocols.sweep)."""
import numpy as np
import pytest

from analysis.results import load
from protocols import cli, plasticity, sweep
from protocols.config import load_config_text

HEBBIAN = """\
experiment: plasticity
protocol: {kind: hebbian}
hebbian: {n_inputs: 8, n_patterns: 2, n_units: 2, duration: "0.5 s"}
seed: {session: 3}
"""
SWEEP_2X2 = HEBBIAN + """\
sweep:
  hebbian.eta: [0.001, 0.004]
  hebbian.decay_rate: ["0.02 Hz", "0.1 Hz"]
"""


def write(tmp_path, text, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def run(path, out, *extra):
    return cli.main(["run", str(path), "--out", str(out), "--jobs", "1", *extra])


def test_a_plasticity_sweep_writes_its_grid_and_figures(tmp_path, numpy_target):
    out = tmp_path / "out"
    assert run(write(tmp_path, SWEEP_2X2), out) == 0
    result = load(out / "results.h5")
    assert result.axis_names == ("hebbian.eta", "hebbian.decay_rate")
    np.testing.assert_allclose(result.axes[0], [0.001, 0.004])
    np.testing.assert_allclose(result.axes[1], [0.02, 0.1])  # Hz, the SI base unit
    grid = result.grid("w_mean_final")
    assert grid.shape == (2, 2) and np.isfinite(grid).all()
    assert (out / "figures" / "sweep_w_mean_final.png").stat().st_size > 5_000
    assert "hebbian.eta" in (out / "report.md").read_text()
    # the point (eta=0.004, decay=0.02 Hz) equals a run of the sub-experiment on its own
    alone = tmp_path / "alone"
    single = write(tmp_path, HEBBIAN, "single.yaml")
    assert cli.main(["run", str(single), "--out", str(alone), "--set", "hebbian.eta=0.004",
                     "--set", "hebbian.decay_rate=0.02 Hz"]) == 0
    direct = load(alone / "results.h5").point.attrs
    assert grid[1, 0] == pytest.approx(direct["w_mean_final"], rel=1e-12)
    assert result.grid("pearson_r")[1, 0] == pytest.approx(direct["pearson_r"], rel=1e-12)


def test_a_three_key_sweep_has_one_axis_per_key(tmp_path, numpy_target):
    text = HEBBIAN.replace('"0.5 s"', '"0.25 s"') + """\
sweep:
  hebbian.eta: [0.001, 0.004]
  hebbian.decay_rate: {start: "0.02 Hz", stop: "0.1 Hz", num: 2}
  hebbian.n_units: [1, 3]
"""
    out = tmp_path / "out"
    assert run(write(tmp_path, text), out) == 0
    result = load(out / "results.h5")
    assert result.axis_names == ("hebbian.eta", "hebbian.decay_rate", "hebbian.n_units")
    assert result.grid("w_mean_final").shape == (2, 2, 2)
    np.testing.assert_array_equal(result.grid("n_units")[0, 0], [1, 3])
    assert (out / "figures" / "sweep_w_mean_final_1.png").exists()  # one heatmap per n_units


def test_a_stopped_sweep_resumes_without_duplicates_and_same_numbers(tmp_path, numpy_target):
    from protocols import guards

    path = write(tmp_path, SWEEP_2X2)
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert run(path, full) == 0
    config = sweep.load(path, plasticity.SCHEMA)
    asked = []
    original = guards.ResourceGuard.check

    def stop_after_two(self, *, running, remaining):
        asked.append(remaining)
        if len(asked) > 2:
            return guards.Decision(guards.STOP, 0.0, "test stop")
        return original(self, running=running, remaining=remaining)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(guards.ResourceGuard, "check", stop_after_two)
        with pytest.raises(guards.Stopped, match="2 of 4 points"):
            sweep.run_sweep(plasticity, config, cut, jobs=1)
    assert len(load(cut / "results.h5").points) == 2
    assert run(path, cut) == 2  # a folder holding a run needs --resume
    assert run(path, cut, "--resume") == 0
    resumed, reference = load(cut / "results.h5"), load(full / "results.h5")
    assert sorted(resumed.points) == sorted(reference.points) == \
        ["p000_000", "p000_001", "p001_000", "p001_001"]
    np.testing.assert_array_equal(resumed.grid("w_mean_final"), reference.grid("w_mean_final"))
    np.testing.assert_array_equal(resumed.grid("pearson_r"), reference.grid("pearson_r"))


@pytest.mark.parametrize("setting, words", [
    ("sweep.hebbian.etta=[0.1, 0.2]", "did you mean 'eta'"),
    ("sweep.hebian.eta=[0.1, 0.2]", "unknown section"),
    ("sweep.hebbian.eta=[-1, 0.2]", "allowed value >= 0"),
    ("sweep.hebbian.eta=[0.1, 0.1]", "repeats 0.1"),
    ("sweep.hebbian.decay_rate=[1 ms]", "expected a frequency"),
    ("sweep.hebbian.eta={start: 0.1, stop: 0.2}", "lacks num"),
    ("sweep.hebbian.n_units=[1.5, 2]", "whole numbers"),
    ("sweep.protocol.kind=[1, 2]", "numbers or quantities"),
    ("sweep.scheduler=dask", "names no config key to sweep"),
])
def test_bad_sweep_keys_and_values_exit_2_with_one_line(tmp_path, capsys, setting, words):
    path = write(tmp_path, HEBBIAN)
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out"), "--check",
                     "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "out").exists()


def test_a_sweep_section_in_the_file_names_unknown_keys(tmp_path, capsys):
    path = write(tmp_path, HEBBIAN + "sweep:\n  hebbian.eeta: [0.1, 0.2]\n")
    assert cli.main(["run", str(path), "--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hebbian.eeta" in err and "did you mean 'eta'" in err


def test_sweep_config_points_are_named_by_index_and_blocked_row_major():
    schema = sweep.schema_for(plasticity.SCHEMA, ["hebbian.eta", "hebbian.n_units"], "<t>")
    config = load_config_text(HEBBIAN + "sweep: {hebbian.eta: [0.1, 0.2], "
                              "hebbian.n_units: [1, 2, 3]}", schema)
    points = sweep.points(config)
    assert [p.name for p in points][:4] == ["p000_000", "p000_001", "p000_002", "p001_000"]
    assert [p.block for p in points] == list(range(6))
    assert points[5].config.hebbian.n_units == 3 and points[5].config.hebbian.eta == 0.2
    assert "sweep" not in points[0].config.schema


def test_a_chaos_sweep_writes_its_grid_and_each_point_is_its_own_network(tmp_path, numpy_target):
    from protocols import chaos
    from protocols.config import load_config

    from tests.conftest import CONFIGS

    small = ["network.n_neurons=60", "protocol.n_perturbations=2", "protocol.baseline=20 ms",
             "protocol.observation=100 ms"]
    text = (CONFIGS / "chaos_quick.yaml").read_text() + "sweep:\n  network.g_std: [0.2, 0.4]\n"
    out = tmp_path / "out"
    assert run(write(tmp_path, text), out, *(f"--set={s}" for s in small)) == 0
    result = load(out / "results.h5")
    assert result.axis_names == ("network.g_std",)
    np.testing.assert_allclose(result.axes[0], [0.2, 0.4])
    grid = result.grid("lz_mean")
    assert grid.shape == (2,) and np.isfinite(grid).all()
    assert (out / "figures" / "sweep_lz_mean.png").exists()
    # point 1 is the chaos point g_std=0.4 on its own network, block 1 (a plain run uses block 0)
    config = load_config(CONFIGS / "chaos_quick.yaml", chaos.SCHEMA,
                         [*small, "network.g_std=0.4"])
    direct, _ = chaos.simulate_point(config, block=1, build_root=str(tmp_path / "build"))
    assert grid[1] == pytest.approx(direct["lz_mean"], rel=1e-12)
    assert result.grid("block_id")[1] == 1
