"""Losses for training spiking networks by surrogate gradients.

Spike tensors are float tensors ``[batch, n_steps, n_neurons]`` whose forward
values are 0 or 1 and whose backward pass carries a surrogate gradient (a
Heaviside with a custom backward; Neftci, Mostafa & Zenke 2019, "Surrogate
gradient learning in spiking neural networks", IEEE Signal Processing Magazine
36:51-63, doi:10.1109/MSP.2019.2931595).  Membrane potentials have the same
shape.  Time steps are ``dt_s`` seconds; rates are in Hz.

Interval statistics (:func:`isi_moments`, :func:`cv_from_moments`,
:func:`cv_loss`).  An age trace counts the time since the last spike::

    a_{t+1} = (1 - s_t) a_t + dt                      age before step t+1
    seen_t  = 1 if a spike occurred before step t, else 0   (not differentiated)
    count   = sum_{b,t} s_t seen_t                    number of intervals
    total   = sum_{b,t} s_t seen_t a_t                sum of intervals (s)
    total_sq = sum_{b,t} s_t seen_t a_t^2             sum of squared intervals (s^2)
    CV = sqrt(total_sq/count - (total/count)^2) / (total/count)

For exact 0/1 spikes at steps i < j with none between, ``a_j = (j - i) dt``:
the moments are those of the spike-time differences, and the CV is
``std(ISI) / mean(ISI)`` (population std, ``ddof=0``) of the intervals pooled
over the batch.  The moments are sums, so chunks of a long simulation add up
(:class:`ISIMoments` supports ``+``) when the age is carried across chunks in
an :class:`AgeState`.

Rates and membrane potential (:func:`firing_rate_loss`,
:func:`per_type_rate_loss`, :func:`silent_penalty`,
:func:`membrane_variance_loss`)::

    L_rate   = mean_n ((rate_n - target_n) / target_n)^2,  rate_n = count_n / duration
    L_type   = mean_k ((mean_{n in k} rate_n - target_k) / target_k)^2
    L_silent = mean_n exp(-alpha rate_n)
    L_vvar   = mean_n (std(V_n) / (theta_n - mean(V_n)) - ratio)^2

Spike-train distance (:func:`van_rossum_distance`; van Rossum 2001, "A novel
spike distance", Neural Computation 13:751-763,
doi:10.1162/089976601300014321)::

    f_t = sum_{k <= t} s_k exp(-(t - k) dt / tau)      (g likewise for the target)
    D^2 = mean_{b,n} sum_t (f_t - g_t)^2 dt / tau

All time recursions are evaluated by a blocked linear scan (about
``3 sqrt(n_steps)`` vectorised steps instead of ``n_steps``) with its own exact
backward pass; see :func:`linear_scan`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = ["ISIMoments", "AgeState", "linear_scan", "isi_moments", "cv_from_moments",
           "cv_loss", "firing_rate_loss", "silent_penalty", "membrane_variance_loss",
           "van_rossum_distance", "per_type_mean", "per_type_rate_loss"]

_SPIKE_LEVEL = 0.5   # a step counts as a spike for ``seen`` where s > 0.5 (forward values are 0/1)


# ----------------------------------------------------------------------------- records
class ISIMoments(NamedTuple):
    """Sufficient statistics of the inter-spike intervals of each neuron.

    Sums over the batch and over time (and over chunks: ``m1 + m2``).
    :func:`isi_moments` returns them in float64: the variance is the
    difference of two nearly equal moments, which float32 sums would spoil
    for regular trains.
    """

    count: torch.Tensor      # [n_neurons] number of inter-spike intervals
    total: torch.Tensor      # [n_neurons] sum of the intervals (s)
    total_sq: torch.Tensor   # [n_neurons] sum of the squared intervals (s^2)

    def __add__(self, other: "ISIMoments") -> "ISIMoments":   # elementwise, not tuple concatenation
        if not isinstance(other, ISIMoments):
            return NotImplemented
        return ISIMoments(self.count + other.count, self.total + other.total,
                          self.total_sq + other.total_sq)

    def detach(self) -> "ISIMoments":
        return ISIMoments(self.count.detach(), self.total.detach(), self.total_sq.detach())

    @classmethod
    def zeros(cls, n: int, device=None, dtype=torch.float64) -> "ISIMoments":
        """Moments of no interval, for ``n`` neurons (the start of a sum over chunks)."""
        z = torch.zeros(int(n), device=device, dtype=dtype)
        return cls(z, z.clone(), z.clone())


class AgeState(NamedTuple):
    """The age trace carried from one chunk of simulation to the next.

    :func:`isi_moments` returns it attached to the graph; detach it
    (``state.detach()``) unless gradients should flow back into the previous
    chunk.
    """

    age_s: torch.Tensor   # [batch, n_neurons] time since the last spike (s)
    seen: torch.Tensor    # [batch, n_neurons] 1.0 where a spike has occurred before, else 0.0

    def detach(self) -> "AgeState":
        return AgeState(self.age_s.detach(), self.seen.detach())

    @classmethod
    def zeros(cls, batch: int, n: int, device=None, dtype=None) -> "AgeState":
        """The state before any spike: age 0, nothing seen."""
        z = torch.zeros(int(batch), int(n), device=device, dtype=dtype)
        return cls(z, z.clone())


# ----------------------------------------------------------------------------- validation
def _positive(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return x


def _tensor3(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor [batch, n_steps, n_neurons], "
                         f"got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape [batch, n_steps, n_neurons], "
                         f"got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _per_neuron(name: str, value, n: int, like: torch.Tensor, positive: bool,
                allow_zero: bool = False) -> torch.Tensor:
    """A scalar or ``[n]`` target as a tensor like ``like``, checked."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != n):
        raise ValueError(f"{name} must be a scalar or have shape [{n}], got shape {tuple(t.shape)}")
    t = t.detach()
    bad = ~torch.isfinite(t)
    if positive:
        bad |= (t < 0) if allow_zero else (t <= 0)
    if bool(bad.any()):
        what = "finite and >= 0" if allow_zero else "finite and > 0"
        got = float(t.reshape(-1)[bad.reshape(-1)][0])
        raise ValueError(f"{name} must be {what} everywhere, got {got!r}")
    return t


def _counts(counts) -> torch.Tensor:
    c = counts if isinstance(counts, torch.Tensor) else torch.as_tensor(counts, dtype=torch.float64)
    if c.ndim not in (1, 2):
        raise ValueError(f"counts must have shape [n_neurons] or [batch, n_neurons], "
                         f"got shape {tuple(c.shape)}")
    if not c.is_floating_point():
        c = c.to(torch.get_default_dtype())
    return c.mean(dim=0) if c.ndim == 2 else c


# ----------------------------------------------------------------------------- linear scan
def _n_valid(offset: int, n_steps: int, k: int, n_blocks: int) -> int:
    """Number of blocks ``j`` whose step ``j*k + offset`` lies before ``n_steps``."""
    if offset >= n_steps:
        return 0
    return min(n_blocks, -(-(n_steps - offset) // k))


def _scan(coef, drive, x0: torch.Tensor, *, one_minus: bool = False, reverse: bool = False,
          shift: int = 0) -> torch.Tensor:
    """Solve a first-order linear recursion along axis 1, without autograd.

    Forward: ``x_t = c_t x_{t-1} + d_t`` with ``x_{-1} = x0``; reverse:
    ``x_t = c_t x_{t+1} + d_t`` with ``x_{n_steps} = x0``.  ``coef`` is a
    tensor ``[batch, n_steps, n]`` (``c_t = coef[t + shift]``, or
    ``1 - coef[t + shift]`` when ``one_minus``; 1 past the end) or a float;
    ``drive`` a tensor of that shape (``d_t = drive[t]``) or a float.

    Blocked: time is cut into ``n_blocks`` blocks of ``k`` steps (both about
    ``sqrt(n_steps)``; the tail of the last block is the identity map), and
    every loop below runs over all blocks at once, reading ``coef`` and
    ``drive`` through strided views (step ``j*k + i`` of block ``j``):

    1. a loop over the ``k`` positions composes each block's affine map
       ``x_out = prod * x_in + resp``;
    2. a loop over the blocks carries the value from block edge to block edge;
    3. a second loop over the positions runs the recursion inside every block
       from its carried start value and writes the output.

    Only the output is as large as the input; everything else is ``[batch,
    n_blocks, n]``.
    """
    ref = coef if isinstance(coef, torch.Tensor) else drive
    batch, n_steps, n = ref.shape
    dtype, device = ref.dtype, ref.device
    out = torch.empty(batch, n_steps, n, dtype=dtype, device=device)
    if n_steps == 0:
        return out
    coef_is_tensor = isinstance(coef, torch.Tensor)
    k = math.isqrt(n_steps - 1) + 1                     # ceil(sqrt(n_steps))
    n_blocks = -(-n_steps // k)
    positions = range(k - 1, -1, -1) if reverse else range(k)
    valid = [(_n_valid(i + shift, n_steps, k, n_blocks) if coef_is_tensor
              else _n_valid(i, n_steps, k, n_blocks),     # blocks where c_i is given
              _n_valid(i, n_steps, k, n_blocks))          # blocks where step i exists
             for i in range(k)]

    def times_c(acc: torch.Tensor, i: int) -> None:       # acc[:, :m] *= c_i, in place
        m_c = valid[i][0]
        if not coef_is_tensor:
            acc[:, :m_c] *= float(coef)
        elif one_minus:                                   # acc (1 - s) = acc - acc s
            view = acc[:, :m_c]
            view.addcmul_(view, coef[:, i + shift::k][:, :m_c], value=-1.0)
        else:
            acc[:, :m_c] *= coef[:, i + shift::k][:, :m_c]

    def plus_d(acc: torch.Tensor, i: int) -> None:        # acc[:, :m] += d_i, in place
        m_d = valid[i][1]
        acc[:, :m_d] += drive[:, i::k][:, :m_d] if isinstance(drive, torch.Tensor) else float(drive)

    # 1. each block's map
    prod = torch.ones((batch, n_blocks, n) if coef_is_tensor else (1, n_blocks, 1),
                      dtype=dtype, device=device)
    resp = torch.zeros(batch, n_blocks, n, dtype=dtype, device=device)
    for i in positions:
        times_c(prod, i)
        times_c(resp, i)
        plus_d(resp, i)
    # 2. carry across block edges
    x = torch.empty(batch, n_blocks, n, dtype=dtype, device=device)
    carry = x0
    for j in (range(n_blocks - 1, -1, -1) if reverse else range(n_blocks)):
        x[:, j] = carry
        carry = torch.addcmul(resp[:, j], prod[:, j], carry)
    # 3. the recursion inside every block, from its start value
    for i in positions:
        times_c(x, i)
        plus_d(x, i)
        m_d = valid[i][1]
        out[:, i::k] = x[:, :m_d]
    return out


class _LinearScan(torch.autograd.Function):
    """Autograd of ``x_t = c_t x_{t-1} + d_t``; the backward pass is the adjoint scan.

    With ``mu_t = dL/dx_t`` (total): ``mu_t = g_t + c_{t+1} mu_{t+1}`` (a
    linear scan backwards in time), ``dL/dd_t = mu_t``,
    ``dL/dc_t = mu_t x_{t-1}``, ``dL/dx0 = c_0 mu_0``.  ``coef`` may be a
    float (a constant coefficient), ``drive`` a float (a constant drive);
    ``one_minus``: the coefficient is ``1 - coef``.
    """

    @staticmethod
    def forward(ctx, coef, drive, x0, one_minus):
        x = _scan(coef, drive, x0, one_minus=one_minus)
        coef_is_tensor = isinstance(coef, torch.Tensor)
        ctx.coef_value = None if coef_is_tensor else float(coef)
        ctx.one_minus = one_minus
        ctx.save_for_backward(coef if coef_is_tensor else None, x0, x)
        return x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_x):
        coef, x0, x = ctx.saved_tensors
        coef_is_tensor = coef is not None
        if not coef_is_tensor:
            coef = ctx.coef_value
        mu = _scan(coef, grad_x, torch.zeros_like(x0), one_minus=ctx.one_minus, reverse=True,
                   shift=1 if coef_is_tensor else 0)
        grad_c = grad_d = grad_x0 = None
        if ctx.needs_input_grad[0]:
            grad_c = torch.empty_like(mu)
            torch.mul(mu[:, 1:], x[:, :-1], out=grad_c[:, 1:])
            torch.mul(mu[:, 0], x0, out=grad_c[:, 0])
            if ctx.one_minus:
                grad_c.neg_()
        if ctx.needs_input_grad[1]:
            grad_d = mu
        if ctx.needs_input_grad[2]:
            if coef_is_tensor:
                c0 = 1.0 - coef[:, 0] if ctx.one_minus else coef[:, 0]
            else:
                c0 = 1.0 - coef if ctx.one_minus else coef
            grad_x0 = c0 * mu[:, 0]
        return grad_c, grad_d, grad_x0, None


def linear_scan(c: torch.Tensor, d: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
    """Solve the first-order linear recursion ``x_t = c_t x_{t-1} + d_t`` along time.

    Parameters
    ----------
    c, d : torch.Tensor [batch, n_steps, n_neurons]
        Coefficients and inputs (same shape, dtype and device).
    x0 : torch.Tensor [batch, n_neurons], optional
        ``x_{-1}``; zeros when omitted.

    Returns
    -------
    torch.Tensor [batch, n_steps, n_neurons]
        ``x_0 .. x_{n_steps-1}``.

    Notes
    -----
    Differentiable in ``c``, ``d`` and ``x0`` with the exact gradient of the
    recursion (the backward pass solves the adjoint recursion
    ``mu_t = dL/dx_t + c_{t+1} mu_{t+1}`` with the same scan); it is not
    twice differentiable.  Cost: ``O(n_steps)`` work in about
    ``3 sqrt(n_steps)`` vectorised steps.

    Examples
    --------
    >>> c = torch.tensor([[[0.5], [0.5], [0.0], [1.0]]])
    >>> d = torch.ones(1, 4, 1)
    >>> linear_scan(c, d, torch.tensor([[2.0]])).flatten().tolist()
    [2.0, 2.0, 1.0, 2.0]
    """
    c = _tensor3("c", c)
    d = _tensor3("d", d)
    if c.shape != d.shape:
        raise ValueError(f"c and d must have the same shape, got {tuple(c.shape)} and "
                         f"{tuple(d.shape)}")
    if x0 is None:
        x0 = torch.zeros(d.shape[0], d.shape[2], dtype=d.dtype, device=d.device)
    elif tuple(x0.shape) != (d.shape[0], d.shape[2]):
        raise ValueError(f"x0 must have shape [batch, n_neurons] = {[d.shape[0], d.shape[2]]}, "
                         f"got {tuple(x0.shape)}")
    if c.dtype != d.dtype or x0.dtype != d.dtype:
        raise ValueError(f"c, d and x0 must share one dtype, got {c.dtype}, {d.dtype} and "
                         f"{x0.dtype}")
    return _LinearScan.apply(c, d, x0, False)


# ----------------------------------------------------------------------------- intervals
class _IntervalSums(torch.autograd.Function):
    """``sum_{b,t} w_t (1, a_t, a_t^2)`` with ``w_t = s_t seen_t``, per neuron, in float64.

    Inputs: ``spikes``, ``after`` (``after_t = a_{t+1}``), ``age0`` (``a_0``),
    ``first`` (``seen_t = t > first``).  The forward pass gathers the few steps
    where ``w_t != 0``; the backward pass is dense, because a step without a
    spike still has the slope ``seen_t (1, a_t, a_t^2)`` in ``s_t``::

        dL/ds_t = seen_t (g_count + g_total a_t + g_sq a_t^2)
        dL/da_t = w_t (g_total + 2 g_sq a_t)
    """

    @staticmethod
    def forward(ctx, spikes, after, age0, first):
        n_steps, n = spikes.shape[1], spikes.shape[2]
        steps = torch.arange(n_steps, device=spikes.device).view(1, n_steps, 1)
        b, t, j = torch.nonzero((spikes != 0) & (steps > first.unsqueeze(1)), as_tuple=True)
        w = spikes[b, t, j].to(torch.float64)
        age = torch.where(t > 0, after[b, (t - 1).clamp(min=0), j], age0[b, j]).to(torch.float64)
        zeros = torch.zeros(n, dtype=torch.float64, device=spikes.device)
        weighted_age = w * age
        ctx.save_for_backward(spikes, after, age0, first)
        return (zeros.index_add(0, j, w), zeros.index_add(0, j, weighted_age),
                zeros.index_add(0, j, weighted_age * age))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_count, g_total, g_sq):
        spikes, after, age0, first = ctx.saved_tensors
        n_steps = spikes.shape[1]
        g_count, g_total, g_sq = (g.to(spikes.dtype) for g in (g_count, g_total, g_sq))
        seen = torch.arange(n_steps, device=spikes.device).view(1, n_steps, 1) > first.unsqueeze(1)
        age = torch.cat([age0.unsqueeze(1), after[:, :-1]], dim=1)           # a_t
        grad_s = grad_after = grad_age0 = None
        if ctx.needs_input_grad[0]:
            poly = torch.addcmul(g_total, g_sq, age).mul_(age).add_(g_count)  # Horner
            grad_s = torch.where(seen, poly, 0.0)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            grad_age = torch.where(seen, spikes, 0.0).mul_(torch.addcmul(g_total, g_sq, age,
                                                                         value=2.0))
            grad_age0 = grad_age[:, 0]
            grad_after = torch.cat([grad_age[:, 1:], torch.zeros_like(grad_age[:, :1])], dim=1)
        return grad_s, grad_after, grad_age0, None


def isi_moments(spikes: torch.Tensor, dt_s: float,
                state: AgeState | None = None) -> tuple[ISIMoments, AgeState]:
    """Differentiable moments of the inter-spike intervals, pooled over the batch.

    An age trace ``a_t`` (time since the last spike, before step ``t``) runs
    through the chunk::

        a_{t+1} = (1 - s_t) a_t + dt,    a_0 = state.age_s (0 without state)
        seen_t  = 1 if s_u > 0.5 for some u < t, or state.seen   (detached)
        w_t     = s_t seen_t
        count = sum_{b,t} w_t,  total = sum_{b,t} w_t a_t,  total_sq = sum_{b,t} w_t a_t^2

    A spike at step ``t`` closes the interval ``a_t`` if an earlier spike
    exists.  For exact 0/1 spikes at steps ``i < j`` (none between)
    ``a_j = (j - i) dt``, so the moments are exactly those of the spike-time
    differences, and a train cut into chunks with the state carried gives the
    moments of the whole train (sum the chunks' moments).

    Parameters
    ----------
    spikes : torch.Tensor [batch, n_steps, n_neurons]
        Spikes, 0/1 in the forward pass, floating point.
    dt_s : float
        Time step (s), > 0.
    state : AgeState, optional
        The state returned for the previous chunk; ``None`` starts before any
        spike.

    Returns
    -------
    moments : ISIMoments
        ``count``, ``total`` (s), ``total_sq`` (s^2), each ``[n_neurons]``,
        float64 whatever the dtype of ``spikes``.
    state : AgeState
        Age and seen flag after the last step, to pass with the next chunk
        (the age is still attached to the graph: detach it between chunks
        unless gradients should cross the chunk boundary).

    Notes
    -----
    Gradient path.  ``seen`` is not differentiated; everything else is,
    exactly as the recursion above: the ages by :func:`linear_scan` (its
    backward solves the adjoint recursion in ``O(n_steps)``), the weights
    ``w_t = s_t seen_t`` directly.  For 0/1 spikes, with ``p`` the last spike
    before step ``k`` and ``q`` the first spike after it::

        d a_u / d s_k = -a_k   for p <= k < u (0 for k < p)   a spike resets the age
        d count / d s_k = seen_k                               a new spike adds an interval
        d total / d s_k = seen_k a_k - seen_q a_k              (0 between two spikes: the
                                                               split interval keeps its sum)
        d total_sq / d s_k = seen_k a_k^2 - 2 seen_q a_k a_q

    so every step between two spikes, and the spike that opened the
    interval, receives the gradient of the interval they bound, and every
    step after the first spike (with or without a spike) the gradient of a
    new interval.  The forward pass gathers only the steps with
    ``w_t != 0``; the backward pass is dense.  Cost on ``[1, 20000, 1000]``
    float32, one CPU core: about 0.6 s forward and 1.2 s backward.

    Examples
    --------
    Spikes at steps 1, 4 and 6 of one neuron, dt = 1 ms: intervals 3 and 2 ms.

    >>> s = torch.zeros(1, 8, 1)
    >>> s[0, [1, 4, 6], 0] = 1.0
    >>> m, state = isi_moments(s, dt_s=1e-3)
    >>> int(m.count), round(float(m.total), 6), round(float(m.total_sq), 9)
    (2, 0.005, 1.3e-05)
    >>> round(float(state.age_s), 6), float(state.seen)
    (0.002, 1.0)
    """
    spikes = _tensor3("spikes", spikes)
    dt_s = _positive("dt_s", dt_s)
    batch, n_steps, n = spikes.shape
    if state is None:
        state = AgeState.zeros(batch, n, device=spikes.device, dtype=spikes.dtype)
    else:
        if not isinstance(state, AgeState):
            raise ValueError(f"state must be an AgeState or None, got {type(state).__name__}")
        for field, value in zip(AgeState._fields, state):
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"state.{field} must be a torch.Tensor, "
                                 f"got {type(value).__name__}")
            if tuple(value.shape) != (batch, n):
                raise ValueError(f"state.{field} must have shape [batch, n_neurons] = "
                                 f"{[batch, n]} to match spikes, got {tuple(value.shape)}")
    age0 = state.age_s.to(spikes.dtype)
    seen0 = state.seen.to(spikes.dtype).detach()
    if n_steps == 0:
        return ISIMoments.zeros(n, device=spikes.device, dtype=torch.float64), state

    # age after each step: after_t = a_{t+1}
    after = _LinearScan.apply(spikes, dt_s, age0, True)
    # seen_t = 1 after the first spike (max over time returns its first index), or from the state
    spiked = spikes.detach() > _SPIKE_LEVEL
    any_spike, first = spiked.view(torch.uint8).max(dim=1)                 # [batch, n]
    first = torch.where(any_spike > 0, first, n_steps)
    first = torch.where(seen0 > 0, -1, first)
    moments = ISIMoments(*_IntervalSums.apply(spikes, after, age0, first))
    seen_after = torch.maximum(seen0, any_spike.to(spikes.dtype))
    return moments, AgeState(after[:, -1], seen_after)


def cv_from_moments(m: ISIMoments, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """Coefficient of variation of the intervals of each neuron.

    ::

        mean = total / count
        var  = total_sq / count - mean^2        (population variance, ddof = 0)
        CV   = sqrt(max(var, 0)) / mean

    Parameters
    ----------
    m : ISIMoments
    eps : float
        Variance floor (s^2): where ``var <= eps`` the standard deviation is
        taken as exactly 0 with zero gradient (``sqrt`` has an infinite slope
        at 0; rounding can also make ``var`` slightly negative).

    Returns
    -------
    cv : torch.Tensor [n_neurons]
        0 where not valid; no NaN in the value or its gradient.
    valid : torch.Tensor [n_neurons] bool
        ``count >= 2``: at least two intervals.

    Notes
    -----
    Computed in float64 and returned in the dtype of ``m.total`` (the
    difference ``total_sq/count - mean^2`` cancels for regular trains).

    Examples
    --------
    Intervals 0.1, 0.2 and 0.3 s: CV = std/mean = 0.0816/0.2.

    >>> m = ISIMoments(torch.tensor([3.0, 1.0]), torch.tensor([0.6, 0.1]),
    ...                torch.tensor([0.14, 0.01]))
    >>> cv, valid = cv_from_moments(m)
    >>> [round(x, 4) for x in cv.tolist()], valid.tolist()
    ([0.4082, 0.0], [True, False])
    """
    if not isinstance(m, ISIMoments):
        raise ValueError(f"m must be an ISIMoments, got {type(m).__name__}")
    eps = float(eps)
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be finite and >= 0, got {eps!r}")
    out_dtype = m.total.dtype
    count, total, total_sq = (x.to(torch.float64) for x in m)
    valid = count.detach() >= 2
    count_safe = torch.where(valid, count, torch.ones_like(count))
    mean = total / count_safe
    mean_ok = valid & (mean.detach() > 0)
    mean_safe = torch.where(mean_ok, mean, torch.ones_like(mean))
    var = total_sq / count_safe - mean_safe ** 2
    positive = mean_ok & (var.detach() > eps)
    std = torch.sqrt(torch.where(positive, var, torch.ones_like(var)))
    cv = torch.where(positive, std / mean_safe, torch.zeros_like(std))
    return cv.to(out_dtype), valid


def cv_loss(m: ISIMoments, target_cv, *, high_loss: float = 10.0) -> torch.Tensor:
    """Squared error of the CV of each neuron, constant for neurons without intervals.

    ::

        L = mean_n l_n,   l_n = (CV_n - target_n)^2   if count_n >= 2
                          l_n = high_loss              otherwise

    Parameters
    ----------
    m : ISIMoments
    target_cv : float or torch.Tensor [n_neurons]
        Target CV, >= 0.
    high_loss : float
        The loss of a neuron with fewer than two intervals (the study's
        ``cv_high_loss``), >= 0.  It is a constant: it has no gradient, so
        such neurons are pushed to fire only by other terms (e.g.
        :func:`silent_penalty`, :func:`firing_rate_loss`).

    Examples
    --------
    >>> m = ISIMoments(torch.tensor([3.0, 0.0]), torch.tensor([0.6, 0.0]),
    ...                torch.tensor([0.14, 0.0]))
    >>> round(float(cv_loss(m, 0.5, high_loss=10.0)), 4)   # ((0.4082-0.5)^2 + 10)/2
    5.0042
    """
    cv, valid = cv_from_moments(m)
    high_loss = float(high_loss)
    if not (math.isfinite(high_loss) and high_loss >= 0):
        raise ValueError(f"high_loss must be finite and >= 0, got {high_loss!r}")
    target = _per_neuron("target_cv", target_cv, cv.shape[0], cv, positive=True, allow_zero=True)
    per_neuron = torch.where(valid, (cv - target) ** 2, torch.full_like(cv, high_loss))
    return per_neuron.mean()


# ----------------------------------------------------------------------------- rates
def firing_rate_loss(counts, duration_s: float, target_hz) -> torch.Tensor:
    """Relative squared error of the firing rates.

    ::

        rate_n = count_n / duration_s          (count averaged over the batch)
        L = mean_n ((rate_n - target_n) / target_n)^2

    Parameters
    ----------
    counts : torch.Tensor [n_neurons] or [batch, n_neurons]
        Differentiable spike counts (e.g. ``spikes.sum(dim=1)``).
    duration_s : float
        Duration the counts cover (s), > 0.
    target_hz : float or array_like [n_neurons]
        Target rates (Hz), > 0.

    Examples
    --------
    >>> counts = torch.tensor([[10.0, 30.0], [30.0, 30.0]])   # mean 20, 30 spikes in 2 s
    >>> float(firing_rate_loss(counts, 2.0, 10.0))             # ((10-10)^2 + (15-10)^2/10^2)/2
    0.125
    """
    c = _counts(counts)
    duration_s = _positive("duration_s", duration_s)
    target = _per_neuron("target_hz", target_hz, c.shape[0], c, positive=True)
    rate = c / duration_s
    return (((rate - target) / target) ** 2).mean()


def silent_penalty(rates_hz, alpha: float = 0.01) -> torch.Tensor:
    """Penalty on silent neurons: ``mean(exp(-alpha * rate))``.

    1 for a silent neuron, falling towards 0 as the rate grows; ``alpha`` is
    per Hz (``1/alpha`` Hz is the rate at which the penalty is ``1/e``).

    Examples
    --------
    >>> round(float(silent_penalty(torch.tensor([0.0, 100.0]), alpha=0.01)), 4)  # (1 + e^-1)/2
    0.6839
    """
    r = (rates_hz if isinstance(rates_hz, torch.Tensor)
         else torch.as_tensor(rates_hz, dtype=torch.float64))
    if r.numel() == 0:
        raise ValueError("rates_hz must not be empty")
    if not r.is_floating_point():
        r = r.to(torch.get_default_dtype())
    alpha = _positive("alpha", alpha)
    return torch.exp(-alpha * r).mean()


def per_type_mean(values: torch.Tensor, cell_type, n_types: int) -> torch.Tensor:
    """Mean of ``values`` over the neurons of each cell type.

    ::

        out_k = sum_{n: type_n = k} values_n / #{n: type_n = k}

    Parameters
    ----------
    values : torch.Tensor [n_neurons]
    cell_type : array_like of int [n_neurons]
        Type of each neuron, in ``0 .. n_types-1``; every type must occur.
    n_types : int

    Returns
    -------
    torch.Tensor [n_types]

    Examples
    --------
    >>> per_type_mean(torch.tensor([1.0, 2.0, 4.0]), [0, 1, 1], 2).tolist()
    [1.0, 3.0]
    """
    if not isinstance(values, torch.Tensor) or values.ndim != 1:
        got = (f"shape {tuple(values.shape)}" if isinstance(values, torch.Tensor)
               else type(values).__name__)
        raise ValueError(f"values must be a 1-D torch.Tensor [n_neurons], got {got}")
    if isinstance(n_types, bool) or not isinstance(n_types, int) or n_types < 1:
        raise ValueError(f"n_types must be an integer >= 1, got {n_types!r}")
    types = torch.as_tensor(cell_type, device=values.device)
    if types.is_floating_point() or types.dtype == torch.bool or types.is_complex():
        raise ValueError(f"cell_type must hold integers, got dtype {types.dtype}")
    if tuple(types.shape) != tuple(values.shape):
        raise ValueError(f"cell_type must have shape {tuple(values.shape)} like values, "
                         f"got {tuple(types.shape)}")
    types = types.long()
    if types.numel() and (int(types.min()) < 0 or int(types.max()) >= n_types):
        raise ValueError(f"cell_type must lie in 0..{n_types - 1}, got values from "
                         f"{int(types.min())} to {int(types.max())}")
    size = torch.bincount(types, minlength=n_types)
    if bool((size == 0).any()):
        empty = torch.nonzero(size == 0).flatten().tolist()
        raise ValueError(f"cell_type has no neuron of type(s) {empty} (n_types={n_types})")
    sums = torch.zeros(n_types, dtype=values.dtype, device=values.device)
    sums = sums.index_add(0, types, values)
    return sums / size.to(values.dtype)


def per_type_rate_loss(counts, duration_s: float, cell_type, target_hz_per_type) -> torch.Tensor:
    """Relative squared error of the mean rate of each cell type.

    ::

        L = mean_k ((mean_{n in k} rate_n - target_k) / target_k)^2,  rate_n = count_n / duration_s

    Parameters
    ----------
    counts : torch.Tensor [n_neurons] or [batch, n_neurons]
        Differentiable spike counts (averaged over the batch).
    duration_s : float
        Duration the counts cover (s), > 0.
    cell_type : array_like of int [n_neurons]
        Type of each neuron, ``0 .. n_types-1``.
    target_hz_per_type : array_like [n_types]
        Target mean rate of each type (Hz), > 0; its length sets ``n_types``.

    Examples
    --------
    >>> counts = torch.tensor([4.0, 8.0, 20.0])          # in 2 s: 2, 4, 10 Hz
    >>> float(per_type_rate_loss(counts, 2.0, [0, 0, 1], [3.0, 5.0]))   # (0 + 1)/2
    0.5
    """
    c = _counts(counts)
    duration_s = _positive("duration_s", duration_s)
    target = torch.as_tensor(target_hz_per_type, dtype=c.dtype, device=c.device)
    if target.ndim != 1 or target.shape[0] < 1:
        raise ValueError(f"target_hz_per_type must have shape [n_types], got {tuple(target.shape)}")
    target = _per_neuron("target_hz_per_type", target, target.shape[0], c, positive=True)
    rate = per_type_mean(c / duration_s, cell_type, int(target.shape[0]))
    return (((rate - target) / target) ** 2).mean()


# ----------------------------------------------------------------------------- membrane
def membrane_variance_loss(v: torch.Tensor, threshold, threshold_ratio: float = 0.8, *,
                           min_gap: float = 1e-3) -> torch.Tensor:
    """Keep membrane fluctuations a set fraction of the distance to threshold.

    Per neuron, pooled over the batch and time::

        mu_n = mean(V_n),  sigma_n = std(V_n)  (ddof = 0)
        L = mean_n (sigma_n / max(theta_n - mu_n, min_gap) - threshold_ratio)^2

    Parameters
    ----------
    v : torch.Tensor [batch, n_steps, n_neurons]
        Membrane potential (e.g. mV).
    threshold : float or torch.Tensor [n_neurons]
        Firing threshold ``theta``, same unit as ``v``.
    threshold_ratio : float
        Target ``sigma / (theta - mu)``, >= 0.
    min_gap : float
        Floor of ``theta - mu`` (unit of ``v``), > 0.  A neuron whose mean
        potential reaches the threshold (possible only without reset) gets a
        large but finite loss; its gradient then acts only through ``sigma``
        (the floor has no slope).

    Notes
    -----
    ``sigma`` is taken as 0 (zero gradient) where the variance is 0, so a
    constant potential gives no NaN.

    Examples
    --------
    >>> v = torch.tensor([[[-60.0], [-50.0], [-60.0], [-50.0]]])   # mean -55, std 5 (mV)
    >>> round(float(membrane_variance_loss(v, -45.0, 0.8)), 4)       # (5/10 - 0.8)^2
    0.09
    """
    v = _tensor3("v", v)
    n = v.shape[2]
    theta = torch.as_tensor(threshold, dtype=v.dtype, device=v.device)
    if theta.ndim > 1 or (theta.ndim == 1 and theta.shape[0] != n):
        raise ValueError(f"threshold must be a scalar or have shape [{n}] like the last axis of v, "
                         f"got shape {tuple(theta.shape)}")
    ratio = float(threshold_ratio)
    if not (math.isfinite(ratio) and ratio >= 0):
        raise ValueError(f"threshold_ratio must be finite and >= 0, got {threshold_ratio!r}")
    min_gap = _positive("min_gap", min_gap)
    if v.shape[0] * v.shape[1] == 0:
        raise ValueError(f"v must hold at least one time step, got shape {tuple(v.shape)}")
    flat = v.reshape(-1, n)
    mean = flat.mean(dim=0)
    var = ((flat - mean) ** 2).mean(dim=0)
    positive = var.detach() > 0
    std = torch.where(positive, torch.sqrt(torch.where(positive, var, torch.ones_like(var))),
                      torch.zeros_like(var))
    gap = torch.clamp(theta - mean, min=min_gap)
    return ((std / gap - ratio) ** 2).mean()


# ----------------------------------------------------------------------------- trains
def van_rossum_distance(spikes: torch.Tensor, target_spikes: torch.Tensor, dt_s: float,
                        tau_s: float = 0.02) -> torch.Tensor:
    """Van Rossum distance (squared) between spike trains, averaged over batch and neurons.

    Both trains are filtered by the causal kernel ``exp(-t/tau)`` (the exact
    discrete sum, by the recursion ``f_t = exp(-dt/tau) f_{t-1} + s_t``; the
    difference of the trains is filtered once, the filter being linear)::

        f_t = sum_{k <= t} s_k exp(-(t - k) dt / tau),   g likewise for the target
        D^2 = mean_{b,n} sum_t (f_t - g_t)^2 dt / tau

    Normalisation: ``dt/tau`` makes the sum the discrete form of
    ``(1/tau) int (f - g)^2 dt``, so one unmatched spike (followed by a long
    window) costs about 1/2 -- exactly ``dt/tau / (1 - exp(-2 dt/tau))`` --
    whatever ``dt``, and two spikes shifted by ``delta`` cost about
    ``1 - exp(-delta/tau)``.

    Parameters
    ----------
    spikes, target_spikes : torch.Tensor [batch, n_steps, n_neurons]
        Same shape; ``target_spikes`` is usually data (no gradient needed).
    dt_s, tau_s : float
        Time step and kernel time constant (s), > 0.

    Examples
    --------
    One extra spike, dt = 1 ms, tau = 20 ms, 1 s window: 0.05 / (1 - exp(-0.1)).

    >>> s = torch.zeros(1, 1000, 1)
    >>> s[0, 10, 0] = 1.0
    >>> round(float(van_rossum_distance(s, torch.zeros_like(s), 1e-3, 0.02)), 4)
    0.5254
    """
    spikes = _tensor3("spikes", spikes)
    target_spikes = _tensor3("target_spikes", target_spikes)
    if spikes.shape != target_spikes.shape:
        raise ValueError(f"target_spikes must have the shape of spikes {tuple(spikes.shape)}, "
                         f"got {tuple(target_spikes.shape)}")
    dt_s = _positive("dt_s", dt_s)
    tau_s = _positive("tau_s", tau_s)
    diff = spikes - target_spikes.to(spikes.dtype)
    filtered = _LinearScan.apply(math.exp(-dt_s / tau_s), diff,
                                 torch.zeros_like(diff[:, 0]).detach(), False)
    return (filtered ** 2).sum(dim=1).mean() * (dt_s / tau_s)
