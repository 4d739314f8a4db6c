"""Embeddings of numeric features (Gorishniy et al., 2022), kept behind this one module.

"On Embeddings for Numerical Features in Tabular Deep Learning" maps each scalar feature
to a vector before the body sees it: periodic embeddings (PLR: ``cos``/``sin`` of learned
frequencies, then a per-feature linear layer and ReLU) and piecewise-linear embeddings
(the value encoded against quantile bin edges, then a per-feature linear layer). The
layers come from ``rtdl_num_embeddings``, by the method's authors; tabmtl only chooses
their settings, computes the bin edges from the training rows and flattens the output to
``(batch, n_features * d_embedding)`` for the body.

Fitted statistics (bin edges) live outside the torch module, as rtdl_num_embeddings
intends: :meth:`NumericEmbedding.fit_state` computes them from the encoded training
matrix, the estimator keeps them as a fitted attribute (saved with the model), and
:meth:`NumericEmbedding.build` makes the module from them.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import rtdl_num_embeddings as rtdl
import torch
from sklearn.base import BaseEstimator, clone
from torch import nn


class FlatEmbedding(nn.Module):
    """An embedding ``(batch, n) -> (batch, n, d)`` flattened to ``(batch, n * d)``."""

    def __init__(self, embedding: nn.Module, n_features: int, d_embedding: int):
        super().__init__()
        self.embedding = embedding
        self.n_out = n_features * d_embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x).flatten(1)


class NumericEmbedding(BaseEstimator):
    """Base of numeric embeddings: hyper-parameters plus ``fit_state`` and ``build``.

    Subclasses are scikit-learn parameter holders, so
    ``numeric_embedding=PeriodicEmbedding(), numeric_embedding__d_embedding=[8, 16]``
    is searchable like the architectures.

    Examples
    --------
    >>> from tabmtl import NUMERIC_EMBEDDINGS, NumericEmbedding, PeriodicEmbedding
    >>> isinstance(PeriodicEmbedding(d_embedding=8), NumericEmbedding)
    True
    """

    name = ""

    def fit_state(self, X_numeric: np.ndarray) -> dict:
        """Statistics of the encoded training matrix the module needs (JSON-able)."""
        return {}

    def build(self, n_features: int, state: dict) -> FlatEmbedding:  # pragma: no cover
        raise NotImplementedError


class PeriodicEmbedding(NumericEmbedding):
    """Periodic embeddings (PLR): ``ReLU(Linear([cos(2πcx), sin(2πcx)]))`` per feature.

    Parameters
    ----------
    d_embedding : int, default=16
        Output size per feature.
    n_frequencies : int, default=48
        Learned frequencies per feature.
    frequency_init_scale : float, default=0.01
        Standard deviation of the initial frequencies, the method's most important
        setting (the paper tunes it in [0.01, 100]; 0.01 suits standardised inputs).
    lite : bool, default=False
        One output linear layer shared by all features (cheaper) instead of one each.

    Examples
    --------
    >>> import numpy as np, torch
    >>> emb = PeriodicEmbedding(d_embedding=4)
    >>> module = emb.build(3, emb.fit_state(np.zeros((10, 3))))
    >>> module(torch.zeros(2, 3)).shape
    torch.Size([2, 12])
    """

    name = "periodic"

    def __init__(
        self,
        d_embedding: int = 16,
        n_frequencies: int = 48,
        frequency_init_scale: float = 0.01,
        lite: bool = False,
    ):
        self.d_embedding = d_embedding
        self.n_frequencies = n_frequencies
        self.frequency_init_scale = frequency_init_scale
        self.lite = lite

    def build(self, n_features: int, state: dict) -> FlatEmbedding:
        module = rtdl.PeriodicEmbeddings(
            n_features,
            int(self.d_embedding),
            n_frequencies=int(self.n_frequencies),
            frequency_init_scale=float(self.frequency_init_scale),
            lite=bool(self.lite),
        )
        return FlatEmbedding(module, n_features, int(self.d_embedding))


class PiecewiseLinearEmbedding(NumericEmbedding):
    """Piecewise-linear embeddings over quantile bins of the training rows.

    Parameters
    ----------
    n_bins : int, default=48
        Bins per feature (fewer when a feature has fewer distinct values or rows).
    d_embedding : int, default=16
        Output size per feature.
    activation : bool, default=False
        ReLU after the per-feature linear layer.

    Uses rtdl_num_embeddings' version "B" (TabM paper): a linear embedding plus a
    piecewise-linear part initialised at zero, so training starts from a linear model of
    each feature.

    Examples
    --------
    >>> import numpy as np, torch
    >>> emb = PiecewiseLinearEmbedding(n_bins=4, d_embedding=2)
    >>> X = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    >>> module = emb.build(3, emb.fit_state(X))
    >>> module(torch.from_numpy(X[:5])).shape
    torch.Size([5, 6])
    """

    name = "piecewise_linear"

    def __init__(self, n_bins: int = 48, d_embedding: int = 16, activation: bool = False):
        self.n_bins = n_bins
        self.d_embedding = d_embedding
        self.activation = activation

    def fit_state(self, X_numeric: np.ndarray) -> dict:
        """Quantile bin edges per column of the encoded training block.

        A constant column gets one bin around its value; with fewer than 3 rows every
        column gets one bin spanning its values (quantile bins need more rows than bins).
        """
        if int(self.n_bins) < 2:
            raise ValueError(f"n_bins must be at least 2, got {self.n_bins!r}.")
        X = np.asarray(X_numeric, dtype=np.float32)
        low, high = X.min(axis=0), X.max(axis=0)
        edges: list[list[float]] = [
            [float(lo), float(hi)] if hi > lo else [float(lo) - 1.0, float(lo) + 1.0]
            for lo, hi in zip(low, high)
        ]
        varying = np.flatnonzero(high > low)
        if len(X) >= 3 and len(varying):
            n_bins = int(min(self.n_bins, len(X) - 1))
            with _one_bin_is_fine():  # compute_bins checks its own edges too
                bins = rtdl.compute_bins(torch.from_numpy(X[:, varying]), n_bins=n_bins)
            for j, b in zip(varying, bins):
                edges[j] = b.tolist()
        return {"bins": edges}

    def build(self, n_features: int, state: dict) -> FlatEmbedding:
        bins = [torch.tensor(b, dtype=torch.float32) for b in state["bins"]]
        if len(bins) != n_features:
            raise ValueError(f"{len(bins)} bin lists for {n_features} numeric features.")
        with _one_bin_is_fine():
            module = rtdl.PiecewiseLinearEmbeddings(
                bins, int(self.d_embedding), activation=bool(self.activation), version="B"
            )
        return FlatEmbedding(module, n_features, int(self.d_embedding))


@contextlib.contextmanager
def _one_bin_is_fine() -> Iterator[None]:
    """Silence rtdl's "just two bin edges" warning: one bin is what a constant or 0/1
    column (a flag, a missing indicator) should get."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*has just two bin edges")
        yield


NUMERIC_EMBEDDINGS: dict[str, type[NumericEmbedding]] = {
    cls.name: cls for cls in (PeriodicEmbedding, PiecewiseLinearEmbedding)
}


def resolve_numeric_embedding(value) -> NumericEmbedding | None:
    """None, a registered name, or an instance (cloned, so fitting never mutates it)."""
    if value is None:
        return None
    if isinstance(value, NumericEmbedding):
        return clone(value)
    if isinstance(value, str) and value in NUMERIC_EMBEDDINGS:
        return NUMERIC_EMBEDDINGS[value]()
    raise ValueError(
        f"numeric_embedding must be None, one of {sorted(NUMERIC_EMBEDDINGS)!r} or a "
        f"NumericEmbedding instance, got {value!r}."
    )

