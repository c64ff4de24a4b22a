"""Compile once, run many, in chaos sweeps on cpp: what a build is keyed by, how a point's
values reach it, the build cache and ``snnsuite clean``.

The fast tests compile nothing: the structure key and the values come from
``models.replicas.point_arrays`` (numpy), the cache is tested with a stand-in build.
The slow tests compile: a compiled-once point is bit-identical to a fresh cpp build, and
a cpp grid compiles once for all its points.
"""
import json
import threading
import time

import numpy as np
import pytest

from models import compiled, replicas
from protocols import chaos
from protocols.cli import main as cli_main

ONCE = ["network.fixed_indegree=true", "input.noise=device"]


def arrays_of(config, block=0):
    drawn = chaos.draw(config, block)
    return replicas.point_arrays(
        drawn.structure, drawn.params, drawn.inputs, realisations=drawn.realisations,
        replica_realisation=drawn.layout.realisation, weight_unit=drawn.weight_unit,
        threshold_unit=drawn.threshold_unit, perturbations=chaos.perturbations_of(config, drawn))


def key_of(config, block=0):
    return compiled.structure_hash(chaos.structure_key(config, arrays_of(config, block)))


# ----------------------------------------------------------------------------- the key
def test_points_that_differ_in_run_values_share_a_build(small_chaos_config):
    first = key_of(small_chaos_config(*ONCE), block=0)
    other = small_chaos_config(*ONCE, "network.v_th_std=0.4 mV", "network.g_std=0.7",
                               "network.initial_v=reset_to_threshold",
                               "input.background_rate=150 Hz", "seed.session=99",
                               "protocol.bin=2 ms", "protocol.fano_window=100 ms")
    assert key_of(other, block=5) == first


@pytest.mark.parametrize("change", ["network.n_neurons=121", "protocol.n_perturbations=3",
                                    "network.tau_m=10 ms", "protocol.perturb=false",
                                    "protocol.trials=shared_control", "input.channels_on=true",
                                    "protocol.observation=250 ms"])
def test_a_structural_change_makes_another_build(small_chaos_config, change):
    assert key_of(small_chaos_config(*ONCE, change)) != key_of(small_chaos_config(*ONCE))


def test_random_synapse_counts_key_each_point_apart(small_chaos_config):
    """Without a fixed in-degree the number of synapses is drawn: it is part of the key."""
    config = small_chaos_config("input.noise=device")
    counts = {arrays_of(config, block)["recurrent.sources"].size for block in range(4)}
    keys = {key_of(config, block) for block in range(4)}
    assert len(keys) == len(counts) > 1


def test_blockers_name_the_key_and_the_fix(small_chaos_config):
    assert chaos.compile_once_blocker(small_chaos_config(*ONCE)) is None
    predrawn = chaos.compile_once_blocker(small_chaos_config("network.fixed_indegree=true"))
    assert "input.noise" in predrawn and "device" in predrawn
    random = chaos.compile_once_blocker(small_chaos_config("input.noise=device"))
    assert "network.fixed_indegree" in random and "true" in random


def test_compile_once_switch(monkeypatch, small_chaos_config):
    monkeypatch.setenv(chaos.COMPILE_ONCE_VARIABLE, "0")
    assert not chaos.compile_once_enabled()
    assert "SNNSUITE_COMPILE_ONCE=0" in chaos.compile_note(small_chaos_config(*ONCE), "cpp")
    monkeypatch.delenv(chaos.COMPILE_ONCE_VARIABLE)
    assert chaos.compile_once_enabled() and chaos.compile_once_enabled(False) is False
    assert "share one build" in chaos.compile_note(small_chaos_config(*ONCE), "cpp")
    assert "fixed_indegree" in chaos.compile_note(small_chaos_config("input.noise=device"), "cpp")
    assert chaos.compile_note(small_chaos_config(*ONCE), "runtime") is None


# ----------------------------------------------------------------------------- the values
def fake_manifest(arrays, drop=()):
    settable = {n: {} for n in arrays if not n.endswith((".sources", ".targets"))}
    static = {n: {} for n in arrays if n.startswith(("neurons.", "recurrent.", "background_"))}
    for name in drop:
        settable.pop(name, None)
        static.pop(name, None)
    return {"settable": settable, "static": static}


def test_values_split_into_run_values_and_static_arrays(small_chaos_config):
    arrays = arrays_of(small_chaos_config(*ONCE))
    values, static = chaos.split_values(fake_manifest(arrays), arrays)
    # what the build initialises from a file gets a file of the point's (read once)
    assert set(static) == {"recurrent.sources", "recurrent.targets", "recurrent.w",
                           "background_synapses.sources", "background_synapses.targets",
                           "neurons.v_th", "neurons.v", "neurons.forced", "neurons.forced_input"}
    assert set(values) == {"background.rates"}          # a scalar of the build: a run value


def test_a_value_the_build_cannot_take_is_refused(small_chaos_config):
    arrays = arrays_of(small_chaos_config(*ONCE))
    with pytest.raises(RuntimeError, match="neurons.v_th"):
        chaos.split_values(fake_manifest(arrays, drop=["neurons.v_th"]), arrays)


def test_a_build_array_the_point_does_not_give_is_refused(small_chaos_config):
    """Otherwise the binary would keep the first point's values without telling."""
    arrays = arrays_of(small_chaos_config(*ONCE))
    manifest = fake_manifest(arrays)
    manifest["static"]["neurons.extra"] = {}
    with pytest.raises(RuntimeError, match="neurons.extra"):
        chaos.split_values(manifest, arrays)


def test_point_arrays_are_what_build_gives_the_network(small_chaos_config):
    """The network built for a point holds exactly the arrays a compiled run is given."""
    import brian2 as b2

    config = small_chaos_config(*ONCE, "input.channels_on=true")
    drawn = chaos.draw(config, 2)
    arrays = arrays_of(config, 2)
    b2.start_scope()
    net, objects = chaos._network(config, drawn, chaos.perturbations_of(config, drawn), None,
                                  None, 2)
    neurons, recurrent = objects["neurons"], objects["recurrent"]
    assert np.array_equal(neurons.v_th[:], arrays["neurons.v_th"])
    assert np.array_equal(neurons.v[:], arrays["neurons.v"])
    assert np.array_equal(neurons.forced_input[:], arrays["neurons.forced_input"])
    assert np.array_equal(recurrent.i[:], arrays["recurrent.sources"])
    assert np.array_equal(recurrent.j[:], arrays["recurrent.targets"])
    assert np.array_equal(recurrent.w[:], arrays["recurrent.w"])
    fan = objects["channels_synapses"]
    assert np.array_equal(fan.i[:], arrays["channels_synapses.sources"])
    assert np.array_equal(fan.j[:], arrays["channels_synapses.targets"])


# ----------------------------------------------------------------------------- the cache
class StandInBuild:
    """What CompiledNetwork.build leaves behind (a manifest and a binary), counted."""

    def __init__(self, seconds=0.2):
        self.calls, self.seconds = 0, seconds

    def __call__(self, directory, build_fn, duration):
        self.calls += 1
        time.sleep(self.seconds)                 # long enough for the others to queue
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "main").write_text("binary")
        (directory / compiled.MANIFEST).write_text(json.dumps(
            {"format": compiled.FORMAT, "binary": "main", "settable": {}, "static": {}}))


def test_workers_that_need_one_build_compile_it_once(monkeypatch, tmp_path):
    build = StandInBuild()
    monkeypatch.setattr(compiled.CompiledNetwork, "build", staticmethod(build))
    seen = []

    def worker():
        with compiled.cached_build({"net": 1}, None, None, root=tmp_path) as (net, built_now):
            seen.append((net.directory.name, built_now))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert build.calls == 1
    assert len({name for name, _ in seen}) == 1 and sorted(b for _, b in seen) == [0, 0, 0, 1]
    with compiled.cached_build({"net": 2}, None, None, root=tmp_path) as (net, built_now):
        assert built_now and build.calls == 2


def test_a_damaged_build_is_built_again(monkeypatch, tmp_path):
    build = StandInBuild(seconds=0)
    monkeypatch.setattr(compiled.CompiledNetwork, "build", staticmethod(build))
    with compiled.cached_build({"net": 1}, None, None, root=tmp_path) as (net, _):
        folder = net.directory
    (folder / compiled.MANIFEST).write_text("{not json")
    with compiled.cached_build({"net": 1}, None, None, root=tmp_path) as (net, built_now):
        assert built_now and build.calls == 2


def fill_cache(root, monkeypatch):
    monkeypatch.setattr(compiled.CompiledNetwork, "build", staticmethod(StandInBuild(0)))
    for n in range(2):
        with compiled.cached_build({"net": n}, None, None, root=root):
            pass
    (root / "notes").mkdir()                      # not ours: never touched
    (root / "notes" / "mine.txt").write_text("keep")
    (root / "readme.txt").write_text("keep")
    return [entry["hash"] for entry in compiled.cached_builds(root)]


def test_clean_removes_cached_builds_and_nothing_else(monkeypatch, tmp_path, capsys):
    root = tmp_path / "cache"
    hashes = fill_cache(root, monkeypatch)
    assert len(hashes) == 2
    assert cli_main(["clean", "--cache", str(root), "--dry-run"]) == 0
    assert "would remove 2 cached build(s)" in capsys.readouterr().out
    assert all((root / h).is_dir() for h in hashes)
    assert cli_main(["clean", "--cache", str(root)]) == 0
    assert "removed 2 cached build(s)" in capsys.readouterr().out
    assert not any((root / h).exists() for h in hashes)
    assert (root / "notes" / "mine.txt").read_text() == "keep"
    assert (root / "readme.txt").read_text() == "keep"
    assert cli_main(["clean", "--cache", str(root)]) == 0
    assert "no cached builds" in capsys.readouterr().out


def test_clean_keeps_a_build_in_use(monkeypatch, tmp_path, capsys):
    root = tmp_path / "cache"
    hashes = fill_cache(root, monkeypatch)
    lock = compiled.in_use(root, hashes[0])
    lock.acquire()
    try:
        assert cli_main(["clean", "--cache", str(root)]) == 0
    finally:
        lock.release()
    out = capsys.readouterr().out
    assert "in use" in out and "removed 1 cached build(s)" in out
    assert (root / hashes[0]).is_dir() and not (root / hashes[1]).exists()


def test_clean_of_a_file_or_missing_folder(tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    assert cli_main(["clean", "--cache", str(afile)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert cli_main(["clean", "--cache", str(tmp_path / "missing")]) == 0
    assert "no cached builds" in capsys.readouterr().out


# ----------------------------------------------------------------------------- compiled
@pytest.mark.slow
@pytest.mark.parametrize("channels_on", [False, True])
def test_a_compiled_once_point_equals_a_fresh_cpp_build(small_chaos_config, channels_on):
    """Point 2 runs on the build of point 1 (other thresholds, weights, connectivity,
    background rate, seed): its spikes and measures equal a fresh build of its own."""
    first = small_chaos_config(*ONCE, f"input.channels_on={channels_on}",
                               "protocol.n_perturbations=3")
    attrs, _ = chaos.simulate_point(first, block=0, backend="cpp", compile_once=True)
    assert attrs["compiled_once"] and not attrs["build_reused"]
    second = first.replace(**{"network.v_th_std": "0.45 mV", "network.g_std": 0.6,
                              "input.background_rate": "150 Hz", "seed.session": 7})
    once, once_data = chaos.simulate_point(second, block=3, backend="cpp", compile_once=True)
    fresh, fresh_data = chaos.simulate_point(second, block=3, backend="cpp", compile_once=False)
    assert once["build_reused"] and once["build_hash"] == attrs["build_hash"]
    assert "compiled_once" not in fresh
    for name in fresh_data:
        assert np.array_equal(once_data[name], fresh_data[name]), name
    assert once["rate_mean"] == fresh["rate_mean"] != attrs["rate_mean"]


@pytest.mark.slow
def test_a_cpp_grid_compiles_once(tmp_path, capsys, monkeypatch):
    """A 2 x 2 grid on cpp with two workers: one build, three points reuse it, and a point
    equals its fresh cpp build."""
    from analysis.results import load

    out = tmp_path / "grid"
    assert cli_main(["run", "configs/heterogeneity_grid_quick.yaml", "--out", str(out),
                     "--backend", "cpp", "--jobs", "2", "--set", "network.n_neurons=100",
                     "--set", "protocol.n_perturbations=2", "--set", "protocol.observation=150 ms",
                     "--set", "grid.v_th_std={start: 0.1 mV, stop: 0.4 mV, num: 2}",
                     "--set", "grid.g_std={start: 0.1, stop: 0.4, num: 2}",
                     *[f"--set={o}" for o in ONCE]]) == 0
    assert "share one build" in capsys.readouterr().out
    result = load(out / "results.h5")
    attrs = [p.attrs for p in result.points.values()]
    assert len(attrs) == 4 and len({a["build_hash"] for a in attrs}) == 1
    assert sorted(bool(a["build_reused"]) for a in attrs) == [False, True, True, True]
    assert not (out / "build").exists()                   # run folders are removed
    point = result.points["v001_g001"]
    from protocols import heterogeneity_grid
    from protocols.config import load_config

    config = load_config(out / "config.yaml", heterogeneity_grid.SCHEMA)
    config = config.replace(**{"network.v_th_std": "0.4 mV", "network.g_std": 0.4})
    monkeypatch.setenv(chaos.COMPILE_ONCE_VARIABLE, "0")
    fresh_attrs, fresh = chaos.sweep_point(config, block=3, backend="cpp")
    assert "compiled_once" not in fresh_attrs
    for name in ("lz", "hamming_slope", "control_rates_hz"):
        assert np.array_equal(point.data[name], fresh[name]), name
