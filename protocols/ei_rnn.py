"""E-I rate RNN fitted to recorded trial-structured activity (torch, gradient descent).

Reads a MATLAB recording (``rates`` or ``spikes`` [trials, time, neurons],
``inputs``, ``conditions``, optional ``ei_labels``, ``dt``; see
:mod:`training.data`), splits the trials by condition into training and
validation sets, and trains an excitatory-inhibitory rate RNN with exact
Dale's law (:mod:`training.ei_rnn`) to reproduce the per-neuron PSTHs
(``L_neuron``) and the distribution of single trials (``L_trial``, trial
matching) with the shared trainer (:mod:`training.trainer`).  Then it exports
the best model's weights, validation outputs, per-neuron metrics, PCA of the
population activity, figures, ``training_report.md`` and ``results.h5``::

    snnsuite run configs/ei_rnn.yaml --set data.path=recording.mat --out results/ei_rnn
    snnsuite run configs/ei_rnn_quick.yaml            # synthetic data from a known teacher
    snnsuite run configs/ei_rnn.yaml --out results/ei_rnn --resume   # after Ctrl+C or a kill
    python -m protocols.ei_rnn configs/ei_rnn_quick.yaml

``data.path: synthetic`` writes a recording from a ground-truth E-I RNN
(:func:`training.data.make_synthetic`) into the output folder first, named by
a hash of every ``synthetic.*`` value (:func:`synthetic_path`).

Everything that depends on the data's shape is checked before the first
epoch (:func:`check_data`): data the fit cannot use is refused with one line
naming the variable or key; measures the data cannot give (Fano factors with
one validation trial per condition, PCA of one sample, decoding of one
condition, ...) are NaN and noted in ``training_report.md``.
``--jobs N`` sets torch's CPU threads (default ``trainer.threads: 1``: with one
thread a resumed run is bit-identical to a straight one; torch's first
multi-threaded call may round differently, so with more threads a resume can
differ in the last bits).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from analysis import population
from analysis.reports import write_report
from analysis.results import ResultWriter, load
from protocols import outdir
from protocols.config import ConfigError, Field, UsageError

NAME = "ei_rnn"

SCHEMA = {
    "data": {
        "path": Field("str", "synthetic", doc="MATLAB file (v5 or v7.3), or 'synthetic' for "
                      "data from a known teacher RNN written into the output folder"),
        "variables": Field("names", {}, choices=("rates", "spikes", "inputs", "conditions",
                                                 "ei_labels", "dt"),
                           doc="the file's names of variables stored under other names, e.g. "
                               "{spikes: spike_counts, conditions: trial_type}"),
        "val_fraction": Field("float", 0.2, low=0, high=1, low_open=True, high_open=True,
                              doc="fraction of each condition's trials held out for validation"),
        "smoothing": Field("quantity", "25 ms", unit="time", low=0,
                           doc="Gaussian smoothing (sigma) of PSTHs and trial signals"),
        "fano_window": Field("quantity", "100 ms", unit="time", low=0, low_open=True,
                             doc="counting window of the Fano factors"),
    },
    "synthetic": {
        "n_neurons": Field("int", 100, low=2, doc="neurons of the teacher (data.path: synthetic)"),
        "n_inputs": Field("int", 4, low=1, doc="input channels"),
        "n_conditions": Field("int", 4, low=1, doc="task conditions"),
        "trials_per_condition": Field("int", 100, low=2, doc="trials of each condition"),
        "n_steps": Field("int", 80, low=2, doc="time bins per trial"),
        "variable": Field("str", "spikes", choices=("spikes", "rates"),
                          doc="write Poisson spike counts or rates estimated from them"),
        "format": Field("str", "v5", choices=("v5", "v7.3"), doc="MATLAB file format"),
        "seed": Field("int", 0, low=0, doc="seed of the teacher and its data"),
    },
    "model": {
        "tau": Field("quantity", "50 ms", unit="time", low=0, low_open=True,
                     doc="time constant (alpha = dt/tau; dt is the recording's bin)"),
        "noise_std": Field("float", 0.1, low=0, doc="sigma of the private noise (rate units); "
                           "with learn_noise its starting value"),
        "learn_noise": Field("bool", True, doc="learn sigma with the weights, starting at "
                             "noise_std (one value; the variance and trial-matching terms set "
                             "it): the model's trial-to-trial variability follows the data's"),
        "embedding": Field("str", "attention", choices=("linear", "attention"),
                           doc="input embedding e(u)"),
        "embed_dim": Field("int", 56, low=1, doc="width of e(u)"),
        "n_heads": Field("int", 4, low=1, doc="attention heads (embed_dim divisible by it)"),
        "learn_h0": Field("bool", True, doc="learn the initial state"),
        "h0_init": Field("float", 0.1, doc="initial state of every unit"),
        "spectral_radius": Field("float", 0.9, low=0, low_open=True,
                                 doc="of W_rec at initialisation"),
        "e_fraction": Field("float", 0.8, low=0, high=1, low_open=True, high_open=True,
                            doc="E fraction when the data has no ei_labels"),
    },
    "loss": {
        "trial_scale": Field("float", 0.5, low=0, doc="scale of L_trial"),
        "weight_reg": Field("float", 1e-4, low=0, doc="lambda of the squared weights"),
        "rate_reg": Field("float", 0.1, low=0, doc="lambda of the rate-scale term"),
        "variance_reg": Field("float", 0.05, low=0, doc="lambda of the variance term"),
        "balance": Field("bool", True, doc="gradient balancing of L_neuron and L_trial"),
        "balance_momentum": Field("float", 0.9, low=0, high=1, high_open=True,
                                  doc="momentum of the running gradient norms"),
    },
    "trainer": {
        "max_epochs": Field("int", 2000, low=1, doc="epochs at most"),
        "lr": Field("float", 1e-3, low=0, low_open=True, doc="Adam learning rate"),
        "lr_factor": Field("float", 0.5, low=0, high=1, low_open=True, high_open=True,
                           doc="ReduceLROnPlateau factor"),
        "lr_patience": Field("int", 50, low=0, doc="epochs without improvement before the lr drops"),
        "min_lr": Field("float", 1e-5, low=0, doc="lower bound of the learning rate"),
        "clip_norm": Field("float", 1.0, low=0, doc="gradient-norm clipping (0: off)"),
        "early_stopping": Field("int", 300, low=0,
                                doc="epochs without improvement before stopping (0: off)"),
        "checkpoint_every": Field("int", 100, low=0, doc="epochs between checkpoints (0: off)"),
        "log_every": Field("int", 10, low=0, doc="epochs between console lines (0: off)"),
        "report_every": Field("int", 100, low=0,
                              doc="epochs between detailed reports (0: off)"),
        "batch_size": Field("int", 0, low=0, doc="trials per step (0: all training trials)"),
        "monitor": Field("str", "val_correlation",
                         choices=("val_correlation", "val_loss", "val_total_loss"),
                         doc="metric that picks the best model and drives early stopping and "
                             "the lr plateau (val_correlation: higher is better; val_loss, the "
                             "validation L_neuron, and val_total_loss: lower)"),
        "threads": Field("int", 1, low=0,
                         doc="torch CPU threads (0: torch's default; --jobs overrides); with 1, "
                             "a resumed run is bit-identical to a straight one"),
        "device": Field("str", "auto", choices=("auto", "cpu", "cuda"),
                        doc="auto: CUDA when torch sees a GPU"),
        "wandb": Field("str", "off", choices=("off", "offline", "online"),
                       doc="log to Weights & Biases (needs the wandb package)"),
    },
    "seed": {"session": Field("int", 42, low=0, doc="seeds the split, the weights, the noise")},
}

#: Keys that may change between a run and its --resume (everything else must match).
RESUMABLE = ("trainer.max_epochs", "trainer.early_stopping", "trainer.log_every",
             "trainer.report_every", "trainer.checkpoint_every", "trainer.device",
             "trainer.threads",
             "trainer.wandb")

#: Exported arrays: name in results.h5 -> (file in the output folder, shape, meaning); the
#: training plan's files under its names, then the suite's extras.  Arrays a model does not
#: have (the attention embedding's, with a linear one) are left out.
FILES = {
    "W_rec": ("weights/W_rec.npy", "[n_neurons, n_neurons]",
              "recurrent weights [post, pre], Dale's law applied"),
    "W_in": ("weights/W_in.npy", "[n_neurons, embed_dim]", "input weights (from the embedding)"),
    "W_out": ("weights/W_out.npy", "[n_outputs, n_exc]",
              "output weights: a ridge decoder of the condition from the E units' time-averaged "
              "rates, fitted after training (not trained with the network; see W_out below)"),
    "h0": ("weights/h0.npy", "[n_neurons]", "learned initial state"),
    "input_embed_linear": ("weights/input_embed_linear.npy", "[embed_dim, n_inputs*heads]",
                           "attention output projection (linear embedding: its matrix, "
                           "[embed_dim, n_inputs])"),
    "E_mask": ("weights/E_mask.npy", "[n_neurons]", "boolean mask of the E neurons"),
    "I_mask": ("weights/I_mask.npy", "[n_neurons]", "boolean mask of the I neurons"),
    "input_embed_channel": ("weights/input_embed_channel.npy", "[n_inputs, embed_dim]",
                            "attention tokens' channel embedding E (token_i = u_i E_i + P_i)"),
    "input_embed_position": ("weights/input_embed_position.npy", "[n_inputs, embed_dim]",
                             "attention tokens' position embedding P"),
    "val_model_rates": ("outputs/val_model_rates.npy", "[n_val_trials, n_time, n_neurons]",
                        "model firing rates on the validation trials, Hz"),
    "val_target_rates": ("outputs/val_target_rates.npy", "[n_val_trials, n_time, n_neurons]",
                         "recorded firing rates on the validation trials, Hz"),
    "val_model_psth": ("outputs/val_model_psth.npy", "[n_time, n_neurons]",
                       "trial-averaged model PSTH over all validation trials (smoothed), Hz"),
    "val_target_psth": ("outputs/val_target_psth.npy", "[n_time, n_neurons]",
                        "trial-averaged recorded PSTH over all validation trials (smoothed), Hz"),
    "val_trial_conditions": ("outputs/val_trial_conditions.npy", "[n_val_trials]",
                             "condition label of each validation trial"),
    "val_model_psth_by_condition": ("outputs/val_model_psth_by_condition.npy",
                                    "[n_conditions, n_time, n_neurons]",
                                    "model PSTH of each condition (smoothed), Hz"),
    "val_target_psth_by_condition": ("outputs/val_target_psth_by_condition.npy",
                                     "[n_conditions, n_time, n_neurons]",
                                     "recorded PSTH of each condition (smoothed), Hz"),
    "per_neuron_correlation": ("metrics/per_neuron_correlation.npy", "[n_neurons]",
                               "PSTH correlation per neuron (condition PSTHs, validation)"),
    "per_neuron_mean_rate_model": ("metrics/per_neuron_mean_rate_model.npy", "[n_neurons]",
                                   "mean firing rate, model, Hz"),
    "per_neuron_mean_rate_target": ("metrics/per_neuron_mean_rate_target.npy", "[n_neurons]",
                                    "mean firing rate, recording, Hz"),
    "per_neuron_variance_model": ("metrics/per_neuron_variance_model.npy", "[n_neurons]",
                                  "temporal variance of the condition PSTHs, model, Hz^2"),
    "per_neuron_variance_target": ("metrics/per_neuron_variance_target.npy", "[n_neurons]",
                                   "temporal variance of the condition PSTHs, recording, Hz^2"),
    "per_neuron_fano_model": ("metrics/per_neuron_fano_model.npy", "[n_neurons]",
                              "Fano factor of the counts across trials, model"),
    "per_neuron_fano_target": ("metrics/per_neuron_fano_target.npy", "[n_neurons]",
                               "Fano factor of the counts across trials, recording"),
    "neuron_ei_labels": ("metrics/neuron_ei_labels.npy", "[n_neurons]", "0 = E, 1 = I"),
    "pca_real": ("population/pca_real.npy", "[n_time, n_pcs]",
                 "recorded trial-averaged PSTH projected on the principal components"),
    "pca_model": ("population/pca_model.npy", "[n_time, n_pcs]",
                  "model trial-averaged PSTH projected on the same components"),
    "pca_components": ("population/pca_components.npy", "[n_pcs, n_neurons]",
                       "PCA loading vectors (of the recorded condition PSTHs)"),
    "pca_explained_variance": ("population/pca_explained_variance.npy", "[n_pcs]",
                               "fraction of the variance explained per PC"),
    "pca_real_by_condition": ("population/pca_real_by_condition.npy",
                              "[n_conditions, n_time, n_pcs]",
                              "each condition's recorded PSTH projected"),
    "pca_model_by_condition": ("population/pca_model_by_condition.npy",
                               "[n_conditions, n_time, n_pcs]",
                               "each condition's model PSTH projected"),
}
ATTENTION_FILE = "weights/attention_weights.npz"
ATTENTION_DICT_FILE = "weights/attention_weights.npy"
LOG_KEYS = ("epoch", "train_loss", "val_loss", "val_correlation", "learning_rate",
            "epoch_time", "L_neuron", "L_trial", "L_reg")
N_PCS = 10


def validate(config) -> None:
    """Checks across keys, before any data is read (``ConfigError`` names the key).

    What depends on the recording's shape (trials, bins, neurons) is checked
    by :func:`check_data` once the recording is loaded, still before training.
    """
    source, m, s, t = config.source, config.model, config.synthetic, config.trainer
    if m.embedding == "attention" and m.embed_dim % m.n_heads:
        raise ConfigError(source, "model.n_heads",
                          f"got {m.n_heads}; model.embed_dim ({m.embed_dim}) must be divisible "
                          "by it, e.g. embed_dim 56 with 4 or 8 heads")
    if m.learn_noise and m.noise_std <= 0:
        raise ConfigError(source, "model.noise_std",
                          f"got {m.noise_std:g} with model.learn_noise: true; a learned sigma "
                          "starts from noise_std and stays positive; allowed: value > 0")
    if config.data.path == "synthetic":
        n_e = int(round(TEACHER_E_FRACTION * s.n_neurons))
        if not 1 <= n_e <= s.n_neurons - 1:
            raise ConfigError(source, "synthetic.n_neurons",
                              f"got {s.n_neurons}; the teacher makes {TEACHER_E_FRACTION:.0%} of "
                              f"its neurons excitatory and needs at least one of each kind "
                              f"({n_e} E, {s.n_neurons - n_e} I here); allowed: 3 or more")
    cores = _cores()
    if t.threads > cores:
        raise ConfigError(source, "trainer.threads",
                          f"got {t.threads}; this machine has {cores} CPU cores; allowed: 0 "
                          f"(torch's default) to {cores}")


def _cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def versions() -> dict:
    from protocols import chaos

    return chaos.versions()


# ----------------------------------------------------------------------------- data
#: fraction of the synthetic teacher's neurons that are excitatory
TEACHER_E_FRACTION = 0.8


def synthetic_path(config, out_dir: Path) -> Path:
    """Where ``data.path: synthetic`` keeps its recording: named by everything that made it.

    ``data/synthetic_seed{seed}_{key}.mat``, ``key`` the first 10 hex digits
    of the SHA-256 of every ``synthetic.*`` value, so a changed size, format
    or variable makes new data while the same config (and its ``--resume``)
    reuses the file.

    >>> from protocols.config import load_config_text
    >>> def path(*settings):
    ...     config = load_config_text("experiment: ei_rnn", SCHEMA, settings)
    ...     return synthetic_path(config, "out").name
    >>> path() == path("trainer.max_epochs=3"), path() == path("synthetic.n_steps=81")
    (True, False)
    >>> path("synthetic.seed=7").startswith("synthetic_seed7_")
    True
    """
    values = config.to_dict()["synthetic"]
    key = hashlib.sha256(json.dumps(values, sort_keys=True).encode("utf-8")).hexdigest()[:10]
    return Path(out_dir) / "data" / f"synthetic_seed{values['seed']}_{key}.mat"


def _recording(config, out_dir: Path):
    """The recording named by ``data.path`` (written first when it is ``synthetic``)."""
    from training import data

    path_text = config.data.path
    if path_text == "synthetic":
        s = config.synthetic
        path = synthetic_path(config, out_dir)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                data.make_synthetic(path, n_neurons=s.n_neurons, n_inputs=s.n_inputs,
                                    n_conditions=s.n_conditions,
                                    trials_per_condition=s.trials_per_condition,
                                    n_steps=s.n_steps, e_fraction=TEACHER_E_FRACTION,
                                    variable=s.variable, format=s.format, seed=s.seed)
            except MemoryError as exc:
                raise UsageError(
                    f"synthetic: {s.n_conditions} conditions x {s.trials_per_condition} trials "
                    f"x {s.n_steps} bins x {s.n_neurons} neurons do not fit in memory ({exc}); "
                    "allowed: smaller synthetic.n_neurons, synthetic.n_conditions, "
                    "synthetic.trials_per_condition or synthetic.n_steps") from None
    else:
        path = Path(path_text)
        _check_data_file(path)
    try:
        return data.load_recording(path, config.data.variables)
    except data.DataError as exc:
        raise UsageError(f"data.path: {exc}") from None


def _check_data_file(path: Path) -> None:
    """One line when the recording named by ``data.path`` is not there, with the way out."""
    if not path.is_file():
        where = "is not a file" if path.exists() else "does not exist"
        raise UsageError(f"data.path: {path} {where} (relative paths are from the working "
                         f"folder {Path.cwd()}); put the recording there, name it with --set "
                         "data.path=FILE, or train on synthetic data from a known teacher: "
                         "--set data.path=synthetic")


def _split(config, recording):
    from training import data

    return data.split_trials(recording.condition_index, config.data.val_fraction,
                             config.seed.session)


def _tensors(recording, index, rate_unit_hz: float):
    import torch

    from training.objectives import Trials

    counts = None if recording.counts is None else recording.counts[index]
    return Trials(torch.as_tensor(recording.inputs[index], dtype=torch.float32),
                  torch.as_tensor(recording.rates_hz[index] / rate_unit_hz, dtype=torch.float32),
                  torch.as_tensor(recording.condition_index[index], dtype=torch.int64), counts)


def check_data(config, recording, train_idx, val_idx) -> dict:
    """Every check that depends on the data's shape, made before the first epoch.

    Data the fit cannot use is refused: ``UsageError`` naming the data
    variable (fewer than 2 neurons, no activity at all) or ``ConfigError``
    naming the key (``model.tau`` below the bin, ``model.e_fraction`` giving
    no E unit, ``data.smoothing`` wider than a trial, ``trainer.batch_size``
    above the training trials, ``trainer.monitor: val_correlation`` when no
    neuron's validation PSTH varies).  Measures that this data cannot give
    (Fano factors, PCA, decoding, the I population's correlation) will be
    NaN; each gets a note.

    Returns
    -------
    dict
        ``dt_ms``, ``tau_ms``, ``sigma_bins``, ``fano_window_bins``,
        ``n_pcs`` (0: no PCA), ``labels`` (0 = E, 1 = I) and ``notes``
        (sentences for the report).
    """
    from training.ei_rnn import EIRNN

    source, variable = recording.source, recording.variable
    n_trials, n_steps, n_neurons = recording.rates_hz.shape
    n_conditions = recording.n_conditions
    layout = f"[trials, time, neurons] = {recording.rates_hz.shape}"
    if n_neurons < 2:
        raise UsageError(f"data.path: {source}: variable '{variable}' {layout} has {n_neurons} "
                         "neuron; allowed: 2 or more (the E-I RNN has one unit per neuron)")
    if not np.any(recording.rates_hz):
        raise UsageError(f"data.path: {source}: variable '{variable}' {layout} is zero "
                         "everywhere; allowed: a recording with some activity to fit")
    dt_ms = float(recording.dt_ms)
    tau_ms = float(config.model.tau / 1e-3)
    if dt_ms > tau_ms:
        raise ConfigError(config.source, "model.tau",
                          f"got {tau_ms:g} ms, shorter than the recording's bin dt = {dt_ms:g} ms; "
                          "alpha = dt/tau must be at most 1")
    labels = recording.ei_labels
    if labels is None:
        e = config.model.e_fraction
        labels = EIRNN.default_labels(n_neurons, e)
        if not np.any(labels == 0):
            raise ConfigError(config.source, "model.e_fraction",
                              f"got {e:g}; the data has no 'ei_labels' and {n_neurons} neurons, "
                              "of which it makes none excitatory; allowed: above "
                              f"{0.5 / n_neurons:.3g} (or ei_labels in the data)")
    trial_ms = n_steps * dt_ms
    smoothing_ms = float(config.data.smoothing / 1e-3)
    if smoothing_ms > trial_ms:
        raise ConfigError(config.source, "data.smoothing",
                          f"got {smoothing_ms:g} ms, wider than a trial of the data ({n_steps} "
                          f"bins of {dt_ms:g} ms = {trial_ms:g} ms); allowed: 0 to "
                          f"{trial_ms:g} ms")
    batch = config.trainer.batch_size
    if batch > len(train_idx):
        raise ConfigError(config.source, "trainer.batch_size",
                          f"got {batch}; the data has {len(train_idx)} training trials "
                          f"({len(val_idx)} of {n_trials} held out by data.val_fraction); "
                          f"allowed: 0 (all training trials) or 1 to {len(train_idx)}")
    sigma_bins = smoothing_ms / dt_ms
    fano_ms = float(config.data.fano_window / 1e-3)
    fano_bins = max(1, int(round(fano_ms / dt_ms)))
    val_conditions = recording.condition_index[val_idx]
    notes = []
    # a neuron's PSTH correlation needs its recorded validation PSTH to vary
    target_psth = population.psth(recording.rates_hz[val_idx], val_conditions,
                                  sigma_bins=sigma_bins, labels=np.arange(n_conditions))
    flat = target_psth.reshape(-1, n_neurons)
    constant = int(np.sum(np.all(flat == flat[:1], axis=0)))
    if constant == n_neurons and config.trainer.monitor == "val_correlation":
        raise ConfigError(config.source, "trainer.monitor",
                          f"got 'val_correlation', which this data cannot give: no neuron's "
                          f"validation PSTH varies ({n_conditions} condition(s) x {n_steps} "
                          "bin(s)), so no epoch could be picked as the best; allowed: "
                          "val_loss, val_total_loss")
    if constant:
        notes.append(f"PSTH correlation is NaN for {constant} of {n_neurons} neurons: their "
                     f"recorded validation PSTH is constant ({n_conditions} condition(s) x "
                     f"{n_steps} bin(s))")
    # measures this data cannot give: NaN, with a note
    problem = population.fano_problem(val_conditions, n_steps, fano_bins)
    if problem is not None and fano_bins > n_steps:
        notes.append(f"Fano factors are NaN: data.fano_window ({fano_ms:g} ms = {fano_bins} "
                     f"bins of {dt_ms:g} ms) is longer than a trial ({n_steps} bins = "
                     f"{trial_ms:g} ms); allowed: at most {trial_ms:g} ms")
    elif problem is not None:
        per_condition = np.bincount(recording.condition_index, minlength=n_conditions)
        low, high = int(per_condition.min()), int(per_condition.max())
        notes.append(f"Fano factors are NaN: they need 2 validation trials in a condition, and "
                     f"data.val_fraction ({config.data.val_fraction:g}) of "
                     f"{low if low == high else f'{low}-{high}'} trials per condition holds "
                     "out 1; raise data.val_fraction or record more trials per condition")
    if not np.any(labels == 1):
        notes.append("no inhibitory neuron (from the data's ei_labels or model.e_fraction): "
                     "the I population's PSTH correlation is NaN")
    if n_conditions < 2:
        notes.append("condition decoding (W_out) is NaN: the data has one condition, so there "
                     "is nothing to decode")
    # centred PSTHs [conditions * time, neurons] have rank at most min(C T - 1, N)
    n_pcs = min(N_PCS, n_neurons, n_conditions * n_steps - 1)
    if n_pcs < 1:
        notes.append(f"PCA is NaN: the validation PSTHs give {n_conditions * n_steps} sample "
                     f"({n_conditions} condition x {n_steps} bin); it needs at least 2")
    elif n_pcs < 2:
        notes.append("PCA has 1 component: the PC1-PC2 state-space figure is not drawn")
    return {"dt_ms": dt_ms, "tau_ms": tau_ms, "sigma_bins": sigma_bins,
            "fano_window_bins": fano_bins, "n_pcs": int(max(n_pcs, 0)), "labels": labels,
            "notes": notes}


#: what one process with torch, numpy and the suite loaded holds before any data
PROCESS_BYTES = 600 * 2**20


def estimate_memory(config, jobs=None) -> tuple[float, str]:
    """Peak bytes of a fit, from the config alone, and what dominates it.

    Synthetic data: the recording (rates and counts in float64, their tensors
    and smoothed copies: about 6 copies of trials x bins x neurons) and the
    activations kept for back-propagation (about 12 float32 values per trial,
    bin and neuron of a batch; the attention embedding adds heads x inputs^2
    per trial and bin).  A recording file: 8x its size on disk (MATLAB files
    are often compressed).  Weights with their gradients and Adam moments:
    4 copies of neurons^2 + the embedding.
    """
    s, m, t = config.synthetic, config.model, config.trainer
    if config.data.path == "synthetic":
        trials = s.n_conditions * s.trials_per_condition
        neurons, steps, inputs = s.n_neurons, s.n_steps, s.n_inputs
        data_bytes = 6 * 8.0 * trials * steps * neurons
        detail = f"{trials} trials x {steps} bins x {neurons} neurons"
    else:
        try:
            size = Path(config.data.path).stat().st_size
        except OSError:
            size = 0  # a missing file is reported by the data checks
        data_bytes = 8.0 * size
        trials, steps, neurons, inputs = 1, 1, 1, 1
        detail = f"a recording of {size / 2**20:.1f} MiB on disk"
    batch = t.batch_size or trials
    activations = 4.0 * batch * steps * (12 * neurons + (m.n_heads * inputs ** 2 + m.embed_dim
                                                         if m.embedding == "attention" else 0))
    weights = 4 * 4.0 * (neurons ** 2 + m.embed_dim * (neurons + 4 * inputs))
    return PROCESS_BYTES + data_bytes + activations + weights, detail


def preflight(config, *, out_dir, resume: bool = False) -> None:
    """Check the recording ``data.path`` names, without writing anything.

    A file is loaded, split and passed through :func:`check_data`; synthetic
    data is checked this way once it exists in ``out_dir`` (its sizes are
    otherwise checked by the schema and :func:`validate`).  ``run`` makes the
    same checks itself, so calling this first is optional.
    """
    from training import data

    if config.data.path == "synthetic":
        path = synthetic_path(config, out_dir)
        if not path.is_file():
            return
    else:
        path = Path(config.data.path)
        _check_data_file(path)
    try:
        recording = data.load_recording(path, config.data.variables)
    except data.DataError as exc:
        raise UsageError(f"data.path: {exc}") from None
    check_data(config, recording, *_split(config, recording))


def _setup(config, out_dir: Path):
    """Recording, split, model and objective: everything that training needs."""
    from training.ei_rnn import EIRNN, EIRNNParams
    from training.losses import LossWeights
    from training.objectives import ActivityFit

    recording = _recording(config, out_dir)
    seed = config.seed.session
    train_idx, val_idx = _split(config, recording)
    checked = check_data(config, recording, train_idx, val_idx)   # before any epoch
    dt_ms, sigma_bins, labels = checked["dt_ms"], checked["sigma_bins"], checked["labels"]
    # model rate 1.0 = the largest smoothed, trial-averaged rate of the training trials, so the
    # PSTHs span [0, 1] in model units whatever the recording's rates (twice the mean rate
    # instead trained slower: r = 0.898 vs 0.93 after 300 epochs on the synthetic data)
    train_psth = population.psth(recording.rates_hz[train_idx],
                                 recording.condition_index[train_idx], sigma_bins=sigma_bins)
    rate_unit_hz = float(np.nanmax(train_psth)) or 1.0
    m = config.model
    params = EIRNNParams(tau_ms=checked["tau_ms"], dt_ms=dt_ms, noise_std=m.noise_std,
                         spectral_radius=m.spectral_radius, embedding=m.embedding,
                         embed_dim=m.embed_dim, n_heads=m.n_heads, learn_h0=m.learn_h0,
                         h0_init=m.h0_init, learn_noise=m.learn_noise)
    try:
        model = EIRNN(labels, recording.n_inputs, params, n_outputs=recording.n_conditions,
                      seed=seed)
    except MemoryError as exc:
        raise UsageError(f"model.embed_dim: got {m.embed_dim}; an E-I RNN of "
                         f"{recording.n_neurons} units (one per neuron of the data) with it does "
                         f"not fit in memory ({exc}); allowed: a smaller model.embed_dim, or "
                         "fewer neurons") from None
    lw = config.loss
    objective = ActivityFit(
        _tensors(recording, train_idx, rate_unit_hz), _tensors(recording, val_idx, rate_unit_hz),
        labels == 0, recording.n_conditions, sigma_bins=sigma_bins,
        weights=LossWeights(lw.trial_scale, lw.weight_reg, lw.rate_reg, lw.variance_reg),
        balance=lw.balance, balance_momentum=lw.balance_momentum,
        batch_size=config.trainer.batch_size, counts_per_rate=rate_unit_hz * dt_ms / 1000.0,
        fano_window=checked["fano_window_bins"], eval_seed=seed)
    info = {"data_file": str(recording.source), "data_variable": recording.variable,
            "dt_ms": dt_ms, "rate_unit_hz": rate_unit_hz, "sigma_bins": sigma_bins,
            "fano_window_bins": checked["fano_window_bins"], "n_pcs": checked["n_pcs"],
            "n_trials_train": int(len(train_idx)),
            "n_trials_val": int(len(val_idx)), "n_neurons": int(recording.n_neurons),
            "n_inputs": int(recording.n_inputs), "n_conditions": int(recording.n_conditions),
            "condition_labels": [int(c) for c in recording.condition_labels],
            "ei_labels_from_data": recording.ei_labels is not None,
            "notes": checked["notes"]}
    return recording, train_idx, val_idx, model, objective, info


def _trainer_config(config):
    from training.trainer import TrainerConfig

    t = config.trainer
    return TrainerConfig(max_epochs=t.max_epochs, lr=t.lr, lr_factor=t.lr_factor,
                         lr_patience=t.lr_patience, min_lr=t.min_lr, clip_norm=t.clip_norm,
                         early_stopping=t.early_stopping, checkpoint_every=t.checkpoint_every,
                         log_every=t.log_every, report_every=t.report_every, monitor=t.monitor,
                         mode="max" if t.monitor == "val_correlation" else "min",
                         seed=config.seed.session, device=t.device, wandb=t.wandb)


# ----------------------------------------------------------------------------- run
def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False) -> Path:
    """Train (or resume), export every file, and write ``out_dir/results.h5``."""
    import torch

    from training.trainer import Trainer, TrainingError, load_checkpoint

    if backend != "runtime":
        raise UsageError(f"--backend {backend}: ei_rnn trains in torch (CPU, or CUDA when "
                         "present: trainer.device); the Brian2 back-ends do not apply")
    if jobs is not None and jobs > _cores():
        raise UsageError(f"--jobs {jobs}: this machine has {_cores()} CPU cores; allowed: 1 to "
                         f"{_cores()} torch threads")
    threads = jobs if jobs is not None else config.trainer.threads
    if threads:
        torch.set_num_threads(threads)
    out_dir = outdir.claim(out_dir, NAME)  # a folder of its own (see protocols.outdir)
    if not resume and (out_dir / "checkpoints" / "latest.pt").exists():
        raise UsageError(f"{out_dir}: already holds a training run (checkpoints/latest.pt); "
                         "pass --resume to continue it, or choose another --out")
    # 1. data, split, every check on the data's shape, model, objective
    recording, train_idx, val_idx, model, objective, info = _setup(config, out_dir)
    print(f"data: {info['data_file']} ({recording.variable}), {recording.n_trials} trials "
          f"({info['n_trials_train']} train, {info['n_trials_val']} val), "
          f"{recording.n_steps} bins of {info['dt_ms']:g} ms, {recording.n_neurons} neurons, "
          f"{recording.n_conditions} conditions; model rate 1 = {info['rate_unit_hz']:.1f} Hz",
          flush=True)
    for note in info["notes"]:
        print(f"note: {note}", flush=True)
    run_config = config.to_dict()
    # 2. train
    trainer = Trainer(model, objective, _trainer_config(config), out_dir, run_config=run_config,
                      resumable=RESUMABLE)
    started = time.perf_counter()
    try:
        result = trainer.fit(resume=resume)
    except TrainingError as exc:
        raise UsageError(str(exc)) from None
    elapsed = time.perf_counter() - started
    interrupted = result.reason == "interrupted"
    # 3. export the best model (the last one when no epoch gave a finite monitored metric);
    # after Ctrl+C too: the best model so far, and --resume continues from the checkpoint
    notes = []
    if result.best_epoch:
        try:
            best = load_checkpoint(out_dir / "model_best.pt", trainer.device)
        except TrainingError as exc:
            raise UsageError(f"{exc}; the run's model cannot be exported (rerun with --resume "
                             "to train on and save a new best)") from None
        model.load_state_dict(best["model"])
    else:
        first = " (the initial weights)" if result.epochs == 0 else ""
        notes.append(f"no epoch gave a finite {config.trainer.monitor} (stopped: "
                     f"{result.reason}); the exported model is the last one, epoch "
                     f"{result.epochs}{first}, not a best one")
    arrays, summary = export(model, objective, recording, train_idx, val_idx, info, notes)
    log = {key: np.array([e.get(key, np.nan) for e in result.log], dtype=float)
           for key in LOG_KEYS}
    summary.update(epochs=result.epochs, best_epoch=result.best_epoch,
                   best_metric=float(result.best_metric), monitor=config.trainer.monitor,
                   stop_reason=result.reason, stop_message=result.message,
                   train_time_s=trainer.training_time_s, session_time_s=elapsed,
                   early_stopping=int(config.trainer.early_stopping),
                   max_epochs=int(config.trainer.max_epochs), device=str(trainer.device),
                   **_correlation_history(log))
    _write_files(out_dir, arrays, model, run_config, info, summary)
    path = _write_results(out_dir, config, arrays, summary, log, model)
    if interrupted:
        report(path, out_dir)    # figures and training_report.md of the best model so far
        _print_summary(summary, out_dir)
        raise KeyboardInterrupt
    _print_summary(summary, out_dir)
    return path


def _correlation_history(log: dict) -> dict:
    """The best validation correlation of the log and its epoch, and the last one."""
    corr, epochs = log["val_correlation"], log["epoch"]
    finite = np.isfinite(corr)
    if not finite.any():
        return {"best_val_correlation": float("nan"), "best_val_correlation_epoch": 0,
                "final_val_correlation": float("nan")}
    best = int(np.flatnonzero(finite)[np.argmax(corr[finite])])
    return {"best_val_correlation": float(corr[best]),
            "best_val_correlation_epoch": int(epochs[best]),
            "final_val_correlation": float(corr[-1])}


def duration_text(seconds: float) -> str:
    """``2h 34m 12s``, ``4m 05s`` or ``12.3s``, as the plan prints training times.

    >>> duration_text(9252.4), duration_text(245), duration_text(12.34)
    ('2h 34m 12s', '4m 05s', '12.3s')
    """
    seconds = float(seconds)
    if not np.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def export(model, objective, recording, train_idx, val_idx, info,
           notes=()) -> tuple[dict, dict]:
    """The arrays and scalar metrics of a trained model on the validation trials (in Hz).

    A measure the data or the model cannot give is NaN, never an error; the
    reasons (``info["notes"]`` from :func:`check_data`, ``notes``, and those
    found here) are kept in ``summary["notes_json"]``.
    """
    import torch

    from training.ei_rnn import spectral_radius

    notes = [*info.get("notes", ()), *notes]
    unit, sigma = info["rate_unit_hz"], info["sigma_bins"]
    n_conditions, n_neurons = recording.n_conditions, recording.n_neurons
    conditions = np.arange(n_conditions)
    model.eval()
    with torch.no_grad():
        val_rates = objective.simulate_val(model)
        _, attention = model.embed_inputs(objective.val.inputs, need_weights=True)
        train_rates = model(objective.train.inputs, generator=torch.Generator(
            device=objective.device).manual_seed(objective.eval_seed + 1))
    model_hz = val_rates.cpu().double().numpy() * unit
    target_hz = recording.rates_hz[val_idx]
    cond_index = recording.condition_index[val_idx]
    target_psth = population.psth(target_hz, cond_index, sigma_bins=sigma, labels=conditions)
    # the plan's PSTH: the average over all validation trials, whatever their condition
    every = np.zeros(len(cond_index), dtype=np.int64)
    target_mean = population.psth(target_hz, every, sigma_bins=sigma, labels=[0])[0]
    finite = bool(np.all(np.isfinite(model_hz)))
    if finite:
        model_psth = population.psth(model_hz, cond_index, sigma_bins=sigma, labels=conditions)
        model_mean = population.psth(model_hz, every, sigma_bins=sigma, labels=[0])[0]
    else:
        model_psth = np.full(target_psth.shape, np.nan)
        model_mean = np.full(target_mean.shape, np.nan)
        notes.append("the model's rates are not finite (the fit diverged): every measure of "
                     "the model is NaN")
    r = population.neuron_correlations(model_psth, target_psth)
    e_mask = model.e_mask.cpu().numpy()
    fano_model, fano_target = objective.fano_factors(val_rates, 7)
    if finite and objective.fano_note is None and not np.isfinite(fano_model).any():
        notes.append("the model's Fano factors are NaN: its rates are too large to draw "
                     "Poisson counts from")
    # centred PSTHs [conditions * time, neurons] have rank at most min(C T - 1, N)
    n_samples = target_psth.shape[0] * target_psth.shape[1]
    n_pcs = info.get("n_pcs", min(N_PCS, n_neurons, n_samples - 1))
    if n_pcs >= 1:
        components, explained, mean = population.pca(target_psth.reshape(-1, n_neurons), n_pcs)
    else:  # one sample (a condition of one bin): no principal component
        n_pcs = 1
        components, explained = np.full((1, n_neurons), np.nan), np.full(1, np.nan)
        mean = np.full(n_neurons, np.nan)

    def project(p):          # [..., n_neurons] -> [..., n_pcs], the recording's components
        return (p - mean) @ components.T
    # readout: ridge regression of the condition (one-hot) on time-averaged E rates
    if finite and bool(torch.isfinite(train_rates).all()):
        w_out, decoding = _fit_readout(model, train_rates, objective.train.conditions,
                                       val_rates, objective.val.conditions, n_conditions)
    else:
        w_out, decoding = np.full((n_conditions, int(e_mask.sum())), np.nan), float("nan")
    if n_conditions < 2:
        decoding = float("nan")   # one condition: nothing to decode (see the notes)
    with torch.no_grad():
        model.w_out.copy_(torch.as_tensor(w_out, dtype=model.w_out.dtype))
    embed = model.embed
    w_rec = model.w_rec.detach().cpu().numpy()
    arrays = {
        "W_rec": w_rec,
        "W_in": model.w_in.detach().cpu().numpy(),
        "W_out": w_out, "h0": model.initial_state.detach().cpu().numpy(),
        "E_mask": e_mask, "I_mask": ~e_mask,
        "val_model_rates": model_hz, "val_target_rates": target_hz,
        "val_model_psth": model_mean, "val_target_psth": target_mean,
        "val_trial_conditions": recording.conditions[val_idx],
        "val_model_psth_by_condition": model_psth, "val_target_psth_by_condition": target_psth,
        "per_neuron_correlation": r,
        "per_neuron_mean_rate_model": model_hz.mean(axis=(0, 1)),
        "per_neuron_mean_rate_target": target_hz.mean(axis=(0, 1)),
        "per_neuron_variance_model": model_psth.var(axis=1).mean(axis=0),
        "per_neuron_variance_target": target_psth.var(axis=1).mean(axis=0),
        "per_neuron_fano_model": fano_model, "per_neuron_fano_target": fano_target,
        "neuron_ei_labels": (~e_mask).astype(np.int64),
        "pca_real": project(target_mean), "pca_model": project(model_mean),
        "pca_real_by_condition": project(target_psth),
        "pca_model_by_condition": project(model_psth),
        "pca_components": components, "pca_explained_variance": explained,
    }
    if hasattr(embed, "output_projection"):   # the attention embedding
        arrays["input_embed_linear"] = embed.output_projection()
        arrays["input_embed_channel"] = embed.channel.detach().cpu().numpy()
        arrays["input_embed_position"] = embed.position.detach().cpu().numpy()
    else:
        arrays["input_embed_linear"] = embed.weight.detach().cpu().numpy()
    if attention is not None:  # mean attention of each condition: [C, heads, n_in, n_in]
        a = attention.cpu().double().numpy()
        arrays["attention_mean"] = np.stack([a[cond_index == c].mean(axis=(0, 1))
                                             for c in range(n_conditions)])
        arrays.update({f"attention_{k}": v for k, v in embed.qkv().items()})
    finite_r = r[np.isfinite(r)]
    summary = {"val_correlation": population.finite_mean(r),
               "val_correlation_E": population.finite_mean(r[e_mask]),
               "val_correlation_I": population.finite_mean(r[~e_mask]),
               "val_correlation_median": float(np.median(finite_r)) if finite_r.size
               else float("nan"),
               "neurons_above_0.9": int(np.sum(finite_r > 0.9)),
               "fano_model": population.finite_mean(fano_model),
               "fano_target": population.finite_mean(fano_target),
               "mean_rate_model_hz": float(model_hz.mean()),
               "mean_rate_target_hz": float(target_hz.mean()),
               "decoding_accuracy": decoding,
               "pca_variance_real_top3": float(explained[:3].sum()),
               "spectral_radius": spectral_radius(w_rec) if np.all(np.isfinite(w_rec))
               else float("nan"),
               "noise_std": model.sigma(),
               "condition_labels_json": json.dumps(info["condition_labels"]),
               "notes_json": json.dumps(notes),
               **{k: v for k, v in info.items() if not isinstance(v, list)}}
    return arrays, summary


def _fit_readout(model, train_rates, train_conditions, val_rates, val_conditions,
                 n_conditions: int, ridge: float = 1e-2):
    """``W_out [C, n_E]`` decoding the condition from E rates; and its validation accuracy."""
    e = model.e_mask

    def features(rates):
        return rates[..., e].mean(dim=1).cpu().double().numpy()   # [trials, n_E]
    x = features(train_rates)
    y = np.eye(n_conditions)[train_conditions.cpu().numpy()]
    gram = x.T @ x + ridge * len(x) * np.eye(x.shape[1])
    try:
        w = np.linalg.solve(gram, x.T @ y).T
    except np.linalg.LinAlgError:  # numerically singular (huge rates): least squares instead
        w = np.linalg.lstsq(gram, x.T @ y, rcond=None)[0].T
    predicted = (features(val_rates) @ w.T).argmax(axis=1)
    return w, float(np.mean(predicted == val_conditions.cpu().numpy()))


def _save_array(path: Path, array, *, allow_pickle: bool = False) -> None:
    """``np.save`` into a temporary file, then rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=allow_pickle)
    os.replace(tmp, path)


def _write_files(out_dir: Path, arrays: dict, model, run_config: dict, info: dict,
                 summary: dict) -> None:
    for name, (relative, _, _) in FILES.items():
        if name in arrays:
            _save_array(out_dir / relative, arrays[name])
    if "attention_Q" in arrays:
        qkv = {k: arrays[f"attention_{k}"] for k in ("Q", "K", "V")}
        # the plan's file: a dict in .npy (np.load(..., allow_pickle=True).item()); the .npz
        # holds the same arrays and loads without pickle
        _save_array(out_dir / ATTENTION_DICT_FILE, qkv, allow_pickle=True)
        tmp = out_dir / (ATTENTION_FILE + ".tmp.npz")
        np.savez(tmp, **qkv, mean_per_condition=arrays["attention_mean"])
        os.replace(tmp, out_dir / ATTENTION_FILE)
    text = json.dumps({"config": run_config, "data": info, "summary": summary}, indent=2,
                      default=str)
    tmp = out_dir / "config.json.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out_dir / "config.json")


def _write_results(out_dir: Path, config, arrays: dict, summary: dict, log: dict, model) -> Path:
    """``results.h5``: one point ``model`` with every array, the log and the metrics."""
    for stale in (out_dir / "results.h5", out_dir / "points"):  # derived from the checkpoints
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            os.remove(stale)
    writer = ResultWriter(out_dir, NAME, config.to_yaml(), config.seed.session, versions())
    datasets = {**arrays, **{f"log_{k}": v for k, v in log.items()}}
    attrs = {k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))}
    writer.write_point("model", attrs, datasets)
    path = writer.finalize()
    writer.discard_shards()
    return path


def _value(value, spec: str) -> str:
    """``format(value, spec)``, or ``NaN`` / ``none`` when the value is not finite."""
    value = float(value)
    if np.isnan(value):
        return "NaN"
    if not np.isfinite(value):
        return "none"
    return format(value, spec)


def _stop_text(s: dict) -> str:
    """How training ended, as the plan's summary says it."""
    reason = s["stop_reason"]
    if reason == "early_stopping":
        return f"early stopped at patience={s.get('early_stopping', '?')}"
    if reason == "completed":
        return f"reached max_epochs={s.get('max_epochs', s['epochs'])}"
    if reason == "interrupted":
        return "interrupted by Ctrl+C; continue with --resume"
    return f"{reason}: {s['stop_message']}"


def _print_summary(summary: dict, out_dir: Path) -> None:
    """The plan's TRAINING COMPLETE block (TRAINING INTERRUPTED after Ctrl+C), then the
    suite's figures of the exported model."""
    line = "=" * 80
    s = summary

    def show(key, spec):
        return _value(s[key], spec)
    notes = json.loads(s.get("notes_json", "[]"))
    title = "TRAINING INTERRUPTED" if s["stop_reason"] == "interrupted" else "TRAINING COMPLETE"
    print(f"{line}\n{title}\n{line}\n"
          f"Total epochs: {s['epochs']} ({_stop_text(s)})\n"
          f"Best validation correlation: {show('best_val_correlation', '.4f')} "
          f"(epoch {s['best_val_correlation_epoch']})\n"
          f"Final validation correlation: {show('final_val_correlation', '.4f')}\n"
          f"Training time: {duration_text(s['train_time_s'])}\n\n"
          f"Files saved to: {out_dir}/\n"
          f"See training_report.md for full summary.\n{line}\n"
          f"  exported model: epoch {s['best_epoch']} (best {s['monitor']} "
          f"{show('best_metric', '.4g')}), on {s['device']}\n"
          f"  PSTH correlation: mean {show('val_correlation', '.3f')} "
          f"(E {show('val_correlation_E', '.3f')}, I {show('val_correlation_I', '.3f')}), "
          f"{s['neurons_above_0.9']} neurons above 0.9\n"
          f"  mean rate model {show('mean_rate_model_hz', '.2f')} Hz vs recorded "
          f"{show('mean_rate_target_hz', '.2f')} Hz; Fano model {show('fano_model', '.2f')} vs "
          f"recorded {show('fano_target', '.2f')}\n"
          f"  condition decoding from E units (W_out): {show('decoding_accuracy', '.0%')}\n"
          + "".join(f"  note: {note}\n" for note in notes)
          + line, flush=True)


# ----------------------------------------------------------------------------- report
#: dataset names of result files written before the plan's names (read by :func:`report`)
_LEGACY_NAMES = {"neuron_correlation": "per_neuron_correlation",
                 "mean_rate_model": "per_neuron_mean_rate_model",
                 "mean_rate_target": "per_neuron_mean_rate_target",
                 "temporal_variance_model": "per_neuron_variance_model",
                 "temporal_variance_target": "per_neuron_variance_target",
                 "fano_model": "per_neuron_fano_model", "fano_target": "per_neuron_fano_target"}


def _datasets(point) -> dict:
    """The point's arrays under the plan's names (older files: renamed, per-condition PSTHs
    and PCA projections moved to their ``*_by_condition`` names)."""
    d = dict(point.data)
    if "per_neuron_correlation" in d:
        return d
    for old, new in _LEGACY_NAMES.items():
        if old in d:
            d[new] = d.pop(old)
    for key in ("val_model_psth", "val_target_psth", "pca_real", "pca_model"):
        if key in d and np.ndim(d[key]) == 3:
            d[f"{key}_by_condition"] = d[key]
            d[key] = np.nanmean(d[key], axis=0)
    return d


def report(results_path: Path, out_dir: Path | None = None) -> Path:
    """Figures (the plan's names) and ``training_report.md`` from ``results.h5`` alone.

    A figure that cannot be drawn from this data is replaced by one that says
    why, and the report notes it; the report never fails on the data.
    """
    from analysis import fit_plots

    result = load(results_path)
    point = result.point
    d, s = _datasets(point), point.attrs
    out_dir = Path(out_dir) if out_dir is not None else Path(results_path).parent
    figures = out_dir / "figures"
    e = d["E_mask"].astype(bool)
    by_condition = d["val_model_psth_by_condition"]
    labels = json.loads(s["condition_labels_json"]) if "condition_labels_json" in s else \
        list(range(1, by_condition.shape[0] + 1))
    log = {k: d[f"log_{k}"] for k in LOG_KEYS}
    figure_notes: list[str] = []

    def figure(name, title, draw, reason=None):
        path = figures / f"{name}.png"
        if reason is None:
            try:
                return draw(path)
            except Exception as exc:  # noqa: BLE001 -- a figure never stops the report
                reason = f"{type(exc).__name__}: {exc}"
        figure_notes.append(f"figure `{name}.png` not drawn: {reason}")
        return fit_plots.not_computable(title, reason, path)

    r, rate_target = d["per_neuron_correlation"], d["per_neuron_mean_rate_target"]
    pca_real, pca_model = d["pca_real_by_condition"], d["pca_model_by_condition"]
    pca_k = pca_real.shape[-1]
    pca_missing = None if np.isfinite(pca_real).any() else "the PCA is not computable"
    no_epoch = None if len(log["epoch"]) else "no epoch was trained"
    best = s.get("best_epoch") or None
    made = [
        figure("training_curves", "Training curves",
               lambda p: fit_plots.training_curves(log, p, best_epoch=best), no_epoch),
        figure("loss_terms", "Loss terms",
               lambda p: fit_plots.loss_terms(log, p, best_epoch=best), no_epoch),
        figure("per_neuron_correlation_histogram", "Per-neuron PSTH correlation",
               lambda p: fit_plots.correlation_histogram(r, e, p)),
        figure("per_neuron_correlation_scatter", "PSTH correlation vs firing rate",
               lambda p: fit_plots.correlation_scatter(r, e, rate_target, p)),
        figure("neuron_correlations", "Per-neuron fit and mean rates",
               lambda p: fit_plots.correlation_summary(r, e, d["per_neuron_mean_rate_model"],
                                                       rate_target, p)),
        figure("best_worst_neurons", "Best and worst fitted neurons",
               lambda p: fit_plots.best_worst_psth(by_condition,
                                                   d["val_target_psth_by_condition"], r,
                                                   s["dt_ms"], labels, p)),
        figure("weight_matrices", "Weights",
               lambda p: fit_plots.weight_matrices(d["W_rec"], d["W_in"], d["W_out"], e, p)),
        figure("h0_distribution", "Learned initial state",
               lambda p: fit_plots.h0_distribution(d["h0"], e, p)),
    ]
    if "attention_Q" in d:
        made.append(figure("attention_patterns", "Attention projections (Q, K, V)",
                           lambda p: fit_plots.qkv_heatmaps(d["attention_Q"], d["attention_K"],
                                                            d["attention_V"], p)))
    if "attention_mean" in d:
        made.append(figure("attention_maps", "Input attention per condition",
                           lambda p: fit_plots.attention_patterns(d["attention_mean"], labels,
                                                                  p)))
    made += [
        figure("pca_trajectories", "PCA trajectories",
               lambda p: fit_plots.pca_trajectories(pca_real, pca_model,
                                                    d["pca_explained_variance"], s["dt_ms"],
                                                    labels, p), pca_missing),
        figure("pca_state_space", "PCA state space",
               lambda p: fit_plots.pca_state_space(pca_real, pca_model,
                                                   d["pca_explained_variance"], labels, p),
               pca_missing or (f"{pca_k} principal component; the PC1-PC2 plane needs 2"
                               if pca_k < 2 else None)),
        figure("fano_factor_comparison", "Fano factor",
               lambda p: fit_plots.fano_comparison(d["per_neuron_fano_model"],
                                                   d["per_neuron_fano_target"], e, p)),
    ]
    path = write_report(out_dir, _report_lines(result, out_dir, figure_notes), made,
                        result.versions, footer=_loading_code(out_dir))
    final = out_dir / "training_report.md"
    os.replace(path, final)
    return final


#: the files of an output folder beside the arrays of :data:`FILES`
OTHER_FILES = (
    ("model_best.pt", "checkpoint of the best epoch by trainer.monitor (the plan: the best "
                      "validation correlation)"),
    ("model_final.pt", "checkpoint of the last epoch (not written after Ctrl+C)"),
    ("checkpoints/model_epoch{N}.pt", "checkpoint every trainer.checkpoint_every epochs"),
    ("checkpoints/latest.pt", "the state --resume continues from"),
    ("training_log.json", "the log, rewritten every epoch: {monitor, mode, best_epoch, "
                          "best_metric, epochs: [one dict per epoch]}"),
    ("config.json", "the configuration, the data's description and the final metrics"),
    ("config.yaml", "the configuration as run (snnsuite run reads it back)"),
    ("results.h5", "every array and metric in one file: analysis.results.load"),
    (ATTENTION_FILE, "Q [embed_dim, embed_dim], K, V [heads, embed_dim] and the mean attention "
                     "per condition; prefer this file: np.load needs no pickle"),
    (ATTENTION_DICT_FILE, "the plan's file: a dict of Q, K, V; np.load(path, "
                          "allow_pickle=True).item()"),
)


def _report_lines(result, out_dir: Path, figure_notes=()) -> list[str]:
    s = result.point.attrs
    import yaml

    def show(key, spec):
        return _value(s[key], spec) if key in s else "?"
    config = yaml.safe_load(result.config) or {}
    notes = [*json.loads(s.get("notes_json", "[]")), *figure_notes]
    interrupted = s.get("stop_reason") == "interrupted"
    lines = ["# Final Model Training Report", "",
             "An E-I rate RNN fitted to recorded activity. "
             f"Result file `results.h5`; seed {result.seed}; created {result.created}."
             + (" **Training was interrupted (Ctrl+C)**: this is the best model so far; "
                "`--resume` continues the run." if interrupted else ""), "",
             "## Training Summary", "",
             f"- Total epochs trained: {s['epochs']}",
             f"- Best validation correlation: {show('best_val_correlation', '.4f')} (epoch "
             f"{s.get('best_val_correlation_epoch', '?')})",
             f"- Final validation correlation: {show('final_val_correlation', '.4f')}",
             "- Early stopping: " + (f"stopped at epoch {s['epochs']}, no improvement of "
                                      f"{s['monitor']} for {s.get('early_stopping', '?')} "
                                      f"epochs (patience={s.get('early_stopping', '?')})"
                                      if s["stop_reason"] == "early_stopping" else
                                      f"not triggered ({_stop_text(s)})"),
             f"- Total training time: {duration_text(s['train_time_s'])} on {s['device']}",
             f"- Exported model: epoch {s['best_epoch']}, the best by `trainer.monitor: "
             f"{s['monitor']}` ({show('best_metric', '.4g')})",
             f"- Data: `{s['data_file']}` ({s['data_variable']}), {s['n_neurons']} neurons, "
             f"{s['n_conditions']} conditions, {s['n_trials_train']} training and "
             f"{s['n_trials_val']} validation trials, bins of {s['dt_ms']:g} ms", "",
             "## Final Metrics", "",
             f"- Overall PSTH correlation: {show('val_correlation', '.3f')}",
             f"- E neuron mean correlation: {show('val_correlation_E', '.3f')}",
             f"- I neuron mean correlation: {show('val_correlation_I', '.3f')}",
             f"- Model mean Fano factor: {show('fano_model', '.2f')}",
             f"- Real mean Fano factor: {show('fano_target', '.2f')}", "",
             "| more metrics (best model, validation trials) | value |", "|---|---|",
             f"| PSTH correlation, median | {show('val_correlation_median', '.3f')} |",
             f"| neurons with r > 0.9 | {s['neurons_above_0.9']} of {s['n_neurons']} |",
             f"| mean rate, model / recorded | {show('mean_rate_model_hz', '.2f')} / "
             f"{show('mean_rate_target_hz', '.2f')} Hz |",
             f"| condition decoding from E units (W_out) | {show('decoding_accuracy', '.0%')} |",
             f"| spectral radius of W_rec | {show('spectral_radius', '.3f')} |",
             f"| variance in the first 3 PCs (recorded) | "
             f"{show('pca_variance_real_top3', '.0%')} |"]
    if notes:
        lines += ["", "## Notes: measures this data cannot give", "",
                  "NaN in the table, the arrays and `results.h5` means *not computable* here:", ""]
        lines += [f"- {note}" for note in notes]
    lines += ["", "## Model Configuration", "", "| key | value |", "|---|---|"]
    for section, values in config.items():
        if isinstance(values, dict):
            lines += [f"| `{section}.{k}` | `{v}` |" for k, v in values.items()]
        else:
            lines.append(f"| `{section}` | `{values}` |")
    written = [(relative, shape, meaning) for relative, shape, meaning in FILES.values()
               if (out_dir / relative).exists()]
    lines += ["", "## Saved Files", "", f"All in `{out_dir}/`.", "",
              "| file | shape | description |", "|---|---|---|"]
    lines += [f"| `{relative}` | {shape} | {meaning} |" for relative, shape, meaning in written]
    lines += [f"| `{name}` | | {meaning} |" for name, meaning in OTHER_FILES
              if "{N}" in name or (out_dir / name).exists()]
    lines += ["", "**W_out.** The plan lists trained output weights. Here `W_out` is a ridge "
              "regression of the condition (one-hot) on the E units' time-averaged rates, "
              "fitted after training on the training trials: it reads the fitted network "
              "out without changing the fit (validation decoding accuracy above). "
              "docs/ei_rnn.md gives the comparison with a readout trained inside the loss."]
    return lines


def _loading_code(out_dir: Path) -> list[str]:
    return ["", "## Code Snippets for Analysis", "", "```python", "import json",
            "import numpy as np, torch",
            "from analysis.results import load",
            f"out = {str(out_dir)!r}",
            "r = load(f\"{out}/results.h5\").point        # every array and metric",
            "W_rec = np.load(f\"{out}/weights/W_rec.npy\")   # [post, pre], Dale's law applied",
            "E = np.load(f\"{out}/weights/E_mask.npy\")       # boolean [n_neurons]",
            "psth = np.load(f\"{out}/outputs/val_model_psth.npy\")   # [time, neurons], Hz",
            "corr = np.load(f\"{out}/metrics/per_neuron_correlation.npy\")   # [neurons]",
            "pcs = np.load(f\"{out}/population/pca_model.npy\")      # [time, n_pcs]",
            "log = json.load(open(f\"{out}/training_log.json\"))[\"epochs\"]   # one dict per epoch",
            "val_corr = [entry[\"val_correlation\"] for entry in log]",
            "from protocols.ei_rnn import load_model",
            "model, rate_unit_hz = load_model(out)         # the best EIRNN, ready to simulate",
            "with torch.no_grad():",
            "    rates_hz = model(torch.zeros(1, 80, model.n_inputs)) * rate_unit_hz   # [1, 80, N]",
            "```"]


def load_model(out_dir, which: str = "best"):
    """``(model, rate_unit_hz)``: the trained EIRNN of an output folder (``best`` or ``final``).

    ``model(inputs)`` gives rates in model units; multiply by ``rate_unit_hz`` for Hz.
    """
    import torch

    from protocols.config import parse_quantity
    from training.ei_rnn import EIRNN, EIRNNParams
    from training.trainer import load_checkpoint

    out_dir = Path(out_dir)
    saved = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    m, info = saved["config"]["model"], saved["data"]
    labels = (~np.load(out_dir / FILES["E_mask"][0])).astype(np.int64)
    params = EIRNNParams(tau_ms=float(parse_quantity(m["tau"], "time")) * 1000.0,
                         dt_ms=info["dt_ms"], noise_std=m["noise_std"],
                         spectral_radius=m["spectral_radius"], embedding=m["embedding"],
                         embed_dim=m["embed_dim"], n_heads=m["n_heads"],
                         learn_h0=m["learn_h0"], h0_init=m["h0_init"],
                         learn_noise=m.get("learn_noise", False))
    model = EIRNN(labels, info["n_inputs"], params, n_outputs=info["n_conditions"])
    model.load_state_dict(load_checkpoint(out_dir / f"model_{which}.pt")["model"])
    with torch.no_grad():
        model.w_out.copy_(torch.as_tensor(np.load(out_dir / FILES["W_out"][0])))
    return model.eval(), float(info["rate_unit_hz"])


def main(argv=None) -> int:
    from protocols.cli import protocol_main

    return protocol_main(NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
