"""Batched building blocks: M parallel linear maps, their MLPs, and all task heads at once.

Multi-task bodies run many small networks side by side (soft sharing's towers, MMoE's
experts, PLE's task and shared experts, per-task towers). Run as a Python loop of small
matmuls, their cost is the loop, not the arithmetic. Here the M members of a layer are
one parameter of shape (M, out, in) (member ``m`` is ``nn.Linear``'s ``weight`` layout at
``[m]``), so a layer is one GEMM when all members read the same input and one ``baddbmm``
when each reads its own.

Activations of M members are held as one (M, batch, width) tensor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout with a cheap mask: each unit kept with probability ``1 - p`` and
    scaled by ``1 / (1 - p)``, as ``torch.nn.functional.dropout`` does.

    Why not ``F.dropout``: on CPU its mask (one Bernoulli draw per unit) costs more than
    the 256x256 matmul it usually follows, and the draws are most of it. Here one 64-bit
    draw gives four units their 16 random bits, so the generator runs a quarter as often;
    ``p`` is applied in steps of 1/65536 (0.1 keeps units with probability 0.89999).
    The global torch generator is used, so seeding works as for ``F.dropout``.
    """
    if not training or p == 0.0:
        return x
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
    draws = words.random_(-(2**63), None).view(torch.int16)[:n].view(x.shape)
    keep = draws >= round(p * 65536) - 32768  # uniform over [-32768, 32767]
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - p))


def init_like_linear_(weight: torch.Tensor, bias: torch.Tensor) -> None:
    """``nn.Linear``'s default initialisation, member by member.

    ``weight`` is (..., out, in), ``bias`` (..., out). ``nn.Linear`` draws its weight by
    kaiming-uniform with ``a=sqrt(5)``, which is uniform(+-1/sqrt(fan_in)), and its bias
    from the same range; each member here gets exactly that, with its own ``fan_in``.
    """
    bound = 1.0 / math.sqrt(weight.shape[-1]) if weight.shape[-1] > 0 else 0.0
    with torch.no_grad():
        weight.uniform_(-bound, bound)
        bias.uniform_(-bound, bound)


class ParallelLinear(nn.Module):
    """``n_members`` independent linear maps held as one (M, out, in) weight.

    The input is either (batch, in), read by every member (one GEMM), or (M, batch, in),
    one slice per member (one ``baddbmm``). The output is (M, batch, out).

    Parameters
    ----------
    n_members : int
        Number of parallel maps (towers, experts, gates).
    in_features, out_features : int
        Widths of every member.

    Examples
    --------
    >>> import torch
    >>> layer = ParallelLinear(3, 4, 2)
    >>> layer(torch.zeros(5, 4)).shape, layer(torch.zeros(3, 5, 4)).shape
    (torch.Size([3, 5, 2]), torch.Size([3, 5, 2]))
    """

    def __init__(self, n_members: int, in_features: int, out_features: int):
        super().__init__()
        self.n_members = n_members
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(n_members, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n_members, out_features))
        init_like_linear_(self.weight, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # one shared input: all members in a single GEMM
            flat = F.linear(x, self.weight.reshape(-1, self.in_features), self.bias.reshape(-1))
            # shapes from the layer, never the batch: exported graphs keep a dynamic batch
            return flat.unflatten(-1, (self.n_members, self.out_features)).transpose(0, 1)
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))

    def extra_repr(self) -> str:
        return f"n_members={self.n_members}, in={self.in_features}, out={self.out_features}"


class ParallelMLP(nn.Module):
    """``n_members`` MLPs of the same widths (Linear -> ReLU -> dropout blocks), batched.

    Input (batch, in) shared by all members or (M, batch, in); output (M, batch, width).
    With no hidden sizes it is the identity (a shared input is broadcast to M members).

    Examples
    --------
    >>> import torch
    >>> experts = ParallelMLP(4, 8, (16, 8), dropout=0.1)
    >>> experts(torch.zeros(5, 8)).shape
    torch.Size([4, 5, 8])
    """

    def __init__(self, n_members: int, n_inputs: int, sizes: Sequence[int], dropout: float):
        super().__init__()
        self.n_members = n_members
        self.dropout = float(dropout)
        widths = [n_inputs, *sizes]
        self.layers = nn.ModuleList(
            ParallelLinear(n_members, a, b) for a, b in pairwise(widths)
        )
        self.out_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not len(self.layers) and x.dim() == 2:
            return x.unsqueeze(0).expand(self.n_members, -1, -1)
        for layer in self.layers:
            x = dropout(torch.relu(layer(x)), self.dropout, self.training)
        return x


class SharedMLP(nn.Module):
    """One MLP (Linear -> ReLU -> dropout blocks) on (batch, in); the identity when empty.

    Examples
    --------
    >>> import torch
    >>> SharedMLP(8, (16, 4), dropout=0.1)(torch.zeros(5, 8)).shape
    torch.Size([5, 4])
    """

    def __init__(self, n_inputs: int, sizes: Sequence[int], dropout: float):
        super().__init__()
        self.dropout = float(dropout)
        widths = [n_inputs, *sizes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))
        self.out_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = dropout(torch.relu(layer(x)), self.dropout, self.training)
        return x


class TaskHeads(nn.Module):
    """Every task's output layer as one fused linear layer.

    ``task_outputs`` maps task -> number of outputs (1 value, 1 logit, K logits). The
    weight is (sum of widths, in), row ``j`` belonging to the task whose output column
    ``j`` is (:attr:`output_owners`). The input is either (batch, in), shared by all
    heads (one GEMM), or (T, batch, in), one slice per task in task order.

    Examples
    --------
    >>> import torch
    >>> heads = TaskHeads(8, {"eta": 1, "mode": 3})
    >>> heads(torch.zeros(2, 8)).shape, heads(torch.zeros(2, 2, 8)).shape
    (torch.Size([2, 4]), torch.Size([2, 4]))
    >>> heads.output_owners
    ('eta', 'mode', 'mode', 'mode')
    """

    def __init__(self, in_features: int, task_outputs: dict[str, int]):
        super().__init__()
        widths = list(task_outputs.values())
        self.n_tasks = len(widths)
        self.output_owners = tuple(t for t, k in task_outputs.items() for _ in range(k))
        # every head as wide as the others: one baddbmm; else one product and a gather
        self.equal_widths = len(set(widths)) == 1
        self.weight = nn.Parameter(torch.empty(len(self.output_owners), in_features))
        self.bias = nn.Parameter(torch.empty(len(self.output_owners)))
        init_like_linear_(self.weight, self.bias)
        task_of = [i for i, k in enumerate(widths) for _ in range(k)]
        self.register_buffer("task_of_output", torch.tensor(task_of), persistent=False)
        self.register_buffer("output_index", torch.arange(len(task_of)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return F.linear(x, self.weight, self.bias)
        if self.equal_widths:
            weight = self.weight.view(self.n_tasks, -1, self.weight.shape[1]).transpose(1, 2)
            out = torch.baddbmm(self.bias.view(self.n_tasks, 1, -1), x, weight)
            return out.transpose(0, 1).flatten(1)
        # (T, batch, K): every task's input through every head; keep each column's own
        every = torch.matmul(x, self.weight.t())
        return every[self.task_of_output, :, self.output_index].t() + self.bias
