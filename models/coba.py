"""Conductance-based LIF neurons with cell types and difference-of-exponentials synapses.

The zebrafish olfactory cortex (area Dp) network model of Meissner-Bernard,
Zenke & Friedrich (2025, eLife 13:RP96303, doi:10.7554/eLife.96303) and
Meissner-Bernard et al. (2025, Cell Reports, doi:10.1016/j.celrep.2025.115330,
the paper the study cites), with the parameters of the homeostatic-training and
activity-fitting study that adapted it (the public project
``rory-bedford/connectome-snns``; our design documents 000 and 001).  Every
default below is that study's (:data:`EXCITATORY`, :data:`INHIBITORY`,
:data:`SYNAPSES`).

Equations (one text for every cell type; per-neuron constants carry the
type's values)::

    C_m dv/dt = g_L (E_L - v) + sum_X g_X (E_X - v)          (unless refractory)
    g_X = g_X_decay - g_X_rise                                 difference of exponentials
    dg_X_decay/dt = -g_X_decay / tau_X_decay
    dg_X_rise/dt  = -g_X_rise / tau_X_rise
    spike: v > v_th;  reset: v = v_reset;  refractory: t_ref
    presynaptic spike of weight w on synapse type X:
        g_X_decay += w * k_X,  g_X_rise += w * k_X,  k_X = g_bar_X / peak_X

with ``C_m = tau_mem * g_L`` and ``peak_X`` the peak of
``exp(-t/tau_decay) - exp(-t/tau_rise)``, so that a spike of weight 1 gives a
conductance whose peak is ``g_bar_X`` (peak-normalised).  Weights are
dimensionless and non-negative; the sign of a connection is its presynaptic
type's (Dale's law): excitatory cells (and the mitral-cell inputs) drive AMPA
and NMDA conductances, inhibitory cells GABA_A.  There is no NMDA Mg block
(the study has none).  COBA is not linear in ``v`` and the conductances
together, so Brian2 integrates it with ``exponential_euler``: exact for the
conductances, exact for ``v`` with the conductances frozen over one step.

The refractory period is applied (8 ms): the study read ``tau_ref`` from its
parameter file but never used it.

The same :class:`COBAModel` is compiled into a differentiable torch step by
:mod:`training.compiler`; :func:`build_network` builds the Brian2 network of a
connectome for any back-end.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import brian2 as b2
import numpy as np
from brian2 import Hz, mV, ms, nS

__all__ = ["SynapseType", "CellType", "COBAModel", "SYNAPSES", "EXCITATORY", "INHIBITORY",
           "MITRAL", "default_model", "peak_factor", "build_network", "simulate"]


class SynapseType(NamedTuple):
    """One conductance: difference of exponentials with its reversal potential."""

    name: str
    tau_rise: b2.Quantity
    tau_decay: b2.Quantity
    E_rev: b2.Quantity
    g_bar: b2.Quantity          # peak conductance of a weight-1 spike


class CellType(NamedTuple):
    """One presynaptic population: its membrane (None for an input) and the
    synapse types its spikes drive."""

    name: str
    synapses: tuple            # names of SynapseType
    tau_mem: b2.Quantity = None
    v_th: b2.Quantity = None
    v_reset: b2.Quantity = None
    E_L: b2.Quantity = None
    g_L: b2.Quantity = None
    t_ref: b2.Quantity = None
    g_bar: tuple = ()          # per synapse type: overrides SynapseType.g_bar when given


#: The study's synapse types (AMPA, NMDA from excitatory cells and mitral cells; GABA_A from
#: inhibitory cells).
SYNAPSES = (
    SynapseType("AMPA", 0.1 * ms, 5 * ms, 0 * mV, 0.7 * nS),
    SynapseType("NMDA", 10 * ms, 70 * ms, 0 * mV, 0.1 * nS),
    SynapseType("GABA_A", 1 * ms, 6 * ms, -70 * mV, 1.5 * nS),
)
EXCITATORY = CellType("excitatory", ("AMPA", "NMDA"), tau_mem=85 * ms, v_th=-38 * mV,
                      v_reset=-60 * mV, E_L=-60 * mV, g_L=1.35 * nS, t_ref=8 * ms)
INHIBITORY = CellType("inhibitory", ("GABA_A",), tau_mem=50 * ms, v_th=-45 * mV,
                      v_reset=-60 * mV, E_L=-60 * mV, g_L=0.9 * nS, t_ref=8 * ms)
MITRAL = CellType("mitral", ("AMPA", "NMDA"))   # inputs: no membrane, excitatory synapses

#: per-neuron constants of the equations, with their units
NEURON_CONSTANTS = {"C_m": "farad", "g_L": "siemens", "E_L": "volt", "v_th": "volt",
                    "v_reset": "volt", "t_ref": "second"}


def peak_factor(tau_rise, tau_decay) -> float:
    """Peak of ``exp(-t/tau_decay) - exp(-t/tau_rise)`` (dimensionless).

    At ``t* = ln(tau_decay/tau_rise) tau_rise tau_decay / (tau_decay - tau_rise)``.

    >>> round(peak_factor(0.1 * ms, 5 * ms), 4)
    0.9048
    >>> round(peak_factor(1 * ms, 6 * ms), 4)
    0.5824
    """
    r, d = float(tau_rise / ms), float(tau_decay / ms)
    if not (r > 0 and d > 0) or r == d:
        raise ValueError(f"tau_rise and tau_decay must be positive and differ, got {r} ms "
                         f"and {d} ms")
    t_peak = math.log(d / r) * r * d / (d - r)
    return float(math.exp(-t_peak / d) - math.exp(-t_peak / r))


class COBAModel(NamedTuple):
    """Cell types (recurrent ones first, in the order of ``Connectome.cell_types``), the input
    type and the synapse types: everything the equations need."""

    cell_types: tuple = (EXCITATORY, INHIBITORY)
    input_type: CellType = MITRAL
    synapses: tuple = SYNAPSES
    method: str = "exponential_euler"

    # -- derived
    def synapse(self, name: str) -> SynapseType:
        for syn in self.synapses:
            if syn.name == name:
                return syn
        raise KeyError(f"unknown synapse type {name!r}; known: "
                       f"{', '.join(s.name for s in self.synapses)}")

    def increments(self, cell: CellType) -> dict:
        """``{synapse name: k_X}``: conductance added to both components per unit weight."""
        out = {}
        for index, name in enumerate(cell.synapses):
            syn = self.synapse(name)
            g_bar = cell.g_bar[index] if cell.g_bar else syn.g_bar
            out[name] = g_bar / peak_factor(syn.tau_rise, syn.tau_decay)
        return out

    def equations(self) -> str:
        """The neuron equations (Brian2 syntax), one line each with its unit and meaning."""
        currents = " + ".join(f"g_{s.name}*(E_{s.name} - v)" for s in self.synapses) or "0*amp"
        lines = [
            "dv/dt = (g_L*(E_L - v) + I_syn)/C_m : volt (unless refractory)  # membrane potential",
            f"I_syn = {currents} : amp  # synaptic current",
        ]
        for s in self.synapses:
            n = s.name
            lines += [
                f"g_{n} = g_{n}_decay - g_{n}_rise : siemens  # {n} conductance",
                f"dg_{n}_decay/dt = -g_{n}_decay/tau_{n}_decay : siemens  # {n}, decaying part",
                f"dg_{n}_rise/dt = -g_{n}_rise/tau_{n}_rise : siemens  # {n}, rising part",
            ]
        lines += [
            "C_m : farad (constant)  # membrane capacitance, tau_mem*g_L",
            "g_L : siemens (constant)  # leak conductance",
            "E_L : volt (constant)  # leak reversal potential",
            "v_th : volt (constant)  # spike threshold",
            "v_reset : volt (constant)  # reset potential",
            "t_ref : second (constant)  # refractory period",
        ]
        return "\n".join(lines) + "\n"

    def namespace(self) -> dict:
        """Constants of the equations: synaptic time constants and reversal potentials."""
        out = {}
        for s in self.synapses:
            out[f"tau_{s.name}_rise"] = s.tau_rise
            out[f"tau_{s.name}_decay"] = s.tau_decay
            out[f"E_{s.name}"] = s.E_rev
        return out

    def state_variables(self) -> tuple:
        """Names of the integrated variables: ``v`` then each conductance component."""
        names = ["v"]
        for s in self.synapses:
            names += [f"g_{s.name}_decay", f"g_{s.name}_rise"]
        return tuple(names)

    def neuron_constants(self, cell_type: np.ndarray) -> dict:
        """Per-neuron constants ``{name: Quantity array}`` for neurons of the given type indices."""
        cell_type = np.asarray(cell_type)
        out = {}
        for name, unit in NEURON_CONSTANTS.items():
            values = []
            for cell in self.cell_types:
                if name == "C_m":
                    values.append(float(cell.tau_mem * cell.g_L / b2.farad))
                else:
                    values.append(float(getattr(cell, name) / getattr(b2, unit)))
            out[name] = np.asarray(values)[cell_type] * getattr(b2, unit)
        return out


def default_model(**changes) -> COBAModel:
    """The study's model; ``changes`` replace fields of :class:`COBAModel`."""
    return COBAModel()._replace(**changes)


# ----------------------------------------------------------------------------- Brian2 network
def _synapse_code(model: COBAModel, cell: CellType) -> tuple[str, dict]:
    lines, namespace = [], {}
    for name, k in model.increments(cell).items():
        lines += [f"g_{name}_decay_post += w*k_{name}_{cell.name}",
                  f"g_{name}_rise_post += w*k_{name}_{cell.name}"]
        namespace[f"k_{name}_{cell.name}"] = k
    return "\n".join(lines), namespace


def build_network(model: COBAModel, connectome, ff_weights, input_steps, input_cells, *,
                  dt, duration, record_v=(), v0=None, name: str = "coba"):
    """The Brian2 network of a connectome: neurons, recurrent and input synapses, monitors.

    Parameters
    ----------
    model : COBAModel
    connectome : models.connectome.Connectome
        Weights [pre, post] (dimensionless) and each neuron's type index into
        ``model.cell_types``.
    ff_weights : scipy.sparse matrix [n_inputs, n]
        Input weights.
    input_steps, input_cells : int arrays
        The input spikes: time step and input index of each.
    dt, duration : Quantity
    record_v : sequence of int
        Neurons whose membrane potential is recorded every step.
    v0 : Quantity array [n], optional
        Initial membrane potentials (default: each neuron's ``E_L``).

    Returns ``(net, objects)`` with ``objects["spikes"]`` (SpikeMonitor) and
    ``objects["v"]`` (StateMonitor or None).
    """
    import scipy.sparse as sp

    n = connectome.n
    group = b2.NeuronGroup(n, model.equations(), threshold="v > v_th", reset="v = v_reset",
                           refractory="t_ref", method=model.method,
                           namespace=model.namespace(), dt=dt, name=f"{name}_neurons")
    for key, value in model.neuron_constants(connectome.cell_type).items():
        setattr(group, key, value)
    group.v = v0 if v0 is not None else group.E_L[:]
    objects = {"neurons": group}
    synapses = []
    weights = sp.csr_matrix(connectome.weights)
    for t, cell in enumerate(model.cell_types):
        rows = np.flatnonzero(np.asarray(connectome.cell_type) == t)
        block = weights[rows].tocoo()
        if block.nnz == 0:
            continue
        code, namespace = _synapse_code(model, cell)
        syn = b2.Synapses(group, group, "w : 1 (constant)", on_pre=code, namespace=namespace,
                          dt=dt, name=f"{name}_from_{cell.name}")
        syn.connect(i=rows[block.row], j=block.col)
        syn.w = block.data
        synapses.append(syn)
    ff = sp.csr_matrix(ff_weights).tocoo()
    n_inputs = ff.shape[0]
    times = np.asarray(input_steps, dtype=np.int64) * float(dt / b2.second)
    source = b2.SpikeGeneratorGroup(n_inputs, np.asarray(input_cells, dtype=np.int64),
                                    times * b2.second, dt=dt, name=f"{name}_inputs")
    objects["inputs"] = source
    if ff.nnz:
        code, namespace = _synapse_code(model, model.input_type)
        syn = b2.Synapses(source, group, "w : 1 (constant)", on_pre=code, namespace=namespace,
                          dt=dt, name=f"{name}_from_inputs")
        syn.connect(i=ff.row, j=ff.col)
        syn.w = ff.data
        synapses.append(syn)
    spikes = b2.SpikeMonitor(group, name=f"{name}_spikes")
    objects["spikes"] = spikes
    monitors = [spikes]
    if len(record_v):
        state = b2.StateMonitor(group, "v", record=list(map(int, record_v)), dt=dt,
                                name=f"{name}_v")
        objects["v"] = state
        monitors.append(state)
    else:
        objects["v"] = None
    net = b2.Network(group, source, *synapses, *monitors)
    objects["synapses"] = synapses
    return net, objects


class BrianRun(NamedTuple):
    spike_steps: np.ndarray      # int64 [n_spikes]
    spike_neurons: np.ndarray    # int64 [n_spikes]
    v_mv: np.ndarray | None      # [n_steps, len(record_v)] at the start of each step
    dt_s: float
    n_steps: int


def simulate(model: COBAModel, connectome, ff_weights, input_steps, input_cells, *, dt,
             n_steps: int, backend: str = "runtime", record_v=(), v0=None) -> BrianRun:
    """Build and run the network on a back-end of :mod:`models.devices`; spikes as steps."""
    from models import devices

    dt_s = float(dt / b2.second)
    with devices.backend(backend) as device:
        net, objects = build_network(model, connectome, ff_weights, input_steps, input_cells,
                                     dt=dt, duration=n_steps * dt, record_v=record_v, v0=v0)
        device.run(net, n_steps * dt)
        spikes = objects["spikes"]
        steps = np.rint(np.asarray(spikes.t[:] / b2.second) / dt_s).astype(np.int64)
        neurons = np.asarray(spikes.i[:], dtype=np.int64)
        v = None
        if objects["v"] is not None:
            v = np.asarray(objects["v"].v[:] / mV).T.copy()
    return BrianRun(steps, neurons, v, dt_s, int(n_steps))


_ = Hz  # re-exported unit for readability of callers
