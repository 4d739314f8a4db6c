"""tabmtl._uncertainty: ECE, reliability curves, conformal quantiles, and temperature
scaling inside the estimators."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabmtl import MultiTaskClassifier, MultiTaskEstimator
from tabmtl._data.features import as_frame
from tabmtl._uncertainty.calibration import expected_calibration_error, reliability_curve
from tabmtl._uncertainty.conformal import conformal_quantile, interval_coverage
from tabmtl._uncertainty.temperature import TEMPERATURE_RANGE, fit_temperature

# -- expected calibration error ---------------------------------------------------------------


def test_ece_of_a_hand_computed_case():
    # bin (0.8, 0.867]: conf 0.85, 1/2 right; bin (0.933, 1]: conf 0.95, 2/2 right
    proba = np.array([[0.85, 0.15], [0.15, 0.85], [0.95, 0.05], [0.05, 0.95]])
    y = np.array([0, 0, 0, 1])
    expected = (2 * abs(0.5 - 0.85) + 2 * abs(1.0 - 0.95)) / 4
    assert expected_calibration_error(y, proba) == pytest.approx(expected)


def test_ece_is_near_zero_for_calibrated_and_large_for_overconfident_probabilities():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20_000)
    y = (rng.random(20_000) < p).astype(int)  # labels drawn from the stated probabilities
    calibrated = np.column_stack([1 - p, p])
    assert expected_calibration_error(y, calibrated) < 0.02
    sharp = np.column_stack([1 - (p > 0.5), p > 0.5]).astype(float)  # always 100% sure
    assert expected_calibration_error(y, sharp) > 0.2


def test_ece_accepts_positive_class_probability_and_booleans():
    p = np.array([0.9, 0.2, 0.7, 0.4])
    y = np.array([True, False, False, False])
    two_col = np.column_stack([1 - p, p])
    assert expected_calibration_error(y, p) == expected_calibration_error(y.astype(int), two_col)


def test_ece_rejects_text_labels_and_out_of_range_indices():
    proba = np.array([[0.6, 0.4], [0.3, 0.7]])
    with pytest.raises(ValueError, match="class indices"):
        expected_calibration_error(np.array(["a", "b"], dtype=object), proba)
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        expected_calibration_error([0, 2], proba)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0, 1], proba, n_bins=0)


def test_reliability_curve_bins_and_ece_agree():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet([1, 1, 1], size=500)
    y = rng.integers(0, 3, 500)
    curve = reliability_curve(y, proba, n_bins=10)
    assert curve["count"].sum() == 500 and len(curve["bin_edges"]) == 11
    used = curve["count"] > 0
    # top-label confidence of 3 classes is at least 1/3: the lowest bins stay empty
    assert not used[:3].any() and np.isnan(curve["accuracy"][~used]).all()
    inside = (curve["confidence"][used] > curve["bin_edges"][:-1][used]) & (
        curve["confidence"][used] <= curve["bin_edges"][1:][used]
    )
    assert inside.all()
    weighted = np.abs(curve["accuracy"] - curve["confidence"])[used] @ curve["count"][used] / 500
    assert expected_calibration_error(y, proba, n_bins=10) == pytest.approx(weighted)


# -- conformal quantile and coverage ----------------------------------------------------------


def test_conformal_quantile_is_the_finite_sample_corrected_order_statistic():
    scores = np.arange(1.0, 20.0)  # n = 19
    # k = ceil(20 * 0.9) = 18 -> the 18th smallest, not numpy's 90% quantile (17.2)
    assert conformal_quantile(scores, 0.1) == 18.0
    assert conformal_quantile(scores, 0.05) == 19.0  # k = 19 = n
    assert conformal_quantile(scores[:-1], 0.05) == np.inf  # k = 19 > n = 18
    assert conformal_quantile(np.r_[scores, np.nan], 0.1) == 18.0  # NaN = no label
    assert np.isnan(conformal_quantile([np.nan], 0.1))


def test_conformal_quantile_covers_exchangeable_scores_at_the_promised_rate():
    rng = np.random.default_rng(2)
    n_cal, alpha, trials = 49, 0.1, 4000
    scores = rng.exponential(size=(trials, n_cal + 1))  # last one is the "test" score
    covered = [s[-1] <= conformal_quantile(s[:-1], alpha) for s in scores]
    # exact for continuous scores: ceil(50 * 0.9) / 50 = 0.9 (sd of the mean ~0.005)
    assert np.mean(covered) == pytest.approx(0.9, abs=0.015)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, "x", None])
def test_conformal_quantile_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        conformal_quantile([1.0, 2.0], alpha)


def test_interval_coverage_skips_missing_labels():
    out = interval_coverage([1.0, 5.0, np.nan, 2.0], [0, 0, 0, 1], [2, 4, 1, np.inf])
    assert out == {"coverage": pytest.approx(2 / 3), "mean_width": 3.0, "n": 3}


# -- temperature scaling ------------------------------------------------------------------------


@pytest.mark.parametrize("true_temperature", [0.5, 3.0])
def test_fit_temperature_recovers_a_known_temperature(true_temperature):
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 1.5, size=(6000, 4))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in p]).astype(float)
    t = fit_temperature(logits * true_temperature, y)
    assert t == pytest.approx(true_temperature, rel=0.1)


def test_fit_temperature_ignores_missing_labels_and_handles_binary_logits():
    rng = np.random.default_rng(4)
    z = rng.normal(0, 2, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-z))).astype(float)
    t = fit_temperature(4 * z, y)
    y_missing = y.copy()
    y_missing[::3] = np.nan
    assert t == pytest.approx(4.0, rel=0.15)
    assert fit_temperature(4 * z, y_missing) == fit_temperature(
        4 * z[y == y_missing], y[y == y_missing]
    )
    assert fit_temperature(4 * z[:, None], y) == t  # one-column logits = binary
    assert fit_temperature(z, np.full(3000, np.nan)) == 1.0  # no label: unchanged
    # 100 times over-confident: the optimum is beyond the range's bound -> T = 1, said so
    with pytest.warns(UserWarning, match="reached a bound"):
        assert fit_temperature(100 * z, y) == 1.0


# -- temperature scaling in the estimators -----------------------------------------------------


def _noisy_classes(n: int, seed: int):
    """Binary and 3-class targets with much label noise: easy to over-fit on few rows."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"))
    flag = rng.random(n) < 1 / (1 + np.exp(-(1.5 * X["a"] - X["b"])))
    kind = np.where(rng.random(n) < 0.3, "r", np.where(X["c"] + rng.normal(size=n) > 0, "p", "q"))
    return X, pd.DataFrame({"flag": flag, "kind": pd.Categorical(kind)})


@pytest.fixture(scope="module")
def overconfident():
    """Many epochs at a high learning rate on 360 training rows: over-confident heads
    (no early stopping, which exists to prevent exactly this)."""
    X, Y = _noisy_classes(600, 0)
    model = MultiTaskEstimator(  # the 0.1 default body, on which this bar was set
        early_stopping=False,
        architecture="soft",
        numeric_embedding=None,
        calibration_fraction=0.4,
        max_epochs=40,
        lr=3e-2,
        batch_size=64,
        dropout=0.0,
        hidden_layer_sizes=(64, 64),
        random_state=0,
    ).fit(X, Y)
    return model, _noisy_classes(4000, 1)


def test_temperature_scaling_lowers_ece_of_an_overconfident_model(overconfident):
    model, (X_test, Y_test) = overconfident
    assert (model.temperatures_ > 2.0).all()  # both heads were too sure of themselves
    assert model.calibration_counts_.tolist() == [240, 240]
    raw = model._raw_predict(X_test)
    before = model.target_spec_.predict_proba(raw)  # the untempered probabilities
    after = model.predict_proba(X_test)
    for task in model.target_spec_.tasks_:
        y = task.encode(Y_test[task.name])
        ece_before = expected_calibration_error(y, before[task.name])
        ece_after = expected_calibration_error(y, after[task.name].to_numpy())
        assert ece_before > 0.1
        assert ece_after < 0.5 * ece_before
        # the predicted class does not move
        assert (after[task.name].to_numpy().argmax(1) == before[task.name].argmax(1)).all()


def test_without_calibration_probabilities_are_untouched():
    X, Y = _noisy_classes(200, 0)
    model = MultiTaskEstimator(max_epochs=3, random_state=0).fit(X, Y)
    assert model.temperatures_.tolist() == [1.0, 1.0]
    assert model.conformal_scores_.shape == (0, 2)
    raw = model.target_spec_.predict_proba(model._raw_predict(X))
    assert np.array_equal(model.predict_proba(X)["kind"].to_numpy(), raw["kind"])


def test_classifier_array_api_applies_temperatures():
    X, Y = _noisy_classes(400, 0)
    y = np.column_stack([Y["flag"].astype(int), Y["kind"].cat.codes])
    clf = MultiTaskClassifier(
        calibration_fraction=0.4, max_epochs=30, lr=3e-2, dropout=0.0, random_state=0
    ).fit(X.to_numpy(), y)
    assert (clf.temperatures_ != 1.0).all()
    raw = clf._raw_predict(as_frame(X.to_numpy()))
    z = raw[:, 0] / clf.temperatures_[0]
    expected = 1 / (1 + np.exp(-z))
    assert np.allclose(clf.predict_proba(X.to_numpy())[0][:, 1], expected)


def test_temperature_uses_only_calibration_rows_with_the_label():
    """A calibration row whose label is missing leaves its head's temperature unchanged:
    the net is identical (same training rows), and so must the temperature be."""
    X, Y = _noisy_classes(300, 5)
    params = dict(  # one plain trunk: the temperature is under test, not the body
        architecture="hard", calibration_fraction=0.5, max_epochs=5, lr=3e-2, random_state=0
    )
    full = MultiTaskEstimator(**params).fit(X, Y)
    # the split is seeded by random_state: the same 150 rows are held out in both fits
    held = np.sort(np.random.default_rng(0).permutation(300)[:150])
    Y_missing = Y.astype({"flag": "boolean"})
    Y_missing.loc[held[:40], "flag"] = pd.NA
    part = MultiTaskEstimator(**params).fit(X, Y_missing)
    assert part.calibration_counts_.tolist() == [110, 150]
    raw = full._raw_predict(X.iloc[held[40:]])
    assert np.array_equal(raw, part._raw_predict(X.iloc[held[40:]]))
    expected = fit_temperature(raw[:, 0], Y["flag"].iloc[held[40:]].astype(float).to_numpy())
    assert part.temperatures_[0] == pytest.approx(expected)
    assert part.temperatures_[0] != pytest.approx(full.temperatures_[0])
    assert part.temperatures_[1] == full.temperatures_[1]  # "kind" kept all its labels


def test_task_scorer_knows_ece_and_the_distributional_kinds():
    from tabmtl.evaluation._metrics import task_scorer

    X, Y = _noisy_classes(200, 2)
    Y["amount"] = X["a"] * 2.0 + 1.0
    model = MultiTaskEstimator(targets={"amount": "gaussian"}, max_epochs=3, random_state=0)
    model.fit(X, Y)
    scores = task_scorer({"regression": "neg_mae", "binary": "neg_ece"})(model, X, Y)
    mae = np.abs(model.predict(X)["amount"] - Y["amount"]).mean()
    assert scores["amount"] == pytest.approx(-mae)  # "regression" covers gaussian heads
    proba = model.predict_proba(X)["flag"].to_numpy()
    assert scores["flag"] == pytest.approx(-expected_calibration_error(Y["flag"], proba))


def test_a_tiny_calibration_set_skips_temperature_with_a_warning():
    # four rows, all predicted right: the NLL keeps falling as T -> 0, so the search
    # would stop at the 0.02 bound and turn the head's probabilities into hard 0/1
    from tabmtl._uncertainty.temperature import MIN_TEMPERATURE_ROWS

    logits = np.array([[2.0, -1.0], [1.5, 0.0], [-1.0, 2.5], [0.0, 1.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    with pytest.warns(UserWarning, match=r"'flag'.* 4 labelled calibration row"):
        assert fit_temperature(logits, y, name="flag") == 1.0
    # enough rows, but separable: the optimum is at the bound -> T = 1, said so
    rng = np.random.default_rng(0)
    n = MIN_TEMPERATURE_ROWS * 3
    y = rng.integers(0, 2, n).astype(float)
    z = np.where(y == 1, 3.0, -3.0) + rng.normal(0, 0.5, n)
    with pytest.warns(UserWarning, match=r"'flag'.*bound"):
        assert fit_temperature(z, y, name="flag") == 1.0


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 80),
    n_classes=st.integers(1, 4),
    scale=st.floats(0.0, 200.0),
    noise=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**16),
)
def test_any_calibration_set_gives_a_temperature_inside_its_bounds_or_one_with_a_warning(
    n, n_classes, scale, noise, seed
):
    import warnings

    rng = np.random.default_rng(seed)
    k = max(n_classes, 2)
    y = rng.integers(0, n_classes, n).astype(float)
    y[rng.random(n) < 0.1] = np.nan
    signal = np.eye(k)[np.nan_to_num(y).astype(int)] * scale
    logits = signal + rng.normal(0, noise, (n, k))
    if k == 2 and seed % 2:
        logits = logits[:, 1] - logits[:, 0]  # a binary head's single logit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = fit_temperature(logits, y, name="t")
    lo, hi = TEMPERATURE_RANGE
    assert np.isfinite(t) and lo * 1.01 < t < hi / 1.01
    if caught:
        assert t == 1.0 and "'t'" in str(caught[0].message)
