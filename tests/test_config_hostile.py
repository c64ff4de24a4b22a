"""Hostile configs: every one is refused with a one-line ConfigError, fast and in bounded memory.

Covers duplicate keys, alias bombs and deep nesting, YAML 1.1 surprises (the
loader reads YAML 1.2 core schema), odd keys, malformed ``--set`` overrides,
binary and special files, and huge numbers.  Every refusal must take less than
a second (with libyaml, which PyYAML's wheels include); the bombs must also stay
under a memory bound.
"""
import importlib
import os
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

import protocols.config
from protocols.cli import PROTOCOLS
from protocols.config import (MAX_CONFIG_BYTES, MAX_DEPTH, MAX_NODES, Config, ConfigError, Field,
                              load_config, load_config_text, read_experiment)

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
# libyaml parses ~25x faster than PyYAML's pure-Python parser, which needs seconds
# to reach MAX_NODES; the bounds hold with either, the time differs
SECONDS = 1.0 if "CParser" in {c.__name__ for c in protocols.config._Loader.__mro__} else 10.0

SCHEMA = {
    "network": {
        "n_neurons": Field("int", 100, low=1),
        "g_std": Field("float", 0.2, low=0),
        "fixed_indegree": Field("bool", False),
        "tau_m": Field("quantity", "20 ms", unit="time", low=0, low_open=True),
    },
    "control": {
        "n_neurons": Field("int", 10, low=1),
        "g_std": Field("float", 0.1, low=0),
    },
    "protocol": {
        "kind": Field("str", "demo"),
        "label": Field("str", ""),
    },
    "grid": {"v_th_std": Field("axis", [0.1], low=0)},
}

BILLION_LAUGHS = """\
experiment: demo
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
BOMB_VALUE = "[" + ",".join(["&a [x,x,x,x,x,x,x,x,x,x]"] + [
    f"&{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]" for i in range(8)]) + "]"


@pytest.fixture(scope="module", autouse=True)
def warm_unit_registry():
    """Build Brian2's unit registry once, so that timings measure only the config layer."""
    protocols.config.parse_quantity("1 ms", "time")


@pytest.fixture
def write(tmp_path):
    def make(text, name="run.yaml"):
        path = tmp_path / name
        (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
        return path
    return make


def refused(call, *args, **kwargs) -> str:
    """The ConfigError message of ``call``: one line, short, raised within SECONDS.

    CPU time of this process, not wall time: the bound holds however busy the machine is.
    """
    start = time.process_time()
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)
    elapsed = time.process_time() - start
    message = str(info.value)
    assert elapsed < SECONDS, f"took {elapsed:.2f} s: {message}"
    assert "\n" not in message and "\r" not in message
    assert len(message) < 600, message
    return message


def loaded(text, overrides=()) -> Config:
    return load_config_text(text, SCHEMA, overrides, source="run.yaml")


# ----------------------------------------------------------------------------- duplicates
def test_duplicate_section_names_the_key_and_both_lines(write):
    path = write("experiment: demo\nnetwork:\n  n_neurons: 5\ncontrol: {}\n"
                 "network:\n  g_std: 0.3\n")
    assert refused(load_config, path, SCHEMA) == (
        f"{path}: network: duplicate key on lines 2 and 5; each key may appear only once "
        "in a mapping (keep one)")


def test_duplicate_key_in_a_section_names_the_dotted_key(write):
    path = write("experiment: demo\nnetwork:\n  n_neurons: 5\n  g_std: 0.3\n  n_neurons: 7\n")
    assert refused(load_config, path, SCHEMA).startswith(
        f"{path}: network.n_neurons: duplicate key on lines 3 and 5;")


def test_quoted_and_plain_spellings_of_a_key_are_duplicates():
    message = refused(loaded, "experiment: demo\nnetwork: {n_neurons: 5, 'n_neurons': 6}\n")
    assert "network.n_neurons: duplicate key on lines 2 and 2" in message


def test_duplicate_experiment_is_refused():
    assert "experiment: duplicate key on lines 1 and 2" in refused(
        loaded, "experiment: demo\nexperiment: other\n")


def test_duplicate_inside_an_axis_mapping_names_the_nested_key():
    message = refused(loaded, "experiment: demo\ngrid:\n  v_th_std: {start: 0, stop: 1,\n"
                              "    start: 2, num: 3}\n")
    assert "grid.v_th_std.start: duplicate key on lines 3 and 4" in message


def test_duplicate_key_in_a_set_value_is_refused():
    message = refused(loaded, "experiment: demo", ["grid.v_th_std={start: 0, start: 1, num: 2}"])
    assert message.startswith("--set: grid.v_th_std: cannot read the value") and (
        "start: duplicate key" in message)


def test_read_experiment_refuses_duplicates_too(write):
    assert "duplicate key" in refused(read_experiment, write("experiment: a\nexperiment: b\n"))


# ----------------------------------------------------------------------------- bombs and depth
def test_billion_laughs_is_refused_fast_and_small(write):
    path = write(BILLION_LAUGHS)
    tracemalloc.start()
    try:
        message = refused(load_config, path, SCHEMA)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, f"peak {peak / 1e6:.0f} MB"
    assert message.startswith(f"{path}: ") and f"more than {MAX_NODES} values" in message
    assert "line " in message


def test_alias_bomb_in_a_set_value_is_refused_fast_and_small():
    tracemalloc.start()
    try:
        message = refused(loaded, "experiment: demo", [f"protocol.kind={BOMB_VALUE}"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6
    assert message.startswith("--set: protocol.kind: cannot read the value")
    assert f"more than {MAX_NODES} values" in message


@pytest.mark.parametrize("text", [
    "experiment: demo\nx: " + "[" * 5000 + "]" * 5000 + "\n",
    "experiment: demo\nx: " + "[" * 200_000 + "\n",               # never closed
    "experiment: demo\nx: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
    "experiment: demo\n" + "".join(" " * i + "a:\n" for i in range(200)) + " " * 200 + "a: 1\n",
    "experiment: demo\nx:\n" + "".join(" " * (i + 1) + "-\n" for i in range(200)),
], ids=["flow-lists", "unclosed", "flow-mappings", "block-mappings", "block-lists"])
def test_deep_nesting_is_refused_before_building_anything(text):
    message = refused(loaded, text)
    assert f"nesting deeper than {MAX_DEPTH} levels" in message and "line " in message


def test_deep_nesting_reached_through_aliases_is_refused():
    levels = ["experiment: demo", "a0: &a0 [1]"]
    levels += [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 40)]
    assert f"nesting deeper than {MAX_DEPTH} levels" in refused(loaded, "\n".join(levels))


def test_deep_nesting_in_a_set_value_is_refused():
    message = refused(loaded, "experiment: demo", ["grid.v_th_std=" + "[" * 10_000])
    assert message.startswith("--set: grid.v_th_std: cannot read the value")
    assert "nesting deeper than" in message


def test_recursive_and_undefined_aliases_are_refused():
    assert "refers to a node that contains it" in refused(
        loaded, "experiment: demo\ngrid: {v_th_std: &a [1, *a]}\n")
    assert "alias *nope is used before an anchor &nope defines it" in refused(
        loaded, "experiment: demo\ngrid: {v_th_std: *nope}\n")


def test_small_anchors_and_aliases_keep_working():
    cfg = loaded("experiment: demo\n"
                 "network: &net {n_neurons: &n 40, g_std: 0.5}\n"
                 "control: *net\n"
                 "grid: {v_th_std: [*n, 2]}\n")
    assert cfg.control.n_neurons == 40 and cfg.control.g_std == 0.5
    assert cfg.grid.v_th_std == (40.0, 2.0)


def test_merge_keys_work_and_explicit_keys_override_them():
    cfg = loaded("experiment: demo\n"
                 "network: &net {n_neurons: 40, g_std: 0.5}\n"
                 "control:\n  <<: *net\n  g_std: 0.25\n")
    assert cfg.control.n_neurons == 40 and cfg.control.g_std == 0.25
    assert cfg.network.g_std == 0.5


def test_merging_something_other_than_a_mapping_is_refused():
    message = refused(loaded, "experiment: demo\ncontrol:\n  <<: 5\n")
    assert message.startswith("run.yaml: line 3") and "merg" in message


def test_a_file_over_the_size_limit_is_refused_unread(write):
    path = write("experiment: demo\n" + "# padding\n" * (MAX_CONFIG_BYTES // 10))
    message = refused(load_config, path, SCHEMA)
    assert message == (f"{path}: the file has {path.stat().st_size} bytes; a config may have "
                       f"at most {MAX_CONFIG_BYTES} (1 MB)")


def test_text_over_the_size_limit_is_refused():
    text = "experiment: demo\nprotocol: {label: '" + "x" * MAX_CONFIG_BYTES + "'}\n"
    assert f"at most {MAX_CONFIG_BYTES}" in refused(loaded, text)


def test_many_plain_values_hit_the_node_limit_fast():
    text = "experiment: demo\ngrid: {v_th_std: [" + ",".join(["1"] * (MAX_NODES + 10)) + "]}\n"
    assert f"more than {MAX_NODES} values" in refused(loaded, text)


def test_the_slowest_config_within_the_limits_is_still_refused_fast():
    """Every value anchored, MAX_NODES in all: built in full, then refused for its section."""
    items = ",".join(f"&a{i} 1" for i in range(MAX_NODES - 10))
    assert "x: unknown section" in refused(loaded, f"experiment: demo\nx: [{items}]\n")


def test_recursion_errors_while_parsing_become_config_errors(monkeypatch):
    def explode(self):
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr(protocols.config._Loader, "get_single_data", explode)
    assert "too deeply nested" in refused(loaded, "experiment: demo\n")


# ----------------------------------------------------------------------------- YAML 1.2 core schema
@pytest.mark.parametrize("text", [
    "no", "yes", "on", "off", "y", "n", "Yes", "NO", "On", "OFF",
    "1:30", "190:20:30", "1_000", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    ".inf", "-.inf", ".nan", ".NaN", "=", "<<x", "0b101", "+.5e", "1e", "0o8", "0x",
])
def test_yaml_1_1_surprises_stay_strings_in_set_and_files(text):
    assert loaded("experiment: demo", [f"protocol.kind={text}"]).protocol.kind == text
    assert loaded(f"experiment: demo\nprotocol: {{kind: {text}}}\n").protocol.kind == text


@pytest.mark.parametrize("text, expected", [
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False),
    ("FALSE", False), ("12", 12), ("-3", -3), ("+4", 4), ("017", 17), ("0o17", 15),
    ("0x1F", 31), ("1e-3", 0.001), ("1E3", 1000.0), ("1.", 1.0), (".5", 0.5), ("-2.5e+2", -250.0),
    ("null", None), ("~", None), ("Null", None), ("", None), ("'yes'", "yes"), ('"1"', "1"),
])
def test_core_schema_values(text, expected):
    value = protocols.config._parse_yaml_value(text, "--set", "protocol.kind")
    assert value == expected and type(value) is type(expected)


def test_yes_for_a_boolean_says_what_is_allowed():
    assert refused(loaded, "experiment: demo", ["network.fixed_indegree=yes"]) == (
        "--set network.fixed_indegree=yes: network.fixed_indegree: got 'yes' (a string); "
        "expected true or false")
    assert loaded("experiment: demo", ["network.fixed_indegree=true"]).network.fixed_indegree


def test_sexagesimal_and_underscores_are_not_integers():
    assert "got '1:30' (a string); expected an integer" in refused(
        loaded, "experiment: demo\nnetwork: {n_neurons: 1:30}\n")
    assert "got '1_000' (a string); expected an integer" in refused(
        loaded, "experiment: demo", ["network.n_neurons=1_000"])


def test_non_finite_floats_are_refused():
    assert "got '.inf' (a string); expected a number" in refused(
        loaded, "experiment: demo", ["network.g_std=.inf"])


@pytest.mark.parametrize("value, fragment", [
    ("!!timestamp 2001-12-14", "the tag 'tag:yaml.org,2002:timestamp' is not allowed"),
    ("!!binary aGVsbG8=", "the tag 'tag:yaml.org,2002:binary' is not allowed"),
    ("!!python/name:os.system ''", "is not allowed"),
    ("!!set {a, b}", "the tag 'tag:yaml.org,2002:set' is not allowed"),
    ("!!bool yes", "'yes' is tagged as a boolean; expected true or false"),
    ("!!int 1_000", "'1_000' is tagged as an integer"),
    ("!!float 1_0.5", "'1_0.5' is tagged as a float"),
])
def test_explicit_tags_outside_the_core_schema_are_refused(value, fragment):
    message = refused(loaded, f"experiment: demo\nprotocol: {{kind: {value}}}\n")
    assert message.startswith("run.yaml: line 2") and fragment in message


def _schemas() -> dict:
    return {name: importlib.import_module(module).SCHEMA for name, module in PROTOCOLS.items()}


def _outcome(call):
    try:
        return call().to_dict()
    except ConfigError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_as_before(path):
    """YAML 1.2 core and the old ``yaml.safe_load`` (1.1) agree on every shipped config."""
    text = path.read_text()
    old_data = yaml.safe_load(text)
    assert protocols.config._parse_yaml_text(text, str(path)) == old_data
    for name, schema in _schemas().items():
        old = _outcome(lambda: protocols.config._resolve(old_data, schema, str(path), (), None))
        new = _outcome(lambda: load_config(path, schema))
        assert new == old, name
    from protocols import sweep

    schema = _schemas()[read_experiment(path)]
    if sweep.requested(path):      # a sweep config: the protocol's keys and a sweep section
        assert isinstance(sweep.load(path, schema), Config)
    else:
        assert isinstance(load_config(path, schema), Config)


# ----------------------------------------------------------------------------- keys
@pytest.mark.parametrize("text, fragment", [
    ("experiment: demo\n1: x\n", "line 2: the key 1 is an integer; keys must be text"),
    ("experiment: demo\nnull: x\n", "line 2: the key null is null; keys must be text"),
    ("experiment: demo\n~: x\n", "the key ~ is null"),
    ("experiment: demo\ntrue: x\n", "the key true is a boolean"),
    ("experiment: demo\nnetwork: {1.5: x}\n", "network: line 2: the key 1.5 is a float"),
    ("experiment: demo\n[1, 2]: x\n", "line 2: a list used as a key; keys must be text"),
    ("experiment: demo\n? {a: 1}\n: x\n", "line 2: a mapping used as a key"),
    ("experiment: demo\nnetwork: &n {n_neurons: 3}\n*n : x\n", "line 3: an alias used as a key"),
    ("experiment: demo\n!!int '3': x\n", "the key '3' is an integer"),
    ("? experiment\n: demo\n", None),  # an explicit but textual key is fine
])
def test_keys_must_be_text(text, fragment):
    if fragment is None:
        assert loaded(text).experiment == "demo"
    else:
        assert fragment in refused(loaded, text)


def test_odd_keys_are_shown_on_one_line():
    message = refused(loaded, 'experiment: demo\n"net\\nwork": {}\n')
    assert "unknown section" in message and "'net\\nwork'" in message
    message = refused(loaded, f"experiment: demo\nnetwork:\n  {'k' * 1000}: 1\n")
    assert "unknown key" in message and len(message) < 400


def test_experiment_given_as_a_list_is_refused():
    assert "experiment: got [1, 2] (a list)" in refused(loaded, "experiment: [1, 2]\n")


# ----------------------------------------------------------------------------- --set
@pytest.mark.parametrize("override, expected", [
    ("=5", "--set: got '=5': nothing before '='; expected section.key=value, "
           "e.g. network.n_neurons=2000"),
    ("  =5", "--set: got '  =5': nothing before '='; expected section.key=value, "
             "e.g. network.n_neurons=2000"),
    ("network.n_neurons.x=1", "--set: network.n_neurons.x: too many dots; expected "
                              "section.key=value with one dot, e.g. network.n_neurons=2000"),
    ("a.b.c=1", "--set: a.b.c: too many dots; expected section.key=value with one dot, "
                "e.g. network.n_neurons=2000"),
    ("network.=1", "--set: network.: expected a dotted key 'section.key'; keys in 'network': "
                   "fixed_indegree, g_std, n_neurons, tau_m"),
])
def test_malformed_set_keys_are_refused(override, expected):
    assert refused(loaded, "experiment: demo", [override]) == expected


@pytest.mark.parametrize("value, fragment", [
    ("a\x00b", "the character '\\x00' is not allowed"),
    ("1\n---\n2", "expected a single document"),
    ("[1, 2", "cannot read the value"),
    ("*x", "alias *x is used before"),
    ("x" * (MAX_CONFIG_BYTES + 1), f"at most {MAX_CONFIG_BYTES}"),
])
def test_hostile_set_values_are_refused(value, fragment):
    message = refused(loaded, "experiment: demo", [f"protocol.label={value}"])
    assert message.startswith("--set: protocol.label: cannot read the value") and (
        fragment in message), message


# ----------------------------------------------------------------------------- files
def test_nul_bytes_are_refused_with_line_and_column(write):
    path = write(b"experiment: demo\nnetwork:\n  n_ne\x00urons: 3\n")
    assert refused(load_config, path, SCHEMA) == (
        f"{path}: line 3, column 7: the character '\\x00' is not allowed in YAML; "
        "a config is UTF-8 text (is this a binary file?)")


def test_invalid_utf8_is_refused_with_the_line(write):
    path = write(b"experiment: demo\nprotocol: {kind: caf\xe9}\n")
    assert refused(load_config, path, SCHEMA) == (
        f"{path}: line 2: byte 0xe9 is not valid UTF-8; a config is UTF-8 text "
        "(is this a binary file?)")


@pytest.mark.parametrize("data", [
    bytes(range(256)) * 40,
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100),
    "experiment: demo\n".encode("utf-16"),
    b"\x7fELF\x02\x01\x01" + bytes(500),
], ids=["all-bytes", "png", "utf-16", "elf"])
def test_binary_files_are_refused(write, data):
    message = refused(load_config, write(data), SCHEMA)
    assert "(is this a binary file?)" in message
    assert "binary file" in refused(read_experiment, write(data, "again.yaml"))


def test_a_directory_is_refused(tmp_path):
    assert refused(load_config, tmp_path, SCHEMA) == (
        f"{tmp_path}: is a directory; expected a YAML config file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert refused(load_config, fifo, SCHEMA) == (
        f"{fifo}: is a FIFO (named pipe), not a regular file; expected a YAML config file")
    assert "FIFO" in refused(read_experiment, fifo)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_without_reading_it():
    assert refused(load_config, "/dev/zero", SCHEMA) == (
        "/dev/zero: is a character device, not a regular file; expected a YAML config file")


def test_an_empty_or_comment_only_file_is_refused(write):
    assert "the file is empty" in refused(load_config, write("# nothing\n"), SCHEMA)


# ----------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("value, fragment", [
    ("1e400", "line 3: the number 1e400 is too large for a float (at most about 1.8e308)"),
    ("-1e400", "the number -1e400 is too large for a float"),
    ("1" + "0" * 400, "is too large; integers must lie between -2**63 and 2**63 - 1"),
    ("9" * 10_000, "(10000 digits) is too large"),
    ("9223372036854775808", "9223372036854775808 is too large"),
    ("0x" + "f" * 17, "is too large; integers"),
])
def test_huge_numbers_are_refused(value, fragment):
    message = refused(loaded, f"experiment: demo\nnetwork:\n  n_neurons: {value}\n")
    assert message.startswith("run.yaml: line ") and fragment in message


def test_the_largest_64_bit_integer_is_read():
    assert loaded("experiment: demo", ["network.n_neurons=9223372036854775807"]
                  ).network.n_neurons == 2 ** 63 - 1


def test_huge_numbers_in_set_are_refused():
    assert "too large" in refused(loaded, "experiment: demo", ["network.g_std=1e400"])
    assert "too large" in refused(loaded, "experiment: demo", ["network.n_neurons=" + "9" * 5000])


def test_huge_axis_counts_are_refused():
    message = refused(loaded, "experiment: demo",
                      ["grid.v_th_std={start: 0, stop: 1, num: 1000000000000}"])
    assert message.endswith(f"got num=1000000000000; expected an integer 1 <= num <= {MAX_NODES}")


def test_quantities_with_absurd_exponents_are_refused():
    assert "network.tau_m" in refused(loaded, "experiment: demo", ["network.tau_m=1 ms^-999"])
    assert "network.tau_m" in refused(loaded, "experiment: demo",
                                      ["network.tau_m=1 ms^" + "9" * 5000])
    assert "network.tau_m" in refused(loaded, "experiment: demo", ["network.tau_m=1e400 ms"])


# ----------------------------------------------------------------------------- property
def _hypothesis():
    hypothesis = pytest.importorskip("hypothesis")
    return hypothesis, hypothesis.strategies


def _loads_or_refuses(text, overrides=()):
    start = time.process_time()
    try:
        result = load_config_text(text, SCHEMA, overrides, source="fuzz.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(result, Config)
    assert time.process_time() - start < SECONDS


def test_random_text_loads_or_raises_config_error():
    """YAML-ish noise after a plausible start: a Config or a ConfigError, nothing else."""
    hypothesis, st = _hypothesis()
    pieces = st.sampled_from(list("abkx01:-[]{},&*!?|>'\"#~<=%@. \n\t\x00") + [
        "\ufeff", "é", "!!int ", "!!float ", "!!binary ", "<<: ", "&a ", "*a", "---\n", "? ",
        "%YAML 1.2\n", "1e400", "n_neurons: "])
    prefix = st.sampled_from(["", "experiment: demo\n", "experiment: demo\nnetwork:\n  ",
                              "experiment: demo\ngrid:\n  v_th_std: "])
    overrides = st.lists(st.text(max_size=30).map("network.n_neurons=".__add__)
                         | st.text(max_size=30), max_size=2)

    @hypothesis.settings(max_examples=300, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(prefix, st.lists(pieces, max_size=60).map("".join) | st.text(max_size=40),
                      overrides)
    def check(head, tail, sets):
        _loads_or_refuses(head + tail, sets)

    check()


def test_random_yaml_structures_load_or_raise_config_error():
    """Well-formed documents of random shape and values: a Config or a ConfigError."""
    hypothesis, st = _hypothesis()
    scalars = (st.none() | st.booleans() | st.integers() | st.floats()
               | st.text(max_size=8) | st.sampled_from(["20 ms", "1e400", "yes", "1:30", "0o7"]))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.sampled_from(["start", "stop", "num", "x"]),
                                            inner, max_size=4), max_leaves=12)
    sections = st.dictionaries(st.sampled_from(["n_neurons", "g_std", "fixed_indegree", "tau_m",
                                                "kind", "v_th_std", "start"]), values, max_size=4)
    documents = st.dictionaries(st.sampled_from(["network", "control", "protocol", "grid",
                                                 "experiment"]), sections | values, max_size=4)
    keys = st.sampled_from(["network.n_neurons", "network.g_std", "network.tau_m",
                            "protocol.kind", "grid.v_th_std", "x", "a.b.c", ""])

    @hypothesis.settings(max_examples=200, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(documents, st.booleans(), st.lists(st.tuples(keys, values), max_size=2),
                      st.sampled_from([None, "flow", "block"]))
    def check(document, named, overrides, style):
        if named:
            document = {"experiment": "demo", **document}
        flow = {"flow": True, "block": False}.get(style)
        text = yaml.safe_dump(document, default_flow_style=flow)
        texts = [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"
                 for key, value in overrides]
        _loads_or_refuses(text, [t.replace("\n...", "") for t in texts])

    check()
