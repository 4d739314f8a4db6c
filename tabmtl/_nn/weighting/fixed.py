"""Equal and fixed (hand-set) task weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .base import LinearCombination, Weighting


class EqualWeighting(Weighting):
    """Every task's loss counts once: L = sum_i L_i.

    Examples
    --------
    >>> import torch
    >>> EqualWeighting().build(["eta", "fare"])(torch.tensor([1.0, 2.0]))
    tensor(3.)
    """

    def build(self, task_names: Sequence[object]) -> LinearCombination:
        return LinearCombination([1.0] * len(task_names))


class FixedWeighting(Weighting):
    """Hand-set weights: L = sum_i lambda_i L_i.

    Parameters
    ----------
    weights : dict
        Target name -> lambda (>= 0). Targets left out get weight 1.0.

    Examples
    --------
    >>> import torch
    >>> FixedWeighting({"fare": 0.5}).build(["eta", "fare"])(torch.tensor([1.0, 2.0]))
    tensor(2.)
    """

    def __init__(self, weights: Mapping[object, float]):
        self.weights = weights

    def build(self, task_names: Sequence[object]) -> LinearCombination:
        weights = dict(self.weights)
        unknown = [k for k in weights if k not in task_names]
        if unknown:
            raise ValueError(
                f"weighting names targets that do not exist: {unknown!r}; "
                f"the targets are {list(task_names)!r}."
            )
        for name, value in weights.items():
            if not (float(value) >= 0):  # also rejects NaN
                raise ValueError(f"Weight of target {name!r} must be >= 0, got {value!r}.")
        return LinearCombination([float(weights.get(t, 1.0)) for t in task_names])
