import numpy as np
import pandas as pd
import pytest
import torch

from tabmtl._data.targets import MAX_INT_CLASSES, TargetSpec, infer_kind


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (pd.Series([1.5, 2.0, np.nan]), "regression"),
        (pd.Series([True, False, True]), "binary"),
        (pd.Series([True, pd.NA, False], dtype="boolean"), "binary"),
        (pd.Series(["yes", "no", None], dtype=object), "binary"),
        (pd.Series(["a", "b", "c"], dtype="string"), "multiclass"),
        (pd.Series(pd.Categorical(["a", "b", "c"])), "multiclass"),
        (pd.Series([0, 1, 1]), "binary"),
        (pd.Series([0, 1, 2, 3]), "multiclass"),
        (pd.Series(np.arange(MAX_INT_CLASSES + 1)), "regression"),
        (pd.Series([1, 2, pd.NA], dtype="Int64"), "binary"),
    ],
)
def test_kind_is_inferred_from_dtype(values, kind):
    assert infer_kind(values) == kind


def test_unreadable_target_dtype_names_the_column():
    with pytest.raises(TypeError, match="'when'"):
        infer_kind(pd.Series(pd.to_datetime(["2020-01-01"]), name="when"))


def _roundtrip(Y: pd.DataFrame) -> pd.DataFrame:
    """Encode Y, turn codes into 'perfect' network outputs, decode."""
    spec = TargetSpec().fit(Y)
    enc = spec.transform(Y)
    raw = np.zeros((len(Y), spec.n_outputs_), dtype=np.float32)
    for j, (task, sl) in enumerate(zip(spec.tasks_, spec.slices_)):
        col = np.nan_to_num(enc[:, j])
        if task.kind == "regression":
            raw[:, sl.start] = col
        elif task.kind == "binary":
            raw[:, sl.start] = np.where(col > 0.5, 5.0, -5.0)
        else:
            raw[np.arange(len(Y)), sl.start + col.astype(int)] = 5.0
    return spec.inverse_transform(raw, index=Y.index)


def test_decode_restores_dtypes_labels_and_index():
    Y = pd.DataFrame(
        {
            "eta": np.array([10.0, 20.0, 35.5], dtype=np.float32),
            "paid": pd.array(["card", "cash", "card"], dtype="string"),
            "obj": np.array(["x", "y", "z"], dtype=object),
            "mode": pd.Categorical(["bus", "car", "bus"], categories=["bike", "bus", "car"]),
            "flag": [True, False, True],
            "level": np.array([3, 1, 2], dtype=np.int32),
        },
        index=pd.Index([7, 8, 9], name="trip"),
    )
    out = _roundtrip(Y)
    assert list(out.columns) == list(Y.columns)
    assert out.index.equals(Y.index)
    for col in Y.columns:
        assert out[col].dtype == Y[col].dtype, col
    pd.testing.assert_frame_equal(out, Y, check_exact=False, rtol=1e-5)
    # the category keeps its declared (even unobserved) categories
    assert list(out["mode"].cat.categories) == ["bike", "bus", "car"]


def test_missing_labels_encode_as_nan():
    Y = pd.DataFrame(
        {
            "a": [1.0, None, 3.0],
            "b": pd.Series([True, pd.NA, False], dtype="boolean"),
            "c": pd.Series(["x", None, "y"], dtype=object),
        }
    )
    enc = TargetSpec().fit(Y).transform(Y)
    assert np.isnan(enc[1]).all()
    assert not np.isnan(enc[[0, 2]]).any()


def test_regression_is_standardised():
    Y = pd.DataFrame({"v": [10.0, 20.0, 30.0, np.nan]})
    enc = TargetSpec().fit(Y).transform(Y)[:, 0]
    assert np.nanmean(enc) == pytest.approx(0.0, abs=1e-6)
    assert np.nanstd(enc) == pytest.approx(1.0, abs=1e-6)


def test_override_kinds_and_slices():
    Y = pd.DataFrame({"n": [0, 1, 2, 3, 4], "k": [1, 2, 1, 2, 3]})
    spec = TargetSpec(targets={"n": "regression", "k": "classification"}).fit(Y)
    assert spec.kinds_ == {"n": "regression", "k": "multiclass"}
    assert [(s.start, s.stop) for s in spec.slices_] == [(0, 1), (1, 4)]


@pytest.mark.parametrize(
    ("Y", "targets", "match"),
    [
        (pd.DataFrame({"a": [np.nan, np.nan]}), None, "'a' is entirely missing"),
        (pd.DataFrame({"a": ["x", "x", None]}), None, "'a' has only one class"),
        (pd.DataFrame({"a": [1.0, np.inf]}), None, "'a' contains infinite"),
        (pd.DataFrame({"a": [1.0, 2.0]}), {"b": "regression"}, "not in Y"),
        (pd.DataFrame({"a": [1.0, 2.0]}), {"a": "ordinal"}, "Unknown target kind 'ordinal'"),
        (pd.DataFrame({"a": ["x", "y", "z"]}), {"a": "binary"}, "'a' was declared binary"),
        (pd.DataFrame({"a": ["x", "y"]}), {"a": "regression"}, "'a' must be numeric"),
        (pd.DataFrame(), None, "no columns"),
    ],
)
def test_bad_targets_raise_naming_the_column(Y, targets, match):
    with pytest.raises(ValueError, match=match):
        TargetSpec(targets=targets).fit(Y)


def test_unseen_label_at_transform_is_an_error():
    spec = TargetSpec().fit(pd.DataFrame({"a": ["x", "y"]}))
    with pytest.raises(ValueError, match="'a' contains labels not seen in fit"):
        spec.transform(pd.DataFrame({"a": ["z"]}))


def test_losses_per_kind():
    spec = TargetSpec().fit(pd.DataFrame({"r": [0.0, 1.0], "b": [0, 1], "m": [0, 1]}))
    out = torch.tensor([[2.0], [0.0]])
    t = torch.tensor([1.0, 0.0])
    reg, binary = spec.tasks_[0], spec.tasks_[1]
    assert torch.allclose(reg.loss(out, t), torch.tensor([1.0, 0.0]))
    assert torch.allclose(
        binary.loss(out, t), torch.nn.functional.softplus(torch.tensor([-2.0, 0.0]))
    )


def test_target_names_equal_as_text_are_refused():
    # 0 and "0" would share history keys (train_loss_0) and exported output names
    Y = pd.DataFrame({0: [1.0, 2.0, 3.0], "0": [0.5, 1.5, 2.5]})
    with pytest.raises(ValueError, match=r"read the same as text: \[0, '0'\]"):
        TargetSpec().fit(Y)


# -- distributional regression kinds (gaussian, quantile) -----------------------------------


def test_distributional_kinds_are_regression_family_chosen_per_target():
    from tabmtl._data.targets import QUANTILE_LEVELS, is_regression_kind

    Y = pd.DataFrame(
        {"a": [1.0, 2.0, 4.0], "b": [0.0, 1.0, 5.0], "c": [1.0, 3.0, 2.0], "flag": [1, 0, 1]}
    )
    spec = TargetSpec(targets={"a": "gaussian", "b": "quantile"}).fit(Y)
    assert spec.kinds_ == {"a": "gaussian", "b": "quantile", "c": "regression", "flag": "binary"}
    assert [t.n_outputs for t in spec.tasks_] == [2, len(QUANTILE_LEVELS), 1, 1]
    assert spec.n_outputs_ == 7 and spec.slices_[1] == slice(2, 5)
    assert [t.is_regression for t in spec.tasks_] == [True, True, True, False]
    assert set(spec.predict_proba(np.zeros((3, 7), dtype=np.float32))) == {"flag"}
    assert [is_regression_kind(k) for k in ("regression", "gaussian", "quantile")] == [True] * 3
    assert not any(is_regression_kind(k) for k in ("binary", "multiclass", "nope"))
    # standardised like a plain regression target
    z = (Y["a"] - Y["a"].mean()) / Y["a"].std(ddof=0)
    assert spec.transform(Y)[:, 0] == pytest.approx(z.to_numpy())


def test_unknown_kind_lists_the_distributional_kinds():
    with pytest.raises(ValueError, match="'gaussian', 'quantile'"):
        TargetSpec(targets={"a": "poisson"}).fit(pd.DataFrame({"a": [1.0, 2.0]}))


def test_gaussian_loss_is_the_shifted_nll_and_decode_gives_mean_and_std():
    from tabmtl._data.targets import LOG_VAR_BOUND, GaussianRegressionTarget

    task = GaussianRegressionTarget("y").fit(pd.Series([1.0, 3.0]))  # mean 2, scale 1
    raw = torch.tensor([[0.5, 0.0], [0.0, 1.0], [0.0, -50.0]])
    t = torch.tensor([1.0, 0.0, 0.0])
    log_var = LOG_VAR_BOUND * torch.tanh(raw[:, 1] / LOG_VAR_BOUND)
    nll = 0.5 * (log_var + (t - raw[:, 0]) ** 2 / log_var.exp())  # Gaussian NLL - const
    loss = task.loss(raw, t)
    assert torch.allclose(loss, nll + 0.5 * LOG_VAR_BOUND)
    assert (loss >= 0).all() and torch.isfinite(loss).all()  # log-variance is bounded
    assert log_var[2] > -LOG_VAR_BOUND
    raw.requires_grad_(True)
    task.loss(raw, t).sum().backward()
    assert (raw.grad[:, 1].abs() > 0).all()  # smooth bound: the gradient never vanishes
    out = raw.detach().numpy()
    assert task.decode(out, pd.RangeIndex(3)).tolist() == [2.5, 2.0, 2.0]
    assert task.std(out) == pytest.approx(np.exp(0.5 * log_var.numpy()))


def test_quantile_head_pinball_loss_and_non_crossing_decode():
    from tabmtl._data.targets import QUANTILE_LEVELS, QuantileRegressionTarget

    assert QUANTILE_LEVELS == (0.05, 0.5, 0.95)
    task = QuantileRegressionTarget("y").fit(pd.Series([0.0, 2.0]))  # mean 1, scale 1
    out = torch.tensor([[-1.0, 0.0, 1.0]])
    # label 2 is above every quantile: loss = mean(level * (2 - q))
    expected = (0.05 * 3 + 0.5 * 2 + 0.95 * 1) / 3
    assert task.loss(out, torch.tensor([2.0])).item() == pytest.approx(expected)
    # label -2 is below every quantile: loss = mean((1 - level) * (q + 2))
    expected = (0.95 * 1 + 0.5 * 2 + 0.05 * 3) / 3
    assert task.loss(out, torch.tensor([-2.0])).item() == pytest.approx(expected)
    crossing = np.array([[0.8, -0.5, 0.1], [0.0, 0.0, 0.0]], dtype=np.float32)
    q = task.quantiles(crossing)
    assert (np.diff(q, axis=1) >= 0).all()
    assert q[0].tolist() == pytest.approx([0.5, 1.1, 1.8])
    assert task.decode(crossing, pd.RangeIndex(2)).tolist() == pytest.approx([1.1, 1.0])
    # CQR score: distance outside the outer quantiles, negative inside
    scores = task.conformity_scores(crossing, np.array([1.0, -0.2]))  # standardised labels
    assert scores.tolist() == pytest.approx([0.2, 0.2])
    assert task.conformity_scores(crossing, np.array([0.0, 0.0])).tolist() == pytest.approx(
        [-0.5, 0.0]
    )


def test_identifier_like_label_column_is_refused_by_the_library_as_by_the_cli():
    # 344 distinct text labels on 344 rows is an identifier, not a class to predict: the
    # Python API must refuse it with the rule the command line uses (one rule, here)
    from tabmtl import MultiTaskEstimator
    from tabmtl._data.targets import MAX_TARGET_CLASSES

    ids = pd.Series([f"p{i:03d}" for i in range(344)], name="id")
    with pytest.raises(ValueError, match=r"'id'.* 344 distinct labels in 344 labelled rows"):
        TargetSpec().fit(ids.to_frame())
    X = pd.DataFrame({"x": np.arange(344.0)})
    with pytest.raises(ValueError, match="like an identifier"):
        MultiTaskEstimator(max_epochs=1).fit(X, ids.to_frame())
    # many classes, each seen on several rows, stay a valid multiclass target
    many = pd.Series([f"c{i % (MAX_TARGET_CLASSES + 1)}" for i in range(1000)], name="c")
    assert TargetSpec().fit(many.to_frame()).tasks_[0].kind == "multiclass"
    # the command line's check is the library's rule, not a copy of it
    from tabmtl._cli.errors import UsageError
    from tabmtl._cli.tables import check_target

    with pytest.raises(UsageError, match="cannot be a target: Target column 'id' has 344"):
        check_target(ids)
