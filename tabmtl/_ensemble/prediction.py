"""What a fitted blend predicts: frames, class probabilities, one record, scores."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tabmtl._data.targets import as_python_scalar
from tabmtl._ensemble.decoding import decode_output
from tabmtl._ensemble.inputs import record_frame
from tabmtl.evaluation._metrics import score_frame


class BlendPredictionMixin:
    """:meth:`predict`, :meth:`predict_proba`, their one-record forms and the scores of
    :class:`~tabmtl._ensemble.MultiTaskBlend`: they decode what its ``blended_outputs``
    gives, after its ``_check_X``, with its ``target_spec_``."""

    def predict(self, X) -> pd.DataFrame:
        """One column per target, in each target's own dtype and labels, indexed like X."""
        index = self._check_X(X, reset=False).index
        outputs = self.blended_outputs(X)
        return pd.DataFrame(
            {t.name: decode_output(t, outputs[t.name], index) for t in self.target_spec_.tasks_},
            index=index,
        )

    def predict_proba(self, X) -> dict[object, pd.DataFrame]:
        """Target name -> DataFrame of blended class probabilities (class labels as
        columns), for every classification target."""
        index = self._check_X(X, reset=False).index
        outputs = self.blended_outputs(X)
        return {
            t.name: pd.DataFrame(
                outputs[t.name], index=index, columns=pd.Index(t.classes_, dtype=object)
            )
            for t in self.target_spec_.tasks_
            if not t.is_regression
        }

    def predict_record(self, record: Mapping) -> dict[object, object]:
        """Predict one row given as a mapping ``{feature: value}``: ``{target: value}``
        with the values :meth:`predict` gives for that row, as plain Python scalars.

        The boosting models read a DataFrame, so this builds a one-row frame (no faster
        than :meth:`predict`; the net's own record path is skipped).
        """
        row = self.predict(record_frame(record)).iloc[0]
        return {name: as_python_scalar(value) for name, value in row.items()}

    def predict_proba_record(self, record: Mapping) -> dict[object, dict[object, float]]:
        """Blended class probabilities of one row given as a mapping ``{feature: value}``:
        ``{target: {class label: probability}}``, plain Python values."""
        probas = self.predict_proba(record_frame(record))
        return {
            name: {as_python_scalar(c): float(q) for c, q in frame.iloc[0].items()}
            for name, frame in probas.items()
        }

    def score_tasks(self, X, Y) -> pd.Series:
        """Each task's default score (R² for a value, accuracy for classes); rows whose
        label is missing leave that task's score only."""
        if isinstance(Y, pd.Series):
            Y = Y.to_frame()
        return score_frame(self.target_spec_, Y, self.predict(X))

    def score(self, X, Y) -> float:
        """Mean over tasks of :meth:`score_tasks` (NaN tasks ignored)."""
        return float(np.nanmean(self.score_tasks(X, Y).to_numpy()))
