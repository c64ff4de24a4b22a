"""Time one training epoch of the E-I RNN: the suite vs the same maths written by hand.

Both sides train the same network on the same data for one full-batch epoch
(one optimiser step): 100 neurons (80 E / 20 I), 200 trials of 80 steps, 4
input channels, 4 conditions, CPU.

- suite: :class:`training.ei_rnn.EIRNN` + :meth:`training.objectives.ActivityFit.train_epoch`
  with a ``step`` that does what :meth:`training.trainer.Trainer._step` does
  (finite check, clip the gradient norm at 1.0, Adam step, zero the gradients);
- baseline: what a researcher would write by hand, in this file and importing
  nothing from ``training/`` for the maths: Dale's law ``relu(W) * sign``, the
  input embedding computed for every (trial, time) sample (attention: the
  plan's heads written out with batched matrix products over all samples), the Euler-Maruyama
  update in a Python loop indexing ``drive[:, t]``, Gaussian smoothing as a
  depthwise ``conv1d`` over a reflect-padded tensor, the PSTH loss, trial
  matching with ``scipy.optimize.linear_sum_assignment`` per condition, the
  regularisers, gradient balancing at the output rates (two ``autograd.grad``
  calls, running norms, one backward), clipping and Adam.

The baseline starts from a copy of the suite model's parameters and draws
its noise in the same layout from the same seed, so the first epoch of both
must give the same loss terms and the same gradients; the script stops with
an error if they differ (relative 1e-4 on the losses, 1e-3 on the gradients),
so the timings compare the same work.  Timing: 2 warm-up epochs (the first is
the check), then ``--repeats`` epochs of each side, alternated, median reported.

    python benchmarks/ei_rnn.py                        # attention embedding, 1 thread
    python benchmarks/ei_rnn.py --embedding linear
    python benchmarks/ei_rnn.py --repeats 20 --threads 4
"""
from __future__ import annotations

import argparse
import math
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from analysis import population
from training import data
from training.ei_rnn import EIRNN, EIRNNParams
from training.objectives import ActivityFit, Trials

N_NEURONS, N_INPUTS, N_CONDITIONS, TRIALS_PER_CONDITION, N_STEPS = 100, 4, 4, 50, 80
SMOOTHING_MS = 25.0          # the protocol's default data.smoothing
LR, CLIP = 1e-3, 1.0         # the trainer's defaults
TRIAL_SCALE, WEIGHT_REG, RATE_REG, VARIANCE_REG = 0.5, 1e-4, 0.1, 0.05   # LossWeights()
MOMENTUM = 0.9               # running gradient norms
SEED = 42


# ============================================================================ the data
def load_data(folder: Path):
    """Synthetic recording: train Trials (all 200 trials), val Trials, labels, sigma, ..."""
    path = folder / "synthetic.mat"
    data.make_synthetic(path, n_neurons=N_NEURONS, n_inputs=N_INPUTS, n_conditions=N_CONDITIONS,
                        trials_per_condition=TRIALS_PER_CONDITION, n_steps=N_STEPS, seed=0)
    rec = data.load_recording(path)
    sigma_bins = SMOOTHING_MS / float(rec.dt_ms)
    conditions = rec.condition_index
    # model rate 1.0 = the largest smoothed PSTH value (as protocols/ei_rnn.py::_setup)
    rate_unit_hz = float(np.nanmax(population.psth(rec.rates_hz, conditions,
                                                   sigma_bins=sigma_bins))) or 1.0

    def trials(index):
        return Trials(torch.as_tensor(rec.inputs[index], dtype=torch.float32),
                      torch.as_tensor(rec.rates_hz[index] / rate_unit_hz, dtype=torch.float32),
                      torch.as_tensor(conditions[index], dtype=torch.int64),
                      None if rec.counts is None else rec.counts[index])

    every = np.arange(rec.n_trials)
    val = np.concatenate([np.flatnonzero(conditions == c)[:5] for c in range(rec.n_conditions)])
    labels = rec.ei_labels if rec.ei_labels is not None else EIRNN.default_labels(rec.n_neurons)
    return trials(every), trials(val), np.asarray(labels), sigma_bins, rate_unit_hz, rec


# ============================================================================ the baseline
class PlainRNN(torch.nn.Module):
    """The E-I RNN as one would write it by hand (parameters copied from the suite's model)."""

    def __init__(self, suite: EIRNN, embedding: str, n_heads: int = 4):
        super().__init__()
        p = suite.params
        self.alpha = p.dt_ms / p.tau_ms
        self.noise_std = p.noise_std
        self.embedding = embedding
        copy = lambda t: torch.nn.Parameter(t.detach().clone())  # noqa: E731
        self.register_buffer("sign", suite.sign.clone())
        self.W = copy(suite.w_raw)
        self.W_in = copy(suite.w_in)
        self.b = copy(suite.bias)
        self.h0 = copy(suite.h0)
        if embedding == "linear":
            self.A = copy(suite.embed.weight)
        else:
            e = suite.embed
            self.E = copy(e.channel)
            self.P = copy(e.position)
            self.n_heads = n_heads
            self.Wqkv, self.bqkv = copy(e.w_qkv), copy(e.b_qkv)    # Q, K rows, one V row per head
            self.Wo, self.bo = copy(e.w_out), copy(e.b_out)

    def w_rec(self):
        return torch.relu(self.W) * self.sign          # Dale's law

    def embed(self, u):
        B, T, n_in = u.shape
        if self.embedding == "linear":
            return u @ self.A.t()
        tokens = u.reshape(B * T, n_in, 1) * self.E + self.P        # [B*T, n_in, D]
        D, H = tokens.shape[-1], self.n_heads
        projected = tokens @ self.Wqkv.t() + self.bqkv
        q = projected[..., :D].reshape(B * T, n_in, H, D // H).transpose(1, 2)
        k = projected[..., D:2 * D].reshape(B * T, n_in, H, D // H).transpose(1, 2)
        v = projected[..., 2 * D:].transpose(1, 2)[..., None]       # [B*T, H, n_in, 1]
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // H), dim=-1)
        y = (a @ v).squeeze(-1).transpose(1, 2).reshape(B * T, n_in * H)
        return (y @ self.Wo.t() + self.bo).reshape(B, T, -1)

    def forward(self, u):
        B, T, _ = u.shape
        N = self.W.shape[0]
        a = self.alpha
        drive = self.embed(u) @ self.W_in.t() + self.b               # [B, T, N]
        noise = torch.randn(T, B, N) * (math.sqrt(2 * a) * self.noise_std)
        W = self.w_rec()
        x = self.h0.expand(B, N)
        rates = []
        for t in range(T):
            x = (1 - a) * x + a * (torch.relu(x) @ W.t() + drive[:, t]) + noise[t]
            rates.append(torch.relu(x))
        return torch.stack(rates, dim=1)                             # [B, T, N]


def gaussian_smooth(x, sigma):
    """Smooth [B, T, N] along T as scipy's gaussian_filter1d(mode='reflect', truncate=4)."""
    r = int(4 * sigma + 0.5)
    k = torch.arange(-r, r + 1, dtype=x.dtype)
    g = torch.exp(-0.5 * (k / sigma) ** 2)
    g = g / g.sum()
    T, N = x.shape[1], x.shape[2]
    # scipy 'reflect' repeats the edge sample (d c b a | a b c d | d c b a)
    padded = torch.cat([x[:, :r].flip(1), x, x[:, T - r:].flip(1)], dim=1)
    # one channel per neuron, the same taps for each (depthwise); a [B*N, 1, T] layout
    # computes the same but its backward is ~13x slower on CPU and would flatter the suite
    y = F.conv1d(padded.transpose(1, 2), g.view(1, 1, -1).expand(N, 1, -1), groups=N)
    return y.transpose(1, 2)


class PlainLoss:
    """The losses and the gradient balancing, written plainly."""

    def __init__(self, target, conditions, e_mask, n_conditions, sigma, counts_per_rate):
        self.conditions, self.sigma = conditions, sigma
        self.counts_per_rate = counts_per_rate   # the recording is spike counts
        self.C = n_conditions
        self.e, self.i = torch.as_tensor(e_mask), torch.as_tensor(~e_mask)
        self.members = [conditions == c for c in range(n_conditions)]
        s = gaussian_smooth(target, sigma)
        self.target_psth = torch.stack([s[m].mean(0) for m in self.members])      # [C, T, N]
        flat = self.target_psth.reshape(-1, target.shape[2])
        self.mu = flat.mean(0)
        self.sd = flat.std(0, unbiased=False).clamp(min=1e-3)
        self.target_signals = self.signals(target)
        self.mean_rate = float(target.mean())
        self.target_var = self.variance(target)
        self.norms = {}

    def signals(self, x):
        z = (gaussian_smooth(x, self.sigma) - self.mu) / self.sd
        return torch.stack([z[..., self.e].mean(-1), z[..., self.i].mean(-1)], dim=-1)

    def variance(self, x):
        s = gaussian_smooth(x, self.sigma)
        squares = sum(((s[m] - s[m].mean(0)) ** 2).sum(dim=(0, 1)) for m in self.members)
        return squares / (s.shape[0] * s.shape[1])

    def terms(self, model, rates):
        s = gaussian_smooth(rates, self.sigma)
        psth = torch.stack([s[m].mean(0) for m in self.members])
        neuron = (((psth - self.target_psth) / self.sd) ** 2).mean()
        sig = self.signals(rates)
        total, pairs = 0.0, 0
        for m in self.members:
            a, b = sig[m], self.target_signals[m]
            cost = ((a[:, None] - b[None]) ** 2).mean(dim=(2, 3))
            rows, cols = linear_sum_assignment(cost.detach().double().numpy())
            total = total + cost[rows, cols].sum()
            pairs += len(rows)
        trial = total / pairs
        weights = (model.w_rec() ** 2).sum() + (model.W_in ** 2).sum()
        rate = ((rates.mean() - self.mean_rate) / max(self.mean_rate, 1e-6)) ** 2
        # the model's variance plus the variance Poisson counting would add to a smoothed rate
        r = int(4 * self.sigma + 0.5)
        taps = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float64) / self.sigma) ** 2)
        gain = float(((taps / taps.sum()) ** 2).sum())
        observed = self.variance(rates) + rates.mean(dim=(0, 1)) * gain / self.counts_per_rate
        var = (torch.log((observed + 1e-4) / (self.target_var + 1e-4)) ** 2).mean()
        return neuron, trial, weights, rate, var

    def running(self, name, g):
        norm = float(torch.sqrt((g.double() ** 2).sum()))
        old = self.norms.get(name)
        self.norms[name] = norm if old is None else MOMENTUM * old + (1 - MOMENTUM) * norm
        return self.norms[name]


def plain_epoch(model, loss, u, optimizer, on_grads=None):
    """One full-batch epoch of the baseline; returns the same four numbers as the suite."""
    rates = model(u)
    out = rates.detach().requires_grad_(True)
    neuron, trial, weights, rate, var = loss.terms(model, out)
    fit = neuron + RATE_REG * rate + VARIANCE_REG * var
    g_fit, = torch.autograd.grad(fit, out, retain_graph=True)
    g_trial, = torch.autograd.grad(trial, out)
    n_fit, n_trial = loss.running("fit", g_fit), loss.running("trial", g_trial)
    rates.backward(g_fit / n_fit + TRIAL_SCALE * g_trial / n_trial)
    (WEIGHT_REG * weights / n_fit).backward()
    total = fit + TRIAL_SCALE * trial + WEIGHT_REG * weights
    if not math.isfinite(float(total.detach())):
        raise FloatingPointError("baseline loss is not finite")
    if on_grads is not None:
        on_grads()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"train_loss": float(total.detach()), "L_neuron": float(neuron.detach()),
            "L_trial": float(trial.detach()),
            "L_reg": float((WEIGHT_REG * weights + RATE_REG * rate + VARIANCE_REG * var).detach())}


# ============================================================================ the suite
def suite_step(model, optimizer, on_grads=None):
    """What Trainer._step does."""
    def step(loss):
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError("suite loss is not finite")
        if on_grads is not None:
            on_grads()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


# ============================================================================ the check
SUITE_TO_PLAIN = {"w_raw": "W", "w_in": "W_in", "bias": "b", "h0": "h0", "embed.weight": "A",
                  "embed.channel": "E", "embed.position": "P", "embed.w_qkv": "Wqkv",
                  "embed.b_qkv": "bqkv", "embed.w_out": "Wo", "embed.b_out": "bo"}


def grabber(model, store):
    def grab():
        store.update({n: p.grad.detach().clone() for n, p in model.named_parameters()
                      if p.grad is not None})
    return grab


def check(suite_terms, plain_terms, suite_grads, plain_grads, loss_tol=1e-4, grad_tol=1e-3):
    """Same losses and gradients on the first epoch, else stop."""
    problems, worst_loss, worst_grad = [], 0.0, 0.0
    for key, value in suite_terms.items():
        rel = abs(value - plain_terms[key]) / max(abs(value), 1e-12)
        worst_loss = max(worst_loss, rel)
        if rel > loss_tol:
            problems.append(f"{key}: suite {value:.8g}, baseline {plain_terms[key]:.8g} "
                            f"(relative {rel:.2e})")
    for name, g in suite_grads.items():
        other = plain_grads.get(SUITE_TO_PLAIN[name])
        if other is None:
            problems.append(f"gradient of {name}: missing in the baseline")
            continue
        rel = float((g - other).norm() / g.norm().clamp(min=1e-12))
        worst_grad = max(worst_grad, rel)
        if rel > grad_tol:
            problems.append(f"gradient of {name}: relative difference {rel:.2e}")
    if len(plain_grads) != len(suite_grads):
        problems.append(f"{len(suite_grads)} suite gradients, {len(plain_grads)} baseline ones")
    if problems:
        raise SystemExit("suite and baseline disagree on the first epoch, the benchmark would "
                         "compare different work:\n  " + "\n  ".join(problems))
    return worst_loss, worst_grad


# ============================================================================ main
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed epochs of each side")
    parser.add_argument("--embedding", choices=("linear", "attention"), default="attention")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as folder:
        train, val, labels, sigma_bins, rate_unit_hz, rec = load_data(Path(folder))
    e_mask = labels == 0
    params = EIRNNParams(tau_ms=50.0, dt_ms=float(rec.dt_ms), embedding=args.embedding)
    model = EIRNN(labels, rec.n_inputs, params, n_outputs=rec.n_conditions, seed=SEED)
    objective = ActivityFit(train, val, e_mask, rec.n_conditions, sigma_bins=sigma_bins,
                            counts_per_rate=rate_unit_hz * rec.dt_ms / 1000.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    plain = PlainRNN(model, args.embedding, params.n_heads)
    plain_loss = PlainLoss(train.rates, train.conditions, e_mask, rec.n_conditions, sigma_bins,
                           rate_unit_hz * rec.dt_ms / 1000.0)
    plain_optimizer = torch.optim.Adam(plain.parameters(), lr=LR)
    u = train.inputs

    def run_suite(on_grads=None):
        return objective.train_epoch(model, suite_step(model, optimizer, on_grads))

    def run_plain(on_grads=None):
        return plain_epoch(plain, plain_loss, u, plain_optimizer, on_grads)

    # warm-up epoch 1 = the check: same parameters, same noise (same seed, same layout)
    suite_grads, plain_grads = {}, {}
    torch.manual_seed(SEED)
    suite_terms = run_suite(grabber(model, suite_grads))
    torch.manual_seed(SEED)
    plain_terms = run_plain(grabber(plain, plain_grads))
    worst_loss, worst_grad = check(suite_terms, plain_terms, suite_grads, plain_grads)
    run_suite()
    run_plain()

    suite_times, plain_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run_suite()
        suite_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_plain()
        plain_times.append(time.perf_counter() - t0)
    suite_ms = 1e3 * float(np.median(suite_times))
    plain_ms = 1e3 * float(np.median(plain_times))
    ratio = plain_ms / suite_ms

    print(f"E-I RNN, one training epoch: {N_NEURONS} neurons ({int(e_mask.sum())} E / "
          f"{int((~e_mask).sum())} I), {len(train)} trials x {N_STEPS} steps, {N_INPUTS} inputs, "
          f"{rec.n_conditions} conditions, full batch (1 Adam step), embedding {args.embedding}")
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"check (epoch 1, same weights and noise): train_loss suite "
          f"{suite_terms['train_loss']:.6f}, baseline {plain_terms['train_loss']:.6f}; "
          f"largest relative difference: losses {worst_loss:.1e}, gradients {worst_grad:.1e}")
    print(f"  {'':34s} {'ms/epoch':>10s}")
    print(f"  {'suite (EIRNN + ActivityFit)':34s} {suite_ms:10.1f}   "
          f"(median of {args.repeats}, range {1e3 * min(suite_times):.1f}-"
          f"{1e3 * max(suite_times):.1f})")
    print(f"  {'baseline (plain torch loop)':34s} {plain_ms:10.1f}   "
          f"(median of {args.repeats}, range {1e3 * min(plain_times):.1f}-"
          f"{1e3 * max(plain_times):.1f})")
    print(f"  {'ratio baseline / suite':34s} {ratio:10.2f}x  "
          f"({'suite faster' if ratio >= 1 else 'suite slower'})")
    within = suite_ms <= 1.5 * plain_ms
    print(f"  suite {'IS' if within else 'is NOT'} within 1.5x of the baseline "
          f"(suite {suite_ms:.1f} ms {'<=' if within else '>'} 1.5 x {plain_ms:.1f} = "
          f"{1.5 * plain_ms:.1f} ms)")


if __name__ == "__main__":
    main()
