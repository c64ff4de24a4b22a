"""The shared training loop of every torch model in the suite.

What it does, written once:

- Adam (``lr``), ``ReduceLROnPlateau`` on the monitored metric (factor 0.5,
  patience 50, min 1e-5; ``scheduler="none"`` keeps the lr constant),
  gradient-norm clipping (1.0), early stopping (patience 300 epochs without
  improvement);
- checkpoints, at paths relative to ``out_dir`` set by the config's
  ``*_name`` fields (defaults in brackets): the best model (``best_name``,
  ``model_best.pt``, each new best), the end (``final_name``,
  ``model_final.pt``), one every ``checkpoint_every`` epochs (``epoch_name``,
  ``checkpoints/model_epoch{epoch}.pt``) and the state to resume from
  (``latest_name``, ``checkpoints/latest.pt``, also written every
  ``checkpoint_every`` epochs); ``final_name=""`` or ``epoch_name=""`` writes
  none of that kind.  Each holds the model, its pending gradients (see
  gradient accumulation below), optimizer, scheduler, objective state (e.g.
  running gradient norms), epoch, best metric, the torch/numpy/python RNG
  states, the run's config and the log so far; all load with
  ``torch.load(..., weights_only=True)``;
- exact resume: ``fit(resume=True)`` continues from the latest checkpoint so
  that N epochs straight and k + resume (N - k) give bit-identical losses on CPU;
- Ctrl+C (SIGINT) finishes the current epoch, saves the latest checkpoint
  and returns (a second Ctrl+C stops at once); a NaN or Inf loss stops with a
  message naming the epoch, keeping the best checkpoint;
- CUDA when present (``device="auto"``), a tqdm bar, a line every
  ``log_every`` epochs, a detailed block every ``report_every``, a JSON log
  of every epoch (``training_log.json``), and optional wandb logging.

The model-specific work lives in an *objective* object::

    objective.to(device)                        # move its data
    objective.train_epoch(model, step) -> dict   # compute gradients, call step(loss) per batch;
                                                 # returns {"train_loss": ..., other terms}
    objective.evaluate(model) -> dict            # {"val_loss": ..., "val_correlation": ...}
    objective.details(model) -> dict             # JSON-able, every report_every epochs
    objective.format_details(details) -> [str]   # the lines of the detailed block
    objective.state_dict() / load_state_dict()   # anything that must survive a resume
    objective.after_epoch(epoch, entry, print_fn)  # optional, see below

``step(loss, update=True)`` checks the loss is finite (a NaN or Inf stops the
run as described above), then clips the gradients, steps the optimizer and
zeroes the gradients.  ``step(loss, update=False)`` only checks the loss:
the gradients stay and add up, for gradient accumulation over several
epochs (the objective calls ``loss.backward()`` every epoch and
``step(loss)`` on the epoch that ends an accumulation window).  Pending
gradients are saved in every checkpoint, so a resume inside a window stays
exact.

``after_epoch(epoch, entry, print_fn)``, when the objective has it, is
called once per epoch, after the log entry (``entry``, a dict) is built and
the best checkpoint saved, before the periodic checkpoints: it may print
its own block with ``print_fn(text)``, write figures, and add JSON-able keys
to ``entry``, which the log keeps.  It runs under ``torch.no_grad()``.  When
the objective has it and ``log_every == report_every == 0``, the trainer
prints nothing per epoch itself (no line, no block, no progress bar).
"""
from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["TrainerConfig", "Trainer", "FitResult", "TrainingError", "load_checkpoint",
           "seed_everything", "pick_device"]

CHECKPOINT_VERSION = 1


class TrainingError(RuntimeError):
    """A run that cannot start or continue (bad resume, missing optional package)."""


class TrainerConfig(NamedTuple):
    """The loop's settings; defaults as in the suite's configs."""

    max_epochs: int = 2000
    lr: float = 1e-3
    lr_factor: float = 0.5          # ReduceLROnPlateau factor
    lr_patience: int = 50           # epochs without improvement before the lr drops
    min_lr: float = 1e-5
    clip_norm: float = 1.0          # gradient-norm clipping (0: off)
    early_stopping: int = 300       # epochs without improvement before stopping (0: off)
    checkpoint_every: int = 100
    log_every: int = 10
    report_every: int = 100
    monitor: str = "val_loss"       # key of objective.evaluate() that decides "best"
    mode: str = "min"               # "min" or "max"
    seed: int = 42
    device: str = "auto"            # "auto" (CUDA when present), "cpu", "cuda"
    wandb: str = "off"              # "off", "offline", "online"
    progress: bool = True           # tqdm bar (shown on terminals only)
    # checkpoint paths relative to out_dir; "" writes none of that kind (final and epoch only)
    latest_name: str = "checkpoints/latest.pt"            # the state --resume reads
    best_name: str = "model_best.pt"                      # each new best
    final_name: str = "model_final.pt"                    # the end (not after Ctrl+C)
    epoch_name: str = "checkpoints/model_epoch{epoch}.pt"  # every checkpoint_every epochs
    scheduler: str = "plateau"      # "plateau" (ReduceLROnPlateau) or "none" (constant lr)


class FitResult(NamedTuple):
    epochs: int                # last completed epoch
    best_epoch: int
    best_metric: float
    reason: str                # "completed", "early_stopping", "interrupted", "diverged"
    message: str
    log: list


# ----------------------------------------------------------------------------- helpers
def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' asked for, but torch sees no CUDA device; "
                            "use device: auto or cpu")
    if name not in ("cpu", "cuda"):
        raise TrainingError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def _rng_states() -> dict:
    """Every RNG's state in types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    states = {"torch": torch.random.get_rng_state(),
              "numpy": {"kind": kind, "keys": torch.as_tensor(keys.astype(np.int64)),
                        "pos": int(position), "has_gauss": int(has_gauss),
                        "cached_gaussian": float(cached)},
              "python": {"version": version, "state": list(python_state), "gauss": gauss}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    torch.random.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = states["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _save(obj, path: Path) -> None:
    """``torch.save`` into a temporary file, then rename: a kill never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_json(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, allow_nan=True), encoding="utf-8")
    os.replace(tmp, path)


def load_checkpoint(path, map_location="cpu") -> dict:
    """A checkpoint as a dict (``weights_only=True``); a clear error if missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise TrainingError(f"{path}: not a readable checkpoint (damaged or another "
                            f"format): {exc}") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise TrainingError(f"{path}: not a checkpoint of this suite (version "
                            f"{state.get('version') if isinstance(state, dict) else None!r})")
    return state


class _ConstantLR:
    """``scheduler="none"``: the learning rate stays at ``lr``; a state that round-trips."""

    STATE = {"scheduler": "none"}

    def step(self, metric) -> None:
        pass

    def state_dict(self) -> dict:
        return dict(self.STATE)

    def load_state_dict(self, state: dict) -> None:
        if state != self.STATE:
            raise TrainingError("the run was started with scheduler 'plateau', this config has "
                                "'none'")


def _check_names(config: "TrainerConfig") -> None:
    """Checkpoint names: relative paths, the required ones given, no two the same."""
    names = {"latest_name": config.latest_name, "best_name": config.best_name,
             "final_name": config.final_name, "epoch_name": config.epoch_name}
    for field, name in names.items():
        if not isinstance(name, str):
            raise TypeError(f"{field} must be a string, got {name!r}")
        if not name and field in ("latest_name", "best_name"):
            raise ValueError(f"{field} must name a file, got ''")
        if name and (Path(name).is_absolute() or ".." in Path(name).parts):
            raise ValueError(f"{field} must be a path inside out_dir, got {name!r}")
    if config.epoch_name and "{epoch}" not in config.epoch_name:
        raise ValueError(f"epoch_name must hold '{{epoch}}' (one file per epoch), got "
                         f"{config.epoch_name!r}")
    given = [(field, name) for field, name in names.items() if name]
    for i, (field, name) in enumerate(given):
        for other, other_name in given[i + 1:]:
            if Path(name) == Path(other_name):
                raise ValueError(f"{field} and {other} must differ, both are {name!r}")


def _fmt(value) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.4g}"


# ----------------------------------------------------------------------------- trainer
class Trainer:
    """Train ``model`` on ``objective`` into ``out_dir`` (see the module docstring).

    ``run_config`` (a JSON-able dict) is stored in every checkpoint; on resume
    it must equal the checkpoint's except for keys listed in ``resumable``
    (dotted, e.g. ``"trainer.max_epochs"``), else :class:`TrainingError` names
    the first difference.
    """

    def __init__(self, model: torch.nn.Module, objective, config: TrainerConfig, out_dir, *,
                 run_config: dict | None = None, resumable: tuple = (), print_fn=None):
        if config.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {config.mode!r}")
        if config.scheduler not in ("plateau", "none"):
            raise ValueError(f"scheduler must be 'plateau' or 'none', got {config.scheduler!r}")
        _check_names(config)
        self.config = config
        self.out_dir = Path(out_dir)
        self.device = pick_device(config.device)
        self.model = model.to(self.device)
        self.objective = objective
        objective.to(self.device)
        self.run_config = run_config or {}
        self.resumable = tuple(resumable)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        if config.scheduler == "none":
            self.scheduler = _ConstantLR()
        else:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode=config.mode, factor=config.lr_factor,
                patience=config.lr_patience, min_lr=config.min_lr)
        self.epoch = 0
        self.best_metric = math.inf if config.mode == "min" else -math.inf
        self.best_epoch = 0
        self.log: list[dict] = []
        self.elapsed_s = 0.0        # training time of earlier sessions of this run
        self._stop_requested = False
        self._print = print_fn or (lambda text: tqdm.write(text, file=sys.stdout))
        self._wandb = None

    # -- paths
    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    @property
    def latest_path(self) -> Path:
        """The state to resume from (``config.latest_name``)."""
        return self.out_dir / self.config.latest_name

    @property
    def best_path(self) -> Path:
        return self.out_dir / self.config.best_name

    @property
    def final_path(self) -> Path | None:
        """The end-of-run checkpoint; ``None`` when ``final_name`` is ``""``."""
        return self.out_dir / self.config.final_name if self.config.final_name else None

    def epoch_path(self, epoch: int) -> Path | None:
        """The periodic checkpoint of ``epoch``; ``None`` when ``epoch_name`` is ``""``."""
        if not self.config.epoch_name:
            return None
        return self.out_dir / self.config.epoch_name.format(epoch=epoch)

    # -- state
    def state_dict(self) -> dict:
        return {"version": CHECKPOINT_VERSION, "epoch": self.epoch,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "grads": {name: p.grad for name, p in self.model.named_parameters()
                          if p.grad is not None},   # pending in an accumulation window
                "objective": self.objective.state_dict(),
                "best_metric": float(self.best_metric), "best_epoch": self.best_epoch,
                "monitor": self.config.monitor, "rng": _rng_states(),
                "config": json.dumps(self.run_config, sort_keys=True), "log": self.log,
                "elapsed_s": float(self.elapsed_s + self._session_time())}

    def _restore(self, state: dict) -> None:
        saved = json.loads(state["config"])
        difference = _config_difference(saved, self.run_config, self.resumable)
        if difference:
            raise TrainingError(f"{self.latest_path}: cannot resume: {difference}; resume with "
                                "the config saved beside it or choose another --out")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        try:
            self.scheduler.load_state_dict(state["scheduler"])
        except TrainingError as exc:
            raise TrainingError(f"{self.latest_path}: cannot resume: {exc}") from None
        if self.config.scheduler == "plateau" and state["scheduler"] == _ConstantLR.STATE:
            raise TrainingError(f"{self.latest_path}: cannot resume: the run was started with "
                                "scheduler 'none', this config has 'plateau'")
        grads = state.get("grads", {})
        for name, parameter in self.model.named_parameters():
            parameter.grad = grads[name].to(parameter.device) if name in grads else None
        self.objective.load_state_dict(state["objective"])
        self.epoch = int(state["epoch"])
        self.best_metric = float(state["best_metric"])
        self.best_epoch = int(state["best_epoch"])
        self.log = list(state["log"])[: self.epoch]   # never a duplicated epoch
        self.elapsed_s = float(state.get("elapsed_s", 0.0))
        _set_rng_states(state["rng"])

    @property
    def training_time_s(self) -> float:
        """Training time of this run so far, every session (resumes) included."""
        return float(self.elapsed_s + self._session_time())

    def _session_time(self) -> float:
        started = getattr(self, "_started", None)
        return 0.0 if started is None else time.perf_counter() - started

    def save(self, path: Path) -> None:
        _save(self.state_dict(), path)

    # -- the loop
    def _step(self, loss, update: bool = True) -> None:
        """The ``step`` given to ``objective.train_epoch`` (see the module docstring)."""
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(value):
            raise _NonFinite(value)
        if not update:  # gradient accumulation: the gradients stay for a later step
            return
        if self.config.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return value < self.best_metric if self.config.mode == "min" else value > self.best_metric

    def _on_sigint(self, signum, frame):
        if self._stop_requested:  # second Ctrl+C: stop now
            raise KeyboardInterrupt
        self._stop_requested = True
        self._print("Ctrl+C: finishing this epoch, then saving (press again to stop at once)")

    def request_stop(self) -> None:
        """Stop after the current epoch, as Ctrl+C does."""
        self._stop_requested = True

    def fit(self, resume: bool = False) -> FitResult:
        """Train until ``max_epochs``, early stopping, Ctrl+C or a non-finite loss."""
        cfg = self.config
        if resume:
            if not self.latest_path.is_file():
                raise TrainingError(f"{self.out_dir}: nothing to resume (no "
                                    f"{self.latest_path.relative_to(self.out_dir)}); run "
                                    "without --resume")
            self._restore(load_checkpoint(self.latest_path, self.device))
            self._print(f"resuming after epoch {self.epoch} (best {cfg.monitor} "
                        f"{_fmt(self.best_metric)} at epoch {self.best_epoch})")
        else:
            if self.latest_path.exists():
                raise TrainingError(f"{self.out_dir}: already holds a training run "
                                    f"({self.latest_path.relative_to(self.out_dir)}); pass "
                                    "--resume to continue it, or choose another --out")
            seed_everything(cfg.seed)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._start_wandb()
        previous = None
        if hasattr(signal, "SIGINT") and _main_thread():
            previous = signal.signal(signal.SIGINT, self._on_sigint)
        self._started = time.perf_counter()
        reason, message = "completed", f"reached max_epochs = {cfg.max_epochs}"
        after_epoch = getattr(self.objective, "after_epoch", None)
        silent = after_epoch is not None and not cfg.log_every and not cfg.report_every
        bar = tqdm(total=cfg.max_epochs, initial=self.epoch, unit="epoch", desc="Epoch",
                   bar_format="{desc} {n_fmt}/{total_fmt}: {percentage:3.0f}%|{bar}| "
                              "[{elapsed}<{remaining}] {postfix}",
                   disable=None if cfg.progress and not silent else True, dynamic_ncols=True,
                   leave=False)
        try:
            while self.epoch < cfg.max_epochs:
                epoch = self.epoch + 1
                t0 = time.perf_counter()
                self.model.train()
                pending = {name: p.grad.clone() for name, p in self.model.named_parameters()
                           if p.grad is not None}   # only inside an accumulation window
                try:
                    losses = self.objective.train_epoch(self.model, self._step)
                except _NonFinite as exc:
                    for name, parameter in self.model.named_parameters():  # not NaN gradients
                        parameter.grad = pending.get(name)                 # into the checkpoint
                    reason = "diverged"
                    message = (f"epoch {epoch}: the training loss is {exc.value} (NaN or Inf); "
                               + (f"stopped. The best checkpoint (epoch {self.best_epoch}, "
                                  f"{cfg.monitor} {_fmt(self.best_metric)}) is kept in "
                                  f"{self.best_path}" if self.best_epoch else
                                  "stopped before any epoch improved, so there is no best "
                                  "checkpoint"))
                    break
                self.model.eval()
                with torch.no_grad():
                    metrics = self.objective.evaluate(self.model)
                metric = float(metrics[cfg.monitor])
                self.scheduler.step(metric)
                self.epoch = epoch
                entry = {"epoch": epoch, **{k: float(v) for k, v in losses.items()},
                         **{k: float(v) for k, v in metrics.items()},
                         "learning_rate": self.optimizer.param_groups[0]["lr"],
                         "epoch_time": time.perf_counter() - t0}
                if self._improved(metric):
                    self.best_metric, self.best_epoch = metric, epoch
                    self.save(self.best_path)
                details = None
                if cfg.report_every and epoch % cfg.report_every == 0:
                    with torch.no_grad():
                        details = self.objective.details(self.model)
                    clash = sorted(set(details) & set(entry))
                    if clash:
                        raise TrainingError(f"objective.details() returned {', '.join(clash)}, "
                                            "which the epoch's log entry already has")
                    entry.update(details)            # the log's every-report_every keys
                if after_epoch is not None:
                    with torch.no_grad():
                        after_epoch(epoch, entry, self._print)
                    _check_json(entry, epoch)
                self.log.append(entry)
                saved = None
                if cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0:
                    if cfg.epoch_name:
                        saved = self.epoch_path(epoch)
                        self.save(saved)
                    self.save(self.latest_path)
                self.write_log()                     # every epoch, atomically
                self._report(entry, self.elapsed_s + self._session_time(), details, saved)
                bar.update(1)
                bar.set_postfix(self._postfix(entry), refresh=False)
                if cfg.early_stopping and epoch - self.best_epoch >= cfg.early_stopping:
                    reason = "early_stopping"
                    message = (f"no improvement of {cfg.monitor} for {cfg.early_stopping} "
                               f"epochs (best at epoch {self.best_epoch})")
                    break
                if self._stop_requested:
                    reason = "interrupted"
                    message = (f"interrupted after epoch {epoch}; saved; continue with --resume")
                    break
        finally:
            bar.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            if self._wandb is not None:
                self._wandb.finish()
        self.save(self.latest_path)
        if reason != "interrupted" and self.final_path is not None:
            self.save(self.final_path)
        self.write_log()
        if reason == "diverged":
            self._print(f"TRAINING STOPPED: {message}")
        return FitResult(self.epoch, self.best_epoch, self.best_metric, reason, message,
                         list(self.log))

    # -- output
    def write_log(self) -> Path:
        path = self.out_dir / "training_log.json"
        _write_json({"monitor": self.config.monitor, "mode": self.config.mode,
                     "best_epoch": self.best_epoch, "best_metric": self.best_metric,
                     "epochs": self.log}, path)
        return path

    def _postfix(self, entry: dict) -> dict:
        """The bar's numbers: train_loss, val_corr (or the monitored metric), lr."""
        shown = {"train_loss": _fmt(entry.get("train_loss"))}
        if "val_correlation" in entry:
            shown["val_corr"] = _fmt(entry["val_correlation"])
        else:
            shown[self.config.monitor] = _fmt(entry.get(self.config.monitor))
        shown["lr"] = f"{entry['learning_rate']:.1e}"
        return shown

    def _report(self, entry: dict, elapsed: float, details: dict | None = None,
                saved: Path | None = None) -> None:
        cfg = self.config
        epoch = entry["epoch"]
        if cfg.log_every and epoch % cfg.log_every == 0:
            corr = entry.get("val_correlation")
            self._print(f"Epoch {epoch} | train_loss: {entry['train_loss']:.3f} | "
                        + (f"val_corr: {corr:.3f} | " if corr is not None else
                           f"{cfg.monitor}: {entry[cfg.monitor]:.3f} | ")
                        + f"lr: {entry['learning_rate']:.1e} | time: {elapsed:.1f}s")
        if details is not None:
            lines = [f"=== Epoch {epoch} Detailed Report ==="]
            lines += ["  " + line for line in self.objective.format_details(details)]
            lines.append(f"  best {cfg.monitor}: {_fmt(self.best_metric)} at epoch "
                         f"{self.best_epoch} ({epoch - self.best_epoch} epochs ago); "
                         f"lr {entry['learning_rate']:.1e}; elapsed {elapsed:.1f}s")
            if saved is not None:
                lines.append(f"  Saved checkpoint: {saved.relative_to(self.out_dir)}")
            self._print("\n".join(lines))
        if self._wandb is not None:
            self._wandb.log({k: v for k, v in entry.items() if np.isscalar(v)}, step=epoch)

    def _start_wandb(self) -> None:
        if self.config.wandb == "off":
            return
        try:
            import wandb
        except ImportError:
            raise TrainingError("trainer.wandb is set but wandb is not installed; "
                                "pip install wandb, or set trainer.wandb: off") from None
        self._wandb = wandb.init(project="snnsuite", dir=str(self.out_dir),
                                 mode=self.config.wandb, config=self.run_config,
                                 resume="allow")


def _check_json(entry: dict, epoch: int) -> None:
    """The log entry after ``objective.after_epoch``: still JSON-able (it goes to the log)."""
    try:
        json.dumps(entry, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"epoch {epoch}: objective.after_epoch added a value the log "
                            f"cannot hold ({exc}); add numbers, strings, lists or dicts") from None


class _NonFinite(Exception):
    def __init__(self, value):
        self.value = value


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _config_difference(saved: dict, current: dict, resumable: tuple) -> str:
    a, b = _flatten(saved), _flatten(current)
    for key in sorted(set(a) | set(b)):
        if key in resumable:
            continue
        if a.get(key, "<missing>") != b.get(key, "<missing>"):
            return (f"the run was started with {key} = {a.get(key, '<missing>')!r}, this "
                    f"config has {b.get(key, '<missing>')!r}")
    return ""
