"""``--set section.axis.num=N`` (and ``.start``, ``.stop``): one part of an axis mapping."""
import pytest
from brian2 import mV

from protocols import heterogeneity_grid
from protocols.config import ConfigError, Field, load_config, load_config_text

SCHEMA = {
    "grid": {
        "v_th_std": Field("axis", {"start": "0.1 mV", "stop": "0.5 mV", "num": 5}, unit="voltage",
                          low=0, high="20 mV"),
        "g_std": Field("axis", {"start": 0.1, "stop": 0.5, "num": 5}, low=0, high=50),
    },
    # a section with dotted keys: the axis part is still found after its key
    "sweep": {"rate.hz": Field("axis", [1.0, 2.0], low=0), "rate.n": Field("int", 1)},
}


def config(text="", *overrides):
    return load_config_text(f"experiment: demo\n{text}", SCHEMA, list(overrides))


def error(text, *overrides) -> str:
    with pytest.raises(ConfigError) as info:
        config(text, *overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def millivolts(values):
    return [round(float(v / mV), 6) for v in values]


def test_num_of_the_default_mapping_keeps_start_and_stop():
    assert millivolts(config("", "grid.v_th_std.num=3").grid.v_th_std) == [0.1, 0.3, 0.5]
    assert config("", "grid.g_std.num=2").grid.g_std == pytest.approx((0.1, 0.5))


def test_parts_change_the_mapping_of_the_file_one_at_a_time():
    text = "grid: {v_th_std: {start: 1 mV, stop: 2 mV, num: 3}, g_std: {start: 1, stop: 3, num: 3}}"
    cfg = config(text, "grid.v_th_std.stop=5 mV", "grid.v_th_std.num=5", "grid.g_std.start=2")
    assert millivolts(cfg.grid.v_th_std) == [1, 2, 3, 4, 5]
    assert cfg.grid.g_std == pytest.approx((2.0, 2.5, 3.0))


def test_start_and_stop_take_any_unit_of_the_axis_dimension():
    cfg = config("", "grid.v_th_std.start=100 uV", "grid.v_th_std.stop=0.0009 volt",
                 "grid.v_th_std.num=2")
    assert millivolts(cfg.grid.v_th_std) == [0.1, 0.9]


def test_a_part_after_the_whole_axis_changes_that_axis():
    cfg = config("", "grid.v_th_std={start: 2 mV, stop: 4 mV, num: 2}", "grid.v_th_std.num=3")
    assert millivolts(cfg.grid.v_th_std) == [2, 3, 4]


def test_the_whole_axis_after_a_part_replaces_it():
    cfg = config("", "grid.g_std.num=2", "grid.g_std=[0.7]")
    assert cfg.grid.g_std == (0.7,)


def test_a_part_of_an_axis_in_a_section_with_dotted_keys():
    with pytest.raises(ConfigError, match=r"sweep\.rate\.hz\.num: sweep\.rate\.hz is a list "
                                          r"by default \(\[1\.0, 2\.0\]\)"):
        config("", "sweep.rate.hz.num=3")
    cfg = config("", "sweep.rate.hz={start: 1, stop: 3, num: 2}", "sweep.rate.hz.num=3")
    assert cfg.sweep["rate.hz"] == pytest.approx((1.0, 2.0, 3.0))


def test_a_part_of_an_axis_given_as_a_list_says_how_to_set_it():
    message = error("grid:\n  v_th_std: [0.1 mV, 0.2 mV]\n", "grid.v_th_std.num=3")
    assert message == (
        "--set: grid.v_th_std.num: grid.v_th_std is a list in <text> (['0.1 mV', '0.2 mV']), "
        "not {start, stop, num}, so it has no num to change; set the whole axis: "
        "--set \"grid.v_th_std=[...]\" with its values, or "
        "--set \"grid.v_th_std={start: 0.1 mV, stop: 0.2 mV, num: 3}\"")
    # the suggested command works
    cfg = config("grid:\n  v_th_std: [0.1 mV, 0.2 mV]\n",
                 "grid.v_th_std={start: 0.1 mV, stop: 0.2 mV, num: 3}")
    assert millivolts(cfg.grid.v_th_std) == [0.1, 0.15, 0.2]


@pytest.mark.parametrize("override, expected", [
    ("grid.v_th_std.start=0.1",
     "--set: grid.v_th_std.start: got 0.1 (a number without a unit); expected a voltage such "
     "as '-55 mV'"),
    ("grid.v_th_std.stop=2 ms",
     "--set: grid.v_th_std.stop: got '2 ms' (a time); expected a voltage such as '-55 mV'"),
    ("grid.g_std.start=0.1 mV",
     "--set: grid.g_std.start: got '0.1 mV' (a string); expected a number for start"),
    ("grid.v_th_std.num=0",
     "--set: grid.v_th_std.num: got num=0; expected an integer 1 <= num <= 20000"),
    ("grid.v_th_std.num=2.5",
     "--set: grid.v_th_std.num: got num=2.5; expected an integer 1 <= num <= 20000"),
    ("grid.v_th_std.nm=3",
     "--set: grid.v_th_std.nm: unknown part of the axis grid.v_th_std; parts: start, stop, num "
     "(e.g. grid.v_th_std.num=5); did you mean 'num'?"),
])
def test_a_bad_part_is_named_with_what_was_given_and_what_is_allowed(override, expected):
    assert error("", override) == expected


def test_values_out_of_range_name_the_file_and_the_override():
    message = error("grid: {v_th_std: {start: 1 mV, stop: 2 mV, num: 2}}",
                    "grid.v_th_std.stop=30 mV")
    assert message.startswith("<text>, --set grid.v_th_std.stop=30 mV: grid.v_th_std: got 30. mV "
                              "(value 2 of 2); allowed 0 mV <= value <= 20 mV")


def test_the_grid_protocol_takes_parts_of_its_axes(tmp_path):
    """The shipped quick grid (3 x 3 mappings) shrunk from the command line."""
    from pathlib import Path

    quick = Path(__file__).resolve().parent.parent / "configs" / "heterogeneity_grid_quick.yaml"
    cfg = load_config(quick, heterogeneity_grid.SCHEMA,
                      ["grid.v_th_std.num=2", "grid.g_std.num=4", "grid.g_std.stop=0.2"])
    v_axis, g_axis = heterogeneity_grid.axis_values(cfg)
    assert v_axis == pytest.approx([0.05, 0.5]) and g_axis == pytest.approx([0.05, 0.1, 0.15, 0.2])
