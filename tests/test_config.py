"""Configs: quantities with units, the schema's checks, overrides, exact round trips."""
import doctest
import pickle

import brian2 as b2
import numpy as np
import pytest
from brian2 import Hz, mV, ms, nS, pA, second

import protocols.config
from protocols.config import (DIMENSIONS, REQUIRED, ConfigError, Field, format_quantity,
                              load_config, load_config_text, parse_quantity, read_experiment)

SCHEMA = {
    "network": {
        "n_neurons": Field("int", 1000, low=1, doc="neurons"),
        "connection_prob": Field("float", 0.1, low=0, low_open=True, high=1, doc="p"),
        "fixed_indegree": Field("bool", False),
        "tau_m": Field("quantity", "20 ms", unit="time", low=0, low_open=True),
        "v_th": Field("quantity", "-55 mV", unit="voltage"),
        "g_std": Field("float", 0.2, low=0, high=5),
    },
    "input": {
        "rate": Field("quantity", "200 Hz", unit="frequency", low=0),
        "gains": Field("float_list", [1.0, 2.0], low=0),
    },
    "grid": {
        "v_th_std": Field("axis", {"start": 0.05, "stop": 0.5, "num": 4}, low=0, high=2),
        "scheduler": Field("str", "joblib", choices=("joblib", "dask")),
    },
    "seed": {"session": Field("int", REQUIRED, low=0)},
}

GOOD = """\
experiment: chaos
network:
  n_neurons: 300
  tau_m: "10 ms"
input:
  rate: "150 Hz"
grid:
  v_th_std: [0.1, 0.2]
seed:
  session: 7
"""


@pytest.fixture
def write(tmp_path):
    def make(text, name="run.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path
    return make


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)
    return str(info.value)


def test_module_doctests_pass():
    result = doctest.testmod(protocols.config)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------- quantities
@pytest.mark.parametrize("text, dimension, expected", [
    ("20 ms", "time", 20 * ms),
    ("-55 mV", "voltage", -55 * mV),
    ("200 Hz", "frequency", 200 * Hz),
    ("0.1 ms", "time", 0.1 * ms),
    ("1e-3 second", "time", 1 * ms),
    ("5 nS", "conductance", 5 * nS),
    ("100 pA", "current", 100 * pA),
    ("20ms", "time", 20 * ms),
    ("2 msecond", "time", 2 * ms),
    ("1 mV/ms", None, 1 * mV / ms),
    ("3 ms^-1", "frequency", 3000 * Hz),
])
def test_quantities_parse_to_brian2_values(text, dimension, expected):
    value = parse_quantity(text, dimension)
    assert isinstance(value, b2.Quantity)
    assert b2.get_dimensions(value) == b2.get_dimensions(expected)
    assert float(value) == pytest.approx(float(expected), rel=1e-15)


def test_dimensionless_accepts_a_bare_number():
    assert float(parse_quantity("0.5", "dimensionless")) == 0.5


def test_every_dimension_example_parses_to_its_dimension():
    for name, (_, example) in DIMENSIONS.items():
        parse_quantity(example, name)


@pytest.mark.parametrize("text, fragments", [
    ("20 mV", ["got '20 mV' (a voltage)", "expected a time such as '20 ms'"]),
    ("20", ["got '20' (a number without a unit)", "expected a time"]),
    (20, ["got 20 (a number without a unit)"]),
    ("20 mss", ["unknown unit 'mss'", "did you mean 'ms'?"]),
    ("twenty ms", ["not a number followed by a unit"]),
    ("20 ms 5", ["cannot read the unit"]),
])
def test_bad_quantities_say_what_was_given_and_expected(text, fragments):
    with pytest.raises(ValueError) as info:
        parse_quantity(text, "time")
    for fragment in fragments:
        assert fragment in str(info.value)


def test_parse_quantity_never_evaluates_code():
    with pytest.raises(ValueError):
        parse_quantity("1 __import__('os')", "time")


@pytest.mark.parametrize("quantity", [
    20 * ms, 0.1 * ms, 0.1 * ms + 0.2 * ms, -55 * mV, 200 * Hz, 5 * nS, 0 * mV,
    1 / 3 * second, 1e-9 * second, 123456.789 * ms, 0.3 * mV / ms,
])
def test_written_quantities_read_back_bit_for_bit(quantity):
    back = parse_quantity(format_quantity(quantity), None)
    assert float(back) == float(quantity)
    assert b2.get_dimensions(back) == b2.get_dimensions(quantity)


def test_random_quantities_round_trip_exactly():
    rng = np.random.default_rng(1)
    values = rng.uniform(-1, 1, 300) * 10.0 ** rng.integers(-12, 6, 300)
    for value in values:
        for unit in (second, b2.volt, b2.hertz, b2.siemens):
            q = value * unit
            assert float(parse_quantity(format_quantity(q), None)) == float(q)


def test_quantities_are_written_in_readable_units():
    assert format_quantity(20 * ms) == "20 ms"
    assert format_quantity(0.1 * ms) == "0.1 ms"
    assert format_quantity(-55 * mV) == "-55 mV"


# ----------------------------------------------------------------------------- loading
def test_values_are_typed_and_defaults_filled(write):
    cfg = load_config(write(GOOD), SCHEMA)
    assert cfg.experiment == "chaos"
    assert cfg.network.n_neurons == 300 and type(cfg.network.n_neurons) is int
    assert isinstance(cfg.network.tau_m, b2.Quantity) and float(cfg.network.tau_m) == 0.01
    assert float(cfg.network.v_th) == float(-55 * mV)  # default
    assert cfg.network.connection_prob == 0.1 and type(cfg.network.connection_prob) is float
    assert cfg.network.fixed_indegree is False
    assert cfg.input.gains == (1.0, 2.0)
    assert cfg["network"]["n_neurons"] == 300 and cfg["network.n_neurons"] == 300
    assert cfg.grid.v_th_std == (0.1, 0.2)
    assert cfg.source.endswith("run.yaml")


def test_unknown_key_names_file_key_allowed_keys_and_closest(write):
    path = write(GOOD.replace("n_neurons: 300", "n_neuron: 300"))
    assert error_of(load_config, path, SCHEMA) == (
        f"{path}: network.n_neuron: unknown key; allowed keys in 'network': connection_prob, "
        "fixed_indegree, g_std, n_neurons, tau_m, v_th; did you mean 'n_neurons'?")


def test_unknown_section_is_rejected_with_suggestion(write):
    message = error_of(load_config, write(GOOD + "netwrk:\n  n_neurons: 3\n"), SCHEMA)
    assert "netwrk: unknown section" in message and "did you mean 'network'?" in message


def test_number_without_unit_names_file_and_key(write):
    path = write(GOOD.replace('tau_m: "10 ms"', 'tau_m: "20"'))
    assert error_of(load_config, path, SCHEMA) == (
        f"{path}: network.tau_m: got '20' (a number without a unit); "
        "expected a time such as '20 ms'")


def test_wrong_dimension_is_rejected(write):
    message = error_of(load_config, write(GOOD.replace('"150 Hz"', '"150 ms"')), SCHEMA)
    assert "input.rate: got '150 ms' (a time); expected a frequency such as '200 Hz'" in message


@pytest.mark.parametrize("old, new, expected", [
    ("n_neurons: 300", "connection_prob: 1.5",
     "network.connection_prob: got 1.5; allowed 0 < value <= 1"),
    ("n_neurons: 300", "connection_prob: 0",
     "network.connection_prob: got 0; allowed 0 < value <= 1"),
    ("n_neurons: 300", "n_neurons: 0", "network.n_neurons: got 0; allowed value >= 1"),
    ('tau_m: "10 ms"', "tau_m: '0 ms'", "network.tau_m: got '0 ms'; allowed value > 0 ms"),
    ("n_neurons: 300", "n_neurons: 2.5",
     "network.n_neurons: got 2.5 (a float); expected an integer"),
    ("n_neurons: 300", "fixed_indegree: maybe",
     "network.fixed_indegree: got 'maybe' (a string); expected true or false"),
    ("v_th_std: [0.1, 0.2]", "scheduler: ray",
     "grid.scheduler: got 'ray'; allowed: 'joblib', 'dask'"),
])
def test_out_of_range_and_wrong_values_are_rejected(write, old, new, expected):
    path = write(GOOD.replace(old, new))
    assert error_of(load_config, path, SCHEMA) == f"{path}: {expected}"


def test_float_accepts_yaml_exponent_strings(write):
    cfg = load_config(write(GOOD.replace("n_neurons: 300", "g_std: 1e-3")), SCHEMA)
    assert cfg.network.g_std == 0.001


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.yaml"
    assert error_of(load_config, path, SCHEMA) == f"config file not found: {path}"


def test_yaml_syntax_error_gives_the_line(write):
    path = write("experiment: chaos\nnetwork:\n  n_neurons: [1, 2\n  tau_m: 3\n")
    message = error_of(load_config, path, SCHEMA)
    assert message.startswith(f"{path}: line ") and "invalid YAML" in message


@pytest.mark.parametrize("text, fragment", [
    ("- 1\n- 2\n", "the top level is a list; expected a mapping"),
    ("", "the file is empty"),
    ("network: {}\nseed: {session: 1}\n", "experiment: missing"),
    ("experiment: chaos\n", "seed.session: missing; this key has no default"),
    ("experiment: chaos\nnetwork: 5\nseed: {session: 1}\n", "network: got 5 (an integer); "
                                                            "expected a mapping of keys"),
])
def test_malformed_files_are_rejected(write, text, fragment):
    assert fragment in error_of(load_config, write(text), SCHEMA)


def test_expected_experiment_is_enforced(write):
    message = error_of(load_config, write(GOOD), SCHEMA, experiment="heterogeneity_grid")
    assert "experiment: got 'chaos'" in message


def test_read_experiment_reads_only_the_name(write):
    assert read_experiment(write("experiment: chaos\nanything: [1, 2]\n")) == "chaos"


# ----------------------------------------------------------------------------- overrides
def test_overrides_are_read_as_yaml(write):
    cfg = load_config(write(GOOD), SCHEMA, ["network.n_neurons=2000", "network.tau_m=5 ms",
                                            'network.v_th="-50 mV"', "grid.v_th_std=[0.3,0.4]",
                                            "network.fixed_indegree=true"])
    assert cfg.network.n_neurons == 2000
    assert float(cfg.network.tau_m) == float(5 * ms)
    assert float(cfg.network.v_th) == float(-50 * mV)
    assert cfg.grid.v_th_std == (0.3, 0.4)
    assert cfg.network.fixed_indegree is True


def test_override_of_unknown_key_names_set(write):
    assert error_of(load_config, write(GOOD), SCHEMA, ["network.n_neuron=5"]).startswith(
        "--set: network.n_neuron: unknown key; allowed keys in 'network'")


def test_override_with_bad_value_names_the_override(write):
    message = error_of(load_config, write(GOOD), SCHEMA, ["network.n_neurons=abc"])
    assert message == ("--set network.n_neurons=abc: network.n_neurons: got 'abc' "
                       "(a string); expected an integer")


@pytest.mark.parametrize("override, fragment", [
    ("network", "expected section.key=value"),
    ("network=3", "expected a dotted key"),
    ("grid.v_th_std=[0.1,", "cannot read the value"),
    ("experiment=grid", "cannot be changed"),
])
def test_malformed_overrides_are_rejected(write, override, fragment):
    message = error_of(load_config, write(GOOD), SCHEMA, [override])
    assert message.startswith("--set") and fragment in message


# ----------------------------------------------------------------------------- axes
def test_axis_mapping_expands_with_linspace(write):
    cfg = load_config(write(GOOD), SCHEMA, ["grid.v_th_std={start: 0.1, stop: 0.5, num: 5}"])
    assert cfg.grid.v_th_std == pytest.approx((0.1, 0.2, 0.3, 0.4, 0.5))
    assert all(type(v) is float for v in cfg.grid.v_th_std)
    default = load_config(write(GOOD.replace("  v_th_std: [0.1, 0.2]\n", "")), SCHEMA)
    assert default.grid.v_th_std == pytest.approx((0.05, 0.2, 0.35, 0.5))


@pytest.mark.parametrize("value, fragment", [
    ("[]", "got an empty list"),
    ("[0.1, 3]", "got 3 (value 2 of 2); allowed 0 <= value <= 2"),
    ("{start: 0.1, stop: 0.5, num: 0}", "got num=0; expected an integer 1 <= num"),
    ("{start: 0.1, stop: 0.5}", "lacks num"),
    ("{start: 0.1, stop: 0.5, nm: 3}", "did you mean 'num'?"),
    ("{start: 0.1, stop: 3, num: 3}", "allowed 0 <= value <= 2"),
    ("0.1", "expected a non-empty list of numbers or {start"),
])
def test_bad_axes_are_rejected(write, value, fragment):
    assert fragment in error_of(load_config, write(GOOD), SCHEMA, [f"grid.v_th_std={value}"])


# ----------------------------------------------------------------------------- round trip
def test_resolved_yaml_loads_back_to_identical_values(write, tmp_path):
    cfg = load_config(write(GOOD), SCHEMA, ["grid.v_th_std={start: 0.05, stop: 0.5, num: 7}"])
    cfg = cfg.replace(**{"network.tau_m": 0.1 * ms + 0.2 * ms, "network.g_std": 0.1 + 0.2})
    back = load_config(write(cfg.to_yaml(), "resolved.yaml"), SCHEMA)
    assert back == cfg
    assert float(back.network.tau_m) == float(0.1 * ms + 0.2 * ms)
    assert back.network.g_std == 0.1 + 0.2
    assert back.grid.v_th_std == tuple(float(v) for v in np.linspace(0.05, 0.5, 7))
    assert back.to_yaml() == cfg.to_yaml()


def test_yaml_follows_schema_order(write):
    text = load_config(write(GOOD), SCHEMA).to_yaml()
    order = [line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")]
    assert order == ["experiment", "network", "input", "grid", "seed"]
    assert "  v_th_std: [0.1, 0.2]" in text.splitlines()


def test_to_dict_holds_plain_values(write):
    plain = load_config(write(GOOD), SCHEMA).to_dict()
    assert plain["network"]["tau_m"] == "10 ms"
    assert plain["input"]["gains"] == [1.0, 2.0]
    assert plain["seed"] == {"session": 7}


def test_config_pickles(write):
    cfg = load_config(write(GOOD), SCHEMA).replace(**{"network.g_std": 0.3})
    back = pickle.loads(pickle.dumps(cfg))
    assert back == cfg
    assert float(back.network.tau_m) == float(cfg.network.tau_m)
    assert back.replace(**{"network.g_std": 0.4}).network.g_std == 0.4
    error = pickle.loads(pickle.dumps(ConfigError("a.yaml", "network.x", "bad")))
    assert str(error) == "a.yaml: network.x: bad"


# ----------------------------------------------------------------------------- replace
def test_replace_returns_a_validated_copy(write):
    cfg = load_config(write(GOOD), SCHEMA)
    changed = cfg.replace(**{"network.g_std": 0.5, "network.tau_m": "15 ms"})
    assert changed.network.g_std == 0.5 and float(changed.network.tau_m) == float(15 * ms)
    assert cfg.network.g_std == 0.2 and changed != cfg
    assert changed.network.n_neurons == 300 and changed.source == cfg.source
    assert "allowed 0 <= value <= 5" in error_of(cfg.replace, **{"network.g_std": 9.0})
    assert "unknown key" in error_of(cfg.replace, **{"network.gstd": 0.1})
    assert "a voltage" in error_of(cfg.replace, **{"network.tau_m": 3 * mV})


def test_config_is_read_only(write):
    cfg = load_config(write(GOOD), SCHEMA)
    with pytest.raises(AttributeError):
        cfg.network.n_neurons = 5
    with pytest.raises(AttributeError):
        cfg.network = None
    with pytest.raises(AttributeError, match="no section"):
        cfg.netwrk


# ----------------------------------------------------------------------------- schema
def test_schema_mistakes_fail_when_declared():
    with pytest.raises(ValueError, match="unit="):
        Field("quantity", "20 ms")
    with pytest.raises(ValueError, match="invalid default"):
        Field("quantity", "20 mV", unit="time")
    with pytest.raises(ValueError, match="invalid default"):
        Field("int", 0, low=1)
    with pytest.raises(ValueError, match="kind"):
        Field("integer", 3)


def test_quantity_bounds_may_carry_units():
    schema = {"p": {"dt": Field("quantity", "0.1 ms", unit="time", high="1 ms")}}
    message = error_of(load_config_text, "experiment: x\np: {dt: 2 ms}", schema)
    assert message.endswith("p.dt: got '2 ms'; allowed value <= 1 ms")


# ----------------------------------------------------------------------------- dotted keys
DOTTED = {
    "hyperparameters": {
        "lr": Field("float", 1e-3, low=0, low_open=True),
        "loss_weight.firing_rate": Field("float", 1.0, low=0, doc="weight of the rate term"),
        "loss_weight.cv": Field("float", 1.0, low=0),
        "loss_weight.fano.window": Field("quantity", "50 ms", unit="time"),
    },
    "network": {"n_neurons": Field("int", 10, low=1)},
}


@pytest.mark.parametrize("section", [
    "  loss_weight.firing_rate: 2.0\n  loss_weight.fano.window: 20 ms\n",        # written out
    "  loss_weight:\n    firing_rate: 2.0\n    fano: {window: 20 ms}\n",         # nested
    "  loss_weight: {firing_rate: 2.0, fano.window: 20 ms}\n",                    # mixed
    "  loss_weight.firing_rate: 2.0\n  loss_weight.fano: {window: 20 ms}\n",
])
def test_dotted_keys_read_written_out_or_nested(section):
    cfg = load_config_text("experiment: demo\nhyperparameters:\n" + section, DOTTED)
    assert cfg.hyperparameters["loss_weight.firing_rate"] == 2.0
    assert cfg["hyperparameters.loss_weight.firing_rate"] == 2.0
    assert float(cfg.hyperparameters["loss_weight.fano.window"]) == float(20 * ms)
    assert cfg.hyperparameters["loss_weight.cv"] == 1.0                # the default
    assert list(cfg.hyperparameters) == list(DOTTED["hyperparameters"])


@pytest.mark.parametrize("section, expected", [
    ("  loss_weight: {firing_rat: 2}\n",
     "hyperparameters.loss_weight.firing_rat: unknown key; allowed keys in 'hyperparameters': "
     "loss_weight.cv, loss_weight.fano.window, loss_weight.firing_rate, lr; did you mean "
     "'loss_weight.firing_rate'?"),
    ("  loss_weight: {fano: {windw: 2 ms}}\n",
     "hyperparameters.loss_weight.fano.windw: unknown key; allowed keys in 'hyperparameters': "
     "loss_weight.cv, loss_weight.fano.window, loss_weight.firing_rate, lr; did you mean "
     "'loss_weight.fano.window'?"),
    ("  lr: {x: 1}\n", "hyperparameters.lr: got {'x': 1} (a mapping); expected a number"),
    ("  lrs: {x: 1}\n", "hyperparameters.lrs: unknown key; allowed keys in 'hyperparameters': "
                        "loss_weight.cv, loss_weight.fano.window, loss_weight.firing_rate, lr; "
                        "did you mean 'lr'?"),
    ("  loss_weight: 2\n", "hyperparameters.loss_weight: got 2 (an integer); expected a mapping "
                           "of keys: cv, fano.window, firing_rate"),
    ("  loss_weight.cv: 2\n  loss_weight: {cv: 3}\n",
     "hyperparameters.loss_weight.cv: given twice, written out and inside a nested mapping; "
     "keep one"),
    ("  loss_weight: {cv: -1}\n", "hyperparameters.loss_weight.cv: got -1; allowed value >= 0"),
])
def test_dotted_key_mistakes_name_the_full_key(section, expected):
    text = "experiment: demo\nhyperparameters:\n" + section
    assert error_of(load_config_text, text, DOTTED) == f"<text>: {expected}"


def test_set_and_replace_take_dotted_keys():
    cfg = load_config_text("experiment: demo", DOTTED,
                           ["hyperparameters.loss_weight.firing_rate=3",
                            "hyperparameters.loss_weight.fano.window=5 ms"])
    assert cfg.hyperparameters["loss_weight.firing_rate"] == 3.0
    assert float(cfg.hyperparameters["loss_weight.fano.window"]) == float(5 * ms)
    assert cfg.replace(**{"hyperparameters.loss_weight.cv": 0.25})["hyperparameters"][
        "loss_weight.cv"] == 0.25
    assert error_of(load_config_text, "experiment: demo", DOTTED,
                    ["hyperparameters.loss_weight.firing_rat=3"]) == (
        "--set: hyperparameters.loss_weight.firing_rat: unknown key; allowed keys in "
        "'hyperparameters': loss_weight.cv, loss_weight.fano.window, loss_weight.firing_rate, "
        "lr; did you mean 'loss_weight.firing_rate'?")
    # a section without dotted keys keeps the old message
    assert error_of(load_config_text, "experiment: demo", DOTTED, ["network.n_neurons.x=1"]) == (
        "--set: network.n_neurons.x: too many dots; expected section.key=value with one dot, "
        "e.g. network.n_neurons=2000")


def test_dotted_keys_round_trip_and_show_in_the_schema_table(write):
    cfg = load_config_text("experiment: demo\nhyperparameters:\n  loss_weight: {cv: 0.1}\n",
                           DOTTED, ["hyperparameters.loss_weight.fano.window=0.3 ms"])
    text = cfg.to_yaml()
    assert "  loss_weight.cv: 0.1\n" in text and "  loss_weight.fano.window: 0.3 ms\n" in text
    back = load_config(write(text), DOTTED)
    assert back == cfg and back.to_yaml() == text
    table = protocols.config.schema_table(DOTTED)
    assert "| `hyperparameters.loss_weight.firing_rate` | `1.0` | value >= 0 | weight of the " \
           "rate term |" in table.splitlines()


# ----------------------------------------------------------------------------- TOML
GOOD_TOML = """\
experiment = "chaos"

[network]
n_neurons = 300
tau_m = "10 ms"

[input]
rate = "150 Hz"

[grid]
v_th_std = [0.1, 0.2]

[seed]
session = 7
"""


def test_toml_config_equals_the_yaml_one(write):
    from_toml = load_config(write(GOOD_TOML, "run.toml"), SCHEMA)
    assert from_toml == load_config(write(GOOD), SCHEMA)
    assert from_toml.source.endswith("run.toml")
    assert type(from_toml.network.n_neurons) is int and from_toml.grid.v_th_std == (0.1, 0.2)
    assert read_experiment(write(GOOD_TOML, "again.toml")) == "chaos"
    axis = load_config(write(GOOD_TOML.replace("[0.1, 0.2]", "{start = 0.1, stop = 0.5, num = 5}"),
                             "axis.toml"), SCHEMA)
    assert axis.grid.v_th_std == pytest.approx((0.1, 0.2, 0.3, 0.4, 0.5))


def test_toml_dotted_keys_tables_and_quoted_keys(write):
    text = ('experiment = "demo"\n[hyperparameters]\nloss_weight.firing_rate = 2.0\n'
            '"loss_weight.cv" = 0.5\n[hyperparameters.loss_weight.fano]\nwindow = "20 ms"\n')
    cfg = load_config(write(text, "dotted.toml"), DOTTED)
    assert cfg == load_config_text("experiment: demo\nhyperparameters:\n  loss_weight: "
                                   "{firing_rate: 2.0, cv: 0.5, fano.window: 20 ms}", DOTTED)


def test_toml_syntax_error_gives_the_line(write):
    path = write('experiment = "chaos"\n[network]\nn_neurons = = 3\n', "bad.toml")
    assert error_of(load_config, path, SCHEMA) == \
        f"{path}: line 3, column 13: invalid TOML: Invalid value"
    assert "line 3" in error_of(read_experiment, path)


@pytest.mark.parametrize("text, expected", [
    ('experiment = "chaos"\n[seed]\nsession = 1979-05-27\n',
     "seed.session: got 1979-05-27 (a TOML date or time); not a value this config accepts "
     "(quote it for text)"),
    ('experiment = "chaos"\n[seed]\nsession = 12:30:00\n', "seed.session: got 12:30:00 (a TOML"),
    ('experiment = "chaos"\n[seed]\nsession = 18446744073709551616\n',
     "seed.session: the integer 18446744073709551616 is too large"),
    ('experiment = "chaos"\n[seed]\nsession = ' + "1" * 5000 + "\n",
     "invalid TOML: an integer has too many digits"),
    ('experiment = "chaos"\n[grid]\nv_th_std = ' + "[" * 40 + "]" * 40 + "\n",
     "grid.v_th_std" + "[0]" * 30 + ": nesting deeper than 32 levels"),
    ('experiment = "chaos"\n[grid]\nv_th_std = ' + "[" * 5000 + "]" * 5000 + "\n",
     "the TOML is too deeply nested to read"),
    ('experiment = "chaos"\n[grid]\nv_th_std = [' + "1," * 25000 + "]\n",
     "the TOML holds more than 20000 values"),
    ('experiment = "chaos"\n[network]\nn_neurons = inf\n[seed]\nsession = 1\n',
     "network.n_neurons: got inf (a float); expected an integer"),
    ('experiment = "chaos"\nnetwork = 5\n', "network: got 5 (an integer); expected a mapping"),
])
def test_toml_values_a_config_does_not_take_are_refused(write, text, expected):
    path = write(text, "hostile.toml")
    assert error_of(load_config, path, SCHEMA).startswith(f"{path}: {expected}")


def test_toml_files_are_checked_like_yaml_files(tmp_path):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    assert error_of(load_config, folder, SCHEMA) == \
        f"{folder}: is a directory; expected a TOML config file"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'experiment = "chaos"\n\xff\n')
    assert "line 2: byte 0xff is not valid UTF-8" in error_of(load_config, binary, SCHEMA)


def study_layout(data):
    """A study's parameter file mapped onto SCHEMA (as a protocol's translate_toml would)."""
    physiology = data["recurrent"]["physiology"]["excitatory"]
    if data["recurrent"]["n"] < 1:
        raise ValueError(f"recurrent.n: got {data['recurrent']['n']}; expected at least 1")
    if "seed" not in data:
        raise ConfigError(None, "seed", "missing; the study file needs a [seed] table")
    return {"network": {"n_neurons": data["recurrent"]["n"],
                        "tau_m": f"{physiology['tau_mem']} ms"},
            "seed": {"session": data["seed"]["value"]}}


STUDY = """\
[recurrent]
n = 300

[recurrent.physiology.excitatory]
tau_mem = 85.0  # ms

[seed]
value = 7
"""


def test_translate_maps_a_study_layout_onto_the_schema(write):
    path = write(STUDY, "study.toml")
    cfg = load_config(path, SCHEMA, ["network.g_std=0.5"], experiment="chaos",
                      translate=study_layout)
    assert cfg.experiment == "chaos" and cfg.network.n_neurons == 300
    assert float(cfg.network.tau_m) == float(85 * ms) and cfg.network.g_std == 0.5
    assert cfg.seed.session == 7
    # the translation never touches YAML files
    assert load_config(write(GOOD), SCHEMA, translate=lambda data: 1 / 0) == \
        load_config(write(GOOD), SCHEMA)


@pytest.mark.parametrize("old, new, expected", [
    ("n = 300", "n = 0", "recurrent.n: got 0; expected at least 1"),        # a ValueError
    ("[seed]\nvalue = 7\n", "", "seed: missing; the study file needs a [seed] table"),
    ("tau_mem = 85.0", "tau_mem = 85.0e9999",
     "network.tau_m: got 'inf ms' (not a number followed by a unit)"),   # checked after
])
def test_translate_errors_name_the_file(write, old, new, expected):
    path = write(STUDY.replace(old, new), "study.toml")
    message = error_of(load_config, path, SCHEMA, experiment="chaos", translate=study_layout)
    assert message.startswith(f"{path}: {expected}")


def test_translate_must_give_a_mapping(write):
    path = write(STUDY, "study.toml")
    assert error_of(load_config, path, SCHEMA, experiment="chaos",
                    translate=lambda data: [data]) == (
        f"{path}: the translation of the file gave a list; expected a mapping with "
        "'experiment' and sections")


def test_toml_without_experiment(write):
    path = write(GOOD_TOML.replace('experiment = "chaos"\n', ""), "plain.toml")
    hint = ("no 'experiment' key; add experiment = \"<name>\" at the top of the file, or run it "
            "with python -m protocols.<name> FILE")
    assert error_of(read_experiment, path) == f"{path}: {hint}"
    assert error_of(load_config, path, SCHEMA) == f"{path}: {hint}"
    assert read_experiment(path, default="chaos") == "chaos"
    cfg = load_config(path, SCHEMA, experiment="chaos")
    assert cfg == load_config(write(GOOD), SCHEMA)
    # a TOML file that names another experiment, and YAML files, are not excused
    assert read_experiment(write(GOOD_TOML, "named.toml"), default="grid") == "chaos"
    assert "experiment: got 'chaos'; this protocol runs experiment 'grid'" in error_of(
        load_config, write(GOOD_TOML, "named.toml"), SCHEMA, experiment="grid")
    yaml_path = write(GOOD.replace("experiment: chaos\n", ""), "plain.yaml")
    assert "experiment: missing" in error_of(read_experiment, yaml_path, default="chaos")
