"""Per-task losses normalised by the labels of every process, not of each one.

Each task's loss is a mean over the labels present in the batch. In a data-parallel step
each process holds a share of the batch, and :class:`~tabmtl._training.distributed.ReplicaSync`
averages the processes' gradients: were each process to divide by its *own* label count,
a task labelled on few rows would weigh what its labels happen to be spread over. With
its 3 labels all on one of 2 processes it would get half the weight a single process
gives it (that process's mean, averaged with the other's 0); spread 1 and 2 it would
weigh its two rows differently. :func:`global_task_losses` rescales each process's mean
so that the averaged gradient is that of the mean over all the step's labels: the same
weight as one process training on the whole batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from tabmtl._training.distributed.context import is_active

__all__ = ["global_task_losses"]


def global_task_losses(losses: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """This process's per-task mean losses, rescaled to the step's global label counts.

    ``losses[t]`` is the mean over this process's ``counts[t]`` labels of task ``t``;
    the result is ``losses[t] * world_size * counts[t] / sum of counts[t] over the
    processes``, whose average over the processes is the mean over every process's labels
    (one all-reduce of ``len(counts)`` numbers). With sample or class weights the mean is
    a weighted one and the rescaling uses label counts, so it is then exact only when
    the processes' weights average alike. Outside a process group of 2 or more it
    returns ``losses`` unchanged.

    Examples
    --------
    >>> global_task_losses(torch.tensor([0.5, 2.0]), torch.tensor([3, 1]))  # one process
    tensor([0.5000, 2.0000])
    """
    if not is_active():
        return losses
    total = counts.to(losses.dtype).clone()
    dist.all_reduce(total)
    scale = torch.where(
        total > 0, counts.to(losses.dtype) * dist.get_world_size() / total.clamp(min=1), 0.0
    )
    return losses * scale
