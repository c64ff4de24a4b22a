"""The plasticity protocol as a package: its modules, entry points and installation.

Also the examples of ``protocols/plasticity/__init__.py``'s docstrings, which
cannot be doctests: Brian2's doctest collector fails on a package ``__init__``.
"""
import configparser
import importlib.util
import runpy
import sys
from pathlib import Path

import pytest

from protocols import plasticity
from protocols.config import ConfigError, load_config_text

ROOT = Path(__file__).resolve().parent.parent


def test_every_sub_experiment_is_a_module_of_the_package():
    assert plasticity.AVAILABLE == plasticity.KINDS == (
        "stp", "hebbian", "bcm", "homeostasis", "combined", "strategies", "patterns",
        "curriculum")
    for kind in plasticity.KINDS:
        module = importlib.import_module(f"protocols.plasticity.{kind}")
        assert hasattr(module, "SECTION") and hasattr(module, "run") and hasattr(module, "report")
        assert plasticity.SCHEMA[kind] is module.SECTION
    for helper in ("checks", "checkpoint", "selective"):
        importlib.import_module(f"protocols.plasticity.{helper}")
    for kind in ("stp", "hebbian", "bcm", "homeostasis", "combined", "strategies", "checks"):
        assert importlib.util.find_spec(f"protocols._plasticity_{kind}") is None


def test_setup_cfg_installs_the_package():
    from setuptools import find_packages

    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    include = parser["options.packages.find"]["include"].split()
    assert parser["options"]["packages"].strip() == "find:"
    assert "protocols.plasticity" in find_packages(where=str(ROOT), include=include)


def test_python_m_protocols_plasticity_runs_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["protocols.plasticity",
                                      str(ROOT / "configs" / "plasticity_stp.yaml"), "--check",
                                      "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as stop:
        runpy.run_module("protocols.plasticity", run_name="__main__")
    assert stop.value.code == 0
    assert "checked; nothing was run or written" in capsys.readouterr().out
    assert not (tmp_path / "o").exists()


def test_validate_refuses_an_empty_rate_list_naming_the_key():
    cfg = load_config_text("experiment: plasticity", plasticity.SCHEMA, ["stp.rates_hz=[]"])
    with pytest.raises(ConfigError) as info:
        plasticity.validate(cfg)
    assert str(info.value) == ("<text>: stp.rates_hz: got an empty list; allowed one value or "
                               "more (because each value is one condition of the run)")


def test_the_default_config_needs_300_to_400_mib():
    cfg = load_config_text("experiment: plasticity", plasticity.SCHEMA)
    need, detail = plasticity.estimate_memory(cfg)
    assert 300 * 2**20 < need < 400 * 2**20
    assert detail.split(";")[0] == "stp: 10 (preset, rate) pairs, 3000 ms"


def test_the_duration_of_scheduled_sub_experiments_is_their_schedules_sum():
    cfg = load_config_text("experiment: plasticity\nprotocol: {kind: patterns}",
                           plasticity.SCHEMA)
    # two tests of 3 x 4 presentations of 1 s + 100 ms, 10 epochs of 3 x (500 + 100) ms
    assert float(plasticity.duration(cfg)) == pytest.approx(2 * 12 * 1.1 + 30 * 0.6)
    assert plasticity.duration_key(cfg) == "patterns.epochs"
    cfg = load_config_text("experiment: plasticity\nprotocol: {kind: patterns}\n"
                           "patterns: {epochs: 100000000}", plasticity.SCHEMA)
    with pytest.raises(ConfigError) as info:
        plasticity.validate(cfg)
    assert info.value.key == "patterns.epochs" and "steps" in info.value.problem
