"""``fit_distributed`` and ``predict_distributed``: in-memory fits over ``torchrun`` processes."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch.distributed as dist

from tabmtl._training.distributed.context import (
    current_context,
    distributed_history,
    init_distributed,
    local_device,
)
from tabmtl._training.distributed.fingerprint import data_fingerprint
from tabmtl._training.distributed.replicas import (
    ReplicaSync,
    finish_data_parallel,
    main_process_callbacks,
)
from tabmtl._training.distributed.sharding import DistributedSliceIterator
from tabmtl.errors import InputError

__all__ = ["fit_distributed", "predict_distributed"]


@contextmanager
def _temporary_params(estimator, params: dict):
    old = {k: getattr(estimator, k) for k in params}
    estimator.set_params(**params)
    try:
        yield
    finally:
        estimator.set_params(**old)


def fit_distributed(estimator, X, Y=None, *, timeout_s: float = 1800.0, **fit_params):
    """``estimator.fit(X, Y)`` as one data-parallel fit over the ``torchrun`` processes.

    Every process calls it with the same ``X`` and ``Y`` (checked); each trains on its
    share of the rows per epoch with gradients averaged after every step, so all of them
    end with the same fitted estimator. In a single process (no ``torchrun``) it is
    ``estimator.fit(X, Y)``.

    Parameters
    ----------
    estimator : MultiTaskEstimator, MultiTaskRegressor or MultiTaskClassifier
        Fitted in place. ``batch_size`` is per process. ``random_state=None`` draws one
        seed on rank 0 for everyone. ``checkpoint_dir`` is not supported (the processes
        would race on the files and could resume from different epochs). Checkpoint
        and progress-bar callbacks (skorch's ``Checkpoint``, ``TrainEndCheckpoint``,
        ``ProgressBar``, or named ``"checkpoint"``/``"progress_bar"``) run on rank 0 only.
    X, Y
        As for ``estimator.fit``.
    timeout_s : float, default=1800
        Passed to ``init_distributed`` when this call starts the process group.
    **fit_params
        Passed to ``estimator.fit`` (e.g. ``sample_weight``).

    Returns
    -------
    estimator

    Examples
    --------
    In a script launched by ``torchrun --nproc_per_node 2 train.py``::

        model = fit_distributed(MultiTaskEstimator(early_stopping=True), X, Y)
    """
    ctx = init_distributed(device=estimator.device, timeout_s=timeout_s)
    if ctx.world_size == 1:
        return estimator.fit(X, Y, **fit_params)
    if estimator.checkpoint_dir is not None:
        raise InputError(
            "fit_distributed does not support checkpoint_dir; add a skorch Checkpoint "
            "to `callbacks` instead (only rank 0 runs it), or train in one process."
        )
    prints = ctx.all_gather(data_fingerprint(X, Y))
    if any(p != prints[0] for p in prints):
        raise InputError(
            "fit_distributed needs the same X and Y on every process (each process takes "
            f"its share itself); the processes passed different data: {prints!r}."
        )
    params = {
        "random_state": ctx.broadcast(estimator._begin_fit()),
        # checkpoints and progress bars on rank 0 only
        "callbacks": main_process_callbacks(
            [("replica_sync", ReplicaSync()), *(estimator.callbacks or [])], ctx
        ),
        "net_kwargs": {
            **(estimator.net_kwargs or {}),
            "history": distributed_history(ctx),
            # validation is not sharded: the validation iterator also serves predict
            # (calibration predicts inside fit), and DistributedHistory averages the
            # identical per-process validation losses into the same number anyway
            "iterator_train": DistributedSliceIterator,
        },
    }
    if not ctx.is_main:
        params["verbose"] = 0
    params["device"] = local_device(estimator.device, ctx)
    with _temporary_params(estimator, params):
        estimator.fit(X, Y, **fit_params)
    finish_data_parallel(estimator.net_, ctx)
    return estimator


def predict_distributed(estimator, X, method: str = "predict"):
    """``estimator.<method>(X)`` split over the processes and gathered once, on rank 0.

    Each process predicts a contiguous share of the rows; one ``gather`` brings the
    shares to rank 0 (with fewer rows than processes, rank 0 predicts them all and
    nothing is gathered), which returns the whole result in the order of ``X`` (the same
    type as ``estimator.<method>`` returns). Other ranks return None. In a single
    process, or without a process group already initialised (by :func:`fit_distributed`
    or the caller), it is ``estimator.<method>(X)``: predicting never starts a group.

    Examples
    --------
    After ``fit_distributed``, in every process::

        pred = predict_distributed(model, X)            # rank 0: a DataFrame; others: None
        proba = predict_distributed(model, X, method="predict_proba")
    """
    ctx = current_context()
    predict = getattr(estimator, method)
    if ctx.world_size == 1:
        return predict(X)
    if len(X) < ctx.world_size:  # some share would be empty: rank 0 predicts every row
        return predict(X) if ctx.is_main else None
    bounds = np.linspace(0, len(X), ctx.world_size + 1).round().astype(int)
    lo, hi = int(bounds[ctx.rank]), int(bounds[ctx.rank + 1])
    share = X.iloc[lo:hi] if isinstance(X, (pd.DataFrame, pd.Series)) else X[lo:hi]
    part = predict(share)
    gathered = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(part, gathered, dst=0)
    return _concat(gathered) if ctx.is_main else None


def _concat(parts: list):
    first = parts[0]
    if isinstance(first, (pd.DataFrame, pd.Series)):
        return pd.concat(parts)
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, list):
        return [_concat([p[i] for p in parts]) for i in range(len(first))]
    return np.concatenate(parts)
