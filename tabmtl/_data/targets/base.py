"""The target-kind base class and the registry of kinds.

A :class:`TargetKind` is one task: how a target column is encoded, trained, scored and
decoded. Each concrete kind registers itself in :data:`TARGET_KINDS` under its ``kind``
name when its class is defined.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from tabmtl._data.columns import as_python_scalar

#: Kind name -> class; each concrete kind adds itself when its class is defined.
TARGET_KINDS: dict[str, type[TargetKind]] = {}


class TargetKind:
    """Base class of one task: how a target column is encoded, trained, scored, decoded.

    Subclasses set ``kind`` and implement the methods below. ``fit`` learns what is
    needed from the present (non-missing) values; ``encode`` returns float32 with NaN
    for missing labels; :meth:`decode_outputs` maps raw network outputs of shape
    ``(n, n_outputs)`` to decoded numbers (the one decoding path, in torch ops, shared by
    ``predict`` and the exported graph); ``decode`` gives the column's values as a Series
    in its original dtype.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl._data.targets import TARGET_KINDS
    >>> task = TARGET_KINDS["regression"]("eta").fit(pd.Series([10.0, 30.0]))
    >>> task.decoded(np.array([[1.0]], dtype=np.float32))["prediction"].tolist()
    [30.0]
    """

    kind: ClassVar[str] = ""
    #: True for the real-valued kinds (regression, gaussian, quantile): a value is
    #: predicted, not a class, and intervals rather than probabilities describe doubt.
    is_regression: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind:  # a concrete kind; shared bases such as the label one have none
            TARGET_KINDS[cls.kind] = cls

    def __init__(self, name: object):
        self.name = name

    n_outputs: int = 1

    def fit(self, y: pd.Series) -> TargetKind:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, y: pd.Series) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode_known(self, y: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`encode`, with labels the task cannot encode as missing instead of an error.

        Returns the encoded float32 values and a boolean mask of the present labels that
        became missing (class labels unseen in fit). Real-valued kinds have none.
        """
        return self.encode(y), np.zeros(len(y), dtype=bool)

    def decode_outputs(
        self, out: torch.Tensor, temperature: float = 1.0
    ) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """Raw outputs ``(n, n_outputs)`` -> the task's decoded numbers, float64 tensors.

        Keys say what each value is: ``"prediction"`` (a real value in the target's
        units), ``"std"``, ``"quantiles"`` or ``"probabilities"``; they are the exported
        outputs' ``value``. ``temperature`` divides a classification head's logits (the
        real-valued kinds ignore it). Written in torch ops so that it traces into an
        exported graph; its constants are float64 tensors (see :func:`decoding_constant`).
        """
        raise NotImplementedError

    @staticmethod
    def combine_members(out: torch.Tensor) -> torch.Tensor:
        """Ensemble members' raw outputs ``(n, k, n_outputs)`` -> one raw output per row.

        The mean for real-valued outputs; classification kinds override it to average
        probabilities rather than logits (a parameter-efficient ensemble's prediction).
        """
        return out.mean(dim=1)

    def decoded(self, out: np.ndarray, temperature: float = 1.0) -> dict[str, np.ndarray]:
        """:meth:`decode_outputs` of a numpy array of raw outputs, as float64 arrays."""
        values = self.decode_outputs(as_tensor(out), temperature)
        return {key: value.numpy() for key, value in values.items()}

    def decode(self, out: np.ndarray, index: pd.Index) -> pd.Series:  # pragma: no cover
        raise NotImplementedError

    def decode_record(self, out: np.ndarray) -> object:
        """What :meth:`decode` gives for one row of outputs ``(1, n_outputs)``, as a plain
        Python value (numpy scalars unwrapped; JSON-ready for numbers, bools, strings).

        This generic version goes through :meth:`decode`; kinds override it to skip
        pandas on the serving path (``MultiTaskEstimator.predict_record``).
        """
        return as_python_scalar(self.decode(out[:1], pd.RangeIndex(1)).iloc[0])

    @staticmethod
    def loss(
        out: torch.Tensor, t: torch.Tensor, label_smoothing: float = 0.0
    ) -> torch.Tensor:  # pragma: no cover
        """Per-row loss; ``t`` holds encoded labels with missing ones replaced by 0.

        ``label_smoothing`` moves classification targets towards the uniform
        distribution by that share (regression kinds ignore it).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def decoding_constant(value: float) -> torch.Tensor:
    """``value`` as a float64 scalar tensor, for use in :meth:`TargetKind.decode_outputs`.

    An exporter may type a Python float in the graph as float32 (a mean of 20.123456789
    would lose its digits); a float64 tensor keeps them.
    """
    return torch.tensor(float(value), dtype=torch.float64)


def as_tensor(out: np.ndarray) -> torch.Tensor:
    """A tensor sharing the memory of ``out`` (copied first only if it is read-only)."""
    return torch.from_numpy(np.require(out, requirements="W"))
