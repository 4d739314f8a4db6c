"""MultiTaskRegressor and MultiTaskClassifier: scikit-learn's multi-output array API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from tabmtl._data.features import as_frame
from tabmtl._estimators.base import MultiTaskBase
from tabmtl._nn.architectures import Architecture
from tabmtl._nn.weighting import Weighting
from tabmtl.errors import InputError
from tabmtl.evaluation._metrics import score_frame

#: The parameters of :class:`~tabmtl.MultiTaskEstimator` that an array estimator does
#: not take, and why: ``targets`` (every output's kind is the estimator's: regression or
#: classification); ``auxiliary`` and ``auxiliary_weight`` (auxiliary targets are named
#: columns, and a scikit-learn multi-output estimator predicts every column of ``y``);
#: for the regressor, ``class_weight`` (its outputs have no classes). Everything else
#: (every constructor parameter, ``fit``'s ``sample_weight``, ``predict_interval`` for
#: regression) is the same.
_NO_ROLES = frozenset({"targets", "auxiliary", "auxiliary_weight"})
ARRAY_ONLY_DIFFERENCES = {
    "MultiTaskRegressor": _NO_ROLES | {"class_weight"},
    "MultiTaskClassifier": _NO_ROLES,
}


class _ArrayMultiTask(MultiTaskBase):
    """ndarray in/out like scikit-learn's multi-output estimators; 1-D y allowed."""

    _target_kind = ""

    def fit(self, X, y, sample_weight=None, groups=None) -> _ArrayMultiTask:
        """Fit on features ``X`` and targets ``y`` (1-D, or 2-D with one column per output).

        ``sample_weight`` (one value per row, >= 0) scales each row's contribution to every
        output's loss and ``groups`` (one label per row) makes early stopping hold out whole
        groups, as in :meth:`MultiTaskEstimator.fit <tabmtl.MultiTaskEstimator.fit>`.
        """
        if y is None:
            raise InputError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype="numeric", reset=True)
        Y = self._target_frame(y)
        if sample_weight is not None and not np.any(np.asarray(sample_weight, dtype=float)):
            raise InputError("sample_weight is zero for every row: nothing to fit on.")
        self._y_1d = Y.attrs["y_ndim"] == 1
        targets = {c: self._target_kind for c in Y.columns}
        self._fit_frames(
            as_frame(X), Y, targets, sample_weight, self._class_weights(Y), groups
        )
        return self

    def _class_weights(self, Y: pd.DataFrame):
        return None

    def _target_frame(self, y) -> pd.DataFrame:
        """``y`` (1- or 2-D) as a target frame, one column ``y<j>`` per output (its
        ``attrs["y_ndim"]`` says which ``y`` was)."""
        y = check_array(
            y, ensure_2d=False, dtype=None, ensure_all_finite=False, input_name="y",
            ensure_min_samples=0,
        )
        if y.ndim > 2:
            raise InputError(f"y must be 1- or 2-dimensional, got shape {y.shape}.")
        Y = pd.DataFrame(y.reshape(len(y), -1))
        Y.columns = [f"y{j}" for j in range(Y.shape[1])]
        self._check_targets(Y)
        Y.attrs["y_ndim"] = y.ndim
        return Y

    def score_tasks(self, X, y) -> pd.Series:
        """Each output's score: R² (regressor) or accuracy (classifier).

        The missing-label rule of every tabmtl estimator: a missing label (NaN / None)
        is masked at fit and skipped at scoring; rows whose label is missing are left
        out of that output's score only, and an output with no label at all scores NaN.
        Indexed by output name (``y0``, ``y1``, ...).
        """
        check_is_fitted(self, "net_")
        Y = self._target_frame(y)
        if Y.shape[1] != len(self.target_spec_.tasks_):
            raise InputError(
                f"y has {Y.shape[1]} output(s) but the model was fitted on "
                f"{len(self.target_spec_.tasks_)}."
            )
        return score_frame(self.target_spec_, Y, self._predict_frame(X))

    def score(self, X, y, sample_weight=None) -> float:
        """Mean over outputs of :meth:`score_tasks` (outputs scoring NaN ignored).

        For a 1-D ``y`` without missing labels this is scikit-learn's own ``score`` (R²
        or accuracy); for a 2-D ``y``, the mean of the per-output scores, as
        :meth:`MultiTaskEstimator.score <tabmtl.MultiTaskEstimator.score>` (a
        classifier's is not the subset accuracy of scikit-learn's multi-label default).
        ``sample_weight`` is not supported.
        """
        if sample_weight is not None:
            raise InputError(f"{type(self).__name__}.score does not take sample_weight.")
        values = self.score_tasks(X, y).to_numpy()
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    def _check_targets(self, Y: pd.DataFrame) -> None:
        pass

    def _predict_frame(self, X) -> pd.DataFrame:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype="numeric", reset=False)
        return self.target_spec_.inverse_transform(self._raw_predict(as_frame(X)))

    def predict(self, X) -> np.ndarray:
        out = self._predict_frame(X).to_numpy()
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MultiTaskRegressor(RegressorMixin, _ArrayMultiTask):
    """Multi-output regression with one shared network (ndarray in, ndarray out).

    Same parameters as :class:`MultiTaskEstimator`, less ``targets`` (every output is a
    regression task, standardised in fit), ``auxiliary`` and ``auxiliary_weight`` (every
    column of ``y`` is predicted) and ``class_weight`` (there are no classes);
    ``fit`` takes ``sample_weight`` and, with ``calibration_fraction > 0``,
    :meth:`predict_interval` gives split-conformal intervals (see
    ``ARRAY_ONLY_DIFFERENCES``). ``y`` may be 1-D or 2-D and may hold NaN for missing labels:
    masked at fit, skipped at scoring (see :meth:`score_tasks`).

    Examples
    --------
    >>> import numpy as np
    >>> from tabmtl import MultiTaskRegressor
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> y = np.column_stack([X[:, 0], X[:, 1] - X[:, 2]])
    >>> MultiTaskRegressor(max_epochs=5, random_state=0).fit(X, y).predict(X).shape
    (100, 2)
    """

    _target_kind = "regression"
    score = _ArrayMultiTask.score  # before RegressorMixin's: missing labels are skipped

    def predict_interval(
        self, X, alpha: float = 0.1, *, method: str = "auto", targets=None
    ) -> np.ndarray:
        """Prediction intervals with coverage ``1 - alpha``, as
        :meth:`MultiTaskEstimator.predict_interval <tabmtl.MultiTaskEstimator.predict_interval>`
        gives them (split-conformal: fit with ``calibration_fraction > 0``).

        ``targets`` are output indices (default: every output). Returns an array of
        shape ``(n, 2)`` (lower, upper) for a 1-D ``y``, else ``(n, n_outputs, 2)``.
        """
        check_is_fitted(self, "net_")
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype="numeric", reset=False)
        raw = self._raw_predict(as_frame(X))
        names = None
        if targets is not None:
            names = [f"y{int(j)}" for j in np.atleast_1d(targets)]
        bounds = self.calibrator_.intervals(raw, self.target_spec_, alpha, method, names)
        out = np.stack([np.column_stack(b) for b in bounds.values()], axis=1)
        return out[:, 0, :] if self._y_1d else out

    def _check_targets(self, Y: pd.DataFrame) -> None:
        for c in Y.columns:
            try:
                Y[c] = pd.to_numeric(Y[c]).astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise InputError(f"y column {c} is not numeric; regression needs numbers.") from exc


class MultiTaskClassifier(ClassifierMixin, _ArrayMultiTask):
    """Multi-output / multi-label classification with one shared network.

    Same parameters as :class:`MultiTaskEstimator`, less ``targets`` (every output is a
    binary or multiclass task), ``auxiliary`` and ``auxiliary_weight`` (every column of
    ``y`` is predicted); ``fit`` takes ``sample_weight`` (see
    ``ARRAY_ONLY_DIFFERENCES``). ``class_weight`` follows scikit-learn's classifiers:
    "balanced", a dict ``{label: weight}`` (1-D ``y``), or for 2-D ``y`` a list with one
    entry ("balanced", a dict or None) per output. Follows scikit-learn's multi-output
    conventions (as ``RandomForestClassifier``): for 1-D ``y``, ``classes_`` is an array and
    ``predict_proba`` returns one ``(n, K)`` array; for 2-D ``y``, ``classes_`` is a
    list with one array per output and ``predict_proba`` a list of arrays. Missing
    labels (NaN / None) are allowed in ``y``: masked at fit, skipped at scoring (see
    :meth:`score_tasks`).

    Examples
    --------
    >>> import numpy as np
    >>> from tabmtl import MultiTaskClassifier
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    >>> clf = MultiTaskClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> [c.tolist() for c in clf.classes_]
    [[0, 1], [0, 1]]
    """

    _target_kind = "classification"
    score = _ArrayMultiTask.score  # before ClassifierMixin's: missing labels are skipped

    def __init__(
        self,
        *,
        class_weight: str | Mapping | Sequence | None = None,
        hidden_layer_sizes: Sequence[int] = (128, 64),
        dropout: float = 0.1,
        architecture: str | Architecture = "hard",
        weighting: str | Mapping[object, float] | Weighting = "equal",
        max_epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        numeric_embedding="piecewise_linear",
        numeric_scaling: str = "standard",
        ensemble_size: int = 1,
        label_smoothing: float = 0.0,
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.1,
        patience: int | str = "auto",
        calibration_fraction: float = 0.0,
        callbacks: Sequence | None = None,
        checkpoint_dir: str | None = None,
        net_kwargs: Mapping | None = None,
        random_state: int | None = None,
        device: str = "cpu",
        n_threads: int | None = None,
        verbose: int = 0,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, dropout=dropout, architecture=architecture,
            weighting=weighting, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
            weight_decay=weight_decay, numeric_embedding=numeric_embedding,
            numeric_scaling=numeric_scaling, ensemble_size=ensemble_size,
            label_smoothing=label_smoothing, early_stopping=early_stopping,
            validation_fraction=validation_fraction, patience=patience,
            calibration_fraction=calibration_fraction, callbacks=callbacks,
            checkpoint_dir=checkpoint_dir, net_kwargs=net_kwargs, random_state=random_state,
            device=device, n_threads=n_threads, verbose=verbose,
        )
        self.class_weight = class_weight

    def _class_weights(self, Y: pd.DataFrame):
        """``class_weight`` in the DataFrame estimator's form ``{output: weights}``."""
        weights = self.class_weight
        if weights is None or isinstance(weights, str):
            return weights
        names = list(Y.columns)
        if isinstance(weights, Mapping):
            if len(names) != 1:
                raise InputError(
                    f"class_weight is one dict but y has {len(names)} outputs; pass a list "
                    "with one entry (\"balanced\", a dict or None) per output."
                )
            return {names[0]: dict(weights)}
        weights = list(weights)
        if len(weights) != len(names):
            raise InputError(
                f"class_weight has {len(weights)} entries but y has {len(names)} outputs; "
                "pass one (\"balanced\", a dict or None) per output."
            )
        return {n: w for n, w in zip(names, weights) if w is not None} or None

    def _check_targets(self, Y: pd.DataFrame) -> None:
        for c in Y.columns:
            # object columns of numbers (from a mixed-type y array) are read as numbers
            check_classification_targets(Y[c].dropna().infer_objects().to_numpy())

    @property
    def classes_(self):
        check_is_fitted(self, "net_")
        classes = [np.asarray(list(t.classes_)) for t in self.target_spec_.tasks_]
        return classes[0] if self._y_1d else classes

    def predict_proba(self, X):
        check_is_fitted(self, "net_")
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype="numeric", reset=False)
        raw = self._raw_predict(as_frame(X))
        probas = list(self.target_spec_.predict_proba(raw, self.temperatures_).values())
        return probas[0] if self._y_1d else probas
