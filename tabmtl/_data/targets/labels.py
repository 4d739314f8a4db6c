"""The class-label target kinds: binary (one logit) and multiclass (one logit per class).

Labels are encoded as class indices into ``classes_`` (sorted, or a categorical dtype's
order); decoding turns logits into probabilities (temperature-scaled when calibrated) and
the predicted class back into the column's own labels and dtype.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from tabmtl._data.features import label_codes
from tabmtl._data.targets.base import TargetKind, as_python_scalar, decoding_constant
from tabmtl._data.targets.inference import check_label_count
from tabmtl.errors import InputError


class _LabelTarget(TargetKind):
    """Shared code of the classification kinds: labels <-> class indices.

    Subclasses give the probabilities of logits and the predicted class of each row.
    """

    def fit(self, y: pd.Series) -> _LabelTarget:
        present = y[y.notna()]
        if isinstance(y.dtype, pd.CategoricalDtype):
            observed = set(present.unique())
            classes = [c for c in y.dtype.categories if c in observed]
        else:
            classes = list(pd.unique(present))
            try:
                classes = sorted(classes)
            except TypeError:  # mixed label types: keep first-seen order, still deterministic
                pass
        if len(classes) < 2:
            raise InputError(
                f"Target column {self.name!r} has only one class ({classes!r}) among its "
                "present labels; a classification target needs at least two classes."
            )
        check_label_count(self.name, len(classes), len(present))
        self.classes_ = np.array(classes, dtype=object)
        self.dtype_ = y.dtype
        self._check_n_classes(len(classes))
        return self

    def _check_n_classes(self, n: int) -> None:
        pass

    def encode_known(self, y: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Class index of each value as float32 (NaN where missing or unseen in fit), and
        the mask of the present labels unseen in fit."""
        idx = label_codes(y, self._lookups().classes)
        codes = idx.astype(np.float32)
        codes[idx < 0] = np.nan
        return codes, (idx < 0) & y.notna().to_numpy()

    def encode(self, y: pd.Series) -> np.ndarray:
        codes, unknown = self.encode_known(y)
        if unknown.any():
            bad = pd.unique(y[unknown])[:5]
            raise InputError(
                f"Target column {self.name!r} contains labels not seen in fit: {list(bad)!r}."
            )
        return codes

    # -- decoding: one path, in torch ops (predict_proba and the exported graph) ---------

    def decode_outputs(
        self, out: torch.Tensor, temperature: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """``{"probabilities": (n, n_classes)}`` of the logits divided by ``temperature``,
        columns in the order of ``classes_``."""
        logits = out.double() / decoding_constant(temperature)
        return {"probabilities": self._probabilities(logits)}

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def proba(self, out: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` of raw outputs, float64."""
        return self.decoded(out, temperature)["probabilities"]

    def _class_indices(self, out: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Index into ``classes_`` of each row's predicted class."""
        raise NotImplementedError

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:
        return self._labels(self._class_indices(out), index)

    def decode_record(self, out: np.ndarray) -> object:
        return as_python_scalar(self.classes_[self._class_indices(out[:1])[0]])

    def _labels(self, idx: np.ndarray, index: pd.Index) -> pd.Series:
        if isinstance(self.dtype_, pd.CategoricalDtype):
            # from codes: building a Categorical from labels hashes them (~0.3 ms a call)
            codes = self._lookups().category_codes[idx]
            return pd.Series(
                pd.Categorical.from_codes(codes, dtype=self.dtype_), index=index, name=self.name
            )
        return pd.Series(self.classes_[idx], index=index, name=self.name).astype(self.dtype_)

    def _lookups(self) -> _ClassLookups:
        """The fitted classes' Index and category codes, built once per fitted state.

        One Index per fit (not per call) so that :func:`label_codes` finds its cached
        category lookup for a categorical column from call to call.
        """
        cached = _CLASS_LOOKUPS.get(self)
        if cached is None or cached.fitted_classes is not self.classes_ or (
            cached.fitted_dtype is not self.dtype_
        ):  # first call, or refitted
            classes = pd.Index(self.classes_, dtype=object)
            codes = (
                self.dtype_.categories.get_indexer(self.classes_)
                if isinstance(self.dtype_, pd.CategoricalDtype)
                else None
            )
            cached = _ClassLookups(self.classes_, self.dtype_, classes, codes)
            _CLASS_LOOKUPS[self] = cached
        return cached


class BinaryTarget(_LabelTarget):
    """Two labels; one logit, trained with binary cross-entropy.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> task = BinaryTarget("late").fit(pd.Series([False, True, True]))
    >>> task.proba(np.array([[0.0]])).tolist()
    [[0.5, 0.5]]
    """

    kind = "binary"

    def _check_n_classes(self, n: int) -> None:
        if n != 2:
            raise InputError(
                f"Target column {self.name!r} was declared binary but has {n} classes."
            )

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits[:, 0])
        return torch.stack([1.0 - p, p], dim=1)

    def _class_indices(self, out: np.ndarray) -> np.ndarray:
        return (out[:, 0] > 0).astype(np.intp)  # a tie (probability 0.5) -> first class

    @staticmethod
    def combine_members(out: torch.Tensor) -> torch.Tensor:
        """The logit of the members' mean probability."""
        p = torch.sigmoid(out).mean(dim=1).clamp(1e-7, 1.0 - 1e-7)
        return torch.log(p) - torch.log1p(-p)

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        if label_smoothing:  # the two labels pulled towards 1/2 by label_smoothing / 2
            t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
        return F.binary_cross_entropy_with_logits(out[:, 0], t, reduction="none")


class MulticlassTarget(_LabelTarget):
    """K labels; K logits, trained with softmax cross-entropy.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> task = MulticlassTarget("band").fit(pd.Series(["short", "mid", "long"]))
    >>> task.decode(np.array([[0.0, 2.0, 1.0]]), pd.RangeIndex(1)).tolist()  # sorted classes
    ['mid']
    """

    kind = "multiclass"

    @property
    def n_outputs(self) -> int:  # type: ignore[override]
        return len(self.classes_)

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=1)

    def _class_indices(self, out: np.ndarray) -> np.ndarray:
        return out.argmax(axis=1)

    @staticmethod
    def combine_members(out: torch.Tensor) -> torch.Tensor:
        """Logits whose softmax is the members' mean probabilities."""
        return torch.log(torch.softmax(out, dim=2).mean(dim=1).clamp_min(1e-12))

    @staticmethod
    def loss(out: torch.Tensor, t: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        return F.cross_entropy(
            out, t.long(), reduction="none", label_smoothing=float(label_smoothing)
        )


class _ClassLookups(NamedTuple):
    fitted_classes: np.ndarray  # the ``classes_`` and ``dtype_`` these were built from
    fitted_dtype: object
    classes: pd.Index
    category_codes: np.ndarray | None  # None unless the target is categorical


#: Per fitted classification task, its classes' lookups (derived state, kept out of the
#: object so that saving and pickling never see it; held weakly, so an entry dies with
#: its task and a new task never meets a dead one's entry)
_CLASS_LOOKUPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
