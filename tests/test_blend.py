"""MultiTaskBlend: per-task weights from out-of-fold predictions of the net and boosting."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from skorch.callbacks import Callback

from tabmtl import MultiTaskEstimator
from tabmtl._ensemble import MultiTaskBlend, greedy_weights
from tabmtl._ensemble.weights import choose_weights
from tabmtl.evaluation._metrics import score_output

#: A held-out task score of the blend may fall below its best part by this much (R² or
#: accuracy): the weights are chosen on out-of-fold predictions of 600 rows.
MARGIN = 0.02


def net(**params) -> MultiTaskEstimator:
    return MultiTaskEstimator(**{"max_epochs": 30, "batch_size": 64, "random_state": 0, **params})


def table(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``smooth``: linear in six numerics (the net's ground); ``interact``: a random value
    per combination of four 3-level categoricals (the trees' ground); ``label`` (category,
    20% missing) and ``flag`` (bool) for the classification contract."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    cats = {f"c{i}": rng.choice(list("abc"), n) for i in range(4)}
    for name, values in cats.items():
        X[name] = pd.Categorical(values, categories=list("abc"))
    codes = sum(X[f"c{i}"].cat.codes.to_numpy() * 3**i for i in range(4))
    lookup = np.random.default_rng(1).normal(size=81) * 2  # the same table for every seed
    smooth = X.x0 + 2 * X.x1 - X.x2 + X.x3 - 1.5 * X.x4 + 0.5 * X.x5 + 0.1 * rng.normal(size=n)
    label = np.where(X.x0 + X.x1 > 0.3, "hi", np.where(X.x0 > -0.5, "mid", "lo"))
    Y = pd.DataFrame(
        {
            "smooth": smooth.where(rng.random(n) > 0.2),
            "interact": lookup[codes] + 0.1 * rng.normal(size=n),
            "label": pd.Categorical(
                np.where(rng.random(n) < 0.2, None, label), categories=["lo", "mid", "hi"]
            ),
            "flag": (X.x2 > 0).to_numpy(),
        }
    )
    return X, Y


@pytest.fixture(scope="module")
def data():
    return table(600, seed=0), table(400, seed=5)


@pytest.fixture(scope="module")
def fitted(data):
    (X, Y), _ = data
    return MultiTaskBlend(net(), cv=3).fit(X, Y)


def _weights(blend) -> pd.Series:
    return blend.task_blend_weights_.set_index(["task", "learner"])["weight"]


def _boosting_weight(blend, task) -> float:
    """The task's weight on all its boosting learners together."""
    w = _weights(blend).loc[task]
    return float(w.drop("net").sum())


# (1) the weights follow each task's ground, and the blend is as good as its best part


def test_weights_go_to_the_learner_whose_ground_the_task_is(fitted, data):
    w = _weights(fitted)
    assert w["smooth", "net"] >= 0.6
    assert _boosting_weight(fitted, "interact") >= 0.8
    assert np.allclose(w.groupby(level="task").sum(), 1.0)
    assert (w >= 0).all()

    _, (Xt, Yt) = data
    blend_scores = fitted.score_tasks(Xt, Yt)
    parts = fitted.learner_outputs(Xt)
    for task in fitted.target_spec_.tasks_:
        metric = "r2" if task.is_regression else "accuracy"
        for learner, outputs in parts.items():
            part = score_output(task, Yt[task.name], outputs[task.name], metric)
            assert blend_scores[task.name] >= part - MARGIN, (task.name, learner)
    assert fitted.score(Xt, Yt) == pytest.approx(blend_scores.mean())


# (2) out-of-fold predictions never come from a model that saw the row

LOG: list[dict] = []


class RecordingRegressor(RegressorMixin, BaseEstimator):
    """A mean predictor that logs, at each predict, how many rows it was trained on."""

    def fit(self, X, y):
        self.seen_ = set(X.index)
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        LOG.append({"who": "boosting", "overlap": len(self.seen_ & set(X.index))})
        return np.full(len(X), self.mean_)


class RecordingNet(MultiTaskEstimator):
    """The net, logging at each predict how many of the rows it was fitted on."""

    def fit(self, X, Y, sample_weight=None):
        self.seen_ = set(X.index)
        return super().fit(X, Y, sample_weight)

    def predict(self, X, return_std=False):
        LOG.append({"who": "net", "overlap": len(self.seen_ & set(X.index))})
        return super().predict(X, return_std)


def test_out_of_fold_predictions_come_from_models_that_never_saw_the_row(data):
    (X, Y), _ = data
    X, Y = X.iloc[:300], Y[["smooth", "interact"]].iloc[:300]
    LOG.clear()
    blend = MultiTaskBlend(
        RecordingNet(max_epochs=3, random_state=0), regressor=RecordingRegressor(), cv=3
    ).fit(X, Y)
    fit_log = pd.DataFrame(LOG)
    assert fit_log.groupby("who").size().to_dict() == {"boosting": 3 * 2, "net": 3}
    assert (fit_log.overlap == 0).all()
    # every row was predicted by exactly one fold model, and the stub can see an overlap
    assert sorted(np.unique(blend.oof_fold_)) == [0, 1, 2]
    LOG.clear()
    blend.predict(X)
    assert len(LOG) == 3 and all(entry["overlap"] > 0 for entry in LOG)


# (3) missing labels never enter a weight


def test_missing_labels_never_enter_a_weight(fitted, data):
    (_, Y), _ = data
    table_ = fitted.task_blend_weights_
    for task in fitted.target_spec_.tasks_:
        rows = table_[table_.task == task.name]
        assert (rows.n_labelled == int(Y[task.name].notna().sum())).all()
    # the smooth target's weights from its labelled rows alone, with garbage written over
    # the out-of-fold outputs of its unlabelled rows: the same weights
    present = Y["smooth"].notna().to_numpy()
    y = Y["smooth"].to_numpy(dtype=float)
    outputs = [fitted.oof_outputs_[name]["smooth"].copy()
               for name in fitted.task_learners_["smooth"]]
    for out in outputs:
        out[~present] = 1e6
    assert not present.all()
    expected = _weights(fitted).loc["smooth"].to_numpy()
    steps, selection = fitted.n_steps, fitted.selection
    np.testing.assert_array_equal(choose_weights(outputs, y, True, steps, selection), expected)
    only = choose_weights([o[present] for o in outputs], y[present], True, steps, selection)
    np.testing.assert_array_equal(only, expected)
    assert np.isfinite(fitted.conformal_scores_["smooth"]).all()
    assert len(fitted.conformal_scores_["smooth"]) == present.sum()


# (4) one-class and tiny tasks


def test_one_class_task_is_refused_with_its_name(data):
    (X, Y), _ = data
    Y = Y.assign(flag=np.ones(len(Y), dtype=bool))
    with pytest.raises(ValueError, match=r"'flag'.*only one class"):
        MultiTaskBlend(net(max_epochs=1), cv=3).fit(X, Y)


def test_tiny_task_is_refused_with_its_name_and_count(data):
    (X, Y), _ = data
    Y = Y.assign(smooth=Y.smooth.where(np.arange(len(Y)) < 5))
    with pytest.raises(ValueError, match=r"'smooth' has 5 labelled rows.*at least 6"):
        MultiTaskBlend(net(max_epochs=1), cv=3).fit(X, Y)


# (5) scikit-learn conventions: clone, get_params, pickle


def test_clone_get_params_and_pickle_round_trip(fitted, data):
    params = fitted.get_params()
    assert params["cv"] == 3 and params["estimator__max_epochs"] == 30
    copy = clone(fitted)
    assert not hasattr(copy, "net_") and copy.get_params()["estimator__max_epochs"] == 30
    _, (Xt, _) = data
    back = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(back.predict(Xt), fitted.predict(Xt))
    for name, proba in fitted.predict_proba(Xt).items():
        pd.testing.assert_frame_equal(back.predict_proba(Xt)[name], proba)


# (6) probabilities, labels and dtypes


def test_predict_keeps_dtypes_and_labels_and_proba_sums_to_one(fitted, data):
    (_, Y), (Xt, _) = data
    pred = fitted.predict(Xt)
    assert list(pred.columns) == list(Y.columns)
    assert pred.dtypes.to_dict() == Y.dtypes.to_dict()
    assert pred.index.equals(Xt.index)
    assert list(pred["label"].cat.categories) == ["lo", "mid", "hi"]
    proba = fitted.predict_proba(Xt)
    assert set(proba) == {"label", "flag"}
    assert list(proba["label"].columns) == ["lo", "mid", "hi"]
    assert list(proba["flag"].columns) == [False, True]
    for frame in proba.values():
        np.testing.assert_allclose(frame.sum(axis=1), 1.0)
        assert (frame.to_numpy() >= 0).all()
    # the predicted label is the most probable blended class
    best = proba["label"].to_numpy().argmax(axis=1)
    assert (pred["label"].cat.codes.to_numpy() == best).all()


# intervals, user templates, the third candidate


def test_conformal_intervals_cover_held_out_rows(fitted, data):
    _, (Xt, Yt) = data
    intervals = fitted.predict_interval(Xt, alpha=0.1)
    assert intervals.columns.tolist() == [
        ("smooth", "lower"), ("smooth", "upper"), ("interact", "lower"), ("interact", "upper")
    ]
    for name in ("smooth", "interact"):
        y = Yt[name].to_numpy(dtype=float)
        present = ~np.isnan(y)
        inside = (intervals[name]["lower"] <= y) & (y <= intervals[name]["upper"])
        assert inside[present].mean() >= 0.8
    with pytest.raises(ValueError, match="regression targets"):
        fitted.predict_interval(Xt, targets=["flag"])


def test_user_templates_and_single_task_candidate(data):
    (X, Y), (Xt, _) = data
    X, Y = X.iloc[:240], Y[["smooth", "flag"]].iloc[:240]
    blend = MultiTaskBlend(
        net(max_epochs=5),
        regressor=HistGradientBoostingRegressor(categorical_features="from_dtype", max_iter=20),
        classifier=HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=20),
        cv=2,
        single_task=True,
    ).fit(X, Y)
    assert blend.learners_ == ["net", "boosting", "single_task"]
    assert set(blend.task_blend_weights_.learner) == set(blend.learners_)
    assert isinstance(blend.boosters_["boosting"]["smooth"], HistGradientBoostingRegressor)
    assert set(blend.single_task_nets_) == {"smooth", "flag"}
    assert list(blend.single_task_nets_["flag"].target_spec_.target_names_) == ["flag"]
    assert blend.predict(Xt).dtypes.to_dict() == Y.dtypes.to_dict()


def test_greedy_weights_pick_the_better_learner_and_mix_when_both_help():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    noise_a, noise_b = rng.normal(size=400), rng.normal(size=400)
    w = greedy_weights([y + noise_a, y + noise_b], y, True, n_steps=20)
    assert 0.3 <= w[0] <= 0.7 and w.sum() == pytest.approx(1.0)  # independent errors: mix
    w = greedy_weights([y + 0.1 * noise_a, y + noise_b], y, True, n_steps=20)
    assert w[0] >= 0.9
    codes = (y > 0).astype(float)
    good = np.column_stack([1 - (codes * 0.9 + 0.05), codes * 0.9 + 0.05])
    flat = np.full((400, 2), 0.5)
    assert greedy_weights([flat, good], codes, False).tolist() == [0.0, 1.0]


# save / load without pickle


def test_save_load_round_trip_is_bit_identical(fitted, data, tmp_path):
    from tabmtl._ensemble.persistence import load_blend, save_blend

    _, (Xt, _) = data
    loaded = load_blend(save_blend(fitted, tmp_path / "model.blend"))
    pd.testing.assert_frame_equal(loaded.predict(Xt), fitted.predict(Xt))
    for name, proba in fitted.predict_proba(Xt).items():
        np.testing.assert_array_equal(loaded.predict_proba(Xt)[name], proba)
    pd.testing.assert_frame_equal(loaded.predict_interval(Xt), fitted.predict_interval(Xt))
    pd.testing.assert_frame_equal(loaded.task_blend_weights_, fitted.task_blend_weights_)
    assert loaded.get_params()["estimator__max_epochs"] == 30


def test_save_refuses_a_model_without_a_safe_format_naming_learner_and_target(data, tmp_path):
    from sklearn.ensemble import GradientBoostingRegressor

    from tabmtl._ensemble.persistence import save_blend

    (X, Y), _ = data
    X = X[[f"x{i}" for i in range(6)]]
    blend = MultiTaskBlend(
        net(max_epochs=2), regressor={"gbr": GradientBoostingRegressor(n_estimators=5)}, cv=2
    ).fit(X.iloc[:100], Y[["smooth", "interact"]].iloc[:100])
    with pytest.raises(TypeError, match=r"'gbr'.*'smooth' is a GradientBoostingRegressor.*safe"):
        save_blend(blend, tmp_path / "model.blend")


def test_predict_record_equals_predict(fitted, data):
    _, (Xt, _) = data
    for i in (0, 7):
        record = Xt.iloc[i].to_dict()
        row = fitted.predict(Xt.iloc[[i]]).iloc[0].to_dict()
        out = fitted.predict_record(record)
        assert out == row and type(out["flag"]) is bool and type(out["label"]) is str
        proba = fitted.predict_proba_record(record)
        expected = fitted.predict_proba(Xt.iloc[[i]])["label"].iloc[0].to_dict()
        assert proba["label"] == pytest.approx(expected)


def test_histgb_when_lightgbm_is_missing_with_categoricals_as_categories(data, monkeypatch):
    import tabmtl._ensemble.boosting as boosting

    monkeypatch.setattr(boosting, "lightgbm_available", lambda: False)
    (X, Y), _ = data
    X, Y = X.iloc[:200], Y[["interact", "flag"]].iloc[:200]
    blend = MultiTaskBlend(net(max_epochs=2), cv=2).fit(X, Y)
    assert blend.learners_ == ["net", "histgb"]
    model = blend.boosters_["histgb"]["interact"]
    assert isinstance(model, HistGradientBoostingRegressor)
    assert isinstance(blend.boosters_["histgb"]["flag"], HistGradientBoostingClassifier)
    # the four categorical columns split as categories, the six numerics do not
    assert model.is_categorical_.tolist() == [False] * 6 + [True] * 4
    frame = blend.frame_.transform(X.assign(c0=X.c0.astype(str)))  # text reads the same
    assert isinstance(frame["c0"].dtype, pd.CategoricalDtype)
    assert list(frame["c0"].cat.categories) == ["a", "b", "c"]


def test_default_boosting_is_lightgbm_on_one_thread_with_category_splits(fitted):
    lgb = pytest.importorskip("lightgbm")
    model = fitted.boosters_["lightgbm"]["interact"]
    assert isinstance(model, lgb.LGBMRegressor) and model.get_params()["n_jobs"] == 1
    assert len(model.booster_.pandas_categorical) == 4  # c0..c3 went in as categories


def test_temperature_scaling_lowers_the_out_of_fold_log_loss_and_keeps_classes(data, tmp_path):
    from tabmtl._ensemble.decoding import temper
    from tabmtl._ensemble.persistence import load_blend, save_blend
    from tabmtl._ensemble.weights import blend as weighted
    from tabmtl._ensemble.weights import task_loss

    (X, Y), (Xt, _) = data
    X, Y = X.iloc[:300], Y[["label", "flag"]].iloc[:300]
    fitted = MultiTaskBlend(net(max_epochs=5), cv=3, temperature_scaling=True).fit(X, Y)
    assert set(fitted.temperatures_) == {"label", "flag"}
    assert any(t != 1.0 for t in fitted.temperatures_.values())
    for task in fitted.target_spec_.tasks_:
        outputs = [fitted.oof_outputs_[name][task.name]
                   for name in fitted.task_learners_[task.name]]
        oof = weighted(outputs, fitted.weights_[task.name])
        y = task.encode(Y[task.name]).astype(float)
        tempered = temper(oof, fitted.temperatures_[task.name])
        assert task_loss(tempered, y, False) <= task_loss(oof, y, False) + 1e-12
        np.testing.assert_array_equal(tempered.argmax(axis=1), oof.argmax(axis=1))
    proba = fitted.predict_proba(Xt)["label"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (fitted.predict(Xt)["label"].cat.codes.to_numpy() == proba.to_numpy().argmax(1)).all()
    loaded = load_blend(save_blend(fitted, tmp_path / "t.blend"))
    pd.testing.assert_frame_equal(loaded.predict_proba(Xt)["label"], proba)


# several boosting learners, named


def test_several_boosting_learners_are_named_in_the_weights_and_scores(data):
    lgb = pytest.importorskip("lightgbm")
    (X, Y), _ = data
    X, Y = X.iloc[:200], Y[["smooth", "flag"]].iloc[:200]
    blend = MultiTaskBlend(net(max_epochs=3), boosting=("lightgbm", "histgb"), cv=2).fit(X, Y)
    assert blend.learners_ == ["net", "lightgbm", "histgb"]
    assert set(blend.task_blend_weights_.learner) == {"net", "lightgbm", "histgb"}
    assert list(blend.oof_scores_.columns) == ["net", "lightgbm", "histgb", "blend"]
    assert isinstance(blend.boosters_["lightgbm"]["smooth"], lgb.LGBMRegressor)
    assert isinstance(blend.boosters_["histgb"]["flag"], HistGradientBoostingClassifier)
    w = _weights(blend)
    assert np.allclose(w.groupby(level="task").sum(), 1.0) and (w >= 0).all()

    named = MultiTaskBlend(
        net(max_epochs=3),
        regressor={"fast": lgb.LGBMRegressor(n_estimators=10, verbose=-1),
                   "hgb": HistGradientBoostingRegressor(max_iter=10)},
        classifier=HistGradientBoostingClassifier(max_iter=10),
        cv=2,
    ).fit(X, Y)
    assert named.task_learners_ == {"smooth": ["net", "fast", "hgb"],
                                    "flag": ["net", "boosting"]}
    assert named.learners_ == ["net", "fast", "hgb", "boosting"]
    table_ = named.task_blend_weights_
    assert set(table_[table_.task == "flag"].learner) == {"net", "boosting"}
    assert np.isnan(named.oof_scores_.loc["flag", "fast"])
    assert named.predict(X).dtypes.to_dict() == Y.dtypes.to_dict()
    twin = clone(named)
    assert set(twin.regressor) == {"fast", "hgb"}
    assert twin.regressor["hgb"] is not named.regressor["hgb"]


def test_named_templates_save_and_load(data, tmp_path):
    lgb = pytest.importorskip("lightgbm")
    from tabmtl._ensemble.persistence import load_blend, save_blend

    (X, Y), (Xt, _) = data
    X, Y = X.iloc[:200], Y[["interact", "flag"]].iloc[:200]
    blend = MultiTaskBlend(
        net(max_epochs=2),
        regressor={"fast": lgb.LGBMRegressor(n_estimators=10, verbose=-1),
                   "hgb": HistGradientBoostingRegressor(max_iter=10)},
        cv=2,
    ).fit(X, Y)
    loaded = load_blend(save_blend(blend, tmp_path / "named.blend"))
    assert loaded.task_learners_ == {"interact": ["net", "fast", "hgb"],
                                     "flag": ["net", "lightgbm"]}
    assert loaded.regressor["fast"].get_params()["n_estimators"] == 10
    assert isinstance(loaded.regressor["hgb"], HistGradientBoostingRegressor)
    pd.testing.assert_frame_equal(loaded.predict(Xt), blend.predict(Xt))
    np.testing.assert_array_equal(
        loaded.predict_proba(Xt)["flag"].to_numpy(), blend.predict_proba(Xt)["flag"].to_numpy()
    )


def test_unknown_or_reused_learner_names_are_refused():
    X = pd.DataFrame({"x": np.arange(20.0)})
    Y = pd.DataFrame({"y": np.arange(20.0)})
    with pytest.raises(ValueError, match=r"Unknown boosting learner 'xgb'"):
        MultiTaskBlend(net(max_epochs=1), boosting="xgb", cv=2).fit(X, Y)
    with pytest.raises(ValueError, match=r"selection must be one of .*'auc'"):
        MultiTaskBlend(net(max_epochs=1), selection="auc", cv=2).fit(X, Y)
    with pytest.raises(ValueError, match=r"'net'"):
        MultiTaskBlend(
            net(max_epochs=1), regressor={"net": HistGradientBoostingRegressor()}, cv=2
        ).fit(X, Y)


# weights that do not lose on the task's score


def test_guarded_selection_keeps_the_better_ranker_when_the_loss_blend_loses_roc_auc():
    from tabmtl._ensemble.weights import blend, task_score

    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.5).astype(float)
    # A ranks perfectly but is overconfident and wrong in scale: its log loss is poor
    a = np.where(y == 1, 0.51 + 0.01 * rng.random(600), 0.49 - 0.01 * rng.random(600))
    # B is well calibrated but ranks worse
    b = np.clip(0.5 + 0.35 * (2 * y - 1) + 0.3 * rng.normal(size=600), 0.02, 0.98)
    outputs = [np.column_stack([1 - a, a]), np.column_stack([1 - b, b])]
    by_loss = choose_weights(outputs, y, False, selection="loss")
    assert by_loss[1] > 0  # the log-loss blend takes B in ...
    assert task_score(blend(outputs, by_loss), y, False) < task_score(outputs[0], y, False)
    # ... and loses ROC-AUC to A alone; the guarded choice keeps A
    assert choose_weights(outputs, y, False, selection="guarded").tolist() == [1.0, 0.0]
    by_score = choose_weights(outputs, y, False, selection="score")
    assert task_score(blend(outputs, by_score), y, False) >= task_score(outputs[0], y, False)


def test_guarded_weights_are_never_below_the_best_learner_out_of_fold(fitted, data):
    from tabmtl._ensemble.decoding import encoded_labels
    from tabmtl._ensemble.weights import blend, task_score

    (_, Y), _ = data
    assert fitted.selection == "loss"
    for task in fitted.target_spec_.tasks_:
        names = fitted.task_learners_[task.name]
        outputs = [fitted.oof_outputs_[n][task.name] for n in names]
        y = encoded_labels(task, Y[task.name])
        folds = fitted.oof_fold_
        w = choose_weights(outputs, y, task.is_regression, 50, "guarded", folds)
        parts = [task_score(o, y, task.is_regression, folds) for o in outputs]
        assert task_score(blend(outputs, w), y, task.is_regression, folds) >= max(parts)
        # oof_scores_ reports the same per-fold scores
        assert fitted.oof_scores_.loc[task.name, names].tolist() == pytest.approx(parts)


# HistGradientBoosting saved without pickle


def test_histgb_learners_save_and_load_bit_identically(data, tmp_path):
    from tabmtl._ensemble.histgb_io import OrdinalColumns
    from tabmtl._ensemble.persistence import load_blend, save_blend

    (X, Y), (Xt, _) = data
    X, Y = X.iloc[:240].copy(), Y.iloc[:240]
    X.loc[X.index[::9], "x0"] = np.nan
    X["c0"] = X.c0.astype(object).where(np.arange(len(X)) % 11 > 0)  # missing categories
    blend = MultiTaskBlend(net(max_epochs=3), boosting="histgb", cv=2).fit(X, Y)
    Xt = Xt.assign(c1=Xt.c1.astype(object).where(np.arange(len(Xt)) % 5 > 0, "unseen"))
    loaded = load_blend(save_blend(blend, tmp_path / "hgb.blend"))
    model = loaded.boosters_["histgb"]["interact"]
    assert isinstance(model, HistGradientBoostingRegressor)
    assert isinstance(model._preprocessor, OrdinalColumns)
    assert isinstance(loaded.boosters_["histgb"]["label"], HistGradientBoostingClassifier)
    pd.testing.assert_frame_equal(loaded.predict(Xt), blend.predict(Xt))
    for name, proba in blend.predict_proba(Xt).items():
        np.testing.assert_array_equal(loaded.predict_proba(Xt)[name].to_numpy(), proba.to_numpy())
    outs, back = blend.learner_outputs(Xt), loaded.learner_outputs(Xt)
    for name in ("smooth", "interact", "label", "flag"):
        np.testing.assert_array_equal(back["histgb"][name], outs["histgb"][name])
    assert loaded.task_learners_ == blend.task_learners_ and loaded.boosting == "histgb"
    # a loaded blend saves again
    again = load_blend(save_blend(loaded, tmp_path / "again.blend"))
    pd.testing.assert_frame_equal(again.predict(Xt), blend.predict(Xt))


def test_histgb_state_from_another_sklearn_minor_is_refused(data):
    from tabmtl._ensemble.histgb_io import histgb_from_state, histgb_state
    from tabmtl.io._model_json import ModelFileError

    (X, Y), _ = data
    model = HistGradientBoostingRegressor(max_iter=3).fit(X[["x0", "x1"]], Y.interact)
    meta, arrays = histgb_state(model)
    meta["sklearn"] = "0.1.0"
    with pytest.raises(ModelFileError, match=r"scikit-learn 0\.1\.0"):
        histgb_from_state(meta, arrays)


def test_groups_keep_each_group_on_one_side_of_every_cross_fitting_fold(data):
    (X, Y), _ = data
    X, Y = X.iloc[:120], Y[["smooth", "flag"]].iloc[:120]
    groups = np.arange(120) // 6
    blend = MultiTaskBlend(net(max_epochs=2), boosting="histgb", cv=3).fit(X, Y, groups=groups)
    for g in np.unique(groups):
        assert len(np.unique(blend.oof_fold_[groups == g])) == 1
    assert sorted(np.unique(blend.oof_fold_)) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"120 rows but groups has 7"):
        MultiTaskBlend(net(max_epochs=1), cv=3).fit(X, Y, groups=groups[:7])


def test_per_fold_roc_auc_ignores_a_shift_between_fold_models():
    from tabmtl._ensemble.weights import task_score

    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.5).astype(float)
    p = np.clip(0.3 + 0.4 * y + 0.2 * rng.normal(size=400), 0.01, 0.99)
    folds = np.arange(400) % 2
    shifted = np.where(folds == 1, p * 0.5, p)  # the second fold model predicts half as high
    proba = np.column_stack([1 - shifted, shifted])
    same = np.column_stack([1 - p, p])
    assert task_score(proba, y, False, folds) == pytest.approx(task_score(same, y, False, folds))
    assert task_score(proba, y, False) < task_score(same, y, False) - 0.01  # pooled: lower


class _CtrlC(Callback):
    """Presses Ctrl-C at the end of the net's second epoch."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt


def test_ctrl_c_in_a_net_ends_the_whole_blend_fit(data):
    # A net's own fit keeps its best epoch on Ctrl-C; a blend must not carry on with it.
    (X, Y), _ = data
    template = net(max_epochs=5, callbacks=[_CtrlC()])
    assert template.fit(X.iloc[:60], Y.iloc[:60]).interrupted_
    blend = MultiTaskBlend(template, cv=2)
    with pytest.raises(KeyboardInterrupt, match="interrupted while fitting its net"):
        blend.fit(X.iloc[:60], Y.iloc[:60])
    assert not hasattr(blend, "net_")
