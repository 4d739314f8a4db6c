import copy
import io
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_mixed
from skorch.callbacks import Callback, LRScheduler

from tabmtl import MultiTaskClassifier, MultiTaskEstimator, MultiTaskRegressor
from tabmtl.errors import InputError

FAST = dict(max_epochs=15, lr=1e-2, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    X, Y = make_mixed(400)
    return MultiTaskEstimator(**FAST).fit(X, Y), X, Y


def test_predict_keeps_names_dtypes_labels_and_index(fitted):
    model, X, Y = fitted
    Xi = X.set_axis(pd.Index(range(1000, 1000 + len(X)), name="trip"))
    pred = model.predict(Xi)
    assert list(pred.columns) == ["eta", "late", "band"]
    assert pred.index.equals(Xi.index)
    assert pred.dtypes.to_dict() == Y.dtypes.to_dict()
    assert list(pred["band"].cat.categories) == ["short", "mid", "long"]
    assert set(pred["late"].unique()) <= {True, False}


def test_learns_every_task(fitted):
    model, X, Y = fitted
    scores = model.score_tasks(X, Y)
    assert list(scores.index) == ["eta", "late", "band"]
    assert scores["eta"] > 0.9 and scores["late"] > 0.85 and scores["band"] > 0.85
    assert model.score(X, Y) == pytest.approx(scores.mean())


def test_predict_proba_is_a_dict_of_frames(fitted):
    model, X, _ = fitted
    proba = model.predict_proba(X.head(5))
    assert set(proba) == {"late", "band"}
    assert list(proba["band"].columns) == ["short", "mid", "long"]
    assert list(proba["late"].columns) == [False, True]
    for frame in proba.values():
        assert np.allclose(frame.sum(axis=1), 1.0)
        assert frame.index.equals(X.head(5).index)
    # predict is the argmax of predict_proba
    pred = model.predict(X.head(5))
    assert (proba["band"].idxmax(axis=1).to_numpy() == pred["band"].astype(object)).all()


def test_history_logs_each_task_per_epoch(fitted):
    model, _, _ = fitted
    assert model.n_epochs_ == 15
    row = model.history_[-1]
    for task in ("eta", "late", "band"):
        assert np.isfinite(row[f"train_loss_{task}"])
    first, last = model.history_[0], model.history_[-1]
    assert last["train_loss_eta"] < first["train_loss_eta"]


def test_string_object_int_and_boolean_targets_roundtrip():
    X, Y = make_mixed(200)
    Y = pd.DataFrame(
        {
            "s": pd.array(np.where(Y["late"], "late", "ok"), dtype="string"),
            "o": np.where(Y["band"] == "short", "a", "b").astype(object),
            "i": Y["band"].cat.codes.astype(np.int64) + 10,
            "nb": pd.array(Y["late"].to_numpy(), dtype="boolean"),
            "f32": Y["eta"].astype(np.float32),
        }
    )
    pred = MultiTaskEstimator(max_epochs=3, random_state=0).fit(X, Y).predict(X)
    assert pred.dtypes.to_dict() == Y.dtypes.to_dict()
    assert set(pred["i"].unique()) <= {10, 11, 12}
    assert set(pred["s"].unique()) <= {"late", "ok"}


def test_targets_override():
    X, Y = make_mixed(120)
    Y = Y.assign(level=Y["band"].cat.codes.astype(int))
    model = MultiTaskEstimator(targets={"level": "regression"}, max_epochs=2, random_state=0)
    model.fit(X, Y[["eta", "level"]])
    assert model.target_spec_.kinds_ == {"eta": "regression", "level": "regression"}
    assert model.predict(X)["level"].dtype == np.float64


def test_same_random_state_same_predictions_different_state_differs():
    X, Y = make_mixed(150)
    a = MultiTaskEstimator(max_epochs=3, random_state=7).fit(X, Y).predict(X)
    b = MultiTaskEstimator(max_epochs=3, random_state=7).fit(X, Y).predict(X)
    c = MultiTaskEstimator(max_epochs=3, random_state=8).fit(X, Y).predict(X)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["eta"], c["eta"])


def test_fit_leaves_the_global_torch_rng_alone():
    X, Y = make_mixed(60)
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    MultiTaskEstimator(max_epochs=1, random_state=0).fit(X, Y)
    assert torch.equal(torch.rand(1), expected)


# -- missing labels --------------------------------------------------------------------


def test_missing_label_spellings_are_equivalent():
    X, Y = make_mixed(200)
    rows = np.arange(0, 200, 3)
    spellings = []
    for missing in (np.nan, None, pd.NA):
        Yi = Y.astype({"late": "boolean", "band": object})
        Yi["band"] = Yi["band"].astype(object)
        Yi.loc[rows, "band"] = missing
        Yi.loc[rows + 1, "late"] = pd.NA
        spellings.append(MultiTaskEstimator(max_epochs=3, random_state=0).fit(X, Yi).predict(X))
    pd.testing.assert_frame_equal(spellings[0], spellings[1])
    pd.testing.assert_frame_equal(spellings[0], spellings[2])


def test_rows_missing_one_label_still_train_the_other_tasks():
    """A row's missing 'late' label must not stop it from teaching 'eta'."""
    X, Y = make_mixed(300)
    eta_only = np.arange(300) >= 100
    Ym = Y[["eta", "late"]].astype({"late": "boolean"})
    Ym.loc[eta_only, "late"] = pd.NA
    # eta of rows 100+ is only learnable if those rows train the eta head
    Ym.loc[eta_only, "eta"] += 1000.0
    model = MultiTaskEstimator(max_epochs=20, lr=1e-2, random_state=0).fit(X, Ym)
    pred = model.predict(X)["eta"]
    assert (pred[eta_only] > 500).mean() > 0.95
    assert model.score_tasks(X, Ym)["late"] > 0.8  # late was still learned from 100 rows


def test_rows_without_any_label_are_dropped_with_a_warning():
    X, Y = make_mixed(100)
    Y = Y.astype({"late": "boolean", "band": object})
    Y.loc[:9, :] = None
    with pytest.warns(UserWarning, match="Dropping 10 rows of 100"):
        model = MultiTaskEstimator(max_epochs=1, random_state=0).fit(X, Y)
    assert model.net_.history[-1]["train_batch_count"] == 1  # 90 rows, one batch
    assert sum(model.net_.history[-1, "batches", :, "train_batch_size"]) == 90


def test_score_tasks_ignores_missing_labels():
    X, Y = make_mixed(200, missing=0.2)
    Y = Y.astype({"late": "boolean"})
    model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    scores = model.score_tasks(X, Y)
    assert scores.notna().all()
    Y_none = Y.assign(eta=np.nan)
    assert np.isnan(model.score_tasks(X, Y_none)["eta"])


# -- training controls -----------------------------------------------------------------


def test_early_stopping_uses_a_validation_split_and_stops():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=300)})
    Y = pd.DataFrame({"noise": rng.normal(size=300), "also": rng.normal(size=300)})
    model = MultiTaskEstimator(
        early_stopping=True, patience=3, max_epochs=200, lr=3e-2, random_state=0
    ).fit(X, Y)
    assert model.n_epochs_ < 200
    row = model.history_[-1]
    assert "valid_loss_noise" in row and "valid_loss" in row
    assert sum(model.net_.history[0, "batches", :, "train_batch_size"]) == 270
    # skorch stops by raising KeyboardInterrupt: not a user's interrupt, best epoch kept
    assert model.interrupted_ is False and model.net_.stopped_early_ is True
    objectives = [r["valid_objective"] for r in model.history_]
    assert model.best_epoch_ == 1 + int(np.argmin(objectives)) < model.n_epochs_


class _TrainingData(Callback):
    """Keeps the dataset skorch trains on (its ``y`` carries the per-row task weights)."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.dataset_ = X


def _early_stopping_rows(n, fraction=0.2, seed=0):
    """The early-stopping split of ``n`` rows: skorch's ValidSplit, seeded by random_state."""
    from sklearn.model_selection import ShuffleSplit

    return next(ShuffleSplit(test_size=fraction, random_state=seed).split(np.arange(n)))


def test_early_stopping_rows_do_not_move_the_target_statistics():
    X, Y = make_mixed(200)
    train, valid = _early_stopping_rows(len(Y))
    extreme = Y.copy()
    extreme.loc[valid, "eta"] = 1e4  # what the net is judged on must not shape its targets
    kw = dict(early_stopping=True, validation_fraction=0.2, max_epochs=1, random_state=0)
    model = MultiTaskEstimator(**kw).fit(X, extreme)
    eta = model.target_spec_.tasks_[0]
    assert eta.mean_ == pytest.approx(Y["eta"].iloc[train].mean())
    assert eta.scale_ == pytest.approx(Y["eta"].iloc[train].std(ddof=0))
    # the validation rows are still scored in the network's (training) units
    assert model.history_[-1]["valid_loss_eta"] > 100


def test_early_stopping_rows_do_not_count_in_balanced_class_weights():
    X, Y = make_mixed(200)
    train, valid = _early_stopping_rows(len(Y))
    Y.loc[valid, "late"] = True  # validation rows would tilt the class balance
    model = MultiTaskEstimator(
        early_stopping=True, validation_fraction=0.2, max_epochs=1, random_state=0,
        class_weight="balanced", callbacks=[("spy", _TrainingData())],
    ).fit(X, Y)
    late = Y["late"].iloc[train].to_numpy()
    expected = np.where(late, len(late) / (2 * late.sum()), len(late) / (2 * (~late).sum()))
    dataset = dict(model.net_.callbacks_)["spy"].dataset_
    weights = dataset.y[:, 3 + 1].numpy()  # after the 3 targets: the 'late' task's weights
    assert len(weights) == len(train)
    np.testing.assert_allclose(np.sort(weights), np.sort(expected.astype(np.float32)))


def test_checkpoint_dir_receives_best_params(tmp_path):
    X, Y = make_mixed(80)
    model = MultiTaskEstimator(max_epochs=3, random_state=0, checkpoint_dir=tmp_path).fit(X, Y)
    assert (tmp_path / "params.pt").exists() and (tmp_path / "history.json").exists()
    state = torch.load(tmp_path / "params.pt", weights_only=True)
    assert set(state) == set(model.net_.module_.state_dict())


def test_user_callbacks_run_and_are_cloned():
    X, Y = make_mixed(80)
    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    model = MultiTaskEstimator(max_epochs=3, lr=0.1, callbacks=[sched], random_state=0).fit(X, Y)
    assert model.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)
    assert not hasattr(sched, "lr_scheduler_"), "the user's callback object must stay unfitted"


def test_verbose_prints_per_task_losses(capsys):
    X, Y = make_mixed(60)
    MultiTaskEstimator(max_epochs=2, verbose=1, random_state=0).fit(X, Y)
    out = capsys.readouterr().out
    assert "train_loss_eta" in out and "train_loss_band" in out


def test_pickle_round_trip_gives_identical_predictions(fitted):
    model, X, _ = fitted
    buf = io.BytesIO()
    pickle.dump(model, buf)
    again = pickle.loads(buf.getvalue())
    pd.testing.assert_frame_equal(again.predict(X), model.predict(X))


def test_array_features_are_accepted():
    X, Y = make_mixed(100)
    Xa = X[["km", "hour"]].to_numpy()
    model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(Xa, Y)
    assert model.n_features_in_ == 2 and not hasattr(model, "feature_names_in_")
    assert model.predict(Xa).shape == (100, 3)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(np.zeros((2, 3)))


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda X, Y: (X, Y.assign(eta=np.nan)), ValueError, "'eta' is entirely missing"),
        (lambda X, Y: (X, Y.assign(band="same")), ValueError, "'band' has only one class"),
        (
            lambda X, Y: (X, Y.assign(eta=Y["eta"].where(Y.index != 3, np.inf))),
            ValueError,
            "'eta' contains infinite",
        ),
        (lambda X, Y: (X.iloc[:-1], Y), ValueError, "X has 49 rows but Y has 50"),
        (lambda X, Y: (X.iloc[:0], Y.iloc[:0]), ValueError, "empty"),
        (lambda X, Y: (X, Y.to_numpy()), TypeError, "Y must be a pandas DataFrame"),
        (
            lambda X, Y: (X.assign(km=X["km"].where(X.index != 2, -np.inf)), Y),
            ValueError,
            "'km' contains infinite",
        ),
    ],
)
def test_bad_fit_input_is_named(mutate, error, match):
    X, Y = mutate(*make_mixed(50))
    with pytest.raises(error, match=match):
        MultiTaskEstimator(max_epochs=1).fit(X, Y)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda X, Y: (X, Y.assign(band="same")), "'band' has only one class"),
        (lambda X, Y: (X, pd.concat([Y, Y["eta"]], axis=1)), "duplicated column names"),
        (lambda X, Y: (X, Y.to_numpy()), "Y must be a pandas DataFrame"),
    ],
)
def test_bad_input_raises_tabmtls_own_input_error(mutate, match):
    """The command line tells bad input (exit 2) from a bug by this class alone."""
    X, Y = mutate(*make_mixed(50))
    with pytest.raises(InputError, match=match):
        MultiTaskEstimator(max_epochs=1).fit(X, Y)


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("weighting", "magic", r"Unknown weighting 'magic'; valid names are \["),
        ("architecture", "deep", r"Unknown architecture 'deep'; valid names are \[.*'hard'"),
        ("weighting", {"nope": 1.0}, r"targets that do not exist: \['nope'\]"),
        ("dropout", 1.5, "dropout must be in"),
        ("batch_size", 0, "batch_size must be a positive integer"),
    ],
)
def test_bad_parameters_are_explained(param, value, match):
    X, Y = make_mixed(30)
    with pytest.raises(ValueError, match=match):
        MultiTaskEstimator(max_epochs=1, **{param: value}).fit(X, Y)


def test_predict_schema_errors_are_named(fitted):
    model, X, _ = fitted
    with pytest.raises(ValueError, match=r"missing columns \['zone'\]"):
        model.predict(X.drop(columns="zone"))
    with pytest.raises(ValueError, match=r"unexpected columns \['extra'\]"):
        model.predict(X.assign(extra=1.0))
    with pytest.raises(ValueError, match="'km' was numeric in fit but is categorical"):
        model.predict(X.assign(km=X["km"].astype(str)))
    with pytest.raises(ValueError, match="fitted on a DataFrame"):
        model.predict(X.to_numpy())


def test_predict_handles_reordered_columns_and_unseen_categories(fitted):
    model, X, _ = fitted
    pd.testing.assert_frame_equal(model.predict(X[X.columns[::-1]]), model.predict(X))
    odd = X.head(3).copy()
    odd["zone"] = pd.Categorical(["west", "nowhere", "north"])
    pred = model.predict(odd)
    assert len(pred) == 3 and pred["eta"].notna().all()


def test_predict_on_empty_frame(fitted):
    model, X, Y = fitted
    pred = model.predict(X.iloc[:0])
    assert pred.shape == (0, 3) and pred.dtypes.to_dict() == Y.dtypes.to_dict()


# -- array estimators ------------------------------------------------------------------


def test_regressor_1d_and_2d_with_missing_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.column_stack([X[:, 0] * 2, X[:, 1] - X[:, 2]])
    y[::5, 1] = np.nan
    reg = MultiTaskRegressor(**FAST).fit(X, y)
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X[1::5], y[1::5]) > 0.8
    assert MultiTaskRegressor(max_epochs=2).fit(X, y[:, 0]).predict(X).shape == (200,)


def test_classifier_multilabel_conventions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.column_stack([np.where(X[:, 0] > 0, "pos", "neg"), (X[:, 1] > 0).astype(int) + 1])
    y = y.astype(object)
    y[:, 1] = y[:, 1].astype(int)
    clf = MultiTaskClassifier(**FAST).fit(X, y)
    assert [list(c) for c in clf.classes_] == [["neg", "pos"], [1, 2]]
    proba = clf.predict_proba(X)
    assert isinstance(proba, list) and [p.shape for p in proba] == [(200, 2), (200, 2)]
    pred = clf.predict(X)
    assert pred.shape == (200, 2) and set(pred[:, 0]) <= {"neg", "pos"}
    single = MultiTaskClassifier(max_epochs=2).fit(X, y[:, 0])
    assert list(single.classes_) == ["neg", "pos"] and single.predict_proba(X).shape == (200, 2)


def test_classifier_rejects_continuous_targets():
    with pytest.raises(ValueError, match="Unknown label type"):
        MultiTaskClassifier(max_epochs=1).fit(np.zeros((4, 1)), [0.1, 0.2, 0.3, 0.4])


# -- divergence ----------------------------------------------------------------------------


def test_divergence_names_the_task_and_keeps_the_best_weights():
    from tabmtl._training.net import TrainingDiverged

    X, Y = make_mixed(120)
    # two sane epochs, then a learning rate that blows the weights up
    explode = LRScheduler(policy="LambdaLR", lr_lambda=lambda epoch: 1.0 if epoch < 2 else 1e30)
    model = MultiTaskEstimator(max_epochs=8, lr=1e-2, callbacks=[explode], random_state=0)
    with pytest.raises(TrainingDiverged, match=r"loss of task\(s\) \[.*'eta'.*\] became") as err:
        model.fit(X, Y)
    assert "keeps the weights of epoch" in str(err.value)
    assert isinstance(err.value, ValueError)
    pred = model.predict(X)
    assert pred["eta"].notna().all() and np.isfinite(pred["eta"]).all()
    assert model.score_tasks(X, Y)["eta"] > 0  # the kept weights are trained, not garbage
    assert 2 < model.n_epochs_ < 8


def test_divergence_in_the_first_epoch_leaves_no_model():
    from sklearn.exceptions import NotFittedError

    from tabmtl._training.net import TrainingDiverged

    X, Y = make_mixed(60)
    model = MultiTaskEstimator(max_epochs=3, lr=1e30, random_state=0)
    with pytest.raises(TrainingDiverged, match="no usable weights"):
        model.fit(X, Y)
    with pytest.raises(NotFittedError):
        model.predict(X)


# -- sample and class weights ----------------------------------------------------------------


def _imbalanced(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    rare = (X["x"] + 0.8 * rng.normal(size=n)) > 1.6  # about 8% positives, noisy
    Y = pd.DataFrame({"rare": rare, "level": X["z"] * 2 + rng.normal(size=n)})
    return X, Y


def test_balanced_class_weight_raises_minority_recall():
    X, Y = _imbalanced()
    kw = dict(max_epochs=15, lr=1e-2, random_state=0)
    plain = MultiTaskEstimator(**kw).fit(X, Y).predict(X)["rare"]
    balanced = MultiTaskEstimator(class_weight="balanced", **kw).fit(X, Y).predict(X)["rare"]
    recall = lambda pred: (pred & Y["rare"]).sum() / Y["rare"].sum()  # noqa: E731
    assert recall(balanced) > recall(plain) + 0.2
    assert balanced.sum() > plain.sum()


def test_zero_sample_weight_rows_do_not_teach():
    X, Y = _imbalanced()
    weight = np.where(Y["rare"], 0.0, 1.0)  # the model never sees a weighted positive
    model = MultiTaskEstimator(max_epochs=10, lr=1e-2, random_state=0)
    pred = model.fit(X, Y, sample_weight=weight).predict(X)
    assert not pred["rare"].any()
    assert model.score_tasks(X, Y)["level"] > 0.7  # the other task still trains on them


def test_class_weight_dict_and_missing_labels():
    X, Y = _imbalanced()
    Y = Y.astype({"rare": "boolean"})
    Y.loc[::4, "rare"] = pd.NA
    model = MultiTaskEstimator(class_weight={"rare": {True: 8.0}}, max_epochs=3, random_state=0)
    assert model.fit(X, Y).predict(X)["rare"].notna().all()


@pytest.mark.parametrize(
    ("kwargs", "fit_kwargs", "match"),
    [
        ({"class_weight": {"level": "balanced"}}, {}, "'level', which is not a classification"),
        ({"class_weight": {"rare": {"yes": 2.0}}}, {}, r"labels \['yes'\] that are not"),
        ({}, {"sample_weight": np.ones(3)}, "sample_weight has 3 values but Y has 400"),
        ({}, {"sample_weight": -np.ones(400)}, "finite and >= 0"),
    ],
)
def test_bad_weights_are_explained(kwargs, fit_kwargs, match):
    X, Y = _imbalanced()
    with pytest.raises(ValueError, match=match):
        MultiTaskEstimator(max_epochs=1, **kwargs).fit(X, Y, **fit_kwargs)


# -- interruption ----------------------------------------------------------------------------


class _Snapshots(Callback):
    """Copies the module's weights at the end of every epoch, and raises KeyboardInterrupt
    (what Ctrl-C does) after the first training batch of epoch ``stop_in``."""

    def __init__(self, stop_in=3):
        self.stop_in = stop_in

    def initialize(self):
        self.weights_ = {}
        return self

    def on_epoch_end(self, net, **kwargs):
        self.weights_[len(net.history)] = copy.deepcopy(net.module_.state_dict())

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == self.stop_in:
            raise KeyboardInterrupt


def test_interrupted_fit_keeps_the_best_finished_epoch():
    X, Y = make_mixed(200)
    model = MultiTaskEstimator(
        max_epochs=8, batch_size=32, callbacks=[("snap", _Snapshots())], random_state=0
    ).fit(X, Y)
    assert model.interrupted_ is True
    # epoch 3 was cut short: its history row is gone, epochs 1 and 2 finished
    assert model.n_epochs_ == 2 and len(model.history_) == 2
    assert all("train_loss" in row for row in model.history_)
    losses = [row["train_loss"] for row in model.history_]
    assert model.best_epoch_ == 1 + int(np.argmin(losses))
    snapshot = dict(model.net_.callbacks_)["snap"].weights_[model.best_epoch_]
    got = model.net_.module_.state_dict()
    assert all(torch.equal(got[k], snapshot[k]) for k in snapshot)
    assert np.isfinite(model.predict(X)["eta"]).all()


def test_interrupt_before_any_epoch_finished_and_normal_fits():
    X, Y = make_mixed(100)
    stopped = MultiTaskEstimator(
        max_epochs=3, batch_size=32, callbacks=[_Snapshots(stop_in=1)], random_state=0
    ).fit(X, Y)
    assert stopped.interrupted_ and stopped.best_epoch_ is None and stopped.n_epochs_ == 0
    model = MultiTaskEstimator(max_epochs=3, random_state=0).fit(X, Y)
    assert model.interrupted_ is False and model.n_epochs_ == 3
    assert model.best_epoch_ == 1 + int(np.argmin([r["train_loss"] for r in model.history_]))


def test_auto_early_stopping_holds_out_rows_only_on_tables_large_enough():
    from tabmtl._training.build import AUTO_EARLY_STOPPING_ROWS

    rng = np.random.default_rng(0)

    def fit(n):
        X = pd.DataFrame({"x": rng.normal(size=n)})
        Y = pd.DataFrame({"y": X.x + rng.normal(size=n)})
        return MultiTaskEstimator(early_stopping="auto", max_epochs=3, random_state=0).fit(X, Y)

    small, large = fit(AUTO_EARLY_STOPPING_ROWS - 50), fit(AUTO_EARLY_STOPPING_ROWS + 50)
    assert not small.early_stopping_ and "valid_objective" not in small.history_[-1]
    assert large.early_stopping_ and "valid_objective" in large.history_[-1]
    assert "early_stopping" in dict(large.net_.callbacks_)
    with pytest.raises(ValueError, match="early_stopping must be True, False or 'auto'"):
        MultiTaskEstimator(early_stopping="yes").fit(pd.DataFrame({"x": [1.0, 2.0]}),
                                                     pd.DataFrame({"y": [1.0, 2.0]}))
