"""Sluice networks: per-task towers split into subspaces that learned matrices mix."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from itertools import pairwise

import pandas as pd
import torch
from torch import nn

from tabmtl._nn.architectures.base import Architecture, MultiTaskBody, Owners, owned_by
from tabmtl._nn.architectures.cross_stitch import stitch_init
from tabmtl._nn.layers import ParallelLinear, TaskHeads, dropout

#: Initial layer-mixing weight of every hidden layer but the last (which starts at 1):
#: each head starts reading mostly the top layer, as a plain tower's head does.
EARLY_LAYER_WEIGHT = 0.1


class SluiceBody(MultiTaskBody):
    """Task towers layer by layer (batched: member t is task t's), each layer's output
    split into subspaces and mixed across all tasks' subspaces by a learned alpha
    matrix, then per task a learned beta weighting of the layers' outputs into its head.

    The towers and alphas are shared parameters (through the mixing every task's output
    depends on every tower); the betas (row t: task t's) and the heads are task parts.
    """

    def __init__(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
        n_subspaces: int,
        orthogonality: float,
        self_weight: float,
    ):
        super().__init__()
        widths = [n_inputs, *hidden_layer_sizes]
        self.tasks = tuple(task_outputs)
        self.n_subspaces = n_subspaces
        self.orthogonality = float(orthogonality)
        self.dropout = float(dropout)
        n_tasks = len(self.tasks)
        self.layers = nn.ModuleList(ParallelLinear(n_tasks, a, b) for a, b in pairwise(widths))
        # (T*S)x(T*S), task-major: subspace s of task t keeps its own 0.9 (self_weight)
        # and takes the same subspace of the other tasks, like a cross-stitch unit per s
        init = torch.kron(stitch_init(n_tasks, self_weight), torch.eye(n_subspaces))
        self.alphas = nn.ParameterList(nn.Parameter(init.clone()) for _ in hidden_layer_sizes)
        n_layers = len(hidden_layer_sizes)
        beta = torch.full((n_tasks, n_layers), EARLY_LAYER_WEIGHT)
        if n_layers:
            beta[:, -1] = 1.0
        self.betas = nn.Parameter(beta)
        self.heads = TaskHeads(sum(hidden_layer_sizes) or n_inputs, task_outputs)
        self._subspace_outputs: list[torch.Tensor] = []  # this training step's, for penalty

    def _mix(self, out: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """``x'_(t,s) = sum_(u,r) alpha[(t,s), (u,r)] x_(u,r)`` on a (T, batch, width) stack."""
        n_tasks, s = len(self.tasks), self.n_subspaces
        width = out.shape[-1]
        parts = out.reshape(n_tasks, -1, s, width // s)
        mixed = torch.einsum("tsur,ubrk->tbsk", alpha.reshape(n_tasks, s, n_tasks, s), parts)
        return mixed.reshape(n_tasks, -1, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.training:
            self._subspace_outputs = []
        if not len(self.layers):
            return self.heads(h)
        x, mixed = h, []
        for layer, alpha in zip(self.layers, self.alphas):
            out = dropout(torch.relu(layer(x)), self.dropout, self.training)
            if self.training and self.orthogonality > 0 and self.n_subspaces > 1:
                self._subspace_outputs.append(out)
            x = self._mix(out, alpha)
            mixed.append(x)
        # heads read each task's layers weighted by its betas; the layers' widths may
        # differ, so the weighted outputs are concatenated rather than summed
        weighted = [x * self.betas[:, i].reshape(-1, 1, 1) for i, x in enumerate(mixed)]
        return self.heads(torch.cat(weighted, dim=2))

    def parameter_owners(self) -> dict[str, Owners]:
        owners = {name: None for name, _ in self.named_parameters()}
        return (
            owners
            | {"betas": self.tasks}
            | owned_by(self.heads, "heads", self.heads.output_owners)
        )

    def penalty(self) -> torch.Tensor | float:
        """``orthogonality * sum_layers sum_tasks sum_(i<j) ||G_iᵀ G_j||²_F / n²``.

        ``G_i`` is the (n rows, width / S) output of subspace ``i`` of a task's layer in
        the last training forward (before the mixing); dividing by the batch size
        squared makes the strength independent of it. Consumed: 0 until the next
        training forward.
        """
        outputs, self._subspace_outputs = self._subspace_outputs, []
        if not outputs:
            return 0.0
        total = 0.0
        n_tasks, s = len(self.tasks), self.n_subspaces
        for out in outputs:
            g = out.reshape(n_tasks, out.shape[1], s, -1)
            for i in range(s):
                for j in range(i + 1, s):
                    cross = torch.matmul(g[:, :, i].transpose(1, 2), g[:, :, j]) / out.shape[1]
                    total = total + cross.square().sum()
        return self.orthogonality * total

    def _names(self, task_names: Sequence[str] | None) -> Sequence[str]:
        if task_names is None:
            return self.tasks
        if len(task_names) != len(self.tasks):
            raise ValueError(
                f"task_names has {len(task_names)} names for {len(self.tasks)} tasks."
            )
        return [str(t) for t in task_names]

    def sharing_weights(self, task_names: Sequence[str] | None = None) -> pd.DataFrame:
        """How much each task takes from each task, per layer, from the learned alphas.

        ``weight`` is the share of ``to_task``'s alpha row mass (absolute values, summed
        over the subspaces of ``from_task``, averaged over ``to_task``'s subspaces) that
        comes from ``from_task``: per layer and ``to_task`` the weights sum to 1, and
        ``from_task == to_task`` is what the task keeps of its own tower.

        Parameters
        ----------
        task_names : sequence of str, optional
            Names of the tasks in the body's order, e.g. ``[t.name for t in
            est.target_spec_.tasks_]`` (a fitted estimator's body knows its tasks by
            position: ``t0``, ``t1``, ...).

        Returns
        -------
        pandas.DataFrame
            Columns ``layer`` (1 = first hidden layer), ``from_task``, ``to_task``,
            ``weight``.
        """
        n_tasks, s = len(self.tasks), self.n_subspaces
        names, rows = self._names(task_names), []
        for layer, alpha in enumerate(self.alphas, start=1):
            blocks = alpha.detach().abs().reshape(n_tasks, s, n_tasks, s).sum(dim=3)
            share = (blocks / blocks.sum(dim=2, keepdim=True).clamp_min(1e-12)).mean(dim=1)
            for t, to_task in enumerate(names):
                for u, from_task in enumerate(names):
                    rows.append((layer, from_task, to_task, float(share[t, u])))
        return pd.DataFrame(rows, columns=["layer", "from_task", "to_task", "weight"])

    def layer_weights(self, task_names: Sequence[str] | None = None) -> pd.DataFrame:
        """The learned betas: how much each task's head reads each hidden layer.

        ``task_names`` as in :meth:`sharing_weights`.

        Returns
        -------
        pandas.DataFrame
            Columns ``task``, ``layer`` (1 = first hidden layer), ``weight``.
        """
        beta = self.betas.detach()
        rows = [(task, layer + 1, float(beta[t, layer]))
                for t, task in enumerate(self._names(task_names))
                for layer in range(beta.shape[1])]
        return pd.DataFrame(rows, columns=["task", "layer", "weight"])


class Sluice(Architecture):
    """Sluice networks (Ruder et al. 2019, "Latent Multi-task Architecture Learning").

    Each task has its own tower of the estimator's ``hidden_layer_sizes``, and every
    hidden layer's output is split into ``n_subspaces`` equal subspaces. After each
    layer a learned alpha matrix over all tasks' subspaces ((T*S) x (T*S)) replaces
    every subspace by a linear combination of all of them, so the network learns per
    layer how much each task takes from each other one (and from its own other
    subspaces). Each task's head reads all hidden layers, weighted by the task's learned
    betas (the paper's layer mixing; concatenated, so the layers' widths may differ).
    The training loss gets ``orthogonality`` times the squared overlap ``||G_iᵀ G_j||²``
    of the subspaces of each task's layer outputs, pushing them to hold different
    information (see ``SluiceBody.penalty``).

    Alphas start as a cross-stitch unit per subspace (``init_self_weight`` on a task's
    own subspace, the rest spread evenly over the other tasks' same subspace); betas
    start at 1 for the last hidden layer and 0.1 for the others. After fit,
    ``est.net_.module_.body.sharing_weights()`` and ``.layer_weights()`` read them.

    Parameters
    ----------
    n_subspaces : int, default=2
        Subspaces per hidden layer; must divide every hidden layer size. 1 makes the
        alphas plain cross-stitch units and turns the orthogonality penalty off.
    orthogonality : float, default=1e-2
        Strength of the orthogonality penalty between subspaces (0: none).
    init_self_weight : float, default=0.9
        Initial weight of a task's own subspace in the alphas (each row sums to 1).

    Examples
    --------
    >>> import torch
    >>> body = Sluice().build(8, {"eta": 1, "mode": 3}, (16, 8), 0.0)
    >>> body(torch.zeros(2, 8)).shape
    torch.Size([2, 4])
    >>> body.alphas[0].shape
    torch.Size([4, 4])
    >>> body.sharing_weights().head(2)
       layer from_task to_task  weight
    0      1       eta     eta     0.9
    1      1      mode     eta     0.1
    """

    def __init__(
        self, n_subspaces: int = 2, orthogonality: float = 1e-2, init_self_weight: float = 0.9
    ):
        self.n_subspaces = n_subspaces
        self.orthogonality = orthogonality
        self.init_self_weight = init_self_weight

    def build(
        self,
        n_inputs: int,
        task_outputs: dict[str, int],
        hidden_layer_sizes: Sequence[int],
        dropout: float,
    ) -> SluiceBody:
        sizes = tuple(int(h) for h in hidden_layer_sizes)
        n = self.n_subspaces
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n_subspaces must be a positive integer, got {self.n_subspaces!r}.")
        if any(h % self.n_subspaces for h in sizes):
            raise ValueError(
                f"n_subspaces={self.n_subspaces} must divide every hidden layer size, "
                f"got hidden_layer_sizes={sizes!r}."
            )
        if not self.orthogonality >= 0:  # also rejects NaN
            raise ValueError(f"orthogonality must be >= 0, got {self.orthogonality!r}.")
        if not 0.0 <= self.init_self_weight <= 1.0:
            raise ValueError(
                f"init_self_weight must be in [0, 1], got {self.init_self_weight!r}."
            )
        return SluiceBody(
            n_inputs, task_outputs, sizes, dropout, int(n),
            float(self.orthogonality), float(self.init_self_weight),
        )
