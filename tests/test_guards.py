"""Core limits and resource guards: fake sensors and a fake clock, then one real grid."""
import concurrent.futures
import shlex
import time
from pathlib import Path

import numpy as np
import pytest

from protocols import cli, guards, heterogeneity_grid
from protocols.config import ConfigError, Field, UsageError, load_config
from protocols.guards import GO, STOP, WAIT, FakeClock, ResourceGuard, default_settings

ROOT = Path(__file__).resolve().parent.parent
GRID_CONFIG = ROOT / "configs" / "heterogeneity_grid_quick.yaml"
GiB = 2**30


def make_guard(temperatures=(60.0,), free=(8 * GiB,), **settings):
    """A guard reading the given values in turn (the last repeats), its clock and its messages."""
    clock, said = FakeClock(), []
    readings = {"temperature": list(temperatures), "free": list(free), "calls": 0}

    def read_temperature():
        readings["calls"] += 1
        values = readings["temperature"]
        return values.pop(0) if len(values) > 1 else values[0]

    def free_memory():
        values = readings["free"]
        return values.pop(0) if len(values) > 1 else values[0]

    guard = ResourceGuard(default_settings(**settings), read_temperature=read_temperature,
                          free_memory=free_memory, clock=clock, sleep=clock.sleep,
                          say=said.append)
    return guard, clock, said, readings


# ----------------------------------------------------------------------------- cores
@pytest.mark.parametrize("jobs, max_cores, cores, expected", [
    (None, 0, 8, 7),    # default: one core left free
    (None, 0, 2, 2),    # 1-2 cores: all of them
    (None, 0, 1, 1),
    (4, 0, 8, 4),       # --jobs below the limit
    (8, 0, 8, 7),       # --jobs capped by the default limit
    (6, 2, 8, 2),       # --jobs capped by --max-cores
    (None, 3, 2, 2),    # a limit above the cores does not add workers
])
def test_workers_are_the_jobs_asked_for_capped_by_the_core_limit(jobs, max_cores, cores,
                                                                   expected):
    assert guards.plan_workers(jobs, max_cores, 100, key="grid.max_cores", cores=cores)[0] \
        == expected


def test_a_capped_worker_count_says_why_and_an_uncapped_one_says_nothing():
    _, why = guards.plan_workers(6, 2, 100, key="grid.max_cores", cores=8)
    assert why == "2 workers, not 6 (--jobs 6): the core limit is 2 (--max-cores or grid.max_cores)"
    _, why = guards.plan_workers(None, 0, 100, key="grid.max_cores", cores=4)
    assert why.startswith("3 workers, not 4 (all cores): one core is left free")
    assert guards.plan_workers(None, 0, 2, key="grid.max_cores", cores=8) == (2, "")  # 2 points


# ----------------------------------------------------------------------------- temperature
def test_temperature_warns_once_per_crossing_of_the_warning_level():
    guard, _, said, _ = make_guard(temperatures=[70, 76, 78, 74, 77])
    actions = [guard.check(running=0, remaining=10).action for _ in range(5)]
    assert actions == [GO] * 5
    assert said == ["warning: the CPU is at 76 °C, at or above resources.temperature_warn 75 °C; "
                    "new points stop at 85 °C",
                    "warning: the CPU is at 77 °C, at or above resources.temperature_warn 75 °C; "
                    "new points stop at 85 °C"]


def test_temperature_at_the_stop_level_stops_dispatching_and_names_it():
    guard, _, _, _ = make_guard(temperatures=[84.9, 85.0])
    assert guard.check(running=0, remaining=3).action == GO
    decision = guard.check(running=1, remaining=2)
    assert decision.action == STOP
    assert decision.reason == "the CPU is at 85 °C, at or above resources.temperature_stop 85 °C"


def test_without_a_sensor_it_says_so_once_and_goes_on():
    guard, _, said, readings = make_guard(temperatures=[None])
    assert [guard.check(running=0, remaining=5).action for _ in range(4)] == [GO] * 4
    assert said == ["no CPU temperature sensor can be read here; the temperature guard is off"]
    assert readings["calls"] == 1


def test_temperature_levels_of_zero_read_no_sensor():
    guard, _, said, readings = make_guard(temperatures=[99], temperature_warn=0,
                                          temperature_stop=0)
    assert guard.check(running=0, remaining=1).action == GO
    assert readings["calls"] == 0 and said == []


def test_the_hottest_cpu_sensor_is_read(monkeypatch):
    import psutil
    from collections import namedtuple

    entry = namedtuple("shwtemp", "label current high critical")
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: {
        "nvme": [entry("Composite", 95.0, None, None)],          # not a CPU
        "coretemp": [entry("Package id 0", 61.0, 100, 100), entry("Core 0", 64.0, 100, 100)],
        "k10temp": [entry("Tctl", None, None, None)]}, raising=False)
    assert guards.cpu_temperature() == 64.0
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: {}, raising=False)
    assert guards.cpu_temperature() is None


# ----------------------------------------------------------------------------- memory
def test_short_memory_waits_while_points_run_then_dispatches_again():
    guard, _, said, _ = make_guard(free=[GiB // 2, GiB // 2, 3 * GiB], min_free_memory="2 GB")
    assert guard.check(running=2, remaining=10) == (WAIT, guards.MEMORY_POLL_S, "")
    assert guard.check(running=1, remaining=9).action == WAIT
    assert guard.check(running=1, remaining=9).action == GO
    assert said == ["waiting for memory: 512 MiB free, below resources.min_free_memory 2 GB; "
                    "2 points running", "3 GiB of memory free again; dispatching again"]


def test_short_memory_with_nothing_running_stops_after_a_bounded_wait():
    guard, clock, _, _ = make_guard(free=[GiB // 2], min_free_memory="2 GB")
    waited = 0.0
    while (decision := guard.check(running=0, remaining=4)).action == WAIT:
        clock.sleep(decision.wait_s)
        waited += decision.wait_s
    assert decision.action == STOP and waited == guards.MEMORY_WAIT_S
    assert decision.reason == ("only 512 MiB of memory free, below resources.min_free_memory "
                               "2 GB, for 60 s with no point running")


def test_min_free_memory_of_zero_is_off():
    guard, _, _, _ = make_guard(free=[0], min_free_memory=0)
    assert guard.check(running=0, remaining=1).action == GO


# ----------------------------------------------------------------------------- cooling
def point_starts(guard, clock, n_points, minutes_per_point):
    """Minutes at which each of n points starts, run one after another by dispatch()."""
    starts = []

    def compute(k):
        starts.append(clock.now / 60)
        clock.sleep(60 * minutes_per_point)
        return k

    results = list(guards.dispatch(compute, [(k,) for k in range(n_points)],
                                   guards.InlineExecutor(), slots=1, guard=guard))
    assert results == list(range(n_points))
    return starts


def test_a_long_run_pauses_for_the_cooling_break_every_cooling_every():
    guard, clock, said, _ = make_guard()  # 5 min every 1 h after 2 h (the defaults)
    starts = point_starts(guard, clock, 15, minutes_per_point=10)  # 2.5 h of points
    assert starts == [0, 10, 20, 30, 40, 50, 65, 75, 85, 95, 105, 115, 130, 140, 150]
    assert [m.split(" (")[0] for m in said] == ["cooling break: no new points for 5 min",
                                                "cooling break over; dispatching again"] * 2
    assert "expected to last about 2.5 h, more than resources.cooling_after" in said[0]


def test_a_short_run_takes_no_cooling_break():
    guard, clock, said, _ = make_guard(cooling_every="30 min")
    assert point_starts(guard, clock, 10, minutes_per_point=10) == list(range(0, 100, 10))
    assert said == []  # 100 min expected: less than cooling_after (2 h)


@pytest.mark.parametrize("off", [{"cooling_break": "0 min"}, {"cooling_every": "0 s"}])
def test_cooling_breaks_are_off_with_a_zero_break_or_period(off):
    guard, clock, said, _ = make_guard(**off)
    assert point_starts(guard, clock, 20, minutes_per_point=10) == list(range(0, 200, 10))
    assert said == []


# ----------------------------------------------------------------------------- dispatch
def test_a_stop_lets_running_points_finish_and_returns_them_first():
    guard, _, _, _ = make_guard(temperatures=[60, 60, 90])
    done = []
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = guards.dispatch(lambda k: time.sleep(0.05) or k, [(k,) for k in range(6)],
                                  pool, slots=2, guard=guard)
        with pytest.raises(guards.Stopped, match="90 °C"):
            for result in results:
                done.append(result)
    assert sorted(done) == [0, 1]  # both started before the stop, none after


def test_a_running_point_is_returned_as_soon_as_it_finishes_while_dispatch_waits():
    guard, _, said, _ = make_guard(free=[8 * GiB, GiB // 4, 8 * GiB], min_free_memory="1 GB")
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(guards.dispatch(lambda k: time.sleep(0.05) or k, [(0,), (1,)], pool,
                                       slots=2, guard=guard))
    assert results == [0, 1] and said[0].startswith("waiting for memory: 256 MiB free")
    assert time.monotonic() - started < guards.MEMORY_POLL_S  # not the whole poll interval


# ----------------------------------------------------------------------------- config
def test_memory_sizes_read_with_units_and_refuse_bare_numbers():
    field = Field("memory", "1 GB", low=0)
    assert field.convert("2 GB") == 2 * 10**9 and field.convert("512 MiB") == 2**29
    assert field.convert(0) == 0 and field.to_plain(2 * 10**9) == "2 GB"
    for bad, fragment in (("2", "without a unit"), ("2 G", "unknown unit 'G'"),
                          ("-1 GB", "allowed value >= 0 B")):
        with pytest.raises(ValueError, match=fragment):
            field.convert(bad)


def grid_config(*overrides):
    return load_config(GRID_CONFIG, heterogeneity_grid.SCHEMA, list(overrides))


def test_resources_and_core_limit_are_config_keys_with_units():
    config = grid_config("resources.min_free_memory=3 GiB", "resources.cooling_break=90 s",
                         "resources.cooling_every=2 h", "grid.max_cores=3")
    assert config.resources.min_free_memory == 3 * GiB and config.grid.max_cores == 3
    assert "cooling_break: 1.5 min" in config.to_yaml() and "cooling_every: 2 h" in config.to_yaml()
    with pytest.raises(ConfigError, match="resources.cooling_every"):
        grid_config("resources.cooling_every=60")


def test_a_warning_level_above_the_stop_level_is_refused():
    with pytest.raises(ConfigError) as info:
        heterogeneity_grid.validate(grid_config("resources.temperature_warn=90"))
    assert info.value.key == "resources.temperature_warn"
    assert "above resources.temperature_stop 85" in str(info.value)


def test_results_h5_config_leaves_out_what_only_changes_how_a_run_executes():
    """Resuming with other resource limits or another core limit is the same run."""
    plain = heterogeneity_grid._results_config(grid_config())
    changed = heterogeneity_grid._results_config(grid_config("grid.max_cores=1",
                                                             "resources.temperature_stop=95"))
    assert plain == changed and "resources" not in plain and "max_cores" not in plain


def test_fake_sensors_from_the_environment_are_read_in_turn():
    guard = ResourceGuard.from_environment(
        default_settings(), {"SNNSUITE_FAKE_TEMPERATURE": "60, 90",
                             "SNNSUITE_FAKE_FREE_MEMORY": "512 MB"})
    assert [guard.read_temperature() for _ in range(3)] == [60.0, 90.0, 90.0]
    assert guard.free_memory() == 512 * 10**6
    with pytest.raises(UsageError, match="SNNSUITE_FAKE_TEMPERATURE='hot'"):
        ResourceGuard.from_environment(default_settings(), {"SNNSUITE_FAKE_TEMPERATURE": "hot"})


def test_max_cores_is_refused_for_an_experiment_without_workers(tmp_path, capsys):
    code = cli.main(["run", str(ROOT / "configs" / "chaos_quick.yaml"), "--out",
                     str(tmp_path / "x"), "--max-cores", "2", "--check"])
    assert code == 2
    assert "--max-cores: the chaos experiment starts no worker processes" in capsys.readouterr().err


# ----------------------------------------------------------------------------- end to end
TINY = ["network.n_neurons=20", "protocol.n_perturbations=2", "protocol.observation=20 ms",
        "protocol.fano_window=10 ms", "grid.v_th_std=[0.1 mV, 0.2 mV]", "grid.g_std=[0.1, 0.2]"]


def test_a_hot_cpu_stops_the_grid_with_exit_3_and_resume_finishes_it(tmp_path, capsys,
                                                                     monkeypatch, numpy_target):
    """The CPU crosses temperature_stop after the first point: exit 3, the finished point
    kept, the message gives the command; that command, with a cool CPU, finishes the grid
    with the numbers of a run that never stopped."""
    from analysis.results import load

    sets = [word for override in TINY for word in ("--set", override)]
    out = tmp_path / "stopped"
    monkeypatch.setenv("SNNSUITE_FAKE_TEMPERATURE", "60,90")
    code = cli.main(["run", str(GRID_CONFIG), "--out", str(out), *sets, "--jobs", "2",
                     "--max-cores", "1"])
    captured = capsys.readouterr()
    assert code == cli.EXIT_STOPPED == 3
    assert "1 worker, not 2 (--jobs 2): the core limit is 1" in captured.out
    message = captured.err.strip().splitlines()[-1]
    assert message.startswith("snnsuite: stopped: the CPU is at 90 °C, at or above "
                              "resources.temperature_stop 85 °C (1 of 4 points finished)")
    assert "Traceback" not in captured.err
    assert sorted(load(out / "results.h5").points) == ["v000_g000"]

    command = shlex.split(message.split("resume with: ")[1])
    assert command[:2] == ["snnsuite", "run"] and command[-1] == "--resume"
    monkeypatch.delenv("SNNSUITE_FAKE_TEMPERATURE")
    assert cli.main(command[1:]) == 0
    straight = tmp_path / "straight"
    assert cli.main(["run", str(GRID_CONFIG), "--out", str(straight), *sets, "--jobs", "2"]) == 0
    resumed, reference = load(out / "results.h5"), load(straight / "results.h5")
    assert sorted(resumed.points) == sorted(reference.points) and len(reference.points) == 4
    for name, point in reference.points.items():
        for key, values in point.data.items():
            np.testing.assert_array_equal(resumed.points[name].data[key], values)
        for key in ("lz_mean", "hamming_mean", "rate_mean"):
            assert resumed.points[name].attrs[key] == point.attrs[key]
