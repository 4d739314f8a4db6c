"""Tests of the metric registry (``tabmtl/evaluation/_metrics.py``).

One registry picks a metric per task (by target name, then kind, then the default) for
the estimator's ``score_tasks``, the scorer, the transfer analysis and the command line;
scores leave out missing labels per task, and the estimator's default scores are those
of each task kind's own ``score`` exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, r2_score

from tabmtl import TargetSpec
from tabmtl.evaluation._metrics import (
    CLASSIFICATION_KINDS,
    METRICS,
    REGRESSION_KINDS,
    default_metric,
    get_metric,
    metric_names,
    resolve_metrics,
    score_frame,
    score_output,
    score_task,
)


def _labels_with_gaps():
    Y = pd.DataFrame(
        {
            "size": [1.0, 2.0, 3.0, np.nan, 5.0, 6.0],
            "flag": pd.array([True, False, True, False, pd.NA, True], dtype="boolean"),
            "kind": pd.Categorical(["a", "b", "c", "a", "b", np.nan]),
        }
    )
    pred = pd.DataFrame(
        {
            "size": [1.5, 2.0, 2.0, 1e6, 4.0, 6.5],
            "flag": pd.array([True, True, True, False, False, True], dtype="boolean"),
            "kind": pd.Categorical(["a", "c", "c", "b", "b", "a"]),
        }
    )
    return Y, pred, TargetSpec().fit(Y)


def test_metrics_resolve_by_target_then_kind_then_default():
    Y = pd.DataFrame(
        {"y": [1.0, 2.0, 3.0, 4.0], "c": [True, False, True, False],
         "m": pd.Categorical(["a", "b", "c", "a"])}
    )
    spec = TargetSpec().fit(Y)
    assert resolve_metrics(spec, None) == {"y": "r2", "c": "accuracy", "m": "accuracy"}
    chosen = resolve_metrics(
        spec, {"binary": "roc_auc", "multiclass": "roc_auc", "m": "neg_log_loss"}
    )
    assert chosen == {"y": "r2", "c": "roc_auc", "m": "neg_log_loss"}
    with pytest.raises(ValueError, match="does not apply"):
        resolve_metrics(spec, {"c": "r2"})
    with pytest.raises(ValueError, match="Unknown metric"):
        resolve_metrics(spec, {"y": "r3"})
    with pytest.raises(ValueError, match="is neither a target"):
        resolve_metrics(spec, {"nope": "r2"})


def test_the_registry_knows_every_metric_and_the_kinds_it_applies_to():
    assert metric_names() == sorted(METRICS)
    assert REGRESSION_KINDS == {"regression", "gaussian", "quantile"}
    assert CLASSIFICATION_KINDS == {"binary", "multiclass"}
    for name, metric in METRICS.items():
        assert metric.name == name
        assert metric.kinds in (REGRESSION_KINDS, CLASSIFICATION_KINDS)
        assert metric.sign == (-1.0 if name.startswith("neg_") else 1.0)
    assert [default_metric(k) for k in ("regression", "quantile", "binary")] == [
        "r2", "r2", "accuracy"
    ]
    with pytest.raises(ValueError, match="Unknown metric 'auc'"):
        get_metric("auc")


def test_a_regression_entry_covers_the_distributional_kinds_unless_they_have_their_own():
    Y = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0], "c": [2.0, 2.5, 1.0]})
    spec = TargetSpec(targets={"a": "gaussian", "b": "quantile"}).fit(Y)
    chosen = resolve_metrics(spec.tasks_, {"regression": "neg_mae", "quantile": "neg_rmse"})
    assert chosen == {"a": "neg_mae", "b": "neg_rmse", "c": "neg_mae"}


def test_score_frame_is_r2_and_accuracy_on_the_labelled_rows():
    Y, pred, spec = _labels_with_gaps()
    scores = score_frame(spec, Y, pred)
    assert scores.name == "score" and list(scores.index) == ["size", "flag", "kind"]
    rows = [0, 1, 2, 4, 5]  # size's labelled rows
    assert scores["size"] == r2_score(Y["size"].iloc[rows], pred["size"].iloc[rows])
    assert scores["flag"] == accuracy_score(  # row 4 unlabelled
        Y["flag"].iloc[[0, 1, 2, 3, 5]].astype(bool), pred["flag"].iloc[[0, 1, 2, 3, 5]]
    )
    assert scores["kind"] == pytest.approx(3 / 5)  # a, c, c, b, b against a, b, c, a, b
    none = score_frame(spec, Y.assign(size=np.nan), pred)
    assert np.isnan(none["size"]) and none["flag"] == scores["flag"]


def test_score_output_reads_values_and_probabilities_in_class_order():
    Y, _, spec = _labels_with_gaps()
    size, flag, kind = spec.tasks_
    values = np.array([1.0, 2.0, 3.0, 1e6, 5.0, 6.0])
    assert score_output(size, Y["size"], values, "neg_rmse") == 0.0
    proba = np.array([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.5, 0.5], [0.1, 0.9]])
    assert score_output(flag, Y["flag"], proba, "roc_auc") == 1.0
    labels = pd.Series([True, False, True, False, False, True], dtype=object)
    assert score_output(flag, Y["flag"], proba, "accuracy") == score_task(
        flag, Y["flag"], labels, None, "accuracy"
    )
    one_class = pd.Series(["a", "a", np.nan, "a", "a", "a"])
    assert np.isnan(score_output(kind, one_class, np.eye(3)[[0, 1, 2, 0, 1, 2]], "roc_auc"))
    with pytest.raises(ValueError, match="does not apply"):
        score_output(size, Y["size"], values, "accuracy")


def test_a_class_the_model_never_saw_counts_as_wrong_like_scikit_learn():
    # the spec (the model) knows a, b, c; the truth also holds "d" on two rows
    from sklearn.metrics import log_loss

    spec = TargetSpec().fit(pd.DataFrame({"kind": ["a", "b", "c", "a"]}))
    (kind,) = spec.tasks_
    truth = pd.Series(["a", "b", "c", "d", "a", "d"], name="kind")
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.3, 0.2],
         [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]]
    )
    with pytest.warns(UserWarning, match=r"'kind'.*never saw.*\['d'\].*2 row"):
        accuracy = score_output(kind, truth, proba, "accuracy")
    assert accuracy == pytest.approx(4 / 6)  # the two "d" rows are wrong
    with pytest.warns(UserWarning, match="never saw"):
        loss = -score_output(kind, truth, proba, "neg_log_loss")
    # log loss: an unseen class has probability 0, clipped like scikit-learn's (eps)
    eps = np.finfo(np.float64).eps
    seen = -np.log(proba[[0, 1, 2, 4], [0, 1, 2, 0]])
    assert loss == pytest.approx((seen.sum() - 2 * np.log(eps)) / 6)
    extended = np.hstack([proba, np.zeros((6, 1))])
    assert loss == pytest.approx(log_loss([0, 1, 2, 3, 0, 3], extended, labels=range(4)))
    with pytest.warns(UserWarning, match="never saw"):
        auc = score_output(kind, truth, proba, "roc_auc")  # over the seen classes' rows
    assert auc == pytest.approx(score_output(kind, truth[[0, 1, 2, 4]], proba[[0, 1, 2, 4]],
                                             "roc_auc"))
    with pytest.warns(UserWarning, match="never saw"):
        balanced = score_output(kind, truth, proba, "balanced_accuracy")
    assert balanced == pytest.approx((1 + 1 + 1 + 0) / 4)  # recall 0 on "d"
    with pytest.warns(UserWarning, match="never saw"):
        assert np.isfinite(score_output(kind, truth, proba, "neg_ece"))


def test_score_and_cross_validate_keep_a_fold_whose_truth_has_an_unseen_class():
    from sklearn.model_selection import cross_validate

    from tabmtl import MultiTaskEstimator
    from tabmtl.evaluation._metrics import task_scorer

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=60)})
    Y = pd.DataFrame({"y": X.x * 2, "c": np.where(X.x > 0, "pos", "neg")})
    Y.loc[59, "c"] = "rare"  # in one test fold only: its training rows never saw it
    est = MultiTaskEstimator(max_epochs=2, hidden_layer_sizes=(4,), numeric_embedding=None,
                             random_state=0)
    with pytest.warns(UserWarning, match=r"'c'.*\['rare'\]"):
        result = cross_validate(est, X, Y, cv=3, scoring=task_scorer(), error_score="raise")
    assert np.isfinite(result["test_c"]).all() and np.isfinite(result["test_mean"]).all()
    fitted = est.fit(X.iloc[:50], Y.iloc[:50])
    with pytest.warns(UserWarning, match="never saw"):
        scores = fitted.score_tasks(X.iloc[50:], Y.iloc[50:])
    assert 0.0 <= scores["c"] <= 0.9  # the "rare" row is one of ten, and wrong


def test_task_scorer_never_averages_scores_of_different_scales_without_saying_so():
    # an MAE in grams beside an accuracy: a plain mean would be driven by the grams
    import warnings

    from tabmtl import MultiTaskEstimator
    from tabmtl.evaluation._metrics import task_scorer

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=80)})
    Y = pd.DataFrame({"mass": 4000 + 500 * X.x, "big": X.x > 0, "odd": X.x > 0.5})
    est = MultiTaskEstimator(max_epochs=2, hidden_layer_sizes=(4,), numeric_embedding=None,
                             random_state=0).fit(X, Y)
    with pytest.warns(UserWarning, match=r"'mass'.*neg_mae.*left out of the mean"):
        scores = task_scorer({"mass": "neg_mae"})(est, X, Y)
    assert scores["mean"] == pytest.approx(np.mean([scores["big"], scores["odd"]]))
    # the plain mean of mixed scales is an explicit choice
    raw = task_scorer({"mass": "neg_mae"}, mean="raw")(est, X, Y)
    assert raw["mean"] == pytest.approx(np.mean([raw["mass"], raw["big"], raw["odd"]]))
    with pytest.raises(ValueError, match="mean must be"):
        task_scorer(mean="median")
    # one scale (R² and accuracies are unitless, 1 = perfect): a plain mean, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = task_scorer()(est, X, Y)
    assert plain["mean"] == pytest.approx(np.mean([plain["mass"], plain["big"], plain["odd"]]))
    # every task in its own units and nothing unitless: no mean at all, said so
    one = Y[["mass"]].assign(other=Y.mass * 2)
    est2 = MultiTaskEstimator(max_epochs=1, hidden_layer_sizes=(4,), numeric_embedding=None,
                              random_state=0).fit(X, one)
    with pytest.warns(UserWarning, match="left out of the mean"):
        assert np.isnan(task_scorer({"regression": "neg_rmse"})(est2, X, one)["mean"])
