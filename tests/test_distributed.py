"""Data-parallel training: 2 CPU processes (gloo on 127.0.0.1) launched by ``torchrun``.

One ``torchrun --nproc_per_node 2`` run (this file is also the worker script) fits an
in-memory model with ``fit_distributed`` and a streamed one with ``fit_parquet``; each rank
writes what it saw to JSON, and the tests compare the ranks. The launch has a hard timeout,
so a hang (the classic failure of uneven per-rank batch counts) fails fast instead of
stalling CI. The sharding rules themselves are also tested in-process, with explicit ranks.
"""

from __future__ import annotations

import json
import os
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

from tabmtl import MultiTaskEstimator
from tabmtl._training.distributed import (
    DistributedContext,
    DistributedSliceIterator,
    data_fingerprint,
    fit_distributed,
    init_distributed,
    local_device,
    parameter_digest,
    predict_distributed,
    process_rank,
)
from tabmtl._training.iterators import SliceIterator, TensorDataset
from tabmtl.io._streaming import fit_parquet

LAUNCH_TIMEOUT_S = 150
TARGETS = ["eta", "late", "band"]
N_ROWS = 402  # 361 training rows (ValidSplit holds out ceil(10%)): uneven over 2 processes
# batch_size is per process, so 2 processes x 16 see the batches one process of 32 sees
IN_MEMORY = dict(
    max_epochs=8, lr=1e-2, early_stopping=True, patience=4, weighting="uncertainty",
    random_state=0,
)
STREAMED = dict(max_epochs=3, batch_size=32, lr=1e-2, early_stopping=True, random_state=0)


class StepDigests(Callback):
    """Digest of every parameter after each training step (to compare the replicas)."""

    def initialize(self):
        self.digests_ = []
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.digests_.append(parameter_digest(net))


class RowGroupLog(Callback):
    """Which row groups this process read, and how many training batches it ran, per epoch."""

    def initialize(self):
        self.epochs_ = []
        return self

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.epochs_.append(
            {
                "train": sorted({g.index for g in dataset_train.row_groups_read_}),
                "valid": sorted({g.index for g in dataset_valid.row_groups_read_}),
                "train_batches": net.history[-1, "train_batch_count"],
                "valid_batches": net.history[-1, "valid_batch_count"],
            }
        )


def write_parquet(path: Path) -> None:
    """790 rows in 16 row groups (the last one short, so the shares are uneven)."""
    X, Y = make_mixed(790, seed=1)
    pd.concat([X, Y], axis=1).to_parquet(path, row_group_size=50)


def worker(out_dir: str, parquet_path: str) -> None:
    """What each torchrun process runs."""
    torch.set_num_threads(1)
    ctx = init_distributed(timeout_s=60)
    X, Y = make_mixed(N_ROWS)
    model = MultiTaskEstimator(
        batch_size=16, callbacks=[("digests", StepDigests())], **IN_MEMORY
    )
    fit_distributed(model, X, Y)
    pred = predict_distributed(model, X)
    history = model.history_
    result = {
        "rank": ctx.rank,
        "world_size": ctx.world_size,
        "env_world_size": int(os.environ["WORLD_SIZE"]),
        "digests": dict(model.net_.callbacks_)["digests"].digests_,
        "final_digest": parameter_digest(model.net_),
        "n_epochs": model.n_epochs_,
        "valid_loss": [row["valid_loss"] for row in history],
        "train_batch_count": [row["train_batch_count"] for row in history],
        "log_var": model.net_.criterion_.weighting.log_var.tolist(),
        "pred_is_none": pred is None,
        "scores": model.score_tasks(X, Y).to_dict(),
    }
    if pred is not None:
        pred.to_parquet(Path(out_dir) / "pred.parquet")
        # the same shares predicted here: bit-equal (the whole X at once differs in the
        # last float bits, as any change of batch composition does)
        half = N_ROWS // 2
        local = pd.concat([model.predict(X.iloc[:half]), model.predict(X.iloc[half:])])
        result["pred_matches_local"] = bool(local.equals(pred))
        whole = model.predict(X)
        result["pred_close_to_whole"] = bool(
            np.allclose(whole["eta"], pred["eta"], rtol=1e-5)
            and whole[["late", "band"]].equals(pred[["late", "band"]])
        )

    streamed = MultiTaskEstimator(
        callbacks=[("digests", StepDigests()), ("groups", RowGroupLog())], **STREAMED
    )
    fit_parquet(streamed, parquet_path, TARGETS, batch_rows=32, shuffle_buffer_batches=2)
    callbacks = dict(streamed.net_.callbacks_)
    result["stream"] = {
        "digests": callbacks["digests"].digests_,
        "epochs": callbacks["groups"].epochs_,
        "n_epochs": streamed.n_epochs_,
        "valid_loss": [row["valid_loss"] for row in streamed.history_],
    }
    with open(Path(out_dir) / f"rank{ctx.rank}.json", "w") as f:
        json.dump(result, f)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    parquet_path = out / "data.parquet"
    write_parquet(parquet_path)
    run_two_processes(__file__, str(out), str(parquet_path), timeout_s=LAUNCH_TIMEOUT_S)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    return ranks, out


def test_two_processes_really_ran(ddp_run):
    ranks, _ = ddp_run
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 and r["env_world_size"] == 2 for r in ranks)


def test_parameters_identical_on_every_rank_after_every_step(ddp_run):
    ranks, _ = ddp_run
    a, b = ranks
    assert len(a["digests"]) == len(b["digests"]) > 10
    assert a["digests"] == b["digests"]
    assert len(set(a["digests"])) == len(a["digests"])  # and they did change every step
    assert a["final_digest"] == b["final_digest"]
    # the criterion's learnable log-variances are synchronised too, and moved
    assert a["log_var"] == b["log_var"] and any(v != 0.0 for v in a["log_var"])


def test_equal_batch_counts_and_shared_early_stopping(ddp_run):
    ranks, _ = ddp_run
    a, b = ranks
    n_train = N_ROWS - int(np.ceil(0.1 * N_ROWS))  # skorch's ValidSplit(0.1)
    assert n_train % 2 == 1
    per_rank = -(-n_train // 2)  # padded, DistributedSampler-style
    assert a["train_batch_count"] == b["train_batch_count"]
    assert set(a["train_batch_count"]) == {-(-per_rank // 16)}
    # the history is global (DistributedHistory): both stop at the same epoch
    assert a["n_epochs"] == b["n_epochs"]
    assert a["valid_loss"] == b["valid_loss"]


def test_predictions_gathered_once_on_rank_zero(ddp_run):
    ranks, out = ddp_run
    assert ranks[1]["pred_is_none"] and not ranks[0]["pred_is_none"]
    assert ranks[0]["pred_matches_local"] and ranks[0]["pred_close_to_whole"]
    pred = pd.read_parquet(out / "pred.parquet")
    assert len(pred) == N_ROWS and list(pred.columns) == TARGETS


def test_distributed_scores_match_a_single_process_fit(ddp_run):
    ranks, _ = ddp_run
    X, Y = make_mixed(N_ROWS)
    single = MultiTaskEstimator(batch_size=32, **IN_MEMORY).fit(X, Y)
    expected = single.score_tasks(X, Y)
    got = pd.Series(ranks[0]["scores"])
    assert (got > 0.9).all(), got
    # not bit-equal (different row order, padding, float summation), but as good
    np.testing.assert_allclose(got[expected.index], expected, atol=0.05)


def test_streamed_row_groups_dealt_without_loss_or_overlap(ddp_run):
    ranks, _ = ddp_run
    a, b = (r["stream"] for r in ranks)
    assert a["digests"] == b["digests"] and len(a["digests"]) > 5
    assert a["n_epochs"] == b["n_epochs"] == len(a["epochs"])
    assert a["valid_loss"] == b["valid_loss"]
    all_train = None
    for ea, eb in zip(a["epochs"], b["epochs"]):
        assert ea["train_batches"] == eb["train_batches"]
        assert ea["valid_batches"] == eb["valid_batches"]
        assert not set(ea["train"]) & set(eb["train"])  # disjoint shares ...
        union = set(ea["train"]) | set(eb["train"])
        all_train = union if all_train is None else all_train
        assert union == all_train  # ... covering every training row group each epoch
        assert not set(ea["valid"]) & set(eb["valid"])
        assert not union & (set(ea["valid"]) | set(eb["valid"]))
    assert len(all_train) == 16 - 2  # 10% of 16 row groups held out (2)


# -- the sharding rules, in one process ---------------------------------------------------


def _rows(iterator) -> list[list[float]]:
    return [xb[:, 0].tolist() for xb, _ in iterator]


@pytest.mark.parametrize("n", [1, 7, 10, 33])
def test_training_shares_are_equal_disjoint_and_complete(n):
    data = TensorDataset(torch.arange(float(n))[:, None], torch.zeros(n, 1))
    world = 3
    shares = [
        DistributedSliceIterator(data, 4, shuffle=True, seed=5, rank=r, world_size=world)
        for r in range(world)
    ]
    batches = [_rows(it) for it in shares]
    assert len({len(b) for b in batches}) == 1  # same batch count on every rank
    assert len(batches[0]) == len(shares[0])
    rows = [v for b in batches for batch in b for v in batch]
    assert len(rows) == -(-n // world) * world  # padded to equal shares
    assert set(rows) == set(range(n))  # every row, once plus at most world-1 repeats
    assert len(rows) - len(set(rows)) <= world - 1


def test_validation_shares_pad_with_empty_batches():
    data = TensorDataset(torch.arange(5.0)[:, None], torch.zeros(5, 1))
    shares = [_rows(DistributedSliceIterator(data, 2, rank=r, world_size=2)) for r in (0, 1)]
    assert shares == [[[0.0, 1.0], [2.0]], [[3.0, 4.0], []]]


def test_single_process_is_a_plain_slice_iterator():
    data = TensorDataset(torch.arange(9.0)[:, None], torch.zeros(9, 1))
    ours = _rows(DistributedSliceIterator(data, 4, shuffle=True, seed=1))
    plain = _rows(SliceIterator(data, 4, shuffle=True, seed=1))
    assert ours == plain


def test_single_process_rank_and_data_fingerprint():
    assert process_rank() == (0, 1)
    X, Y = make_mixed(120)
    assert data_fingerprint(X, Y) == data_fingerprint(X.copy(), Y.copy())
    assert data_fingerprint(X, Y) != data_fingerprint(X.assign(km=X.km + 1), Y)
    assert data_fingerprint(X, Y) != data_fingerprint(X.iloc[1:], Y)
    assert data_fingerprint(X[["km", "hour"]].to_numpy(), None)[1] is None


def test_fit_distributed_without_torchrun_is_fit():
    X, Y = make_mixed(120)
    params = dict(max_epochs=2, random_state=0)
    ours = fit_distributed(MultiTaskEstimator(**params), X, Y)
    plain = MultiTaskEstimator(**params).fit(X, Y)
    assert parameter_digest(ours.net_) == parameter_digest(plain.net_)
    assert predict_distributed(ours, X).equals(plain.predict(X))


class _TwoProcesses(DistributedContext):
    """Rank 1 of 2 on its node's second GPU, without a process group (for mocked fits)."""

    def broadcast(self, obj):
        return obj

    def all_gather(self, obj):
        return [obj] * self.world_size


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3", torch.device("cuda", 0)])
def test_every_process_trains_on_its_local_gpu_whatever_cuda_device_is_named(
    monkeypatch, device
):
    # issue 15, item 3: only the exact string "cuda" used to become cuda:LOCAL_RANK
    import tabmtl._training.distributed.fit as distributed_fit

    ctx = _TwoProcesses(rank=1, world_size=2, local_rank=1, backend="nccl")
    monkeypatch.setattr(distributed_fit, "init_distributed", lambda **kwargs: ctx)
    monkeypatch.setattr(distributed_fit, "distributed_history", lambda ctx: None)
    monkeypatch.setattr(distributed_fit, "finish_data_parallel", lambda net, ctx: None)
    devices = []

    def fit(self, X, Y=None, **fit_params):
        devices.append(self.device)
        self.net_ = None
        return self

    monkeypatch.setattr(MultiTaskEstimator, "fit", fit)
    X, Y = make_mixed(40)
    est = MultiTaskEstimator(device=device)
    fit_distributed(est, X, Y)
    assert devices == ["cuda:1"]
    assert est.device == device  # the estimator's parameter is left as the user set it
    assert local_device("cpu", ctx) == "cpu"
    assert local_device("cuda:0", DistributedContext()) == "cuda:0"  # a single process


def test_predict_distributed_never_starts_a_process_group(monkeypatch):
    # issue 15, item 7: under torchrun's environment, predicting used to join a group
    X, Y = make_mixed(60)
    model = MultiTaskEstimator(max_epochs=1, random_state=0).fit(X, Y)
    for name, value in dict(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0").items():
        monkeypatch.setenv(name, value)

    def refuse(*args, **kwargs):
        raise AssertionError("predict_distributed started a process group")

    monkeypatch.setattr(torch.distributed, "rendezvous", refuse)
    monkeypatch.setattr(torch.distributed, "init_process_group", refuse)
    assert predict_distributed(model, X).equals(model.predict(X))
    assert not torch.distributed.is_initialized()


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2])
    leave_process_group()
