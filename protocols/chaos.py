"""Chaos perturbation protocol: one auxiliary spike in a heterogeneous LIF network.

One point of the heterogeneity study: a network with threshold spread
``network.v_th_std`` and weight spread ``network.g_std`` (normalised units,
see :mod:`models.lif`) runs a ``protocol.baseline`` (50 ms), then one auxiliary
spike is forced in one neuron and the network is observed for
``protocol.observation`` (500 ms).  Each of ``protocol.n_perturbations`` trials
perturbs a different neuron and is compared with an unperturbed control that
sees exactly the same noise and initial state.  Control and trials run as
replicas side by side in one simulation (:mod:`models.replicas`).

Per trial, on the binned (neuron x time) difference between trial and control:

- ``lz``: Lempel-Ziv complexity (LZ76, normalised ``c log2(n) / n``) and
  ``lz_entropy`` (``c log2(n) / (n H(p1))``, Casali et al. 2013);
- ``hamming_slope``: divergence rate of the Hamming distance over its growth
  phase (:func:`analysis.chaos.hamming_slope`), in differing neurons per second.

Run it::

    snnsuite run configs/chaos_quick.yaml --out results/chaos_quick
    python -m protocols.chaos configs/chaos.yaml --set network.g_std=0.3
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from analysis import chaos as chaos_measures
from analysis import complexity, plots, spikes as spike_stats
from analysis.reports import write_report
from analysis.results import ResultWriter, load
from protocols import outdir
from protocols.config import ConfigError, Field

NAME = "chaos"

SCHEMA = {
    "network": {
        "n_neurons": Field("int", 1000, low=2, doc="neurons per network (per replica)"),
        "connection_prob": Field("float", 0.1, low=0, low_open=True, high=1,
                                 doc="recurrent connection probability"),
        "fixed_indegree": Field("bool", False, doc="every neuron gets exactly round(p (n-1)) inputs"),
        "v_th_mean": Field("quantity", "-55 mV", unit="voltage", doc="mean spike threshold"),
        "v_th_std": Field("float", 0.2, low=0, high=2,
                          doc="threshold spread, in units of v_th_mean - v_rest"),
        "g_std": Field("float", 0.2, low=0, high=5,
                       doc="weight spread: weights ~ Normal(0, g_std), 1.0 = a 10 mV jump of I_syn"),
        "tau_m": Field("quantity", "20 ms", unit="time", low=0, low_open=True,
                       doc="membrane time constant"),
        "tau_syn": Field("quantity", "5 ms", unit="time", low=0, low_open=True,
                         doc="synaptic decay time constant"),
        "refractory": Field("quantity", "2 ms", unit="time", low=0, doc="absolute refractory period"),
        "v_rest": Field("quantity", "-65 mV", unit="voltage", doc="resting potential"),
        "v_reset": Field("quantity", "-65 mV", unit="voltage", doc="reset potential"),
    },
    "input": {
        "background_rate": Field("quantity", "200 Hz", unit="frequency", low=0,
                                 doc="independent Poisson background per neuron"),
        "background_weight": Field("float", 0.1, low=0, doc="jump of I_syn per background spike (normalised)"),
        "bias": Field("float", 0.8, doc="constant input R*I, normalised (0.8 = 8 mV)"),
        "n_channels": Field("int", 20, low=0, doc="dynamic Poisson input channels"),
        "channel_connectivity": Field("float", 0.3, low=0, high=1,
                                      doc="fraction of neurons each channel projects to"),
        "channel_rate": Field("quantity", "10 Hz", unit="frequency", low=0,
                              doc="mean rate of a channel (redrawn uniformly in [0, 2x] per interval)"),
        "channel_weight": Field("float", 0.2, low=0, doc="jump of I_syn per channel spike (normalised)"),
        "channel_interval": Field("quantity", "50 ms", unit="time", low=0, low_open=True,
                                  doc="how often a channel's rate is redrawn"),
    },
    "protocol": {
        "dt": Field("quantity", "0.1 ms", unit="time", low=0, low_open=True, doc="integration time step"),
        "baseline": Field("quantity", "50 ms", unit="time", low=0, low_open=True,
                          doc="time before the auxiliary spike"),
        "observation": Field("quantity", "500 ms", unit="time", low=0, low_open=True,
                             doc="time observed after the auxiliary spike"),
        "n_perturbations": Field("int", 20, low=1, doc="perturbed trials (each a different neuron)"),
        "bin": Field("quantity", "1 ms", unit="time", low=0, low_open=True,
                     doc="bin of the spike matrices compared"),
        "perturb": Field("bool", True, doc="false: trials get no auxiliary spike (a determinism check)"),
        "growth_fraction": Field("float", 0.5, low=0, low_open=True, high=1,
                                 doc="the Hamming growth phase ends at this fraction of saturation"),
        "fano_window": Field("quantity", "50 ms", unit="time", low=0, low_open=True,
                             doc="window of the spike counts for the Fano factor"),
    },
    "seed": {
        "session": Field("int", 1234, low=0, doc="session seed; every stream derives from it"),
    },
}


# --------------------------------------------------------------------------- simulation
class Drawn(NamedTuple):
    """Everything random about one point, drawn from the point's seed streams."""

    params: object            # models.lif.LIFParams
    inputs: object            # models.replicas.InputParams
    structure: object         # models.structure.Structure
    v0: np.ndarray            # initial membrane potential per neuron, volts
    channel_rates_hz: np.ndarray
    perturbed: np.ndarray     # the neuron perturbed in each trial
    duration: object          # baseline + observation (Quantity)


def validate(config) -> None:
    """Checks across keys that the schema cannot express; ``ConfigError`` names the key.

    Everything a point needs is checked here, before any network is drawn, so
    an accepted config runs to the end: the perturbed neurons exist, the
    thresholds can be drawn above the reset, the windows fit in the
    observation, and the number of time steps and bins is bounded.
    """
    from brian2 import mV

    from protocols.resources import MAX_STEPS

    source = config.source
    net_cfg, in_cfg, pr_cfg = config.network, config.input, config.protocol
    if pr_cfg.n_perturbations > net_cfg.n_neurons:
        raise ConfigError(source, "protocol.n_perturbations",
                          f"got {pr_cfg.n_perturbations}, more than network.n_neurons "
                          f"({net_cfg.n_neurons}); each trial perturbs a different neuron, so "
                          f"allowed is 1 to {net_cfg.n_neurons}")
    for key in ("v_rest", "v_reset"):
        if getattr(net_cfg, key) >= net_cfg.v_th_mean:
            raise ConfigError(source, f"network.{key}",
                              f"got {getattr(net_cfg, key)}, not below network.v_th_mean "
                              f"({net_cfg.v_th_mean}); it must lie below the mean threshold")
    # thresholds are Normal(v_th_mean, v_th_std) kept > v_reset + 1 mV (models.structure)
    v_unit = net_cfg.v_th_mean - net_cfg.v_rest
    gap = float((net_cfg.v_reset + 1 * mV - net_cfg.v_th_mean) / v_unit)  # in units of v_th_std
    if gap >= 0 and (net_cfg.v_th_std == 0 or gap / net_cfg.v_th_std > 5):
        raise ConfigError(source, "network.v_th_std",
                          f"got {net_cfg.v_th_std} with network.v_reset {net_cfg.v_reset} and "
                          f"network.v_th_mean {net_cfg.v_th_mean}: every threshold must lie more "
                          "than 1 mV above the reset, which this spread (almost) never gives; "
                          f"lower network.v_reset below {net_cfg.v_th_mean - 1 * mV} or widen "
                          "network.v_th_std")
    if pr_cfg.bin < pr_cfg.dt or pr_cfg.bin > pr_cfg.observation:
        raise ConfigError(source, "protocol.bin",
                          f"got {pr_cfg.bin}; allowed is from protocol.dt ({pr_cfg.dt}) to "
                          f"protocol.observation ({pr_cfg.observation})")
    if pr_cfg.fano_window < pr_cfg.bin or pr_cfg.fano_window > pr_cfg.observation:
        raise ConfigError(source, "protocol.fano_window",
                          f"got {pr_cfg.fano_window}; allowed is from protocol.bin ({pr_cfg.bin}) "
                          f"to protocol.observation ({pr_cfg.observation})")
    if pr_cfg.baseline < pr_cfg.dt:
        raise ConfigError(source, "protocol.baseline",
                          f"got {pr_cfg.baseline}; the auxiliary spike comes after the baseline, "
                          f"which must last at least one step (protocol.dt = {pr_cfg.dt})")
    steps = float((pr_cfg.baseline + pr_cfg.observation) / pr_cfg.dt)
    if steps > MAX_STEPS:
        raise ConfigError(source, "protocol.observation",
                          f"protocol.baseline + protocol.observation is {steps:.3g} steps of "
                          f"protocol.dt ({pr_cfg.dt}); allowed are at most {MAX_STEPS:.0e} steps "
                          f"({MAX_STEPS * pr_cfg.dt} of network time)")
    intervals = float((pr_cfg.baseline + pr_cfg.observation) / in_cfg.channel_interval)
    if in_cfg.n_channels and intervals > MAX_STEPS:
        raise ConfigError(source, "input.channel_interval",
                          f"got {in_cfg.channel_interval}: {intervals:.3g} rate intervals per "
                          f"channel; allowed are at most {MAX_STEPS:.0e} (an interval of at least "
                          f"{(pr_cfg.baseline + pr_cfg.observation) / MAX_STEPS})")


#: rate assumed by the memory estimate for the recorded spikes (runs above it need more)
ESTIMATE_RATE_HZ = 100.0
#: what one Python process holds before any network: Brian2, numpy, the suite, and Cython
#: compiling a network's code for the first time (measured: 170 MiB warm, 370 MiB compiling)
PROCESS_BYTES = 400 * 2**20


def point_memory(config) -> tuple[float, str]:
    """Peak bytes of one point (drawing, Brian2 objects, spikes, measures) and what dominates.

    An upper-bound estimate from the config alone, made before anything is
    built: the structure is drawn from ``n x n`` random matrices, Brian2 holds
    about 60 bytes per synapse and 100 per neuron, spikes are recorded at up
    to :data:`ESTIMATE_RATE_HZ` per neuron, and each trial's binned matrices
    are compared in memory.
    """
    net_cfg, in_cfg, pr_cfg = config.network, config.input, config.protocol
    n, replicas = net_cfg.n_neurons, pr_cfg.n_perturbations + 1
    duration_s = float(pr_cfg.baseline + pr_cfg.observation)
    draw_bytes = (17 if net_cfg.fixed_indegree else 9) * float(n) ** 2
    synapses = replicas * (net_cfg.connection_prob * n * (n - 1) + n
                           + in_cfg.n_channels * in_cfg.channel_connectivity * n)
    spikes = replicas * n * ESTIMATE_RATE_HZ * duration_s
    n_bins = float(pr_cfg.observation / pr_cfg.bin)
    measure_bytes = n * n_bins * 12 + pr_cfg.n_perturbations * n_bins * 4
    table = in_cfg.n_channels * (duration_s / float(in_cfg.channel_interval) + 2) * 8
    parts = {"structure": draw_bytes, "synapses": 60 * synapses,
             "neurons": 100 * replicas * n, "spikes": 32 * spikes, "measures": measure_bytes,
             "input table": table}
    biggest = max(parts, key=parts.get)
    detail = (f"{replicas} x {n} neurons, {synapses:.3g} synapses; most for the "
              f"{biggest}")
    return PROCESS_BYTES + sum(parts.values()), detail


def estimate_memory(config, jobs=None) -> tuple[float, str]:
    """Peak bytes of a chaos run (one point) and what dominates it."""
    return point_memory(config)


def draw(config, block: int = 0) -> Drawn:
    """Draw the network, initial state, inputs and perturbed neurons of one point."""
    import brian2 as b2
    from brian2 import mV

    from models import lif, replicas, rng, structure

    net_cfg, in_cfg, pr_cfg = config.network, config.input, config.protocol
    n = net_cfg.n_neurons
    validate(config)

    def stream(purpose, trial=None):
        return rng.stream(config.seed.session, block=block, trial=trial, purpose=purpose)

    params = lif.LIFParams(tau_m=net_cfg.tau_m, tau_syn=net_cfg.tau_syn, v_rest=net_cfg.v_rest,
                           v_reset=net_cfg.v_reset, v_th_mean=net_cfg.v_th_mean,
                           refractory=net_cfg.refractory,
                           I_bias=in_cfg.bias * (net_cfg.v_th_mean - net_cfg.v_rest))
    inputs = replicas.InputParams(background_rate=in_cfg.background_rate,
                                  background_weight=in_cfg.background_weight,
                                  n_channels=in_cfg.n_channels, channel_rate=in_cfg.channel_rate,
                                  channel_weight=in_cfg.channel_weight,
                                  channel_interval=in_cfg.channel_interval)
    duration = pr_cfg.baseline + pr_cfg.observation
    v_unit = params.v_unit
    # thresholds stay at least 1 mV above the reset (see models.structure)
    min_gap = float((net_cfg.v_reset + 1 * mV - net_cfg.v_th_mean) / v_unit)
    struct = structure.draw_structure(
        n_neurons=n, connection_prob=net_cfg.connection_prob, fixed_indegree=net_cfg.fixed_indegree,
        g_std=net_cfg.g_std, v_th_std=net_cfg.v_th_std, min_threshold_gap=min_gap,
        n_channels=in_cfg.n_channels, channel_connectivity=in_cfg.channel_connectivity,
        rngs={p: stream(p) for p in ("structure", "thresholds", "input")})
    # initial state shared by control and trials: uniform between reset and each threshold
    v_reset = float(net_cfg.v_reset / b2.volt)
    v_th = float(params.v_th_mean / b2.volt) + struct.v_th_offset * float(v_unit / b2.volt)
    v0 = v_reset + stream("initial_state", trial=0).random(n) * (v_th - v_reset)
    n_intervals = int(math.ceil(float(duration / in_cfg.channel_interval))) + 1
    rates_hz = replicas.channel_rate_table(in_cfg.n_channels, in_cfg.channel_rate, n_intervals,
                                           stream("input", trial=0))
    perturbed = stream("perturbation").choice(n, size=pr_cfg.n_perturbations,
                                              replace=False).astype(np.int32)
    return Drawn(params, inputs, struct, v0, rates_hz, perturbed, duration)


def simulate(config, drawn: Drawn, perturbations: list, n_replicas: int, *, block: int = 0,
             backend: str = "runtime", build_root: str | None = None):
    """Run ``n_replicas`` replicas of the drawn network; returns their spikes."""
    import brian2 as b2

    from models import devices, replicas, rng

    with devices.backend(backend, build_root=build_root) as device:
        b2.seed(rng.integer_seed(config.seed.session, block=block, purpose="noise"))
        net, objects = replicas.build(drawn.structure, drawn.params, drawn.inputs,
                                      n_replicas=n_replicas, v0=drawn.v0,
                                      channel_rates_hz=drawn.channel_rates_hz,
                                      perturbations=perturbations, duration=drawn.duration,
                                      dt=config.protocol.dt)
        device.run(net, drawn.duration)
        return replicas.spikes_of(objects, drawn.structure.n_neurons)


def simulate_single(config, *, block: int = 0, perturbed_neuron: int | None = None,
                    backend: str = "runtime"):
    """One trial on its own (the plain approach the replicas replace).

    Same network, noise and initial state as replica ``k`` of
    :func:`simulate_point`; returns ``(neuron, time_s)`` of its spikes.
    """
    from models import replicas

    drawn = draw(config, block)
    perturbations = [] if perturbed_neuron is None else [
        replicas.Perturbation(replica=0, neuron=int(perturbed_neuron), time=config.protocol.baseline)]
    return simulate(config, drawn, perturbations, 1, block=block, backend=backend).of(0)


def simulate_point(config, *, block: int = 0, backend: str = "runtime",
                   build_root: str | None = None, keep_spikes: bool = False) -> tuple[dict, dict]:
    """Simulate control + perturbed replicas for one point and measure them.

    Returns ``(attrs, datasets)`` ready for :meth:`analysis.results.ResultWriter.write_point`.
    """
    from brian2 import second

    from models import replicas

    started = time.perf_counter()
    net_cfg, pr_cfg = config.network, config.protocol
    n, n_trials = net_cfg.n_neurons, pr_cfg.n_perturbations

    # 2. build: draw everything random from the point's streams
    drawn = draw(config, block)
    perturbed = drawn.perturbed
    perturbations = [replicas.Perturbation(replica=k + 1, neuron=int(neuron), time=pr_cfg.baseline)
                     for k, neuron in enumerate(perturbed)] if pr_cfg.perturb else []
    # 3. run all replicas in one network (replica 0 = control)
    all_spikes = simulate(config, drawn, perturbations, n_trials + 1, block=block,
                          backend=backend, build_root=build_root)
    sim_time = time.perf_counter() - started
    attrs, datasets = measure(config, drawn, all_spikes.of, keep_spikes=keep_spikes)
    attrs.update(block_id=int(block), simulation_time_s=float(sim_time),
                 compute_time_s=float(time.perf_counter() - started), backend=backend)
    return attrs, datasets


def measure(config, drawn: Drawn, spikes_of, *, keep_spikes: bool = False) -> tuple[dict, dict]:
    """Chaos measures and control statistics from the spikes of control and trials.

    ``spikes_of(k)`` gives ``(neuron, time_s)`` of replica ``k`` (0 = control,
    ``k`` = trial perturbing ``drawn.perturbed[k - 1]``).
    """
    from brian2 import second

    net_cfg, pr_cfg = config.network, config.protocol
    n, n_trials = net_cfg.n_neurons, pr_cfg.n_perturbations
    perturbed, duration = drawn.perturbed, drawn.duration

    # 4. analyse: binned difference matrices over the observation window
    t0_s = float(pr_cfg.baseline / second)
    t1_s = float(duration / second)
    bin_s = float(pr_cfg.bin / second)

    def binned(replica):
        i, t = spikes_of(replica)
        return spike_stats.bin_spikes(i, t, n, t0_s, t1_s, bin_s, binary=True)

    control = binned(0)
    saturation = chaos_measures.saturation_level(control)
    n_bins = control.shape[1]
    lz = np.empty(n_trials)
    lz_entropy = np.empty(n_trials)
    slope = np.empty(n_trials)
    distance = np.empty((n_trials, n_bins), dtype=np.int32)
    for k in range(n_trials):
        trial = binned(k + 1)
        difference = (trial != control).astype(np.uint8)
        distance[k] = chaos_measures.hamming_distance(control, trial)
        measures = complexity.lempel_ziv_all(difference)  # one parsing, both normalisations
        lz[k], lz_entropy[k] = measures["plain"], measures["entropy"]
        slope[k] = chaos_measures.hamming_slope(distance[k], bin_s, saturation=saturation,
                                                fraction=pr_cfg.growth_fraction)

    ctrl_i, ctrl_t = spikes_of(0)
    rates = spike_stats.firing_rates(ctrl_i, n, t1_s)
    order = np.argsort(ctrl_i, kind="stable")  # spike times grouped by neuron, in time order
    trains = np.split(ctrl_t[order], np.cumsum(np.bincount(ctrl_i, minlength=n))[:-1])
    cvs = np.array([spike_stats.cv_isi(train) for train in trains])
    window_s = float(pr_cfg.fano_window / second)
    counts = spike_stats.bin_spikes(ctrl_i, ctrl_t, n, t0_s,
                                    t0_s + window_s * int(round((t1_s - t0_s) / window_s)),
                                    window_s, binary=False)
    fanos = np.array([spike_stats.fano_factor(c) for c in counts])

    attrs = {
        "v_th_std": float(net_cfg.v_th_std), "g_std": float(net_cfg.g_std),
        "n_trials": int(n_trials), "n_neurons": int(n),
        "lz_mean": float(lz.mean()), "lz_std": float(lz.std()),
        "lz_entropy_mean": float(lz_entropy.mean()), "lz_entropy_std": float(lz_entropy.std()),
        "hamming_mean": float(slope.mean()), "hamming_std": float(slope.std()),
        "final_distance_mean": float(distance[:, -max(1, n_bins // 10):].mean()),
        "saturation": float(saturation),
        "rate_mean": float(rates.mean()), "rate_std": float(rates.std()),
        "cv_mean": float(np.nanmean(cvs)) if np.isfinite(cvs).any() else float("nan"),
        "fano_mean": float(np.nanmean(fanos)) if np.isfinite(fanos).any() else float("nan"),
        "silent_fraction": float((rates == 0).mean()),
        "bin_s": bin_s, "baseline_s": t0_s, "observation_s": t1_s - t0_s,
    }
    datasets = {
        "lz": lz, "lz_entropy": lz_entropy, "hamming_slope": slope,
        "perturbed_neurons": perturbed, "hamming_distance": distance,
        "control_rates_hz": rates.astype(np.float32),
    }
    if keep_spikes:
        first_i, first_t = spikes_of(1) if n_trials else (ctrl_i[:0], ctrl_t[:0])
        datasets.update(control_spike_i=ctrl_i, control_spike_t_s=ctrl_t,
                        trial_spike_i=first_i, trial_spike_t_s=first_t)
    return attrs, datasets


# --------------------------------------------------------------------------- protocol API
def versions() -> dict:
    """Versions recorded in every result file."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("snnsuite", "brian2", "numpy", "scipy", "h5py", "torch"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False) -> Path:
    """Run one chaos point and write ``out_dir/results.h5``."""
    out_dir = outdir.claim(out_dir, NAME)  # a folder of its own (see protocols.outdir)
    # 1. config (validated by the caller) -> 2. build -> 3. run -> 4. analyse, in simulate_point
    writer = ResultWriter(out_dir, NAME, config.to_yaml(), config.seed.session, versions(),
                          resume=resume)
    if "p0000" not in writer.completed():
        attrs, datasets = simulate_point(config, block=0, backend=backend,
                                         build_root=str(out_dir / "build"), keep_spikes=True)
        # 5. save
        writer.write_point("p0000", attrs, datasets)
    _remove_if_empty(out_dir / "build")
    return writer.finalize()


def _remove_if_empty(folder: Path) -> None:
    """Drop the C++ build root once its per-run directories are gone."""
    try:
        folder.rmdir()
    except OSError:  # missing, or kept builds inside
        pass


def report(results_path: Path, out_dir: Path | None = None) -> Path:
    """Figures and ``report.md`` for a chaos result file; returns the report path."""
    result = load(results_path)
    out_dir = Path(out_dir) if out_dir is not None else Path(results_path).parent
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    point = result.point
    a, d = point.attrs, point.data
    n_bins = d["hamming_distance"].shape[1]
    time_s = a["baseline_s"] + a["bin_s"] * np.arange(n_bins)
    made = []
    if "control_spike_i" in d and len(d["perturbed_neurons"]):
        made.append(plots.raster_comparison(
            d["control_spike_i"], d["control_spike_t_s"], d["trial_spike_i"], d["trial_spike_t_s"],
            figures / "raster.png", perturbation_time_s=a["baseline_s"],
            perturbed_neuron=int(d["perturbed_neurons"][0]), n_show=min(200, int(a["n_neurons"]))))
    made.append(plots.hamming_over_time(time_s, d["hamming_distance"], figures / "hamming.png",
                                        saturation=a["saturation"],
                                        title=f"v_th_std={a['v_th_std']:g}, g_std={a['g_std']:g}"))
    made.append(plots.lz_distribution(d["lz"], figures / "lz_distribution.png"))

    lines = [
        "# Chaos perturbation: one point", "",
        f"Result file: `{Path(results_path).name}`; seed {result.seed}; "
        f"created {result.attrs.get('created', '?')}.", "",
        "| quantity | value |", "|---|---|",
    ]
    rows = [("v_th_std (normalised)", a["v_th_std"]), ("g_std (normalised)", a["g_std"]),
            ("neurons", a["n_neurons"]), ("perturbation trials", a["n_trials"]),
            ("LZ complexity (c log2 n / n)", f"{a['lz_mean']:.4g} ± {a['lz_std']:.2g}"),
            ("LZ complexity (entropy-normalised)", f"{a['lz_entropy_mean']:.4g} ± {a['lz_entropy_std']:.2g}"),
            ("Hamming slope (neurons/s)", f"{a['hamming_mean']:.4g} ± {a['hamming_std']:.2g}"),
            ("final Hamming distance / saturation", f"{a['final_distance_mean']:.3g} / {a['saturation']:.3g}"),
            ("control rate (Hz)", f"{a['rate_mean']:.3g}"), ("control CV(ISI)", f"{a['cv_mean']:.3g}"),
            ("control Fano factor", f"{a['fano_mean']:.3g}"),
            ("compute time (s)", f"{a['compute_time_s']:.2f}"), ("backend", a.get("backend", "?"))]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return write_report(out_dir, lines, made, result.versions)


def main(argv=None) -> int:
    from protocols.cli import protocol_main

    return protocol_main(NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
