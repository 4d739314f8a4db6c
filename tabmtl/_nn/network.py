"""The torch module: numeric block + categorical embeddings -> body -> task outputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from tabmtl._nn.architectures.base import MultiTaskBody
from tabmtl._nn.embeddings import CategoricalEmbeddings


class TabularNetwork(nn.Module):
    """Numeric block + categorical embeddings -> architecture body -> task outputs.

    Input is the preprocessor's float32 matrix: ``n_numeric`` scaled columns followed by
    one column of integer codes per categorical feature. The numeric block may first go
    through robust scaling (:class:`~tabmtl._nn.inputs.RobustNumeric`) and a numeric
    embedding (:mod:`tabmtl._nn.numeric_embedding`). With a
    :class:`~tabmtl._nn.inputs.MemberAdapter` the body runs ``k`` ensemble members: in
    training the output is ``(batch, k, n_outputs)`` (each member's loss counts), in
    evaluation the members are combined per task by ``member_combiners`` (each task
    kind's ``combine_members`` with its output columns), so predictions and exports see
    one ``(batch, n_outputs)`` output.

    Examples
    --------
    >>> import torch
    >>> from tabmtl._nn.architectures import HardSharing
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
        *,
        robust: nn.Module | None = None,
        numeric_embedding: nn.Module | None = None,
        members: nn.Module | None = None,
        member_combiners: Sequence[tuple[Callable, int, int]] = (),
    ):
        super().__init__()
        self.n_numeric = n_numeric
        self.embeddings = CategoricalEmbeddings(cardinalities, embedding_dims)
        self.robust = robust
        self.numeric_embedding = numeric_embedding
        self.members = members
        self.member_combiners = list(member_combiners)
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x[:, : self.n_numeric]
        if self.robust is not None:
            h = self.robust(h)
        if self.numeric_embedding is not None:
            h = self.numeric_embedding(h)
        if self.embeddings.n_outputs:
            h = torch.cat([h, self.embeddings(x[:, self.n_numeric :])], dim=1)
        if self.members is None:
            return self.body(h)
        out = self.body(self.members(h))
        out = out.reshape(x.shape[0], self.members.k, out.shape[1])
        if self.training:
            return out
        return torch.cat([combine(out[:, :, a:b]) for combine, a, b in self.member_combiners], 1)

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter all tasks use: the input side and the body's shared ones."""
        for part in (self.embeddings, self.numeric_embedding, self.members):
            if part is not None:
                yield from part.parameters()
        yield from self.body.shared_parameters()

    def penalty(self) -> torch.Tensor | float:
        return self.body.penalty()
