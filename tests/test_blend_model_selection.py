"""MultiTaskBlend in scikit-learn's model selection, in the same form as MultiTaskEstimator
(tests/test_sklearn_compat.py): cross_validate with the per-task scorer and missing
labels, GridSearchCV over its own and its net's parameters, a Pipeline in front.

scikit-learn's ``check_estimator`` runs on the array estimators only: like
``MultiTaskEstimator``, the blend takes DataFrames of named, typed columns, which the
generic checks (numpy arrays of anonymous floats) do not give it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tabmtl import MultiTaskBlend, MultiTaskEstimator
from tabmtl.metrics import task_scorer


def _table(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "zone": pd.Categorical(rng.choice(list("xyz"), n))})
    y = X.a - X.b + rng.normal(scale=0.1, size=n)
    Y = pd.DataFrame({"value": y.where(rng.random(n) > 0.25),  # 25% missing labels
                      "high": (X.a > 0).to_numpy()})
    return X, Y


def _blend(**params) -> MultiTaskBlend:
    import lightgbm as lgb

    return MultiTaskBlend(
        MultiTaskEstimator(max_epochs=3, hidden_layer_sizes=(8,), random_state=0),
        regressor=lgb.LGBMRegressor(n_estimators=10, min_child_samples=5, verbose=-1),
        classifier=lgb.LGBMClassifier(n_estimators=10, min_child_samples=5, verbose=-1),
        cv=2, **params,
    )


def test_cross_validate_with_the_per_task_scorer_and_missing_labels():
    X, Y = _table()
    scores = cross_validate(_blend(), X, Y, cv=KFold(2, shuffle=True, random_state=0),
                            scoring=task_scorer())
    for key in ("test_value", "test_high", "test_mean"):
        assert np.isfinite(scores[key]).all(), key
    assert (scores["test_value"] > 0.5).all()  # R² of a near-linear target


def test_grid_search_over_the_blend_and_its_net():
    X, Y = _table()
    search = GridSearchCV(
        _blend(), {"n_steps": [5, 20], "estimator__lr": [1e-3, 1e-2]},
        cv=KFold(2, shuffle=True, random_state=0), scoring=task_scorer(), refit="mean",
    ).fit(X, Y)
    assert set(search.best_params_) == {"n_steps", "estimator__lr"}
    assert len(search.cv_results_["mean_test_mean"]) == 4
    assert search.best_estimator_.predict(X).shape == Y.shape


def test_pipeline_with_a_column_transformer_in_front():
    X, Y = _table()
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["a", "b"])], remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    model = Pipeline([("prep", prep), ("blend", _blend())]).fit(X, Y)
    predicted = model.predict(X)
    assert list(predicted.columns) == ["value", "high"]
    assert predicted["high"].dtype == bool
    assert model.score(X, Y) > 0.5
