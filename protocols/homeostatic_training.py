"""Homeostatic training: a conductance-based LIF network trained by gradient to target rates and CVs.

The study of design document 000: a COBA-LIF network of excitatory and
inhibitory cells in assemblies (:mod:`models.coba`, :mod:`models.connectome`),
driven by 1500 Poisson mitral cells at 6 Hz, whose recurrent and feedforward
weights are trained by surrogate gradients (:mod:`training.snn`, the torch
twin compiled from the Brian2 equations) so that every neuron fires at
``targets.firing_rates`` (0.5 Hz) with an ISI coefficient of variation of
``targets.cvs`` (1.0)::

    loss = loss_ratio * FR loss + (1 - loss_ratio) * CV loss
    FR loss = mean_i ((rate_i - target_i) / target_i)^2
    CV loss = mean_i (CV_i - target_i)^2   (cv_high_loss for neurons with < 2 ISIs)

The CV is the differentiable age-trace estimate (:mod:`training.snn_losses`),
pooled over the batch and the accumulation window, so it carries a gradient
(the study's did not).  Each epoch simulates ``simulation.duration`` (10 s)
of fresh input; gradients of ``accumulation_interval`` (5) epochs are summed,
then Adam takes one step; the network's state carries (detached) from epoch
to epoch.  Outputs as the study's: ``checkpoints/checkpoint_latest.pt`` and
``checkpoint_best.pt``, ``figures/epoch_XXXX/``, ``parameters.yaml`` (and
``parameters.toml``), ``metadata.json``, plus ``results.h5`` and ``report.md``::

    snnsuite run configs/homeostatic_training_quick.yaml
    snnsuite run configs/homeostatic_training.yaml --out results/hp --resume
    python -m protocols.homeostatic_training study-parameters.toml   # the study's TOML file
"""
from __future__ import annotations

from pathlib import Path

from protocols import _snn_training as common
from protocols.config import Field

NAME = "homeostatic_training"

SCHEMA = common.common_schema(
    targets=common.rate_targets("0.5 Hz"),
    hyperparameters={
        "loss_ratio": Field("float", 0.5, low=0, high=1, doc="weight of the firing-rate loss "
                            "(the CV loss gets 1 - loss_ratio)"),
    })


def validate(config) -> None:
    common.validate(config)


def estimate_memory(config, jobs=None):
    return common.estimate_memory(config, jobs)


def translate_toml(data: dict) -> dict:
    """The study's ``homeostatic-plasticity.toml`` layout mapped onto this schema."""
    return common.translate_study_toml(data, NAME)


def losses_for(config, twin, extra):
    import torch

    from training import snn_losses as L

    rates, cvs = common.per_type_targets(config)
    ct = twin.cell_type
    dtype = twin.c_v_th.dtype
    target_rate = torch.as_tensor([rates[c] for c in common.CELL_TYPES], dtype=dtype)[ct]
    target_cv = torch.as_tensor([cvs[c] for c in common.CELL_TYPES], dtype=dtype)[ct]
    duration = float(config.simulation.duration)
    ratio = config.hyperparameters.loss_ratio
    high = config.hyperparameters.cv_high_loss

    def losses(out, moments, teacher_out):
        counts = out.spikes.sum(dim=1)
        fr = L.firing_rate_loss(counts, duration, target_rate.to(counts.device))
        cv = L.cv_loss(moments, target_cv.to(counts.device), high_loss=high)
        return {"total": ratio * fr + (1 - ratio) * cv, "fr": fr, "cv": cv}

    return losses


def run(config, out_dir: Path, *, backend: str = "runtime", jobs=None, resume: bool = False):
    return common.run_training(NAME, config, Path(out_dir), resume=resume, losses_for=losses_for,
                               backend=backend, jobs=jobs)


def report(results_path: Path, out_dir: Path | None = None) -> Path:
    return common.report(Path(results_path), out_dir, "Homeostatic training")


def main(argv=None) -> int:
    from protocols.cli import protocol_main

    return protocol_main(NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
