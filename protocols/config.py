"""YAML configs with units, checked against a declarative schema.

A protocol declares what its config may hold as a nested dict of
:class:`Field` objects, one mapping per section::

    SCHEMA = {
        "network": {
            "n_neurons": Field("int", 1000, low=1, doc="neurons per network"),
            "tau_m": Field("quantity", "20 ms", unit="time", low=0, low_open=True,
                           doc="membrane time constant"),
        },
        "seed": {"session": Field("int", 1234, low=0, doc="session seed")},
    }

and :func:`load_config` turns a YAML file such as ::

    experiment: chaos          # names the protocol; always required
    network:
      n_neurons: 300
      tau_m: "20 ms"           # a number and a Brian2 unit, checked for dimension

into a :class:`Config` (``cfg.network.tau_m == 20 * ms``).  Every key is
checked before anything runs: an unknown section or key, a value of the wrong
type, a unit of the wrong dimension or a value out of range raises
:class:`ConfigError`, whose message names the file, the dotted key, what was
given and what is allowed.  Keys left out take the schema's default.

Field kinds
-----------
``int``, ``float``, ``bool``, ``str``
    Plain YAML values.  A float accepts integers, and number strings such as
    ``"1e-3"``; an int accepts integers only.
``quantity``
    A string ``"<number> <unit>"`` parsed by :func:`parse_quantity` and checked
    against the field's ``unit`` (a dimension name from :data:`DIMENSIONS`).
    Bounds ``low``/``high`` are numbers in SI base units (``0`` for
    ``"0 ms"``) or strings with units (``"1 ms"``).
``float_list``
    A list of numbers, each checked against the bounds.
``memory``
    An amount of memory, ``"<number> <unit>"`` with a unit of
    :data:`MEMORY_UNITS` (``"2 GB"``, ``"512 MiB"``), or ``0``; parsed by
    :func:`parse_memory` and stored as an ``int`` of bytes.
``names``
    A mapping of names to names (text to text), ``{rates: fr, dt: bin_ms}``;
    its keys must be among the field's ``choices``, its values non-empty text.
    Stored as a dict; ``{}`` (the usual default) is the empty mapping.
``axis``
    A parameter axis: a non-empty list of numbers, or a mapping
    ``{start, stop, num}`` expanded with ``numpy.linspace``; each value is
    checked against the bounds.  Stored as a tuple of floats.  ``--set
    section.key.num=N`` (or ``.start``, ``.stop``) changes one part of an
    axis given as a mapping (see "Axis parts" below).

Reading YAML
------------
Files and ``--set`` values are read as YAML 1.2 with its core schema, not
PyYAML's default YAML 1.1: only ``true``/``false`` (also ``True``, ``TRUE``,
...) are booleans, only ``null``, ``~`` and nothing are null, integers are
decimal (``017`` is 17; ``0o17`` and ``0x1F`` are octal and hex), floats are
decimal (``0.5``, ``1e-3``, ``1.``).  Everything else is text: ``yes``, ``no``,
``on``, ``off``, ``y``, ``n``, ``1:30``, ``1_000``, ``2001-12-14``, ``.inf``,
``.nan``.  Tags other than ``!!str``, ``!!int``, ``!!float``, ``!!bool``,
``!!null``, ``!!seq`` and ``!!map`` are refused.  Anchors, aliases and merge
keys (``<<: *defaults``, overridden by the mapping's own keys) work.

Hostile input is refused with a :class:`ConfigError` before any Python object
is built: a key given twice in one mapping (both lines are named), a key that
is not text (``1:``, ``null:``, a list), and anything beyond
:data:`MAX_CONFIG_BYTES` (1 MB), :data:`MAX_DEPTH` levels of nesting or
:data:`MAX_NODES` values once every alias is expanded (alias bombs); also NUL
bytes and other characters YAML forbids, text that is not UTF-8, files that
are not regular files (directories, FIFOs, devices), integers outside 64 bits
and floats beyond the float range.

>>> load_config_text("experiment: demo\\nnet: {flag: no}", {"net": {"flag": Field("bool", False)}})
Traceback (most recent call last):
...
protocols.config.ConfigError: <text>: net.flag: got 'no' (a string); expected true or false
>>> load_config_text("experiment: demo\\nnet:\\n  flag: true\\n  flag: false\\n",
...                  {"net": {"flag": Field("bool", False)}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
protocols.config.ConfigError: <text>: net.flag: duplicate key on lines 3 and 4; each key ...

Dotted keys
-----------
A schema key may hold dots, e.g. ``loss_weight.firing_rate`` in a section
``hyperparameters``.  A file writes it either as it is
(``loss_weight.firing_rate: 1.0``) or as a nested mapping
(``loss_weight: {firing_rate: 1.0, cv: 0.5}``), which is flattened because the
section has keys starting with ``loss_weight.``; ``--set
hyperparameters.loss_weight.firing_rate=2`` changes it, and code reads it as
``cfg.hyperparameters["loss_weight.firing_rate"]``.

>>> schema = {"hyperparameters": {"loss_weight.firing_rate": Field("float", 1.0),
...                               "loss_weight.cv": Field("float", 1.0)}}
>>> cfg = load_config_text("experiment: demo\\nhyperparameters:\\n  loss_weight: {cv: 0.5}",
...                        schema, ["hyperparameters.loss_weight.firing_rate=2"])
>>> dict(cfg.hyperparameters)
{'loss_weight.firing_rate': 2.0, 'loss_weight.cv': 0.5}

Axis parts
----------
``--set grid.v_th_std.num=40`` changes one part of an axis given as
``{start, stop, num}`` (in the file, or the schema's default) and keeps the
others; ``.start`` and ``.stop`` take the axis's unit where it has one
(``--set "grid.v_th_std.stop=1 mV"``).  An axis given as a list has no parts:
that is an error saying how to set the whole axis.

>>> schema = {"grid": {"v_th_std": Field("axis", {"start": "0.1 mV", "stop": "0.5 mV", "num": 5},
...                                      unit="voltage")}}
>>> cfg = load_config_text("experiment: demo", schema, ["grid.v_th_std.num=3"])
>>> from brian2 import mV
>>> [round(float(v / mV), 3) for v in cfg.grid.v_th_std]
[0.1, 0.3, 0.5]
>>> load_config_text("experiment: demo\\ngrid: {v_th_std: [0.1 mV, 0.2 mV]}", schema,
...                  ["grid.v_th_std.num=3"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
protocols.config.ConfigError: --set: grid.v_th_std.num: grid.v_th_std is a list in <text> ...

Reading TOML
------------
A file whose name ends in ``.toml`` is read with Python's :mod:`tomllib`
under the same limits (size, regular file, UTF-8, nesting, values), then
checked exactly as YAML is.  TOML has no null; its dates and times are
refused.  :func:`load_config` takes ``translate=``, a function applied to the
parsed TOML before the check, so that a protocol can read a study's own
parameter-file layout (e.g. ``[recurrent.physiology.excitatory]``) into its
schema.  A TOML file may leave out ``experiment`` when the protocol is known
otherwise (``load_config(..., experiment=...)``, ``python -m protocols.<name>``).

Values are stored as ``int``, ``float``, ``bool``, ``str``, Brian2
``Quantity`` or tuples of floats.  :meth:`Config.to_yaml` writes the resolved
config back so that loading it gives exactly the same values (quantities are
written with the shortest decimal that reproduces the float bit for bit).

>>> cfg = load_config_text('''
... experiment: demo
... network: {tau_m: "10 ms", n_neurons: 50}
... ''', {"network": {"n_neurons": Field("int", 100, low=1),
...                   "tau_m": Field("quantity", "20 ms", unit="time")}})
>>> cfg.network.n_neurons, cfg.network.tau_m
(50, 10. * msecond)
>>> print(cfg.to_yaml(), end="")
experiment: demo
network:
  n_neurons: 50
  tau_m: 10 ms
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
import reprlib
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml

__all__ = [
    "ConfigError", "UsageError", "Field", "REQUIRED", "DIMENSIONS", "KINDS",
    "Config", "Section", "parse_quantity", "format_quantity", "parse_memory", "format_memory",
    "MEMORY_UNITS",
    "load_config", "load_config_text", "read_experiment",
    "MAX_CONFIG_BYTES", "MAX_DEPTH", "MAX_NODES",
]

#: Limits on one config, a file or a ``--set`` value; beyond them it is refused
#: before any Python object is built.  Shipped configs hold at most 1.3 KB, 89
#: values and 3 levels (top level, section, an axis mapping or list).  Building
#: 20 000 values takes ~0.3 s with libyaml; 100 000 would take ~1.7 s.
MAX_CONFIG_BYTES = 1_000_000  # size of the text (1 MB)
MAX_DEPTH = 32                # lists and mappings inside each other
MAX_NODES = 20_000            # values (keys included) once every alias is expanded


# ----------------------------------------------------------------------------- errors
class ConfigError(ValueError):
    """A config value, key or file that cannot be used.

    ``str(error)`` reads ``"<source>: <dotted key>: <problem>"``, e.g.
    ``configs/chaos.yaml: network.tau_m: got '20' (a number without a unit);
    expected a time such as '20 ms'``.  The parts are kept as ``source``,
    ``key`` and ``problem``.
    """

    def __init__(self, source: str | None, key: str | None, problem: str):
        self.source = None if source is None else str(source)
        self.key = key
        self.problem = problem
        parts = [_clip(self.source, 300) if self.source else None, _clip(key, 120) if key else None]
        message = ": ".join([*(p for p in parts if p), problem])
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", message))  # always one line

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.source, self.key, self.problem))


class UsageError(Exception):
    """A user mistake found by a protocol, e.g. "results.h5 exists; pass --resume".

    The command line prints the message (no traceback) and exits with status 2.
    """


# ----------------------------------------------------------------------------- quantities
#: Dimension names usable as ``Field(..., unit=...)`` and in :func:`parse_quantity`:
#: name -> (a Brian2 unit of that dimension, an example value for messages).
DIMENSIONS = {
    "time": ("second", "20 ms"),
    "voltage": ("volt", "-55 mV"),
    "frequency": ("hertz", "200 Hz"),
    "conductance": ("siemens", "5 nS"),
    "current": ("amp", "100 pA"),
    "capacitance": ("farad", "200 pF"),
    "resistance": ("ohm", "100 Mohm"),
    "charge": ("coulomb", "1 pC"),
    "length": ("metre", "10 um"),
    "area": ("metre2", "100 um2"),
    "concentration": ("molar", "2 mM"),
    "dimensionless": (None, "0.5"),
}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(rf"\s*({_NUMBER})(.*)", re.DOTALL)
_UNIT_TOKEN_RE = re.compile(
    r"(?P<pow>\*\*|\^)|(?P<mul>\*)|(?P<div>/)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<int>[+-]?\d{1,3})|(?P<space>\s+)|(?P<bad>.)")  # powers up to 999
# the SI base units in Brian2's dimension order (length, mass, time, current,
# temperature, amount, luminosity): the fallback spelling of any dimension
_SI_BASE = ("metre", "kilogram", "second", "amp", "kelvin", "mole", "candle")
#: wall-clock units for run-time settings ("5 min", "2 h"), in seconds
_CLOCK_UNITS = {"min": 60.0, "h": 3600.0}


@functools.lru_cache(maxsize=None)
def _units() -> dict:
    """Brian2's unit registry as ``name -> (scale in SI, Dimension)``.

    Every unit Brian2 defines is known by its full name (``msecond``) and its
    display name (``ms``), plus the aliases in the ``brian2.units`` namespace
    (``cm2``, ``um``).
    """
    import brian2.units as b2_units
    from brian2.units.allunits import all_units
    from brian2.units.fundamentalunits import Unit

    registry = {}
    candidates = [(name, u) for u in all_units for name in (u.name, u.dispname)]
    candidates += [(name, obj) for name, obj in vars(b2_units).items() if isinstance(obj, Unit)]
    for name, unit in candidates:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
            registry.setdefault(str(name), (float(unit), unit.dim))
    for name, seconds in _CLOCK_UNITS.items():  # Brian2 has no minute or hour
        registry.setdefault(name, (seconds, b2_units.second.dim))
    return registry


def _dimension(dimension_name: str | None):
    """The Brian2 ``Dimension`` for a name of :data:`DIMENSIONS` (None: any)."""
    if dimension_name is None:
        return None
    from brian2.units.fundamentalunits import DIMENSIONLESS

    if dimension_name not in DIMENSIONS:
        raise ValueError(f"unknown dimension name {dimension_name!r}; "
                         f"known: {', '.join(DIMENSIONS)}")
    unit_name = DIMENSIONS[dimension_name][0]
    return DIMENSIONLESS if unit_name is None else _units()[unit_name][1]


def _describe_dimension(dim) -> str:
    """'a time', 'a voltage', or 'dimension m^2 kg s^-3 A^-1' for unnamed ones."""
    for name in DIMENSIONS:
        if _dimension(name) == dim:
            if name == "dimensionless":
                return "a dimensionless number"
            return ("an " if name[0] in "aeiou" else "a ") + name
    return f"a quantity of dimension {dim}"


def _expected(dimension_name: str | None) -> str:
    if dimension_name is None:
        return "expected a number with a unit such as '20 ms'"
    example = DIMENSIONS[dimension_name][1]
    return f"expected {_describe_dimension(_dimension(dimension_name))} such as '{example}'"


def _parse_unit(text: str, full_text: str, dimension_name: str | None):
    """Parse ``'mV'``, ``'mV/ms'``, ``'nS/cm^2'``, ``'kg*m**2'`` -> (scale, Dimension)."""
    from brian2.units.fundamentalunits import DIMENSIONLESS

    registry = _units()
    scale, dim = 1.0, DIMENSIONLESS
    tokens = [(m.lastgroup, m.group()) for m in _UNIT_TOKEN_RE.finditer(text)
              if m.lastgroup != "space"]
    position, divide = 0, False

    def fail(problem):
        return ValueError(f"got {_show(full_text)}: {problem}; {_expected(dimension_name)}")

    while position < len(tokens):
        kind, value = tokens[position]
        if kind in ("mul", "div") and (position > 0 or kind == "div"):  # '1 /ms' too
            divide = kind == "div"
            position += 1
            kind, value = tokens[position] if position < len(tokens) else ("end", "")
        if kind != "name":
            raise fail(f"cannot read the unit {_show(text)}")
        if value not in registry:
            close = (difflib.get_close_matches(value, _same_dimension_names(dimension_name), n=1)
                     if len(value) < 100 else [])
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise fail(f"unknown unit {_show(value)}{hint}")
        unit_scale, unit_dim = registry[value]
        exponent = 1
        position += 1
        if position < len(tokens) and tokens[position][0] == "pow":
            if position + 1 >= len(tokens) or tokens[position + 1][0] != "int":
                raise fail(f"cannot read the unit {_show(text)} (an exponent must be an integer)")
            exponent = int(tokens[position + 1][1])
            position += 2
        if divide:
            exponent = -exponent
        try:
            scale *= unit_scale ** exponent
        except OverflowError:  # 'ms^-999'
            raise fail(f"the unit {_show(text)} is out of the range of floats") from None
        dim = dim * unit_dim ** exponent
        divide = False
        if position < len(tokens) and tokens[position][0] not in ("mul", "div", "name"):
            raise fail(f"cannot read the unit {_show(text)}")
    return scale, dim


def _same_dimension_names(dimension_name: str | None) -> list[str]:
    """Unit names of one dimension (all names when ``None``), for suggestions."""
    if dimension_name is None:
        return list(_units())
    dim = _dimension(dimension_name)
    return [name for name, (_, d) in _units().items() if d == dim]


def parse_quantity(text: str, dimension_name: str | None):
    """Parse ``"<number> <unit>"`` into a Brian2 ``Quantity`` of a given dimension.

    No ``eval``: the number is read by a regular expression and each unit name
    is looked up in Brian2's unit registry (full names such as ``msecond`` and
    short ones such as ``ms``), plus ``min`` and ``h`` for times of the
    clock (``"5 min"``).  Units may be combined with ``*``, ``/`` and
    integer powers (``^2`` or ``**2``): ``"1 mV/ms"``, ``"3 nS/um^2"``.

    Parameters
    ----------
    text : str
        E.g. ``"20 ms"``, ``"-55 mV"``, ``"200 Hz"``, ``"1e-3 second"``.
    dimension_name : str or None
        A key of :data:`DIMENSIONS` (``"time"``, ``"voltage"``, ``"frequency"``,
        ``"conductance"``, ``"current"``, ``"dimensionless"``, ...), or ``None``
        to accept any dimension.  For ``"dimensionless"`` a bare number is
        accepted.

    Returns
    -------
    brian2.Quantity
        value = number x (product of unit scales), in SI, with the dimension.

    Raises
    ------
    ValueError
        Not a string, no number, a number without a unit, an unknown unit or
        the wrong dimension; the message says what was given and what is
        expected.

    Examples
    --------
    >>> parse_quantity("20 ms", "time")
    20. * msecond
    >>> parse_quantity("-55 mV", "voltage")
    -55. * mvolt
    >>> parse_quantity("20", "time")
    Traceback (most recent call last):
    ...
    ValueError: got '20' (a number without a unit); expected a time such as '20 ms'
    >>> parse_quantity("20 mV", "time")
    Traceback (most recent call last):
    ...
    ValueError: got '20 mV' (a voltage); expected a time such as '20 ms'
    """
    import brian2 as b2

    expected_dim = _dimension(dimension_name)  # validates the name first
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"got {_show(text)} ({_type_name(text)}); {_expected(dimension_name)}")
    if not isinstance(text, str):  # a bare YAML number
        if dimension_name == "dimensionless":
            return b2.Quantity(float(text))
        raise ValueError(f"got {_show(text)} (a number without a unit); "
                         f"{_expected(dimension_name)}")
    match = _NUMBER_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"got {_show(text)} (not a number followed by a unit); "
                         f"{_expected(dimension_name)}")
    number, unit_text = float(match.group(1)), match.group(2).strip()
    if not unit_text:
        if dimension_name == "dimensionless":
            return b2.Quantity(number)
        raise ValueError(f"got {_show(text)} (a number without a unit); "
                         f"{_expected(dimension_name)}")
    scale, dim = _parse_unit(unit_text, text, dimension_name)
    if expected_dim is not None and dim != expected_dim:
        raise ValueError(f"got {_show(text)} ({_describe_dimension(dim)}); "
                         f"{_expected(dimension_name)}")
    return b2.Quantity(number * scale, dim=dim)


def _shortest_number(value: float, unit_text: str) -> str | None:
    """The shortest ``"<number> <unit>"`` that parses back to exactly ``value`` (SI)."""
    try:
        scale = float(np.asarray(parse_quantity(f"1 {unit_text}", None)))
    except ValueError:
        return None
    for digits in range(1, 18):
        number = repr(float(f"{value / scale:.{digits}g}"))
        number = number[:-2] if number.endswith(".0") else number
        text = f"{number} {unit_text}"
        if float(np.asarray(parse_quantity(text, None))) == value:
            return text
    return None


def format_quantity(quantity) -> str:
    """Write a scalar quantity so that :func:`parse_quantity` reads it back exactly.

    The number is the shortest decimal that reproduces the float bit for bit,
    in ``h`` or ``min`` for times of a minute or more that take at most four
    digits there (``"5 min"``, ``"1.5 h"``), else in the unit of the
    dimension's example (``ms``, ``mV``, ``Hz``, ``nS``, ...) when the number
    is of a readable size, else in Brian2's preferred unit, else in SI base
    units.

    >>> import brian2 as b2
    >>> format_quantity(20 * b2.ms), format_quantity(0.1 * b2.ms), format_quantity(200 * b2.Hz)
    ('20 ms', '0.1 ms', '200 Hz')
    >>> format_quantity(-55 * b2.mV), format_quantity(5 * b2.nsiemens)
    ('-55 mV', '5 nS')
    >>> format_quantity(300 * b2.second), format_quantity(5400 * b2.second)
    ('5 min', '1.5 h')
    >>> q = 0.1 * b2.ms + 0.2 * b2.ms   # not exactly 0.3 ms
    >>> format_quantity(q), parse_quantity(format_quantity(q), "time") == q
    ('0.30000000000000004 ms', True)
    """
    import brian2 as b2
    from brian2.units.fundamentalunits import get_unit

    if np.ndim(quantity) != 0:
        raise ValueError(f"can only write a single value, got shape {np.shape(quantity)}")
    value = float(np.asarray(quantity))
    dim = b2.get_dimensions(quantity)
    if not math.isfinite(value):
        raise ValueError(f"cannot write a non-finite quantity: {quantity!r}")
    if dim.is_dimensionless:
        return repr(value)
    candidates = []
    if dim == _dimension("time"):  # "5 min", "2 h" rather than "300000 ms", "7.2 ks"
        candidates += [name for name, seconds in sorted(_CLOCK_UNITS.items(), key=lambda u: -u[1])
                       if abs(value) >= seconds
                       and float(f"{value / seconds:.4g}") * seconds == value]
    for name, (_, example) in DIMENSIONS.items():
        if name != "dimensionless" and _dimension(name) == dim:
            unit_text = example.split()[1]
            scale = _units()[unit_text][0]
            if value == 0 or 1e-3 <= abs(value / scale) < 1e6:
                candidates.append(unit_text)
    try:
        best = getattr(b2.Quantity(value, dim=dim).get_best_unit(), "dispname", None)
    except (KeyError, ValueError, AttributeError):  # no named unit for this dimension
        best = None
    named = best is not None and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", best)
    standard = getattr(get_unit(dim), "dispname", None)
    candidates += [best, standard] if named else [standard, best]
    for unit_text in candidates:
        if unit_text and unit_text != "1":
            text = _shortest_number(value, unit_text)
            if text is not None:
                return text
    # SI base units always round-trip: every scale is exactly 1.0
    factors = [f"{base}^{power}" if power != 1 else base
               for base, power in zip(_SI_BASE, dim._dims) if power != 0]
    return f"{value!r} {'*'.join(factors)}"


# ----------------------------------------------------------------------------- memory
#: units of memory sizes: decimal (kB = 1000 B) and binary (KiB = 1024 B) prefixes
MEMORY_UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
                "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_MEMORY_EXPECTED = (f"expected a size such as '2 GB' or '512 MiB' "
                    f"(units: {', '.join(MEMORY_UNITS)}) or 0")


def parse_memory(text) -> int:
    """Parse a memory size ``"<number> <unit>"`` (or ``0``) into bytes.

    >>> parse_memory("2 GB"), parse_memory("1.5 KiB"), parse_memory(0)
    (2000000000, 1536, 0)
    >>> parse_memory("2 G")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: got '2 G' (unknown unit 'G'); expected a size such as '2 GB' or '512 MiB' (units: ...
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"got {_show(text)} ({_type_name(text)}); {_MEMORY_EXPECTED}")
    match = _NUMBER_RE.fullmatch(str(text))
    if match is None:
        raise ValueError(f"got {_show(text)} (not a number followed by a unit); {_MEMORY_EXPECTED}")
    number, unit = float(match.group(1)), match.group(2).strip()
    if not unit and number != 0:
        raise ValueError(f"got {_show(text)} (a number without a unit); {_MEMORY_EXPECTED}")
    if unit and unit not in MEMORY_UNITS:
        raise ValueError(f"got {_show(text)} (unknown unit {_show(unit)}); {_MEMORY_EXPECTED}")
    size = number * MEMORY_UNITS.get(unit, 1)
    if not math.isfinite(size) or abs(size) >= 2**63:
        raise ValueError(f"got {_show(text)}; expected a size below 8 EiB")
    return round(size)


def format_memory(n_bytes: int) -> str:
    """Write a size in bytes so that :func:`parse_memory` reads it back exactly.

    >>> format_memory(2 * 10**9), format_memory(3 * 2**29), format_memory(1234), format_memory(0)
    ('2 GB', '1.5 GiB', '1.234 kB', '0 B')
    """
    for unit in ("TB", "TiB", "GB", "GiB", "MB", "MiB", "kB", "KiB"):
        number = n_bytes / MEMORY_UNITS[unit]
        if abs(number) >= 1 and float(f"{number:.6g}") == number:
            return f"{number:g} {unit}"
    return f"{n_bytes} B"


# ----------------------------------------------------------------------------- schema
class _Required:
    """Marker for a field without default (the key must be given)."""

    def __repr__(self):
        return "REQUIRED"

    def __reduce__(self):
        return "REQUIRED"


REQUIRED = _Required()
KINDS = ("int", "float", "bool", "str", "quantity", "memory", "float_list", "axis", "names")
#: the keys of an axis given as a mapping, each settable alone (``--set grid.v_th_std.num=3``)
AXIS_PARTS = ("start", "stop", "num")


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def _clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, with ``...`` where it was cut."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


_SHORT = reprlib.Repr()  # shows a value in a message, however long or nested
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = 8
_SHORT.maxdict, _SHORT.maxlevel, _SHORT.maxlong = 6, 4, 40


def _show(value) -> str:
    """A given value as it appears in messages: strings quoted, numbers plain, all short.

    >>> _show("20 ms"), _show(None), _show(True), _show([0.1, 3])
    ("'20 ms'", 'null', 'true', '[0.1, 3]')
    >>> _show("x" * 100)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and value.bit_length() > 128:  # str() of 10**5000 fails
        return f"<an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits>"
    if isinstance(value, (str, list, tuple, dict)):
        return _SHORT.repr(value)
    return _clip(str(value))


def _name(key) -> str:
    """A key as it appears in messages: as written when short plain text, else quoted and cut.

    >>> _name("n_neurons"), _name("net\\nwork")
    ('n_neurons', "'net\\\\nwork'")
    """
    text = str(key)
    if text and text.isprintable() and len(text) <= 60 and text.strip() == text:
        return text
    return _SHORT.repr(text)


def _as_number(value, what: str) -> float:
    """A YAML number (or number string such as '1e-3') as a finite float."""
    if isinstance(value, bool):
        raise ValueError(f"got {_show(value)} (a boolean); expected {what}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond 1.8e308
            raise ValueError(f"got {_show(value)}; expected a finite number") from None
    elif isinstance(value, str) and re.fullmatch(rf"\s*{_NUMBER}\s*", value):
        number = float(value)
    else:
        raise ValueError(f"got {_show(value)} ({_type_name(value)}); expected {what}")
    if not math.isfinite(number):
        raise ValueError(f"got {_show(value)}; expected a finite number")
    return number


@dataclasses.dataclass(frozen=True)
class Field:
    """One config key: its kind, default, unit, allowed range or choices, and meaning.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    default
        The value used when the key is left out, written as in YAML
        (``"20 ms"`` for a quantity); :data:`REQUIRED` makes the key mandatory.
    unit : str, optional
        For ``kind="quantity"`` only (and then required): a dimension name of
        :data:`DIMENSIONS`.
    low, high : number or str, optional
        Bounds; inclusive unless ``low_open``/``high_open``.  For quantities a
        number is in SI base units, or a string with a unit.
    choices : sequence, optional
        The allowed values (e.g. for ``kind="str"``).
    doc : str
        One line: what the key means.
    """

    kind: str
    default: Any = REQUIRED
    unit: str | None = dataclasses.field(default=None, kw_only=True)
    low: Any = dataclasses.field(default=None, kw_only=True)
    high: Any = dataclasses.field(default=None, kw_only=True)
    low_open: bool = dataclasses.field(default=False, kw_only=True)
    high_open: bool = dataclasses.field(default=False, kw_only=True)
    choices: tuple | None = dataclasses.field(default=None, kw_only=True)
    doc: str = dataclasses.field(default="", kw_only=True)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Field kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.kind == "quantity":
            if self.unit is None:
                raise ValueError("a quantity Field needs unit= (a dimension name: "
                                 f"{', '.join(DIMENSIONS)})")
            _dimension(self.unit)
        elif self.kind == "axis" and self.unit is not None:
            _dimension(self.unit)   # an axis of quantities
        elif self.unit is not None:
            raise ValueError(f"unit= is only for quantity and axis fields; got "
                             f"unit={self.unit!r} for kind {self.kind!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.default is not REQUIRED:
            try:
                self.convert(self.default)
            except ValueError as exc:
                raise ValueError(f"invalid default {self.default!r} for a {self.kind} "
                                 f"field: {exc}") from None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    # -- conversion ---------------------------------------------------------
    def convert(self, value):
        """Validate a YAML value and return the stored value; ``ValueError`` if invalid."""
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"got {_show(value)} ({_type_name(value)}); expected an integer")
            result = int(value)
        elif self.kind == "float":
            result = _as_number(value, "a number")
        elif self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"got {_show(value)} ({_type_name(value)}); "
                                 "expected true or false")
            result = bool(value)
        elif self.kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"got {_show(value)} ({_type_name(value)}); expected a string")
            result = value
        elif self.kind == "quantity":
            result = self._convert_quantity(value)
        elif self.kind == "memory":
            result = parse_memory(value)
        elif self.kind == "names":
            result = self._convert_names(value)
        elif self.kind == "float_list":
            if not isinstance(value, (list, tuple, np.ndarray)):
                raise ValueError(f"got {_show(value)} ({_type_name(value)}); "
                                 "expected a list of numbers such as [0.1, 0.2]")
            result = tuple(self._item(v, i, len(value)) for i, v in enumerate(value))
        else:  # axis
            result = self._convert_axis(value)
        if self.kind not in ("float_list", "axis", "names"):
            self._check(result, value)
        return result

    def _convert_names(self, value) -> dict:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(f"got {_show(value)} ({_type_name(value)}); expected a mapping "
                             "such as {rates: firing_rates}")
        result = {}
        for key, name in value.items():
            if self.choices is not None and key not in self.choices:
                close = difflib.get_close_matches(str(key)[:100], self.choices, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"unknown key {_show(str(key))} in the mapping; allowed: "
                                 f"{', '.join(self.choices)}{hint}")
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"{key}: got {_show(name)} ({_type_name(name)}); expected "
                                 "the name of a variable (non-empty text)")
            result[str(key)] = name.strip()
        return result

    def _convert_quantity(self, value):
        import brian2 as b2

        if isinstance(value, b2.Quantity):
            if np.ndim(value) != 0:
                raise ValueError(f"got {value!r}; expected a single value")
            if b2.get_dimensions(value) != _dimension(self.unit):
                raise ValueError(f"got {value!r} ({_describe_dimension(b2.get_dimensions(value))});"
                                 f" {_expected(self.unit)}")
            result = b2.Quantity(float(np.asarray(value)), dim=b2.get_dimensions(value))
        else:
            result = parse_quantity(value, self.unit)
        if not math.isfinite(float(np.asarray(result))):
            raise ValueError(f"got {_show(value)}; expected a finite value")
        return result

    def _item(self, value, index: int, count: int):
        where = f" (value {index + 1} of {count})"
        if self.unit is not None:  # an axis of quantities: each value carries its unit
            try:
                number = self._convert_quantity(value)
            except ValueError as exc:
                raise ValueError(f"{exc}{where}") from None
        else:
            number = _as_number(value, "a list of numbers")
        self._check(number, value, where)
        return number

    def _axis_example(self) -> str:
        if self.unit is None:
            return "expected a non-empty list of numbers or {start: 0.1, stop: 0.5, num: 5}"
        one = _expected(self.unit).split("such as ")[-1].strip("'")
        return (f"expected a non-empty list of values with a unit, such as ['{one}'], or "
                f"{{start: '{one}', stop: ..., num: 5}}")

    def _axis_end(self, value, name: str):
        if self.unit is None:
            return _as_number(value, f"a number for {name}")
        try:
            return float(np.asarray(self._convert_quantity(value)))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    @staticmethod
    def _axis_num(num) -> int:
        if (isinstance(num, bool) or not isinstance(num, (int, np.integer))
                or not 1 <= num <= MAX_NODES):
            raise ValueError(f"got num={_show(num)}; expected an integer 1 <= num <= {MAX_NODES}")
        return int(num)

    def axis_part(self, part: str, value):
        """One part of an axis mapping checked on its own (``--set grid.v_th_std.num=3``):
        ``start``/``stop`` as the axis's values are (with its unit, if it has one), ``num`` an
        integer.  Returns the value as given; ``ValueError`` if it cannot be that part."""
        if part == "num":
            self._axis_num(value)
        elif self.unit is None:
            _as_number(value, f"a number for {part}")
        else:
            self._convert_quantity(value)
        return value

    def _convert_axis(self, value):
        example = self._axis_example()
        if isinstance(value, Mapping):
            for key in value:
                if key not in AXIS_PARTS:
                    close = difflib.get_close_matches(str(key)[:100], AXIS_PARTS, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise ValueError(f"unknown key {_show(str(key))} in the axis mapping; allowed: "
                                     f"start, stop, num{hint}")
            missing = [k for k in AXIS_PARTS if k not in value]
            if missing:
                raise ValueError(f"the axis mapping lacks {', '.join(missing)}; {example}")
            start = self._axis_end(value["start"], "start")
            stop = self._axis_end(value["stop"], "stop")
            num = self._axis_num(value["num"])
            values = [float(v) for v in np.linspace(start, stop, num)]
            if self.unit is not None:
                import brian2 as b2

                values = [b2.Quantity(v, dim=_dimension(self.unit)) for v in values]
        elif isinstance(value, (list, tuple, np.ndarray)):
            if len(value) == 0:
                raise ValueError(f"got an empty list; {example}")
            values = list(value)
        else:
            raise ValueError(f"got {_show(value)} ({_type_name(value)}); {example}")
        return tuple(self._item(v, i, len(values)) for i, v in enumerate(values))

    # -- range and choices --------------------------------------------------
    def _bound(self, bound):
        if isinstance(bound, str) and self.kind == "memory":
            return parse_memory(bound)
        if bound is not None and self.unit is not None:
            if isinstance(bound, str):
                return float(np.asarray(parse_quantity(bound, self.unit)))
            return float(np.asarray(bound))
        return bound

    def _allowed(self) -> str:
        import brian2 as b2

        def show(bound):
            if self.kind == "memory":
                return format_memory(self._bound(bound))
            if self.unit is not None:
                return format_quantity(b2.Quantity(self._bound(bound), dim=_dimension(self.unit)))
            return f"{bound:g}"

        if self.high is None:  # 'value > 0' reads better than '0 < value'
            return f"value {'>' if self.low_open else '>='} {show(self.low)}"
        low = "" if self.low is None else f"{show(self.low)} {'<' if self.low_open else '<='} "
        return f"{low}value {'<' if self.high_open else '<='} {show(self.high)}"

    def _check(self, result, given, where: str = "") -> None:
        if self.choices is not None and result not in self.choices:
            raise ValueError(f"got {_show(given)}{where}; allowed: "
                             f"{', '.join(_show(c) for c in self.choices)}")
        if self.low is None and self.high is None:
            return
        number = float(np.asarray(result)) if self.unit is not None else result
        low, high = self._bound(self.low), self._bound(self.high)
        too_low = low is not None and (number <= low if self.low_open else number < low)
        too_high = high is not None and (number >= high if self.high_open else number > high)
        if too_low or too_high:
            raise ValueError(f"got {_show(given)}{where}; allowed {self._allowed()}")

    # -- writing back -------------------------------------------------------
    def to_plain(self, value):
        """The stored value as a YAML-able value that :meth:`convert` reads back exactly."""
        if self.kind == "quantity":
            text = format_quantity(value)
            return float(text) if self.unit == "dimensionless" else text
        if self.kind == "memory":
            return format_memory(value)
        if self.kind == "axis" and self.unit is not None:
            return [format_quantity(v) for v in value]
        if self.kind in ("float_list", "axis"):
            return [float(v) for v in value]
        if self.kind == "names":
            return dict(value)
        return value


# ----------------------------------------------------------------------------- config
class Section(Mapping):
    """The validated keys of one config section; read-only.

    Values are read as attributes (``cfg.network.tau_m``) or items
    (``cfg.network["tau_m"]``).
    """

    def __init__(self, name: str, values: dict):
        self.__dict__["_name"] = name
        self.__dict__["_values"] = dict(values)

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        values = self.__dict__.get("_values", {})
        if key in values:
            return values[key]
        raise AttributeError(f"config section {self.__dict__.get('_name')!r} has no key {key!r}; "
                             f"keys: {', '.join(values)}")

    def __setattr__(self, key, value):
        raise AttributeError("a config is read-only; use Config.replace()")

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Section({self._name!r}, {inner})"

    def __reduce__(self):
        return (Section, (self._name, self._values))


class Config:
    """A validated config: sections of typed values, the experiment name and the source.

    Built by :func:`load_config`.  ``cfg.network.tau_m`` or
    ``cfg["network"]["tau_m"]`` (or ``cfg["network.tau_m"]``) is a Brian2
    quantity, ints are ``int``, axes are tuples of floats.  Configs are
    read-only, compare equal when their values are equal, and pickle (they are
    sent to worker processes).
    """

    def __init__(self, experiment: str, sections: dict, schema: dict, source: str | None):
        self.__dict__.update(_experiment=experiment, _schema=schema, _source=source,
                             _sections={name: Section(name, values)
                                        for name, values in sections.items()})

    # -- access -------------------------------------------------------------
    @property
    def experiment(self) -> str:
        """The protocol name (the top-level ``experiment`` key)."""
        return self._experiment

    @property
    def source(self) -> str | None:
        """Where the config came from (the file path), for messages."""
        return self._source

    @property
    def schema(self) -> dict:
        return self._schema

    @property
    def sections(self) -> dict:
        """``{section name: Section}`` in schema order."""
        return dict(self._sections)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        sections = self.__dict__.get("_sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(f"config has no section {name!r}; sections: {', '.join(sections)}")

    def __setattr__(self, name, value):
        raise AttributeError("a config is read-only; use Config.replace()")

    def __getitem__(self, key: str):
        if key == "experiment":
            return self._experiment
        if key in self._sections:
            return self._sections[key]
        section, _, name = key.partition(".")
        if name and section in self._sections and name in self._sections[section]:
            return self._sections[section][name]
        raise KeyError(key)

    def __contains__(self, key) -> bool:
        try:
            self[key]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self):
        return iter(self._sections)

    def __eq__(self, other):
        if not isinstance(other, Config):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self):
        return (f"Config(experiment={self._experiment!r}, source={self._source!r}, "
                f"sections={list(self._sections)})")

    def __reduce__(self):
        sections = {name: dict(section) for name, section in self._sections.items()}
        return (Config, (self._experiment, sections, self._schema, self._source))

    # -- writing ------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain YAML-able values in schema order; quantities as exact strings."""
        out = {"experiment": self._experiment}
        for name, fields in self._schema.items():
            out[name] = {key: field.to_plain(self._sections[name][key])
                         for key, field in fields.items()}
        return out

    def to_yaml(self) -> str:
        """The fully resolved config as YAML text (schema key order)."""
        return yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False,
                         default_flow_style=False, allow_unicode=True, width=100)

    # -- changing -----------------------------------------------------------
    def replace(self, **changes) -> "Config":
        """A new config with dotted keys changed and validated.

        >>> cfg = load_config_text("experiment: demo", {"net": {"g": Field("float", 0.2)}})
        >>> cfg.replace(**{"net.g": 0.3}).net.g
        0.3
        """
        sections = {name: dict(section) for name, section in self._sections.items()}
        for dotted, value in changes.items():
            section, key, field = _lookup(self._schema, dotted, "replace()")
            try:
                sections[section][key] = field.convert(value)
            except ValueError as exc:
                raise ConfigError("replace()", dotted, str(exc)) from None
        return Config(self._experiment, sections, self._schema, self._source)


class _Dumper(yaml.SafeDumper):
    """Safe YAML with lists of numbers on one line (``[0.1, 0.2]``)."""


_Dumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))


# ----------------------------------------------------------------------------- reading YAML
_TAG = "tag:yaml.org,2002:"
#: YAML 1.2 core schema: (tag, what a plain scalar of that tag looks like, its first
#: characters).  Anything else plain is text.  ``<<`` is YAML 1.1's merge key, kept.
_CORE_SCHEMA = (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    ("float", r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?", "-+.0123456789"),
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    ("merge", r"<<", "<"),
)
_CORE_PATTERNS = tuple((_TAG + name, re.compile(rf"(?:{pattern})\Z"))
                       for name, pattern, _ in _CORE_SCHEMA)
_INT_RE = re.compile(r"([-+]?)([0-9]+)|0o([0-7]+)|0x([0-9a-fA-F]+)")
_FLOAT_RE = re.compile(_CORE_SCHEMA[2][1])
# characters YAML does not allow in a stream (PyYAML's own test), NUL first among them
_NOT_YAML = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
_DEPTH_PROBLEM = (f"nesting deeper than {MAX_DEPTH} levels (lists and mappings inside each "
                  "other, aliases expanded); a config needs 3")
_KIND_OF_TAG = {_TAG + "bool": "a boolean", _TAG + "int": "an integer",
                _TAG + "float": "a float", _TAG + "null": "null"}


class _Refused(Exception):
    """Something a config may not hold, found while reading YAML; becomes a ConfigError.

    ``path`` is where it was found (keys and list indices), for the message.
    """

    def __init__(self, problem: str, path: tuple = ()):
        super().__init__(problem)
        self.problem, self.path = problem, tuple(path)


def _line(node) -> int:
    return node.start_mark.line + 1


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML's safe loader (libyaml when installed) reading the YAML 1.2 core schema.

    Only the core tags construct; ints must fit in 64 bits and floats must be
    finite.  Call it only on text that :func:`_check_events` has passed.
    """

    yaml_implicit_resolvers: dict = {}
    yaml_constructors: dict = {}

    def construct_undefined(self, node):
        raise _Refused(f"line {_line(node)}: the tag {_clip(node.tag, 60)!r} is not allowed; a "
                       "config holds text, numbers, true/false, null, lists and mappings")

    def construct_core_bool(self, node):
        text = self.construct_scalar(node)
        if text not in ("true", "True", "TRUE", "false", "False", "FALSE"):
            raise _Refused(f"line {_line(node)}: {_show(text)} is tagged as a boolean; "
                           "expected true or false")
        return text[0] in "tT"

    def construct_core_int(self, node):
        text = self.construct_scalar(node)
        match = _INT_RE.fullmatch(text)
        if match is None:
            raise _Refused(f"line {_line(node)}: {_show(text)} is tagged as an integer; expected "
                           "decimal digits such as 12 (or 0o17, 0x1F)")
        sign, decimal, octal, hexadecimal = match.groups()
        digits = decimal or octal or hexadecimal
        value = None
        if len(digits) <= 24:  # longer ones are too large anyway: int() of 10**5 digits is slow
            value = int(digits, 10 if decimal else 8 if octal else 16)
            value = -value if sign == "-" else value
        if value is None or not -2 ** 63 <= value < 2 ** 63:
            shown = text if len(text) <= 24 else f"{text[:12]}... ({len(digits)} digits)"
            raise _Refused(f"line {_line(node)}: the integer {shown} is too large; integers must "
                           "lie between -2**63 and 2**63 - 1 (write 1e20 for a large float)")
        return value

    def construct_core_float(self, node):
        text = self.construct_scalar(node)
        if _FLOAT_RE.fullmatch(text) is None:
            raise _Refused(f"line {_line(node)}: {_show(text)} is tagged as a float; expected a "
                           "number such as 0.5 or 1e-3")
        value = float(text)
        if not math.isfinite(value):  # 1e400
            raise _Refused(f"line {_line(node)}: the number {_clip(text, 40)} is too large for "
                           "a float (at most about 1.8e308)")
        return value

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        for key in mapping:  # _check_events refuses these first; a second line of defence
            if not isinstance(key, str):
                raise _Refused(f"line {_line(node)}: the key {_show(key)} is "
                               f"{_type_name(key)}; keys must be text")
        return mapping


for _tag, _pattern, _first in _CORE_SCHEMA:
    _Loader.add_implicit_resolver(_TAG + _tag, re.compile(rf"(?:{_pattern})\Z"), list(_first))
for _tag, _construct in [
        ("null", yaml.constructor.SafeConstructor.construct_yaml_null),
        ("bool", _Loader.construct_core_bool),
        ("int", _Loader.construct_core_int),
        ("float", _Loader.construct_core_float),
        ("str", yaml.constructor.SafeConstructor.construct_yaml_str),
        ("merge", yaml.constructor.SafeConstructor.construct_yaml_str),  # '<<' not as a key
        ("seq", yaml.constructor.SafeConstructor.construct_yaml_seq),
        ("map", yaml.constructor.SafeConstructor.construct_yaml_map)]:
    _Loader.add_constructor(_TAG + _tag, _construct)
_Loader.add_constructor(None, _Loader.construct_undefined)


def _scalar_tag(event) -> str:
    """The tag a scalar event resolves to, as the loader will resolve it."""
    if event.tag not in (None, "!"):
        return event.tag
    if event.implicit[0]:  # plain, untagged
        for tag, pattern in _CORE_PATTERNS:
            if pattern.match(event.value):
                return tag
    return _TAG + "str"


class _Frame:
    """An open list or mapping while :func:`_check_events` walks the events."""

    __slots__ = ("start", "anchor", "height", "mapping", "path", "keys", "key", "index")

    def __init__(self, start: int, anchor, mapping: bool, path: tuple):
        self.start, self.anchor, self.mapping, self.path = start, anchor, mapping, path
        self.height = 0       # levels of the deepest child (0: none, or only scalars)
        self.keys = {}        # key -> line, for duplicates
        self.key = None       # the key whose value comes next; None: a key comes next
        self.index = 0        # position of the next list item


def _check_events(text: str) -> None:
    """Refuse alias bombs, deep nesting, duplicate and non-text keys, from the parse events.

    Walks ``yaml.parse`` without recursion and before any node or Python object
    is built.  An alias counts as many values as the anchored node it names
    expands to, and reaches as deep; so the bound holds for the data the
    loader would build, however the aliases nest.
    """
    frames = []      # open lists and mappings, innermost last
    expanded = {}    # anchor -> (values its node expands to, levels it spans)
    total = 0        # values so far, aliases expanded
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.DocumentStartEvent):
            expanded = {}  # anchors belong to one document
            continue
        line = event.start_mark.line + 1
        if isinstance(event, yaml.CollectionEndEvent):
            frame = frames.pop()
            height = frame.height + 1
            if frame.anchor is not None:
                expanded[frame.anchor] = (total - frame.start, height)
            if frames:
                frames[-1].height = max(frames[-1].height, height)
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        # 1. where the node sits: a key, a mapping's value, a list item, the document
        parent = frames[-1] if frames else None
        path = ()
        if parent is not None and parent.mapping and parent.key is None:
            _check_key(event, parent, line)
            path = parent.path
        elif parent is not None and parent.mapping:
            path, parent.key = parent.path + (parent.key,), None
        elif parent is not None:
            path, parent.index = parent.path + (parent.index,), parent.index + 1
        # 2. how many values it expands to, and how deep
        size, height = 1, 0
        if isinstance(event, yaml.AliasEvent):
            if any(frame.anchor == event.anchor for frame in frames):
                raise _Refused(f"line {line}: alias *{_clip(event.anchor, 40)} refers to a node "
                               "that contains it (a recursive structure); a config is a tree "
                               "of values", path)
            if event.anchor not in expanded:
                raise _Refused(f"line {line}: alias *{_clip(event.anchor, 40)} is used before an "
                               f"anchor &{_clip(event.anchor, 40)} defines it; define the "
                               "anchor first", path)
            size, height = expanded[event.anchor]
        elif isinstance(event, yaml.CollectionStartEvent):
            height = 1
        total += size
        if total > MAX_NODES:
            raise _Refused(f"line {line}: the YAML expands to more than {MAX_NODES} values "
                           "(each alias counts as a copy of its anchor); a config holds a "
                           "few hundred")
        if len(frames) + height > MAX_DEPTH:
            raise _Refused(f"line {line}: {_DEPTH_PROBLEM}")
        # 3. remember it
        if isinstance(event, yaml.CollectionStartEvent):
            frames.append(_Frame(total - 1, event.anchor,
                                 isinstance(event, yaml.MappingStartEvent), path))
        else:
            if parent is not None:
                parent.height = max(parent.height, height)
            if isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
                expanded[event.anchor] = (1, 0)


def _check_key(event, mapping: _Frame, line: int) -> None:
    """A mapping key must be text, once per mapping; remember it in ``mapping``."""
    if not isinstance(event, yaml.ScalarEvent):
        what = ("an alias" if isinstance(event, yaml.AliasEvent) else
                "a mapping" if isinstance(event, yaml.MappingStartEvent) else "a list")
        raise _Refused(f"line {line}: {what} used as a key; keys must be text", mapping.path)
    tag = _scalar_tag(event)
    if tag not in (_TAG + "str", _TAG + "merge"):
        plain = not event.style  # PyYAML says None, libyaml ''
        shown = _clip(event.value, 40) if plain else _show(event.value)
        kind = _KIND_OF_TAG.get(tag, f"tagged {_clip(tag, 40)!r}")
        hint = f" (quote it: {_show(event.value)})" if plain and event.tag is None else ""
        raise _Refused(f"line {line}: the key {shown} is {kind}; keys must be text{hint}",
                       mapping.path)
    if event.value in mapping.keys:
        raise _Refused(f"duplicate key on lines {mapping.keys[event.value]} and {line}; each key "
                       "may appear only once in a mapping (keep one)",
                       mapping.path + (event.value,))
    mapping.keys[event.value] = line
    mapping.key = event.value


def _dotted(path: tuple) -> str:
    """``('grid', 'v_th_std', 2)`` -> ``'grid.v_th_std[2]'``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + _name(part)
    return text


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's or libyaml's error as 'line L, column C: invalid YAML: <what>'."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    if "maximum nesting depth" in problem:  # libyaml's own limit (1000) struck first
        return f"{where}{_DEPTH_PROBLEM}"
    context = getattr(exc, "context", None)
    detail = f"{context}; {problem}" if context else problem
    return f"{where}invalid YAML: {detail}"


def _parse_yaml_value(text: str, source: str, key: str | None = None):
    """One YAML document -> plain Python data, refusing hostile input (see the module doc).

    ``key`` is given for a ``--set`` value: messages then read
    ``"--set: <key>: cannot read the value '...': <problem>"``.

    >>> _parse_yaml_value("[no, 1:30, 017, 1e-3, true, ~]", "--set", "a.b")
    ['no', '1:30', 17, 0.001, True, None]
    """
    def refused(problem: str, path: tuple = ()) -> ConfigError:
        where = _dotted(path)
        if key is None:
            return ConfigError(source, where or None, problem)
        where = f"{where}: " if where else ""
        return ConfigError(source, key, f"cannot read the value {_show(text)}: {where}{problem}")

    if not isinstance(text, str):
        raise refused(f"got {_type_name(text)}; expected YAML text")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        raise refused(f"the text has {size} bytes; a config may have at most "
                      f"{MAX_CONFIG_BYTES} (1 MB)")
    bad = _NOT_YAML.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - text.rfind("\n", 0, bad.start())
        raise refused(f"line {line}, column {column}: the character {bad.group()!r} is not "
                      "allowed in YAML; a config is UTF-8 text (is this a binary file?)")
    try:
        _check_events(text)
        loader = _Loader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except _Refused as exc:
        raise refused(exc.problem, exc.path) from None
    except yaml.YAMLError as exc:
        raise refused(_yaml_problem(exc)) from None
    except RecursionError:
        raise refused("the YAML is too deeply nested to read; a config nests lists and "
                      "mappings a few levels deep") from None


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def _read_text(path: Path, kind: str = "YAML") -> str:
    """The UTF-8 text of a regular file of at most :data:`MAX_CONFIG_BYTES`; never blocks.

    ``kind`` (``"YAML"``, ``"TOML"``) names the expected file in messages.
    """
    source = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(None, None, f"config file not found: {source}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(source, None, f"cannot read the file: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    mode, size = info.st_mode, info.st_size
    if stat.S_ISDIR(mode):
        raise ConfigError(source, None, f"is a directory; expected a {kind} config file")
    if not stat.S_ISREG(mode):  # a FIFO would block, /dev/zero never ends
        raise ConfigError(source, None, f"is {_file_kind(mode)}, not a regular file; "
                          f"expected a {kind} config file")
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(source, None, f"the file has {size} bytes; a config may have at most "
                          f"{MAX_CONFIG_BYTES} (1 MB)")
    try:  # non-blocking, and checked again once open, in case the file was swapped
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            data = file.read(MAX_CONFIG_BYTES + 1) if stat.S_ISREG(mode) else None
    except OSError as exc:
        raise ConfigError(source, None, f"cannot read the file: {exc.strerror or exc}") from None
    if data is None:
        raise ConfigError(source, None, f"is {_file_kind(mode)}, not a regular file; "
                          f"expected a {kind} config file")
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(source, None, f"the file has more than {MAX_CONFIG_BYTES} bytes; a "
                          f"config may have at most {MAX_CONFIG_BYTES} (1 MB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(source, None, f"line {line}: byte 0x{data[exc.start]:02x} is not valid "
                          "UTF-8; a config is UTF-8 text (is this a binary file?)") from None


# ----------------------------------------------------------------------------- loading
def _unknown(kind: str, given: str, allowed: Iterable[str], where: str) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(given, allowed, n=1, cutoff=0.6) if len(given) < 100 else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind}; allowed {kind}s{where}: {', '.join(sorted(allowed))}{hint}"


def _lookup(schema: dict, dotted: str, source: str):
    """``'network.tau_m'`` -> (section, key, Field); ConfigError naming ``source`` if unknown.

    After the section's dot the rest is the key, dots included, in a section
    whose schema has dotted keys (``'hyperparameters.loss_weight.cv'``).
    """
    section, dot, key = str(dotted).partition(".")
    if section == "experiment":
        raise ConfigError(source, dotted, "the experiment cannot be changed here")
    if "." in key and not any("." in name for name in schema.get(section, ())):
        form, example = (("section.key=value", "network.n_neurons=2000") if source == "--set"
                         else ("section.key", "network.n_neurons"))
        raise ConfigError(source, dotted, f"too many dots; expected {form} with one dot, "
                          f"e.g. {example}")
    if section not in schema:
        raise ConfigError(source, _name(section), _unknown("section", section,
                                                           ["experiment", *schema], ""))
    if not dot or not key:
        raise ConfigError(source, dotted, "expected a dotted key 'section.key'; keys in "
                          f"{section!r}: {', '.join(sorted(schema[section]))}")
    if key not in schema[section]:
        raise ConfigError(source, f"{section}.{_name(key)}", _unknown(
            "key", key, schema[section], f" in {section!r}"))
    return section, key, schema[section][key]


def _read_yaml(path: Path) -> dict:
    return _parse_yaml_text(_read_text(path), str(path))


def _is_toml(path: Path) -> bool:
    return path.suffix.lower() == ".toml"


_TOML_WHERE = re.compile(r"(.*) \(at line (\d+), column (\d+)\)", re.DOTALL)
_NO_EXPERIMENT = ("no 'experiment' key; add experiment = \"<name>\" at the top of the file, or "
                  "run it with python -m protocols.<name> FILE")


def _read_toml(path: Path) -> dict:
    return _parse_toml_text(_read_text(path, "TOML"), str(path))


def _parse_toml_text(text: str, source: str) -> dict:
    """TOML text -> plain Python data, under the limits YAML has (see the module doc)."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_WHERE.fullmatch(str(exc))
        problem = (f"line {match[2]}, column {match[3]}: invalid TOML: {match[1]}" if match
                   else f"invalid TOML: {exc}")
        raise ConfigError(source, None, problem) from None
    except ValueError:  # int() of thousands of digits
        raise ConfigError(source, None, "invalid TOML: an integer has too many digits; integers "
                          "must lie between -2**63 and 2**63 - 1") from None
    except RecursionError:
        raise ConfigError(source, None, "the TOML is too deeply nested to read; a config nests "
                          "lists and tables a few levels deep") from None
    _check_plain(data, source)
    return data


def _check_plain(data: dict, source: str) -> None:
    """Refuse what YAML's reader refuses, in parsed TOML: depth, size, big ints, dates."""
    import datetime

    total, stack = 0, [(data, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        total += 1
        if total > MAX_NODES:
            raise ConfigError(source, None, f"the TOML holds more than {MAX_NODES} values; a "
                              "config holds a few hundred")
        where = _dotted(path) or None
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise ConfigError(source, where, _DEPTH_PROBLEM.replace("mappings", "tables")
                                  .replace(", aliases expanded", ""))
            if isinstance(value, dict):
                total += len(value)  # the keys
                stack.extend((v, path + (k,), depth + 1) for k, v in value.items())
            else:
                stack.extend((v, path + (i,), depth + 1) for i, v in enumerate(value))
        elif isinstance(value, (datetime.date, datetime.time)):
            raise ConfigError(source, where, f"got {value.isoformat()} (a TOML date or time); "
                              "not a value this config accepts (quote it for text)")
        elif isinstance(value, int) and not isinstance(value, bool) \
                and not -2 ** 63 <= value < 2 ** 63:
            raise ConfigError(source, where, f"the integer {_show(value)} is too large; integers "
                              "must lie between -2**63 and 2**63 - 1 (write 1e20 for a large "
                              "float)")


def _translated(data: dict, translate, source: str) -> dict:
    """``translate(data)``; its ``ConfigError``/``ValueError`` named by the file."""
    try:
        result = translate(data)
    except ConfigError as exc:
        raise ConfigError(source, exc.key, exc.problem) from None
    except ValueError as exc:
        raise ConfigError(source, None, str(exc) or type(exc).__name__) from None
    if not isinstance(result, dict):
        raise ConfigError(source, None, f"the translation of the file gave {_type_name(result)};"
                          " expected a mapping with 'experiment' and sections")
    return result


def _read_file(path: Path, experiment: str | None, translate=None) -> dict:
    """A config file's data: YAML, or TOML (translated; ``experiment`` filled in if missing)."""
    if not _is_toml(path):
        return _read_yaml(path)
    data = _read_toml(path)
    if translate is not None:
        data = _translated(data, translate, str(path))
    if "experiment" not in data:
        if experiment is None:
            raise ConfigError(str(path), None, _NO_EXPERIMENT)
        data = {"experiment": experiment, **data}
    return data


def _parse_yaml_text(text: str, source: str) -> dict:
    data = _parse_yaml_value(text, source)
    if data is None:
        raise ConfigError(source, None, "the file is empty; expected a mapping with "
                          "'experiment' and sections")
    if not isinstance(data, dict):
        raise ConfigError(source, None, f"the top level is {_type_name(data)}; expected a "
                          "mapping with 'experiment' and sections")
    return data


def _check_experiment(data: dict, source: str) -> str:
    if "experiment" not in data:
        raise ConfigError(source, "experiment", "missing; the top-level key 'experiment' "
                          "names the protocol, e.g. 'experiment: chaos'")
    experiment = data["experiment"]
    if not isinstance(experiment, str) or not experiment:
        raise ConfigError(source, "experiment", f"got {_show(experiment)} "
                          f"({_type_name(experiment)}); expected a protocol name such as 'chaos'")
    return experiment


def read_experiment(path, default: str | None = None) -> str:
    """The ``experiment`` key of a config file (YAML or TOML), without validating the rest.

    Used to pick the protocol (and its schema) before the full check.  A TOML
    file without ``experiment`` gives ``default`` when it is given, else a
    :class:`ConfigError`; a YAML file must always name it.
    """
    path = Path(path)
    if _is_toml(path):
        data = _read_toml(path)
        if "experiment" not in data and default is not None:
            return default
        if "experiment" not in data:
            raise ConfigError(str(path), None, _NO_EXPERIMENT)
        return _check_experiment(data, str(path))
    return _check_experiment(_read_yaml(path), str(path))


def _parse_override(text: str):
    """``'network.n_neurons=2000'`` -> (dotted key, YAML value); the value read as a config is."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError("--set", None, f"got {_show(text)}; expected section.key=value, "
                          "e.g. network.n_neurons=2000")
    dotted, _, value_text = text.partition("=")
    dotted = dotted.strip()
    if not dotted:
        raise ConfigError("--set", None, f"got {_show(text)}: nothing before '='; expected "
                          "section.key=value, e.g. network.n_neurons=2000")
    if not value_text.strip():
        return dotted, ""
    return dotted, _parse_yaml_value(value_text, "--set", dotted)


def _resolve(data: dict, schema: dict, source: str, overrides: Iterable[str],
             experiment: str | None) -> Config:
    if isinstance(overrides, str):  # one override given on its own
        overrides = [overrides]
    name = _check_experiment(data, source)
    if experiment is not None and name != experiment:
        raise ConfigError(source, "experiment", f"got {_show(name)}; this protocol runs "
                          f"experiment {experiment!r}")
    # 1. structure: sections and keys of the file
    raw, origin = {}, {}
    for section, entries in data.items():
        if section == "experiment":
            continue
        if section not in schema:
            raise ConfigError(source, _name(section), _unknown("section", str(section),
                                                               ["experiment", *schema], ""))
        if entries is None:
            entries = {}
        if not isinstance(entries, dict):
            raise ConfigError(source, section, f"got {_show(entries)} ({_type_name(entries)}); "
                              f"expected a mapping of keys: {', '.join(schema[section])}")
        for key, value in _section_entries(section, entries, schema[section], source).items():
            raw[section, key] = value
            origin[section, key] = source
    # 2. command-line overrides, checked against the schema; one part of an axis mapping
    # (grid.v_th_std.num=3) changes that part of the mapping given so far
    for text in overrides:
        dotted, value = _parse_override(text)
        section, key, field, part = _lookup_override(schema, dotted)
        where = f"--set {_clip(text)}"
        if part is not None:
            given, given_where = ((raw[section, key], origin[section, key])
                                  if (section, key) in raw else (field.default, None))
            value = _with_axis_part(field, f"{section}.{key}", part, value, given, given_where)
            where = f"{given_where}, {where}" if given_where else where
        raw[section, key] = value
        origin[section, key] = where
    # 3. convert every field, defaults for the rest
    sections = {}
    for section, fields in schema.items():
        values = {}
        for key, field in fields.items():
            dotted = f"{section}.{key}"
            if (section, key) in raw:
                value, where = raw[section, key], origin[section, key]
            elif field.required:
                doc = f" ({field.doc})" if field.doc else ""
                raise ConfigError(source, dotted, f"missing; this key has no default{doc}")
            else:
                value, where = field.default, "schema default"
            try:
                values[key] = field.convert(value)
            except ValueError as exc:
                raise ConfigError(where, dotted, str(exc)) from None
        sections[section] = values
    return Config(name, sections, schema, source)


def _lookup_override(schema: dict, dotted: str):
    """:func:`_lookup` for ``--set``: (section, key, Field, part), where ``part`` is one of
    :data:`AXIS_PARTS` for ``section.axis.part`` (``grid.v_th_std.num``), else None."""
    section, _, rest = str(dotted).partition(".")
    key, dot, part = rest.rpartition(".")
    fields = schema.get(section, {})
    if dot and rest not in fields and key in fields and fields[key].kind == "axis":
        if part not in AXIS_PARTS:
            close = difflib.get_close_matches(part[:100], AXIS_PARTS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError("--set", f"{section}.{key}.{_name(part)}",
                              f"unknown part of the axis {section}.{key}; parts: "
                              f"{', '.join(AXIS_PARTS)} (e.g. {section}.{key}.num=5){hint}")
        return section, key, fields[key], part
    return (*_lookup(schema, dotted, "--set"), None)


def _with_axis_part(field: Field, dotted: str, part: str, value, given, given_where):
    """The axis mapping ``given`` (from ``given_where``; None: the schema default) with
    ``part`` set to ``value``; ``ConfigError`` if the part is invalid or the axis is a list."""
    try:
        field.axis_part(part, value)
    except ValueError as exc:
        raise ConfigError("--set", f"{dotted}.{part}", str(exc)) from None
    if isinstance(given, Mapping):
        return {**given, part: value}
    where = f"in {given_where}" if given_where else "by default"
    plain = isinstance(given, (list, tuple)) and given and all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in given)
    if plain:  # an example built from the list itself
        parts = {"start": given[0], "stop": given[-1], "num": len(given), part: value}
        mapping = "{" + ", ".join(f"{k}: {parts[k]}" for k in AXIS_PARTS) + "}"
    else:
        mapping = "{start: ..., stop: ..., num: ...}"
    kind = "a list" if isinstance(given, (list, tuple)) else _type_name(given)
    raise ConfigError("--set", f"{dotted}.{part}", _clip(
        f"{dotted} is {kind} {where} ({_show(given)}), not {{start, stop, num}}, so it has no "
        f"{part} to change; set the whole axis: --set \"{dotted}=[...]\" with its values, or "
        f"--set \"{dotted}={mapping}\"", 600))


def _section_entries(section: str, entries: dict, fields: dict, source: str) -> dict:
    """A section's ``{key: value}`` as the schema names the keys: a nested mapping under a
    prefix of dotted keys (``loss_weight: {cv: 0.5}``) becomes ``{'loss_weight.cv': 0.5}``."""
    flat = {}

    def add(key: str, value):
        dotted = f"{section}.{_name(key)}"
        members = sorted(name[len(key) + 1:] for name in fields if name.startswith(f"{key}."))
        if key in fields:
            if key in flat:  # YAML and TOML refuse a key twice in one mapping themselves
                raise ConfigError(source, dotted, "given twice, written out and inside a "
                                  "nested mapping; keep one")
            flat[key] = value
        elif members and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                add(f"{key}.{sub}", sub_value)
        elif members:
            raise ConfigError(source, dotted, f"got {_show(value)} ({_type_name(value)}); "
                              f"expected a mapping of keys: {', '.join(members)}")
        else:
            raise ConfigError(source, dotted, _unknown("key", key, fields, f" in {section!r}"))

    for key, value in entries.items():
        add(key if isinstance(key, str) else str(key), value)
    return flat


def load_config(path, schema: dict, overrides: Iterable[str] = (), *,
                experiment: str | None = None, translate=None) -> Config:
    """Read, check and resolve a YAML or TOML config file.

    Parameters
    ----------
    path : str or Path
        The YAML file, or a TOML file (name ending in ``.toml``).
    schema : dict
        ``{section: {key: Field}}``; the top-level key ``experiment`` is
        always required besides.
    overrides : iterable of str
        ``"section.key=value"`` strings (the command line's ``--set``); each
        value is read as YAML, so ``network.tau_m=10 ms``,
        ``network.n_neurons=2000`` and ``grid.g_std=[0.1,0.2]`` all work.
    experiment : str, optional
        When given, the file's ``experiment`` must equal it; a TOML file
        without ``experiment`` is read as this experiment.
    translate : callable, optional
        For a TOML file only: ``translate(data) -> data`` on the parsed
        ``dict`` before anything is checked, e.g. a study's own layout mapped
        onto the schema's sections.  A ``ConfigError`` or ``ValueError`` it
        raises is reported as a ``ConfigError`` naming the file.

    Raises
    ------
    ConfigError
        Missing file, invalid YAML or TOML (with its line), a top level that is not a
        mapping, unknown sections or keys (with the closest allowed key),
        missing required keys, wrong types, units or ranges; also a key given
        twice or not text, YAML beyond :data:`MAX_CONFIG_BYTES`,
        :data:`MAX_DEPTH` or :data:`MAX_NODES` (alias bombs), text that is not
        UTF-8 or holds NUL bytes, and paths that are not regular files.
    """
    path = Path(path)
    return _resolve(_read_file(path, experiment, translate), schema, str(path), overrides,
                    experiment)


def load_config_text(text: str, schema: dict, overrides: Iterable[str] = (), *,
                     source: str = "<text>", experiment: str | None = None) -> Config:
    """:func:`load_config` for YAML text instead of a file (tests, notebooks)."""
    return _resolve(_parse_yaml_text(text, source), schema, source, overrides, experiment)


def schema_table(schema: dict, sections=None) -> str:
    """A markdown table of a schema's keys: default, allowed values, meaning (for the docs)."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for section, keys in schema.items():
        if sections is not None and section not in sections:
            continue
        for key, field in keys.items():
            default = field.default
            if isinstance(default, dict):
                default = "{" + ", ".join(f"{a}: {b}" for a, b in default.items()) + "}"
            if default == "":
                default = '""'
            if field.choices is not None:
                allowed = ", ".join(map(str, field.choices))
            elif field.low is None and field.high is None:
                allowed = {"bool": "true, false", "str": "text"}.get(field.kind, "any")
            else:
                allowed = field._allowed()
            if field.kind == "axis":
                allowed = "list, or {start, stop, num}; each " + allowed
            elif field.kind == "float_list":
                allowed = "list; each " + allowed
            elif field.kind == "names":
                allowed = "mapping of " + allowed + " to names"
            rows.append(f"| `{section}.{key}` | `{default}` | {allowed} | {field.doc} |")
    return "\n".join(rows)
