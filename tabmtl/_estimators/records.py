"""The one-row serving path: predict a record ``{feature: value}`` without pandas."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.utils.validation import check_is_fitted

from tabmtl._data.targets import as_python_scalar
from tabmtl._estimators.fast_forward import serving_outputs


class RecordPredictionMixin:
    """``predict_record`` and ``predict_proba_record`` for a fitted multi-task estimator.

    Relies on the estimator's fitted ``preprocessor_``, ``target_spec_``,
    ``temperatures_`` and its ``_network_outputs`` (documented protected in
    :class:`~tabmtl._estimators.base.MultiTaskBase`), or, where onnxruntime serves it,
    :func:`~tabmtl._estimators.fast_forward.serving_outputs`.
    """

    def predict_record(
        self, record: Mapping, *, include_auxiliary: bool = False
    ) -> dict[object, object]:
        """Predict one row given as a mapping ``{feature: value}``: the low-latency path.

        Returns ``{target: value}`` with the values :meth:`predict` gives for a one-row
        frame of the same data, as plain Python scalars (a float for regression targets,
        in the target's dtype, the class label for classification ones; JSON-ready for
        numbers, bools and strings). No DataFrame is built on the way in or out, which is
        most of a one-row :meth:`predict`'s time: use this to serve single requests. Only
        the main targets unless ``include_auxiliary=True`` (as :meth:`predict`). See
        ``FeaturePreprocessor.transform_record`` for the values a record may hold.

        With onnxruntime installed (the ``export`` extra), the network and each target's
        decoding run in an in-memory onnxruntime session, exported on the first call
        (about a second) and rebuilt when the weights change: values equal
        :meth:`predict`'s to float32 rounding, at a fraction of torch's per-op cost at one
        row (see ``tabmtl._estimators.fast_forward``). Without it, the torch forward
        gives them bit for bit.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from tabmtl import MultiTaskEstimator
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"km": rng.uniform(1, 20, 200), "zone": rng.choice(["a", "b"], 200)})
        >>> Y = pd.DataFrame({"eta": 3 * X.km + rng.normal(size=200), "late": X.km > 10})
        >>> model = MultiTaskEstimator(max_epochs=20, random_state=0).fit(X, Y)
        >>> out = model.predict_record({"km": 12.5, "zone": "b"})
        >>> sorted(out), type(out["late"]).__name__
        (['eta', 'late'], 'bool')
        >>> batch = model.predict(pd.DataFrame({"km": [12.5], "zone": ["b"]})).iloc[0]
        >>> bool(out["late"] == batch["late"]), bool(np.isclose(out["eta"], batch["eta"]))
        (True, True)
        """
        check_is_fitted(self, "net_")
        features = self.preprocessor_.transform_record(record)
        names = self._output_names(include_auxiliary)  # main targets unless asked
        outputs = serving_outputs(self, features)
        if outputs is None:  # no onnxruntime: the torch forward and decoding
            raw = self._network_outputs(features)
            out = self.target_spec_.inverse_transform_record(raw)
            return {name: value for name, value in out.items() if name in names}
        return {
            task.name: _record_value(task, j, outputs)
            for j, task in enumerate(self.target_spec_.tasks_)
            if task.name in names
        }

    def predict_proba_record(
        self, record: Mapping, *, include_auxiliary: bool = False
    ) -> dict[object, dict[object, float]]:
        """Class probabilities of one row given as a mapping ``{feature: value}``.

        Returns ``{target: {class label: probability}}`` for the classification targets:
        the numbers of :meth:`predict_proba` for a one-row frame (temperature-scaled when
        calibrated), as plain Python values, built without pandas (see
        :meth:`predict_record`).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from tabmtl import MultiTaskEstimator
        >>> X = pd.DataFrame({"km": np.arange(100.0)})
        >>> Y = pd.DataFrame({"late": X.km > 50})
        >>> model = MultiTaskEstimator(max_epochs=5, random_state=0).fit(X, Y)
        >>> proba = model.predict_proba_record({"km": 70.0})["late"]
        >>> sorted(proba), round(sum(proba.values()), 6)
        ([False, True], 1.0)
        """
        check_is_fitted(self, "net_")
        features = self.preprocessor_.transform_record(record)
        outputs = serving_outputs(self, features)
        if outputs is None:  # no onnxruntime: the torch forward and decoding
            raw = self._network_outputs(features)
            probas = self.target_spec_.predict_proba(raw, self.temperatures_)
        else:
            probas = {
                t.name: outputs[j, "probabilities"]
                for j, t in enumerate(self.target_spec_.tasks_)
                if not t.is_regression
            }
        classes, names = self._class_labels(), self._output_names(include_auxiliary)
        return {
            name: {as_python_scalar(c): float(q) for c, q in zip(classes[name], p[0])}
            for name, p in probas.items()
            if name in names
        }

    def _class_labels(self) -> dict:
        return {t.name: t.classes_ for t in self.target_spec_.tasks_ if not t.is_regression}


def _record_value(task, j: int, outputs: dict) -> object:
    """A task's record value from the exported outputs of one row (see
    :func:`~tabmtl._estimators.fast_forward.serving_outputs`): what ``decode_record``
    gives from the raw outputs, as the export documents it: a regression prediction in
    the target's dtype, the class of largest probability (a tie to the first class)."""
    if task.is_regression:
        dtype = np.dtype(getattr(task.dtype_, "numpy_dtype", task.dtype_))
        return float(outputs[j, "prediction"].astype(dtype)[0])
    return as_python_scalar(task.classes_[int(outputs[j, "probabilities"][0].argmax())])
