"""GradNorm (Chen et al., ICML 2018)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import GradientWeighting, Weighting


class GradNormLoss(GradientWeighting):
    """Learn w_i so that the gradient norms G_i = ||grad_shared(w_i L_i)|| follow
    mean(G) * r_i^alpha, with r_i the task's relative inverse training rate
    (L_i / L_i(0), normalised to mean 1). Tasks that train slowly get larger gradients.

    The weights get their own gradient step on sum_i |G_i - target_i| (targets held
    constant, as in the paper), taken on log w_i and divided by mean(G) so the step is
    free of the losses' scale and the weights stay positive; they are renormalised to sum
    to T after each step.
    """

    def __init__(self, n_tasks: int, alpha: float, lr: float):
        super().__init__()
        self.alpha = float(alpha)
        self.lr = float(lr)
        self.register_buffer("w", torch.ones(n_tasks))
        self.register_buffer("initial", torch.full((n_tasks,), float("nan")))
        self._init_weight_log(n_tasks)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return (self.w * losses).sum()

    def backward(self, losses, present, shared, others, extra=0.0) -> None:
        n = len(losses)
        norms = torch.zeros(n, device=losses.device)
        for i in range(n):
            if present[i] and shared:
                grads = torch.autograd.grad(
                    losses[i], shared, retain_graph=True, allow_unused=True
                )
                norms[i] = torch.sqrt(sum((g.square().sum() for g in grads if g is not None),
                                          torch.zeros((), device=losses.device)))
        detached = losses.detach()
        first = torch.isnan(self.initial) & present
        self.initial = torch.where(first, detached, self.initial)
        if present.sum() > 1:
            rate = detached / self.initial.clamp(min=1e-12)
            rate = rate / rate[present].mean()
            grad_norms = self.w * norms
            target = grad_norms[present].mean() * rate.pow(self.alpha)
            mean_norm = grad_norms[present].mean().clamp(min=1e-12)
            # d/d(log w_i) |G_i - target_i| = sign(G_i - target_i) * G_i
            step = torch.sign(grad_norms - target) * grad_norms / mean_norm
            w = torch.where(present, self.w * torch.exp(-self.lr * step), self.w)
            self.w = w * n / w.sum()
        self._log_weights(self.w, present)
        total = (self.w * losses).sum() + extra
        torch.autograd.backward(total, inputs=[p for p in shared + others if p.requires_grad])


class GradNormWeighting(Weighting):
    """GradNorm: balance tasks by equalising (rate-adjusted) gradient norms.

    Parameters
    ----------
    alpha : float, default=1.5
        Strength of the pull toward tasks that train slowly (0 = equal norms).
    lr : float, default=0.025
        Step size of the weights' own update (in log-weight units).

    Examples
    --------
    >>> GradNormWeighting(alpha=0.5).build(["a", "b"]).w.tolist()
    [1.0, 1.0]
    """

    def __init__(self, alpha: float = 1.5, lr: float = 0.025):
        self.alpha = alpha
        self.lr = lr

    def build(self, task_names: Sequence[object]) -> nn.Module:
        return GradNormLoss(len(task_names), self.alpha, self.lr)
