"""The low-latency predict paths give exactly the numbers of the batch path.

``_network_outputs`` calls the module directly for one batch instead of going through
skorch's ``forward``; ``predict_record`` / ``predict_proba_record`` skip pandas on the way
in (``FeaturePreprocessor.transform_record``) and out (``TargetSpec.inverse_transform_record``).
All must be bit-identical to ``predict`` / ``predict_proba`` on the same rows, for every
target kind, with missing features and unseen categories.

"The same rows" means the same batch: float32 matrix products of 1 row and of 160 rows
may round differently (different kernels), so a one-row record is compared with a
one-row frame, as it was before the fast path existed.

These tests pin the torch path: with onnxruntime installed, ``predict_record`` runs the
exported network instead, equal to float32 rounding (tests/test_fast_record.py).
"""

import numpy as np
import pandas as pd
import pytest

from tabmtl import MultiTaskEstimator
from tabmtl._data.features import FeaturePreprocessor, label_codes
from tabmtl._training.iterators import TensorDataset

TARGET_KINDS = {"eta_g": "gaussian", "eta_q": "quantile"}


def serving_table(n: int = 160, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every feature kind (float with NaN, int, category with NaN, strings, bool, datetime
    with NaT) and every target kind and dtype tabmtl decodes."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "km": rng.uniform(1, 20, n),
            "hour": rng.integers(0, 24, n),
            "zone": pd.Categorical(rng.choice(["north", "south", "east"], n)),
            "vehicle": pd.Series(rng.choice(["car", "van", "bike"], n), dtype=object),
            "rain": rng.random(n) < 0.3,
            "pickup": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 20_000, n), unit="min"),
        }
    )
    X.loc[rng.random(n) < 0.1, "km"] = np.nan
    X.loc[rng.random(n) < 0.1, "zone"] = np.nan
    X.loc[rng.random(n) < 0.05, "pickup"] = pd.NaT
    km = X["km"].fillna(10.0)
    eta = 3.0 * km + 6.0 * (X["zone"] == "south") + rng.normal(0, 1, n)
    paid = pd.Series(rng.random(n) < 0.5, dtype="boolean")
    paid[rng.random(n) < 0.1] = pd.NA
    Y = pd.DataFrame(
        {
            "eta": eta,
            "fare": (2.0 * km + 5).astype(np.float32),
            "late": eta > np.median(eta),
            "band": pd.Categorical(
                np.where(km < 7, "short", np.where(km < 14, "mid", "long")),
                categories=["short", "mid", "long", "unused"],
            ),
            "mode": pd.Series(rng.choice(["walk", "ride", "bus"], n), dtype=object),
            "stops": rng.integers(0, 4, n),
            "paid": paid,
            "eta_g": eta + 1.0,
            "eta_q": eta - 1.0,
        }
    )
    return X, Y


@pytest.fixture(autouse=True)
def _torch_path(monkeypatch):
    """The torch forward and decoding behind predict_record, not onnxruntime."""
    monkeypatch.setattr("tabmtl._estimators.records.serving_outputs", lambda *args: None)


@pytest.fixture(scope="module")
def fitted():
    X, Y = serving_table()
    model = MultiTaskEstimator(
        TARGET_KINDS, hidden_layer_sizes=(8,), max_epochs=2, calibration_fraction=0.25,
        random_state=0,
    ).fit(X, Y)
    return model, X


def sample_rows(X: pd.DataFrame) -> list[int]:
    """Every row with a missing feature, and the first 20."""
    return sorted(set(np.flatnonzero(X.isna().any(axis=1))) | set(range(20)))


def assert_same_value(fast, batch) -> None:
    """Equal bit for bit, and the fast value a plain Python scalar."""
    assert not isinstance(fast, np.generic), type(fast)
    if isinstance(batch, (float, np.floating)):
        assert isinstance(fast, float)
        assert np.float64(fast).tobytes() == np.float64(batch).tobytes()
    else:
        assert fast == batch, (fast, batch)


def test_the_table_covers_missing_and_every_kind(fitted):
    model, X = fitted
    assert X["km"].isna().any() and X["zone"].isna().any() and X["pickup"].isna().any()
    kinds = {t.kind for t in model.target_spec_.tasks_}
    assert kinds == {"regression", "gaussian", "quantile", "binary", "multiclass"}
    assert not np.all(model.temperatures_ == 1.0)  # calibrated: probabilities are scaled


@pytest.mark.parametrize("rows", [slice(0, 1), slice(3, 10), slice(None)])
def test_direct_module_call_is_bit_identical_to_skorch_forward(fitted, rows):
    model, X = fitted
    X_enc = model.preprocessor_.transform(X.iloc[rows])
    batch = model.net_.forward(TensorDataset(X_enc)).detach().numpy()
    assert np.array_equal(model._network_outputs(X_enc), batch)


def test_direct_call_switches_to_eval_mode_like_skorch(fitted):
    model, X = fitted
    X_enc = model.preprocessor_.transform(X)
    expected = model._network_outputs(X_enc)
    model.net_.module_.train()  # dropout would be active if left in train mode
    try:
        assert np.array_equal(model._network_outputs(X_enc), expected)
        assert not model.net_.module_.training and not model.net_.criterion_.training
    finally:
        model.net_.module_.eval()


def test_more_rows_than_a_batch_go_through_skorch(fitted, monkeypatch):
    model, X = fitted
    X_enc = model.preprocessor_.transform(X)
    expected = model._network_outputs(X_enc)
    calls = []
    forward = model.net_.forward
    monkeypatch.setattr(model.net_, "iterator_valid__batch_size", 50)
    monkeypatch.setattr(model.net_, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    out = model._network_outputs(X_enc)
    assert calls and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)  # batches of 50


def test_transform_record_is_bit_identical_to_transform(fitted):
    model, X = fitted
    pre = model.preprocessor_
    expected = pre.transform(X)  # row by row: preprocessing does not mix rows
    for i in range(len(X)):
        row = pre.transform_record(X.iloc[i].to_dict())
        assert row.dtype == np.float32 and row.shape == (1, expected.shape[1])
        assert row.tobytes() == expected[i : i + 1].tobytes(), i


def test_predict_record_is_bit_identical_to_predict(fitted):
    model, X = fitted
    for i in sample_rows(X):
        expected = model.predict(X.iloc[[i]])
        fast = model.predict_record(X.iloc[i].to_dict())
        assert list(fast) == list(expected.columns)
        for name, value in fast.items():
            assert_same_value(value, expected[name].iloc[0])


def test_predict_record_with_unseen_and_missing_values(fitted):
    model, X = fitted
    i = int(np.flatnonzero(X["zone"].isna())[0])  # a categorical column's missing value
    record = X.iloc[i].to_dict()
    assert pd.isna(record["zone"])
    record.update(vehicle="rocket", km=None, pickup=None)
    frame = X.iloc[[i]].assign(vehicle="rocket", km=np.nan, pickup=pd.NaT)
    expected = model.predict(frame).iloc[0]
    for name, value in model.predict_record(record).items():
        assert_same_value(value, expected[name])
    assert model.preprocessor_.transform_record(record)[0, -3:-1].tolist() == [0.0, 0.0]


def test_predict_proba_record_is_bit_identical_to_predict_proba(fitted):
    model, X = fitted
    for i in sample_rows(X):
        expected = model.predict_proba(X.iloc[[i]])
        fast = model.predict_proba_record(X.iloc[i].to_dict())
        assert list(fast) == list(expected)
        for name, proba in fast.items():
            assert list(proba) == list(expected[name].columns)
            for label, p in proba.items():
                assert_same_value(p, expected[name][label].iloc[0])


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"km": "12"}, ValueError, "was numeric in fit"),
        ({"km": True}, ValueError, "was numeric in fit"),
        ({"km": float("inf")}, ValueError, "infinite"),
        ({"vehicle": ["car"]}, TypeError, "cannot be a category"),
        ({"extra": 1}, ValueError, r"unexpected \['extra'\]"),
    ],
)
def test_bad_records_get_named_errors(fitted, change, error, match):
    model, X = fitted
    record = {**X.iloc[0].to_dict(), **change}
    with pytest.raises(error, match=match):
        model.predict_record(record)


def test_a_missing_column_or_a_non_mapping_is_rejected(fitted):
    model, X = fitted
    record = X.iloc[0].to_dict()
    del record["hour"]
    with pytest.raises(ValueError, match=r"missing \['hour'\]"):
        model.predict_record(record)
    with pytest.raises(TypeError, match="mapping"):
        model.predict_record(list(X.iloc[0]))


def test_reordered_columns_predict_the_same(fitted):
    model, X = fitted
    shuffled = X[list(reversed(X.columns))]
    pd.testing.assert_frame_equal(model.predict(shuffled), model.predict(X))


def test_category_lookup_cache_follows_the_categories_object():
    labels = pd.Index(["a", "b", "c"], dtype=object)
    first = pd.Series(pd.Categorical(["a", "c", None], categories=["a", "b", "c"]))
    reordered = pd.Series(pd.Categorical(["a", "c", None], categories=["c", "x", "a"]))
    for _ in range(2):  # the second round reads the cached lookups
        assert label_codes(first, labels).tolist() == [0, 2, -1]
        assert label_codes(reordered, labels).tolist() == [0, 2, -1]
        assert label_codes(first.iloc[1:], labels).tolist() == [2, -1]


def test_transform_record_follows_a_refit():
    pre = FeaturePreprocessor().fit(pd.DataFrame({"zone": ["a", "b"]}))
    assert pre.transform_record({"zone": "b"}).tolist() == [[2.0]]
    pre.fit(pd.DataFrame({"zone": ["b", "c"]}))  # same object, new categories
    assert pre.transform_record({"zone": "b"}).tolist() == [[1.0]]
