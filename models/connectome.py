"""Connectomes and input spike trains for a conductance-based E/I LIF network.

Reference: Meissner-Bernard et al. (2025), Cell Reports,
DOI 10.1016/j.celrep.2025.115330 -- a model of zebrafish telencephalic area Dp
(olfactory cortex): a recurrent network of excitatory (80 %) and inhibitory
(20 %) neurons organised in assemblies, driven by 1500 olfactory-bulb mitral
cells firing Poisson spikes at 6 Hz.  The defaults below are those of the
public re-implementation rory-bedford/connectome-snns,
``parameters/homeostatic-plasticity.toml`` at commit 09fd1d9 (2025-10-31);
other versions of that project's parameter files use other weights (e.g.
``w_mu = [[0.4, 0.4], [0.6, 0.3]]``), so treat the weight defaults as
illustrative, and the topology (5000 neurons, 20 assemblies, 1500 inputs at
6 Hz) as the study's.

Conventions
-----------
* Matrices are indexed ``[pre, post]``.
* Weights are dimensionless, non-negative multipliers of each synapse type's
  maximal conductance; the sign of a synapse comes from its presynaptic cell
  type (Dale's law), never from the weight.  A negative weight is an error.
* Cell types are ``CELL_TYPES = ("excitatory", "inhibitory")``, coded 0 and 1.

Log-normal weights
------------------
A weight ``w ~ LogNormal(mu, sigma)`` is drawn with a given linear-space mean
``m`` and standard deviation ``s``::

    sigma^2 = ln(1 + s^2 / m^2)
    mu      = ln(m) - sigma^2 / 2        so that E[w] = m, SD[w] = s

The study's code (``assign_weights_lognormal(..., parameter_space="linear")``)
reads its ``w_sigma`` parameter as a *variance* although the parameter file
calls it a standard deviation; we follow the documented meaning, a standard
deviation.  (With ``w_sigma = 0.2`` the study's weights therefore have
SD ``sqrt(0.2) = 0.45`` where ours have 0.2.)

Files
-----
``load_connectome`` reads ``scipy.sparse.save_npz`` files (``.npz``) and HDF5
(``.h5``/``.hdf5``); ``save_connectome`` writes HDF5.  Example::

    rng = np.random.default_rng(42)
    net = assembly_network(rng=rng)                       # 5000 neurons, 20 assemblies
    w_in = feedforward_weights(1500, net.cell_type, rng=rng)
    spikes = poisson_input(input_rates(rng=rng)[0], 20000, 0.5e-3, rng)
    save_connectome(net, "dp.h5")
"""
from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse

#: canonical cell-type names; a neuron's ``cell_type`` code indexes this tuple
CELL_TYPES = ("excitatory", "inhibitory")
#: labels accepted when loading (case-insensitive), and their codes
_LABEL_ALIASES = {"e": 0, "exc": 0, "excitatory": 0, "0": 0,
                 "i": 1, "inh": 1, "inhibitory": 1, "1": 1}
#: file suffixes :func:`load_connectome` reads
_SUFFIXES = (".npz", ".h5", ".hdf5")
#: source of every network drawn by :func:`assembly_network`
_GENERATED_SOURCE = "assembly network (seeded)"

# random numbers drawn per block of rows (memory stays ~ 8 bytes x this)
_BLOCK_ENTRIES = 1 << 20
# poisson_input draws mean + _EXTRA_SD * sd + _EXTRA_GAPS gaps per cell per pass
_EXTRA_SD = 6.0
_EXTRA_GAPS = 8
# most gaps poisson_input holds at once
_MAX_GAPS = 1 << 22


class ConnectomeError(ValueError):
    """A connectome file (or labels file) that cannot be used.

    The message is one line: the file, what is wrong and what would be right.
    """


# --------------------------------------------------------------------------- #
# the container
# --------------------------------------------------------------------------- #
@dataclasses.dataclass(frozen=True, eq=False)
class Connectome:
    """A recurrent network's weights, cell types and assemblies.

    Attributes
    ----------
    cell_types : tuple of str
        Type names, ``CELL_TYPES``.
    cell_type : np.ndarray of int8, shape (n,)
        Each neuron's type, an index into ``cell_types``.
    weights : scipy.sparse.csr_matrix of float64, shape (n, n)
        ``weights[pre, post] > 0`` for every synapse; no stored zeros.
    assembly : np.ndarray of int32, shape (n,)
        Each neuron's assembly; -1 where unknown.
    source : str
        ``"assembly network (seeded)"`` or the file it was loaded from.

    The arrays are copied on construction and made read-only.

    >>> w = scipy.sparse.csr_matrix(np.array([[0.0, 0.5, 0.0],
    ...                                       [0.2, 0.0, 0.0],
    ...                                       [0.0, 1.0, 0.0]]))
    >>> net = Connectome(CELL_TYPES, np.array([0, 0, 1]), w, np.array([0, 1, 1]), "example")
    >>> net.n, net.n_synapses, net.counts()
    (3, 3, {'excitatory': 2, 'inhibitory': 1})
    >>> net.block(1).toarray()
    array([[0., 1., 0.]])
    >>> net.assembly_weights()
    array([[0. , 0.5],
           [0.2, 1. ]])
    """

    cell_types: tuple
    cell_type: np.ndarray
    weights: scipy.sparse.csr_matrix
    assembly: np.ndarray
    source: str

    def __post_init__(self):
        names = tuple(str(t) for t in self.cell_types)
        raw_type, raw_assembly = np.asarray(self.cell_type), np.asarray(self.assembly)
        for name, raw in (("cell_type", raw_type), ("assembly", raw_assembly)):
            if raw.dtype.kind not in "iu":
                raise ValueError(f"{name} must be an integer array, got dtype {raw.dtype}")
        if raw_type.size and (raw_type.min() < 0 or raw_type.max() >= len(names)):
            raise ValueError(f"cell_type codes must be in 0..{len(names) - 1} "
                             f"(cell_types={names}), got values {np.unique(raw_type)[:5].tolist()}")
        if raw_assembly.size and raw_assembly.min() < -1:
            raise ValueError(f"assembly must be >= 0, or -1 where unknown; "
                             f"got {raw_assembly.min()}")
        cell_type = raw_type.astype(np.int8)  # astype copies
        assembly = raw_assembly.astype(np.int32)
        if not scipy.sparse.issparse(self.weights):
            raise TypeError(f"weights must be a scipy.sparse matrix, "
                            f"got {type(self.weights).__name__}")
        weights = scipy.sparse.csr_matrix(self.weights, dtype=np.float64, copy=True)
        weights.sum_duplicates()
        weights.eliminate_zeros()
        n = cell_type.size
        if cell_type.ndim != 1:
            raise ValueError(f"cell_type must be 1-D, got shape {cell_type.shape}")
        if weights.shape != (n, n):
            raise ValueError(f"weights must have shape (n, n) = ({n}, {n}) for {n} cell types, "
                             f"got {weights.shape}")
        if assembly.shape != (n,):
            raise ValueError(f"assembly must have shape ({n},), got {assembly.shape}")
        if not np.isfinite(weights.data).all() or (weights.data < 0).any():
            raise ValueError("weights must be finite and non-negative (Dale's law: the sign "
                             "comes from the presynaptic cell type)")
        cell_type.flags.writeable = False
        assembly.flags.writeable = False
        object.__setattr__(self, "cell_types", names)
        object.__setattr__(self, "cell_type", cell_type)
        object.__setattr__(self, "assembly", assembly)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "source", str(self.source))

    @property
    def n(self) -> int:
        """Number of neurons."""
        return int(self.cell_type.size)

    @property
    def n_synapses(self) -> int:
        """Number of synapses (stored entries, all > 0)."""
        return int(self.weights.nnz)

    def counts(self) -> dict:
        """Number of neurons of each type, by name."""
        per_type = np.bincount(self.cell_type, minlength=len(self.cell_types))
        return {name: int(k) for name, k in zip(self.cell_types, per_type)}

    def block(self, pre_type: int, post_type: int | None = None) -> scipy.sparse.csr_matrix:
        """Weights from neurons of type ``pre_type``: rows of that type, in order.

        Columns are all neurons, or only those of ``post_type`` (in order)
        when it is given.
        """
        rows = np.flatnonzero(self.cell_type == self._type_index(pre_type, "pre_type"))
        out = self.weights[rows]
        if post_type is not None:
            cols = np.flatnonzero(self.cell_type == self._type_index(post_type, "post_type"))
            out = out[:, cols]
        return scipy.sparse.csr_matrix(out)

    def assembly_weights(self) -> np.ndarray:
        """Summed weights between assemblies, ``[pre assembly, post assembly]``.

        ``M[a, b] = sum of weights[i, j] over i in a, j in b``; shape
        ``(A, A)`` with ``A = assembly.max() + 1``.  ``ValueError`` when any
        neuron's assembly is unknown (-1) or the network is empty.
        """
        if self.n == 0 or (self.assembly < 0).any():
            raise ValueError(f"assembly_weights needs every neuron's assembly; {self.source} has "
                             f"{int((self.assembly < 0).sum())} of {self.n} neurons with "
                             "assembly -1 (unknown)")
        n_assemblies = int(self.assembly.max()) + 1
        member = scipy.sparse.csr_matrix(
            (np.ones(self.n), (np.arange(self.n), self.assembly)), shape=(self.n, n_assemblies))
        return np.asarray((member.T @ self.weights @ member).toarray())

    def _type_index(self, value, name: str) -> int:
        if not _is_int(value) or not 0 <= value < len(self.cell_types):
            raise ValueError(f"{name} must be a cell-type index in 0..{len(self.cell_types) - 1} "
                             f"({', '.join(f'{i}={t}' for i, t in enumerate(self.cell_types))}), "
                             f"got {value!r}")
        return int(value)

    def __repr__(self):
        n_assemblies = int(self.assembly.max()) + 1 if self.n and self.assembly.min() >= 0 else 0
        return (f"Connectome(n={self.n}, n_synapses={self.n_synapses}, counts={self.counts()}, "
                f"n_assemblies={n_assemblies}, source={self.source!r})")


# --------------------------------------------------------------------------- #
# argument checks
# --------------------------------------------------------------------------- #
def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return _is_int(value) or isinstance(value, (float, np.floating))


def _check_int(name: str, value, minimum: int) -> int:
    if not _is_int(value):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_array(name: str, value, shape: tuple, low: float, high: float = np.inf,
                 low_open: bool = False) -> np.ndarray:
    """``value`` as a float array of ``shape`` with entries in [low, high] ((low, high] if open)."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers of shape {shape}, got {value!r}") from None
    if arr.shape != shape:
        layout = "[pre type][post type]" if len(shape) == 2 else "one per target type"
        raise ValueError(f"{name} must have shape {shape} ({layout}, types {CELL_TYPES}), "
                         f"got shape {arr.shape}: {value!r}")
    bad = ~np.isfinite(arr) | (arr <= low if low_open else arr < low) | (arr > high)
    if bad.any():
        allowed = f"{'(' if low_open else '['}{low:g}, {high:g}{']' if np.isfinite(high) else ')'}"
        raise ValueError(f"{name} entries must be in {allowed}, got {value!r}")
    return arr


def _lognormal_params(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-space ``(mu, sigma)`` of the log-normal with linear ``mean`` and ``std``.

    Entries with ``mean == 0`` get ``(0, 0)``; they are never used.

    >>> mu, sigma = _lognormal_params(np.array([0.3]), np.array([0.2]))
    >>> w = np.random.default_rng(0).lognormal(mu[0], sigma[0], 200_000)
    >>> round(float(w.mean()), 2), round(float(w.std()), 2)
    (0.3, 0.2)
    """
    safe_mean = np.where(mean > 0, mean, 1.0)
    sigma2 = np.log1p((std / safe_mean) ** 2)
    mu = np.log(safe_mean) - sigma2 / 2
    return np.where(mean > 0, mu, 0.0), np.where(mean > 0, np.sqrt(sigma2), 0.0)


# --------------------------------------------------------------------------- #
# generators
# --------------------------------------------------------------------------- #
def assembly_network(n_neurons: int = 5000, *, fractions=(0.8, 0.2), n_assemblies: int = 20,
                     p_within=((0.2, 0.2), (0.4, 0.2)), p_between=((0.02, 0.02), (0.02, 0.02)),
                     w_mean=((0.3, 0.3), (0.5, 0.3)), w_std=((0.2, 0.2), (0.1, 0.1)),
                     rng: np.random.Generator) -> Connectome:
    """Random E/I network with assemblies and log-normal weights.

    Neurons are ordered excitatory first (``n_E = round(fractions[0] * n)``),
    then inhibitory.  Each type is cut into ``n_assemblies`` contiguous, nearly
    equal blocks: the ``k``-th of ``n_t`` neurons of a type is in assembly
    ``k * n_assemblies // n_t``; an assembly holds neurons of both types.

    Every ordered pair ``(pre, post)``, ``pre != post``, is a synapse
    independently with probability ``p_within[type(pre)][type(post)]`` when
    both are in the same assembly, else ``p_between[...]``.  Its weight is
    log-normal with linear mean ``w_mean[type(pre)][type(post)]`` and standard
    deviation ``w_std[...]`` (see the module docstring: std, not variance).

    Parameters
    ----------
    n_neurons : int
        Network size, >= 2.  Default 5000 (study).
    fractions : (float, float)
        Fractions of excitatory and inhibitory neurons, positive, sum 1.
        Default (0.8, 0.2) (study).
    n_assemblies : int
        Assemblies, 1 .. smallest type size.  Default 20 (study).
    p_within, p_between : 2x2 array_like
        Connection probabilities in [0, 1], rows = presynaptic type
        (E->E, E->I; I->E, I->I).  Defaults from the study's parameter file.
    w_mean, w_std : 2x2 array_like
        Linear-space mean (> 0) and standard deviation (>= 0) of the weights.
        Defaults from the study's parameter file (illustrative, see above).
    rng : numpy.random.Generator
        Source of all randomness; the same state gives the same network.

    Returns
    -------
    Connectome
        ``source = "assembly network (seeded)"``.

    Notes
    -----
    Connectivity is drawn one block of presynaptic rows at a time (about a
    million uniforms per block, not the dense n x n matrix), then all weights
    in one call in row-major synapse order; the block size does not change the
    result.  The expected number of synapses of a default network is about
    0.77 million.

    >>> net = assembly_network(200, n_assemblies=4, rng=np.random.default_rng(0))
    >>> net.counts()
    {'excitatory': 160, 'inhibitory': 40}
    >>> np.bincount(net.assembly).tolist()
    [50, 50, 50, 50]
    >>> bool(net.weights.diagonal().any()), bool((net.weights.data > 0).all())
    (False, True)
    """
    _check_rng(rng)
    n_neurons = _check_int("n_neurons", n_neurons, 2)
    frac = np.array(fractions, dtype=np.float64) if np.ndim(fractions) == 1 else None
    if frac is None or frac.shape != (2,) or not np.isfinite(frac).all() or (frac <= 0).any() \
            or abs(frac.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be two positive numbers (excitatory, inhibitory) "
                         f"summing to 1, got {fractions!r}")
    n_exc = int(round(frac[0] * n_neurons))
    sizes = (n_exc, n_neurons - n_exc)
    if not _is_int(n_assemblies) or not 1 <= n_assemblies <= min(sizes):
        raise ValueError(f"n_assemblies must be an integer from 1 to the smallest type size "
                         f"({sizes[0]} excitatory, {sizes[1]} inhibitory of {n_neurons}), "
                         f"got {n_assemblies!r}")
    p_within = _check_array("p_within", p_within, (2, 2), 0.0, 1.0)
    p_between = _check_array("p_between", p_between, (2, 2), 0.0, 1.0)
    w_mean = _check_array("w_mean", w_mean, (2, 2), 0.0, low_open=True)
    w_std = _check_array("w_std", w_std, (2, 2), 0.0)

    cell_type = np.repeat(np.arange(2, dtype=np.int8), sizes)
    assembly = np.concatenate([np.arange(n_t, dtype=np.int64) * n_assemblies // n_t
                               for n_t in sizes]).astype(np.int32)
    # probability of (pre type, post type, same assembly) at code 4 pre + 2 post + same
    table = np.stack([p_between, p_within], axis=-1).ravel()
    post_code = 2 * cell_type.astype(np.intp)
    block_rows = max(1, _BLOCK_ENTRIES // n_neurons)
    counts = np.zeros(n_neurons, dtype=np.int64)
    columns = []
    for start in range(0, n_neurons, block_rows):
        stop = min(n_neurons, start + block_rows)
        code = 4 * cell_type[start:stop, None].astype(np.intp) + post_code[None, :] \
            + (assembly[start:stop, None] == assembly[None, :])
        connected = rng.random(code.shape) < table[code]
        connected[np.arange(stop - start), np.arange(start, stop)] = False  # no autapses
        rows, cols = np.nonzero(connected)  # row-major: sorted by row, then column
        counts[start:stop] = np.bincount(rows, minlength=stop - start)
        columns.append(cols.astype(np.int32))
    indices = np.concatenate(columns)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    pre = np.repeat(np.arange(n_neurons), counts)
    mu, sigma = _lognormal_params(w_mean, w_std)
    pre_t, post_t = cell_type[pre], cell_type[indices]
    data = np.exp(mu[pre_t, post_t] + sigma[pre_t, post_t] * rng.standard_normal(indices.size))
    weights = scipy.sparse.csr_matrix((data, indices, indptr), shape=(n_neurons, n_neurons))
    return Connectome(CELL_TYPES, cell_type, weights, assembly, _GENERATED_SOURCE)


def feedforward_weights(n_inputs: int, cell_type: np.ndarray, *, p=(0.02, 0.0), w_mean=(0.4, 0.0),
                        w_std=(0.2, 0.0), rng: np.random.Generator) -> scipy.sparse.csr_matrix:
    """Input (mitral cell) -> network weights, ``[n_inputs, n]``, float64 CSR.

    Each input connects to each neuron of type ``t`` independently with
    probability ``p[t]``; a connection's weight is log-normal with linear mean
    ``w_mean[t]`` and standard deviation ``w_std[t]`` (module docstring).

    Parameters
    ----------
    n_inputs : int
        Number of input cells, >= 1 (study: 1500 mitral cells).
    cell_type : array_like of int, shape (n,)
        The network's cell-type codes (0 excitatory, 1 inhibitory), e.g.
        ``Connectome.cell_type``.
    p : (float, float)
        Connection probability to excitatory and to inhibitory neurons, in
        [0, 1].  Default (0.02, 0.0): inputs reach excitatory neurons only
        (study's parameter file).
    w_mean, w_std : (float, float)
        Linear-space mean and standard deviation per target type; the mean
        must be > 0 where ``p > 0`` and is ignored where ``p == 0``.
        Defaults (0.4, 0.0) and (0.2, 0.0) (study's parameter file).
    rng : numpy.random.Generator

    >>> ff = feedforward_weights(1500, np.repeat([0, 1], [400, 100]), rng=np.random.default_rng(1))
    >>> ff.shape, ff[:, 400:].nnz
    ((1500, 500), 0)
    >>> round(ff.nnz / (1500 * 400), 2)
    0.02
    """
    _check_rng(rng)
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    types = _check_cell_type(cell_type)
    p = _check_array("p", p, (2,), 0.0, 1.0)
    w_mean = _check_array("w_mean", w_mean, (2,), 0.0)
    w_std = _check_array("w_std", w_std, (2,), 0.0)
    if ((p > 0) & (w_mean <= 0)).any():
        raise ValueError(f"w_mean must be > 0 for every type with p > 0; got w_mean="
                         f"{w_mean.tolist()} with p={p.tolist()}")
    n = types.size
    p_col = p[types]
    block_rows = max(1, _BLOCK_ENTRIES // max(n, 1))
    counts = np.zeros(n_inputs, dtype=np.int64)
    columns = []
    for start in range(0, n_inputs, block_rows):
        stop = min(n_inputs, start + block_rows)
        rows, cols = np.nonzero(rng.random((stop - start, n)) < p_col[None, :])
        counts[start:stop] = np.bincount(rows, minlength=stop - start)
        columns.append(cols.astype(np.int32))
    indices = np.concatenate(columns)
    mu, sigma = _lognormal_params(w_mean, w_std)
    post_t = types[indices]
    data = np.exp(mu[post_t] + sigma[post_t] * rng.standard_normal(indices.size))
    out = scipy.sparse.csr_matrix((data, indices, np.concatenate([[0], np.cumsum(counts)])),
                                  shape=(n_inputs, n))
    out.eliminate_zeros()
    return out


def _check_cell_type(cell_type) -> np.ndarray:
    arr = np.asarray(cell_type)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu" \
            or not np.isin(arr, (0, 1)).all():
        raise ValueError(f"cell_type must be a non-empty 1-D integer array of codes 0 "
                         f"({CELL_TYPES[0]}) and 1 ({CELL_TYPES[1]}), got "
                         f"{'shape ' + str(arr.shape) if arr.ndim != 1 else arr.dtype} "
                         f"{np.unique(arr)[:5].tolist() if arr.size else []}")
    return arr.astype(np.intp)


def input_rates(n_inputs: int = 1500, rate_hz: float = 6.0, *, n_odours: int = 0,
                modulated_fraction: float = 0.1, modulation: float = 0.5,
                rng: np.random.Generator) -> np.ndarray:
    """Firing rates of the input cells, one row per odour, in Hz.

    ``n_odours = 0``: one row, every cell at ``rate_hz`` (spontaneous
    activity; rng unused).  Otherwise, for each odour independently, a random
    set of ``m = min(floor(modulated_fraction * n_inputs + 1/2), n_inputs // 2)``
    cells fires at ``rate_hz * (1 + modulation)`` and another, disjoint set of
    ``m`` cells at ``rate_hz * (1 - modulation)``; the rest stay at
    ``rate_hz``, so the mean rate is ``rate_hz`` for every odour.

    Parameters
    ----------
    n_inputs : int
        Input cells, >= 1.  Default 1500 mitral cells (study).
    rate_hz : float
        Baseline rate, >= 0.  Default 6 Hz (study).
    n_odours : int
        Odours, >= 0.
    modulated_fraction : float
        Fraction of cells driven up (and the same fraction down), in [0, 0.5].
        Default 0.1 (illustrative).
    modulation : float
        Relative rate change, in [0, 1].  Default 0.5 (illustrative).
    rng : numpy.random.Generator

    Returns
    -------
    np.ndarray, shape (max(n_odours, 1), n_inputs), float64

    >>> rates = input_rates(n_odours=2, rng=np.random.default_rng(0))
    >>> rates.shape, sorted(set(rates[0].tolist()))
    ((2, 1500), [3.0, 6.0, 9.0])
    >>> (rates == 9.0).sum(axis=1).tolist(), float(rates.mean())
    ([150, 150], 6.0)
    """
    _check_rng(rng)
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    n_odours = _check_int("n_odours", n_odours, 0)
    rate_hz = _check_scalar("rate_hz", rate_hz, 0.0, np.inf)
    modulated_fraction = _check_scalar("modulated_fraction", modulated_fraction, 0.0, 0.5,
                                       why=" (2 * modulated_fraction cells are modulated)")
    modulation = _check_scalar("modulation", modulation, 0.0, 1.0)
    rates = np.full((max(n_odours, 1), n_inputs), rate_hz)
    n_mod = min(int(np.floor(modulated_fraction * n_inputs + 0.5)), n_inputs // 2)
    for odour in range(n_odours):
        chosen = rng.permutation(n_inputs)[:2 * n_mod]
        rates[odour, chosen[:n_mod]] = rate_hz * (1 + modulation)
        rates[odour, chosen[n_mod:]] = rate_hz * (1 - modulation)
    return rates


def _check_scalar(name: str, value, low: float, high: float, why: str = "") -> float:
    if not _is_number(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}]{why}, got {value!r}")
    return float(value)


def poisson_input(rates_hz, n_steps: int, dt_s: float, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli ("discrete-time Poisson") spike trains, ``[n_steps, n_inputs]`` bool.

    Cell ``i`` spikes in each step independently with probability
    ``p_i = rates_hz[i] * dt_s``, so it fires at most once per step and its
    mean rate is ``rates_hz[i]``.

    Method: in a Bernoulli process the gaps between successive spikes are
    independent ``Geometric(p_i)`` numbers of steps (support 1, 2, ...), and
    the first spike falls at step ``gap_1 - 1``.  For each cell we draw about
    ``n_steps p_i + 6 sd + 8`` gaps at once (all cells in one call), take
    their cumulative sum and keep the spike steps ``< n_steps``; the rare
    cells whose gaps end before ``n_steps`` get further gaps, from where
    they stopped, until they pass it.  The cost is proportional to the number
    of spikes, not of steps: no float array of size ``n_steps x n_inputs`` is
    made; the output itself is 1 byte per entry.  The same generator state
    gives the same trains.

    Parameters
    ----------
    rates_hz : array_like, shape (n_inputs,)
        Rates in Hz, finite, >= 0, with ``rates_hz * dt_s <= 1``.  A row of
        :func:`input_rates`.
    n_steps : int
        Time steps, >= 0.
    dt_s : float
        Step in seconds, > 0.
    rng : numpy.random.Generator

    >>> spikes = poisson_input(np.full(1500, 6.0), 20000, 0.5e-3, np.random.default_rng(0))
    >>> spikes.shape, spikes.dtype
    ((20000, 1500), dtype('bool'))
    >>> round(float(spikes.mean() / 0.5e-3), 1)  # Hz
    6.0
    >>> poisson_input([0.0, 1000.0], 3, 1e-3, np.random.default_rng(0)).T.tolist()
    [[False, False, False], [True, True, True]]
    """
    _check_rng(rng)
    rates = np.asarray(rates_hz)
    if rates.ndim != 1 or rates.dtype.kind not in "iuf":
        raise ValueError(f"rates_hz must be a 1-D array of rates in Hz (one per input cell; "
                         f"pass one row of input_rates), got "
                         f"{'shape ' + str(rates.shape) if rates.ndim != 1 else rates.dtype}")
    rates = rates.astype(np.float64)
    n_steps = _check_int("n_steps", n_steps, 0)
    if not _is_number(dt_s) or not (np.isfinite(dt_s) and dt_s > 0):
        raise ValueError(f"dt_s must be a finite number of seconds > 0, got {dt_s!r}")
    bad = np.flatnonzero(~np.isfinite(rates) | (rates < 0))
    if bad.size:
        raise ValueError(f"rates_hz must be finite and >= 0; {bad.size} are not, first: "
                         f"cell {bad[0]} at {rates[bad[0]]!r} Hz")
    p = rates * dt_s
    over = np.flatnonzero(p > 1)
    if over.size:
        raise ValueError(f"rates_hz * dt_s must be <= 1 (one Bernoulli trial per step); "
                         f"{over.size} cells exceed it, first: cell {over[0]} at "
                         f"{rates[over[0]]:g} Hz * {dt_s:g} s = {p[over[0]]:g}; "
                         "lower the rate or dt_s")
    spikes = np.zeros((n_steps, rates.size), dtype=bool)
    if n_steps == 0:
        return spikes
    cells = np.flatnonzero(p > 0)
    budget = _gap_budget(np.full(cells.size, n_steps), p[cells])
    start = 0
    while start < cells.size:  # groups of cells holding at most _MAX_GAPS gaps
        stop = start + max(1, int(np.searchsorted(np.cumsum(budget[start:]), _MAX_GAPS, "right")))
        _bernoulli_trains(spikes, cells[start:stop], p[cells[start:stop]], budget[start:stop], rng)
        start = stop
    return spikes


def _gap_budget(remaining: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Gaps to draw for ``remaining`` steps: mean + _EXTRA_SD sd + _EXTRA_GAPS, <= ``remaining``."""
    mean = remaining * p
    k = np.ceil(mean + _EXTRA_SD * np.sqrt(mean * (1 - p)) + _EXTRA_GAPS)
    return np.clip(k, 1, remaining).astype(np.int64)


def _bernoulli_trains(spikes: np.ndarray, cells: np.ndarray, p: np.ndarray, k: np.ndarray,
                      rng: np.random.Generator) -> None:
    """Set ``spikes[:, cells]`` by geometric gaps, ``k`` gaps per cell per pass."""
    n_steps = spikes.shape[0]
    position = np.zeros(cells.size, dtype=np.int64)  # steps consumed so far
    todo = np.arange(cells.size)
    while todo.size:
        gaps = rng.geometric(np.repeat(p[todo], k))
        ends = np.cumsum(k)
        total = np.cumsum(gaps)
        before = np.concatenate([[0], total[ends[:-1] - 1]])  # gap sum before each cell's segment
        times = total - np.repeat(before - position[todo], k)  # 1-based step of each spike
        keep = times <= n_steps
        spikes[times[keep] - 1, np.repeat(cells[todo], k)[keep]] = True
        position[todo] = times[ends - 1]
        todo = todo[position[todo] < n_steps]
        k = _gap_budget(n_steps - position[todo], p[todo])


# --------------------------------------------------------------------------- #
# files
# --------------------------------------------------------------------------- #
def load_connectome(path, *, labels=None) -> Connectome:
    """Read a connectome from ``.npz`` (scipy.sparse) or HDF5.

    Formats
    -------
    ``.npz``
        Written by ``scipy.sparse.save_npz(path, weights)``, weights
        ``[pre, post]``.  May also hold arrays ``cell_types`` (labels) and
        ``assembly`` (ints), e.g. added with
        ``np.savez(path, **np.load(path), cell_types=labels)``.
    ``.h5`` / ``.hdf5``
        Dataset ``weights`` (dense 2-D) or group ``weights`` with datasets
        ``data``, ``indices``, ``indptr`` and attribute or dataset ``shape``
        (CSR); dataset ``cell_types`` (labels); optional dataset ``assembly``.
        :func:`save_connectome` writes this.

    Labels are strings or ints: ``"e"``, ``"exc"``, ``"excitatory"``, ``0``
    mean excitatory; ``"i"``, ``"inh"``, ``"inhibitory"``, ``1`` inhibitory
    (case-insensitive).  ``labels=`` (an array, or a path to a ``.npy`` file
    or a text file with one label per line) gives them, or overrides those in
    the file.  Explicit zeros are dropped; self-connections are kept.
    Without assemblies in the file, ``assembly`` is -1.

    Raises
    ------
    ConnectomeError
        One line naming the file: missing file, a directory, unknown suffix,
        damaged or foreign content, weights not 2-D or not square, negative,
        NaN or infinite weights, an empty network, missing, miscounted or
        unknown labels, assembly of the wrong length.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     f = Path(tmp) / "w.npz"
    ...     scipy.sparse.save_npz(f, scipy.sparse.csr_matrix([[0.0, 0.5], [1.0, 0.0]]))
    ...     net = load_connectome(f, labels=["E", "inh"])
    >>> net.counts(), net.n_synapses, net.assembly.tolist()
    ({'excitatory': 1, 'inhibitory': 1}, 2, [-1, -1])
    """
    path = Path(path)
    if not path.exists():
        raise ConnectomeError(f"{path}: no such file; expected a connectome file "
                              f"({', '.join(_SUFFIXES)})")
    if path.is_dir():
        raise ConnectomeError(f"{path}: is a directory; expected a connectome file "
                              f"({', '.join(_SUFFIXES)})")
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConnectomeError(f"{path}: unknown suffix {path.suffix!r}; allowed: "
                              f"{', '.join(_SUFFIXES)} (.npz from scipy.sparse.save_npz, "
                              ".h5/.hdf5 as written by save_connectome)")
    reader = _read_npz if suffix == ".npz" else _read_h5
    try:
        weights, stored_labels, assembly = reader(path)
    except ConnectomeError:
        raise
    except Exception as err:  # any failure to parse hostile bytes is the file's fault
        kind = "a scipy.sparse.save_npz file" if suffix == ".npz" else "an HDF5 connectome"
        raise ConnectomeError(f"{path}: cannot be read as {kind} (damaged or another format): "
                              f"{_one_line(err)}") from err

    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ConnectomeError(f"{path}: weights must be a square 2-D [pre, post] matrix, "
                              f"got shape {tuple(weights.shape)}")
    n = weights.shape[0]
    if n == 0:
        raise ConnectomeError(f"{path}: the network is empty (weights of shape (0, 0)); "
                              "a connectome needs at least one neuron")
    if weights.dtype.kind not in "biuf":
        raise ConnectomeError(f"{path}: weights must be real numbers, got dtype {weights.dtype}")
    weights = scipy.sparse.csr_matrix(weights, dtype=np.float64)
    weights.sum_duplicates()
    _check_weight_values(path, weights)
    weights.eliminate_zeros()

    if labels is not None:
        values, where = _read_labels_argument(labels, path)
    elif stored_labels is not None:
        values, where = stored_labels, f"{path}: cell_types"
    else:
        raise ConnectomeError(f"{path}: no cell-type labels; pass labels= (an array, or a .npy "
                              "or text file with one label per line: e/exc/excitatory/0 or "
                              "i/inh/inhibitory/1) or store an array 'cell_types' in the file")
    cell_type = _parse_labels(values, where, n, path)

    if assembly is None:
        assembly = np.full(n, -1, dtype=np.int32)
    else:
        assembly = _parse_assembly(assembly, n, path)
    return Connectome(CELL_TYPES, cell_type, weights, assembly, str(path))


def save_connectome(connectome: Connectome, path) -> Path:
    """Write ``connectome`` to HDF5 (``.h5``/``.hdf5``), readable by :func:`load_connectome`.

    Layout: group ``weights`` (CSR ``data`` float64, ``indices``, ``indptr``
    and attribute ``shape``), dataset ``cell_types`` (type name of each
    neuron, bytes), dataset ``assembly`` (int32, -1 unknown); file attributes
    ``format = "snnsuite.connectome"``, ``version = 1``, ``source``,
    ``cell_type_names``.  The file is written to a temporary name in the same
    directory and moved into place (``os.replace``), so a reader never sees a
    half-written file.

    Returns the path written.

    >>> import tempfile
    >>> net = assembly_network(60, n_assemblies=3, rng=np.random.default_rng(2))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = load_connectome(save_connectome(net, Path(tmp) / "net.h5"))
    >>> (back.weights != net.weights).nnz, back.assembly.tolist() == net.assembly.tolist()
    (0, True)
    """
    if not isinstance(connectome, Connectome):
        raise TypeError(f"connectome must be a Connectome, got {type(connectome).__name__}")
    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        raise ConnectomeError(f"{path}: save_connectome writes HDF5; use the suffix .h5 or .hdf5, "
                              f"got {path.suffix!r}")
    if not path.parent.is_dir():
        raise ConnectomeError(f"{path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise ConnectomeError(f"{path}: is a directory; give a file name ending in .h5")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    w = connectome.weights
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "snnsuite.connectome"
            f.attrs["version"] = 1
            f.attrs["source"] = connectome.source
            f.attrs["cell_type_names"] = np.array(connectome.cell_types, dtype="S")
            group = f.create_group("weights")
            group.create_dataset("data", data=w.data)
            group.create_dataset("indices", data=w.indices)
            group.create_dataset("indptr", data=w.indptr)
            group.attrs["shape"] = np.array(w.shape, dtype=np.int64)
            names = np.array(connectome.cell_types, dtype="S")
            f.create_dataset("cell_types", data=names[connectome.cell_type])
            f.create_dataset("assembly", data=connectome.assembly)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- #
# file helpers
# --------------------------------------------------------------------------- #
def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


def _read_npz(path: Path):
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.files)
        if "format" not in keys:
            raise ConnectomeError(f"{path}: not a scipy.sparse.save_npz file (no 'format' entry; "
                                  f"arrays found: {keys[:8]}); save the weights with "
                                  "scipy.sparse.save_npz(path, weights)")
        labels = archive["cell_types"] if "cell_types" in keys else None
        assembly = archive["assembly"] if "assembly" in keys else None
    return scipy.sparse.load_npz(path), labels, assembly


def _read_h5(path: Path):
    with h5py.File(path, "r") as f:
        node = f.get("weights")
        if node is None:
            raise ConnectomeError(f"{path}: no 'weights' in the file "
                                  f"(found {sorted(f.keys())[:8]}); "
                                  "expected a dense 2-D dataset 'weights' or a CSR group 'weights' "
                                  "with data, indices, indptr and shape")
        if isinstance(node, h5py.Dataset):
            dense = node[()]
            if dense.ndim != 2:
                raise ConnectomeError(f"{path}: weights must be a square 2-D [pre, post] matrix, "
                                      f"got shape {dense.shape}")
            if dense.dtype.kind not in "biuf":
                raise ConnectomeError(f"{path}: weights must be real numbers, "
                                      f"got dtype {dense.dtype}")
            weights = scipy.sparse.csr_matrix(dense)
        else:
            missing = [k for k in ("data", "indices", "indptr") if k not in node]
            if "shape" in node.attrs:
                shape = node.attrs["shape"]
            elif "shape" in node:
                shape = node["shape"][()]
            else:
                missing.append("shape")
            if missing:
                raise ConnectomeError(f"{path}: CSR group 'weights' lacks {', '.join(missing)}; "
                                      "it needs datasets data, indices, indptr and attribute "
                                      "or dataset shape")
            shape = tuple(int(s) for s in np.asarray(shape).ravel())
            if len(shape) != 2 or shape[0] != shape[1]:
                raise ConnectomeError(f"{path}: weights must be a square 2-D [pre, post] matrix, "
                                      f"got shape {shape}")
            data = node["data"][()]
            if data.dtype.kind not in "biuf":
                raise ConnectomeError(f"{path}: weights must be real numbers, "
                                      f"got dtype {data.dtype}")
            try:
                weights = scipy.sparse.csr_matrix(
                    (data, node["indices"][()], node["indptr"][()]), shape=shape)
                weights.check_format(full_check=True)
            except (ValueError, TypeError, IndexError) as err:
                raise ConnectomeError(f"{path}: CSR group 'weights' is inconsistent "
                                      f"({_one_line(err)}); indptr needs n+1 increasing entries "
                                      "and indices must lie in [0, n)") from err
        labels = f["cell_types"][()] if "cell_types" in f else None
        assembly = f["assembly"][()] if "assembly" in f else None
    return weights, labels, assembly


def _check_weight_values(path: Path, weights: scipy.sparse.csr_matrix) -> None:
    data = weights.data
    for bad, what in ((~np.isfinite(data), "NaN or infinite"), (data < 0, "negative")):
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            pre = int(np.searchsorted(weights.indptr, first, side="right") - 1)
            post = int(weights.indices[first])
            advice = ("weights are non-negative conductance multipliers; the sign comes from "
                      "the presynaptic cell type (Dale's law)" if what == "negative"
                      else "every weight must be a finite number")
            raise ConnectomeError(f"{path}: {int(bad.sum())} {what} weight(s), first at "
                                  f"[pre, post] = ({pre}, {post}) = {data[first]!r}; {advice}")


def _read_labels_argument(labels, path: Path):
    """``(values, where)`` from labels= : an array, or a .npy / text file."""
    if isinstance(labels, (str, os.PathLike)):
        source = Path(labels)
        where = f"labels file {source}"
        if not source.exists():
            raise ConnectomeError(f"{where}: no such file (labels for {path}); expected a .npy "
                                  "file or a text file with one label per line")
        if source.is_dir():
            raise ConnectomeError(f"{where}: is a directory (labels for {path}); expected a .npy "
                                  "file or a text file with one label per line")
        try:
            if source.suffix.lower() == ".npy":
                values = np.load(source, allow_pickle=False)
            else:
                text = source.read_text(encoding="utf-8")
                values = np.array([line.strip() for line in text.splitlines() if line.strip()],
                                  dtype=str)
        except Exception as err:
            raise ConnectomeError(f"{where}: cannot be read (labels for {path}; expected a .npy "
                                  "array or UTF-8 text, one label per line): "
                                  f"{_one_line(err)}") from err
        return values, where
    return labels, f"labels= for {path}"


def _parse_labels(values, where: str, n: int, path: Path) -> np.ndarray:
    """Cell-type codes (int8) from labels; ConnectomeError naming ``where``."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ConnectomeError(f"{where}: labels must be 1-D, one per neuron, got shape {arr.shape}")
    if arr.size != n:
        raise ConnectomeError(f"{where}: {arr.size} labels but {path} has {n} neurons "
                              f"(weights {n} x {n}); give one label per neuron")
    if arr.dtype.kind == "b":
        raise ConnectomeError(f"{where}: labels are booleans; use e/exc/excitatory/0 or "
                              "i/inh/inhibitory/1")
    unique, inverse = np.unique(arr, return_inverse=True) if arr.dtype.kind != "O" else \
        _unique_objects(arr)
    codes = np.empty(unique.size, dtype=np.int8)
    unknown = []
    for i, value in enumerate(unique):
        code = _label_code(value)
        if code is None:
            unknown.append(value)
        else:
            codes[i] = code
    if unknown:
        shown = ", ".join(repr(_plain(v)) for v in unknown[:3])
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise ConnectomeError(f"{where}: unknown cell-type label(s) {shown}{more}; allowed "
                              f"(case-insensitive): {', '.join(_LABEL_ALIASES)} "
                              f"(0 = {CELL_TYPES[0]}, 1 = {CELL_TYPES[1]})")
    return codes[np.asarray(inverse).ravel()]


def _unique_objects(arr: np.ndarray):
    as_text = np.array([str(_plain(v)) for v in arr], dtype=str)
    unique, first, inverse = np.unique(as_text, return_index=True, return_inverse=True)
    return arr[first], inverse


def _plain(value):
    """numpy scalar / bytes -> str, int or float, for messages and lookup."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _label_code(value) -> int | None:
    value = _plain(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value in (0, 1) else None
    if isinstance(value, str):
        return _LABEL_ALIASES.get(value.strip().lower())
    return None


def _parse_assembly(values, n: int, path: Path) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size != n:
        raise ConnectomeError(f"{path}: assembly must hold one entry per neuron, {n}, got "
                              f"{'shape ' + str(arr.shape) if arr.ndim != 1 else arr.size}")
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu" or (arr.size and arr.min() < -1):
        low = f", min {arr.min()}" if arr.dtype.kind in "iuf" and arr.size else ""
        raise ConnectomeError(f"{path}: assembly must be integers >= 0 (-1 = unknown), got "
                              f"dtype {arr.dtype}{low}")
    return arr.astype(np.int32)
