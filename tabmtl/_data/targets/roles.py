"""Target roles: *main* targets (predicted, scored, selected on) and *auxiliary* ones.

An auxiliary target is training signal only: it is encoded, gets its head and its
masked loss like any target, but model selection (early stopping, the best epoch),
``predict`` (by default), ``score`` and the tuning objective look at the main targets
alone. The estimators' ``auxiliary`` parameter names them; this module turns that
parameter into the two lists and checks it against the fitted targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tabmtl.errors import InputError


def auxiliary_names(auxiliary) -> list:
    """The ``auxiliary`` parameter as a list of names (None -> ``[]``).

    Examples
    --------
    >>> auxiliary_names(None), auxiliary_names("lab"), auxiliary_names(("a", "b"))
    ([], ['lab'], ['a', 'b'])
    """
    if auxiliary is None:
        return []
    if isinstance(auxiliary, (str, bytes)) or not isinstance(auxiliary, (Sequence, np.ndarray)):
        return [auxiliary]
    return list(auxiliary)


def check_auxiliary_params(auxiliary, auxiliary_weight) -> None:
    """InputError unless ``auxiliary`` is None, a name or a list of distinct names and
    ``auxiliary_weight`` a finite number >= 0 (checked before any data is read)."""
    names = auxiliary_names(auxiliary)
    repeated = sorted({str(n) for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"auxiliary names target(s) {repeated!r} more than once.")
    if (
        isinstance(auxiliary_weight, bool)
        or not isinstance(auxiliary_weight, (int, float, np.integer, np.floating))
        or not math.isfinite(auxiliary_weight)
        or auxiliary_weight < 0
    ):
        raise InputError(
            f"auxiliary_weight must be a finite number >= 0, got {auxiliary_weight!r}."
        )


def _match(name, target_names: Sequence) -> object | None:
    """The target named ``name`` (exactly, else by its string: command-line names)."""
    if name in list(target_names):
        return name
    by_text = [t for t in target_names if str(t) == str(name)]
    return by_text[0] if len(by_text) == 1 else None


def split_roles(auxiliary, target_names: Sequence) -> tuple[list, list]:
    """``(main, auxiliary)`` target names, each in ``target_names`` order.

    Raises
    ------
    InputError
        When a name is not a target column, or when every target would be auxiliary.

    Examples
    --------
    >>> split_roles(["b"], ["a", "b", "c"])
    (['a', 'c'], ['b'])
    >>> split_roles("z", ["a", "b"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tabmtl.errors.InputError: auxiliary target 'z' is not a target column; ...
    """
    names = list(target_names)
    chosen = set()
    for name in auxiliary_names(auxiliary):
        label = _match(name, names)
        if label is None:
            raise InputError(
                f"auxiliary target {name!r} is not a target column; the targets are "
                f"{[str(t) for t in names]!r}."
            )
        chosen.add(label)
    main = [t for t in names if t not in chosen]
    if not main:
        raise InputError(
            f"Every target ({[str(t) for t in names]!r}) is auxiliary: leave at least one "
            "main target out of auxiliary."
        )
    return main, [t for t in names if t in chosen]


def main_target_names(estimator) -> list:
    """The main targets of a fitted estimator (every target without ``auxiliary``)."""
    names = list(estimator.target_spec_.target_names_)
    return split_roles(getattr(estimator, "auxiliary", None), names)[0]


def loss_scales(auxiliary, auxiliary_weight, target_names: Sequence) -> list[float] | None:
    """Per-task factor on each task's loss before the weighting: ``auxiliary_weight``
    for the auxiliary targets, 1 for the main ones; None when all are 1."""
    _, aux = split_roles(auxiliary, target_names)
    if not aux or float(auxiliary_weight) == 1.0:
        return None
    return [float(auxiliary_weight) if t in aux else 1.0 for t in target_names]
