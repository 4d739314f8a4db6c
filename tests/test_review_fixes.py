"""Small defects of issue 24, item 10: each with a test that failed before its fix."""

from __future__ import annotations

import argparse
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_mixed
from skorch.callbacks import Checkpoint, EpochScoring, ProgressBar

from tabmtl import MultiTaskEstimator
from tabmtl._training.distributed import DistributedContext, data_fingerprint
from tabmtl._training.net import seeded_rng
from tabmtl.errors import InputError
from tabmtl.evaluation._efficiency import EfficiencyResult, nested_subsample
from tabmtl.io._streaming import predict_parquet


def test_data_fingerprint_sees_row_order():
    X, Y = make_mixed(50)
    assert data_fingerprint(X, Y) != data_fingerprint(X.iloc[::-1], Y.iloc[::-1])
    swapped = X.copy()
    swapped.iloc[[0, 1]] = X.iloc[[1, 0]].to_numpy()
    assert data_fingerprint(X, None) != data_fingerprint(swapped, None)
    # rows past the first thousand count too
    big = pd.DataFrame({"a": np.arange(3000.0)})
    late = big.copy()
    late.iloc[[2000, 2001]] = big.iloc[[2001, 2000]].to_numpy()
    assert data_fingerprint(big, None) != data_fingerprint(late, None)
    assert data_fingerprint(X, Y) == data_fingerprint(X.copy(), Y.copy())


class _Rank1(DistributedContext):
    def broadcast(self, obj):
        return obj

    def all_gather(self, obj):
        return [obj] * self.world_size


def test_fit_distributed_leaves_checkpoints_and_progress_bars_to_rank_zero(monkeypatch):
    import tabmtl._training.distributed.fit as distributed_fit

    seen = {}
    for rank in (0, 1):
        ctx = _Rank1(rank=rank, world_size=2)
        monkeypatch.setattr(distributed_fit, "init_distributed", lambda ctx=ctx, **kw: ctx)
        monkeypatch.setattr(distributed_fit, "distributed_history", lambda ctx: None)
        monkeypatch.setattr(distributed_fit, "finish_data_parallel", lambda net, ctx: None)

        def fit(self, X, Y=None, rank=rank, **fit_params):
            seen[rank] = [
                (name if isinstance(cb, tuple) else type(cb).__name__)
                for cb in self.callbacks
                for name in ([cb[0]] if isinstance(cb, tuple) else [None])
            ]
            self.net_ = None
            return self

        monkeypatch.setattr(MultiTaskEstimator, "fit", fit)
        X, Y = make_mixed(30)
        est = MultiTaskEstimator(
            callbacks=[
                ("checkpoint", Checkpoint(dirname="ck")),
                ProgressBar(),
                ("bar", ProgressBar()),
                ("score", EpochScoring("r2")),
            ]
        )
        distributed_fit.fit_distributed(est, X, Y)
    assert seen[0] == ["replica_sync", "checkpoint", "ProgressBar", "bar", "score"]
    assert seen[1] == ["replica_sync", "score"]


def test_predict_parquet_refuses_a_kept_column_named_like_a_prediction(tmp_path):
    X, Y = make_mixed(60)
    model = MultiTaskEstimator(max_epochs=1, random_state=0).fit(X, Y)
    path = tmp_path / "in.parquet"
    pd.concat([X, Y], axis=1).to_parquet(path)
    target = str(Y.columns[0])
    with pytest.raises(InputError, match=target):
        predict_parquet(model, path, tmp_path / "out.parquet", keep_columns=[target])
    with pytest.raises(InputError, match="proba"):
        proba = f"{Y.columns[1]}_proba_{model.target_spec_.tasks_[1].classes_[0]}"
        frame = pd.concat([X, Y], axis=1).assign(**{proba: 1.0})
        frame.to_parquet(path)
        predict_parquet(model, path, method="predict_proba", keep_columns=[proba])
    out = predict_parquet(model, path, keep_columns=["km"])
    assert not out.columns.duplicated().any()


def test_seeded_rng_seeds_the_generator_of_a_non_cuda_accelerator():
    mps = torch.mps
    with (
        mock.patch.object(mps, "manual_seed") as seed,
        mock.patch.object(mps, "get_rng_state", return_value=torch.zeros(8, dtype=torch.uint8)),
        mock.patch.object(mps, "set_rng_state") as restore,
        mock.patch.object(mps, "device_count", return_value=1, create=True),
    ):
        with seeded_rng(7, "mps"):
            pass
    seed.assert_called_once_with(7)
    assert restore.called  # and its state is given back afterwards


@pytest.mark.parametrize(
    "fraction, n, expected", [(0.07, 100, 7), (0.29, 100, 29), (0.57, 100, 57), (0.1, 30, 3),
                              (0.001, 100, 1), (0.075, 100, 8)]
)
def test_nested_subsample_counts_rows_exactly(fraction, n, expected):
    assert len(nested_subsample(np.arange(n), [fraction], seed=0)[fraction]) == expected


def _efficiency(gains: list[float]) -> EfficiencyResult:
    summary = pd.DataFrame(
        {"size": [0.5, 1.0], "task": ["eta", "eta"], "metric": ["r2", "r2"],
         "n_train": [10, 20], "mt_mean": [0.5, 0.5], "st_mean": [0.5, 0.5],
         "gain_mean": gains, "gain_std": [0.01, 0.01]}
    )
    # Three folds per size around each mean gain: a tight spread, so a mean of -0.2 is a
    # loss the folds support and a mean of 0.0 is not.
    scores = pd.DataFrame(
        [{"fold": f, "size": size, "task": "eta", "gain": gain + d}
         for size, gain in zip([0.5, 1.0], gains)
         for f, d in enumerate([-0.01, 0.0, 0.01])]
    )
    return EfficiencyResult(scores, summary, "KFold(3)")


@pytest.mark.parametrize("gains, negative", [([0.1, -0.2], ["eta"]), ([0.1, 0.0], [])])
def test_fail_on_negative_counts_with_train_sizes(monkeypatch, gains, negative):
    from tabmtl._cli import evaluate
    from tabmtl._cli.errors import EXIT_NEGATIVE_TRANSFER, EXIT_OK

    result = _efficiency(gains)
    assert result.negative_transfer == negative
    monkeypatch.setattr(evaluate, "run_efficiency", lambda args, command: (result, ["h"]))
    args = argparse.Namespace(train_sizes=[0.5, 1.0], fail_on_negative=True, scores_csv=None)
    expected = EXIT_NEGATIVE_TRANSFER if negative else EXIT_OK
    assert evaluate.run(args) == expected
    args.fail_on_negative = False
    assert evaluate.run(args) == EXIT_OK
