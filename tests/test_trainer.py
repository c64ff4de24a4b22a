"""The shared trainer: exact resume, checkpoints, Ctrl+C, NaN stop, early stopping, plateau lr."""
import json
import math

import numpy as np
import pytest
import torch

from training.ei_rnn import EIRNN, EIRNNParams
from training.objectives import ActivityFit, Trials
from training.trainer import Trainer, TrainerConfig, TrainingError, load_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    """Bit-identical comparisons need one fixed thread count (torch's first multi-threaded
    call may round differently from later ones)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- a small fit
def small_fit(seed=0, n=12, trials=18, time=15, balance=True, batch_size=0):
    """An EI-RNN fit on random smooth data: everything the real protocol does, small."""
    rng = np.random.default_rng(seed)
    conditions = np.arange(trials) % 3
    u = np.zeros((trials, time, 2))
    u[:, 3:8, 0] = (conditions == 1)[:, None]
    u[:, 3:8, 1] = (conditions == 2)[:, None]
    rates = rng.gamma(2.0, 0.2, size=(trials, time, n)) * (1 + u[..., :1])

    def trials_of(index):
        return Trials(torch.as_tensor(u[index], dtype=torch.float32),
                      torch.as_tensor(rates[index], dtype=torch.float32),
                      torch.as_tensor(conditions[index]), None)
    labels = EIRNN.default_labels(n)
    model = EIRNN(labels, 2, EIRNNParams(embedding="attention", embed_dim=8, n_heads=2), seed=1)
    objective = ActivityFit(trials_of(np.arange(12)), trials_of(np.arange(12, trials)),
                            labels == 0, 3, balance=balance, batch_size=batch_size)
    return model, objective


def config(**changes):
    base = dict(max_epochs=20, checkpoint_every=5, log_every=0, report_every=10, progress=False,
                seed=3)
    base.update(changes)
    return TrainerConfig(**base)


def losses(log):
    return [(e["epoch"], e["train_loss"], e["val_loss"], e["L_trial"]) for e in log]


def quiet(*_):
    pass


# ----------------------------------------------------------------------------- resume
@pytest.mark.parametrize("batch_size", [0, 5])
def test_resume_is_bit_identical(tmp_path, batch_size):
    """20 epochs straight == 10 epochs, a new trainer, resume to 20 (same losses, same weights)."""
    model, objective = small_fit(batch_size=batch_size)
    straight = Trainer(model, objective, config(), tmp_path / "a", print_fn=quiet).fit()
    model_a = model

    model, objective = small_fit(batch_size=batch_size)
    first = Trainer(model, objective, config(max_epochs=10), tmp_path / "b", print_fn=quiet).fit()
    assert first.epochs == 10
    torch.manual_seed(12345)      # whatever happened in between must not matter
    np.random.seed(9)
    model, objective = small_fit(batch_size=batch_size)
    second = Trainer(model, objective, config(), tmp_path / "b", print_fn=quiet,
                     resumable=("max_epochs",)).fit(resume=True)
    assert losses(second.log) == losses(straight.log)       # exact, not approximate
    for (name, a), b in zip(model_a.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    log = json.loads((tmp_path / "b" / "training_log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == list(range(1, 21))   # nothing duplicated


def test_resume_from_a_periodic_checkpoint_drops_later_epochs(tmp_path):
    """A run killed after epoch 7 resumes from epoch 5 (the last checkpoint) and replays 6-7."""
    model, objective = small_fit()
    straight = Trainer(model, objective, config(max_epochs=10), tmp_path / "a",
                       print_fn=quiet).fit()
    model, objective = small_fit()
    trainer = Trainer(model, objective, config(max_epochs=10), tmp_path / "b", print_fn=quiet)
    original_save = trainer.save

    class Killed(Exception):
        pass

    def save_then_die(path):
        original_save(path)
        if trainer.epoch == 7:
            raise Killed
    trainer.save = save_then_die          # epoch 7 is a new best: the save after it "kills"
    with pytest.raises(Killed):
        trainer.fit()
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "latest.pt")["epoch"] == 5
    model, objective = small_fit()
    resumed = Trainer(model, objective, config(max_epochs=10), tmp_path / "b",
                      print_fn=quiet).fit(resume=True)
    assert losses(resumed.log) == losses(straight.log)


def test_resume_refuses_a_different_config_and_missing_state(tmp_path):
    model, objective = small_fit()
    Trainer(model, objective, config(max_epochs=2), tmp_path, run_config={"model": {"tau": 50}},
            print_fn=quiet).fit()
    model, objective = small_fit()
    trainer = Trainer(model, objective, config(max_epochs=4), tmp_path,
                      run_config={"model": {"tau": 20}}, print_fn=quiet)
    with pytest.raises(TrainingError, match="model.tau = 50.*20"):
        trainer.fit(resume=True)
    with pytest.raises(TrainingError, match="already holds a training run.*--resume"):
        Trainer(*small_fit(), config(), tmp_path, print_fn=quiet).fit()
    with pytest.raises(TrainingError, match="nothing to resume"):
        Trainer(*small_fit(), config(), tmp_path / "empty", print_fn=quiet).fit(resume=True)


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoints_hold_everything_and_load_weights_only(tmp_path):
    model, objective = small_fit()
    result = Trainer(model, objective, config(max_epochs=10), tmp_path, print_fn=quiet,
                     run_config={"seed": 3}).fit()
    names = {p.name for p in (tmp_path / "checkpoints").iterdir()}
    assert names == {"model_epoch5.pt", "model_epoch10.pt", "latest.pt"}
    for path in (tmp_path / "model_best.pt", tmp_path / "model_final.pt",
                 tmp_path / "checkpoints" / "model_epoch5.pt"):
        state = torch.load(path, weights_only=True)
        assert {"model", "optimizer", "scheduler", "objective", "epoch", "best_metric", "rng",
                "config", "log"} <= set(state)
        assert {"torch", "numpy", "python"} <= set(state["rng"])
        assert json.loads(state["config"]) == {"seed": 3}
    assert torch.load(tmp_path / "checkpoints" / "model_epoch5.pt", weights_only=True)["epoch"] == 5
    best = torch.load(tmp_path / "model_best.pt", weights_only=True)
    assert best["epoch"] == result.best_epoch
    assert best["best_metric"] == min(e["val_loss"] for e in result.log)


def test_damaged_checkpoint_is_named(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="bad.pt: not a readable checkpoint"):
        load_checkpoint(path)
    with pytest.raises(TrainingError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


# ----------------------------------------------------------------------------- stopping
def test_request_stop_saves_and_resume_continues_exactly(tmp_path):
    model, objective = small_fit()
    straight = Trainer(model, objective, config(max_epochs=8), tmp_path / "a",
                       print_fn=quiet).fit()
    model, objective = small_fit()
    trainer = Trainer(model, objective, config(max_epochs=8), tmp_path / "b", print_fn=quiet)
    train_epoch = objective.train_epoch

    def stop_at_3(model, step):
        out = train_epoch(model, step)
        if trainer.epoch == 2:           # Ctrl+C arrives during epoch 3
            trainer.request_stop()
        return out
    objective.train_epoch = stop_at_3
    interrupted = trainer.fit()
    assert interrupted.reason == "interrupted" and interrupted.epochs == 3
    assert not (tmp_path / "b" / "model_final.pt").exists()
    model, objective = small_fit()
    resumed = Trainer(model, objective, config(max_epochs=8), tmp_path / "b",
                      print_fn=quiet).fit(resume=True)
    assert losses(resumed.log) == losses(straight.log)


class Scripted:
    """A one-parameter objective whose losses and validation metric follow a script."""

    def __init__(self, train_losses, val_metrics):
        self.train_losses, self.val_metrics, self.calls = train_losses, val_metrics, 0

    def to(self, device):
        return self

    def train_epoch(self, model, step):
        value = self.train_losses[min(self.calls, len(self.train_losses) - 1)]
        self.calls += 1
        loss = model.weight.sum() * 0 + value
        loss.backward()
        step(loss)
        return {"train_loss": float(value)}

    def evaluate(self, model):
        return {"val_loss": self.val_metrics[min(self.calls - 1, len(self.val_metrics) - 1)]}

    def details(self, model):
        return {}

    def format_details(self, details):
        return []

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = state["calls"]


def test_nan_loss_stops_with_a_message_and_keeps_the_best(tmp_path):
    objective = Scripted([1.0, 0.5, float("nan")], [1.0, 0.4, 0.3])
    messages = []
    result = Trainer(torch.nn.Linear(2, 1), objective, config(), tmp_path,
                     print_fn=messages.append).fit()
    assert result.reason == "diverged" and result.epochs == 2
    assert "epoch 3" in result.message and "NaN" in result.message
    assert "model_best.pt" in result.message and any("TRAINING STOPPED" in m for m in messages)
    assert torch.load(tmp_path / "model_best.pt", weights_only=True)["epoch"] == 2


def test_inf_loss_stops_too(tmp_path):
    objective = Scripted([1.0, float("inf")], [1.0])
    result = Trainer(torch.nn.Linear(2, 1), objective, config(), tmp_path, print_fn=quiet).fit()
    assert result.reason == "diverged" and "inf" in result.message


def test_early_stopping_after_patience(tmp_path):
    objective = Scripted([1.0], [0.5, 0.4] + [0.45] * 100)
    result = Trainer(torch.nn.Linear(2, 1), objective, config(max_epochs=100, early_stopping=7),
                     tmp_path, print_fn=quiet).fit()
    assert result.reason == "early_stopping"
    assert result.best_epoch == 2 and result.epochs == 9


def test_plateau_halves_the_learning_rate(tmp_path):
    objective = Scripted([1.0], [1.0] * 30)
    result = Trainer(torch.nn.Linear(2, 1), objective,
                     config(max_epochs=30, lr_patience=4, early_stopping=0), tmp_path,
                     print_fn=quiet).fit()
    lrs = [e["learning_rate"] for e in result.log]
    assert lrs[0] == 1e-3 and lrs[-1] < 1e-3
    first_drop = next(i for i, lr in enumerate(lrs) if lr < 1e-3)
    assert lrs[first_drop] == pytest.approx(5e-4)     # factor 0.5
    assert min(lrs) >= 1e-5


def test_max_mode_monitors_a_correlation(tmp_path):
    class Correlation(Scripted):
        def evaluate(self, model):
            return {"val_loss": 0.0, "val_correlation": [0.1, 0.5, 0.3][self.calls - 1]}
    result = Trainer(torch.nn.Linear(2, 1), Correlation([1.0], []),
                     config(max_epochs=3, monitor="val_correlation", mode="max"), tmp_path,
                     print_fn=quiet).fit()
    assert result.best_epoch == 2 and result.best_metric == 0.5


def test_console_lines_follow_the_format(tmp_path):
    model, objective = small_fit()
    lines = []
    Trainer(model, objective, config(max_epochs=10, log_every=5, report_every=10), tmp_path,
            print_fn=lines.append).fit()
    import re
    pattern = (r"Epoch 5 \| train_loss: \d+\.\d{3} \| val_corr: -?\d\.\d{3} \| "
               r"lr: 1\.0e-03 \| time: \d+\.\ds")
    assert re.fullmatch(pattern, lines[0]), lines[0]
    report = next(line for line in lines if "Epoch 10 report" in line)
    assert "val_corr" in report and "h0" in report and "Fano" in report


def test_clipping_bounds_the_update(tmp_path):
    """With clip_norm the applied gradient norm never exceeds it."""
    norms = []

    class Big(Scripted):
        def train_epoch(self, model, step):
            loss = 1e6 * model.weight.sum()
            loss.backward()
            original = torch.optim.Adam.step

            def spy(opt, *a, **k):
                norms.append(math.sqrt(sum(float((p.grad ** 2).sum())
                                           for p in model.parameters() if p.grad is not None)))
                return original(opt, *a, **k)
            torch.optim.Adam.step = spy
            try:
                step(loss)
            finally:
                torch.optim.Adam.step = original
            return {"train_loss": float(loss.detach())}
    Trainer(torch.nn.Linear(2, 1), Big([1.0], [1.0]), config(max_epochs=2, clip_norm=1.0),
            tmp_path, print_fn=quiet).fit()
    assert norms and max(norms) <= 1.0 + 1e-6


def test_wandb_without_the_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "wandb", None)   # import wandb fails
    trainer = Trainer(*small_fit(), config(wandb="offline"), tmp_path, print_fn=quiet)
    with pytest.raises(TrainingError, match="wandb is not installed.*trainer.wandb: off"):
        trainer.fit()


def test_wandb_receives_every_epoch(tmp_path, monkeypatch):
    """With wandb present, each epoch's entry is logged at its epoch (a stand-in module)."""
    import types
    logged = []
    run = types.SimpleNamespace(log=lambda entry, step: logged.append((step, entry)),
                                finish=lambda: None)
    fake = types.SimpleNamespace(init=lambda **kwargs: run)
    monkeypatch.setitem(__import__("sys").modules, "wandb", fake)
    Trainer(*small_fit(), config(max_epochs=3, wandb="offline"), tmp_path, print_fn=quiet).fit()
    assert [step for step, _ in logged] == [1, 2, 3]
    assert {"train_loss", "val_loss", "learning_rate"} <= set(logged[0][1])


def test_console_time_continues_across_a_resume(tmp_path):
    model, objective = small_fit()
    Trainer(model, objective, config(max_epochs=3), tmp_path, print_fn=quiet).fit()
    before = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["elapsed_s"]
    assert before > 0
    lines = []
    Trainer(*small_fit(), config(max_epochs=4, log_every=1), tmp_path,
            print_fn=lines.append).fit(resume=True)
    shown = float(next(line for line in lines if line.startswith("Epoch 4")).split("time: ")[1][:-1])
    assert shown >= round(before, 1)
