"""Excitatory-inhibitory rate RNN with Dale's law, trained by gradient descent.

One time step (Euler-Maruyama of ``tau dx/dt = -x + W_rec f(x) + W_in e(u) + b``
with white noise of strength sigma)::

    x <- (1 - alpha) x + alpha (W_rec f(x) + W_in e(u) + b) + sqrt(2 alpha) sigma xi
    alpha = dt / tau,  f = ReLU,  xi ~ N(0, 1) per unit and step

Defaults: tau = 50 ms, dt = 25 ms (the recording's bin), sigma = 0.1, as in
rate-RNN fits of cortical recordings (e.g. Song, Yang & Wang 2016, PLoS Comput
Biol 12:e1004792, doi:10.1371/journal.pcbi.1004792, whose Dale's-law
parameterisation is used here).

Conventions
-----------
``W_rec[post, pre]``: column j holds neuron j's outgoing weights.  Dale's law
holds exactly by construction: ``W_rec = relu(W) @ diag(sign)`` with sign +1
for excitatory and -1 for inhibitory units, so E columns are >= 0 and I
columns <= 0 whatever the optimiser does to ``W``.  At initialisation every
unit receives as much excitation as inhibition (each row of ``W_rec`` sums to
zero) and the matrix is scaled to spectral radius 0.9.

The input ``u`` (``[trials, time, n_inputs]``) is embedded before ``W_in``:

``linear``      e(u) = A u                  (A: ``[embed_dim, n_inputs]``)
``attention``   each input channel i is a token ``u_i E_i + P_i`` (``E, P:
                [n_inputs, embed_dim]``); self-attention (4 heads, embed dim 56)
                gives each token one value per head, and the n_inputs x heads
                values are projected to e(u) (:class:`AttentionEmbedding`)

Rates are in units of ``rate_unit_hz`` (the protocol sets it from the data:
model rate 1.0 = ``rate_unit_hz`` Hz).  The readout ``W_out`` reads the
excitatory units only.

The maths of one step is the pure function :func:`step`; :class:`EIRNN`
holds the parameters, embeds the inputs once for all steps, draws the noise
once, and loops :func:`step` over time.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

__all__ = ["EIRNNParams", "step", "dale", "spectral_radius", "EIRNN", "EMBEDDINGS"]

EMBEDDINGS = ("linear", "attention")
#: a learned sigma is exp(NOISE_LOG_SCALE * parameter): its steps in log(sigma) are this much
#: larger than Adam's steps of the weights
NOISE_LOG_SCALE = 10.0


class EIRNNParams(NamedTuple):
    """Fixed (not trained) parameters of the E-I RNN."""

    tau_ms: float = 50.0          # membrane (rate) time constant
    dt_ms: float = 25.0           # time step = the recording's bin width
    noise_std: float = 0.1        # sigma of the private noise, in rate units
    spectral_radius: float = 0.9  # of W_rec at initialisation
    embedding: str = "attention"  # "linear" or "attention"
    embed_dim: int = 56           # width of e(u)
    n_heads: int = 4              # attention heads (embed_dim must divide by it)
    learn_h0: bool = True         # learn the initial state (else fixed at h0_init)
    h0_init: float = 0.1          # initial state of every unit
    learn_noise: bool = False     # learn sigma (starting at noise_std), one value for all units

    @property
    def alpha(self) -> float:
        return self.dt_ms / self.tau_ms


def dale(w_raw: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """``relu(w_raw) @ diag(sign)``: E columns >= 0, I columns <= 0, exactly."""
    return torch.relu(w_raw) * sign


def step(x: torch.Tensor, drive: torch.Tensor, w_rec: torch.Tensor, alpha: float,
         noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One time step of the E-I RNN: ``(rates, new_state)``.

    .. math:: x' = (1-\alpha)\,x + \alpha\,(W_{rec}\,[x]_+ + d) + \eta, \qquad r' = [x']_+

    Parameters
    ----------
    x : Tensor [batch, units]
        State before the step.
    drive : Tensor [batch, units]
        ``W_in e(u_t) + b``.
    w_rec : Tensor [units, units]
        Recurrent weights, ``[post, pre]``.
    alpha : float
        ``dt / tau``.
    noise : Tensor [batch, units]
        ``sqrt(2 alpha) sigma xi``, drawn by the caller.
    """
    x = torch.addmm(drive, torch.relu(x), w_rec.t(), beta=alpha, alpha=alpha) \
        + (1.0 - alpha) * x + noise
    return torch.relu(x), x


def spectral_radius(w) -> float:
    """Largest absolute eigenvalue of a square matrix (numpy or torch)."""
    w = w.detach().cpu().double().numpy() if isinstance(w, torch.Tensor) else np.asarray(w, float)
    return float(np.abs(np.linalg.eigvals(w)).max())


def _balanced_init(sign: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitudes ``W >= 0`` whose Dale matrix has zero row sums and spectral radius ``radius``."""
    n = len(sign)
    excitatory, inhibitory = sign > 0, sign < 0
    w = np.abs(rng.normal(size=(n, n))) / np.sqrt(n)
    np.fill_diagonal(w, 0.0)
    if inhibitory.any():  # each row: total inhibition = total excitation
        e_sum = w[:, excitatory].sum(axis=1, keepdims=True)
        i_sum = w[:, inhibitory].sum(axis=1, keepdims=True)
        w[:, inhibitory] *= e_sum / np.maximum(i_sum, 1e-12)
    current = spectral_radius(w * sign)
    return w * (radius / current) if current > 0 else w


def attention(tokens: torch.Tensor, w_qkv: torch.Tensor, b_qkv: torch.Tensor, n_heads: int):
    r"""Multi-head self-attention over the tokens of each sample: ``(mixed, weights)``.

    .. math:: A_h = \mathrm{softmax}\big(Q_h K_h^\top / \sqrt{d_h}\big), \qquad
              \mathrm{mixed} = [A_1 V_1, \dots, A_H V_H]

    ``tokens [samples, n_tokens, D]``; ``w_qkv [2D + H d_v, D]``: the Q and K rows (``D``
    each, ``d_h = D / H`` per head) and the V rows (``d_v`` per head) stacked, the layout
    of ``torch.nn.MultiheadAttention.in_proj_weight`` when ``d_v = D / H``;
    ``mixed [samples, n_tokens, H d_v]`` (head-major per token);
    ``weights [samples, heads, n_tokens, n_tokens]``.  No output projection: the caller's.
    """
    samples, n_tokens, width = tokens.shape
    head = width // n_heads
    value = (w_qkv.shape[0] - 2 * width) // n_heads
    projected = tokens @ w_qkv.t() + b_qkv
    q = projected[..., :width].view(samples, n_tokens, n_heads, head).transpose(1, 2)
    k = projected[..., width:2 * width].view(samples, n_tokens, n_heads, head).transpose(1, 2)
    v = projected[..., 2 * width:].view(samples, n_tokens, n_heads, value).transpose(1, 2)
    weights = torch.softmax(q @ k.transpose(-1, -2) / np.sqrt(head), dim=-1)
    mixed = (weights @ v).transpose(1, 2).reshape(samples, n_tokens, n_heads * value)
    return mixed, weights


def _runs(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(distinct, inverse)`` with ``distinct[inverse] == rows``: runs of equal rows collapsed.

    Linear time, unlike ``torch.unique(dim=0)``, which sorts rows one by one.
    """
    starts = torch.ones(rows.shape[0], dtype=torch.bool, device=rows.device)
    starts[1:] = (rows[1:] != rows[:-1]).any(dim=1)
    return rows[starts], torch.cumsum(starts, 0) - 1


class AttentionEmbedding(nn.Module):
    """Self-attention over input channels, the training plan's embedding.

    Each input channel i is a token ``u_i E_i + P_i`` (``E, P: [n_inputs, embed_dim]``).
    Every head h attends from each token to all of them (queries and keys of
    ``embed_dim / heads`` dimensions) and reads one value per token, so token i
    gets one number per head, ``y[i, h] = sum_j A_h[i, j] v_h(token_j)``; the
    ``n_inputs * heads`` numbers (token-major) are projected to the embedding,
    ``e(u) = W_o y + b_o`` with ``W_o: [embed_dim, n_inputs * heads]`` (the plan's
    ``input_embed_linear``).  Q and K: ``[embed_dim, embed_dim]``, V: ``[heads, embed_dim]``.

    An input held for several steps is embedded once (consecutive equal rows
    share the computation; a stimulus or cue held for 20 steps costs one).
    """

    def __init__(self, n_inputs: int, embed_dim: int, n_heads: int, rng: np.random.Generator):
        super().__init__()
        if embed_dim % n_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads

        def tensor(scale, *shape):
            return nn.Parameter(torch.as_tensor(rng.normal(size=shape) * scale,
                                                dtype=torch.float32))
        self.channel = tensor(1 / np.sqrt(embed_dim), n_inputs, embed_dim)   # E
        self.position = tensor(0.1, n_inputs, embed_dim)                      # P
        # Q and K rows (embed_dim each), then one V row per head
        self.w_qkv = tensor(1 / np.sqrt(embed_dim), 2 * embed_dim + n_heads, embed_dim)
        self.b_qkv = nn.Parameter(torch.zeros(2 * embed_dim + n_heads))
        self.w_out = tensor(1 / np.sqrt(n_inputs * n_heads), embed_dim, n_inputs * n_heads)
        self.b_out = nn.Parameter(torch.zeros(embed_dim))

    def forward(self, u: torch.Tensor, need_weights: bool = False):
        batch, time, n_inputs = u.shape
        distinct, inverse = _runs(u.reshape(-1, n_inputs))
        tokens = distinct[:, :, None] * self.channel + self.position        # [S, n_in, D]
        mixed, weights = attention(tokens, self.w_qkv, self.b_qkv, self.n_heads)  # [S, n_in, H]
        out = mixed.reshape(mixed.shape[0], -1) @ self.w_out.t() + self.b_out
        out = out[inverse].reshape(batch, time, -1)
        if need_weights:
            return out, weights[inverse].reshape(batch, time, *weights.shape[1:])
        return out, None

    def qkv(self) -> dict:
        """The query and key projections (``[embed_dim, embed_dim]``) and the value
        projection (``[heads, embed_dim]``: one value per head)."""
        w = self.w_qkv.detach().cpu()
        width = w.shape[1]
        return {"Q": w[:width].numpy(), "K": w[width:2 * width].numpy(),
                "V": w[2 * width:].numpy()}

    def output_projection(self) -> np.ndarray:
        """``W_o``: ``[embed_dim, n_inputs * heads]`` (the plan's ``input_embed_linear``)."""
        return self.w_out.detach().cpu().numpy()


class EIRNN(nn.Module):
    """Rate RNN with exact Dale's law; ``forward(u) -> rates [trials, time, units]``.

    Parameters
    ----------
    ei_labels : array_like of int, shape (units,)
        0 = excitatory, 1 = inhibitory (the recording's labels; see
        :meth:`default_labels` for 80/20).
    n_inputs : int
        Input channels.
    params : EIRNNParams
    n_outputs : int
        Rows of the readout ``W_out`` (from E units only).
    seed : int
        Seeds the initial weights (numpy), independently of torch's RNG.
    """

    def __init__(self, ei_labels, n_inputs: int, params: EIRNNParams = EIRNNParams(), *,
                 n_outputs: int = 1, seed: int = 42):
        super().__init__()
        labels = np.asarray(ei_labels, dtype=np.int64)
        if labels.ndim != 1 or labels.size < 2 or not np.isin(labels, (0, 1)).all():
            raise ValueError(f"ei_labels must be a 1-D array of 0 (E) and 1 (I) for at least "
                             f"two units, got {labels!r}")
        if not (labels == 0).any():
            raise ValueError("ei_labels has no excitatory unit (label 0); the readout needs one")
        if params.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {params.embedding!r}")
        if not 0 < params.alpha <= 1:
            raise ValueError(f"dt/tau must be in (0, 1], got {params.dt_ms}/{params.tau_ms}")
        self.params = params
        self.n_inputs = int(n_inputs)
        n = labels.size
        rng = np.random.default_rng(seed)
        self.register_buffer("sign", torch.as_tensor(1.0 - 2.0 * labels, dtype=torch.float32))
        self.register_buffer("e_mask", torch.as_tensor(labels == 0))
        self.w_raw = nn.Parameter(torch.as_tensor(
            _balanced_init(1.0 - 2.0 * labels, params.spectral_radius, rng), dtype=torch.float32))
        if params.embedding == "linear":
            self.embed = nn.Linear(n_inputs, params.embed_dim, bias=False)
            with torch.no_grad():
                self.embed.weight.copy_(torch.as_tensor(
                    rng.normal(size=(params.embed_dim, n_inputs)) / np.sqrt(n_inputs)))
        else:
            self.embed = AttentionEmbedding(n_inputs, params.embed_dim, params.n_heads, rng)
        self.w_in = nn.Parameter(torch.as_tensor(
            rng.normal(size=(n, params.embed_dim)) / np.sqrt(params.embed_dim), dtype=torch.float32))
        self.bias = nn.Parameter(torch.zeros(n))
        h0 = torch.full((n,), float(params.h0_init))
        self.h0 = nn.Parameter(h0) if params.learn_h0 else None
        if not params.learn_h0:
            self.register_buffer("h0_fixed", h0)
        # a learned sigma is kept as log(sigma) / NOISE_LOG_SCALE: always positive, steps
        # relative to sigma, and NOISE_LOG_SCALE times faster than the weights' (one number
        # set by the whole network's variability; at Adam's 1e-3 it would need 1000s of epochs)
        self.log_noise = (nn.Parameter(torch.tensor(float(np.log(params.noise_std))
                                                    / NOISE_LOG_SCALE))
                          if params.learn_noise else None)
        n_e = int((labels == 0).sum())
        self.register_buffer("w_out", torch.zeros(n_outputs, n_e))

    # -- parameters as the maths uses them
    @property
    def n_units(self) -> int:
        return self.sign.numel()

    @property
    def w_rec(self) -> torch.Tensor:
        """Recurrent weights with Dale's law applied, ``[post, pre]``."""
        return dale(self.w_raw, self.sign)

    @property
    def noise_std(self):
        """sigma: the learned value (a tensor) with ``learn_noise``, else ``params.noise_std``."""
        if self.log_noise is None:
            return self.params.noise_std
        return (self.log_noise * NOISE_LOG_SCALE).exp()

    def sigma(self) -> float:
        """sigma as a number (the learned value with ``learn_noise``)."""
        if self.log_noise is None:
            return float(self.params.noise_std)
        return float(self.noise_std.detach())

    @property
    def initial_state(self) -> torch.Tensor:
        return self.h0 if self.h0 is not None else self.h0_fixed

    @staticmethod
    def default_labels(n_units: int, e_fraction: float = 0.8) -> np.ndarray:
        """The first ``round(e_fraction * n)`` units E (0), the rest I (1)."""
        n_e = int(round(e_fraction * n_units))
        return np.r_[np.zeros(n_e, np.int64), np.ones(n_units - n_e, np.int64)]

    def embed_inputs(self, u: torch.Tensor, need_weights: bool = False):
        """``e(u)``: ``[trials, time, embed_dim]`` (and attention weights, or None)."""
        if isinstance(self.embed, AttentionEmbedding):
            return self.embed(u, need_weights)
        return self.embed(u), None

    def forward(self, u: torch.Tensor, *, generator: torch.Generator | None = None,
                noise: bool = True, need_weights: bool = False):
        """Simulate every trial: rates ``[trials, time, units]`` (attention weights too if asked).

        The noise is drawn from ``generator`` (torch's global RNG when None);
        ``noise=False`` runs the deterministic dynamics.
        """
        p = self.params
        batch, time, _ = u.shape
        embedded, weights = self.embed_inputs(u, need_weights)
        drive = (embedded @ self.w_in.t() + self.bias).transpose(0, 1)  # [T, B, N]
        if noise and (p.noise_std > 0 or self.log_noise is not None):
            xi = torch.randn(time, batch, self.n_units, generator=generator,
                             device=u.device, dtype=u.dtype)
            eta = xi * (np.sqrt(2.0 * p.alpha) * self.noise_std)
        else:
            eta = torch.zeros(time, batch, self.n_units, device=u.device, dtype=u.dtype)
        w_rec = self.w_rec
        x = self.initial_state.expand(batch, -1)
        rates = []
        # unbind, not drive[t]: indexing one step at a time would make autograd fill a
        # full-size zero gradient per step
        for drive_t, eta_t in zip(drive.unbind(0), eta.unbind(0)):
            r, x = step(x, drive_t, w_rec, p.alpha, eta_t)
            rates.append(r)
        rates = torch.stack(rates, dim=1)
        return (rates, weights) if need_weights else rates

    def readout(self, rates: torch.Tensor) -> torch.Tensor:
        """``W_out`` applied to the excitatory rates: ``[..., n_outputs]``."""
        return rates[..., self.e_mask] @ self.w_out.t()

    def extra_repr(self) -> str:
        p = self.params
        n_i = int((self.sign < 0).sum())
        return (f"units={self.n_units} (E {self.n_units - n_i}, I {n_i}), tau={p.tau_ms} ms, "
                f"dt={p.dt_ms} ms, sigma={self.sigma():.4g}"
                f"{' (learned)' if self.log_noise is not None else ''}, embedding={p.embedding}")
