"""Resumable training: everything needed to continue a fit bit for bit, once per epoch.

skorch's ``Checkpoint`` saves the best parameters, optimizer and history, which is what
"keep the best model" needs. Continuing an interrupted fit so that it ends with exactly
the weights an uninterrupted fit would have reached needs more: the random number
generators (dropout, the shuffle order), the state of the callbacks that steer training
(early stopping's patience counter and best weights, tabmtl's divergence guard, the
learning-rate schedule, and any user callback that exposes ``state_dict()`` and
``load_state_dict(state)``), and a file that is never half-written when the process is
killed (other user callbacks start afresh on resume, as in every fit).
:class:`ResumeCheckpoint` writes all of it to one file with an atomic rename after every
epoch; the estimator reads it back when ``checkpoint_dir`` holds one from the same
configuration and data.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.history import History

RESUME_FILE = "resume.pt"


def fingerprint(params: dict, seed: int, *arrays: np.ndarray) -> str:
    """Identity of a fit: its parameters, seed and data (a resume must match all three).

    ``callbacks``, ``verbose`` and ``checkpoint_dir`` do not change what is learned and
    are left out, so a run restarted with other logging still resumes.
    """
    digest = hashlib.sha256()
    kept = {k: v for k, v in params.items() if k not in ("callbacks", "verbose", "checkpoint_dir")}
    digest.update(repr(sorted(kept.items(), key=lambda kv: kv[0])).encode())
    digest.update(f"seed={seed};torch={torch.__version__}".encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def read_resume_state(directory: str | os.PathLike, expected: str) -> dict | None:
    """The saved state in ``directory`` if it belongs to the fit ``expected``, else None."""
    path = Path(directory) / RESUME_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # a damaged file must not stop a fresh fit
        warnings.warn(
            f"Ignoring the unreadable resume checkpoint {str(path)!r} ({type(exc).__name__}); "
            "training starts from scratch.",
            UserWarning,
            stacklevel=3,
        )
        return None
    if state.get("fingerprint") != expected:
        warnings.warn(
            f"{str(path)!r} holds a checkpoint of a different fit (other parameters or data); "
            "training starts from scratch and will overwrite it.",
            UserWarning,
            stacklevel=3,
        )
        return None
    return state


def discard_resume_state(directory: str | os.PathLike, reason: str) -> None:
    """Remove the saved state in ``directory``, with a warning that names it and ``reason``.

    For a fit that ended in a way it must not be resumed from: after a divergence the
    file holds the epochs that led into it, so resuming would diverge again (skorch runs
    no ``on_train_end`` after an exception, so :class:`ResumeCheckpoint` cannot).
    """
    path = Path(directory) / RESUME_FILE
    if path.is_file():
        path.unlink()
        warnings.warn(
            f"Removed the resume checkpoint {str(path)!r}: {reason}; the next fit starts "
            "from scratch.",
            UserWarning,
            stacklevel=2,
        )


class ResumeCheckpoint(Callback):
    """Save, after every epoch, the state an interrupted fit needs to continue exactly.

    The file (``<dirname>/resume.pt``) holds module, criterion and optimizer states, the
    history, the CPU RNG state (and the CUDA device's, when the net trains on one; no
    other device's generator is read or set), the shuffle generator of tabmtl's batch
    iterator, and the state of early stopping, the divergence guard, ``LRScheduler`` and
    any callback with ``state_dict()``/``load_state_dict(state)`` (tensors and plain
    Python values, which ``weights_only`` loading accepts). It is written to
    a temporary file and renamed, so a kill leaves the previous epoch's file intact, and
    removed when training ends normally (all epochs run, or early stopping fired) and,
    by the estimator (:func:`discard_resume_state`), when it diverges.
    Loaded with ``torch.load(weights_only=True)``: no pickled code.

    Parameters
    ----------
    dirname : str
        Folder of the checkpoint (created if needed).
    fingerprint : str
        Identity of the fit (see :func:`fingerprint`), stored and checked on resume.
    state : dict, optional
        A state read by :func:`read_resume_state`, restored at the start of training.

    Examples
    --------
    >>> from tabmtl import MultiTaskEstimator
    >>> model = MultiTaskEstimator(checkpoint_dir="runs/eta", random_state=0)
    >>> # model.fit(X, Y) killed at epoch 40? model.fit(X, Y) again continues at epoch 41
    """

    def __init__(self, dirname: str, fingerprint: str, state: dict | None = None):
        self.dirname = dirname
        self.fingerprint = fingerprint
        self.state = state

    def on_train_begin(self, net, **kwargs):
        # after the other callbacks' on_train_begin (this one is last), which reset them
        state, self.state = self.state, None
        if state is None:
            return
        net.module_.load_state_dict(state["module"])
        net.criterion_.load_state_dict(state["criterion"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(json.loads(state["history"]))
        torch.set_rng_state(state["torch_rng"])
        cuda, saved = _cuda_index(net), state.get("cuda_rng")
        if cuda is not None and saved is not None:
            if isinstance(saved, list):  # files written before: every device's state
                saved = saved[cuda]
            torch.cuda.set_rng_state(saved, cuda)
        net.pending_shuffle_state_ = state.get("shuffle_rng")
        callbacks = dict(net.callbacks_)
        for name, saved in state["callbacks"].items():
            if name in callbacks:
                _set_callback_state(callbacks[name], saved)

    def on_epoch_end(self, net, **kwargs):
        iterator = getattr(net, "train_iterator_", None)
        generator = getattr(iterator, "generator", None)
        from tabmtl._training.callbacks import epoch_rows

        history = epoch_rows(net.history)
        cuda = _cuda_index(net)
        state = {
            "fingerprint": self.fingerprint,
            "module": net.module_.state_dict(),
            "criterion": net.criterion_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": json.dumps(history, default=_plain),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": None if cuda is None else torch.cuda.get_rng_state(cuda),
            "shuffle_rng": None if generator is None else generator.get_state(),
            "callbacks": {},
        }
        for name, cb in net.callbacks_:
            saved = _callback_state(cb)
            if saved is not None:
                state["callbacks"][name] = saved
        directory = Path(self.dirname)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{RESUME_FILE}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, directory / RESUME_FILE)  # atomic: a kill never leaves half a file

    def on_train_end(self, net, **kwargs):
        stopper = next((cb for _, cb in net.callbacks_ if isinstance(cb, EarlyStopping)), None)
        stopped = stopper is not None and stopper.misses_ >= stopper.patience
        if len(net.history) >= net.max_epochs or stopped:
            (Path(self.dirname) / RESUME_FILE).unlink(missing_ok=True)
        # else Ctrl-C (KeyboardInterrupt, caught by skorch): keep the file to resume from


def _cuda_index(net) -> int | None:
    """The CUDA device the net trains on (its generator is the one dropout draws from)."""
    device = torch.device("cpu" if net.device is None else net.device)
    if device.type != "cuda":
        return None
    return torch.cuda.current_device() if device.index is None else device.index


def _callback_state(cb) -> dict | None:
    """What a resumed fit restores of a callback, or None: the state of any callback
    with ``state_dict``/``load_state_dict``, of skorch's ``LRScheduler`` (its torch
    scheduler: epoch count, base rates) and of the callbacks that steer training."""
    from tabmtl._training.callbacks import BestWeights

    if _exposes_state(cb):
        return {"state_dict": _plain_values(cb.state_dict())}
    if isinstance(cb, LRScheduler):
        if cb.lr_scheduler_ is None:
            return None
        return {
            "lr_scheduler_": _plain_values(cb.lr_scheduler_.state_dict()),
            "batch_idx_": int(cb.batch_idx_),
        }
    if isinstance(cb, EarlyStopping):
        return {
            "misses_": int(cb.misses_),
            "dynamic_threshold_": float(cb.dynamic_threshold_),
            "best_epoch_": int(cb.best_epoch_),
            "best_model_weights_": cb.best_model_weights_,
        }
    if isinstance(cb, BestWeights):
        return {
            "state_": cb.state_,
            "epoch_": None if cb.epoch_ is None else int(cb.epoch_),
            "best_": float(cb.best_),
            # plain floats and ints: weights_only loading refuses numpy scalars
            "candidate_": None
            if cb.candidate_ is None
            else [float(cb.candidate_[0]), int(cb.candidate_[1]), cb.candidate_[2]],
        }
    return None


def _set_callback_state(cb, saved: dict) -> None:
    if _exposes_state(cb):
        cb.load_state_dict(saved["state_dict"])
        return
    if isinstance(cb, LRScheduler):
        # after the scheduler's on_train_begin, which built it afresh (epoch 0)
        cb.lr_scheduler_.load_state_dict(saved["lr_scheduler_"])
        cb.batch_idx_ = saved["batch_idx_"]
        return
    for name, value in saved.items():
        if name == "candidate_" and value is not None:
            value = tuple(value)
        setattr(cb, name, value)


def _exposes_state(cb) -> bool:
    """Whether a callback offers the ``state_dict()``/``load_state_dict(state)`` pair."""
    return callable(getattr(cb, "state_dict", None)) and callable(
        getattr(cb, "load_state_dict", None)
    )


def _plain_values(value):
    """``value`` with numpy scalars as Python numbers (``weights_only`` loading refuses
    them; schedulers such as ReduceLROnPlateau keep the monitored score as one)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain_values(v) for v in value)
    return value


def _plain(value):
    """JSON fallback for numpy scalars in the history."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"history value of type {type(value).__name__} is not JSON")
