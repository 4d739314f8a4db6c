"""The torch module: numeric block + categorical embeddings -> body -> task outputs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from tabmtl.nn.architectures.base import MultiTaskBody
from tabmtl.nn.embeddings import CategoricalEmbeddings


class TabularNetwork(nn.Module):
    """Numeric block + categorical embeddings -> architecture body -> task outputs.

    Input is the preprocessor's float32 matrix: ``n_numeric`` scaled columns followed by
    one column of integer codes per categorical feature.

    Examples
    --------
    >>> import torch
    >>> from tabmtl.nn.architectures import HardSharing
    >>> body = HardSharing().build(2 + 3, {"eta": 1, "mode": 3}, (8,), 0.0)
    >>> net = TabularNetwork(2, [4], [3], body)
    >>> net(torch.tensor([[0.5, -1.0, 2.0]])).shape
    torch.Size([1, 4])
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
        self.embeddings = CategoricalEmbeddings(cardinalities, embedding_dims)
        self.body = body

    @property
    def n_inputs(self) -> int:
        return self.n_numeric + self.embeddings.n_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embeddings.n_outputs:
            embedded = self.embeddings(x[:, self.n_numeric :])
            x = torch.cat([x[:, : self.n_numeric], embedded], dim=1)
        return self.body(x)

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Embeddings and the body's shared parameters."""
        yield from self.embeddings.parameters()
        yield from self.body.shared_parameters()

    def penalty(self) -> torch.Tensor | float:
        return self.body.penalty()
