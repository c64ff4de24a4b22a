"""Compile once, run many (models.compiled): one cpp_standalone binary, new values per run.

The fast tests share one compiled network (one compile, ~20-40 s on a loaded
machine) and then only start its binary; the slow test compiles a second,
fresh project with the run's values compiled in and checks that the
compiled-once run gives exactly its spikes."""
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import brian2 as b2
import numpy as np
import pytest
from brian2 import Hz, mV, ms

from models import compiled as compiled_module
from models import devices
from models.compiled import CompiledNetwork, CompiledRunError, ReadBackError

ROOT = Path(__file__).resolve().parent.parent
N_NEURONS = 100           # recurrent LIF neurons
N_INPUT = 40              # Poisson inputs, connected with p = 0.2 (depends on the seed)
N_RECURRENT = 800         # recurrent synapses, given as connect(i=..., j=...)
DURATION = 300 * ms
COMPILED_SEED = 7         # the b2.seed call compiled into the build

EQUATIONS = """
dv/dt = (v_rest - v + I_syn + bias(t)) / tau_m : volt (unless refractory)  # membrane potential
dI_syn/dt = -I_syn / tau_syn : volt                              # synaptic input (R*I)
v_th : volt (constant)                                           # per-neuron threshold
"""
NAMESPACE = {"v_rest": -65 * mV, "tau_m": 20 * ms, "tau_syn": 5 * ms}
STRUCTURE = np.random.default_rng(1)
SOURCES = STRUCTURE.integers(0, N_NEURONS, N_RECURRENT)
TARGETS = STRUCTURE.integers(0, N_NEURONS, N_RECURRENT)


def make_network(*, seed=COMPILED_SEED, v_th=-55 * mV, w=0.5 * mV, delay=1 * ms,
                 targets=TARGETS, bias=np.zeros(3) * mV) -> b2.Network:
    """A small LIF network with random input (Poisson), a random initial state
    (``rand()``) and a time-varying input (TimedArray, 100 ms steps): the default
    values are what the compiled build holds."""
    b2.seed(seed)
    bias_input = b2.TimedArray(bias, dt=100 * ms, name="bias")
    neurons = b2.NeuronGroup(N_NEURONS, EQUATIONS, threshold="v > v_th",
                             reset="v = v_rest", refractory=2 * ms, method="euler",
                             name="neurons", namespace={**NAMESPACE, "bias": bias_input})
    neurons.v_th = v_th
    neurons.v = "v_rest + rand() * 8 * mV"
    drive = b2.PoissonGroup(N_INPUT, rates=40 * Hz, name="drive", namespace={})
    feed = b2.Synapses(drive, neurons, "w : volt (constant)", on_pre="I_syn_post += w",
                       name="feed", namespace={})
    feed.connect(p=0.2)
    feed.w = 4 * mV
    recurrent = b2.Synapses(neurons, neurons, "w : volt (constant)",
                            on_pre="I_syn_post += w", name="recurrent", namespace={})
    recurrent.connect(i=SOURCES, j=targets)
    recurrent.w = w
    recurrent.delay = delay
    spikes = b2.SpikeMonitor(neurons, name="spikes")
    return b2.Network(neurons, drive, feed, recurrent, spikes)


def same_spikes(a, b) -> bool:
    return len(a[0]) == len(b[0]) and bool((a[0] == b[0]).all() and (a[1] == b[1]).all())


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> CompiledNetwork:
    """The one compile of the fast tests."""
    return CompiledNetwork.build(tmp_path_factory.mktemp("compiled") / "build", make_network,
                                 DURATION)


# ----------------------------------------------------------------------------- manifest
def test_manifest_lists_each_settable_variable_with_size_dtype_and_unit(net):
    v_th = net.settable["neurons.v_th"]
    assert (v_th["size"], v_th["dtype"], v_th["unit"], v_th["constant"]) == \
        (N_NEURONS, "float64", "V", True)
    assert net.settable["recurrent.w"]["size"] == N_RECURRENT
    assert net.settable["recurrent.w"]["size_depends_on_seed"] is False
    # connect(p=...) runs in the binary: how many synapses depends on the seed
    assert net.settable["feed.w"]["size"] is None
    assert net.settable["feed.w"]["size_depends_on_seed"] is True
    assert "neurons.i" not in net.settable and "spikes.t" not in net.settable
    assert net.static["recurrent.targets"]["size"] == N_RECURRENT
    assert net.static["recurrent.targets"]["max_exclusive"] == N_NEURONS
    assert net.manifest["compiled_seeds"] == [COMPILED_SEED]
    assert net.settable["bias.values"]["size"] == 3
    assert net.manifest["duration_s"] == pytest.approx(0.3)


def test_a_worker_needs_only_the_build_folder(net):
    script = ("import sys; from brian2 import mV; from models.compiled import CompiledNetwork\n"
              "c = CompiledNetwork.load(sys.argv[1])\n"
              "run = c.run({'recurrent.w': 0 * mV}, seed=3, results_dir=sys.argv[2])\n"
              "print(len(run.spikes('spikes')[0]))")
    out = net.directory.parent / "worker"
    done = subprocess.run([sys.executable, "-c", script, str(net.directory), str(out)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    count = done.stdout.split()[-1]
    here = net.run({"recurrent.w": 0 * mV}, seed=3).spikes("spikes")
    assert int(count) == len(here[0]) > 0
    assert (out / "results").is_dir()


# ----------------------------------------------------------------------------- seed
def test_same_seed_gives_identical_spikes_and_other_seeds_differ(net):
    first = net.run(seed=11).spikes("spikes")
    again = net.run(seed=11).spikes("spikes")
    other = net.run(seed=12).spikes("spikes")
    assert len(first[0]) > 50
    assert same_spikes(first, again)
    assert not same_spikes(first, other)


def test_no_seed_runs_with_the_compiled_seed(net):
    assert same_spikes(net.run().spikes("spikes"),
                       net.run(seed=COMPILED_SEED).spikes("spikes"))


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "3"])
def test_seeds_outside_32_bits_are_refused(net, seed, tmp_path):
    with pytest.raises(ValueError, match="seed must be a whole number"):
        net.run(seed=seed, results_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------------------------------- values
def test_values_change_the_run(net):
    thresholds = (-55 + np.linspace(-2, 2, N_NEURONS)) * mV
    base = net.run(seed=5)
    varied = net.run({"neurons.v_th": thresholds}, seed=5)
    assert not same_spikes(base.spikes("spikes"), varied.spikes("spikes"))
    assert np.array_equal(varied.array("neurons.v_th"), np.asarray(thresholds))
    silent = net.run({"neurons.v_th": 1 * b2.volt, "feed.w": 0 * mV}, seed=5)
    assert silent.spikes("spikes")[0].size == 0
    # inf is no number to the binary's parser: it goes as a file of the full length
    never = net.run({"neurons.v_th": np.inf * b2.volt}, seed=5)
    assert never.spikes("spikes")[0].size == 0
    assert np.isposinf(never.array("neurons.v_th")).all()
    with pytest.raises(ValueError, match="feed.w: a non-finite value"):
        net.run({"feed.w": np.inf * mV}, seed=5)


def test_timed_array_values_can_be_set_per_run(net, tmp_path):
    base = net.run(seed=5).spikes("spikes")
    driven = net.run({"bias.values": [0, 10, 0] * mV}, seed=5).spikes("spikes")
    def in_middle(spikes):
        return int(((spikes[1] >= 0.1) & (spikes[1] < 0.2)).sum())
    assert in_middle(driven) > in_middle(base)
    assert np.array_equal(base[0][base[1] < 0.1], driven[0][driven[1] < 0.1])
    with pytest.raises(ValueError, match=r"bias\.values: given shape \(2,\), expected \(3,\)"):
        net.run({"bias.values": [0, 10] * mV}, results_dir=tmp_path / "r")


def test_a_value_of_the_wrong_length_is_refused_before_running(net, tmp_path):
    with pytest.raises(ValueError, match=r"neurons\.v_th: given 99 values, expected 100"):
        net.run({"neurons.v_th": np.full(99, -55.0) * mV}, results_dir=tmp_path / "r")
    with pytest.raises(ValueError, match=r"recurrent\.w: given 801 values, expected 800"):
        net.run({"recurrent.w": np.zeros(N_RECURRENT + 1) * mV}, results_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_names_and_units_are_checked_before_running(net, tmp_path):
    with pytest.raises(ValueError, match="cannot set 'neurons.i': it is read-only"):
        net.run({"neurons.i": 3}, results_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="cannot set 'neurons.vth': there is no such"):
        net.run({"neurons.vth": -55 * mV}, results_dir=tmp_path / "r")
    with pytest.raises(ValueError, match=r"neurons\.v_th: value has dimensions"):
        net.run({"neurons.v_th": -0.055}, results_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="static recurrent.targets: given 799 values"):
        net.run(static={"recurrent.targets": TARGETS[:-1]}, results_dir=tmp_path / "r")
    with pytest.raises(ValueError, match=r"indices must lie in 0\.\.99"):
        net.run(static={"recurrent.targets": TARGETS + 1}, results_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_file_the_binary_cannot_use_is_an_error_not_old_values(net, monkeypatch):
    """Brian2's own failure: a short value file leaves the old values in place and the
    binary goes on; here its message is caught."""
    monkeypatch.setattr(compiled_module, "_write_array",
                        lambda array, path: np.ascontiguousarray(array[:-1]).tofile(path))
    with pytest.raises(CompiledRunError, match="Error reading .* does not match"):
        net.run({"neurons.v_th": np.full(N_NEURONS, -56.0) * mV}, seed=1)


def test_values_the_binary_did_not_use_fail_the_read_back(net, monkeypatch):
    monkeypatch.setattr(compiled_module, "_write_array",
                        lambda array, path: np.ascontiguousarray(array + 1e-3).tofile(path))
    with pytest.raises(ReadBackError, match=r"neurons\.v_th: the binary used other values "
                                            r"than given at 100 of 100"):
        net.run({"neurons.v_th": np.full(N_NEURONS, -56.0) * mV}, seed=1)


def test_tampered_results_fail_verify(net):
    weights = np.linspace(0, 1, N_RECURRENT) * mV
    result = net.run({"recurrent.w": weights}, seed=2)
    result.verify({"recurrent.w": weights})
    path = result.results / net.manifest["arrays"]["recurrent.w"]["file"]
    final = np.fromfile(path)
    final[17] += 1e-6
    final.tofile(path)
    with pytest.raises(ReadBackError, match="recurrent.w: .* at 1 of 800 elements .*element 17"):
        result.verify({"recurrent.w": weights})
    final[:-1].tofile(path)
    with pytest.raises(ReadBackError, match="ran with 799 values, 800 were given"):
        result.verify({"recurrent.w": weights})


# ----------------------------------------------------------------------------- per-run state
def test_initial_state_holds_what_the_run_starts_from(net):
    start = np.linspace(-70, -60, N_NEURONS) * mV
    state = net.initial_state({"neurons.v": start}, seed=4)
    state.verify({"neurons.v": start})        # not constant: checked before the run only
    assert np.array_equal(state.array("neurons.v"), np.asarray(start))
    assert state.array("spikes.i").size == 0
    counts = {net.initial_state(seed=s).array("feed.w").size for s in (4, 5, 6)}
    assert len(counts) > 1                    # connect(p=...) draws new synapses per seed


def test_per_synapse_values_of_seed_dependent_synapses_are_sized_for_the_run_seed(net):
    n_feed = net.initial_state(seed=8).array("feed.w").size
    weights = np.linspace(0, 5, n_feed) * mV
    result = net.run({"feed.w": weights}, seed=8)
    assert np.array_equal(result.array("feed.w"), np.asarray(weights))
    with pytest.raises(ValueError, match=f"feed.w: given {n_feed + 1} values, expected {n_feed}"):
        net.run({"feed.w": np.zeros(n_feed + 1) * mV}, seed=8)


def test_connectivity_from_connect_arrays_can_be_replaced_per_run(net):
    targets = np.random.default_rng(3).permutation(TARGETS)
    base = net.run(seed=9)
    rewired = net.run(static={"recurrent.targets": targets}, seed=9)
    assert np.array_equal(rewired.array("recurrent._synaptic_post"), targets)
    assert np.array_equal(rewired.array("recurrent._synaptic_pre"), SOURCES)
    assert np.array_equal(base.array("recurrent._synaptic_post"), TARGETS)
    assert not same_spikes(base.spikes("spikes"), rewired.spikes("spikes"))
    # the build's own static arrays are untouched
    assert np.array_equal(np.fromfile(net.directory / "static_arrays" /
                                      net.static["recurrent.targets"]["file"], np.int32),
                          TARGETS)


def test_concurrent_runs_of_one_binary_do_not_clash(net):
    points = [({"neurons.v_th": (-55 + 0.5 * k) * mV,
                "recurrent.w": np.full(N_RECURRENT, 0.2 * k) * mV}, 20 + k,
               {"recurrent.targets": np.roll(TARGETS, k)}) for k in range(4)]
    alone = [net.run(values, seed=seed, static=static).spikes("spikes")
             for values, seed, static in points]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda p: net.run(p[0], seed=p[1], static=p[2]).spikes("spikes"),
                                 points))
    assert all(same_spikes(a, b) for a, b in zip(alone, together))
    assert len({len(a[0]) for a in alone}) > 1


def test_each_run_needs_a_folder_of_its_own(net, tmp_path):
    net.run(results_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="is not empty"):
        net.run(results_dir=tmp_path / "r")


def test_load_refuses_a_folder_without_a_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a CompiledNetwork build folder"):
        CompiledNetwork.load(tmp_path)


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_compiled_run_gives_exactly_the_spikes_of_a_fresh_build(net, tmp_path):
    """Seed, per-neuron and per-synapse values, delays and rewired targets given at run
    time == the same compiled into a fresh project."""
    rng = np.random.default_rng(42)
    v_th = (-55 + rng.normal(0, 1, N_NEURONS)) * mV
    w = rng.uniform(0, 1.5, N_RECURRENT) * mV
    delay = rng.uniform(0.5, 4, N_RECURRENT) * ms
    targets = rng.permutation(TARGETS)
    bias = [1, -2, 4] * mV
    with devices.backend("cpp", build_root=tmp_path) as dev:
        fresh_net = make_network(seed=123, v_th=v_th, w=w, delay=delay, targets=targets,
                                 bias=bias)
        dev.run(fresh_net, DURATION)
        monitor = fresh_net["spikes"]
        fresh = (np.asarray(monitor.i[:]).copy(), np.asarray(monitor.t_[:]).copy())
    run = net.run({"neurons.v_th": v_th, "recurrent.w": w, "recurrent.delay": delay,
                   "bias.values": bias}, seed=123, static={"recurrent.targets": targets})
    assert len(fresh[0]) > 50
    assert same_spikes(run.spikes("spikes"), fresh)
    # and the delays did reach the spike queues: with the compiled 1 ms they differ
    other = net.run({"neurons.v_th": v_th, "recurrent.w": w, "bias.values": bias},
                    seed=123, static={"recurrent.targets": targets})
    assert not same_spikes(other.spikes("spikes"), fresh)
