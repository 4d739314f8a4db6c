"""Data-parallel training with sparse labels, a divergence on one process, and tiny
predictions (issue 29, item 2): 2 CPU processes launched by ``torchrun``.

One launch (this file is also the worker script) runs three scenarios; each rank writes
what it saw to JSON and the tests read them. The launch has a hard timeout, so a hang (a
process left waiting for one that stopped) fails instead of stalling.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))  # conftest, when run by torchrun
from conftest import make_mixed
from ddp_launch import leave_process_group, run_two_processes

from tabmtl import MultiTaskEstimator, MultiTaskRegressor
from tabmtl._training.distributed import (
    ReplicaSync,
    fit_distributed,
    init_distributed,
    predict_distributed,
)
from tabmtl._training.net import TrainingDiverged

LAUNCH_TIMEOUT_S = 120


class PoisonRank1(Callback):
    """On rank 1 only, from the second epoch on: one infinite feature value per batch."""

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training and len(net.history) >= 2 and torch.distributed.get_rank() == 1:
            batch[0][0, 0] = float("inf")


def _grads(net) -> list[float]:
    return torch.cat([p.grad.reshape(-1) for _, p in net.get_all_learnable_params()
                      if p.grad is not None]).tolist()


def sparse_gradients(ctx) -> dict:
    """One training step's averaged gradient on a batch split over the processes,
    against the gradient one process computes on the whole batch."""
    X, Y = make_mixed(64, seed=3)
    Y = Y[["eta", "late"]].copy()
    Y.loc[Y.index[3:], "eta"] = np.nan  # eta: 3 labels, all in rank 0's half
    model = MultiTaskEstimator(max_epochs=1, dropout=0.0, random_state=0, batch_size=64,
                               early_stopping=False)
    fit_distributed(model, X, Y)
    net = model.net_
    X_enc = torch.as_tensor(model.preprocessor_.transform(X), dtype=torch.float32)
    y_enc = torch.as_tensor(model.target_spec_.transform(Y), dtype=torch.float32)
    net.module_.train()
    # one process, the whole batch: the reference (no collective on this path)
    net.optimizer_.zero_grad()
    losses, _ = net.criterion_.task_losses(net.module_(X_enc), y_enc)
    net.criterion_.weighting(losses).backward()
    whole = _grads(net)
    # this process's half, as a data-parallel step computes it, then averaged
    half = slice(0, 32) if ctx.rank == 0 else slice(32, 64)
    net.optimizer_.zero_grad()
    net.get_loss(net.module_(X_enc[half]), y_enc[half], training=True).backward()
    ReplicaSync().on_grad_computed(net)
    return {"whole": whole, "parallel": _grads(net)}


def diverging_fit() -> dict:
    X, Y = make_mixed(200, seed=4)
    model = MultiTaskEstimator(max_epochs=6, batch_size=16, random_state=0, early_stopping=False,
                               callbacks=[("poison", PoisonRank1())])
    try:
        fit_distributed(model, X, Y)
    except TrainingDiverged as exc:
        return {"raised": str(exc)}
    return {"raised": None}


def diverging_validation(ctx, out_dir: str) -> dict:
    """A streamed fit whose second validation row group (dealt to rank 1) holds a target
    too large for float32: only rank 1's validation loss is infinite."""
    from tabmtl.io._streaming import fit_parquet

    X, Y = make_mixed(240, seed=6)
    frame = pd.concat([X, Y[["eta"]]], axis=1)
    train = Path(out_dir) / f"train{ctx.rank}.parquet"
    valid = Path(out_dir) / f"valid{ctx.rank}.parquet"
    frame.iloc[:200].to_parquet(train, row_group_size=50)
    held = frame.iloc[200:].copy()
    held.loc[held.index[-1], "eta"] = 1e300
    held.to_parquet(valid, row_group_size=20)  # 2 row groups: one per process
    model = MultiTaskEstimator(max_epochs=3, batch_size=16, random_state=0)
    try:
        fit_parquet(model, train, ["eta"], validation=str(valid), batch_rows=16)
    except TrainingDiverged as exc:
        return {"raised": str(exc)}
    return {"raised": None}


def tiny_predictions(ctx) -> dict:
    X, Y = make_mixed(80, seed=5)
    model = fit_distributed(MultiTaskEstimator(max_epochs=1, random_state=0), X, Y)
    out = {}
    for n in (0, 1, 2, 3):
        pred = predict_distributed(model, X.iloc[:n])
        local = model.predict(X.iloc[:n])
        out[n] = None if pred is None else {
            "index": pred.index.tolist(),
            "equal": bool(np.allclose(pred["eta"], local["eta"], rtol=1e-5)
                          and pred[["late", "band"]].equals(local[["late", "band"]])),
        }
    # the array estimators refuse an empty array: a process with no share must not predict
    A = np.random.default_rng(0).normal(size=(40, 3))
    arrays = fit_distributed(MultiTaskRegressor(max_epochs=1, random_state=0), A, A[:, :2])
    pred = predict_distributed(arrays, A[:1])
    out["array"] = None if pred is None else np.allclose(pred, arrays.predict(A[:1]))
    return out


def worker(out_dir: str) -> None:
    torch.set_num_threads(1)
    ctx = init_distributed(timeout_s=60)
    result = {"rank": ctx.rank}
    result["sparse"] = sparse_gradients(ctx)
    result["tiny"] = tiny_predictions(ctx)
    result["diverged"] = diverging_fit()
    result["diverged_valid"] = diverging_validation(ctx, out_dir)
    with open(Path(out_dir) / f"rank{ctx.rank}.json", "w") as f:
        json.dump(result, f)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("sparse")
    run_two_processes(__file__, str(out), timeout_s=LAUNCH_TIMEOUT_S)
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_a_sparse_task_weighs_the_same_over_two_processes_as_in_one(ranks):
    for r in ranks:
        np.testing.assert_allclose(r["sparse"]["parallel"], r["sparse"]["whole"],
                                   rtol=1e-4, atol=1e-6)


def test_a_divergence_on_one_process_stops_every_process_with_the_reason(ranks):
    for r in ranks:
        message = r["diverged"]["raised"]
        assert message is not None, f"rank {r['rank']} went on"
        assert "process(es) [1]" in message and "diverged" in message


def test_a_validation_divergence_on_one_process_stops_every_process(ranks):
    for r in ranks:
        message = r["diverged_valid"]["raised"]
        assert message is not None, f"rank {r['rank']} went on"
        assert "process(es) [1]" in message and "valid loss" in message


def test_predict_distributed_returns_every_row_once_with_fewer_rows_than_processes(ranks):
    rank0, rank1 = ranks
    for n in ("0", "1", "2", "3"):
        assert rank1["tiny"][n] is None
        assert rank0["tiny"][n]["index"] == list(range(int(n)))
        assert rank0["tiny"][n]["equal"]
    assert rank1["tiny"]["array"] is None and rank0["tiny"]["array"] is True


if __name__ == "__main__":
    worker(sys.argv[1])
    leave_process_group()
