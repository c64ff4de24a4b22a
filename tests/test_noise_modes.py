"""Where the chaos protocol's input spikes are drawn: ``input.noise``.

``predrawn`` (the default): every input spike is drawn in numpy from the seed
streams and played by a SpikeGeneratorGroup, identical on every back-end.
``device``: the simulator draws them (one PoissonGroup for all realisations,
fanned out to the replicas that read each), so replicas of one realisation
still share their input, and only the statistics agree with ``predrawn``
(models.replicas, protocols.chaos).  Small networks on Brian2's numpy target.
"""
import hashlib

import brian2 as b2
import numpy as np
import pytest
from brian2 import Hz, second

from models import replicas, rng
from protocols import chaos
from protocols.config import ConfigError, load_config
from tests.conftest import CONFIGS

pytestmark = pytest.mark.usefixtures("numpy_target")


def config_of(*overrides, n=60, trials=2, observation="60 ms"):
    return load_config(CONFIGS / "chaos_quick.yaml", chaos.SCHEMA,
                       [f"network.n_neurons={n}", f"protocol.n_perturbations={trials}",
                        f"protocol.observation={observation}", *overrides])


def run(config):
    drawn = chaos.draw(config)
    return drawn, chaos.simulate(config, drawn, chaos.perturbations_of(config, drawn))


def fingerprint(spikes) -> tuple:
    """Spike count and a hash of (neuron, replica, time step) of every spike."""
    steps = np.round(spikes.time_s / 1e-4).astype(np.int64)
    digest = hashlib.sha256(spikes.neuron.astype(np.int64).tobytes()
                            + spikes.replica.astype(np.int64).tobytes()
                            + steps.tobytes()).hexdigest()
    return int(spikes.neuron.size), digest[:16]


def before(spikes, replica, t_s):
    i, t = spikes.of(replica)
    return i[t < t_s], t[t < t_s]


def same(a, b) -> bool:
    return np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


# --------------------------------------------------------------------------- the key
def test_noise_defaults_to_predrawn_and_takes_only_the_two_modes():
    assert config_of().input.noise == "predrawn"
    assert chaos.NOISE == replicas.NOISE_MODES
    assert config_of("input.noise=device").input.noise == "device"
    with pytest.raises(ConfigError, match="input.noise"):
        config_of("input.noise=gpu")


# --------------------------------------------------------------------------- predrawn
#: the spikes of config_of(channels_on) at seed 1 as the code before input.noise existed
#: gave them (commit e8a230a; the same on the numpy and the Cython target)
BEFORE_NOISE_MODES = {"false": (577, "1ec580d572f47eb8"), "true": (825, "1817af5da0090b80")}


@pytest.mark.parametrize("channels_on", ["false", "true"])
def test_predrawn_gives_the_spikes_it_gave_before_and_equals_the_default(channels_on):
    default = fingerprint(run(config_of(f"input.channels_on={channels_on}"))[1])
    explicit = fingerprint(run(config_of(f"input.channels_on={channels_on}",
                                         "input.noise=predrawn"))[1])
    assert default == explicit == BEFORE_NOISE_MODES[channels_on]


def test_predrawn_input_spikes_are_the_seed_streams_poisson_draws():
    config = config_of("input.channels_on=true")
    drawn = chaos.draw(config)
    dt_s = float(config.protocol.dt / second)
    n_steps = int(np.ceil(float(drawn.duration / config.protocol.dt) - 1e-9)) + 1
    rate_hz = float(config.input.background_rate / Hz)
    for k, realisation in enumerate(drawn.realisations):
        stream = rng.stream(config.seed.session, block=0, trial=k + 1, purpose="noise")
        direct = replicas.poisson_steps(stream, 60, n_steps, rate_hz * dt_s)
        assert all(np.array_equal(a, b) for a, b in zip(realisation.background, direct))
        assert realisation.channels[0].size > 0 and realisation.channel_rates.shape[1] == 20


# --------------------------------------------------------------------------- device
def test_device_mode_draws_no_spike_arrays_and_the_same_rate_tables():
    predrawn = chaos.draw(config_of("input.channels_on=true"))
    device = chaos.draw(config_of("input.channels_on=true", "input.noise=device"))
    assert device.inputs.noise == "device"
    for p, d in zip(predrawn.realisations, device.realisations):
        assert d.background is None and d.channels is None
        np.testing.assert_array_equal(p.v0, d.v0)
        np.testing.assert_array_equal(p.channel_rates, d.channel_rates)


@pytest.mark.parametrize("channels_on", ["false", "true"])
def test_device_mode_pairs_are_identical_before_the_forced_spike(channels_on):
    """The property the chaos measure rests on: control and perturbed runs share their noise."""
    config = config_of(f"input.channels_on={channels_on}", "input.noise=device", n=80, trials=3,
                       observation="100 ms")
    drawn, spikes = run(config)
    t_p = float(drawn.perturbation_time / second)
    changed = 0
    for k in range(3):
        control, perturbed = int(drawn.layout.control[k]), int(drawn.layout.perturbed[k])
        assert before(spikes, control, t_p)[0].size > 20
        assert same(before(spikes, control, t_p), before(spikes, perturbed, t_p))
        changed += not same(spikes.of(control), spikes.of(perturbed))
    assert changed == 3
    # different pairs read different realisations
    first = [before(spikes, int(c), t_p) for c in drawn.layout.control]
    assert not same(first[0], first[1]) and not same(first[1], first[2])


def test_device_mode_pairs_stay_identical_without_a_perturbation():
    config = config_of("input.channels_on=true", "input.noise=device", "protocol.perturb=false",
                       trials=3)
    drawn, spikes = run(config)
    for k in range(3):
        assert same(spikes.of(int(drawn.layout.control[k])),
                    spikes.of(int(drawn.layout.perturbed[k])))


def test_device_mode_is_reproducible_from_the_seed():
    one = fingerprint(run(config_of("input.noise=device"))[1])
    assert fingerprint(run(config_of("input.noise=device"))[1]) == one
    assert fingerprint(run(config_of("input.noise=device", "seed.session=2"))[1]) != one


def test_device_mode_shared_control_gives_every_replica_the_same_input():
    config = config_of("input.noise=device", "protocol.trials=shared_control",
                       "protocol.perturb=false", trials=3)
    drawn, spikes = run(config)
    assert drawn.layout.n_replicas == 4
    assert all(same(spikes.of(0), spikes.of(r)) for r in range(1, 4))


def input_counts(config):
    """Per-source input spike counts of every realisation: background ``(n_real, n)``,
    channels ``(n_real, n_channels)``, and the channels' expected counts."""
    drawn = chaos.draw(config)
    n, n_channels = config.network.n_neurons, config.input.n_channels
    n_real = len(drawn.realisations)
    dt_s = float(config.protocol.dt / second)
    duration_s = float(drawn.duration / second)
    steps = np.arange(int(round(duration_s / dt_s)))
    interval = np.floor(steps * dt_s / float(config.input.channel_interval / second) + 1e-9)
    expected = np.stack([r.channel_rates[interval.astype(int)].sum(axis=0) * dt_s
                         for r in drawn.realisations])
    if config.input.noise == "predrawn":
        n_steps = steps.size   # the draws reach one step past the run; the run does not
        background = np.stack([np.bincount(s[t < n_steps], minlength=n)
                               for s, t in (r.background for r in drawn.realisations)])
        channels = np.stack([np.bincount(s[t < n_steps], minlength=n_channels)
                             for s, t in (r.channels for r in drawn.realisations)])
        return background, channels, expected
    from models import devices
    with devices.backend("runtime") as device:
        b2.seed(rng.integer_seed(config.seed.session, block=0, purpose="noise"))
        net, objects = replicas.build(drawn.structure, drawn.params, drawn.inputs,
                                      realisations=drawn.realisations,
                                      replica_realisation=drawn.layout.realisation,
                                      weight_unit=drawn.weight_unit,
                                      threshold_unit=drawn.threshold_unit, perturbations=[],
                                      dt=config.protocol.dt)
        monitors = [b2.SpikeMonitor(objects[name], name=f"{name}_monitor")
                    for name in ("background", "channels")]
        net.add(*monitors)
        device.run(net, drawn.duration)
        counts = [np.asarray(m.count[:]) for m in monitors]
    return counts[0].reshape(n_real, n), counts[1].reshape(n_real, n_channels), expected


@pytest.mark.parametrize("noise", ["predrawn", "device"])
def test_input_spike_counts_are_poisson_at_the_configured_rates(noise):
    """Background: every source's count ~ Poisson(rate x duration), so mean and variance over
    the sources match it; channels: counts ~ Poisson(the rate table's integral)."""
    config = config_of(f"input.noise={noise}", "input.channels_on=true",
                       "input.channel_rate=100 Hz", n=200, trials=4, observation="450 ms")
    background, channels, expected = input_counts(config)
    mean = 200 * 0.5   # 200 Hz for 500 ms
    assert background.shape == (4, 200)
    z = (background.mean() - mean) / np.sqrt(mean / background.size)
    assert abs(z) < 4, (noise, background.mean(), z)
    fano = background.var(ddof=1) / background.mean()
    assert abs(fano - 1) < 4 * np.sqrt(2 / (background.size - 1)), (noise, fano)
    z = (channels.sum() - expected.sum()) / np.sqrt(expected.sum())
    assert abs(z) < 4, (noise, channels.sum(), expected.sum())
    # counts of one realisation are not those of another
    assert not np.array_equal(background[0], background[1])


def test_device_and_predrawn_give_the_same_mean_rate_within_sampling_error():
    """Mean firing rate of the controls over 6 seeds: a z-test on the difference of the means."""
    rates = {}
    for noise in ("predrawn", "device"):
        rates[noise] = []
        for seed in range(6):
            config = config_of(f"input.noise={noise}", f"seed.session={seed}",
                               "protocol.perturb=false", n=80, trials=2, observation="150 ms")
            drawn, spikes = run(config)
            controls = [spikes.of(int(c)) for c in drawn.layout.control]
            n_spikes = sum(i.size for i, _ in controls)
            rates[noise].append(n_spikes / (len(controls) * 80 * float(drawn.duration / second)))
    p, d = np.array(rates["predrawn"]), np.array(rates["device"])
    assert p.mean() > 5 and d.mean() > 5
    z = (p.mean() - d.mean()) / np.sqrt(p.var(ddof=1) / p.size + d.var(ddof=1) / d.size)
    assert abs(z) < 3, (p.mean(), d.mean(), z)


def test_point_memory_counts_no_input_spikes_in_device_mode():
    heavy = ["input.background_rate=5000 Hz", "protocol.observation=2000 ms"]
    predrawn, detail = chaos.point_memory(config_of(*heavy, n=2000, trials=20))
    device, device_detail = chaos.point_memory(config_of(*heavy, "input.noise=device",
                                                         n=2000, trials=20))
    assert "input spikes" in detail and "input spikes" not in device_detail
    # 20 realisations x 2000 neurons x 5000 Hz x 2.05 s, 40 bytes each
    assert predrawn - device > 0.9 * 40 * 20 * 2000 * 5000 * 2.05


# --------------------------------------------------------------------------- back-ends
@pytest.mark.slow
def test_device_mode_gives_the_same_point_statistics_on_runtime_and_cpp(tmp_path):
    """10 seeds per back-end; the point's mean rate, final Hamming distance and LZ agree
    within sampling error (Welch z < 3 on the per-seed values), at a chaotic point (g_std 1:
    the perturbed runs decorrelate within the observation).  Brian2's runtime and
    cpp_standalone may or may not draw the same random numbers; either way must pass."""
    names = ("rate_mean", "final_distance_mean", "lz_mean")
    values = {backend: {name: [] for name in names} for backend in ("runtime", "cpp")}
    for backend in values:
        for seed in range(10):
            config = config_of("input.noise=device", f"seed.session={seed}", "network.g_std=1.0",
                               n=100, trials=3, observation="150 ms")
            attrs, _ = chaos.simulate_point(config, backend=backend,
                                            build_root=str(tmp_path / "build"))
            for name in names:
                values[backend][name].append(attrs[name])
    for name in names:
        rt, cpp = np.array(values["runtime"][name]), np.array(values["cpp"][name])
        spread = np.sqrt(rt.var(ddof=1) / rt.size + cpp.var(ddof=1) / cpp.size)
        assert abs(rt.mean() - cpp.mean()) <= 3 * spread, (name, rt, cpp)
        print(f"{name}: runtime {rt.mean():.4g} ± {rt.std(ddof=1):.2g}, cpp "
              f"{cpp.mean():.4g} ± {cpp.std(ddof=1):.2g}, identical: {np.array_equal(rt, cpp)}")
