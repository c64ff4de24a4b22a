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
    report = next(line for line in lines if "=== Epoch 10 Detailed Report ===" in line)
    for words in ("E neurons: mean_corr=", "I neurons: mean_corr=", "Fano factor: model=",
                  "h0: mean=", "val_corr: mean=", "Saved checkpoint: checkpoints/"):
        assert words in report, words


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


# ----------------------------------------------------------------------------- checkpoint names
NEW_NAMES = dict(latest_name="checkpoints/checkpoint_latest.pt",
                 best_name="checkpoints/checkpoint_best.pt", final_name="", epoch_name="")


def files_under(folder):
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_custom_names_write_exactly_the_named_checkpoints(tmp_path):
    """final_name="" and epoch_name="": no model_final.pt, no model_epoch files, latest still
    written every checkpoint_every epochs, after the best checkpoint of that epoch."""
    model, objective = small_fit()
    trainer = Trainer(model, objective, config(max_epochs=7, **NEW_NAMES), tmp_path,
                      print_fn=quiet)
    saved = []
    original_save = trainer.save

    def recording_save(path):
        saved.append((trainer.epoch, str(path.relative_to(tmp_path))))
        original_save(path)
    trainer.save = recording_save
    result = trainer.fit()
    assert files_under(tmp_path) == {"checkpoints/checkpoint_latest.pt",
                                     "checkpoints/checkpoint_best.pt", "training_log.json"}
    assert [epoch for epoch, name in saved if name.endswith("latest.pt")] == [5, 7]
    assert saved[-1] == (7, "checkpoints/checkpoint_latest.pt")     # the end, no final file
    best = load_checkpoint(tmp_path / "checkpoints" / "checkpoint_best.pt")
    assert best["epoch"] == result.best_epoch


def test_resume_reads_the_custom_latest_and_names_it(tmp_path):
    with pytest.raises(TrainingError, match=r"nothing to resume \(no checkpoints/checkpoint_la"):
        Trainer(*small_fit(), config(**NEW_NAMES), tmp_path, print_fn=quiet).fit(resume=True)
    Trainer(*small_fit(), config(max_epochs=3, **NEW_NAMES), tmp_path, print_fn=quiet).fit()
    with pytest.raises(TrainingError, match=r"already holds a training run "
                                            r"\(checkpoints/checkpoint_latest.pt\)"):
        Trainer(*small_fit(), config(**NEW_NAMES), tmp_path, print_fn=quiet).fit()
    with pytest.raises(TrainingError, match="nothing to resume"):   # the default name is absent
        Trainer(*small_fit(), config(max_epochs=5), tmp_path, print_fn=quiet).fit(resume=True)
    lines = []
    resumed = Trainer(*small_fit(), config(max_epochs=5, **NEW_NAMES), tmp_path,
                      print_fn=lines.append).fit(resume=True)
    assert lines[0].startswith("resuming after epoch 3")
    assert [e["epoch"] for e in resumed.log] == [1, 2, 3, 4, 5]


def test_resume_with_custom_names_is_bit_identical(tmp_path):
    model, objective = small_fit(batch_size=5)
    straight = Trainer(model, objective, config(**NEW_NAMES), tmp_path / "a",
                       print_fn=quiet).fit()
    model_a = model
    model, objective = small_fit(batch_size=5)
    Trainer(model, objective, config(max_epochs=8, **NEW_NAMES), tmp_path / "b",
            print_fn=quiet).fit()
    model, objective = small_fit(batch_size=5)
    resumed = Trainer(model, objective, config(**NEW_NAMES), tmp_path / "b", print_fn=quiet,
                      resumable=("max_epochs",)).fit(resume=True)
    assert losses(resumed.log) == losses(straight.log)
    for (name, a), b in zip(model_a.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_diverged_message_names_the_custom_best_checkpoint(tmp_path):
    result = Trainer(torch.nn.Linear(2, 1), Scripted([1.0, float("nan")], [1.0]),
                     config(**NEW_NAMES), tmp_path, print_fn=quiet).fit()
    assert result.reason == "diverged"
    assert str(tmp_path / "checkpoints" / "checkpoint_best.pt") in result.message
    assert not (tmp_path / "model_final.pt").exists()


@pytest.mark.parametrize("changes, fragment", [
    (dict(latest_name=""), "latest_name must name a file"),
    (dict(best_name=""), "best_name must name a file"),
    (dict(best_name="/tmp/best.pt"), "best_name must be a path inside out_dir"),
    (dict(final_name="../final.pt"), "final_name must be a path inside out_dir"),
    (dict(epoch_name="checkpoints/epoch.pt"), "epoch_name must hold '{epoch}'"),
    (dict(best_name="checkpoints/latest.pt"), "latest_name and best_name must differ"),
    (dict(scheduler="cosine"), "scheduler must be 'plateau' or 'none', got 'cosine'"),
])
def test_bad_names_and_scheduler_are_refused_at_once(tmp_path, changes, fragment):
    with pytest.raises(ValueError) as info:
        Trainer(torch.nn.Linear(2, 1), Scripted([1.0], [1.0]), config(**changes), tmp_path,
                print_fn=quiet)
    assert fragment in str(info.value)


# ----------------------------------------------------------------------------- scheduler
def test_no_scheduler_keeps_the_learning_rate(tmp_path):
    """The plateau test's setting, which halves the lr, leaves it at 1e-3 without scheduler."""
    objective = Scripted([1.0], [1.0] * 30)
    result = Trainer(torch.nn.Linear(2, 1), objective,
                     config(max_epochs=30, lr_patience=4, early_stopping=0, scheduler="none"),
                     tmp_path, print_fn=quiet).fit()
    assert [e["learning_rate"] for e in result.log] == [1e-3] * 30


def test_no_scheduler_state_round_trips_and_a_switch_is_refused(tmp_path):
    model, objective = small_fit()
    straight = Trainer(model, objective, config(max_epochs=6, scheduler="none"), tmp_path / "a",
                       print_fn=quiet).fit()
    Trainer(*small_fit(), config(max_epochs=3, scheduler="none"), tmp_path / "b",
            print_fn=quiet).fit()
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "latest.pt")["scheduler"] == \
        {"scheduler": "none"}
    with pytest.raises(TrainingError, match="cannot resume: the run was started with scheduler "
                                            "'none', this config has 'plateau'"):
        Trainer(*small_fit(), config(max_epochs=6), tmp_path / "b",
                print_fn=quiet).fit(resume=True)
    resumed = Trainer(*small_fit(), config(max_epochs=6, scheduler="none"), tmp_path / "b",
                      print_fn=quiet).fit(resume=True)
    assert losses(resumed.log) == losses(straight.log)
    Trainer(*small_fit(), config(max_epochs=2), tmp_path / "c", print_fn=quiet).fit()
    with pytest.raises(TrainingError, match="started with scheduler 'plateau', this config "
                                            "has 'none'"):
        Trainer(*small_fit(), config(max_epochs=4, scheduler="none"), tmp_path / "c",
                print_fn=quiet).fit(resume=True)


# ----------------------------------------------------------------------------- accumulation
class Batches:
    """A least-squares objective on fixed batches: one batch per epoch, a step every ``k``
    epochs (``update=False`` in between), or with ``k=0`` all batches summed in one epoch."""

    def __init__(self, k, n_batches=6, nan_at=None):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(n_batches, 8, 3, generator=generator)
        self.y = torch.randn(n_batches, 8, 1, generator=generator)
        self.k, self.epoch, self.nan_at = k, 0, nan_at

    def to(self, device):
        return self

    def loss(self, model, index):
        return ((model(self.x[index]) - self.y[index]) ** 2).mean()

    def train_epoch(self, model, step):
        self.epoch += 1
        if self.k == 0:
            loss = sum(self.loss(model, i) for i in range(len(self.x)))
        else:
            loss = self.loss(model, (self.epoch - 1) % len(self.x))
            if self.epoch == self.nan_at:
                loss = loss * float("nan")
        loss.backward()
        step(loss, update=self.k == 0 or self.epoch % self.k == 0)
        return {"train_loss": float(loss.detach())}

    def evaluate(self, model):
        return {"val_loss": float(self.loss(model, 0))}

    def details(self, model):
        return {}

    def format_details(self, details):
        return []

    def state_dict(self):
        return {"epoch": self.epoch}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]


def linear():
    torch.manual_seed(5)
    return torch.nn.Linear(3, 1)


def test_accumulation_over_epochs_equals_one_step_on_the_summed_loss(tmp_path):
    """step(loss, update=False) on 5 epochs then step(loss) on the 6th: the same weights as
    one epoch that sums the 6 losses and steps once (clipping applies to the sum)."""
    accumulated = linear()
    Trainer(accumulated, Batches(k=6), config(max_epochs=6, scheduler="none", clip_norm=0.5),
            tmp_path / "a", print_fn=quiet).fit()
    summed = linear()
    Trainer(summed, Batches(k=0), config(max_epochs=1, scheduler="none", clip_norm=0.5),
            tmp_path / "b", print_fn=quiet).fit()
    untouched = linear()
    assert not torch.equal(summed.weight, untouched.weight)         # it did step
    for a, b in zip(accumulated.parameters(), summed.parameters()):
        assert torch.equal(a, b)


def test_resume_inside_an_accumulation_window_is_exact(tmp_path):
    """Pending gradients travel in the checkpoint: stop after epoch 4 of windows of 3."""
    straight = linear()
    Trainer(straight, Batches(k=3), config(max_epochs=6), tmp_path / "a", print_fn=quiet).fit()
    Trainer(linear(), Batches(k=3), config(max_epochs=4), tmp_path / "b", print_fn=quiet).fit()
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "latest.pt")["grads"]
    resumed = linear()
    Trainer(resumed, Batches(k=3), config(max_epochs=6), tmp_path / "b", print_fn=quiet,
            resumable=("max_epochs",)).fit(resume=True)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_a_nan_loss_stops_even_without_an_update(tmp_path):
    result = Trainer(linear(), Batches(k=3, nan_at=2), config(), tmp_path, print_fn=quiet).fit()
    assert result.reason == "diverged" and result.epochs == 1 and "epoch 2" in result.message
    # the checkpoint keeps the gradients pending after epoch 1, not the NaN ones of epoch 2
    grads = load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["grads"]
    model = linear()
    Batches(k=3).loss(model, 0).backward()
    assert set(grads) == {"weight", "bias"}
    assert all(torch.equal(grads[name], p.grad) for name, p in model.named_parameters())


# ----------------------------------------------------------------------------- after_epoch
class WithHook(Scripted):
    """Prints its own block and adds a key; records what the trainer had done by then."""

    def __init__(self, out_dir, *args):
        super().__init__(*args)
        self.out_dir, self.seen = out_dir, []

    def details(self, model):
        return {"report_key": 1.0}

    def after_epoch(self, epoch, entry, print_fn):
        self.seen.append((epoch, entry["epoch"], "val_loss" in entry, "report_key" in entry,
                          (self.out_dir / "model_best.pt").exists(),
                          (self.out_dir / "checkpoints" / "latest.pt").exists(),
                          torch.is_grad_enabled()))
        entry["spikes"] = {"rate_hz": float(epoch)}
        print_fn(f"block {epoch}")


def test_after_epoch_sees_each_entry_and_its_keys_reach_the_log(tmp_path):
    objective = WithHook(tmp_path, [1.0], [1.0, 0.5, 0.7, 0.9])
    lines = []
    Trainer(torch.nn.Linear(2, 1), objective,
            config(max_epochs=4, checkpoint_every=2, log_every=0, report_every=2), tmp_path,
            print_fn=lines.append).fit()
    # epoch, entry's epoch, metrics in, details on report epochs, best saved, latest saved
    # (only by the periodic checkpoint of epoch 2, which comes after the hook), no grad
    assert objective.seen == [(1, 1, True, False, True, False, False),
                              (2, 2, True, True, True, False, False),
                              (3, 3, True, False, True, True, False),
                              (4, 4, True, True, True, True, False)]
    log = json.loads((tmp_path / "training_log.json").read_text())
    assert [e["spikes"] for e in log["epochs"]] == [{"rate_hz": float(e)} for e in range(1, 5)]
    assert "block 1" in lines and "block 4" in lines


def test_with_the_hook_and_no_log_or_report_only_the_objective_prints(tmp_path, monkeypatch):
    import training.trainer
    bars = []

    def spy(*args, **kwargs):
        bars.append(kwargs["disable"])
        return tqdm(*args, **kwargs)
    tqdm = training.trainer.tqdm
    monkeypatch.setattr(training.trainer, "tqdm", spy)
    lines = []
    Trainer(torch.nn.Linear(2, 1), WithHook(tmp_path, [1.0], [1.0]),
            config(max_epochs=3, log_every=0, report_every=0, progress=True), tmp_path / "a",
            print_fn=lines.append).fit()
    assert lines == ["block 1", "block 2", "block 3"] and bars == [True]   # no bar either
    Trainer(torch.nn.Linear(2, 1), Scripted([1.0], [1.0]),
            config(max_epochs=1, log_every=0, report_every=0, progress=True), tmp_path / "b",
            print_fn=quiet).fit()
    assert bars[1] is None            # without the hook the bar shows on terminals


def test_a_value_the_log_cannot_hold_is_refused(tmp_path):
    class Bad(Scripted):
        def after_epoch(self, epoch, entry, print_fn):
            entry["model"] = torch.nn.Linear(1, 1)
    with pytest.raises(TrainingError, match="epoch 1: objective.after_epoch added a value"):
        Trainer(torch.nn.Linear(2, 1), Bad([1.0], [1.0]), config(), tmp_path,
                print_fn=quiet).fit()
