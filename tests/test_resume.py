"""A fit killed mid-way (SIGKILL) resumes from its checkpoint to the uninterrupted weights."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import make_mixed
from skorch.callbacks import Callback

from tabmtl import MultiTaskEstimator
from tabmtl._training.resume import RESUME_FILE

ROOT = Path(__file__).resolve().parents[1]

# Dropout, shuffling and a stateful weighting (DWA keeps last epochs' losses): each one
# would make a resumed fit drift if its state were not restored.
SETTINGS = dict(
    max_epochs=6, dropout=0.2, weighting="dwa", random_state=0, hidden_layer_sizes=(16,),
    batch_size=64,
)

KILLED_FIT = textwrap.dedent(
    """
    import os, signal, sys, warnings
    import torch
    from skorch.callbacks import Callback
    sys.path.insert(0, "tests")
    from conftest import make_mixed
    from tabmtl import MultiTaskEstimator

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")

    class KillAt(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 3:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, like an OOM kill

    X, Y = make_mixed(300, missing=0.1)
    settings = {settings!r}
    MultiTaskEstimator(checkpoint_dir=sys.argv[1], callbacks=[KillAt()], **settings).fit(X, Y)
    """
)


class CountEpochs(Callback):
    def initialize(self):
        self.epochs_run_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_run_ += 1


def _kill_mid_fit(directory: Path, **extra) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}  # tests/ is not a package
    code = KILLED_FIT.format(settings={**SETTINGS, **extra})
    proc = subprocess.run(
        [sys.executable, "-c", code, str(directory)], cwd=ROOT, env=env, timeout=120,
        capture_output=True, text=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert (directory / RESUME_FILE).is_file()


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.filterwarnings("ignore:Dropping")
def test_killed_fit_resumes_to_the_uninterrupted_weights(tmp_path, early_stopping):
    extra = {"early_stopping": True, "patience": 2} if early_stopping else {}
    _kill_mid_fit(tmp_path, **extra)
    X, Y = make_mixed(300, missing=0.1)
    counter = CountEpochs()
    resumed = MultiTaskEstimator(
        checkpoint_dir=str(tmp_path), callbacks=[("count", counter)], **SETTINGS, **extra
    ).fit(X, Y)
    straight = MultiTaskEstimator(**SETTINGS, **extra).fit(X, Y)

    # it continued, it did not start over: the kill came in epoch 3's end, before that
    # epoch's checkpoint, so 2 epochs were saved
    assert dict(resumed.net_.callbacks_)["count"].epochs_run_ == straight.n_epochs_ - 2
    assert resumed.n_epochs_ == straight.n_epochs_
    got, want = resumed.net_.module_.state_dict(), straight.net_.module_.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert [r["train_loss"] for r in resumed.history_] == [
        r["train_loss"] for r in straight.history_
    ]
    # a finished fit removes its resume file: the next fit starts fresh
    assert not (tmp_path / RESUME_FILE).exists()


class InterruptAt(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 3:
            raise KeyboardInterrupt  # what Ctrl-C does; skorch stops training cleanly


@pytest.mark.filterwarnings("ignore:Dropping")
def test_ctrl_c_keeps_the_checkpoint_and_another_fit_does_not_resume_it(tmp_path):
    X, Y = make_mixed(300, missing=0.1)
    stopped = MultiTaskEstimator(
        checkpoint_dir=str(tmp_path), callbacks=[InterruptAt()], **SETTINGS
    ).fit(X, Y)
    assert stopped.n_epochs_ == 3
    assert (tmp_path / RESUME_FILE).is_file()  # kept: interrupted fits can resume
    with pytest.warns(UserWarning, match="different fit"):
        model = MultiTaskEstimator(checkpoint_dir=str(tmp_path), **{**SETTINGS, "lr": 2e-3})
        model.fit(X, Y)
    assert model.n_epochs_ == SETTINGS["max_epochs"]


def test_damaged_checkpoint_starts_fresh_with_a_warning(tmp_path):
    (tmp_path / RESUME_FILE).write_bytes(b"not a checkpoint")
    X, Y = make_mixed(120)
    with pytest.warns(UserWarning, match="unreadable resume checkpoint"):
        model = MultiTaskEstimator(checkpoint_dir=str(tmp_path), **SETTINGS).fit(X, Y)
    assert model.n_epochs_ == SETTINGS["max_epochs"]


def test_a_diverged_fit_drops_its_checkpoint_so_the_next_fit_starts_fresh(tmp_path):
    from skorch.callbacks import LRScheduler

    from tabmtl._training.net import TrainingDiverged

    X, Y = make_mixed(120)
    # two sane epochs, then a learning rate that blows the weights up
    explode = LRScheduler(policy="LambdaLR", lr_lambda=lambda epoch: 1.0 if epoch < 2 else 1e30)
    settings = dict(max_epochs=8, lr=1e-2, random_state=0, checkpoint_dir=str(tmp_path))
    path = str(tmp_path / RESUME_FILE)
    with pytest.warns(UserWarning, match=f"Removed the resume checkpoint {path!r}"):
        with pytest.raises(TrainingDiverged) as first:
            MultiTaskEstimator(callbacks=[explode], **settings).fit(X, Y)
    assert not (tmp_path / RESUME_FILE).exists()
    # the same fit again starts from epoch 1 (it does not resume into the divergence) ...
    counter = CountEpochs()
    with pytest.warns(UserWarning, match="Removed the resume checkpoint"):
        with pytest.raises(TrainingDiverged) as again:
            MultiTaskEstimator(callbacks=[explode, ("count", counter)], **settings).fit(X, Y)
    assert str(again.value) == str(first.value)
    # ... and a fixed one trains all its epochs from scratch
    model = MultiTaskEstimator(callbacks=[("count", CountEpochs())], **settings).fit(X, Y)
    assert dict(model.net_.callbacks_)["count"].epochs_run_ == 8


class InterruptOnceAt(Callback):
    """Ctrl-C at the end of epoch ``epoch`` (before that epoch's checkpoint is written)."""

    def __init__(self, epoch=3):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class StatefulCounter(Callback):
    """A user callback whose state a resumed fit continues: it exposes ``state_dict``."""

    def initialize(self):
        self.epochs_seen_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_seen_ += 1

    def state_dict(self):
        return {"epochs_seen_": self.epochs_seen_}

    def load_state_dict(self, state):
        self.epochs_seen_ = state["epochs_seen_"]


@pytest.mark.filterwarnings("ignore:Dropping")
def test_resume_continues_the_lr_schedule_and_callbacks_that_expose_their_state(tmp_path):
    from skorch.callbacks import LRScheduler

    X, Y = make_mixed(300, missing=0.1)
    # the lr of epoch e is lr * 0.5**e: right only if the scheduler's epoch count resumes
    schedule = ("schedule", LRScheduler(policy="LambdaLR", lr_lambda=lambda e: 0.5**e))
    settings = {**SETTINGS, "lr": 1e-2}
    kw = dict(checkpoint_dir=str(tmp_path), **settings)
    MultiTaskEstimator(
        callbacks=[schedule, ("count", StatefulCounter()), ("stop", InterruptOnceAt())], **kw
    ).fit(X, Y)
    assert (tmp_path / RESUME_FILE).is_file()
    resumed = MultiTaskEstimator(
        callbacks=[schedule, ("count", StatefulCounter()), ("plain", CountEpochs())], **kw
    ).fit(X, Y)
    straight = MultiTaskEstimator(callbacks=[schedule], **settings).fit(X, Y)

    lr = lambda model: model.net_.optimizer_.param_groups[0]["lr"]  # noqa: E731
    assert lr(resumed) == lr(straight) == pytest.approx(1e-2 * 0.5**6)
    got, want = resumed.net_.module_.state_dict(), straight.net_.module_.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    callbacks = dict(resumed.net_.callbacks_)
    assert callbacks["count"].epochs_seen_ == 6  # continued from the 2 saved epochs
    assert callbacks["plain"].epochs_run_ == 4  # no state_dict: restarts (documented)
