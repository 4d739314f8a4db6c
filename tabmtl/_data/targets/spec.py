"""The target transformer: a whole target frame <-> one encoded float32 matrix.

In the spirit of scikit-learn's ``TransformedTargetRegressor``: :class:`TargetSpec` fits
one task per target column (its kind inferred or declared); ``transform`` encodes ``Y``
as one float32 matrix (class index as float, NaN = missing label) and
``inverse_transform`` decodes network outputs back to a DataFrame in the original dtypes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from tabmtl._data.targets.base import TARGET_KINDS
from tabmtl._data.targets.inference import resolve_kind
from tabmtl.errors import InputError, InputTypeError


class TargetSpec(TransformerMixin, BaseEstimator):
    """The ordered tasks of a target frame: infer kinds, encode, decode.

    Parameters
    ----------
    targets : dict, optional
        Column name -> kind (``"regression"``, ``"binary"``, ``"multiclass"`` or
        ``"classification"``, which picks binary or multiclass by the number of labels;
        ``"gaussian"`` or ``"quantile"`` for a regression target whose head predicts a
        distribution). Columns not named are inferred from their dtype (see
        ``infer_kind``).

    Attributes
    ----------
    tasks_ : list of TargetKind
        One fitted task per target column, in column order.
    slices_ : list of slice
        Where each task's outputs sit in the network's concatenated output.
    n_outputs_ : int
        Total width of the network output.

    Examples
    --------
    >>> import pandas as pd
    >>> Y = pd.DataFrame({"eta": [12.0, 30.5, None], "paid": ["card", "cash", "card"]})
    >>> spec = TargetSpec().fit(Y)
    >>> [t.kind for t in spec.tasks_]
    ['regression', 'binary']
    >>> spec.transform(Y).shape
    (3, 2)
    """

    def __init__(self, targets: Mapping[object, str] | None = None):
        self.targets = targets

    def fit(self, Y: pd.DataFrame, y=None) -> TargetSpec:
        Y = _check_target_frame(Y)
        overrides = dict(self.targets or {})
        unknown = [c for c in overrides if c not in Y.columns]
        if unknown:
            raise InputError(
                f"`targets` names columns that are not in Y: {unknown!r}; "
                f"Y has {list(Y.columns)!r}."
            )
        tasks = []
        for name in Y.columns:
            col = Y[name]
            if col.notna().sum() == 0:
                raise InputError(f"Target column {name!r} is entirely missing; drop it.")
            kind = resolve_kind(col, overrides.get(name))
            tasks.append(TARGET_KINDS[kind](name).fit(col))
        self.tasks_ = tasks
        self.target_names_ = list(Y.columns)
        stops = np.cumsum([t.n_outputs for t in tasks])
        self.slices_ = [slice(int(b - t.n_outputs), int(b)) for t, b in zip(tasks, stops)]
        self.n_outputs_ = int(stops[-1])
        return self

    @property
    def kinds_(self) -> dict[object, str]:
        """Target name -> kind."""
        check_is_fitted(self, "tasks_")
        return {t.name: t.kind for t in self.tasks_}

    def transform(self, Y: pd.DataFrame) -> np.ndarray:
        """Encode ``Y`` as a float32 matrix, one column per task, NaN = missing label."""
        check_is_fitted(self, "tasks_")
        Y = _check_target_frame(Y)
        missing = [c for c in self.target_names_ if c not in Y.columns]
        if missing:
            raise InputError(f"Y is missing target columns {missing!r}.")
        out = np.empty((len(Y), len(self.tasks_)), dtype=np.float32)
        for j, task in enumerate(self.tasks_):
            out[:, j] = task.encode(Y[task.name])
        return out

    def inverse_transform(self, raw: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
        """Network outputs ``(n, n_outputs_)`` -> DataFrame in the targets' own dtypes."""
        check_is_fitted(self, "tasks_")
        index = pd.RangeIndex(len(raw)) if index is None else index
        cols = {t.name: t.decode(raw[:, s], index) for t, s in zip(self.tasks_, self.slices_)}
        return pd.DataFrame(cols, index=index)

    def transform_known(self, Y: pd.DataFrame) -> tuple[np.ndarray, dict[object, int]]:
        """:meth:`transform`, except that a class label unknown to the spec becomes missing.

        Returns the encoded matrix and, per target, how many labels were unknown. For
        data the spec was not fitted on: a streamed fit learns its classes from a sample,
        and a held-out fold may hold labels its training rows lack.
        """
        check_is_fitted(self, "tasks_")
        out = np.empty((len(Y), len(self.tasks_)), dtype=np.float32)
        unknown: dict[object, int] = {}
        for j, task in enumerate(self.tasks_):
            out[:, j], unseen = task.encode_known(Y[task.name])
            if unseen.any():
                unknown[task.name] = int(unseen.sum())
        return out, unknown

    def inverse_transform_record(self, raw: np.ndarray) -> dict[object, object]:
        """One row of network outputs ``(1, n_outputs_)`` -> ``{target name: value}``.

        The values of :meth:`inverse_transform` for that row, as plain Python scalars
        (see ``TargetKind.decode_record``), without building pandas objects.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> Y = pd.DataFrame({"eta": [10.0, 30.0], "paid": ["card", "cash"]})
        >>> spec = TargetSpec().fit(Y)
        >>> spec.inverse_transform_record(np.array([[1.0, 2.5]]))
        {'eta': 30.0, 'paid': 'cash'}
        """
        check_is_fitted(self, "tasks_")
        raw = np.asarray(raw).reshape(1, -1)
        return {t.name: t.decode_record(raw[:, s]) for t, s in zip(self.tasks_, self.slices_)}

    def predict_proba(
        self, raw: np.ndarray, temperatures: np.ndarray | None = None
    ) -> dict[object, np.ndarray]:
        """Class probabilities of every classification task, keyed by target name.

        ``temperatures`` (one per task; regression entries unused) divide each head's
        logits first, as calibration fitted them; None means all 1.
        """
        check_is_fitted(self, "tasks_")
        if temperatures is None:
            temperatures = np.ones(len(self.tasks_))
        return {
            t.name: t.proba(raw[:, s], float(temperature))
            for t, s, temperature in zip(self.tasks_, self.slices_, temperatures)
            if not t.is_regression
        }


def _check_target_frame(Y) -> pd.DataFrame:
    if isinstance(Y, pd.Series):
        Y = Y.to_frame()
    if not isinstance(Y, pd.DataFrame):
        raise InputTypeError(f"Y must be a pandas DataFrame or Series, got {type(Y).__name__}.")
    if Y.shape[1] == 0:
        raise InputError("Y has no columns; pass at least one target column.")
    if Y.columns.duplicated().any():
        dup = list(Y.columns[Y.columns.duplicated()].unique())
        raise InputError(f"Y has duplicated column names {dup!r}; target names must be unique.")
    as_text = pd.Series([str(c) for c in Y.columns])
    if as_text.duplicated().any():
        # the history (train_loss_<name>), exports and the CLI key tasks by their text
        clash = [c for c in Y.columns if as_text.tolist().count(str(c)) > 1]
        raise InputError(
            f"Y has column names that read the same as text: {clash!r}; target names must "
            "be distinct as text (they key the per-task history and outputs)."
        )
    return Y
