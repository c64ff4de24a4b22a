"""Objectives for :class:`training.trainer.Trainer`: what one epoch computes.

:class:`ActivityFit` fits any model that maps inputs ``[trials, time,
n_inputs]`` to rates ``[trials, time, neurons]`` to recorded activity with
the losses of :mod:`training.losses` (``L_neuron + trial_scale * L_trial +
L_reg``), balancing the gradients of the data terms by default.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from analysis.population import (count_fano_factors, fano_problem, finite_mean,
                                 neuron_correlations)
from training import losses as L

__all__ = ["Trials", "ActivityFit"]

_MAX_POISSON_MEAN = 1e15   # numpy's Poisson sampler refuses means near 2**63; none is plausible


class Trials(NamedTuple):
    """One set of trials as tensors (rates in model units)."""

    inputs: torch.Tensor       # [trials, time, n_inputs]
    rates: torch.Tensor        # [trials, time, neurons]
    conditions: torch.Tensor   # [trials] int64, 0..C-1
    counts: np.ndarray | None  # [trials, time, neurons] spike counts, if recorded

    def to(self, device) -> "Trials":
        return Trials(self.inputs.to(device), self.rates.to(device),
                      self.conditions.to(device), self.counts)

    def __len__(self) -> int:
        return int(self.conditions.numel())


class ActivityFit:
    """Fit recorded PSTHs and single-trial variability (see :mod:`training.losses`).

    Parameters
    ----------
    train, val : Trials
    e_mask : bool array [neurons]
    n_conditions : int
    sigma_bins : float
        Gaussian smoothing of PSTHs and trial signals, in bins.
    weights : LossWeights
    balance : bool
        Gradient balancing of ``L_neuron`` and ``L_trial`` (on by default).
    batch_size : int
        Trials per optimiser step; 0 = all training trials (one step per epoch).
    counts_per_rate : float
        Expected spike count per bin of a model rate of 1.0 (``rate_unit_hz *
        dt_s``), to sample model spike counts for the Fano factor.
    fano_window : int
        Bins per counting window of the Fano factor.  When the validation
        trials cannot give one (no condition with two trials, or a window
        longer than a trial), the Fano factors are NaN and
        :attr:`fano_note` says why.
    eval_seed : int
        Seeds the noise of every evaluation, so validation metrics of
        different epochs are comparable and evaluation consumes no training
        randomness.
    """

    def __init__(self, train: Trials, val: Trials, e_mask, n_conditions: int, *,
                 sigma_bins: float = 1.0, weights: L.LossWeights = L.LossWeights(),
                 balance: bool = True, balance_momentum: float = 0.9, batch_size: int = 0,
                 counts_per_rate: float = 1.0, fano_window: int = 4, eval_seed: int = 0):
        self.train, self.val = train, val
        self.e_mask = torch.as_tensor(np.asarray(e_mask, dtype=bool))
        self.n_conditions = int(n_conditions)
        self.sigma_bins = float(sigma_bins)
        self.weights = weights
        self.balancer = L.GradientBalancer(balance_momentum) if balance else None
        self.batch_size = int(batch_size)
        self.counts_per_rate = float(counts_per_rate)
        self.fano_window = int(fano_window)
        self.eval_seed = int(eval_seed)
        self.device = torch.device("cpu")
        self._prepare()
        self._last_val = None
        #: why the validation Fano factors are NaN (None: they can be computed)
        self.fano_note = fano_problem(val.conditions.cpu().numpy(), val.rates.shape[1],
                                      self.fano_window)

    # -- data statistics, computed once
    def _prepare(self) -> None:
        t = self.train
        self.stats = L.data_stats(t.rates, t.conditions, self.n_conditions, self.e_mask,
                                  self.sigma_bins)
        self.mean_rate = float(t.rates.mean())
        self.train_variance = L.across_trial_variance(t.rates, t.conditions, self.n_conditions,
                                                      self.sigma_bins)
        self.train_signals = L.trial_signals(t.rates, self.stats)
        self.train_psth = L.smooth(L.condition_means(t.rates, t.conditions, self.n_conditions),
                                   self.sigma_bins)
        v = self.val
        self.val_variance = L.across_trial_variance(v.rates, v.conditions, self.n_conditions,
                                                    self.sigma_bins)
        self.val_signals = L.trial_signals(v.rates, self.stats)
        self.val_psth = L.smooth(L.condition_means(v.rates, v.conditions, self.n_conditions),
                                 self.sigma_bins)

    def to(self, device) -> "ActivityFit":
        self.device = torch.device(device)
        self.train, self.val = self.train.to(device), self.val.to(device)
        self.e_mask = self.e_mask.to(device)
        self._prepare()
        return self

    # -- losses
    def losses(self, model, rates, trials: Trials, target_psth, target_signals,
               target_variance) -> dict:
        """Every term, unweighted, for model ``rates`` of ``trials``."""
        w = self.weights
        smoothed = L.smooth(rates, self.sigma_bins)      # once, for every term that smooths
        neuron = L.neuron_loss(smoothed, target_psth, trials.conditions, self.stats,
                               smoothed=True)
        trial = L.trial_loss(smoothed, target_signals, trials.conditions, self.stats,
                             smoothed=True)
        weight = L.weight_loss(*_weights(model))
        rate = L.rate_scale_loss(rates, self.mean_rate)
        variance = L.variance_loss(smoothed, trials.conditions, target_variance,
                                   self.n_conditions, self.sigma_bins, smoothed=True,
                                   counts_per_rate=self.counts_per_rate
                                   if self.train.counts is not None else None)
        reg_weights = w.weight * weight
        reg_rates = w.rate * rate + w.variance * variance
        reg = reg_weights + reg_rates
        total = neuron + w.trial * trial + reg
        return {"total": total, "L_neuron": neuron, "L_trial": trial, "L_reg": reg,
                "L_reg_weights": reg_weights, "L_reg_rates": reg_rates}

    def train_epoch(self, model, step) -> dict:
        n = len(self.train)
        size = n if self.batch_size <= 0 else min(self.batch_size, n)
        order = torch.arange(n) if size == n else torch.randperm(n)
        sums: dict[str, float] = {}
        batches = 0
        for start in range(0, n, size):
            index = order[start:start + size].to(self.device)
            full = size == n
            trials = self.train if full else Trials(self.train.inputs[index],
                                                    self.train.rates[index],
                                                    self.train.conditions[index], None)
            if full:
                psth, signals = self.train_psth, self.train_signals
            else:
                psth = L.smooth(L.condition_means(trials.rates, trials.conditions,
                                                  self.n_conditions), self.sigma_bins)
                signals = self.train_signals[index]
            rates = model(trials.inputs)
            if self.balancer is None:
                terms = self.losses(model, rates, trials, psth, signals, self.train_variance)
                terms["total"].backward()
            else:  # balance at the output: one backward pass through the network
                output = rates.detach().requires_grad_(True)
                terms = self.losses(model, output, trials, psth, signals, self.train_variance)
                fit = terms["L_neuron"] + terms["L_reg_rates"]
                (grad,) = self.balancer.combine({"neuron": fit, "trial": terms["L_trial"]},
                                                [output],
                                                {"neuron": 1.0, "trial": self.weights.trial})
                rates.backward(grad)
                (terms["L_reg_weights"] * self.balancer.scale("neuron")).backward()
            step(terms["total"])
            for key in ("total", "L_neuron", "L_trial", "L_reg"):
                sums[key] = sums.get(key, 0.0) + float(terms[key].detach())
            batches += 1
        out = {("train_loss" if k == "total" else k): v / batches for k, v in sums.items()}
        return out

    # -- evaluation
    def simulate_val(self, model) -> torch.Tensor:
        """The model's rates on the validation inputs, with the fixed evaluation noise."""
        generator = torch.Generator(device=self.device).manual_seed(self.eval_seed)
        return model(self.val.inputs, generator=generator)

    def evaluate(self, model) -> dict:
        rates = self.simulate_val(model)
        terms = self.losses(model, rates, self.val, self.val_psth, self.val_signals,
                            self.val_variance)
        correlations = self.correlations(rates)
        self._last_val = (model, rates)
        # the plan's names: val_loss is the validation L_neuron; the whole loss has its own key
        return {"val_loss": float(terms["L_neuron"]),
                "val_correlation": finite_mean(correlations),
                "val_total_loss": float(terms["total"]), "val_L_trial": float(terms["L_trial"])}

    def correlations(self, rates) -> np.ndarray:
        """Per-neuron Pearson r of smoothed validation PSTHs (model vs recording)."""
        model_psth = L.smooth(L.condition_means(rates, self.val.conditions, self.n_conditions),
                              self.sigma_bins)
        return neuron_correlations(model_psth.detach().cpu().numpy(),
                                   self.val_psth.cpu().numpy())

    def model_counts(self, rates: torch.Tensor, seed: int) -> np.ndarray | None:
        """Poisson spike counts of model rates (``counts_per_rate`` per unit rate).

        None when a rate is NaN, Inf or too large to sample (a diverged model).
        """
        lam = np.clip(rates.detach().cpu().double().numpy() * self.counts_per_rate, 0, None)
        if not np.all(lam <= _MAX_POISSON_MEAN):  # also catches NaN
            return None
        return np.random.default_rng(seed).poisson(lam).astype(float)

    def fano_factors(self, rates: torch.Tensor, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-neuron Fano factors ``(model, recorded)`` of the validation trials.

        NaN where they cannot be computed (see :attr:`fano_note`; the model's
        also when its rates cannot be sampled).
        """
        conditions = self.val.conditions.cpu().numpy()
        real = count_fano_factors(self.recorded_counts(self.val), conditions, self.fano_window)
        counts = self.model_counts(rates, seed)
        model = (np.full(real.shape, np.nan) if counts is None else
                 count_fano_factors(counts, conditions, self.fano_window))
        return model, real

    def recorded_counts(self, trials: Trials) -> np.ndarray:
        if trials.counts is not None:
            return np.asarray(trials.counts, dtype=float)
        return trials.rates.cpu().double().numpy() * self.counts_per_rate

    def details(self, model) -> dict:
        """The log's keys of every ``report_every``-th epoch (the plan's names):
        ``per_neuron_correlations``, ``E_mean_corr``, ``I_mean_corr``, ``n_E``, ``n_I``,
        ``h0_stats`` (mean, std, min, max), ``fano_model``, ``fano_real``."""
        if self._last_val is not None and self._last_val[0] is model:
            rates = self._last_val[1]
        else:
            rates = self.simulate_val(model)
        r = self.correlations(rates)
        e = self.e_mask.cpu().numpy()
        fano_model, fano_real = self.fano_factors(rates, self.eval_seed)
        h0 = model.initial_state.detach().cpu().numpy()
        details = {"per_neuron_correlations": [None if not np.isfinite(v) else float(v)
                                               for v in r],
                   "E_mean_corr": finite_mean(r[e]), "I_mean_corr": finite_mean(r[~e]),
                   "n_E": int(e.sum()), "n_I": int((~e).sum()),
                   "h0_stats": {"mean": float(h0.mean()), "std": float(h0.std()),
                                "min": float(h0.min()), "max": float(h0.max())},
                   "fano_model": finite_mean(fano_model), "fano_real": finite_mean(fano_real)}
        if self.fano_note is not None:
            details["fano_note"] = f"not computable on the validation trials: {self.fano_note}"
        return details

    @staticmethod
    def format_details(d: dict) -> list[str]:
        """The plan's detailed block (E, I, Fano, h0), then the spread of the correlations."""
        r = np.array([np.nan if v is None else v for v in d["per_neuron_correlations"]],
                     dtype=float)
        finite = r[np.isfinite(r)]
        median, lowest = ((float(np.median(finite)), float(finite.min())) if finite.size
                          else (float("nan"), float("nan")))
        fano = (f"Fano factor: {d['fano_note']}" if d.get("fano_note") else
                f"Fano factor: model={d['fano_model']:.2f}, real={d['fano_real']:.2f}")
        h0 = d["h0_stats"]
        return [f"E neurons: mean_corr={d['E_mean_corr']:.3f} (n={d['n_E']})",
                f"I neurons: mean_corr={d['I_mean_corr']:.3f} (n={d['n_I']})",
                fano,
                f"h0: mean={h0['mean']:.2f}, std={h0['std']:.2f}",
                f"val_corr: mean={finite_mean(r):.3f}, median={median:.3f}, min={lowest:.3f}, "
                f"neurons > 0.9: {int(np.sum(finite > 0.9))}/{r.size}"]

    # -- state that must survive a resume
    def state_dict(self) -> dict:
        return {"balancer": None if self.balancer is None else self.balancer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if self.balancer is not None and state.get("balancer") is not None:
            self.balancer.load_state_dict(state["balancer"])


def _weights(model) -> list:
    """The weights the L2 term covers: recurrent (Dale applied) and input weights."""
    found = []
    if hasattr(model, "w_rec"):
        found.append(model.w_rec)
    if hasattr(model, "w_in"):
        found.append(model.w_in)
    return found
