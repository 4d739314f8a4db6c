"""Distributional regression heads and split-conformal prediction intervals."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from tabmtl import MultiTaskEstimator
from tabmtl._uncertainty.conformal import conformal_quantile


def _heteroscedastic(n: int, seed: int):
    """Three regression targets sharing mean sin(3x) and noise sd 0.1 + 0.45 (x + 1), plus
    a binary target; ``x`` is uniform on [-1, 1] and ``noise`` an irrelevant feature."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    sd = 0.1 + 0.45 * (x + 1)
    mean = np.sin(3 * x)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=n)})
    Y = pd.DataFrame(
        {
            "point": mean + sd * rng.normal(size=n),
            "gauss": mean + sd * rng.normal(size=n),
            "quant": mean + sd * rng.normal(size=n),
            "high": rng.random(n) < 1 / (1 + np.exp(-3 * x)),
        }
    )
    return X, Y, sd


KINDS = {"gauss": "gaussian", "quant": "quantile"}
SMALL = dict(  # the heads are under test: one plain trunk, whatever the default body
    architecture="hard",
    max_epochs=20,
    lr=3e-3,
    batch_size=128,
    hidden_layer_sizes=(32, 32),
    dropout=0.0,
    random_state=0,
)


@pytest.fixture(scope="module")
def calibrated():
    """Trained on 1400 rows, conformal scores from 600 held-out rows; 5000 test rows."""
    X, Y, _ = _heteroscedastic(2000, 0)
    model = MultiTaskEstimator(targets=KINDS, calibration_fraction=0.3, **SMALL).fit(X, Y)
    return model, _heteroscedastic(5000, 1)


@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_conformal_intervals_reach_the_promised_coverage_for_every_head(calibrated, alpha):
    model, (X, Y, _) = calibrated
    report = model.interval_coverage(X, Y, alpha=alpha)
    assert list(report.index) == ["point", "gauss", "quant"]
    assert (report["n"] == 5000).all()
    # sd of the coverage over calibration draws ~ sqrt(alpha (1 - alpha) / 600) <= 0.017;
    # conformal promises at least 1 - alpha, so allow a little more room above
    assert report["coverage"].between(1 - alpha - 0.03, 1 - alpha + 0.04).all(), report


def test_gaussian_std_tracks_the_true_noise(calibrated):
    model, (X, _, sd) = calibrated
    _, std = model.predict(X, return_std=True)
    assert list(std.columns) == ["gauss"]
    ratio = std["gauss"].to_numpy() / sd
    assert np.corrcoef(std["gauss"], sd)[0, 1] > 0.95
    assert 0.85 < np.median(ratio) < 1.15
    assert std.index.equals(X.index) and std["gauss"].dtype == np.float64


def test_normalised_scores_make_gaussian_intervals_adaptive(calibrated):
    model, (X, _, sd) = calibrated
    iv = model.predict_interval(X, alpha=0.1)
    width = {name: (iv[name]["upper"] - iv[name]["lower"]).to_numpy() for name in KINDS}
    width["point"] = (iv["point"]["upper"] - iv["point"]["lower"]).to_numpy()
    noisy, calm = X["x"].to_numpy() > 0.5, X["x"].to_numpy() < -0.5
    assert np.ptp(width["point"]) < 1e-9  # absolute residuals: one width for all rows
    # gaussian and CQR intervals follow the noise level (true sd ratio: 4.2)
    assert width["gauss"][noisy].mean() > 3 * width["gauss"][calm].mean()
    assert width["quant"][noisy].mean() > 2 * width["quant"][calm].mean()
    # the oracle 90% interval is 2 * 1.645 * sd; adaptivity beats the constant width
    oracle = 2 * 1.645 * sd.mean()
    assert width["gauss"].mean() < 0.95 * width["point"].mean()
    assert width["gauss"].mean() < 1.1 * oracle


def test_interval_frame_layout(calibrated):
    model, (X, _, _) = calibrated
    Xi = X.head(7).set_axis(pd.Index(range(100, 107), name="trip"))
    iv = model.predict_interval(Xi)
    assert iv.columns.tolist() == [
        (name, side) for name in ("point", "gauss", "quant") for side in ("lower", "upper")
    ]
    assert iv.index.equals(Xi.index) and (iv.dtypes == np.float64).all()
    assert model.predict_interval(Xi, targets=["quant"]).columns.tolist() == [
        ("quant", "lower"),
        ("quant", "upper"),
    ]
    pred = model.predict(Xi)
    for name in ("point", "gauss", "quant"):
        assert (iv[name]["lower"] <= pred[name]).all() and (pred[name] <= iv[name]["upper"]).all()


def test_quantile_head_never_crosses_and_its_own_interval_is_its_outer_levels(calibrated):
    model, (X, Y, _) = calibrated
    raw = model._raw_predict(X)
    task = model.target_spec_.tasks_[2]
    q = task.quantiles(raw[:, model.target_spec_.slices_[2]])
    assert (np.diff(q, axis=1) >= 0).all()
    own = model.predict_interval(X, method="model", targets=["quant"])["quant"]
    assert np.allclose(own["lower"], q[:, 0]) and np.allclose(own["upper"], q[:, 2])
    assert np.allclose(model.predict(X)["quant"], q[:, 1])
    # the uncalibrated heads are roughly right on this easy problem, not guaranteed
    report = model.interval_coverage(X, Y, method="model", targets=["gauss", "quant"])
    assert report["coverage"].between(0.83, 0.97).all(), report


def test_conformal_interval_is_the_stored_quantile_of_scores(calibrated):
    model, (X, _, _) = calibrated
    j = 0  # the point head: interval = prediction +- q * scale
    n = model.calibration_counts_[j]
    assert n == 600 and (np.diff(model.conformal_scores_[:n, j]) >= 0).all()
    q = conformal_quantile(model.conformal_scores_[:n, j], 0.1)
    iv = model.predict_interval(X.head(5), targets=["point"])["point"]
    pred = model.predict(X.head(5))["point"]
    half = q * model.target_spec_.tasks_[j].scale_
    assert np.allclose(iv["upper"] - pred, half) and np.allclose(pred - iv["lower"], half)


def test_missing_labels_stay_out_of_the_conformal_scores():
    """Blanking labels of held-out rows leaves the net and the other rows' scores as they
    were: the calibration split depends on the labelled row count and the seed only."""
    X, Y, _ = _heteroscedastic(300, 3)
    params = dict(SMALL, max_epochs=3, calibration_fraction=0.5)
    full = MultiTaskEstimator(targets=KINDS, **params).fit(X, Y)
    held = np.sort(np.random.default_rng(0).permutation(300)[:150])
    blank = held[::3]  # 50 held-out rows lose their "gauss" label (others remain)
    Y_missing = Y.copy()
    Y_missing.loc[blank, "gauss"] = np.nan
    part = MultiTaskEstimator(targets=KINDS, **params).fit(X, Y_missing)
    assert full.calibration_counts_.tolist() == [150, 150, 150, 150]
    assert part.calibration_counts_.tolist() == [150, 100, 150, 150]
    gauss = part.conformal_scores_[:, 1]
    assert np.isnan(gauss[100:]).all() and not np.isnan(gauss[:100]).any()
    # the same scores as the full model's, minus those of the blanked rows
    task, cols = full.target_spec_.tasks_[1], full.target_spec_.slices_[1]
    kept = np.setdiff1d(held, blank)
    raw = full._raw_predict(X.iloc[kept])
    z = task.encode(Y["gauss"].iloc[kept])
    assert np.allclose(gauss[:100], np.sort(task.conformity_scores(raw[:, cols], z)))
    assert np.array_equal(part.conformal_scores_[:, 0], full.conformal_scores_[:, 0])


def test_predict_std_and_intervals_need_a_suitable_head():
    X, Y, _ = _heteroscedastic(200, 4)
    model = MultiTaskEstimator(targets=KINDS, max_epochs=2, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match=r"'point'.*calibration_fraction > 0.*'gaussian'"):
        model.predict_interval(X)
    with pytest.raises(ValueError, match="no conformal calibration"):
        model.predict_interval(X, targets=["gauss"], method="conformal")
    with pytest.raises(ValueError, match=r"alpha=0\.2 needs conformal calibration"):
        model.predict_interval(X, alpha=0.2, targets=["quant"])
    no_gaussian = MultiTaskEstimator(targets={"quant": "quantile"}, max_epochs=2, random_state=0)
    no_gaussian.fit(X, Y[["point", "quant", "high"]])
    with pytest.raises(ValueError, match=r"'point': 'regression', 'quant': 'quantile', 'high'"):
        no_gaussian.predict(X, return_std=True)
    with pytest.raises(ValueError, match="classification targets"):
        model.predict_interval(X, targets=["high"])
    with pytest.raises(ValueError, match="Unknown targets"):
        model.predict_interval(X, targets=["nope"])
    with pytest.raises(ValueError, match="alpha must be in"):
        model.predict_interval(X, alpha=1.0, targets=["gauss"])
    with pytest.raises(ValueError, match="method must be"):
        model.predict_interval(X, targets=["gauss"], method="bayes")
    # gaussian intervals at any alpha, std for a model whose regression heads are gaussian
    assert model.predict_interval(X, alpha=0.37, targets=["gauss"]).shape == (200, 2)
    only_gauss = MultiTaskEstimator(targets={"gauss": "gaussian"}, max_epochs=2, random_state=0)
    only_gauss.fit(X, Y[["gauss", "high"]])
    pred, std = only_gauss.predict(X, return_std=True)
    assert list(pred.columns) == ["gauss", "high"] and list(std.columns) == ["gauss"]
    assert (std["gauss"] > 0).all()
    classes_only = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y[["high"]])
    with pytest.raises(ValueError, match="no regression target"):
        classes_only.predict_interval(X)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, True, "0.2", None])
def test_calibration_fraction_is_validated(fraction):
    X, Y, _ = _heteroscedastic(50, 5)
    with pytest.raises(ValueError, match=r"calibration_fraction must be a number in \[0, 1\)"):
        MultiTaskEstimator(calibration_fraction=fraction, max_epochs=1).fit(X, Y)


def test_calibration_split_must_leave_rows_on_both_sides():
    X, Y, _ = _heteroscedastic(50, 5)
    with pytest.raises(ValueError, match="leaves 0 calibration and 50 training rows"):
        MultiTaskEstimator(calibration_fraction=0.001, max_epochs=1).fit(X, Y)


def test_too_few_calibration_rows_give_unbounded_intervals_with_a_warning():
    X, Y, _ = _heteroscedastic(60, 6)
    model = MultiTaskEstimator(calibration_fraction=0.1, max_epochs=2, random_state=0)
    model.fit(X, Y)  # 6 calibration rows: alpha = 0.1 needs at least 9
    with pytest.warns(UserWarning, match="unbounded"):
        iv = model.predict_interval(X, alpha=0.1)
    assert np.isinf(iv["point"]["upper"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(model.predict_interval(X, alpha=0.3).to_numpy()).all()


def test_calibration_with_early_stopping_and_pickling():
    X, Y, _ = _heteroscedastic(400, 7)
    model = MultiTaskEstimator(
        targets=KINDS, calibration_fraction=0.25, early_stopping=True, **SMALL
    ).fit(X, Y)
    assert model.calibration_counts_.tolist() == [100] * 4
    twin = pickle.loads(pickle.dumps(model))
    assert twin.predict_interval(X).equals(model.predict_interval(X))
    assert np.array_equal(twin.temperatures_, model.temperatures_)
