"""Fitting activity: a connectome-constrained student COBA-LIF network learns a teacher's statistics.

The study of design document 001, teacher-student: a teacher network on a
connectome with known weights generates the target activity; a student on the
same connectome starts from perturbed weights (each multiplied by
``exp(teacher.weight_perturbation * N(0, 1))``) and is trained by surrogate
gradients (the torch twin of :mod:`models.coba`) to reproduce it.  Losses,
with the study's weights (``hyperparameters.loss_weight.*``)::

    firing_rate (1.0):        mean over cell types of ((mean rate_t - target_t)/target_t)^2
    cv (0.5):                 mean_i (CV_i - target CV_i)^2   (differentiable estimate)
    silent_penalty (0.1):     mean_i exp(-alpha * rate_i)         alpha = targets.alpha (per Hz)
    membrane_variance (0.1):  mean_i (std(V_i)/(theta_i - mean(V_i)) - threshold_ratio_i)^2
    van_rossum (0, off):      van Rossum distance to the teacher's spike trains on the same input

The targets are the teacher's per-type rates and CVs and its per-neuron
membrane ratios, measured before training on ``teacher.target_epochs`` epochs
of input the student never sees (``targets.source: teacher``), or the numbers
of ``targets`` (``source: config``; the study's fixed ``threshold_ratio`` 0.8
for every neuron).  Over training the log reports the correlation between learned and
teacher weights and the per-type rate and CV errors.  Checkpoints, figures,
console, resume and wandb as in ``homeostatic_training``::

    snnsuite run configs/fitting_activity_quick.yaml
    python -m protocols.fitting_activity configs/fitting_activity.yaml --resume --out results/fit
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from protocols import _snn_training as common
from protocols.config import Field

NAME = "fitting_activity"

_TARGETS = common.rate_targets("0.5 Hz")
_TARGETS.update({
    "source": Field("str", "teacher", choices=("teacher", "config"),
                    doc="targets measured on the teacher, or the numbers of this section"),
    "alpha": Field("float", 0.01, low=0, doc="silent-neuron penalty strength (per Hz)"),
    "threshold_ratio": Field("float", 0.8, low=0, doc="target std(V)/(theta - mean(V)) "
                             "(source teacher: the teacher's, per neuron)"),
})

SCHEMA = common.common_schema(
    targets=_TARGETS,
    hyperparameters={
        "loss_weight.firing_rate": Field("float", 1.0, low=0, doc="weight of the per-type "
                                         "firing-rate loss"),
        "loss_weight.cv": Field("float", 0.5, low=0, doc="weight of the CV loss"),
        "loss_weight.silent_penalty": Field("float", 0.1, low=0, doc="weight of the "
                                            "silent-neuron penalty"),
        "loss_weight.membrane_variance": Field("float", 0.1, low=0, doc="weight of the "
                                               "membrane-variance loss"),
        "loss_weight.van_rossum": Field("float", 0.0, low=0, doc="weight of the van Rossum "
                                        "distance to the teacher (0: off)"),
        "van_rossum_tau": Field("quantity", "20 ms", unit="time", low=0, low_open=True,
                                doc="time constant of the van Rossum filter"),
    },
    extra={"teacher": {
        "weight_perturbation": Field("float", 0.5, low=0, doc="s.d. of the log-normal factor "
                                     "applied to each teacher weight to start the student"),
        "target_epochs": Field("int", 1, low=1, doc="epochs of teacher activity measured for "
                               "the targets"),
    }})


def validate(config) -> None:
    common.validate(config)


def estimate_memory(config, jobs=None):
    need, detail = common.estimate_memory(config, jobs)
    return need * 1.1, detail        # the teacher runs beside the student


def translate_toml(data: dict) -> dict:
    """The study's ``fitting-activity.toml`` layout mapped onto this schema."""
    return common.translate_study_toml(data, NAME)


def teacher_for(config, model, connectome, ff, twin):
    """Teacher (the connectome's weights, fixed) and student (perturbed weights); targets."""
    import torch

    from models.rng import stream

    teacher = common.make_twin(config, model, connectome, ff, learn="none")
    sigma = config.teacher.weight_perturbation
    rng = stream(config.simulation.seed, block=0, purpose="perturbation")
    learned = {name for name, _ in twin.named_parameters()}
    for name in twin.weight_names():        # one number per synapse: the same in both layouts
        if f"log_{name}" in learned:
            count = twin.synapse_log_weights(name).numel()
            twin.add_to_log_weights_(name, sigma * rng.standard_normal(count))
    extra = {"teacher_weights": teacher.recurrent_weights(),
             "initial_weight_correlation": weight_correlation(twin, teacher)}
    rates, cvs = common.per_type_targets(config)
    if config.targets.source == "teacher":
        spikes = []
        state = None
        v_sum = v_sq_sum = 0.0
        steps = 0
        input_rates = common.inputs_from(config, connectome)[1]
        with torch.no_grad():
            for k in range(config.teacher.target_epochs):   # held-out input: its own block
                inputs = common.epoch_input(config, input_rates, k + 1, block=2)
                out = teacher(torch.as_tensor(inputs), state)
                state = out.state
                spikes.append(out.spikes.numpy())
                v_sum = v_sum + out.v_sum.double().sum(0)
                v_sq_sum = v_sq_sum + out.v_sq_sum.double().sum(0)
                steps += out.spikes.shape[0] * out.spikes.shape[1]
        # the teacher's own membrane ratio std(V)/(theta - mean(V)), per neuron: the
        # membrane-variance term pulls each student neuron towards its teacher neuron
        mean_v = v_sum / steps
        std_v = (v_sq_sum / steps - mean_v ** 2).clamp_min(0).sqrt()
        gap = (teacher.c_v_th.double() - mean_v).clamp_min(1e-3)
        extra["target_ratio"] = (std_v / gap).numpy()
        stats = common.spike_statistics(np.concatenate(spikes, axis=0), connectome.cell_type,
                                        float(config.simulation.dt))
        for t, cell in enumerate(common.CELL_TYPES):
            short = common.SHORT[cell]
            rate, cv = stats[f"mean_rate_{short}"], stats[f"mean_cv_{short}"]
            if np.isfinite(rate) and rate > 0:
                rates[cell] = float(rate)
            if np.isfinite(cv) and cv > 0:
                cvs[cell] = float(cv)
        ratio = extra["target_ratio"]
        ct = np.asarray(connectome.cell_type)
        print("teacher: " + ", ".join(f"{common.SHORT[c]} {rates[c]:.2f} Hz, CV {cvs[c]:.2f}, "
                                      f"membrane ratio {ratio[ct == t].mean():.2f}"
                                      for t, c in enumerate(common.CELL_TYPES))
              + f" (measured on {config.teacher.target_epochs} epoch(s) of held-out input)",
              flush=True)
    extra.update(target_rates=rates, target_cvs=cvs)
    return twin, teacher, extra


def weight_correlation(student, teacher) -> float:
    """Pearson correlation of student and teacher recurrent weights over existing synapses."""
    s = student.recurrent_weights()
    t = teacher.recurrent_weights() if hasattr(teacher, "recurrent_weights") else teacher
    mask = t > 0
    a, b = s[mask].double(), t[mask].double()
    a, b = a - a.mean(), b - b.mean()
    denom = float((a.norm() * b.norm()))
    return float((a * b).sum()) / denom if denom > 0 else float("nan")


def losses_for(config, twin, extra):
    import torch

    from training import snn_losses as L

    rates, cvs = extra["target_rates"], extra["target_cvs"]
    ct = twin.cell_type
    dtype = twin.c_v_th.dtype
    rate_targets = torch.as_tensor([rates[c] for c in common.CELL_TYPES], dtype=dtype)
    target_cv = torch.as_tensor([cvs[c] for c in common.CELL_TYPES], dtype=dtype)[ct]
    duration = float(config.simulation.duration)
    h, t = config.hyperparameters, config.targets
    w = {k: h[f"loss_weight.{k}"] for k in ("firing_rate", "cv", "silent_penalty",
                                            "membrane_variance", "van_rossum")}
    dt_s = float(config.simulation.dt)
    tau_s = float(h.van_rossum_tau)
    theta = twin.c_v_th
    ratio_target = (torch.as_tensor(extra["target_ratio"], dtype=dtype)
                    if "target_ratio" in extra else t.threshold_ratio)

    def losses(out, moments, teacher_out):
        counts = out.spikes.sum(dim=1)                        # [batch, n]
        fr = L.per_type_rate_loss(counts.mean(0), duration, ct, rate_targets)
        cv = L.cv_loss(moments, target_cv, high_loss=h.cv_high_loss)
        silent = L.silent_penalty(counts.mean(0) / duration, t.alpha)
        steps = out.spikes.shape[1]
        mean_v = out.v_sum / steps
        var_v = (out.v_sq_sum / steps - mean_v ** 2).clamp_min(1e-12)
        gap = (theta - mean_v).clamp_min(1e-3)               # mV: a floor above threshold
        target = ratio_target.to(var_v.device) if torch.is_tensor(ratio_target) else ratio_target
        variance = ((var_v.sqrt() / gap - target) ** 2).mean()
        terms = {"fr": fr, "cv": cv, "silent": silent, "membrane_variance": variance}
        total = w["firing_rate"] * fr + w["cv"] * cv + w["silent_penalty"] * silent \
            + w["membrane_variance"] * variance
        if w["van_rossum"] > 0 and teacher_out is not None:
            vr = L.van_rossum_distance(out.spikes, teacher_out.spikes, dt_s, tau_s)
            terms["van_rossum"] = vr
            total = total + w["van_rossum"] * vr
        terms["total"] = total
        return terms

    return losses


def describe(objective, entry: dict) -> dict:
    """Per epoch: weight correlation with the teacher, per-type rate and CV errors."""
    teacher = objective.teacher
    out = {"weight_correlation": weight_correlation(objective.twin, teacher)}
    targets = objective.targets
    for cell in common.CELL_TYPES:
        short = common.SHORT[cell]
        rate = entry.get(f"mean_rate_{short}", float("nan"))
        cv = entry.get(f"mean_cv_{short}", float("nan"))
        out[f"rate_error_{short}"] = (rate - targets[0][cell]) / targets[0][cell]
        out[f"cv_error_{short}"] = (cv - targets[1][cell]) / targets[1][cell]
    return out


def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False):
    def losses(config_, twin, extra):
        fn = losses_for(config_, twin, extra)
        holder["extra"] = extra
        return fn

    holder = {}

    def describe_(objective, entry):
        objective.targets = (holder["extra"]["target_rates"], holder["extra"]["target_cvs"])
        return describe(objective, entry)

    def summary_for(objective, extra):
        return {"initial_weight_correlation": extra["initial_weight_correlation"],
                "final_weight_correlation": weight_correlation(objective.twin,
                                                               objective.teacher)}

    return common.run_training(NAME, config, Path(out_dir), resume=resume, losses_for=losses,
                               describe=describe_, teacher_for=teacher_for, backend=backend,
                               jobs=jobs, summary_for=summary_for)


def report(results_path: Path, out_dir: Path | None = None) -> Path:
    def extra(result):
        s = result.point.attrs
        return [f"- weight correlation with the teacher: "
                f"{s.get('initial_weight_correlation', float('nan')):.3f} at the start, "
                f"{s.get('final_weight_correlation', float('nan')):.3f} at the end", ""]

    return common.report(Path(results_path), out_dir, "Fitting activity", extra)


def main(argv=None) -> int:
    from protocols.cli import protocol_main

    return protocol_main(NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
