"""Core limits and resource guards for runs of many points (grids, sweeps).

A run of many points keeps a machine busy for hours.  Three things keep it
from hurting the machine, or the person working at it:

* a **core limit** (:func:`plan_workers`): at most ``max_cores`` worker
  processes (``--max-cores N`` or the config's ``max_cores``); by default
  all cores but one on machines with more than 2 cores, all on 1-2 cores.
  ``--jobs`` asks for workers; the limit applies on top.
* a **resource guard** (:class:`ResourceGuard`), asked before each point is
  dispatched, with the settings of the config's ``resources`` section
  (:data:`SCHEMA`): it waits while free memory is below ``min_free_memory``,
  warns at ``temperature_warn`` and stops dispatching at
  ``temperature_stop`` (°C, the hottest CPU sensor psutil reads), and pauses
  dispatching for ``cooling_break`` every ``cooling_every`` in runs expected
  to last longer than ``cooling_after``.
* :func:`dispatch`, which runs the points on an executor, at most ``slots``
  at a time, asking the guard before each one.  Pauses and stops only hold
  back new points: running ones finish and their results are yielded (and
  written by the caller) as they come.  After a stop it raises
  :class:`Stopped`; the command line then exits with status 3 and the
  command that resumes the run.

joblib's ``Parallel`` is not used for this: it pulls tasks from its input
``n_jobs`` at a time into its own queue, from a callback thread holding its
lock, so a task generator that waits there (a cooling break) blocks the
results of the running points too.  Here the main thread decides and
submits one point at a time to a plain executor (loky's, which joblib uses,
or dask's).

Testing hooks: the environment variables ``SNNSUITE_FAKE_TEMPERATURE`` (°C)
and ``SNNSUITE_FAKE_FREE_MEMORY`` (``"512 MB"``) replace the sensors; each
holds one value, or values separated by commas, consumed one per reading
(the last one repeats); ``none`` in the temperatures reads as "no sensor".

>>> clock = FakeClock()
>>> guard = ResourceGuard(default_settings(), read_temperature=iter([60.0, 90.0]).__next__,
...                       free_memory=lambda: 8 * 2**30, clock=clock, sleep=clock.sleep)
>>> guard.check(running=0, remaining=4).action
'go'
>>> decision = guard.check(running=1, remaining=3)
>>> decision.action, decision.reason
('stop', 'the CPU is at 90 °C, at or above resources.temperature_stop 85 °C')
"""
from __future__ import annotations

import concurrent.futures
import math
import os
import sys
import time
from collections import deque
from typing import Callable, Iterable, Iterator, NamedTuple

import numpy as np

from protocols.config import ConfigError, Field, UsageError, format_memory, parse_memory

#: the ``resources`` section of a config that dispatches points
SCHEMA = {
    "min_free_memory": Field("memory", "1 GB", low=0,
                             doc="dispatch a point only while this much memory is free; 0: off"),
    "temperature_warn": Field("float", 75.0, low=0, high=150,
                              doc="CPU temperature in °C that is reported (once per crossing); "
                                  "0: off"),
    "temperature_stop": Field("float", 85.0, low=0, high=150,
                              doc="CPU temperature in °C at which no new point starts: running "
                                  "points finish, then exit 3 (resume later); 0: off"),
    "cooling_break": Field("quantity", "5 min", unit="time", low=0,
                           doc="pause of dispatching in long runs; 0 s: no breaks"),
    "cooling_every": Field("quantity", "1 h", unit="time", low=0,
                           doc="dispatching time between two cooling breaks; 0 s: no breaks"),
    "cooling_after": Field("quantity", "2 h", unit="time", low=0,
                           doc="cooling breaks only in runs expected to last longer than this"),
}
#: the core limit, a key of the section that names the workers (``grid.max_cores``)
MAX_CORES = Field("int", 0, low=0, doc="most worker processes on this machine (--max-cores "
                  "overrides); 0: all cores but one on machines with more than 2 cores")

MEMORY_POLL_S = 5.0    # how often free memory is read again while it is short
MEMORY_WAIT_S = 60.0   # how long memory may stay short with no point running before a stop
FAKE_TEMPERATURE = "SNNSUITE_FAKE_TEMPERATURE"
FAKE_FREE_MEMORY = "SNNSUITE_FAKE_FREE_MEMORY"
#: psutil sensor names of CPU temperatures (Intel, AMD, ARM boards)
CPU_SENSORS = ("coretemp", "k10temp", "zenpower", "cpu", "soc_thermal", "x86_pkg_temp")
GO, WAIT, STOP = "go", "wait", "stop"


class Stopped(Exception):
    """A guard stopped dispatching; the points that were running finished and were returned."""


class Decision(NamedTuple):
    """What :meth:`ResourceGuard.check` says about dispatching the next point now."""

    action: str           # GO, WAIT or STOP
    wait_s: float = 0.0   # WAIT: ask again after this long, or when a running point finishes
    reason: str = ""      # STOP: why, one line


# ----------------------------------------------------------------------------- cores
def default_core_limit(cores: int) -> int:
    """All cores but one on machines with more than 2 cores, else all.

    >>> default_core_limit(8), default_core_limit(2), default_core_limit(1)
    (7, 2, 1)
    """
    return cores - 1 if cores > 2 else cores


def plan_workers(jobs: int | None, max_cores: int, n_tasks: int, *, key: str,
                 cores: int | None = None) -> tuple[int, str]:
    """Worker processes for ``n_tasks`` points, and why fewer than asked ('' if not capped).

    ``jobs`` is what ``--jobs`` asked for (None: all cores), ``max_cores``
    the core limit (0: :func:`default_core_limit`), ``key`` the config key
    holding it, for the message.

    >>> n_workers, why = plan_workers(None, 0, 100, key="grid.max_cores", cores=8)
    >>> n_workers, why
    (7, '7 workers, not 8 (all cores): one core is left free (--max-cores N or grid.max_cores: N)')
    >>> plan_workers(6, 2, 100, key="grid.max_cores", cores=8)
    (2, '2 workers, not 6 (--jobs 6): the core limit is 2 (--max-cores or grid.max_cores)')
    >>> plan_workers(None, 0, 3, key="grid.max_cores", cores=2)
    (2, '')
    """
    from protocols.resources import workers

    cores = cores or os.cpu_count() or 1
    limit = max_cores or default_core_limit(cores)
    asked = jobs or cores
    n_workers = workers(min(asked, limit), n_tasks)
    if n_workers >= min(asked, max(n_tasks, 1)):
        return n_workers, ""
    asked_text = f"--jobs {jobs}" if jobs else "all cores"
    why = (f"the core limit is {max_cores} (--max-cores or {key})" if max_cores else
           f"one core is left free (--max-cores N or {key}: N)")
    return n_workers, f"{_count(n_workers, 'worker')}, not {asked} ({asked_text}): {why}"


# ----------------------------------------------------------------------------- sensors
def cpu_temperature() -> float | None:
    """The hottest CPU temperature sensor in °C, or None where none can be read."""
    import psutil

    try:
        sensors = psutil.sensors_temperatures()
    except (AttributeError, OSError):  # not on this platform, or unreadable
        return None
    readings = [entry.current for name, entries in sensors.items()
                if any(name.lower().startswith(cpu) for cpu in CPU_SENSORS)
                for entry in entries if entry.current is not None and math.isfinite(entry.current)]
    return max(readings) if readings else None


def _fake_sensor(name: str, text: str, parse, expected: str) -> Callable[[], float | None]:
    """A sensor that returns the comma-separated values of an environment variable in turn."""
    try:
        values = [parse(value.strip()) for value in text.split(",")]
    except ValueError:
        raise UsageError(f"{name}={text!r}: expected {expected} separated by commas "
                         "(a testing hook)") from None
    readings = iter(values)
    return lambda: next(readings, values[-1])


def _temperature_value(text: str) -> float | None:
    if text.lower() == "none":
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def default_settings(**changes) -> dict:
    """A ``resources`` section as a config holds it (defaults of :data:`SCHEMA`, then changes)."""
    values = {key: field.default for key, field in SCHEMA.items()} | changes
    return {key: SCHEMA[key].convert(value) for key, value in values.items()}


def _count(n: int, thing: str) -> str:
    """``'1 point'``, ``'3 points'``."""
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _say(message: str) -> None:
    print(f"snnsuite: {message}", file=sys.stderr, flush=True)


def _seconds(quantity) -> float:
    return float(np.asarray(quantity))


def _duration(seconds: float) -> str:
    """``'45 s'``, ``'12 min'``, ``'3.2 h'``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class FakeClock:
    """A clock whose ``sleep`` only moves it on (for tests and examples)."""

    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# ----------------------------------------------------------------------------- the guard
def validate(settings, source: str | None, section: str = "resources") -> None:
    """Checks across the keys of a ``resources`` section (``ConfigError``)."""
    warn, stop = settings["temperature_warn"], settings["temperature_stop"]
    if warn and stop and warn > stop:
        raise ConfigError(source, f"{section}.temperature_warn",
                          f"got {warn:g}, above {section}.temperature_stop {stop:g}; allowed: "
                          f"at most {section}.temperature_stop, or 0 (off)")


class ResourceGuard:
    """Says before each point whether to dispatch it now, wait, or stop.

    Parameters
    ----------
    settings : mapping
        The ``resources`` section of a config (keys of :data:`SCHEMA`).
    read_temperature : callable, optional
        ``() -> °C or None`` (None: no sensor); default :func:`cpu_temperature`.
    free_memory : callable, optional
        ``() -> bytes``; default :func:`protocols.resources.available_memory`.
    clock, sleep : callable, optional
        Seconds of a monotonic clock and a way to wait; tests pass a
        :class:`FakeClock` and its ``sleep``.
    say : callable, optional
        Where messages go (one line each); default stderr.
    section : str
        The config section's name, for messages.

    The checks, in order, each time :meth:`check` is called:

    1. temperature: at or above ``temperature_stop``: stop; at or above
       ``temperature_warn``: one warning until it drops below again.  Without
       a sensor, one message and no more readings.
    2. cooling break: in a break, wait until it ends; when one is due (after
       ``cooling_every`` of dispatching in a run expected to last longer than
       ``cooling_after``, judged from its pace so far), start one.
    3. memory: below ``min_free_memory``, wait (reading again every
       :data:`MEMORY_POLL_S`) while points run; with none running, stop after
       :data:`MEMORY_WAIT_S`.
    """

    def __init__(self, settings, *, read_temperature: Callable[[], float | None] = cpu_temperature,
                 free_memory: Callable[[], int] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 say: Callable[[str], None] = _say, section: str = "resources"):
        from protocols.resources import available_memory

        self.settings = dict(settings)
        self.read_temperature = read_temperature
        self.free_memory = free_memory or available_memory
        self.clock, self.sleep, self.say, self.section = clock, sleep, say, section
        self.started = clock()
        self._sensor = bool(settings["temperature_warn"] or settings["temperature_stop"])
        self._hot = False                       # at or above temperature_warn at the last reading
        self._cooling = all(_seconds(settings[k]) > 0 for k in ("cooling_break", "cooling_every"))
        self._long = False                      # expected to last longer than cooling_after
        self._next_break = self.started + _seconds(settings["cooling_every"])
        self._break_ends: float | None = None
        self._memory_short = False
        self._idle_short_since: float | None = None
        self._first_remaining: int | None = None

    @classmethod
    def from_environment(cls, settings, environ=os.environ, **kwargs) -> "ResourceGuard":
        """A guard whose sensors are replaced by the testing hooks set in ``environ``."""
        if environ.get(FAKE_TEMPERATURE):
            kwargs["read_temperature"] = _fake_sensor(
                FAKE_TEMPERATURE, environ[FAKE_TEMPERATURE], _temperature_value,
                "temperatures in °C (or none)")
        if environ.get(FAKE_FREE_MEMORY):
            kwargs["free_memory"] = _fake_sensor(
                FAKE_FREE_MEMORY, environ[FAKE_FREE_MEMORY], parse_memory,
                "memory sizes such as '512 MB'")
        return cls(settings, **kwargs)

    def _key(self, name: str) -> str:
        return f"{self.section}.{name}"

    def check(self, *, running: int, remaining: int) -> Decision:
        """Dispatch the next point now?  ``running``: points running; ``remaining``: points
        not finished yet (running ones included)."""
        if self._first_remaining is None:
            self._first_remaining = remaining
        now = self.clock()
        return (self._check_temperature() or self._check_cooling(now, running, remaining)
                or self._check_memory(now, running) or Decision(GO))

    def _check_temperature(self) -> Decision | None:
        if not self._sensor:
            return None
        celsius = self.read_temperature()
        if celsius is None:
            self.say("no CPU temperature sensor can be read here; the temperature guard is off")
            self._sensor = False
            return None
        warn, stop = self.settings["temperature_warn"], self.settings["temperature_stop"]
        if stop and celsius >= stop:
            return Decision(STOP, reason=f"the CPU is at {celsius:.0f} °C, at or above "
                                         f"{self._key('temperature_stop')} {stop:g} °C")
        hot = bool(warn) and celsius >= warn
        if hot and not self._hot:
            until = f"; new points stop at {stop:g} °C" if stop else ""
            self.say(f"warning: the CPU is at {celsius:.0f} °C, at or above "
                     f"{self._key('temperature_warn')} {warn:g} °C{until}")
        self._hot = hot
        return None

    def _check_cooling(self, now: float, running: int, remaining: int) -> Decision | None:
        if not self._cooling:
            return None
        pause = _seconds(self.settings["cooling_break"])
        if self._break_ends is not None:
            if now < self._break_ends:
                return Decision(WAIT, self._break_ends - now)
            self._break_ends = None
            self._next_break = now + _seconds(self.settings["cooling_every"])
            self.say("cooling break over; dispatching again")
            return None
        if now < self._next_break:
            return None
        elapsed = now - self.started
        done = self._first_remaining - remaining
        expected = elapsed * (done + remaining) / done if done else elapsed
        self._long = self._long or expected > _seconds(self.settings["cooling_after"])
        if not self._long:
            return None
        self._break_ends = now + pause
        finishing = f"; {_count(running, 'point')} running finish" if running else ""
        self.say(f"cooling break: no new points for {_duration(pause)} (the run is expected to "
                 f"last about {_duration(expected)}, more than {self._key('cooling_after')}; a "
                 f"break every {_duration(_seconds(self.settings['cooling_every']))})"
                 f"{finishing}")
        return Decision(WAIT, pause)

    def _check_memory(self, now: float, running: int) -> Decision | None:
        need = self.settings["min_free_memory"]
        if not need:
            return None
        free = self.free_memory()
        if free >= need:
            if self._memory_short:
                self.say(f"{format_memory(free)} of memory free again; dispatching again")
            self._memory_short, self._idle_short_since = False, None
            return None
        if not self._memory_short:
            self.say(f"waiting for memory: {format_memory(free)} free, below "
                     f"{self._key('min_free_memory')} {format_memory(need)}; "
                     f"{_count(running, 'point')} running")
            self._memory_short = True
        if running:
            self._idle_short_since = None
            return Decision(WAIT, MEMORY_POLL_S)
        if self._idle_short_since is None:
            self._idle_short_since = now
        if now - self._idle_short_since >= MEMORY_WAIT_S:
            return Decision(STOP, reason=f"only {format_memory(free)} of memory free, below "
                                         f"{self._key('min_free_memory')} {format_memory(need)}, "
                                         f"for {MEMORY_WAIT_S:g} s with no point running")
        return Decision(WAIT, MEMORY_POLL_S)


# ----------------------------------------------------------------------------- dispatch
class InlineExecutor(concurrent.futures.Executor):
    """Runs each task in this process as it is submitted: :func:`dispatch` without workers."""

    def submit(self, fn, /, *args, **kwargs):
        future = concurrent.futures.Future()
        future.set_result(fn(*args, **kwargs))
        return future


def dispatch(function, tasks: Iterable[tuple], executor: concurrent.futures.Executor, *,
             slots: int, guard: ResourceGuard) -> Iterator:
    """``function(*task)`` for each task, yielded as they finish, at most ``slots`` at a time.

    The guard is asked before each task is submitted.  While it says wait,
    nothing is submitted and results of running tasks are still yielded as
    they come; when it says stop, nothing more is submitted, the running
    tasks' results are yielded, then :class:`Stopped` is raised with the
    guard's reason.  An exception of a task is raised when its result is
    reached.
    """
    pending = deque(tasks)
    running: set = set()
    stop_reason = ""
    while True:
        wait_s = None
        while pending and len(running) < slots and not stop_reason:
            decision = guard.check(running=len(running), remaining=len(pending) + len(running))
            if decision.action == GO:
                running.add(executor.submit(function, *pending.popleft()))
            elif decision.action == STOP:
                stop_reason = decision.reason
            else:
                wait_s = decision.wait_s
                break
        if not running:
            if stop_reason:
                raise Stopped(stop_reason)
            if not pending:
                return
            guard.sleep(wait_s)
            continue
        finished, running = concurrent.futures.wait(
            running, timeout=wait_s, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in finished:
            yield future.result()
