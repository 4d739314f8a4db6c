"""All categorical embeddings as one table and one lookup."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class CategoricalEmbeddings(nn.Module):
    """One embedding per categorical column, stored in one flat table, looked up at once.

    Column ``i`` (``cardinalities[i]`` codes, ``embedding_dims[i]`` values per code)
    owns a block of ``k_i * d_i`` entries of the table. Output column ``j`` of the
    concatenated embeddings reads entry ``offset[j] + code * dim[j]`` of the table, so the
    whole (batch, sum of dims) block is one gather, with no per-column loop. Entries are
    initialised N(0, 1), as ``nn.Embedding``'s.

    Examples
    --------
    >>> import torch
    >>> emb = CategoricalEmbeddings([3, 5], [2, 4])
    >>> emb(torch.tensor([[0, 4], [2, 1]])).shape
    torch.Size([2, 6])
    >>> [tuple(w.shape) for w in emb.column_weights()]
    [(3, 2), (5, 4)]
    """

    def __init__(self, cardinalities: Sequence[int], embedding_dims: Sequence[int]):
        super().__init__()
        self.cardinalities = [int(k) for k in cardinalities]
        self.embedding_dims = [int(d) for d in embedding_dims]
        sizes = [k * d for k, d in zip(self.cardinalities, self.embedding_dims)]
        # no categorical column: no parameter at all (an empty one would reach optimizers
        # and gradient strategies as a zero-size "shared" tensor)
        self.table = nn.Parameter(torch.randn(sum(sizes))) if sum(sizes) else None
        starts = torch.tensor([0, *sizes[:-1]]).cumsum(0) if sizes else torch.zeros(0)
        column, offset, step = [], [], []
        for i, d in enumerate(self.embedding_dims):
            column += [i] * d
            offset += [int(starts[i]) + p for p in range(d)]
            step += [d] * d
        self.register_buffer("output_column", torch.tensor(column, dtype=torch.long),
                             persistent=False)
        self.register_buffer("output_offset", torch.tensor(offset, dtype=torch.long),
                             persistent=False)
        self.register_buffer("output_step", torch.tensor(step, dtype=torch.long),
                             persistent=False)

    @property
    def n_outputs(self) -> int:
        return sum(self.embedding_dims)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """(batch, n_columns) integer codes -> (batch, sum of dims) embeddings."""
        per_output = torch.index_select(codes.long(), 1, self.output_column)
        index = self.output_offset + per_output * self.output_step
        return F.embedding(index, self.table.unsqueeze(1)).squeeze(2)

    def column_weights(self) -> list[torch.Tensor]:
        """Each column's (cardinality, dim) embedding matrix, as views of the table."""
        sizes = [k * d for k, d in zip(self.cardinalities, self.embedding_dims)]
        blocks = torch.split(self.table, sizes) if self.table is not None else ()
        return [b.view(k, d) for b, k, d in zip(blocks, self.cardinalities, self.embedding_dims)]
