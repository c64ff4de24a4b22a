"""The torch twin of a conductance-based LIF network, compiled from its Brian2 equations.

One time step, in Brian2's order (groups, thresholds, synapses, resets)::

    not_refractory = steps since the last spike >= round(t_ref/dt)      (Brian2's timestep rule)
    state = update(state)                  # compiled from the equations (training.compiler);
                                           # variables flagged (unless refractory) keep their value
                                           # while refractory
    x = (v - v_th) / (v_th - E_L)          # distance to threshold in units of the threshold gap
    s = H(x) * not_refractory              # spike; backward: SuperSpike fast sigmoid
    for each presynaptic type P:           # one matmul per presynaptic type ...
        drive_P = s[:, P] @ W_P            # [batch, n]
        for each synapse type X of P:      # ... then per-synapse-type scaling
            g_X_decay += k_PX drive_P;  g_X_rise += k_PX drive_P
    v = where(s, v_reset, v)               # reset, with s detached (no gradient through it)

The surrogate derivative is ``dH/dx = 1 / (1 + beta |x|)^2`` with ``x`` in
units of the neuron's threshold gap ``v_th - E_L`` (22 mV for excitatory, 15
mV for inhibitory cells) and ``beta = surrogate_scale`` (default 100): so
``ds/dv = 1/gap / (1 + beta |v - v_th|/gap)^2``.  Its integral over ``v`` is
``2/beta`` whatever the gap; the study's scale of 100 per mV had the same
integral and a 22 (15) times narrower, higher peak.

Weights: only existing synapses exist as parameters and their signs are fixed
by the presynaptic type (Dale): a strength is ``exp(log_w)``, so it stays
positive whatever the optimiser does.  Two layouts hold the same numbers:

- ``layout="sparse"``: one log-weight per synapse, in the
  connectome's row-major (CSR) order.  A step's drive gathers the rows of the
  neurons that fired (a handful) and scatters them onto their targets; the
  backward multiplies the output gradient by the CSR matrix (``nnz`` work,
  not ``n_pre * n``); the weight gradient is collected from the spikes' rows
  only (:class:`SparseDrive`).
- ``layout="dense"``: a ``[n_pre, n]`` log-weight matrix over the
  connectome's mask (non-synapses have no weight and get no gradient)
  (:class:`RecurrentDrive`).

``layout="auto"`` (the default) takes the dense layout below
``AUTO_SPARSE_NEURONS`` (2000) neurons and the sparse one from there on:
``benchmarks/snn.py --layouts`` measured the dense layout 1.2x faster at 200
neurons and 1.06x at 1000 (the sparse step's gathers cost a few small
operations each), the sparse one 2.8x faster at the default 5000 neurons, with
36x less memory in the parameters, gradients, Adam moments and checkpoints
(docs/performance.md).

State (``TwinState``) carries from one call to the next, so a long run can be
simulated in pieces, and is detached by the caller between epochs.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from training.compiler import compile_model, twin_value

__all__ = ["SuperSpike", "TwinState", "TwinOutput", "COBATwin", "export_to_brian2", "LAYOUTS"]

#: weight layouts of :class:`COBATwin` ("auto": sparse from AUTO_SPARSE_NEURONS neurons on)
LAYOUTS = ("auto", "sparse", "dense")
#: below this many neurons the dense layout is faster (benchmarks/snn.py --layouts: 0.8x at
#: 200 neurons, 0.94x at 1000, 2.8x faster sparse at the default 5000)
AUTO_SPARSE_NEURONS = 2000


class SuperSpike(torch.autograd.Function):
    """Heaviside forward; fast-sigmoid derivative ``1/(1 + beta|x|)^2`` backward
    (Zenke & Ganguli 2018, Neural Comput 30:1514, doi:10.1162/neco_a_01086)."""

    @staticmethod
    def forward(ctx, x, beta: float, active=None):
        """``H(x)``, times ``active`` (not refractory: no spike, no gradient) when given."""
        out = (x > 0) if active is None else (x > 0) & active
        ctx.save_for_backward(x, active if active is not None else torch.ones(()))
        ctx.beta = beta
        ctx.has_active = active is not None
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, active = ctx.saved_tensors
        grad = grad_output / (ctx.beta * x.abs() + 1.0) ** 2
        if ctx.has_active:
            grad = grad * active
        return grad, None, None


class _WeightGradient:
    """The presynaptic spikes and output gradients of every step of one forward pass, so the
    weight gradient is one matmul over all steps instead of an outer product per step."""

    def __init__(self):
        self.spikes, self.grads = [], []


class RecurrentDrive(torch.autograd.Function):
    """``s @ w`` for one step, with the weight gradient deferred to the first step.

    Autograd would add an outer product ``s_t^T g_t`` ([n_pre, n]) into the weight's
    gradient at every step: memory-bound and, for thousands of neurons, most of the
    backward pass.  Here each step keeps ``(s_t, g_t)`` in a shared bank; the first step of
    the forward pass is the last one autograd reaches (every later step depends on it), and
    its backward returns ``S^T G`` for the whole pass: one matrix product.  The forward uses
    the spikes' sparsity (a handful of neurons fire per step).
    """

    @staticmethod
    def forward(ctx, s, w, bank, first: bool):
        ctx.save_for_backward(s, w)
        ctx.bank, ctx.first = bank, first
        if s.shape[0] * s.shape[1] > 256 and float(s.count_nonzero()) < 0.05 * s.numel():
            return torch.sparse.mm(s.to_sparse(), w)
        return s @ w

    @staticmethod
    def backward(ctx, grad):
        s, w = ctx.saved_tensors
        bank = ctx.bank
        grad_w = None
        if ctx.needs_input_grad[1]:
            bank.spikes.append(s)
            bank.grads.append(grad)
            if ctx.first:
                spikes = torch.cat(bank.spikes, dim=0)      # [steps*batch, n_pre]
                grads = torch.cat(bank.grads, dim=0)        # [steps*batch, n]
                grad_w = spikes.transpose(0, 1) @ grads
                bank.spikes.clear()
                bank.grads.clear()
        grad_s = grad @ w.transpose(0, 1) if ctx.needs_input_grad[0] else None
        return grad_s, grad_w, None, None


def _row_positions(crow: torch.Tensor, rows: torch.Tensor):
    """For presynaptic rows ``rows`` [m] of a CSR structure: ``(owner, pos)``, the index into
    ``rows`` and the synapse index of every synapse of those rows (row by row)."""
    starts = crow[rows]
    lengths = crow[rows + 1] - starts
    owner = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), lengths)
    offsets = torch.cumsum(lengths, 0) - lengths
    pos = starts[owner] + torch.arange(owner.numel(), device=rows.device) - offsets[owner]
    return owner, pos


class _SparseWeights(NamedTuple):
    """One presynaptic type's synapses in CSR order, and the matrix for the backward."""
    crow: torch.Tensor            # [n_pre + 1]
    col: torch.Tensor             # [nnz] postsynaptic neuron of each synapse
    n_post: int
    matrix: torch.Tensor          # CSR [n_pre, n_post] of the strengths (detached)


class _SparseBank:
    """Synapse indices and gradient contributions of every step of one forward pass."""

    def __init__(self):
        self.pos, self.values = [], []


class SparseDrive(torch.autograd.Function):
    """``s @ W`` for one step with ``W`` given by its synapses (CSR order).

    Forward: the rows of the neurons that fired are gathered and scattered onto
    their targets (work: the spikes' out-degree).  Backward: ``grad_s = grad
    @ W^T`` as one CSR product (``nnz`` work), and the gradient of each synapse
    ``sum_t s_t[pre] grad_t[post]`` from the steps' spikes only, kept in a bank and
    summed into one ``[nnz]`` tensor at the first step (the last one autograd
    reaches).
    """

    @staticmethod
    def forward(ctx, s, values, weights: _SparseWeights, bank, first: bool):
        b, j = s.nonzero(as_tuple=True)
        owner, pos = _row_positions(weights.crow, j)
        sv = s[b, j]
        drive = torch.zeros(s.shape[0], weights.n_post, dtype=s.dtype, device=s.device)
        if pos.numel():
            drive.index_put_((b[owner], weights.col[pos]), values[pos] * sv[owner],
                             accumulate=True)
        ctx.weights, ctx.bank, ctx.first = weights, bank, first
        ctx.n_values = values.numel()
        ctx.save_for_backward(b[owner], pos, sv[owner])
        return drive

    @staticmethod
    def backward(ctx, grad):
        b, pos, sv = ctx.saved_tensors
        weights, bank = ctx.weights, ctx.bank
        grad_values = None
        if ctx.needs_input_grad[1]:
            if pos.numel():
                bank.pos.append(pos)
                bank.values.append(sv * grad[b, weights.col[pos]])
            if ctx.first:
                grad_values = torch.zeros(ctx.n_values, dtype=grad.dtype, device=grad.device)
                if bank.pos:
                    grad_values.index_add_(0, torch.cat(bank.pos), torch.cat(bank.values))
                bank.pos.clear()
                bank.values.clear()
        grad_s = None
        if ctx.needs_input_grad[0]:
            grad_s = torch.sparse.mm(weights.matrix, grad.transpose(0, 1)).transpose(0, 1)
        return grad_s, grad_values, None, None, None


class TwinState(NamedTuple):
    values: dict                  # integrated variables: v (mV), conductance components (nS)
    since_spike: torch.Tensor     # int64 [batch, n]: steps since the last spike

    def detach(self) -> "TwinState":
        return TwinState({k: v.detach() for k, v in self.values.items()}, self.since_spike)


class TwinOutput(NamedTuple):
    spikes: torch.Tensor          # [batch, n_steps, n] 0/1 with surrogate gradients
    v: torch.Tensor | None        # [batch, n_steps, n_recorded] mV after each step (after reset)
    v_sum: torch.Tensor           # [batch, n] sum of v over the steps (before reset), mV
    v_sq_sum: torch.Tensor        # [batch, n] sum of v^2, mV^2
    state: TwinState


class COBATwin(torch.nn.Module):
    """A :class:`models.coba.COBAModel` network on a connectome, as a torch module.

    Parameters
    ----------
    model : models.coba.COBAModel
    connectome : models.connectome.Connectome
    ff_weights : scipy.sparse matrix [n_inputs, n]
    dt_ms : float
    surrogate_scale : float
        ``beta`` of the fast sigmoid, per threshold gap (see module docstring).
    learn : {"weights", "recurrent", "feedforward", "none"}
        Which weights are parameters.
    layout : {"auto", "sparse", "dense"}
        One log-weight per synapse (CSR order), or a masked dense matrix (module docstring);
        ``auto``: sparse from ``AUTO_SPARSE_NEURONS`` neurons on.
    dtype : torch dtype (float32 for training; float64 for the equivalence test)
    """

    def __init__(self, model, connectome, ff_weights, dt_ms: float, *,
                 surrogate_scale: float = 100.0, learn: str = "weights",
                 layout: str = "auto", dtype=torch.float32):
        super().__init__()
        import scipy.sparse as sp

        if learn not in ("weights", "recurrent", "feedforward", "none"):
            raise ValueError(f"learn must be weights, recurrent, feedforward or none, got "
                             f"{learn!r}")
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        if not surrogate_scale > 0:
            raise ValueError(f"surrogate_scale must be positive, got {surrogate_scale!r}")
        self.model = model
        self.dt_ms = float(dt_ms)
        self.surrogate_scale = float(surrogate_scale)
        self.learn = learn
        if layout == "auto":
            layout = "sparse" if connectome.n >= AUTO_SPARSE_NEURONS else "dense"
        self.layout = layout
        self.step_fn = compile_model(model, self.dt_ms)
        cell_type = np.asarray(connectome.cell_type)
        self.n = int(connectome.n)
        self.n_types = len(model.cell_types)
        # per-neuron constants in the twin's units (mV, nS, pF, ms)
        for name, value in model.neuron_constants(cell_type).items():
            self.register_buffer(f"c_{name}", torch.as_tensor(twin_value(value), dtype=dtype))
        ref_steps = np.floor((twin_value(model.neuron_constants(cell_type)["t_ref"])
                              + 1e-3 * self.dt_ms) / self.dt_ms).astype(np.int64)
        self.register_buffer("ref_steps", torch.as_tensor(ref_steps))   # Brian2's timestep()
        self.register_buffer("cell_type", torch.as_tensor(cell_type.astype(np.int64)))
        gap = twin_value(model.neuron_constants(cell_type)["v_th"]) - \
            twin_value(model.neuron_constants(cell_type)["E_L"])
        if np.any(gap <= 0):
            raise ValueError("every cell type needs v_th > E_L (the surrogate's threshold gap)")
        self.register_buffer("gap", torch.as_tensor(gap, dtype=dtype))
        weights = sp.csr_matrix(connectome.weights)
        self.shapes = {}     # name -> (n_pre, n_post)
        self.sources = []    # (name, rows or None, {synapse: k in nS})
        for t, cell in enumerate(model.cell_types):
            rows = np.flatnonzero(cell_type == t)
            self.register_buffer(f"rows_{t}", torch.as_tensor(rows.astype(np.int64)))
            self._add_weights(f"w_{t}", weights[rows], dtype, learn in ("weights", "recurrent"))
            self.sources.append((cell.name, t, {k: twin_value(v) for k, v in
                                                model.increments(cell).items()}))
        ff = sp.csr_matrix(ff_weights)
        if ff.shape[1] != self.n:
            raise ValueError(f"ff_weights has {ff.shape[1]} columns for {self.n} neurons")
        self.n_inputs = int(ff.shape[0])
        self._add_weights("w_in", ff, dtype, learn in ("weights", "feedforward"))
        self.input_increments = {k: twin_value(v) for k, v in
                                 model.increments(model.input_type).items()}

    def _add_weights(self, name: str, matrix, dtype, trainable: bool) -> None:
        import scipy.sparse as sp

        matrix = sp.csr_matrix(matrix, dtype=np.float64)
        if np.any(matrix.data < 0) or not np.all(np.isfinite(matrix.data)):
            raise ValueError(f"{name}: weights must be finite and non-negative (Dale's law: the "
                             "sign is the presynaptic type's)")
        matrix.eliminate_zeros()
        matrix.sum_duplicates()
        matrix.sort_indices()
        self.shapes[name] = matrix.shape
        if self.layout == "sparse":
            self.register_buffer(f"crow_{name}", torch.as_tensor(matrix.indptr.astype(np.int64)))
            self.register_buffer(f"col_{name}", torch.as_tensor(matrix.indices.astype(np.int64)))
            log_w = np.log(matrix.data)
        else:
            dense = matrix.toarray()
            mask = dense > 0
            log_w = np.where(mask, np.log(np.where(mask, dense, 1.0)), 0.0)
            self.register_buffer(f"mask_{name}", torch.as_tensor(mask))
        tensor = torch.as_tensor(log_w, dtype=dtype)
        if trainable:
            setattr(self, f"log_{name}", torch.nn.Parameter(tensor))
        else:
            self.register_buffer(f"log_{name}", tensor)

    # -- weights
    def weight(self, name: str) -> torch.Tensor:
        """The strengths ``exp(log_w)`` as a dense ``[n_pre, n_post]`` matrix, 0 where there is
        no synapse: ``w_0``, ``w_1``, ``w_in`` (differentiable)."""
        log_w = getattr(self, f"log_{name}")
        if self.layout == "sparse":
            return self._sparse(name, log_w.exp()).to_dense()
        return torch.where(getattr(self, f"mask_{name}"), log_w.exp(), torch.zeros_like(log_w))

    def _sparse(self, name: str, values: torch.Tensor) -> torch.Tensor:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)    # torch: "CSR support is in beta"
            return torch.sparse_csr_tensor(getattr(self, f"crow_{name}"),
                                           getattr(self, f"col_{name}"), values,
                                           size=self.shapes[name])

    def synapse_log_weights(self, name: str) -> torch.Tensor:
        """The log-weights of the synapses of ``name``, one per synapse in row-major (CSR)
        order, whatever the layout (a copy)."""
        log_w = getattr(self, f"log_{name}")
        if self.layout == "sparse":
            return log_w.detach().clone()
        return log_w.detach()[getattr(self, f"mask_{name}")]

    @torch.no_grad()
    def add_to_log_weights_(self, name: str, delta) -> None:
        """Add ``delta`` (one number per synapse, row-major order) to the log-weights of
        ``name``: the same change in both layouts."""
        log_w = getattr(self, f"log_{name}")
        delta = torch.as_tensor(delta, dtype=log_w.dtype, device=log_w.device)
        if self.layout == "sparse":
            log_w.add_(delta)
        else:
            log_w[getattr(self, f"mask_{name}")] += delta

    def weight_names(self) -> list:
        """``w_0``, ``w_1``, ... (one per presynaptic cell type) and ``w_in``."""
        return [f"w_{t}" for t in range(self.n_types)] + ["w_in"]

    def recurrent_weights(self) -> torch.Tensor:
        """All recurrent strengths as one [n_pre, n_post] tensor (detached)."""
        out = torch.zeros(self.n, self.n, dtype=self.c_v_th.dtype, device=self.c_v_th.device)
        for t in range(self.n_types):
            out[getattr(self, f"rows_{t}")] = self.weight(f"w_{t}").detach()
        return out

    def constants(self) -> dict:
        return {name: getattr(self, f"c_{name}") for name in self.step_fn.constants}

    # -- state
    def initial_state(self, batch: int = 1, v0=None) -> TwinState:
        """Every membrane at its leak reversal (or ``v0`` [n] or [batch, n], mV), no conductance,
        not refractory."""
        like = self.c_v_th
        values = {}
        for name in self.step_fn.state:
            values[name] = torch.zeros(batch, self.n, dtype=like.dtype, device=like.device)
        v = self.c_E_L if v0 is None else torch.as_tensor(v0, dtype=like.dtype,
                                                            device=like.device)
        values["v"] = values["v"] + v
        since = torch.full((batch, self.n), 1 << 40, dtype=torch.int64, device=like.device)
        return TwinState(values, since)

    # -- simulation
    def forward(self, inputs, state: TwinState | None = None, *, record_v=None,
                moments: bool = True) -> TwinOutput:
        """Simulate ``inputs.shape[1]`` steps.

        ``inputs``: [batch, n_steps, n_inputs] spikes of the inputs (bool or 0/1).
        ``record_v``: None (no traces), ``"all"``, or a sequence of neuron indices.
        ``moments``: accumulate the sums of v and v^2 (the membrane-variance loss); off saves
        three operations per step.
        """
        if inputs.dim() != 3 or inputs.shape[2] != self.n_inputs:
            raise ValueError(f"inputs must be [batch, n_steps, {self.n_inputs}], got "
                             f"{tuple(inputs.shape)}")
        dtype = self.c_v_th.dtype
        batch, n_steps = inputs.shape[0], inputs.shape[1]
        state = state if state is not None else self.initial_state(batch)
        values, since = dict(state.values), state.since_spike
        constants = self.constants()
        step, beta = self.step_fn, self.surrogate_scale
        refractory = step.refractory
        sparse = self.layout == "sparse"
        weights = [(self._drive_weights(f"w_{t}"), getattr(self, f"rows_{t}"), inc)
                   for _, t, inc in self.sources]
        drive_in = self._input_drive(inputs.reshape(batch * n_steps, self.n_inputs).to(dtype))
        drive_in = drive_in.reshape(batch, n_steps, self.n)
        # one view per step, made once: indexing drive_in[:, n] inside the loop would make
        # every step's backward fill and add a gradient of the whole [batch, n_steps, n]
        # drive (a backward quadratic in n_steps); unbind's backward stacks them once
        drive_steps = drive_in.unbind(1)
        record = None if record_v is None else (slice(None) if record_v == "all"
                                                 else torch.as_tensor(record_v))
        spikes, traces = [], []
        v_sum = torch.zeros(batch, self.n, dtype=dtype, device=self.c_v_th.device)
        v_sq_sum = torch.zeros_like(v_sum)
        # per synapse type: which drives add to it, and by how much (nS per unit weight)
        by_synapse = {}
        for index, (w, rows, increments) in enumerate(weights):
            for syn, k in increments.items():
                by_synapse.setdefault(syn, []).append((index, k))
        input_by_synapse = dict(self.input_increments)
        banks = [_SparseBank() if sparse else _WeightGradient() for _ in weights]
        for n in range(n_steps):
            since = since + 1
            active = since >= self.ref_steps                              # not refractory
            new = step.update(values, constants)
            for name in refractory:
                new[name] = torch.where(active, new[name], values[name])
            values = new
            v = values["v"]
            if moments:
                v_sum = v_sum + v
                v_sq_sum = v_sq_sum + v * v
            x = step.threshold(values, constants) / self.gap
            s = SuperSpike.apply(x, beta, active)
            drives = [SparseDrive.apply(s[:, rows], w[0], w[1], bank, n == 0) if sparse
                      else RecurrentDrive.apply(s[:, rows], w, bank, n == 0)   # one product
                      for (w, rows, _), bank in zip(weights, banks)]           # per source type
            for syn, terms in by_synapse.items():                  # per-synapse-type scaling
                increment = None
                for index, k in terms:
                    term = k * drives[index]
                    increment = term if increment is None else increment + term
                if syn in input_by_synapse:
                    increment = increment + input_by_synapse[syn] * drive_steps[n]
                values[f"g_{syn}_decay"] = values[f"g_{syn}_decay"] + increment
                values[f"g_{syn}_rise"] = values[f"g_{syn}_rise"] + increment
            for syn, k in input_by_synapse.items():
                if syn not in by_synapse:
                    values[f"g_{syn}_decay"] = values[f"g_{syn}_decay"] + k * drive_steps[n]
                    values[f"g_{syn}_rise"] = values[f"g_{syn}_rise"] + k * drive_steps[n]
            fired = s.detach() > 0
            for name, value in step.reset(values, constants).items():
                values[name] = torch.where(fired, value.expand_as(values[name]), values[name])
            since = torch.where(fired, torch.zeros_like(since), since)
            spikes.append(s)
            if record is not None:
                traces.append(values["v"][:, record])
        out_spikes = torch.stack(spikes, dim=1)
        v_out = torch.stack(traces, dim=1) if record is not None else None
        return TwinOutput(out_spikes, v_out, v_sum, v_sq_sum, TwinState(values, since))

    def _drive_weights(self, name: str):
        """What a step's drive needs: the dense masked strengths, or (sparse) the synapses'
        strengths and their CSR structure with a detached matrix for the backward."""
        if self.layout == "dense":
            return self.weight(name)
        values = getattr(self, f"log_{name}").exp()
        return values, _SparseWeights(getattr(self, f"crow_{name}"), getattr(self, f"col_{name}"),
                                      self.shapes[name][1], self._sparse(name, values.detach()))

    def _input_drive(self, flat: torch.Tensor) -> torch.Tensor:
        """``flat @ W_in`` for the input spikes of every step at once ([rows, n_inputs]): the
        input spikes are rare, so only their rows of ``W_in`` are touched."""
        if self.layout == "dense":
            return torch.sparse.mm(flat.to_sparse(), self.weight("w_in"))
        r, j = flat.nonzero(as_tuple=True)
        owner, pos = _row_positions(self.crow_w_in, j)
        values = self.log_w_in.exp()
        drive = torch.zeros(flat.shape[0], self.n, dtype=flat.dtype, device=flat.device)
        return drive.index_put((r[owner], self.col_w_in[pos]),
                               values[pos] * flat[r, j][owner], accumulate=True)

    def extra_repr(self) -> str:
        return (f"n={self.n}, n_inputs={self.n_inputs}, dt={self.dt_ms} ms, "
                f"surrogate_scale={self.surrogate_scale} per threshold gap, learn={self.learn}, "
                f"layout={self.layout}")


def export_to_brian2(twin: COBATwin, *, cell_type=None):
    """The twin's connectome and input weights as numpy/scipy objects for Brian2.

    Returns ``(connectome, ff_weights)``: a :class:`models.connectome.Connectome`
    with the twin's current recurrent strengths, and the input weights, which
    :func:`models.coba.build_network` / :func:`models.coba.simulate` turn into
    a Brian2 network on any back-end.
    """
    import scipy.sparse as sp

    from models.connectome import CELL_TYPES, Connectome

    weights = sp.csr_matrix(twin.recurrent_weights().cpu().double().numpy())
    weights.eliminate_zeros()
    ff = sp.csr_matrix(twin.weight("w_in").detach().cpu().double().numpy())
    ff.eliminate_zeros()
    types = twin.cell_type.cpu().numpy().astype(np.int8) if cell_type is None else cell_type
    names = tuple(c.name for c in twin.model.cell_types)
    connectome = Connectome(cell_types=names if names else CELL_TYPES, cell_type=types,
                            weights=weights, assembly=np.full(twin.n, -1, dtype=np.int32),
                            source="exported from a trained twin")
    return connectome, ff
