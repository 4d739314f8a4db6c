"""Out-of-core training from parquet: sampling, shuffling, validation, prediction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_mixed
from skorch.callbacks import Callback

from tabmtl import MultiTaskEstimator
from tabmtl._data.features import FeaturePreprocessor
from tabmtl._data.targets import TargetSpec
from tabmtl.errors import InputError
from tabmtl.io._parquet import parquet_dataset
from tabmtl.io._prefetch import Prefetch
from tabmtl.io._streaming import (
    ParquetBatchIterator,
    ParquetSource,
    ParquetStream,
    deal_row_groups,
    fit_parquet,
    predict_parquet,
    reservoir_sample,
)

TARGETS = ["eta", "late", "band"]
FEATURES = ["km", "hour", "zone", "rain"]
# lr 3e-3 over 10 epochs: lr 1e-2 over 6 left one seed of the batched bodies at band 0.89
FAST = dict(max_epochs=10, batch_size=32, lr=3e-3, random_state=0)


def _table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    X, Y = make_mixed(n, seed=seed)
    return pd.concat([X, Y], axis=1)


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "trips.parquet"
    _table().to_parquet(path, row_group_size=50)
    return path


@pytest.fixture(scope="module")
def streamed(data_path):
    model = fit_parquet(MultiTaskEstimator(**FAST), data_path, TARGETS, batch_rows=64)
    return model


def test_source_lists_row_groups_of_a_file_folder_glob_and_list(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    df = _table(300)
    df.iloc[:200].to_parquet(folder / "a.parquet", row_group_size=100)
    df.iloc[200:].to_parquet(folder / "b.parquet", row_group_size=100)
    for source in (folder, str(folder / "*.parquet"), [folder / "a.parquet", folder / "b.parquet"]):
        src = ParquetSource(source)
        assert src.num_rows == 300
        assert [(g.file, g.index, g.num_rows) for g in src.row_groups] == [
            (0, 0, 100), (0, 1, 100), (1, 0, 100)
        ]
        assert src.column_names == list(df.columns)
    with pytest.raises(FileNotFoundError):
        ParquetSource(str(tmp_path / "nothing-*.parquet"))


def test_reservoir_sample_is_uniform_reproducible_and_bounded(tmp_path):
    path = tmp_path / "sorted.parquet"
    pd.DataFrame({"x": np.arange(20_000, dtype=float)}).to_parquet(path, row_group_size=1000)
    src = ParquetSource(path)
    sample = reservoir_sample(src, ["x"], 2000, seed=3, batch_rows=500)["x"].to_numpy()
    assert len(sample) == len(np.unique(sample)) == 2000
    # uniform over a sorted file: every tenth of it holds about a tenth of the sample
    per_decile = np.bincount((sample // 2000).astype(int), minlength=10)
    assert per_decile.min() > 150 and per_decile.max() < 250
    again = reservoir_sample(src, ["x"], 2000, seed=3, batch_rows=500)["x"].to_numpy()
    other = reservoir_sample(src, ["x"], 2000, seed=4, batch_rows=500)["x"].to_numpy()
    assert np.array_equal(sample, again) and not np.array_equal(np.sort(sample), np.sort(other))
    everything = reservoir_sample(src, ["x"], 50_000, seed=0)["x"].to_numpy()
    assert np.array_equal(np.sort(everything), np.arange(20_000.0))


def test_full_sample_fits_the_same_preprocessing_as_in_memory(data_path):
    # no validation: the sample covers every row (held-out row groups are not sampled)
    streamed = fit_parquet(
        MultiTaskEstimator(**{**FAST, "max_epochs": 1, "early_stopping": False}), data_path,
        TARGETS, batch_rows=64,
    )
    X, Y = make_mixed(600)
    pre = FeaturePreprocessor().fit(X)
    np.testing.assert_allclose(
        streamed.preprocessor_.transform(X), pre.transform(X), rtol=1e-6, atol=1e-6
    )
    spec = TargetSpec().fit(Y)
    assert streamed.target_spec_.kinds_ == spec.kinds_
    np.testing.assert_array_equal(streamed.target_spec_.transform(Y), spec.transform(Y))
    assert list(streamed.feature_names_in_) == FEATURES and streamed.n_features_in_ == 4


def test_streamed_fit_learns_like_the_in_memory_fit(streamed):
    X, Y = make_mixed(600)
    in_memory = MultiTaskEstimator(**FAST).fit(X, Y)
    scores = streamed.score_tasks(X, Y)
    assert (scores > 0.9).all(), scores
    np.testing.assert_allclose(scores, in_memory.score_tasks(X, Y), atol=0.05)
    assert streamed.n_epochs_ == FAST["max_epochs"]
    # an ordinary fitted estimator afterwards: in-memory predict and history
    assert streamed.predict(X.head(3)).dtypes.to_dict() == Y.dtypes.to_dict()
    assert "train_loss_eta" in streamed.history_[-1]


def test_predict_parquet_writes_batches_in_order(streamed, data_path, tmp_path):
    out = predict_parquet(
        streamed, data_path, tmp_path / "pred.parquet", keep_columns=["hour"], batch_rows=128
    )
    written = pd.read_parquet(out)
    X, _ = make_mixed(600)
    expected = streamed.predict(X)
    assert list(written.columns) == ["hour", *TARGETS]
    assert written["hour"].tolist() == X["hour"].tolist()
    pd.testing.assert_frame_equal(written[TARGETS], expected.reset_index(drop=True))
    proba = predict_parquet(streamed, data_path, method="predict_proba")
    # issue 15, item 8: the names `tabmtl predict --proba` writes (was "late=False", ...)
    assert list(proba.columns) == [
        "late_proba_False", "late_proba_True", "band_proba_short", "band_proba_mid",
        "band_proba_long",
    ]
    np.testing.assert_allclose(proba.iloc[:, 2:].sum(axis=1), 1.0, rtol=1e-6)


class _RowGroupLog(Callback):
    def initialize(self):
        self.train_, self.valid_ = [], []
        return self

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.train_.append([g.index for g in dataset_train.row_groups_read_])
        self.valid_.append([g.index for g in dataset_valid.row_groups_read_])


def test_early_stopping_holds_out_row_groups(data_path):
    model = MultiTaskEstimator(
        early_stopping=True, patience=2, callbacks=[("log", _RowGroupLog())],
        **{**FAST, "max_epochs": 4},
    )
    fit_parquet(model, data_path, TARGETS, batch_rows=64)
    log = dict(model.net_.callbacks_)["log"]
    held_out = set(log.valid_[0])
    assert len(held_out) == 1  # 10% of 12 row groups
    for train, valid in zip(log.train_, log.valid_):
        assert set(valid) == held_out
        assert sorted(train) == sorted(set(range(12)) - held_out)  # each once per epoch
    assert log.train_[0] != log.train_[1]  # a new row-group order every epoch
    assert np.isfinite(model.history_[-1]["valid_loss"])


def test_validation_from_a_separate_file(data_path, tmp_path):
    valid_path = tmp_path / "valid.parquet"
    _table(200, seed=5).to_parquet(valid_path)
    model = fit_parquet(
        MultiTaskEstimator(**{**FAST, "max_epochs": 2}), data_path, TARGETS,
        validation=valid_path, batch_rows=64,
    )
    assert all(np.isfinite(row["valid_loss"]) for row in model.history_)
    assert sum(b["valid_batch_size"] for b in model.history_[-1]["batches"]
               if "valid_batch_size" in b) == 200


def _stream(path, **kwargs) -> ParquetStream:
    src = ParquetSource(path)
    sample = reservoir_sample(src, ["x", "y"], 10_000).to_pandas()
    pre = FeaturePreprocessor().fit(sample[["x"]])
    spec = TargetSpec().fit(sample[["y"]])
    return ParquetStream(src, src.row_groups, ["x"], ["y"], pre, spec, **kwargs)


def test_shuffle_buffer_mixes_a_sorted_file(tmp_path):
    path = tmp_path / "sorted.parquet"
    n = 4000
    pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n, dtype=float)}).to_parquet(
        path, row_group_size=250
    )
    stream = _stream(path, batch_rows=100, shuffle_buffer_batches=8)
    z = (np.arange(n) - np.arange(n).mean()) / np.arange(n).std()  # x as the net sees it

    def batch_spreads(iterator):
        rows, spreads = [], []
        for xb, _ in iterator:
            rows += xb[:, 0].tolist()
            spreads.append(float(xb[:, 0].std()))
        return np.array(rows), np.median(spreads)

    shuffled = ParquetBatchIterator(stream, batch_size=64, shuffle=True, seed=0)
    rows, spread = batch_spreads(shuffled)
    np.testing.assert_allclose(np.sort(rows), z, atol=1e-5)  # every row once per epoch
    rows2, _ = batch_spreads(shuffled)
    assert not np.array_equal(rows, rows2)  # a new order every epoch
    _, in_order_spread = batch_spreads(ParquetBatchIterator(stream, batch_size=64))
    # in order, a batch spans 64 consecutive rows; shuffled, rows of the whole buffer
    assert in_order_spread < 0.03 and spread > 0.3


@pytest.mark.parametrize("world", [2, 3])
def test_row_groups_dealt_to_processes_give_equal_batch_counts(tmp_path, world):
    path = tmp_path / "uneven.parquet"
    sizes = [90, 40, 130, 70, 10, 60, 100]
    x = np.arange(sum(sizes), dtype=float)
    frame = pd.DataFrame({"x": x, "y": x})
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(path, table.schema) as writer:
        start = 0
        for size in sizes:
            writer.write_table(table.slice(start, size))
            start += size
    stream = _stream(path, batch_rows=32, shuffle_buffer_batches=2, prefetch=0)
    for shuffle in (True, False):
        counts, groups, rows = [], [], []
        for rank in range(world):
            it = ParquetBatchIterator(
                stream, batch_size=16, shuffle=shuffle, seed=1, rank=rank, world_size=world
            )
            batches = [len(xb) for xb, _ in it]
            counts.append(len(batches))
            groups.append({g.index for g in stream.row_groups_read_})
            rows.append(sum(batches))
            if shuffle:  # the share once (its last batch may be short), then full padding
                share = -(-sum(g.num_rows for g in stream.row_groups_read_) // 16)
                assert set(batches[: share - 1] + batches[share:]) <= {16}
        assert len(set(counts)) == 1
        assert set().union(*groups) == set(range(len(sizes)))
        assert sum(len(g) for g in groups) == len(sizes)  # disjoint
        if not shuffle:
            assert sum(rows) == len(x)  # validation: every row once, empty batches pad
    # greedy by rows: 90 | 40, 130 | 70, 10 -> ties go to rank 0 | ...
    assert deal_row_groups(stream.row_groups, range(len(sizes)), 2) == [[0, 3, 4, 5], [1, 2, 6]]


def test_unseen_categories_and_labels_from_a_small_sample(tmp_path):
    df = _table(1000)
    df["zone"] = df["zone"].astype(str)
    df["band"] = df["band"].astype(str)
    df.loc[999, "zone"] = "harbour"  # one row in 1000: the 50-row sample misses it
    df.loc[999, "band"] = "ultra"
    path = tmp_path / "rare.parquet"
    df.to_parquet(path, row_group_size=250)
    with pytest.warns(UserWarning, match="ultra|absent from the sample"):
        model = fit_parquet(
            MultiTaskEstimator(**{**FAST, "max_epochs": 1}), path, TARGETS, sample_rows=50,
            batch_rows=128,
        )
    assert "harbour" not in list(model.preprocessor_.categories_["zone"])
    assert "ultra" not in list(model.target_spec_.tasks_[2].classes_)
    codes = model.preprocessor_.transform(df[FEATURES].tail(1))
    assert codes[0, -2] == 0.0  # zone -> the unknown code
    assert model.predict(df[FEATURES].tail(1)).shape == (1, 3)


def test_dictionary_columns_with_different_dictionaries_per_file(tmp_path):
    df = _table(400)
    first, second = df.iloc[:200].copy(), df.iloc[200:].copy()
    # the same labels, categories listed in another order (and one unused) in file b
    second["zone"] = second["zone"].cat.set_categories(["west", "south", "north", "east"])
    second["band"] = second["band"].cat.reorder_categories(["long", "mid", "short"])
    first.to_parquet(tmp_path / "a.parquet", row_group_size=100)
    second.to_parquet(tmp_path / "b.parquet", row_group_size=100)
    model = fit_parquet(
        MultiTaskEstimator(**FAST), str(tmp_path / "*.parquet"), TARGETS, batch_rows=64
    )
    X, Y = make_mixed(400)
    assert (model.score_tasks(X, Y) > 0.85).all()
    assert list(model.target_spec_.tasks_[2].classes_) == ["short", "mid", "long"]


def test_unsupported_and_invalid_inputs_are_named(data_path, tmp_path):
    with pytest.raises(ValueError, match="class_weight"):
        fit_parquet(MultiTaskEstimator(class_weight="balanced"), data_path, TARGETS)
    with pytest.raises(ValueError, match="not in the parquet"):
        fit_parquet(MultiTaskEstimator(), data_path, ["eta", "nope"])
    with pytest.raises(ValueError, match="both features and targets"):
        fit_parquet(MultiTaskEstimator(), data_path, TARGETS, features=["km", "eta"])
    one_group = tmp_path / "one.parquet"
    _table(100).to_parquet(one_group)
    with pytest.raises(ValueError, match="at least 2 row groups"):
        fit_parquet(MultiTaskEstimator(early_stopping=True), one_group, TARGETS)
    with pytest.raises(TypeError, match="MultiTaskEstimator"):
        from tabmtl import MultiTaskRegressor

        fit_parquet(MultiTaskRegressor(), data_path, ["eta"])


def test_checkpoint_dir_and_integer_validation_are_refused_by_name(data_path, tmp_path):
    # issue 15, item 4: checkpoint_dir was silently ignored (resume.pt written, never read);
    # validation=0 or 1 fell into the "separate source" branch and failed obscurely
    folder = tmp_path / "checkpoints"
    with pytest.raises(InputError, match="does not support checkpoint_dir"):
        fit_parquet(MultiTaskEstimator(**FAST, checkpoint_dir=str(folder)), data_path, TARGETS)
    assert not folder.exists()
    for validation in (0, 1, np.int64(1), True):
        with pytest.raises(InputError, match=r"validation must be a fraction .* in \(0, 1\)"):
            fit_parquet(MultiTaskEstimator(**FAST), data_path, TARGETS, validation=validation)


def test_parquet_dataset_resolves_what_the_source_names(data_path, tmp_path):
    assert parquet_dataset(data_path).count_rows() == 600
    assert parquet_dataset(str(data_path.parent / "*.parquet")).count_rows() == 600
    with pytest.raises(FileNotFoundError, match="No such parquet"):
        parquet_dataset(tmp_path / "missing.parquet")


def test_prefetch_reads_ahead_and_raises_the_readers_error_in_the_consumer():
    def failing():
        yield 1
        raise OSError("disk gone")

    ahead = Prefetch(failing(), depth=2)
    try:
        with pytest.raises(OSError, match="disk gone"):
            list(ahead)
    finally:
        ahead.close()
    endless = Prefetch(iter(range(10**9)), depth=2)
    assert next(iter(endless)) == 0
    endless.close()  # stops the thread early, without draining the iterator


def test_stream_is_a_torch_dataset_with_a_length(data_path):
    stream = _stream_from(data_path)
    assert len(stream) == 600
    X, y = next(iter(stream))
    assert isinstance(X, torch.Tensor) and X.dtype == torch.float32 and len(X) == len(y)


def _stream_from(path) -> ParquetStream:
    src = ParquetSource(path)
    sample = reservoir_sample(src, FEATURES + TARGETS, 1000).to_pandas()
    return ParquetStream(
        src, src.row_groups, FEATURES, TARGETS,
        FeaturePreprocessor().fit(sample[FEATURES]), TargetSpec().fit(sample[TARGETS]),
    )


def test_statistics_are_fitted_on_training_row_groups_only(tmp_path):
    # issue 24, item 6: the sample behind the target scaling, the preprocessor and the
    # embedding bins used to include the held-out validation row groups
    rng = np.random.default_rng(0)
    n_groups, size = 5, 40
    group = np.repeat(np.arange(n_groups), size)
    frame = pd.DataFrame(
        {
            "km": group * 100.0 + rng.normal(size=len(group)),
            "zone": [f"g{g}" for g in group],  # one category per row group
            "eta": group * 1000.0 + rng.normal(size=len(group)),
        }
    )
    path = tmp_path / "groups.parquet"
    frame.to_parquet(path, row_group_size=size)
    model = MultiTaskEstimator(max_epochs=1, batch_size=32, random_state=0)
    fit_parquet(model, path, ["eta"], validation=0.4, batch_rows=32)
    seen = set(model.preprocessor_.categories_["zone"])
    assert len(seen) == 3  # 2 of the 5 row groups held out
    train = frame[frame["zone"].isin(seen)]
    assert model.target_spec_.tasks_[0].mean_ == pytest.approx(train["eta"].mean())
    km = model.preprocessor_.transform(train[["km", "zone"]])[:, 0]
    assert km.mean() == pytest.approx(0.0, abs=1e-6)  # scaled by training rows alone
