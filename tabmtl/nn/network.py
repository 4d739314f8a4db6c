"""The torch module: numeric block + categorical embeddings -> body -> task outputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tabmtl.nn.architectures.base import MultiTaskBody


class TabularNetwork(nn.Module):
    """Numeric block + categorical embeddings -> architecture body -> task outputs.

    Input is the preprocessor's float32 matrix: ``n_numeric`` scaled columns followed by
    one column of integer codes per categorical feature.
    """

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int],
        embedding_dims: Sequence[int],
        body: MultiTaskBody,
    ):
        super().__init__()
        self.n_numeric = n_numeric
        self.embeddings = nn.ModuleList(
            nn.Embedding(k, d) for k, d in zip(cardinalities, embedding_dims)
        )
        self.body = body

    @property
    def n_inputs(self) -> int:
        return self.n_numeric + sum(e.embedding_dim for e in self.embeddings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embeddings:
            codes = x[:, self.n_numeric :].long()
            parts = [x[:, : self.n_numeric]]
            parts += [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
            x = torch.cat(parts, dim=1)
        return self.body(x)

    def shared_parameters(self):
        """Embeddings and the body's shared parameters."""
        yield from self.embeddings.parameters()
        yield from self.body.shared_parameters()

    def penalty(self) -> torch.Tensor | float:
        return self.body.penalty()
