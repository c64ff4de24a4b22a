"""Time forward + backward of the compiled COBA twin vs the same maths written by hand in torch.

Both sides simulate the same conductance-based LIF network (:mod:`models.coba`,
the study's physiology) on the same input and back-propagate the same loss,
the squared error of every neuron's rate against 5 Hz (spike counts with
SuperSpike surrogate gradients, :class:`training.snn.SuperSpike`):

- compiled: :class:`training.snn.COBATwin`, whose update is compiled from
  Brian2's ``exponential_euler`` code by :mod:`training.compiler`, called as
  the homeostatic protocol calls it (``moments=False``);
- hand-written: :class:`PlainCOBA` below, the maths of one step typed in by
  hand::

      g_X     = g_X_decay - g_X_rise                      (AMPA, NMDA, GABA_A)
      g_tot   = g_L + sum_X g_X
      v_inf   = (g_L E_L + sum_X g_X E_X) / g_tot         (terms with E_X = 0 left out)
      v       = v_inf + (v - v_inf) exp(-dt g_tot / C_m)  where not refractory
      g_X_*   = g_X_* exp(-dt / tau_X_*)
      s       = H((v - v_th) / (v_th - E_L)) * [steps since spike >= round(t_ref/dt)]
      drive_P = s[:, P] @ W_P                             (P: a contiguous slice per type)
      g_X_*  += k_PX drive_P + k_in,X drive_in[t]         (k = g_bar / peak, model.increments)
      v       = v_reset where s (s detached)

  with weights ``exp(log_w)`` on the connectome's mask and the input drive of
  all steps as one sparse matmul, as in the twin.  It is the plain version:
  dense matmuls, and autograd's own weight gradient (an outer product added
  per step).  The input drive is split into per-step views once
  (``unbind``), whose backward stacks the steps' gradients once; indexing
  ``drive_in[:, t]`` in the loop instead (``--index-input``; what the twin did
  when this was written, once per input synapse type) makes every index's
  backward fill and add a gradient of the whole ``[batch, n_steps, n]`` drive,
  so the backward grows as ``n_steps^2``.

The network (default): 1000 neurons (800 E / 200 I), every ordered pair
connected with probability 0.1 (one assembly, study's log-normal weights),
1500 mitral inputs at 6 Hz (p = 0.02 onto E, weights 0.4 +- 0.2), batch 4,
2000 steps of 0.5 ms (1 s), float32, CPU, one torch thread.

Before timing, both are run in float64 for ``CHECK_STEPS`` steps from the same
weights and input: the spikes must be identical and the weight gradients
agree to 1e-6 (relative), else the script stops (it would time different
work).  Timing: one warm-up forward + backward of each, then ``--repeats`` of
each, alternated; medians reported.  Memory is measured in a fresh
subprocess per side (a warm-up of a few steps, then one forward + backward):

- peak RSS delta: the process's peak resident set (``VmHWM``, reset through
  ``/proc/self/clear_refs`` just before) minus its resident set just before
  the forward (after ``gc.collect()`` and glibc's ``malloc_trim(0)``); this is
  what the machine has to hold: the autograd graph, the input drive, the
  gradients and the allocator's slack;
- saved for backward: bytes of the distinct tensors autograd keeps for the
  backward pass (``torch.autograd.graph.saved_tensors_hooks``, counted once per
  storage), from forwards of ``T`` and ``T/2`` steps: their difference gives
  the bytes per step, the rest the fixed part (weights).

``--epoch`` times instead a piece of one epoch of the default homeostatic
training (``configs/homeostatic_training.yaml``: 5000 neurons, 20 assemblies,
batch 1, epochs of 10 s), built as the protocol builds it
(:mod:`protocols._snn_training`): forward + backward of ``--epoch-ms``
(default 500 ms) and of half that, per side, each side in its own subprocess,
and extrapolates to a 10-s epoch and to the configured number of epochs:
linearly, and with ``a T + c T^2`` fitted to the backward times of the two
lengths when they grow clearly faster than ``T`` (exponent >=
``MIN_EXPONENT``; below it two noisy points cannot tell a ``T^2`` term from
noise, and 400-fold extrapolation would magnify it).  Memory: peak RSS and
saved bytes at both lengths (same process, trimmed before each), extrapolated
linearly.  An extrapolation, not a measurement; the protocol's CV loss,
optimiser and figures are not timed.

    python benchmarks/snn.py                  # 1000 neurons, 1 s, batch 4 (a few minutes)
    python benchmarks/snn.py --quick          # 200 neurons, 0.2 s (under a minute)
    python benchmarks/snn.py --epoch          # piece of a homeostatic epoch, extrapolated
    python benchmarks/snn.py --quick --index-input   # hand-written indexes drive_in[:, t] too
    python benchmarks/snn.py --layouts        # the twin's sparse vs dense weights, 200-5000 neurons
    python benchmarks/snn.py --neurons 2000 --duration-ms 500 --repeats 5 --threads 2
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:           # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from models import coba                                 # noqa: E402
from models import connectome as cm                     # noqa: E402
from training.compiler import twin_value                # noqa: E402
from training.snn import COBATwin, SuperSpike           # noqa: E402


def _sources() -> str:
    """Short sha256 of the twin's two files, read at import: the code this process runs (the
    files may change under concurrent work; each subprocess reports its own)."""
    import hashlib

    return ", ".join(f"{name} {hashlib.sha256((ROOT / name).read_bytes()).hexdigest()[:10]}"
                     for name in ("training/snn.py", "training/compiler.py"))


SOURCES = _sources()

DT_MS = 0.5                  # integration step
P_CONNECT = 0.1              # every E->E, E->I, I->E, I->I pair
N_INPUTS = 1500              # mitral cells
INPUT_RATE_HZ = 6.0
P_INPUT = (0.02, 0.0)        # feedforward connection probability onto E, I
W_INPUT = ((0.4, 0.0), (0.2, 0.0))   # feedforward weight mean, std onto E, I
TARGET_HZ = 5.0              # rate of the loss
SURROGATE_SCALE = 100.0      # the twin's default (per threshold gap)
CHECK_STEPS = 400            # float64 equivalence run (0.2 s)
GRAD_TOL = 1e-6              # relative, float64
WARMUP_STEPS = 10            # the memory subprocess's warm-up
SEED = 42
MIB = 2.0 ** 20
MIN_EXPONENT = 1.2           # --epoch: backward time ~ T^exponent; fit a T^2 term only above


# ============================================================================ hand-written
class PlainCOBA(torch.nn.Module):
    """The COBA-LIF network written by hand (module docstring); same parameters as the twin:
    ``log_w_<type>`` [n_type, n] per presynaptic type and ``log_w_in`` [n_inputs, n]."""

    def __init__(self, model, connectome, ff_weights, dt_ms: float, *,
                 surrogate_scale: float = SURROGATE_SCALE, dtype=torch.float32,
                 index_input: bool = False):
        super().__init__()
        self.index_input = bool(index_input)
        cell_type = np.asarray(connectome.cell_type)
        self.n = int(cell_type.size)
        self.beta = float(surrogate_scale)
        c = {k: np.asarray(twin_value(v), dtype=np.float64)
             for k, v in model.neuron_constants(cell_type).items()}   # mV, nS, pF, ms

        def buffer(name, value):
            self.register_buffer(name, torch.as_tensor(value, dtype=dtype))

        buffer("g_L", c["g_L"])
        buffer("gl_el", c["g_L"] * c["E_L"])
        buffer("neg_dt_over_c", -dt_ms / c["C_m"])
        buffer("v_th", c["v_th"])
        buffer("inv_gap", 1.0 / (c["v_th"] - c["E_L"]))
        buffer("v_reset", c["v_reset"])
        buffer("E_L", c["E_L"])
        self.register_buffer("ref_steps", torch.as_tensor(np.rint(c["t_ref"] / dt_ms)
                                                          .astype(np.int64)))
        # synapse types: exact decay factors over one step, reversal potential
        self.synapses = [(s.name, math.exp(-dt_ms / twin_value(s.tau_decay)),
                          math.exp(-dt_ms / twin_value(s.tau_rise)), twin_value(s.E_rev))
                         for s in model.synapses]
        weights = sp.csr_matrix(connectome.weights)
        self.blocks = []     # (type index, first row, end row, {synapse: k in nS})
        for t, cell in enumerate(model.cell_types):
            rows = np.flatnonzero(cell_type == t)
            start, stop = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
            if stop - start != rows.size:
                raise ValueError(f"cell type {cell.name}: its neurons must be contiguous "
                                 "(excitatory first, then inhibitory)")
            self._weights(f"w_{t}", weights[start:stop].toarray(), dtype)
            self.blocks.append((t, start, stop, {k: twin_value(v) for k, v in
                                                 model.increments(cell).items()}))
        self._weights("w_in", sp.csr_matrix(ff_weights).toarray(), dtype)
        self.input_k = {k: twin_value(v) for k, v in model.increments(model.input_type).items()}

    def _weights(self, name, dense, dtype):
        mask = dense > 0
        self.register_buffer(f"mask_{name}", torch.as_tensor(mask))
        log_w = np.log(np.where(mask, dense, 1.0))
        setattr(self, f"log_{name}", torch.nn.Parameter(torch.as_tensor(log_w, dtype=dtype)))

    def weight(self, name):
        log_w = getattr(self, f"log_{name}")
        return torch.where(getattr(self, f"mask_{name}"), log_w.exp(), torch.zeros_like(log_w))

    def forward(self, inputs):
        """Spikes [batch, n_steps, n] of ``inputs`` [batch, n_steps, n_inputs] (bool)."""
        batch, n_steps, n_inputs = inputs.shape
        dtype = self.g_L.dtype
        w = [(start, stop, self.weight(f"w_{t}"), k) for t, start, stop, k in self.blocks]
        flat = inputs.reshape(batch * n_steps, n_inputs).to(dtype).to_sparse()
        drive_in = torch.sparse.mm(flat, self.weight("w_in")).reshape(batch, n_steps, self.n)
        # one view per step, made once: the backward of unbind stacks the steps' gradients
        # once, where indexing drive_in[:, step] would add a full-size gradient every step
        drive_in = [drive_in[:, step] for step in range(n_steps)] if self.index_input \
            else drive_in.unbind(dim=1)
        v = self.E_L.expand(batch, self.n)
        zero = torch.zeros(batch, self.n, dtype=dtype)
        g_decay = {name: zero for name, *_ in self.synapses}
        g_rise = dict(g_decay)
        since = torch.full((batch, self.n), 1 << 40, dtype=torch.int64)
        spikes = []
        for step in range(n_steps):
            since = since + 1
            active = since >= self.ref_steps
            # membrane: exponential Euler with the conductances of the step's start
            g_tot, num = self.g_L, self.gl_el
            for name, _, _, e_rev in self.synapses:
                g = g_decay[name] - g_rise[name]
                g_tot = g_tot + g
                if e_rev != 0.0:
                    num = num + g * e_rev
            v_inf = num / g_tot
            v_new = v_inf + (v - v_inf) * torch.exp(self.neg_dt_over_c * g_tot)
            v = torch.where(active, v_new, v)
            # conductances: exact decay
            for name, a_decay, a_rise, _ in self.synapses:
                g_decay[name] = g_decay[name] * a_decay
                g_rise[name] = g_rise[name] * a_rise
            s = SuperSpike.apply((v - self.v_th) * self.inv_gap, self.beta, active)
            drives = [(s[:, start:stop] @ w_t, k) for start, stop, w_t, k in w]
            for name, *_ in self.synapses:
                inc = None
                for drive, k in drives:
                    if name in k:
                        term = k[name] * drive
                        inc = term if inc is None else inc + term
                if name in self.input_k:
                    term = self.input_k[name] * drive_in[step]
                    inc = term if inc is None else inc + term
                if inc is not None:
                    g_decay[name] = g_decay[name] + inc
                    g_rise[name] = g_rise[name] + inc
            fired = s.detach() > 0
            v = torch.where(fired, self.v_reset, v)
            since = since.masked_fill(fired, 0)
            spikes.append(s)
        return torch.stack(spikes, dim=1)


# ============================================================================ networks
def bench_network(n_neurons: int, n_steps: int, batch: int):
    """(model, connectome, ff weights, input [batch, n_steps, n_inputs] bool) of the benchmark."""
    model = coba.default_model()
    p = ((P_CONNECT, P_CONNECT), (P_CONNECT, P_CONNECT))
    net = cm.assembly_network(n_neurons, n_assemblies=1, p_within=p, p_between=p,
                              rng=np.random.default_rng(SEED))
    ff = cm.feedforward_weights(N_INPUTS, net.cell_type, p=P_INPUT, w_mean=W_INPUT[0],
                                w_std=W_INPUT[1], rng=np.random.default_rng(SEED + 1))
    rng = np.random.default_rng(SEED + 2)
    rates = np.full(N_INPUTS, INPUT_RATE_HZ)
    x = np.stack([cm.poisson_input(rates, n_steps, DT_MS * 1e-3, rng) for _ in range(batch)])
    return model, net, ff, torch.as_tensor(x)


def homeostatic_config(duration_ms=None):
    from protocols import homeostatic_training
    from protocols.config import load_config

    overrides = [] if duration_ms is None else [f"simulation.duration={duration_ms} ms"]
    return load_config(ROOT / "configs" / "homeostatic_training.yaml",
                       homeostatic_training.SCHEMA, overrides)


def homeostatic_network(duration_ms: float):
    """The default homeostatic network, built as protocols/_snn_training.py builds it, and the
    input of epoch 1 shortened to ``duration_ms``."""
    from protocols import _snn_training as common

    config = homeostatic_config(duration_ms)
    model = common.model_from(config)
    net = common.connectome_from(config)
    ff, rates = common.inputs_from(config, net)
    x = common.epoch_input(config, rates, epoch=1)
    return config, model, net, ff, torch.as_tensor(x)


def make_pair_side(side, model, net, ff, dt_ms, surrogate_scale, dtype, index_input=False,
                   layout="sparse"):
    """(module, call: inputs -> spikes) of one side."""
    if side == "compiled":
        twin = COBATwin(model, net, ff, dt_ms, surrogate_scale=surrogate_scale, dtype=dtype,
                        layout=layout)
        return twin, lambda x: twin(x, moments=False).spikes
    plain = PlainCOBA(model, net, ff, dt_ms, surrogate_scale=surrogate_scale, dtype=dtype,
                      index_input=index_input)
    return plain, plain


# ============================================================================ measuring
def rate_loss(spikes, duration_s: float):
    """Mean squared error of every neuron's rate (batch mean) against TARGET_HZ."""
    rates = spikes.sum(dim=1).mean(dim=0) / duration_s
    return ((rates - TARGET_HZ) ** 2).mean()


def forward_backward(module, call, inputs, dt_ms: float):
    """(forward s, backward s, spikes): one forward (with the loss) and its backward."""
    for p in module.parameters():
        p.grad = None
    t0 = time.perf_counter()
    spikes = call(inputs)
    loss = rate_loss(spikes, inputs.shape[1] * dt_ms * 1e-3)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, spikes.detach()


def saved_bytes(call, inputs) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward of one forward."""
    seen = {}

    def pack(t):
        if t.layout != torch.strided:      # the sparse input of the input matmul
            seen[("sparse", id(t))] = t._indices().nbytes + t._values().nbytes
        else:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        spikes = call(inputs)
    del spikes
    return int(sum(seen.values()))


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(args) -> None:
    """One side in a fresh process: memory and times; prints one JSON line."""
    torch.set_num_threads(args.threads)
    if args.child_network == "homeostatic":
        config, model, net, ff, x = homeostatic_network(args.duration_ms)
        dt_ms = float(config.simulation.dt) * 1e3
        beta = float(config.hyperparameters.surrogate_scale)
    else:
        dt_ms, beta = DT_MS, SURROGATE_SCALE
        model, net, ff, x = bench_network(args.neurons, int(round(args.duration_ms / DT_MS)),
                                          args.batch)
    module, call = make_pair_side(args.child, model, net, ff, dt_ms, beta, torch.float32,
                                  args.index_input)
    n_steps = x.shape[1]
    half = n_steps // 2
    forward_backward(module, call, x[:, :WARMUP_STEPS], dt_ms)     # kernels, allocator
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        libc = None

    def measured(inputs):
        """(times of args.child_repeats runs, peak RSS delta of the first in MiB)."""
        gc.collect()
        if libc is not None:           # hand what earlier runs freed back to the system
            libc.malloc_trim(0)
        rss_before = _status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:             # reset VmHWM to VmRSS
            f.write("5")
        runs = [forward_backward(module, call, inputs, dt_ms)]
        peak = _status_kib("VmHWM")
        runs += [forward_backward(module, call, inputs, dt_ms)
                 for _ in range(args.child_repeats - 1)]
        return runs, (peak - rss_before) / 1024

    half_times, half_peak = measured(x[:, :half]) if args.child_half else ([], None)
    times, peak_delta = measured(x)
    spikes = times[-1][2]
    full_saved, half_saved = saved_bytes(call, x), saved_bytes(call, x[:, :half])
    per_step = (full_saved - half_saved) / (n_steps - half)
    cell_type = np.asarray(net.cell_type)
    rates = spikes.sum(dim=(0, 1)).numpy() / (x.shape[0] * n_steps * dt_ms * 1e-3)
    print(json.dumps({
        "forward_s": [t[0] for t in times], "backward_s": [t[1] for t in times],
        "half_forward_s": [t[0] for t in half_times],
        "half_backward_s": [t[1] for t in half_times],
        "peak_delta_mib": peak_delta, "half_peak_delta_mib": half_peak,
        "saved_mib": full_saved / MIB, "saved_per_step_mib": per_step / MIB,
        "saved_fixed_mib": (full_saved - per_step * n_steps) / MIB,
        "rate_e_hz": float(rates[cell_type == 0].mean()),
        "rate_i_hz": float(rates[cell_type == 1].mean()),
        "n": int(cell_type.size), "n_synapses": int(sp.csr_matrix(net.weights).nnz),
        "n_steps": int(n_steps), "half_steps": int(half), "batch": int(x.shape[0]),
        "threads": torch.get_num_threads(), "sources": SOURCES,
    }))


def run_child(side: str, network: str, args, repeats: int = 1, half: bool = False) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", side,
               "--child-network", network, "--child-repeats", str(repeats),
               "--neurons", str(args.neurons), "--duration-ms", str(args.duration_ms),
               "--batch", str(args.batch), "--threads", str(args.threads)]
    command += ["--child-half"] if half else []
    command += ["--index-input"] if args.index_input else []
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0:
        raise SystemExit(f"subprocess ({side}, {network}) failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ============================================================================ the check
def check(model, net, ff, x) -> tuple[int, float]:
    """Float64, CHECK_STEPS steps, same weights and input: identical spikes, same gradients."""
    sides = {side: make_pair_side(side, model, net, ff, DT_MS, SURROGATE_SCALE, torch.float64)
             for side in ("compiled", "hand")}
    out = {side: forward_backward(module, call, x[:, :CHECK_STEPS], DT_MS)[2]
           for side, (module, call) in sides.items()}
    if not torch.equal(out["compiled"], out["hand"]):
        differ = int((out["compiled"] != out["hand"]).sum())
        raise SystemExit(f"float64 check: the twin and the hand-written network disagree on "
                         f"{differ} spikes; the benchmark would compare different work")
    twin, plain = sides["compiled"][0], sides["hand"][0]
    worst = 0.0
    for name, p in twin.named_parameters():
        g, other = p.grad, getattr(plain, name).grad
        rel = float((g - other).norm() / g.norm().clamp(min=1e-300))
        worst = max(worst, rel)
        if not rel <= GRAD_TOL:
            raise SystemExit(f"float64 check: gradient of {name} differs by {rel:.2e} "
                             f"(relative; tolerance {GRAD_TOL})")
    return int(out["compiled"].sum()), worst


# ============================================================================ sections
def changed(children: dict) -> None:
    """Say so when a subprocess ran other twin code than this process (concurrent edits)."""
    for side, r in children.items():
        if r["sources"] != SOURCES:
            print(f"WARNING: the {side} subprocess ran other code: {r['sources']}")


def stats(values) -> str:
    return f"{np.median(values):8.3f} s [{min(values):.3f}-{max(values):.3f}]"


def compare(args) -> None:
    n_steps = int(round(args.duration_ms / DT_MS))
    model, net, ff, x = bench_network(args.neurons, n_steps, args.batch)
    n_spikes, worst_grad = check(model, net, ff, x)
    sides = {side: make_pair_side(side, model, net, ff, DT_MS, SURROGATE_SCALE, torch.float32,
                                  args.index_input)
             for side in ("compiled", "hand")}
    times = {side: ([], []) for side in sides}
    for side, (module, call) in sides.items():                      # warm-up
        forward_backward(module, call, x, DT_MS)
    for _ in range(args.repeats):
        for side, (module, call) in sides.items():
            fwd, bwd, spikes = forward_backward(module, call, x, DT_MS)
            times[side][0].append(fwd)
            times[side][1].append(bwd)
    memory = {side: run_child(side, "bench", args) for side in sides}

    cell_type = np.asarray(net.cell_type)
    rates = spikes.sum(dim=(0, 1)).numpy() / (args.batch * n_steps * DT_MS * 1e-3)
    n_e = int((cell_type == 0).sum())
    n_syn = sp.csr_matrix(net.weights).nnz
    print(f"COBA network, forward + backward (rate loss): {args.neurons} neurons ({n_e} E / "
          f"{args.neurons - n_e} I), {100 * n_syn / args.neurons ** 2:.1f}% connected "
          f"({n_syn} synapses), {N_INPUTS} inputs at {INPUT_RATE_HZ:g} Hz (p={P_INPUT[0]} onto "
          f"E), batch {args.batch}, {n_steps} steps of {DT_MS} ms ({n_steps * DT_MS / 1e3:g} s), "
          f"float32, CPU")
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"twin source (sha256): {SOURCES}")
    changed(memory)
    print(f"rates (hand-written, float32, last run): E {rates[cell_type == 0].mean():.2f} Hz, "
          f"I {rates[cell_type == 1].mean():.2f} Hz")
    print(f"check (float64, {CHECK_STEPS} steps, same weights and input): spikes identical "
          f"({n_spikes} spikes), largest relative gradient difference {worst_grad:.1e}")
    print(f"times: median of {args.repeats} after one warm-up, alternated [range]; memory: one "
          f"forward + backward in a fresh process per side")
    header = (f"  {'':26s} {'forward':>27s} {'backward':>27s} {'total':>10s} "
              f"{'peak RSS +MiB':>14s} {'saved MiB':>10s} {'MiB/step':>9s}")
    print(header)
    total = {}
    for side, label in (("compiled", "compiled twin (COBATwin)"), ("hand", hand_label(args))):
        fwd, bwd = times[side]
        total[side] = [a + b for a, b in zip(fwd, bwd)]
        m = memory[side]
        print(f"  {label:26s} {stats(fwd):>27s} {stats(bwd):>27s} "
              f"{np.median(total[side]):8.3f} s {m['peak_delta_mib']:14.1f} "
              f"{m['saved_mib']:10.1f} {m['saved_per_step_mib']:9.3f}")
    c, h = times["compiled"], times["hand"]
    ratio = float(np.median(total["compiled"]) / np.median(total["hand"]))
    mc, mh = memory["compiled"], memory["hand"]
    print(f"  {'ratio compiled / hand':26s} {np.median(c[0]) / np.median(h[0]):26.2f}x "
          f"{np.median(c[1]) / np.median(h[1]):26.2f}x {ratio:9.2f}x "
          f"{mc['peak_delta_mib'] / mh['peak_delta_mib']:13.2f}x "
          f"{mc['saved_mib'] / mh['saved_mib']:9.2f}x "
          f"{mc['saved_per_step_mib'] / mh['saved_per_step_mib']:8.2f}x")
    within = ratio <= 1.2
    print(f"  compiled twin {'IS' if within else 'is NOT'} within 1.2x of the hand-written "
          f"version (forward + backward, medians: {np.median(total['compiled']):.3f} s "
          f"{'<=' if within else '>'} 1.2 x {np.median(total['hand']):.3f} s)")


def hand_label(args) -> str:
    return "hand-written, drive_in[:,t]" if args.index_input else "hand-written torch"


def fit_steps(t_half: float, t_full: float, half: int, full: int) -> tuple[float, float]:
    """``(a, c)`` of ``t(T) = a T + c T^2`` through two measured lengths (``c >= 0``)."""
    c = (t_full * half - t_half * full) / (full * full * half - half * half * full)
    c = max(c, 0.0)
    a = (t_full - c * full * full) / full
    return a, c


def epoch(args) -> None:
    full = homeostatic_config()
    epoch_s = float(full.simulation.duration)
    n_epochs = int(full.simulation.epochs)
    dt_s = float(full.simulation.dt)
    epoch_steps = int(round(epoch_s / dt_s))
    args.batch, args.neurons = int(full.simulation.batch_size), int(full.network.n_neurons)
    args.duration_ms = args.epoch_ms
    result = {side: run_child(side, "homeostatic", args, repeats=args.epoch_repeats, half=True)
              for side in ("compiled", "hand")}
    first = result["compiled"]
    steps, half = first["n_steps"], first["half_steps"]
    print(f"homeostatic training, default config (configs/homeostatic_training.yaml): "
          f"{first['n']} neurons, {first['n_synapses']} synapses, batch {first['batch']}, "
          f"dt {dt_s * 1e3:g} ms, epochs of {epoch_s:g} s ({epoch_steps} steps), {n_epochs} "
          f"epochs; float32, CPU, threads {first['threads']}")
    print(f"twin source (sha256): {SOURCES}")
    changed(result)
    print(f"measured: forward + backward (rate loss) of the first {steps * dt_s:g} s ({steps} "
          f"steps) and {half * dt_s:g} s ({half} steps) of epoch 1, median of "
          f"{args.epoch_repeats} each, per side in a fresh process (warm-up {WARMUP_STEPS} "
          f"steps); rates E {first['rate_e_hz']:.2f} Hz, I {first['rate_i_hz']:.2f} Hz")
    print(f"EXTRAPOLATED to one {epoch_s:g}-s epoch and to {n_epochs} epochs, not measured; "
          f"'linear': x{epoch_steps / steps:g} the {steps}-step time; 'fit': a T + c T^2 "
          f"through both lengths (backward only; linear unless the backward's exponent in T is "
          f">= {MIN_EXPONENT}); the CV "
          f"loss, the optimiser, figures and checkpoints are not included")
    print(f"  {'':28s} {'fwd':>7s} {'bwd':>7s} {f'bwd {half}':>8s} {'bwd T-exp':>9s} "
          f"{'epoch lin':>10s} {'epoch fit':>10s} {f'{n_epochs} ep lin':>10s} "
          f"{f'{n_epochs} ep fit':>10s}")
    totals = {}
    for side, label in (("compiled", "compiled twin (COBATwin)"), ("hand", hand_label(args))):
        r = result[side]
        fwd, bwd = float(np.median(r["forward_s"])), float(np.median(r["backward_s"]))
        bwd_half = float(np.median(r["half_backward_s"]))
        totals[side] = fwd + bwd
        exponent = math.log(bwd / bwd_half) / math.log(steps / half)
        # two noisy points cannot tell a small T^2 term from noise, and x400 magnifies it:
        # fit only a clear growth
        a, c = fit_steps(bwd_half, bwd, half, steps) if exponent >= MIN_EXPONENT \
            else (bwd / steps, 0.0)
        linear = (fwd + bwd) * epoch_steps / steps
        fitted = fwd * epoch_steps / steps + a * epoch_steps + c * epoch_steps ** 2
        print(f"  {label:28s} {fwd:6.2f}s {bwd:6.2f}s {bwd_half:7.2f}s {exponent:9.2f} "
              f"{linear / 60:7.1f}min {fitted / 60:7.1f}min {linear * n_epochs / 3600:9.1f}h "
              f"{fitted * n_epochs / 3600:9.1f}h")
    print(f"  ratio compiled / hand, forward + backward of {steps} steps: "
          f"{totals['compiled'] / totals['hand']:.2f}x")
    print(f"memory: measured at {half} and {steps} steps; one {epoch_s:g}-s epoch EXTRAPOLATED "
          f"linearly through both (peak RSS above the process's level before the forward; "
          f"bytes autograd saves for backward)")
    for side, label in (("compiled", "compiled twin (COBATwin)"), ("hand", hand_label(args))):
        r = result[side]
        rss_step = (r["peak_delta_mib"] - r["half_peak_delta_mib"]) / (steps - half)
        rss_epoch = r["peak_delta_mib"] + rss_step * (epoch_steps - steps)
        saved_epoch = r["saved_mib"] + r["saved_per_step_mib"] * (epoch_steps - steps)
        print(f"  {label:28s} peak RSS +{r['half_peak_delta_mib']:.0f} / "
              f"+{r['peak_delta_mib']:.0f} MiB ({rss_step:.3f}/step), saved "
              f"{r['saved_mib']:.0f} MiB = {r['saved_fixed_mib']:.0f} fixed + "
              f"{r['saved_per_step_mib']:.3f}/step; epoch: peak RSS ~+{rss_epoch / 1024:.1f} GiB, "
              f"saved {saved_epoch / 1024:.1f} GiB")


# ============================================================================ main
def layouts(args) -> None:
    """The twin's two weight layouts on the same networks: forward + backward, interleaved."""
    sizes = [(200, 200.0, 4), (1000, 500.0, 4)] if not args.quick else [(200, 100.0, 4)]
    cases = [("bench", n, ms, b) for n, ms, b in sizes]
    if not args.quick:
        cases.append(("homeostatic", 5000, 200.0, 1))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), float32, CPU; "
          f"medians of {args.repeats} forward + backward runs per layout, alternated")
    print(f"{'network':<34} {'sparse s':>9} {'dense s':>9} {'dense/sparse':>13} "
          f"{'weight MB sparse/dense':>23}")
    for kind, n, ms, batch in cases:
        if kind == "bench":
            steps = int(round(ms / DT_MS))
            model, net, ff, x = bench_network(n, steps, batch)
            label = f"{n} neurons, p {P_CONNECT}, batch {batch}, {ms:g} ms"
            scale = 100.0
        else:
            config, model, net, ff, x = homeostatic_network(ms)
            label = f"default homeostatic (5000), {ms:g} ms"
            scale = config.hyperparameters.surrogate_scale
        times = {"sparse": [], "dense": []}
        spikes, sizes_mb = {}, {}
        twins = {}
        for layout in times:
            twins[layout], call = make_pair_side("compiled", model, net, ff, DT_MS, scale,
                                                 torch.float32, layout=layout)
            sizes_mb[layout] = sum(p.numel() * p.element_size()
                                   for p in twins[layout].parameters()) / 2**20
            forward_backward(twins[layout], call, x, DT_MS)          # warm-up
        for _ in range(args.repeats):
            for layout in times:
                twin = twins[layout]
                fwd, bwd, spikes[layout] = forward_backward(
                    twin, lambda inputs, t=twin: t(inputs, moments=False).spikes, x, DT_MS)
                times[layout].append(fwd + bwd)
        same = float((spikes["sparse"] != spikes["dense"]).float().mean())
        ts, td = (float(np.median(times[k])) for k in ("sparse", "dense"))
        print(f"{label:<34} {ts:9.2f} {td:9.2f} {td / ts:12.2f}x "
              f"{sizes_mb['sparse']:>11.1f} / {sizes_mb['dense']:<9.1f}"
              + (f"  (spikes differ at {same:.1e} of entries: float32 sum order)" if same else ""))
    print("weight MB: the learned log-weights; their gradients and Adam's two moments are "
          "3 more copies of the same size, and checkpoints hold all four")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--duration-ms", type=float, default=1000.0)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="200 neurons, 0.2 s")
    parser.add_argument("--epoch", action="store_true",
                        help="a piece of a default homeostatic epoch instead, extrapolated")
    parser.add_argument("--epoch-ms", type=float, default=500.0,
                        help="simulated piece of the epoch (--epoch)")
    parser.add_argument("--epoch-repeats", type=int, default=2,
                        help="forward + backward runs per side (--epoch)")
    parser.add_argument("--layouts", action="store_true",
                        help="the twin's sparse vs dense weight layouts instead (200, 1000 and "
                             "the default 5000 neurons; --quick: 200 only)")
    parser.add_argument("--index-input", action="store_true",
                        help="hand-written side indexes drive_in[:, t] every step, as the twin")
    parser.add_argument("--child-half", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("compiled", "hand"), help=argparse.SUPPRESS)
    parser.add_argument("--child-network", choices=("bench", "homeostatic"), default="bench",
                        help=argparse.SUPPRESS)
    parser.add_argument("--child-repeats", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    torch.set_num_threads(args.threads)
    if args.quick:
        args.neurons, args.duration_ms = 200, 200.0
    if args.layouts:
        layouts(args)
    elif args.epoch:
        epoch(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
