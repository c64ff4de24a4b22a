"""Hostile plasticity configs: refused up front with one line, or run to the end.

Every config the schema accepts either fails :func:`protocols.plasticity.validate`
with a ``ConfigError`` naming the key (before anything is built), or runs and
reports; legitimate edge cases (an in-degree of 0, a duration that is not a
whole number of bins, measures without data) run and say "not computable".
"""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from analysis.results import load
from protocols import cli, plasticity
from protocols.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _config(kind, overrides=()):
    return load_config(CONFIGS / f"plasticity_{kind}.yaml", plasticity.SCHEMA, list(overrides))


def _refusal(kind, overrides) -> ConfigError:
    cfg = _config(kind, overrides)
    with pytest.raises(ConfigError) as info:
        plasticity.validate(cfg)
    return info.value


# ----------------------------------------------------------------------------- refusals
SMALL_NET = ["n_exc=10", "n_inh=4"]

REFUSED = [
    # (kind, overrides, the key the message names, a word the message holds)
    ("stp", ["stp.rates_hz=[]"], "stp.rates_hz", "empty"),
    ("stp", ["stp.rates_hz=[5, 5.0000001]"], "stp.rates_hz", "distinct"),
    ("stp", ["stp.rates_hz=[0.1]", "stp.duration=3 s"], "stp.duration", "two spikes"),
    ("stp", ["stp.duration=0.05 ms"], "stp.duration", "protocol.dt"),
    ("stp", ["stp.duration=3 s", "protocol.dt=1e-9 s"], "stp.duration", "steps"),
    ("stp", ["stp.rates_hz=[400]", "protocol.dt=2 ms"], "stp.rates_hz", "time step"),
    ("hebbian", ["hebbian.n_patterns=101"], "hebbian.n_patterns", "hebbian.n_inputs"),
    ("hebbian", ["hebbian.show=0.5 ms"], "hebbian.show", "whole number of milliseconds"),
    ("hebbian", ["hebbian.gap=2.5 ms"], "hebbian.gap", "whole number of milliseconds"),
    ("hebbian", ["hebbian.coactivity_bin=31 s"], "hebbian.coactivity_bin", "hebbian.duration"),
    ("hebbian", ["hebbian.coactivity_bin=0.01 ms"], "hebbian.coactivity_bin", "protocol.dt"),
    ("hebbian", ["hebbian.duration=2e5 s", "protocol.dt=10 ms"], "hebbian.duration", "steps"),
    ("bcm", ["bcm.period=40 s"], "bcm.period", "half of bcm.duration"),
    ("bcm", ["bcm.period=0.01 ms"], "bcm.period", "protocol.dt"),
    ("bcm", ["bcm.window=61 s"], "bcm.window", "bcm.duration"),
    ("bcm", ["bcm.window=600 ms"], "bcm.window", "2 x bcm.period"),
    ("bcm", ["bcm.tau_rate=0.01 ms"], "bcm.tau_rate", "Euler"),
    ("bcm", ["bcm.tau_theta=1e-12 s"], "bcm.tau_theta", "Euler"),
    ("hebbian", ["hebbian.decay_rate=20 kHz"], "hebbian.decay_rate", "Euler"),
    ("homeostasis", ["homeostasis.scales=[]"], "homeostasis.scales", "empty"),
    ("homeostasis", ["homeostasis.scales=[1, 1.0000001]"], "homeostasis.scales", "distinct"),
    ("homeostasis", ["homeostasis.k_ee=150"], "homeostasis.k_ee", "homeostasis.n_exc - 1"),
    ("homeostasis", ["homeostasis.k_input=151"], "homeostasis.k_input", "homeostasis.n_input"),
    ("homeostasis", ["homeostasis.k_ei=151"], "homeostasis.k_ei", "homeostasis.n_exc"),
    ("homeostasis", ["homeostasis.k_ie=41"], "homeostasis.k_ie", "homeostasis.n_inh"),
    ("homeostasis", ["homeostasis.final_window=31 s"], "homeostasis.final_window", "duration"),
    ("homeostasis", ["homeostasis.initial_window=31 s"], "homeostasis.initial_window",
     "duration"),
    ("homeostasis", ["homeostasis.weight_sample=30 s"], "homeostasis.weight_sample", "below"),
    ("homeostasis", ["homeostasis.bin=0.01 ms"], "homeostasis.bin", "protocol.dt"),
    ("combined", [f"combined.{x}" for x in SMALL_NET] + ["combined.k_ee=10"], "combined.k_ee",
     "combined.n_exc - 1 = 9"),
    ("combined", ["combined.k_ie=101"], "combined.k_ie", "combined.n_inh"),
    ("combined", ["combined.band_low=60 Hz"], "combined.band_low", "combined.band_high"),
    ("combined", ["combined.n_weight_bins=10001"], "combined.n_weight_bins", "10000"),
    ("combined", ["combined.plasticity_dt=1e-12 s"], "combined.plasticity_dt", "steps"),
    ("combined", ["combined.weight_sample=61 s"], "combined.weight_sample", "duration"),
    ("combined", ["combined.bin=61 s"], "combined.bin", "duration"),
    ("combined", ["combined.bcm_tau_rate=0.5 ms"], "combined.bcm_tau_rate", "plasticity_dt"),
    ("combined", ["combined.decay_rate=1001 Hz"], "combined.decay_rate", "plasticity_dt"),
    ("strategies", ["strategies.period_on=20 s"], "strategies.period_on", "switch"),
    ("strategies", ["strategies.epoch=25 s"], "strategies.epoch", "switch"),
    ("strategies", ["strategies.rest=0.5 ms"], "strategies.rest", "whole number"),
    ("strategies", ["strategies.n_patterns=101"], "strategies.n_patterns", "n_inputs"),
]


@pytest.mark.parametrize("kind, overrides, key, word", REFUSED,
                         ids=[f"{k}:{o[-1]}" for k, o, _, _ in REFUSED])
def test_config_that_cannot_run_is_refused_naming_its_key(kind, overrides, key, word):
    error = _refusal(kind, overrides)
    assert error.key == key
    assert word in error.problem and "got" in error.problem
    assert "\n" not in str(error)


def test_command_line_refuses_with_one_line_and_status_2(tmp_path, capsys):
    assert cli.main(["run", str(CONFIGS / "plasticity_stp.yaml"), "--out", str(tmp_path / "o"),
                     "--set", "stp.rates_hz=[]"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stp.rates_hz" in err
    assert not (tmp_path / "o").exists()


def test_memory_estimate_grows_with_recorded_weights_and_refuses_the_impossible(tmp_path,
                                                                                capsys):
    small, detail = plasticity.estimate_memory(_config("bcm"))
    assert 300 * 2**20 < small < 2**30 and "bcm" in detail
    longer, _ = plasticity.estimate_memory(_config("bcm", ["bcm.duration=600 s"]))
    base = plasticity.PROCESS_BYTES
    assert longer - base > 5 * (small - base)   # the samples grow with the duration
    huge, detail = plasticity.estimate_memory(_config("combined", ["combined.n_exc=1000000"]))
    assert huge > 2**40 and "connectivity draw" in detail
    assert cli.main(["run", str(CONFIGS / "plasticity_combined.yaml"), "--out",
                     str(tmp_path / "o"), "--check", "--set", "combined.n_exc=1000000"]) == 2
    assert "memory" in capsys.readouterr().err


def test_defaults_and_shipped_configs_are_accepted():
    from protocols import sweep

    for path in sorted(CONFIGS.glob("plasticity_*.yaml")):
        if sweep.requested(path):        # the learning-rate sweep and grid
            cfg = sweep.load(path, plasticity.SCHEMA)
            sweep.validate(cfg, plasticity)
            need, _ = sweep.Sweep(plasticity).estimate_memory(cfg, jobs=1)
        else:
            cfg = load_config(path, plasticity.SCHEMA)
            plasticity.validate(cfg)
            need, _ = plasticity.estimate_memory(cfg)
        assert need < 4 * 2**30, path.name


# ----------------------------------------------------------------------------- edge cases
@pytest.mark.usefixtures("numpy_target")  # small one-off networks: nothing compiled
def test_empty_index_arrays_give_an_inactive_synapses_object_that_runs():
    """In-degree 0: Brian2 cannot connect empty arrays; build switches the object off."""
    import brian2 as b2
    from brian2 import ms

    from models import plasticity as rules, synapses

    target = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"   # no compilation for this one-off network
    try:
        group = b2.NeuronGroup(2, "I_syn : volt", threshold="False", reset="", name="edge_group")
        model = synapses.exponential() + rules.stp()     # x is set only when connected
        empty = synapses.build(group, group, model, i=np.zeros(0, int), j=[], w=0.5,
                               name="edge_empty")
        assert len(empty) == 0 and not empty.active
        b2.Network(group, empty).run(0.5 * ms, namespace={})
    finally:
        b2.prefs.codegen.target = target


def test_pattern_schedule_size_follows_the_duration_not_the_show():
    from protocols.plasticity.hebbian import pattern_schedule

    cfg = _config("hebbian", ["hebbian.show=1e5 s", "hebbian.gap=0 s"]).hebbian
    shown = pattern_schedule(cfg, 0.25)
    assert shown.shape == (251,) and set(shown) == {0}
    cfg = _config("hebbian", ["hebbian.show=2 ms", "hebbian.gap=1 ms",
                              "hebbian.n_patterns=2"]).hebbian
    assert pattern_schedule(cfg, 0.008).tolist() == [0, 0, -1, 1, 1, -1, 0, 0, -1]


def test_bcm_selectivity_counts_each_window_and_is_nan_without_spikes():
    from protocols.plasticity.bcm import _selectivity

    # unit 0: 3 spikes in A phases, 1 in B, all in window 0; unit 1 silent
    t, sel = _selectivity([0, 0, 0, 0], [0.1, 0.2, 1.1, 0.6], 2, duration_s=4.0,
                          period_s=0.5, window_s=2.0)
    assert t.tolist() == [1.0, 3.0]
    assert sel[0, 0] == pytest.approx(0.5) and np.isnan(sel[0, 1]) and np.isnan(sel[1]).all()


def _run(kind, overrides, out):
    cfg = _config(kind, overrides)
    plasticity.validate(cfg)
    path = plasticity.run(cfg, out)
    plasticity.report(path, out)
    return load(path), (out / "report.md").read_text()


@pytest.mark.usefixtures("numpy_target")  # small one-off networks: nothing compiled
def test_pathways_of_in_degree_zero_run_and_report_no_recurrent_weight(tmp_path):
    result, text = _run("homeostasis", [
        "homeostasis.n_exc=8", "homeostasis.n_inh=2", "homeostasis.n_input=8",
        "homeostasis.k_input=4", "homeostasis.k_ee=0", "homeostasis.k_ei=0",
        "homeostasis.k_ie=0", "homeostasis.scales=[1]", "homeostasis.duration=0.5 s",
        "homeostasis.initial_window=100 ms", "homeostasis.final_window=200 ms"], tmp_path)
    a = result.point.attrs
    assert np.isnan(a["mean_w_ee_final"]) and np.isfinite(a["mean_w_input_final"])
    assert "none → none" in text and "not computable" in text   # settling: run < 1 s


@pytest.mark.usefixtures("numpy_target")  # small one-off networks: nothing compiled
def test_hebbian_without_learning_and_with_a_partial_bin_reports_r_not_computable(tmp_path):
    """No weight change (eta = decay = 0): Pearson r is NaN; 0.25 s is not whole 30 ms bins."""
    result, text = _run("hebbian", [
        "hebbian.n_inputs=6", "hebbian.n_patterns=3", "hebbian.n_units=2", "hebbian.eta=0",
        "hebbian.decay_rate=0 Hz", "hebbian.duration=0.25 s", "hebbian.coactivity_bin=30 ms",
        "hebbian.show=1000 s"], tmp_path)
    a = result.point.attrs
    assert np.isnan(a["pearson_r"]) and np.all(result.point.data["weight_change"] == 0)
    assert "| Pearson r, co-activations vs weight change | not computable" in text


@pytest.mark.usefixtures("numpy_target")  # small one-off networks: nothing compiled
def test_silent_bcm_units_have_no_preference(tmp_path):
    result, text = _run("bcm", [
        "bcm.n_inputs=4", "bcm.n_units=2", "bcm.r0=0 Hz", "bcm.w_init=0",
        "bcm.duration=0.4 s", "bcm.period=100 ms", "bcm.window=200 ms"], tmp_path)
    for point in result.points.values():
        assert point.attrs["preferred"] == "none" and np.isnan(point.attrs["selectivity_final"])
    assert "not computable" in text and "0 prefer A, 0 prefer B" in text


@pytest.mark.usefixtures("numpy_target")  # small one-off networks: nothing compiled
def test_stp_with_many_rates_and_two_spikes_per_train_reports(tmp_path):
    """Nine rates (the figure had colours for eight); at 5 Hz a 0.25 s train has two spikes."""
    rates = "[5, 10, 20, 30, 40, 50, 60, 70, 80]"
    result, text = _run("stp", [f"stp.rates_hz={rates}", "stp.duration=0.25 s"], tmp_path)
    assert len(result.points) == 18
    slow = result.points["depressing_5hz"]
    assert len(slow.data["efficacy"]) == 2 and np.isfinite(slow.attrs["paired_pulse_ratio"])
    assert (tmp_path / "figures" / "stp_efficacy.png").exists()


# ----------------------------------------------------------------------------- generated
def _value(field):
    """Values of a field's kind, within the schema's range and beyond it."""
    if field.kind == "int":
        return st.one_of(st.integers(-2, 12), st.integers(0, 10**7))
    if field.kind == "float":
        return st.one_of(st.floats(-1, 2), st.floats(0, 1e9), st.sampled_from([0.0, 1.0]))
    if field.kind == "float_list":
        return st.lists(st.sampled_from([0.01, 0.5, 1, 1.0000001, 5, 20, 499.9, 500, 501]),
                        max_size=4)
    if field.kind == "quantity":
        unit = {"time": "ms", "frequency": "Hz"}[field.unit]
        number = st.one_of(st.sampled_from([0, 0.05, 0.1, 1, 1.5, 250, 1000, 3000, 60000]),
                           st.floats(0, 1e12, allow_nan=False))
        return number.map(lambda x: f"{x!r} {unit}")
    return st.nothing()


KIND_KEYS = {kind: sorted(plasticity.SCHEMA[kind]) for kind in plasticity.AVAILABLE}


@st.composite
def _overrides(draw):
    kind = draw(st.sampled_from(plasticity.AVAILABLE))
    section = plasticity.SCHEMA[kind]
    keys = draw(st.lists(st.sampled_from(KIND_KEYS[kind]), min_size=1, max_size=6, unique=True))
    chosen = [f"{kind}.{key}={draw(_value(section[key]))}" for key in keys]
    dt = draw(st.sampled_from(["0.1 ms", "0.1 ms", "1 ms", "1e-7 s", "50 ms"]))
    return kind, [f"protocol.kind={kind}", f"protocol.dt={dt}", *chosen]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_overrides())
def test_generated_configs_are_accepted_or_refused_with_a_config_error(case):
    kind, overrides = case
    try:
        cfg = _config(kind, overrides)
        plasticity.validate(cfg)
    except ConfigError as error:
        assert "\n" not in str(error) and error.key
        return
    need, detail = plasticity.estimate_memory(cfg)
    assert np.isfinite(need) and need >= plasticity.PROCESS_BYTES and kind in detail


@st.composite
def _tiny_runs(draw):
    """Small configs of the cheap sub-experiments (seconds each), mostly valid by construction."""
    kind = draw(st.sampled_from(["stp", "hebbian", "bcm"]))
    duration = draw(st.integers(20, 400))                      # ms
    up_to = lambda top: st.integers(1, max(1, top))           # noqa: E731
    if kind == "stp":
        rates = draw(st.lists(st.integers(1000 // (duration - 2) + 1, 500), min_size=1,
                              max_size=3, unique=True))
        chosen = [f"stp.rates_hz={rates}"]
    elif kind == "hebbian":
        chosen = [f"hebbian.n_inputs={draw(st.integers(2, 6))}",
                  f"hebbian.n_patterns={draw(st.integers(1, 2))}",
                  f"hebbian.n_units={draw(st.integers(1, 2))}",
                  f"hebbian.show={draw(up_to(2 * duration))} ms",
                  f"hebbian.gap={draw(st.integers(0, duration))} ms",
                  f"hebbian.coactivity_bin={draw(up_to(duration))} ms"]
    else:
        period = draw(up_to(duration // 2))
        chosen = [f"bcm.n_inputs={draw(st.integers(2, 6))}",
                  f"bcm.n_units={draw(st.integers(1, 2))}", f"bcm.period={period} ms",
                  f"bcm.window={draw(st.integers(2 * period, max(2 * period, duration)))} ms"]
    return kind, [f"protocol.kind={kind}", f"{kind}.duration={duration} ms", *chosen]


@pytest.mark.usefixtures("numpy_target")  # small one-off networks: nothing compiled
@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(_tiny_runs())
def test_accepted_generated_configs_run_and_report(tmp_path, case):
    kind, overrides = case
    cfg = _config(kind, overrides)
    try:
        plasticity.validate(cfg)
    except ConfigError:
        assume(False)
    out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    path = plasticity.run(cfg, out)
    plasticity.report(path, out)
    assert (out / "report.md").exists() and load(path).points
