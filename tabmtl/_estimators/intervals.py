"""Prediction intervals of a fitted DataFrame estimator and their empirical coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabmtl._uncertainty.conformal import interval_coverage as _coverage


class IntervalPredictionMixin:
    """``predict_interval`` and ``interval_coverage`` for :class:`~tabmtl.MultiTaskEstimator`.

    Relies on the estimator's ``_validate_features`` (the DataFrame estimator's feature
    check) and ``_raw_predict`` (:class:`~tabmtl._estimators.base.MultiTaskBase`), and on
    its fitted ``calibrator_`` and ``target_spec_``.
    """

    def predict_interval(
        self, X, alpha: float = 0.1, *, method: str = "auto", targets=None
    ) -> pd.DataFrame:
        """Prediction intervals with coverage ``1 - alpha`` for the regression targets.

        With ``calibration_fraction > 0`` the intervals are split-conformal, so they
        cover a new row's label with probability at least ``1 - alpha`` whatever the head
        (absolute residuals for a point head, residuals over the predicted std for a
        gaussian head, CQR for a quantile head). Without calibration a gaussian head
        gives its normal quantiles and a quantile head its outer levels (``alpha=0.1``
        only); a point head has no interval.

        Parameters
        ----------
        X : DataFrame or array
            Features.
        alpha : float, default=0.1
            Miscoverage level in (0, 1); 0.1 gives 90% intervals.
        method : {"auto", "conformal", "model"}, default="auto"
            "conformal" requires calibration; "model" uses the head's own distribution
            even when the model is calibrated; "auto" prefers conformal.
        targets : list, optional
            Regression targets to return (default: all of them).

        Returns
        -------
        DataFrame
            Indexed like ``X``, with MultiIndex columns ``(target, "lower" | "upper")``,
            float64 in the targets' units: ``intervals["eta"]`` is a (lower, upper) frame.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from tabmtl import MultiTaskEstimator
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"km": rng.uniform(1, 20, 300)})
        >>> Y = pd.DataFrame({"eta": 3 * X.km + rng.normal(size=300)})
        >>> model = MultiTaskEstimator(calibration_fraction=0.3, max_epochs=20,
        ...                            random_state=0).fit(X, Y)
        >>> model.predict_interval(X.head(2), alpha=0.1).columns.tolist()
        [('eta', 'lower'), ('eta', 'upper')]
        """
        X = self._validate_features(X, reset=False)
        raw = self._raw_predict(X)
        bounds = self.calibrator_.intervals(raw, self.target_spec_, alpha, method, targets)
        frames = {
            name: pd.DataFrame({"lower": lo, "upper": hi}, index=X.index)
            for name, (lo, hi) in bounds.items()
        }
        return pd.concat(frames, axis=1)

    def interval_coverage(
        self, X, Y, alpha: float = 0.1, *, method: str = "auto", targets=None
    ) -> pd.DataFrame:
        """Empirical coverage and mean width of :meth:`predict_interval` on labelled data.

        Rows whose label is missing leave that target's figures only.

        Returns
        -------
        DataFrame
            One row per regression target: ``coverage`` (share of labels inside their
            interval, to compare with ``1 - alpha``), ``mean_width`` (target units) and
            ``n`` (labelled rows).
        """
        if isinstance(Y, pd.Series):
            Y = Y.to_frame()
        intervals = self.predict_interval(X, alpha, method=method, targets=targets)
        rows = {}
        for name in intervals.columns.get_level_values(0).unique():
            truth = pd.to_numeric(Y[name]).to_numpy(dtype=np.float64, na_value=np.nan)
            rows[name] = _coverage(
                truth, intervals[name]["lower"], intervals[name]["upper"]
            )
        return pd.DataFrame.from_dict(rows, orient="index")
