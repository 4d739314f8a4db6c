"""Saving a fitted estimator as plain parts and rebuilding it from them."""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.utils.validation import check_is_fitted

from tabmtl._training.build import load_net, net_weights
from tabmtl._training.callbacks import epoch_rows
from tabmtl._uncertainty.calibrator import Calibrator

#: The calibration arrays, saved by name (the Calibrator holds them).
CALIBRATION_ATTRIBUTES = ("temperatures_", "conformal_scores_", "calibration_counts_")


class SavedStateMixin:
    """``get_state`` / ``from_state`` of :class:`~tabmtl._estimators.base.MultiTaskBase`,
    which :mod:`tabmtl.io._persistence` writes and reads (no pickle involved)."""

    def get_state(self) -> dict:
        """The fitted estimator as plain parts, for :func:`~tabmtl.save_model`.

        Returns
        -------
        dict
            ``params`` (``get_params(deep=False)``), ``fitted`` (every other fitted
            attribute by name, the calibration arrays included), ``target_spec``,
            ``preprocessor``, ``history`` (one dict per epoch) and ``weights`` (the
            module's and the criterion's ``state_dict`` on the CPU).
        """
        check_is_fitted(self, "net_")
        params = self.get_params(deep=False)
        structured = ("net_", "target_spec_", "preprocessor_", "calibrator_")
        fitted = {k: v for k, v in vars(self).items() if k not in params and k not in structured}
        fitted.update({name: getattr(self, name) for name in CALIBRATION_ATTRIBUTES})
        return {
            "params": params,
            "fitted": fitted,
            "target_spec": self.target_spec_,
            "preprocessor": self.preprocessor_,
            "history": epoch_rows(self.net_.history),
            "weights": net_weights(self.net_),
        }

    @classmethod
    def from_state(
        cls, params: Mapping, fitted: Mapping, target_spec, preprocessor, history, weights
    ):
        """The fitted estimator that :meth:`get_state` described; predictions are identical.

        ``fitted`` may lack the calibration arrays (the model is then uncalibrated) and
        ``interrupted_``/``best_epoch_`` (files saved before they existed).
        """
        estimator = cls(**params)
        fitted = {"interrupted_": False, "best_epoch_": None, **fitted}
        calibration = [fitted.pop(name, None) for name in CALIBRATION_ATTRIBUTES]
        for name, value in fitted.items():
            setattr(estimator, name, value)
        estimator.target_spec_ = target_spec
        estimator.preprocessor_ = preprocessor
        estimator.calibrator_ = (
            Calibrator(len(target_spec.tasks_))
            if any(part is None for part in calibration)
            else Calibrator.from_state(*calibration)
        )
        estimator.net_ = load_net(
            estimator._resolved_params(), target_spec, preprocessor, weights, history,
            input_state=fitted.get("input_state_"),
        )
        return estimator
