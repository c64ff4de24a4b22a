"""Shared machinery of the two spiking-network training protocols.

``homeostatic_training`` and ``fitting_activity`` train the torch twin
(:class:`training.snn.COBATwin`, compiled from :mod:`models.coba`) of a
conductance-based LIF network on a connectome (:mod:`models.connectome`)
driven by Poisson mitral-cell inputs, with the shared trainer
(:mod:`training.trainer`).  This module holds their common config sections,
the set-up (model, connectome, inputs), the objective (one epoch = fresh
input of ``simulation.duration``; gradients accumulate over
``accumulation_interval`` epochs, then one Adam step), the figures of every
accumulation interval, the study's console block, ``results.h5``, the report
and the TOML translation of the study's parameter files.
"""
from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from protocols.config import ConfigError, Field, UsageError

CELL_TYPES = ("excitatory", "inhibitory")
SHORT = {"excitatory": "E", "inhibitory": "I"}
SYNAPSE_NAMES = ("AMPA", "NMDA", "GABA_A")

# ----------------------------------------------------------------------------- schema
SIMULATION = {
    "dt": Field("quantity", "0.5 ms", unit="time", low=0, low_open=True, high="10 ms",
                doc="integration time step"),
    "duration": Field("quantity", "10 s", unit="time", low=0, low_open=True,
                      doc="simulated time of one epoch, with fresh input (the study's "
                          "chunk_size)"),
    "epochs": Field("int", 500, low=1, doc="training epochs"),
    "accumulation_interval": Field("int", 5, low=1, doc="epochs whose gradients are summed "
                                   "before one optimiser step"),
    "report_interval": Field("int", 0, low=0, doc="epochs between the console block and the "
                             "figures (0: the accumulation interval, as the study)"),
    "checkpoint_interval": Field("int", 50, low=1, doc="epochs between saves of "
                                 "checkpoints/checkpoint_latest.pt"),
    "batch_size": Field("int", 1, low=1, doc="independent input realisations per epoch"),
    "cv_window": Field("quantity", "50 s", unit="time", low=0,
                       doc="the CV is estimated from the ISIs of at least this much recent "
                           "simulated time per neuron (epochs x batch; earlier epochs' "
                           "intervals detached); the accumulation window always counts; 0 s: "
                           "the accumulation window only, as the study"),
    "seed": Field("int", 42, low=0, doc="seed of the network, the inputs and torch"),
    "device": Field("str", "cpu", choices=("auto", "cpu", "cuda"), doc="torch device"),
    "weight_layout": Field("str", "auto", choices=("auto", "sparse", "dense"),
                           doc="the twin's weights: one per synapse (sparse) or a masked dense "
                               "matrix, the same numbers; auto: sparse from 2000 neurons on, "
                               "where it is faster (benchmarks/snn.py --layouts)"),
    "threads": Field("int", 1, low=0, doc="torch CPU threads (0: torch's default); 1 makes a "
                     "resumed run bit-identical to a straight one"),
    "record_neurons": Field("int", 6, low=0, high=64, doc="neurons whose membrane potential is "
                            "plotted every figure interval"),
    "plots": Field("bool", True, doc="figures every report interval"),
    "wandb": Field("str", "off", choices=("off", "offline", "online"),
                   doc="Weights & Biases logging (offline works without an account)"),
}

NETWORK = {
    "connectome": Field("str", "assembly", doc="'assembly' (the synthetic assembly network) or "
                        "a file: scipy.sparse .npz or HDF5 with cell-type labels"),
    "labels": Field("str", "", doc="cell-type labels for an .npz connectome without them "
                    "(.npy or text, one per neuron)"),
    "n_neurons": Field("int", 5000, low=2, doc="neurons of the assembly network"),
    "fraction_excitatory": Field("float", 0.8, low=0, high=1, low_open=True, high_open=True,
                                 doc="excitatory fraction (80/20 E/I)"),
    "n_assemblies": Field("int", 20, low=1, doc="assemblies"),
    "p_within": Field("float_list", (0.2, 0.2, 0.4, 0.2), low=0, high=1,
                      doc="connection probability within an assembly: E->E, E->I, I->E, I->I"),
    "p_between": Field("float_list", (0.02, 0.02, 0.02, 0.02), low=0, high=1,
                       doc="connection probability between assemblies: E->E, E->I, I->E, I->I"),
    "w_mean": Field("float_list", (0.3, 0.3, 0.5, 0.3), low=0, low_open=True,
                    doc="mean of the log-normal weights: E->E, E->I, I->E, I->I"),
    "w_std": Field("float_list", (0.2, 0.2, 0.1, 0.1), low=0,
                   doc="standard deviation of the log-normal weights: E->E, E->I, I->E, I->I"),
}

PHYSIOLOGY = {}
for _cell, _values in (("excitatory", ("85 ms", "-38 mV", "-60 mV", "-60 mV", "1.35 nS")),
                       ("inhibitory", ("50 ms", "-45 mV", "-60 mV", "-60 mV", "0.9 nS"))):
    PHYSIOLOGY.update({
        f"{_cell}.tau_mem": Field("quantity", _values[0], unit="time", low=0, low_open=True,
                                  doc=f"membrane time constant, {_cell}"),
        f"{_cell}.theta": Field("quantity", _values[1], unit="voltage",
                                doc=f"spike threshold, {_cell}"),
        f"{_cell}.U_reset": Field("quantity", _values[2], unit="voltage",
                                  doc=f"reset potential, {_cell}"),
        f"{_cell}.E_L": Field("quantity", _values[3], unit="voltage",
                              doc=f"leak reversal potential, {_cell}"),
        f"{_cell}.g_L": Field("quantity", _values[4], unit="conductance", low=0, low_open=True,
                              doc=f"leak conductance, {_cell}"),
        f"{_cell}.tau_ref": Field("quantity", "8 ms", unit="time", low=0,
                                  doc=f"refractory period, {_cell} (applied)"),
    })

SYNAPSES = {}
for _name, _values in (("AMPA", ("0.1 ms", "5 ms", "0 mV", "0.7 nS")),
                       ("NMDA", ("10 ms", "70 ms", "0 mV", "0.1 nS")),
                       ("GABA_A", ("1 ms", "6 ms", "-70 mV", "1.5 nS"))):
    SYNAPSES.update({
        f"{_name}.tau_rise": Field("quantity", _values[0], unit="time", low=0, low_open=True,
                                   doc=f"{_name} rise time constant"),
        f"{_name}.tau_decay": Field("quantity", _values[1], unit="time", low=0, low_open=True,
                                    doc=f"{_name} decay time constant"),
        f"{_name}.E_syn": Field("quantity", _values[2], unit="voltage",
                                doc=f"{_name} reversal potential"),
        f"{_name}.g_bar": Field("quantity", _values[3], unit="conductance", low=0,
                                doc=f"{_name} peak conductance of a weight-1 spike"),
    })

INPUT = {
    "n_inputs": Field("int", 1500, low=1, doc="olfactory mitral cells (Poisson spike trains)"),
    "firing_rate": Field("quantity", "6 Hz", unit="frequency", low=0,
                         doc="mitral-cell firing rate"),
    "p_excitatory": Field("float", 0.02, low=0, high=1,
                          doc="feedforward connection probability onto excitatory cells"),
    "p_inhibitory": Field("float", 0.0, low=0, high=1,
                          doc="feedforward connection probability onto inhibitory cells"),
    "w_mean": Field("float", 0.4, low=0, low_open=True, doc="mean feedforward weight"),
    "w_std": Field("float", 0.2, low=0, doc="standard deviation of the feedforward weights"),
    "n_odours": Field("int", 0, low=0, doc="odours (0: unmodulated rates); epoch k presents "
                      "odour k mod n_odours"),
    "modulated_fraction": Field("float", 0.1, low=0, high=0.5,
                                doc="fraction of mitral cells up, and another fraction down, "
                                    "per odour"),
    "modulation": Field("float", 0.5, low=0, high=1,
                        doc="relative rate change of modulated cells"),
}

HYPERPARAMETERS = {
    "learning_rate": Field("float", 5e-4, low=0, low_open=True, doc="Adam learning rate"),
    "surrogate_scale": Field("float", 100.0, low=0, low_open=True,
                             doc="SuperSpike fast-sigmoid scale per threshold gap "
                                 "(v_th - E_L), not per mV"),
    "grad_norm_clip": Field("float", 1.0, low=0, doc="gradient-norm clipping (0: off)"),
    "cv_high_loss": Field("float", 10.0, low=0, doc="CV loss of a neuron with fewer than two "
                          "inter-spike intervals (no gradient)"),
    "optimise": Field("str", "weights", choices=("weights", "recurrent", "feedforward"),
                      doc="which weights learn: all, recurrent only, feedforward only"),
}


def common_schema(targets: dict, hyperparameters: dict, extra: dict | None = None) -> dict:
    return {"simulation": dict(SIMULATION), "targets": targets,
            "hyperparameters": {**HYPERPARAMETERS, **hyperparameters},
            "network": dict(NETWORK), "physiology": dict(PHYSIOLOGY),
            "synapses": dict(SYNAPSES), "input": dict(INPUT), **(extra or {})}


def rate_targets(default_hz: str = "0.5 Hz") -> dict:
    return {
        "firing_rates": Field("quantity", default_hz, unit="frequency", low=0, low_open=True,
                              doc="target firing rate of every neuron"),
        "firing_rates.excitatory": Field("str", "", doc="target rate of excitatory cells "
                                         "(e.g. '0.5 Hz'; empty: firing_rates)"),
        "firing_rates.inhibitory": Field("str", "", doc="target rate of inhibitory cells "
                                         "(empty: firing_rates)"),
        "cvs": Field("float", 1.0, low=0, low_open=True, doc="target ISI coefficient of "
                     "variation"),
        "cvs.excitatory": Field("str", "", doc="target CV of excitatory cells (empty: cvs)"),
        "cvs.inhibitory": Field("str", "", doc="target CV of inhibitory cells (empty: cvs)"),
    }


def per_type_targets(config) -> tuple[dict, dict]:
    """``({type: rate_hz}, {type: cv})`` from ``targets`` (per-type values override)."""
    from protocols.config import parse_quantity

    t = config.targets
    rates, cvs = {}, {}
    for cell in CELL_TYPES:
        text = t[f"firing_rates.{cell}"]
        if text:
            try:
                rate = float(parse_quantity(text, "frequency"))
            except ValueError as exc:
                raise ConfigError(config.source, f"targets.firing_rates.{cell}", str(exc)) \
                    from None
            if not rate > 0:
                raise ConfigError(config.source, f"targets.firing_rates.{cell}",
                                  f"got {text!r}; allowed value > 0 Hz")
        else:
            rate = float(t.firing_rates)
        rates[cell] = rate
        text = t[f"cvs.{cell}"]
        if text:
            try:
                cv = float(text)
            except ValueError:
                raise ConfigError(config.source, f"targets.cvs.{cell}",
                                  f"got {text!r}; expected a number > 0") from None
            if not cv > 0:
                raise ConfigError(config.source, f"targets.cvs.{cell}",
                                  f"got {text!r}; allowed value > 0")
        else:
            cv = float(t.cvs)
        cvs[cell] = cv
    return rates, cvs


def validate(config) -> None:
    """Checks across keys, before anything runs."""
    s = config.simulation
    steps = float(s.duration / s.dt)
    if abs(steps - round(steps)) > 1e-6 or round(steps) < 2:
        raise ConfigError(config.source, "simulation.duration",
                          f"got {s.duration}; it must be a whole number (>= 2) of "
                          f"simulation.dt = {s.dt}")
    if s.checkpoint_interval % s.accumulation_interval:
        raise ConfigError(config.source, "simulation.checkpoint_interval",
                          f"got {s.checkpoint_interval}; it must be a multiple of "
                          f"simulation.accumulation_interval = {s.accumulation_interval}, so "
                          "a checkpoint never splits an accumulation window")
    for key in ("p_within", "p_between", "w_mean", "w_std"):
        if len(config.network[key]) != 4:
            raise ConfigError(config.source, f"network.{key}", f"got "
                              f"{len(config.network[key])} values; expected 4: E->E, E->I, "
                              "I->E, I->I")
    for cell in CELL_TYPES:
        p = config.physiology
        if not float(p[f"{cell}.theta"]) > float(p[f"{cell}.E_L"]):
            raise ConfigError(config.source, f"physiology.{cell}.theta",
                              f"got {p[f'{cell}.theta']}; the threshold must lie above "
                              f"E_L = {p[f'{cell}.E_L']}")
    for name in SYNAPSE_NAMES:
        syn = config.synapses
        if float(syn[f"{name}.tau_rise"]) == float(syn[f"{name}.tau_decay"]):
            raise ConfigError(config.source, f"synapses.{name}.tau_rise",
                              "must differ from tau_decay (difference of exponentials)")
    rate_dt = float(config.input.firing_rate * s.dt)
    if rate_dt > 1:
        raise ConfigError(config.source, "input.firing_rate",
                          f"got {config.input.firing_rate}: more than one spike per step of "
                          f"{s.dt}")
    if config.network.connectome == "assembly":
        n_e = round(config.network.fraction_excitatory * config.network.n_neurons)
        smallest = min(n_e, config.network.n_neurons - n_e)
        if config.network.n_assemblies > smallest:
            raise ConfigError(config.source, "network.n_assemblies",
                              f"got {config.network.n_assemblies}; at most {smallest} (the "
                              "size of the smaller cell type)")
    per_type_targets(config)


# ----------------------------------------------------------------------------- set-up
def n_steps(config) -> int:
    return int(round(float(config.simulation.duration / config.simulation.dt)))


def model_from(config):
    """The :class:`models.coba.COBAModel` of a config's physiology and synapses."""
    from models import coba

    p, syn = config.physiology, config.synapses
    cells = []
    for base in (coba.EXCITATORY, coba.INHIBITORY):
        c = base.name
        cells.append(base._replace(tau_mem=p[f"{c}.tau_mem"], v_th=p[f"{c}.theta"],
                                   v_reset=p[f"{c}.U_reset"], E_L=p[f"{c}.E_L"],
                                   g_L=p[f"{c}.g_L"], t_ref=p[f"{c}.tau_ref"]))
    synapses = tuple(coba.SynapseType(n, syn[f"{n}.tau_rise"], syn[f"{n}.tau_decay"],
                                      syn[f"{n}.E_syn"], syn[f"{n}.g_bar"])
                     for n in SYNAPSE_NAMES)
    return coba.COBAModel(cell_types=tuple(cells), input_type=coba.MITRAL, synapses=synapses)


def _matrix(values) -> tuple:
    return ((values[0], values[1]), (values[2], values[3]))


def connectome_from(config):
    """The recurrent connectome: the seeded assembly network, or a user's file."""
    from models import connectome as cm
    from models.rng import stream

    net = config.network
    if net.connectome == "assembly":
        return cm.assembly_network(
            net.n_neurons, fractions=(net.fraction_excitatory, 1 - net.fraction_excitatory),
            n_assemblies=net.n_assemblies, p_within=_matrix(net.p_within),
            p_between=_matrix(net.p_between), w_mean=_matrix(net.w_mean),
            w_std=_matrix(net.w_std),
            rng=stream(config.simulation.seed, block=0, purpose="structure"))
    try:
        return cm.load_connectome(net.connectome, labels=net.labels or None)
    except cm.ConnectomeError as exc:
        raise UsageError(f"network.connectome: {exc}") from None


def inputs_from(config, connectome):
    """Feedforward weights [n_inputs, n] and the input rates per odour [odours, n_inputs]."""
    from models import connectome as cm
    from models.rng import stream

    i = config.input
    seed = config.simulation.seed
    ff = cm.feedforward_weights(i.n_inputs, connectome.cell_type,
                                p=(i.p_excitatory, i.p_inhibitory),
                                w_mean=(i.w_mean, i.w_mean), w_std=(i.w_std, i.w_std),
                                rng=stream(seed, block=0, purpose="input"))
    rates = cm.input_rates(i.n_inputs, float(i.firing_rate), n_odours=i.n_odours,
                           modulated_fraction=i.modulated_fraction, modulation=i.modulation,
                           rng=stream(seed, block=0, purpose="thresholds"))
    return ff, rates


def epoch_input(config, rates, epoch: int, batch: int | None = None, *,
                block: int = 1) -> np.ndarray:
    """The mitral-cell spikes of one epoch: bool [batch, n_steps, n_inputs], drawn from the
    epoch's own stream (so a resumed run gets the same input as a straight one); ``block`` 2
    is held-out input (the fitting teacher's targets)."""
    from models import connectome as cm
    from models.rng import stream

    batch = config.simulation.batch_size if batch is None else batch
    odour = (epoch - 1) % rates.shape[0]
    dt_s = float(config.simulation.dt)
    rng = stream(config.simulation.seed, block=block, trial=epoch, purpose="input")
    return np.stack([cm.poisson_input(rates[odour], n_steps(config), dt_s, rng)
                     for _ in range(batch)])


def estimate_memory(config, jobs=None) -> tuple[float, str]:
    """Peak bytes of one epoch: the autograd graph of every step of a batch.

    About 30 float32 values per neuron and step are kept for back-propagation
    (the compiled update's intermediates, seven state variables, spikes and
    their surrogate inputs; measured: 24 at the default 5000 neurons, peak
    11.4 GB resident for a 10-s epoch); weights with their gradients and Adam moments
    are 4 copies: dense ``n x (n + n_inputs)``, or (sparse layout) one value and one
    index per synapse, taken as at most 10% of the pairs.
    """
    s = config.simulation
    n = config.network.n_neurons if config.network.connectome == "assembly" else 5000
    steps = n_steps(config)
    graph = 30 * 4.0 * s.batch_size * steps * n
    weights = 4 * 4.0 * n * (n + config.input.n_inputs)
    if s.weight_layout == "sparse" or (s.weight_layout == "auto" and n >= 2000):
        weights *= 0.1 * 3 / 2           # 10% of the pairs; an int64 index beside each value
    detail = (f"{s.batch_size} x {steps} steps x {n} neurons kept for back-propagation "
              f"({graph / 2**30:.1f} GiB); shorten simulation.duration or use fewer neurons")
    return 600 * 2**20 + graph + weights, detail


def versions() -> dict:
    import brian2
    import torch

    from protocols import chaos

    return {**chaos.versions(), "torch": torch.__version__, "brian2": brian2.__version__}


# ----------------------------------------------------------------------------- statistics
def spike_statistics(spikes: np.ndarray, cell_type: np.ndarray, dt_s: float) -> dict:
    """Per-neuron rates, CVs and Fano factors (100 ms bins) of [batch, steps, n] 0/1 spikes,
    pooled over the batch, and their per-type summaries."""
    from analysis import snn_plots

    batch, steps, n = spikes.shape
    duration = steps * dt_s
    counts = spikes.sum(axis=(0, 1)) / batch
    rates = counts / duration
    cv = np.full(n, np.nan)
    isi_all, isi_cell = [], []
    fano_counts = []
    bin_steps = max(1, int(round(0.1 / dt_s)))
    for b in range(batch):
        st, nn = np.nonzero(spikes[b])
        isi, owner = snn_plots.isi_per_neuron(st, nn, n, dt_s)
        isi_all.append(isi)
        isi_cell.append(owner)
        fano_counts.append(snn_plots.spike_counts(st, nn, n, steps, bin_steps))
    isi = np.concatenate(isi_all) if isi_all else np.zeros(0)
    owner = np.concatenate(isi_cell) if isi_cell else np.zeros(0, dtype=int)
    if isi.size:
        count = np.bincount(owner, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(owner, weights=isi, minlength=n) / count
            # two passes (deviations from each neuron's mean), not E[x^2] - E[x]^2
            var = np.bincount(owner, weights=(isi - mean[owner]) ** 2, minlength=n) / count
            cv = np.where(count >= 2, np.sqrt(var) / mean, np.nan)
    fano = snn_plots.fano_per_neuron(np.concatenate(fano_counts, axis=0))
    out = {"rates_hz": rates, "cv": cv, "fano": fano, "isi_s": isi, "isi_neuron": owner,
           "mean_rate": float(rates.mean()), "std_rate": float(rates.std()),
           "mean_cv": float(np.nanmean(cv)) if np.isfinite(cv).any() else float("nan"),
           "active_fraction": float((counts > 0).mean())}
    for t, cell in enumerate(CELL_TYPES):
        sel = cell_type == t
        short = SHORT[cell]
        out[f"mean_rate_{short}"] = float(rates[sel].mean()) if sel.any() else float("nan")
        cvs = cv[sel]
        out[f"mean_cv_{short}"] = float(np.nanmean(cvs)) if np.isfinite(cvs).any() \
            else float("nan")
    return out


# ----------------------------------------------------------------------------- objective
class SNNObjective:
    """One epoch: fresh input, simulate ``duration``, losses, backward; every
    ``accumulation_interval`` epochs one optimiser step (see :mod:`training.trainer`).

    ``losses(out, window) -> dict`` of tensors with ``"total"`` is given by the
    protocol; ``window`` holds the pooled, detached ISI moments of the earlier
    epochs the CV counts: those of the accumulation window, or more to cover
    ``simulation.cv_window`` of simulated time (the CV is estimated over the
    batch and these epochs, the gradient flows through the current epoch).
    A CV from few intervals is biased low (a Poisson train at 0.5 Hz gives a
    mean CV of 0.71 over 10 s, 0.94 over 50 s), hence the window.
    """

    def __init__(self, config, twin, rates, out_dir: Path, losses, *, connectome, ff_weights,
                 teacher=None, describe=None, needs_moments: bool = False):
        import torch

        from training import snn_losses

        self.config = config
        self.twin = twin
        self.rates = rates
        self.out_dir = Path(out_dir)
        self.losses = losses
        self.connectome = connectome
        self.ff_weights = ff_weights
        self.teacher = teacher
        self.describe = describe
        self.needs_moments = needs_moments
        self.dt_s = float(config.simulation.dt)
        self.interval = config.simulation.accumulation_interval
        self.report_every = config.simulation.report_interval or self.interval
        self.device = torch.device("cpu")
        self.epoch = 0
        self.state = None
        self.teacher_state = None
        self.age = None
        self.past: list = []       # detached ISI moments of the latest epochs, oldest first
        per_epoch = float(config.simulation.duration) * config.simulation.batch_size
        self.cv_history = max(0, math.ceil(float(config.simulation.cv_window) / per_epoch
                                           - 1e-9) - 1)
        self.history: list[dict] = []
        self.last: dict = {}
        n = twin.n
        self.record = list(np.linspace(0, n - 1, min(config.simulation.record_neurons, n))
                           .round().astype(int)) if config.simulation.record_neurons else None
        self._losses_mod = snn_losses

    # -- trainer contract
    def to(self, device):
        self.device = device
        return self

    def _window_moments(self, epoch: int):
        """Pooled, detached ISI moments of the earlier epochs the CV of ``epoch`` counts: those
        of its accumulation window, or the last ``cv_history`` epochs if more."""
        n_prev = max((epoch - 1) % self.interval, self.cv_history)
        pooled = self._losses_mod.ISIMoments.zeros(self.twin.n, self.device,
                                                   self.twin.c_v_th.dtype)
        for m in self.past[len(self.past) - min(n_prev, len(self.past)):]:
            pooled = pooled + m
        return pooled

    def train_epoch(self, model, step) -> dict:
        import torch

        epoch = self.epoch + 1
        spikes_in = torch.as_tensor(epoch_input(self.config, self.rates, epoch),
                                    device=self.device)
        teacher_out = None
        if self.teacher is not None:
            with torch.no_grad():
                teacher_out = self.teacher(spikes_in, self.teacher_state)
            self.teacher_state = teacher_out.state.detach()
        out = model(spikes_in, self.state, record_v=self.record, moments=self.needs_moments)
        moments, age = self._losses_mod.isi_moments(out.spikes, self.dt_s, self.age)
        window = self._window_moments(epoch)
        terms = self.losses(out, window + moments, teacher_out)
        total = terms["total"]
        total.backward()
        update = epoch % self.interval == 0
        step(total, update=update)
        # carry the network and the age trace, detached, into the next epoch
        self.state = out.state.detach()
        self.age = type(age)(*(a.detach() for a in age))
        self.past.append(moments.detach())
        del self.past[:max(0, len(self.past) - max(self.interval - 1, self.cv_history))]
        self.epoch = epoch
        spikes = out.spikes.detach().cpu().numpy()
        stats = spike_statistics(spikes, self.connectome.cell_type, self.dt_s)
        self.last = {"spikes": spikes, "stats": stats, "inputs": spikes_in.cpu().numpy(),
                     "v": None if out.v is None else out.v.detach().cpu().numpy(),
                     "teacher": None if teacher_out is None
                     else teacher_out.spikes.cpu().numpy()}
        result = {"train_loss": float(total.detach())}
        result.update({f"{k}_loss" if not k.endswith("loss") else k: float(v.detach())
                       for k, v in terms.items() if k != "total"})
        result.update({k: stats[k] for k in ("mean_rate", "std_rate", "active_fraction",
                                              "mean_rate_E", "mean_rate_I")})
        # the CVs the loss sees: ISIs that end in this epoch and the earlier epochs it pools
        # (simulation.cv_window), their ages carried across epochs (an epoch's own spike
        # trains would cut long intervals short)
        with torch.no_grad():
            cv, valid = self._losses_mod.cv_from_moments(window + moments)
        cv = np.where(valid.cpu().numpy(), cv.cpu().numpy(), np.nan)
        stats["cv_window"] = cv
        ct = np.asarray(self.connectome.cell_type)
        result["mean_cv"] = float(np.nanmean(cv)) if np.isfinite(cv).any() else float("nan")
        for t, cell in enumerate(CELL_TYPES):
            sel = cv[ct == t]
            result[f"mean_cv_{SHORT[cell]}"] = (float(np.nanmean(sel)) if np.isfinite(sel).any()
                                               else float("nan"))
        self.last_total = float(total.detach())
        return result

    def evaluate(self, model) -> dict:
        """"Best" is the lowest total loss of an epoch (the study's best checkpoint)."""
        return {"loss": self.last_total}

    def details(self, model) -> dict:
        return {}

    def format_details(self, details) -> list:
        return []

    def after_epoch(self, epoch: int, entry: dict, print_fn) -> None:
        if self.describe is not None:
            entry.update(self.describe(self, entry))
        self.history.append({k: v for k, v in entry.items() if isinstance(v, (int, float))})
        if epoch % self.report_every and epoch != self.config.simulation.epochs:
            return
        c = self.config
        lines = [f"Epoch {epoch}/{c.simulation.epochs}:"]
        for key, label in (("cv_loss", "CV Loss"), ("fr_loss", "FR Loss"),
                           ("silent_loss", "Silent Penalty"),
                           ("membrane_variance_loss", "Membrane Variance Loss"),
                           ("van_rossum_loss", "Van Rossum Loss")):
            if key in entry:
                lines.append(f"  {label}: {entry[key]:.6f}")
        lines += [f"  Total Loss: {entry['train_loss']:.6f}",
                  f"  Mean FR: {entry['mean_rate']:.2f} Hz",
                  f"  Mean CV: {entry['mean_cv']:.2f}",
                  f"  Active fraction: {entry['active_fraction']:.2f}"]
        for key in ("weight_correlation", "rate_error_E", "rate_error_I"):
            if key in entry:
                lines.append(f"  {key.replace('_', ' ').capitalize()}: {entry[key]:.3f}")
        if c.simulation.plots:
            lines.append("  Generating plots...")
            folder = self.out_dir / "figures" / f"epoch_{epoch:04d}"
            made = epoch_figures(self, folder)
            wandb = sys.modules.get("wandb")   # imported by the trainer when simulation.wandb is on
            if wandb is not None and getattr(wandb, "run", None) is not None:
                wandb.log({f"figures/{Path(p).stem}": wandb.Image(str(p)) for p in made},
                          step=epoch, commit=False)
            shown = os.path.relpath(folder) if not os.path.isabs(str(self.out_dir)) else folder
            lines.append(f"  Saved plots to {shown}")
        print_fn("\n".join(lines))

    def state_dict(self) -> dict:
        # (the trainer saves the gradients accumulated so far in a window itself)
        state = {"epoch": self.epoch, "history": json.dumps(self.history)}
        if self.state is not None:
            state["network"] = {k: v.cpu() for k, v in self.state.values.items()}
            state["since_spike"] = self.state.since_spike.cpu()
        if self.teacher_state is not None:
            state["teacher_network"] = {k: v.cpu() for k, v in self.teacher_state.values.items()}
            state["teacher_since_spike"] = self.teacher_state.since_spike.cpu()
        if self.age is not None:
            state["age"] = [a.cpu() for a in self.age]
        if self.past:
            state["past_moments"] = [[w.cpu() for w in m] for m in self.past]
        return state

    def load_state_dict(self, state: dict) -> None:
        from training import snn

        dev = self.device
        self.epoch = int(state["epoch"])
        self.history = json.loads(state["history"])
        if "network" in state:
            self.state = snn.TwinState({k: v.to(dev) for k, v in state["network"].items()},
                                       state["since_spike"].to(dev))
        if "teacher_network" in state:
            self.teacher_state = snn.TwinState(
                {k: v.to(dev) for k, v in state["teacher_network"].items()},
                state["teacher_since_spike"].to(dev))
        if "age" in state:
            self.age = self._losses_mod.AgeState(*(a.to(dev) for a in state["age"]))
        self.past = [self._losses_mod.ISIMoments(*(w.to(dev) for w in m))
                     for m in state.get("past_moments", [])]


# ----------------------------------------------------------------------------- figures
def epoch_figures(objective: SNNObjective, folder: Path) -> list:
    """The study's figures of the last epoch, into ``folder``."""
    from analysis import snn_plots as sp

    folder.mkdir(parents=True, exist_ok=True)
    c = objective.config
    last = objective.last
    ct = np.asarray(objective.connectome.cell_type)
    names = np.asarray(CELL_TYPES)[ct]          # the figures take type names
    stats = last["stats"]
    dt_s = objective.dt_s
    rates_t, cvs_t = per_type_targets(c)
    made = []

    def draw(fn, *args, **kwargs):
        try:
            made.append(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 -- a figure never stops training
            print(f"  figure {args[-1] if args else ''} not drawn: {type(exc).__name__}: {exc}")

    con = objective.connectome
    if (np.asarray(con.assembly) >= 0).any():
        draw(sp.assembly_graph, con.assembly_weights(), folder / "assembly_graph.png")
    weights = objective.twin.recurrent_weights().cpu().numpy()
    draw(sp.connectivity_matrix, weights, names, folder / "connectivity_matrix.png")
    st, cells = np.nonzero(last["inputs"][0])
    window = min(2.0, last["inputs"].shape[1] * dt_s)    # at most the epoch
    draw(sp.mitral_raster, st, cells, last["inputs"].shape[2], dt_s,
         folder / "mitral_cell_spikes.png", window_s=window)
    ff = objective.twin.weight("w_in").detach().cpu().numpy()
    draw(sp.feedforward_connectivity, ff, names, folder / "feedforward_connectivity.png")
    st, nn = np.nonzero(last["spikes"][0])
    draw(sp.spike_raster, st, nn, names, dt_s, folder / "spike_raster.png", window_s=window)
    draw(sp.firing_rate_distribution, stats["rates_hz"], names,
         folder / "firing_rate_distribution.png", target_hz=rates_t)
    if last["v"] is not None and objective.record:
        thresholds = objective.twin.c_v_th.cpu().numpy()[objective.record]
        labels = [f"neuron {i} ({SHORT[CELL_TYPES[ct[i]]]})" for i in objective.record]
        draw(sp.membrane_voltages, last["v"][0], dt_s, folder / "membrane_voltages.png",
             neuron_ids=objective.record, thresholds_mv=thresholds, cell_labels=labels)
    draw(sp.fano_factors, stats["fano"], names, folder / "fano_factors.png", window_s=0.1)
    draw(sp.cv_histogram, stats.get("cv_window", stats["cv"]), names, folder / "cv_histogram.png", target_cv=cvs_t)
    owner_type = names[stats["isi_neuron"]] if stats["isi_s"].size else None
    draw(sp.isi_distribution, stats["isi_s"], folder / "isi_distribution.png",
         cell_type_of_isi=owner_type)
    return made


# ----------------------------------------------------------------------------- outputs
def write_parameters(config, out_dir: Path) -> None:
    """``parameters.yaml`` (resolved) and ``parameters.toml`` (the study's file name)."""
    text = config.to_yaml()
    (out_dir / "parameters.yaml").write_text(text, encoding="utf-8")
    (out_dir / "parameters.toml").write_text(to_toml(config), encoding="utf-8")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, int) or math.isfinite(value) else "nan"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def to_toml(config) -> str:
    """The resolved config as TOML (values as in ``parameters.yaml``: quantities as strings
    with units); ``snnsuite run`` reads it back."""
    plain = config.to_dict()
    lines = [f'experiment = "{config.experiment}"']
    for section, values in plain.items():
        if section == "experiment" or not isinstance(values, dict):
            continue
        lines.append(f"\n[{section}]")
        for key, value in values.items():
            # a dotted key is written quoted, as one key: TOML cannot hold both
            # firing_rates = ... and a table firing_rates.excitatory
            name = key if key.replace("_", "").isalnum() else json.dumps(key)
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_metadata(config, out_dir: Path, extra: dict) -> None:
    meta = {"experiment": config.experiment, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seed": config.simulation.seed, "versions": versions(),
            "python": platform.python_version(), "host": platform.node(), **extra}
    tmp = out_dir / "metadata.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, out_dir / "metadata.json")


LOG_KEYS = ("epoch", "train_loss", "fr_loss", "cv_loss", "silent_loss",
            "membrane_variance_loss", "van_rossum_loss", "mean_rate", "std_rate", "mean_cv",
            "active_fraction", "mean_rate_E", "mean_rate_I", "mean_cv_E", "mean_cv_I",
            "learning_rate", "epoch_time", "weight_correlation", "rate_error_E",
            "rate_error_I", "cv_error_E", "cv_error_I")


def write_results(out_dir: Path, name: str, config, log: list, summary: dict,
                  arrays: dict) -> Path:
    """``results.h5``: one point ``training`` with the loss curves, per-epoch statistics and
    the final network's arrays; rewritten whole at the end of every session."""
    from analysis.results import ResultWriter

    for stale in (out_dir / "results.h5", out_dir / "points"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            os.remove(stale)
    writer = ResultWriter(out_dir, name, config.to_yaml(), config.simulation.seed, versions())
    datasets = {f"log_{k}": np.array([e.get(k, np.nan) for e in log], dtype=float)
                for k in LOG_KEYS}
    datasets.update(arrays)
    attrs = {k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))}
    writer.write_point("training", attrs, datasets)
    path = writer.finalize()
    writer.discard_shards()
    return path


def final_arrays(objective: SNNObjective) -> dict:
    stats = objective.last.get("stats")
    out = {"cell_type": np.asarray(objective.connectome.cell_type, dtype=np.int8)}
    if stats is not None:
        out.update(rates_hz=stats["rates_hz"], cv=stats.get("cv_window", stats["cv"]), fano=stats["fano"])
    w = objective.twin.recurrent_weights().cpu().numpy()
    pre, post = np.nonzero(w)
    out.update(weights_pre=pre.astype(np.int32), weights_post=post.astype(np.int32),
               weights=w[pre, post])
    return out


# ----------------------------------------------------------------------------- TOML
def translate_study_toml(data: dict, experiment: str) -> dict:
    """The study's TOML parameter file (``[simulation]``, ``[targets]``,
    ``[hyperparameters]``, ``[feedforward.*]``, ``[recurrent.*]``; numbers in ms,
    mV, nS, Hz) as this suite's sections with units.  A file already in the
    suite's layout (it has ``experiment``) passes through unchanged."""
    if "experiment" in data or not ({"recurrent", "feedforward"} & set(data)
                                    or "chunk_size" in data.get("simulation", {})):
        return data
    out: dict = {"experiment": experiment}
    sim = dict(data.get("simulation", {}))
    s = out.setdefault("simulation", {})
    for key in ("epochs", "accumulation_interval", "checkpoint_interval", "seed", "batch_size"):
        if key in sim:
            s[key] = sim.pop(key)
    if "dt" in sim:
        s["dt"] = f"{sim.pop('dt')} ms"
    if "chunk_size" in sim:
        s["duration"] = f"{sim.pop('chunk_size')} ms"
    if sim:
        raise ConfigError(None, "simulation", f"the study's keys {sorted(sim)} have no "
                          "counterpart in this suite")
    targets = dict(data.get("targets", {}))
    t = out.setdefault("targets", {})
    for key in ("firing_rates", "firing_rate"):
        if key in targets:
            value = targets.pop(key)
            if isinstance(value, dict):
                for cell, rate in value.items():
                    t[f"firing_rates.{cell}"] = f"{rate} Hz"
            else:
                t["firing_rates"] = f"{value} Hz"
    if "cvs" in targets:
        value = targets.pop("cvs")
        if isinstance(value, dict):
            for cell, cv in value.items():
                t[f"cvs.{cell}"] = str(cv)
        else:
            t["cvs"] = value
    for key, value in targets.items():
        t[key] = value
    h = dict(data.get("hyperparameters", {}))
    if "surrgrad_scale" in h:
        h.pop("surrgrad_scale")   # per mV in the study; ours is per threshold gap (docs)
    out["hyperparameters"] = h
    ff = data.get("feedforward", {})
    i = out.setdefault("input", {})
    if "topology" in ff:
        topo = ff["topology"]
        if "num_neurons" in topo:
            i["n_inputs"] = topo["num_neurons"]
        if "conn_inputs" in topo:
            i["p_excitatory"], i["p_inhibitory"] = topo["conn_inputs"][0][:2]
    if "weights" in ff:
        i["w_mean"] = ff["weights"]["w_mu"][0][0]
        i["w_std"] = ff["weights"]["w_sigma"][0][0]
    for cell_values in ff.get("activity", {}).values():
        if "firing_rate" in cell_values:
            i["firing_rate"] = f"{cell_values['firing_rate']} Hz"
    rec = data.get("recurrent", {})
    n = out.setdefault("network", {})
    topo = rec.get("topology", {})
    if "num_neurons" in topo:
        n["n_neurons"] = topo["num_neurons"]
    if "num_assemblies" in topo:
        n["n_assemblies"] = topo["num_assemblies"]
    for ours, theirs in (("p_within", "conn_within"), ("p_between", "conn_between")):
        if theirs in topo:
            n[ours] = [x for row in topo[theirs] for x in row]
    weights = rec.get("weights", {})
    if "w_mu" in weights:
        n["w_mean"] = [x for row in weights["w_mu"] for x in row]
    if "w_sigma" in weights:
        n["w_std"] = [x for row in weights["w_sigma"] for x in row]
    proportion = rec.get("cell_types", {}).get("proportion")
    if proportion:
        n["fraction_excitatory"] = float(proportion[0]) / float(sum(proportion))
    units = {"tau_mem": "ms", "theta": "mV", "U_reset": "mV", "E_L": "mV", "g_L": "nS",
             "tau_ref": "ms"}
    p = out.setdefault("physiology", {})
    for cell, values in rec.get("physiology", {}).items():
        for key, value in values.items():
            p[f"{cell}.{key}"] = f"{value} {units.get(key, '')}".strip()
    syn_units = {"tau_rise": "ms", "tau_decay": "ms", "E_syn": "mV", "g_bar": "nS"}
    syn = out.setdefault("synapses", {})
    for block in (rec.get("synapses", {}), ff.get("synapses", {})):
        for values in block.values():
            for index, name in enumerate(values.get("names", [])):
                for key, unit in syn_units.items():
                    if key in values:
                        syn[f"{name}.{key}"] = f"{values[key][index]} {unit}"
    return out


# ----------------------------------------------------------------------------- the run
RESUMABLE = ("simulation.epochs", "simulation.plots", "simulation.report_interval",
             "simulation.wandb", "simulation.threads", "simulation.checkpoint_interval",
             "simulation.device")


def trainer_config(config):
    from training.trainer import TrainerConfig

    s, h = config.simulation, config.hyperparameters
    return TrainerConfig(
        max_epochs=s.epochs, lr=h.learning_rate, clip_norm=h.grad_norm_clip,
        early_stopping=0, checkpoint_every=s.checkpoint_interval, log_every=0,
        report_every=0, monitor="loss", mode="min", seed=s.seed, device=s.device,
        wandb=s.wandb, latest_name="checkpoints/checkpoint_latest.pt",
        best_name="checkpoints/checkpoint_best.pt", final_name="", epoch_name="",
        scheduler="none")


def make_twin(config, model, connectome, ff, *, learn=None):
    from training.snn import COBATwin

    h = config.hyperparameters
    learn = learn or h.optimise
    return COBATwin(model, connectome, ff, float(config.simulation.dt / 1e-3),
                    surrogate_scale=h.surrogate_scale, learn=learn,
                    layout=config.simulation.weight_layout)


def check_resume(out_dir: Path, name: str, resume: bool) -> None:
    """A ``--resume`` must find this experiment's checkpoint; a fresh run must not find one."""
    from training.trainer import TrainingError, load_checkpoint

    latest = out_dir / "checkpoints" / "checkpoint_latest.pt"
    if not resume:
        if latest.exists():
            raise UsageError(f"{out_dir}: already holds a training run "
                             "(checkpoints/checkpoint_latest.pt); pass --resume to continue it, "
                             "or choose another --out")
        return
    if not latest.is_file():
        raise UsageError(f"{out_dir}: nothing to resume (no checkpoints/checkpoint_latest.pt); "
                         "run without --resume")
    try:
        state = load_checkpoint(latest)
    except TrainingError as exc:
        raise UsageError(str(exc)) from None
    try:
        saved = json.loads(state["config"]).get("experiment")
    except (KeyError, ValueError, AttributeError):
        saved = None
    if saved != name:
        raise UsageError(f"{latest}: a checkpoint of experiment {saved!r}, not {name!r}; resume "
                         f"it with its own config, or choose another --out")


def run_training(name: str, config, out_dir: Path, *, resume: bool, losses_for, describe=None,
                 teacher_for=None, backend: str = "runtime", jobs=None, summary_for=None) -> Path:
    """Set up, train with the shared trainer, write every output; returns ``results.h5``."""
    import torch

    from protocols import outdir
    from training.trainer import Trainer, TrainingError

    if backend != "runtime":
        raise UsageError(f"--backend {backend}: {name} trains the torch twin (CPU, or CUDA with "
                         "simulation.device); the Brian2 back-ends simulate the exported "
                         "network (training.snn.export_to_brian2)")
    threads = jobs if jobs is not None else config.simulation.threads
    if threads:
        torch.set_num_threads(threads)
    out_dir = outdir.claim(out_dir, name)
    check_resume(out_dir, name, resume)
    # 1. the network: model, connectome, inputs (numpy, from the seed's streams)
    model = model_from(config)
    connectome = connectome_from(config)
    ff, rates = inputs_from(config, connectome)
    twin = make_twin(config, model, connectome, ff)
    teacher, extra = (None, {})
    if teacher_for is not None:
        twin, teacher, extra = teacher_for(config, model, connectome, ff, twin)
    rate_targets_, cv_targets = per_type_targets(config)
    objective = SNNObjective(config, twin, rates, out_dir, losses_for(config, twin, extra),
                             connectome=connectome, ff_weights=ff, teacher=teacher,
                             describe=describe, needs_moments=teacher_for is not None)
    counts = connectome.counts()
    print(f"network: {connectome.n} neurons ({', '.join(f'{v} {k}' for k, v in counts.items())}),"
          f" {connectome.n_synapses} synapses from {connectome.source}; {ff.shape[0]} mitral "
          f"cells, {ff.nnz} feedforward synapses; dt {config.simulation.dt}, "
          f"{n_steps(config)} steps per epoch", flush=True)
    write_parameters(config, out_dir)
    write_metadata(config, out_dir, {"n_neurons": connectome.n, "n_synapses":
                                     connectome.n_synapses, "connectome": connectome.source,
                                     "status": "running", **{k: v for k, v in extra.items()
                                                             if isinstance(v, (int, float,
                                                                               str))}})
    run_config = config.to_dict()
    trainer = Trainer(twin, objective, trainer_config(config), out_dir, run_config=run_config,
                      resumable=RESUMABLE)
    if not resume:
        print("Starting training from epoch 0...\nTarget firing rate: "
              + ", ".join(f"{SHORT[c]} {r:g} Hz" for c, r in rate_targets_.items())
              + "\nTarget CV: " + ", ".join(f"{SHORT[c]} {v:g}" for c, v in cv_targets.items()),
              flush=True)
    started = time.perf_counter()
    try:
        result = trainer.fit(resume=resume)
    except TrainingError as exc:
        raise UsageError(str(exc)) from None
    elapsed = time.perf_counter() - started
    summary = {"epochs": result.epochs, "best_epoch": result.best_epoch,
               "best_loss": float(result.best_metric), "stop_reason": result.reason,
               "stop_message": result.message, "train_time_s": elapsed,
               "n_neurons": connectome.n, "n_synapses": connectome.n_synapses,
               "connectome": connectome.source, "device": str(trainer.device),
               "targets_json": json.dumps({"firing_rates_hz": rate_targets_,
                                           "cvs": cv_targets})}
    last = result.log[-1] if result.log else {}
    for key in ("mean_rate", "mean_cv", "active_fraction", "mean_rate_E", "mean_rate_I",
                "mean_cv_E", "mean_cv_I", "weight_correlation", "train_loss"):
        if key in last:
            summary[f"final_{key}"] = float(last[key])
    if summary_for is not None:
        summary.update(summary_for(objective, extra))
    arrays = final_arrays(objective)
    path = write_results(out_dir, name, config, result.log, summary, arrays)
    write_metadata(config, out_dir, {"n_neurons": connectome.n, "status": result.reason,
                                     "epochs": result.epochs, "best_epoch": result.best_epoch})
    line = "=" * 60
    print(f"{line}\nTRAINING COMPLETE ({result.reason}: {result.message})\n"
          f"  epochs {result.epochs}, best epoch {result.best_epoch} (loss "
          f"{result.best_metric:.6g}), {elapsed:.1f} s\n"
          + (f"  mean FR {last['mean_rate']:.2f} Hz (E {last['mean_rate_E']:.2f}, I "
             f"{last['mean_rate_I']:.2f}), mean CV {last['mean_cv']:.2f}\n" if last else "")
          + f"  checkpoints in {out_dir / 'checkpoints'}\n{line}", flush=True)
    if result.reason == "interrupted":
        raise KeyboardInterrupt
    return path


# ----------------------------------------------------------------------------- report
def report(results_path: Path, out_dir: Path | None, title: str, extra_lines=None) -> Path:
    """``report.md`` and the training-curve figures from ``results.h5`` alone."""
    from analysis import snn_plots
    from analysis.reports import write_report
    from analysis.results import load

    result = load(results_path)
    point = result.point
    d, s = point.data, point.attrs
    out_dir = Path(out_dir) if out_dir is not None else Path(results_path).parent
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    epochs = d["log_epoch"]
    made = []
    targets = json.loads(s.get("targets_json", "{}"))
    if len(epochs):
        curves = {k.replace("_", " "): d[f"log_{k}"] for k in
                  ("train_loss", "fr_loss", "cv_loss", "silent_loss", "membrane_variance_loss",
                   "van_rossum_loss") if np.isfinite(d[f"log_{k}"]).any()}
        made.append(snn_plots.training_curves(epochs, curves, figures / "loss_curves.png",
                                              title=title))
        stats = {label: d[f"log_{key}"] for key, label in
                 (("mean_rate_E", "mean rate E (Hz)"), ("mean_rate_I", "mean rate I (Hz)"),
                  ("mean_cv_E", "mean CV E"), ("mean_cv_I", "mean CV I"),
                  ("active_fraction", "active fraction"),
                  ("weight_correlation", "weight correlation with teacher"))
                 if np.isfinite(d[f"log_{key}"]).any()}
        goal = {}
        for cell in CELL_TYPES:
            short = SHORT[cell]
            if cell in targets.get("firing_rates_hz", {}):
                goal[f"mean rate {short} (Hz)"] = targets["firing_rates_hz"][cell]
            if cell in targets.get("cvs", {}):
                goal[f"mean CV {short}"] = targets["cvs"][cell]
        goal = {k: v for k, v in goal.items() if k in stats}
        made.append(snn_plots.statistics_over_training(epochs, stats, goal,
                                                       figures / "statistics_over_training.png"))
    lines = [f"# {title}", "",
             f"- epochs: {s.get('epochs')} (stopped: {s.get('stop_reason')}: "
             f"{s.get('stop_message')})",
             f"- best epoch: {s.get('best_epoch')} (total loss {s.get('best_loss', float('nan')):.6g})",
             f"- network: {s.get('n_neurons')} neurons, {s.get('n_synapses')} synapses "
             f"({s.get('connectome')})",
             f"- training time this session: {s.get('train_time_s', 0):.1f} s on {s.get('device')}",
             f"- targets: {s.get('targets_json')}", ""]
    if len(epochs):
        lines += ["| measure | first epoch | last epoch |", "|---|---|---|"]
        for key in ("train_loss", "mean_rate", "mean_rate_E", "mean_rate_I", "mean_cv",
                    "mean_cv_E", "mean_cv_I", "active_fraction", "weight_correlation"):
            values = d[f"log_{key}"]
            if np.isfinite(values).any():
                lines.append(f"| {key} | {values[0]:.4g} | {values[-1]:.4g} |")
        lines.append("")
    lines += list(extra_lines(result) if extra_lines else [])
    lines += ["Per-epoch figures (the study's set) are in `figures/epoch_XXXX/`; checkpoints "
              "in `checkpoints/` (`checkpoint_latest.pt` to resume, `checkpoint_best.pt` the "
              "lowest loss).", "",
              "Load the result: `from analysis.results import load; r = load('results.h5'); "
              "r.point.data['log_train_loss']`"]
    return write_report(out_dir, lines, made, result.versions)
