"""The search space: a small default over what the quality benchmark shows matters, and
the user's overrides.

A space maps an estimator parameter to an Optuna distribution or to a list of choices.
Choices that Optuna cannot store as such (tuples of layer widths, instances) are stored
as their ``repr`` and decoded back, so every space lives in a database.
``numeric_embedding__*`` / ``architecture__*`` settings are only sampled when their
component is chosen (no embedding size without an embedding).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tabmtl.errors import InputError
from tabmtl.tuning._dependency import import_optuna
from tabmtl.tuning._params import COMPONENTS, component_settings, estimator_params

optuna = import_optuna()
_distributions = optuna.distributions

#: Parameter -> distribution or choices searched by default: the body, its size, the
#: optimiser, the input embedding and its size, the ensemble, the loss weighting and the
#: batch size (the settings the quality and defaults benchmarks move scores with). Sized
#: for a CPU: "soft" builds a tower per task, so widths stop at 256 and ensembles at 4;
#: override ``hidden_layer_sizes`` / ``ensemble_size`` on a GPU.
DEFAULT_SPACE: dict[str, object] = {
    "architecture": ["hard", "soft", "mmoe", "ple"],
    "hidden_layer_sizes": [(64,), (128, 64), (256, 128), (256, 256)],
    "lr": _distributions.FloatDistribution(1e-4, 1e-2, log=True),
    "weight_decay": _distributions.FloatDistribution(1e-6, 1e-2, log=True),
    "dropout": _distributions.FloatDistribution(0.0, 0.4),
    "numeric_embedding": ["piecewise_linear", "periodic", None],
    "numeric_embedding__d_embedding": _distributions.IntDistribution(4, 32, log=True),
    "ensemble_size": [1, 4],
    "weighting": ["equal", "uncertainty", "dwa"],
    "batch_size": [64, 128, 256, 512],
}

_STORABLE = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class _Dimension:
    name: str
    distribution: object  # an optuna BaseDistribution
    decode: dict  # stored choice -> the value it stands for ({} when stored as is)


class SearchSpace:
    """A validated search space: sample a trial's estimator parameters, decode results.

    Parameters
    ----------
    estimator : MultiTaskBase
        The estimator to tune; its ``get_params()`` names (plus the registered
        components' settings) are the valid keys.
    overrides : dict, optional
        Parameter -> Optuna distribution, list of choices, or None to leave a default
        dimension out. Merged over ``DEFAULT_SPACE`` unless ``replace``.
    replace : bool, default=False
        Search only ``overrides`` (no default dimension).

    Examples
    --------
    >>> from tabmtl import MultiTaskEstimator
    >>> space = SearchSpace(MultiTaskEstimator(), {"lr": [1e-3, 1e-2]}, replace=True)
    >>> space.names
    ['lr']
    """

    def __init__(self, estimator, overrides: Mapping[str, object] | None = None, *,
                 replace: bool = False):
        merged = {} if replace else dict(DEFAULT_SPACE)
        merged.update(overrides or {})
        merged = {k: v for k, v in merged.items() if v is not None}
        valid = set(estimator.get_params(deep=True))
        for component in COMPONENTS:
            valid |= component_settings(component)
        unknown = sorted(set(merged) - valid)
        if unknown:
            raise InputError(
                f"Unknown parameter(s) {unknown!r} in the search space of "
                f"{type(estimator).__name__}; valid ones are get_params() names."
            )
        if not merged:
            raise InputError("The search space is empty.")
        self._base = estimator.get_params(deep=False)
        # a component before its settings, whatever the key order: whether a setting is
        # sampled depends on the component already sampled (a stable sort keeps the rest)
        order = sorted(merged, key=lambda name: "__" in name)
        self._dimensions = [_dimension(name, merged[name]) for name in order]

    @property
    def names(self) -> list[str]:
        """The searched parameter names, in sampling order (components before their
        settings)."""
        return [d.name for d in self._dimensions]

    def largest(self, name: str) -> float | None:
        """The largest value searched for ``name``; None when it is not searched or has
        no numeric choice.

        Examples
        --------
        >>> from tabmtl import MultiTaskEstimator
        >>> SearchSpace(MultiTaskEstimator(), {"max_epochs": [20, 50]}).largest("max_epochs")
        50
        """
        dim = next((d for d in self._dimensions if d.name == name), None)
        if dim is None:
            return None
        dist = dim.distribution
        if isinstance(dist, (_distributions.FloatDistribution, _distributions.IntDistribution)):
            return dist.high
        values = [dim.decode.get(c, c) if dim.decode else c for c in dist.choices]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(numbers) if numbers else None

    def sample(self, trial) -> dict[str, object]:
        """One trial's estimator parameters (components built, see ``estimator_params``)."""
        stored = {}
        for dim in self._dimensions:
            component = dim.name.split("__", 1)[0] if "__" in dim.name else None
            if component in COMPONENTS and not self._component_on(component, stored):
                continue  # e.g. no embedding size without an embedding
            stored[dim.name] = _suggest(trial, dim.name, dim.distribution)
        return self.decode(stored)

    def decode(self, stored: Mapping[str, object]) -> dict[str, object]:
        """Stored trial values (``trial.params``) -> estimator parameters."""
        return estimator_params(self.decode_values(stored), self._base)

    def decode_values(self, stored: Mapping[str, object]) -> dict[str, object]:
        """Stored trial values -> the searched values, flat (``numeric_embedding`` a name,
        ``numeric_embedding__d_embedding`` beside it), as a config file holds them."""
        values = {}
        for dim in self._dimensions:
            if dim.name in stored:
                value = stored[dim.name]
                values[dim.name] = dim.decode.get(value, value) if dim.decode else value
        return values

    def _component_on(self, component: str, stored: Mapping[str, object]) -> bool:
        dim = next((d for d in self._dimensions if d.name == component), None)
        if dim is None:
            return self._base.get(component) is not None
        value = stored.get(component)
        return (dim.decode.get(value, value) if dim.decode else value) is not None


def _suggest(trial, name: str, dist) -> object:
    """``trial.suggest_*`` for one distribution."""
    if isinstance(dist, _distributions.FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, _distributions.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    return trial.suggest_categorical(name, dist.choices)


def _dimension(name: str, spec: object) -> _Dimension:
    """One parameter's distribution: an Optuna distribution, or choices (encoded when
    Optuna cannot store them)."""
    if isinstance(spec, (_distributions.FloatDistribution, _distributions.IntDistribution,
                         _distributions.CategoricalDistribution)):
        return _Dimension(name, spec, {})
    if isinstance(spec, (list, tuple)) and len(spec) > 0:
        if all(isinstance(c, _STORABLE) for c in spec):
            return _Dimension(name, _distributions.CategoricalDistribution(list(spec)), {})
        labels = [repr(c) for c in spec]
        if len(set(labels)) != len(labels):
            raise InputError(f"Search space {name!r}: two choices print the same; {labels!r}.")
        return _Dimension(
            name, _distributions.CategoricalDistribution(labels), dict(zip(labels, spec))
        )
    raise InputError(
        f"Search space {name!r}: expected an optuna Float/Int/CategoricalDistribution or a "
        f"non-empty list of choices, got {spec!r}."
    )
