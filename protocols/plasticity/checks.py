"""Checks shared by the plasticity sub-experiments' ``validate`` (see :mod:`protocols.plasticity`).

Each raises :class:`~protocols.config.ConfigError` with the dotted key and a
one-line problem, ``"got X; allowed ... (because ...)"``, before anything is
built.  Not a sub-experiment: :data:`protocols.plasticity.KINDS` does not name it.

>>> from brian2 import ms, second
>>> window("demo.yaml", "hebbian.coactivity_bin", 2 * second, low=(0.1 * ms, "protocol.dt"),
...        high=(1 * second, "hebbian.duration"), why="bins must fit in the run")
Traceback (most recent call last):
...
protocols.config.ConfigError: demo.yaml: hebbian.coactivity_bin: got 2000 ms; allowed from protocol.dt (0.1 ms) to hebbian.duration (1000 ms) (because bins must fit in the run)
"""
from __future__ import annotations

import math

from protocols.config import ConfigError, format_quantity

#: resolution of the pattern and learning-rate schedules (one value per millisecond)
SCHEDULE_STEP_S = 1e-3
#: the clip of drifting weights and the schedules run every millisecond (models.synapses.build)
MS_CLOCK_S = 1e-3


def show(value) -> str:
    """A quantity as a config would write it (``'250 ms'``), other values with ``:g``."""
    import brian2 as b2

    if not isinstance(value, b2.Quantity):
        return f"{value:g}"
    # the unit format_quantity picks, the number to 9 significant digits: a
    # bound computed from the config (0.1 ms + 0.2 ms) reads as written (0.3 ms)
    number, _, unit = format_quantity(value).partition(" ")
    return f"{float(number):.9g} {unit}".strip()


def seconds(value) -> float:
    """A Brian2 time (or a number of seconds) as a float of seconds."""
    return float(value)


def window(source, key: str, value, *, low=None, high=None, why: str,
           high_open: bool = False) -> None:
    """Refuse ``value`` outside ``[low, high]``; ``low``/``high`` are ``(value, name)`` pairs."""
    too_low = low is not None and seconds(value) < seconds(low[0]) * (1 - 1e-9)
    too_high = high is not None and (seconds(value) >= seconds(high[0]) if high_open
                                     else seconds(value) > seconds(high[0]) * (1 + 1e-9))
    if not (too_low or too_high):
        return
    if low is not None and high is not None:
        allowed = (f"from {low[1]} ({show(low[0])}) to {'below ' if high_open else ''}"
                   f"{high[1]} ({show(high[0])})")
    elif low is not None:
        allowed = f"at least {low[1]} ({show(low[0])})"
    else:
        allowed = f"{'below' if high_open else 'at most'} {high[1]} ({show(high[0])})"
    raise ConfigError(source, key, f"got {show(value)}; allowed {allowed} (because {why})")


def steps(source, key: str, duration, clock, clock_name: str) -> None:
    """Refuse a run of more than :data:`~protocols.resources.MAX_STEPS` steps of ``clock``."""
    from brian2 import second

    from protocols.resources import MAX_STEPS

    clock = clock * second if not hasattr(clock, "dim") else clock
    n = seconds(duration) / seconds(clock)
    if n > MAX_STEPS:
        raise ConfigError(source, key,
                          f"got {show(duration)}: {n:.3g} steps of {clock_name} "
                          f"({show(clock)}); allowed at most {MAX_STEPS:.0e} steps, a duration "
                          f"of at most {show(MAX_STEPS * clock)} (because the run would not "
                          "end in any reasonable time)")


def euler_tau(source, key: str, tau, clock, clock_name: str) -> None:
    """Refuse a time constant shorter than the step of the explicit Euler update it drives.

    ``x += -x * step / tau`` overshoots zero when ``step > tau`` and diverges
    when ``step > 2 tau`` (NaN weights and thresholds, not an error).
    """
    window(source, key, tau, low=(clock, clock_name),
           why=f"it is integrated with explicit Euler steps of {clock_name}, which overshoot "
               "and diverge for shorter time constants")


def euler_rate(source, key: str, rate, clock, clock_name: str) -> None:
    """Refuse a decay rate above ``1 / step`` of its explicit Euler update (see euler_tau)."""
    if float(rate) * float(clock) > 1 + 1e-9:
        raise ConfigError(source, key,
                          f"got {show(rate)}; allowed at most 1/{clock_name} = "
                          f"{show(1 / clock)} (because it is integrated with explicit Euler "
                          f"steps of {clock_name}, which overshoot and diverge for faster "
                          "decays)")


def whole_ms(source, key: str, value, *, at_least_one: bool,
             why: str = "the schedule is set once every millisecond") -> None:
    """Refuse a schedule time that is not a whole number of milliseconds."""
    n_ms = seconds(value) / SCHEDULE_STEP_S
    if abs(n_ms - round(n_ms)) > 1e-6 * max(1.0, n_ms) or (at_least_one and round(n_ms) < 1):
        lowest = "at least 1 ms" if at_least_one else "0 ms or more"
        raise ConfigError(source, key,
                          f"got {show(value)}; allowed a whole number of milliseconds, "
                          f"{lowest} (because {why})")


def indegree(source, key: str, k: int, n_pre: int, pre_key: str, *,
             exclude_self: bool = False) -> None:
    """Refuse an in-degree larger than the number of distinct sources it draws from."""
    available = n_pre - 1 if exclude_self else n_pre
    if k > available:
        if exclude_self:
            bound = f"{pre_key} - 1 = {available}"
            why = "sources are drawn without replacement and a neuron never connects to itself"
        else:
            bound = f"{pre_key} = {available}"
            why = "sources are drawn without replacement"
        raise ConfigError(source, key, f"got {k}; allowed 0 to {bound} ({why})")


def distinct(source, key: str, values, name) -> None:
    """Refuse an empty list, or values that give the same point name (``name(value)``)."""
    if len(values) == 0:
        raise ConfigError(source, key, "got an empty list; allowed one value or more "
                                       "(because each value is one condition of the run)")
    seen = {}
    for value in values:
        label = name(value)
        if label in seen:
            raise ConfigError(source, key,
                              f"got {seen[label]:g} and {value:g}, both named {label!r}; "
                              "allowed distinct values (because each value is one point of "
                              "the result file, named after it)")
        seen[label] = value


def finite_ratio(a: float, b: float) -> float:
    """``a / b``, NaN when ``b`` is 0 or either side is not finite (a measure not computable)."""
    if b == 0 or not (math.isfinite(a) and math.isfinite(b)):
        return float("nan")
    return float(a / b)


def fmt(value: float, spec: str, missing: str = "not computable") -> str:
    """``format(value, spec)``, or ``missing`` for NaN: a report says what it cannot compute.

    >>> fmt(0.5, ".2f"), fmt(float("nan"), "+.2f")
    ('0.50', 'not computable')
    """
    return missing if value is None or not math.isfinite(float(value)) else format(value, spec)
