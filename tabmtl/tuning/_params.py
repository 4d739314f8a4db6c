"""Tuned values -> MultiTaskEstimator parameters (no Optuna needed to read a result).

A search space may set a component's own settings (``numeric_embedding__d_embedding``)
next to the component's name (``numeric_embedding="periodic"``). ``set_params`` only
reaches such settings when the component is an instance, so :func:`estimator_params`
builds it: the registered class of that name, with those settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sklearn.base import clone

from tabmtl._nn.architectures import ARCHITECTURES
from tabmtl._nn.numeric_embedding import NUMERIC_EMBEDDINGS
from tabmtl._nn.weighting import WEIGHTINGS

#: Component parameter -> registry of its named classes (whose settings are searchable,
#: and written to a config as the name plus ``<component>__<setting>`` entries).
COMPONENTS = {
    "numeric_embedding": NUMERIC_EMBEDDINGS,
    "architecture": ARCHITECTURES,
    "weighting": WEIGHTINGS,
}


def component_settings(component: str) -> set[str]:
    """Every ``<component>__<setting>`` name some registered class of ``component`` has.

    Examples
    --------
    >>> "numeric_embedding__d_embedding" in component_settings("numeric_embedding")
    True
    """
    registry = COMPONENTS[component]
    return {
        f"{component}__{name}"
        for cls in registry.values()
        for name in cls().get_params(deep=False)
    }


def component_name(component: str, value: object) -> object:
    """The registered name of a component value (a name, None, or an instance).

    Examples
    --------
    >>> from tabmtl._nn.numeric_embedding import PeriodicEmbedding
    >>> component_name("numeric_embedding", PeriodicEmbedding(d_embedding=4))
    'periodic'
    """
    if value is None or isinstance(value, str):
        return value
    registry = COMPONENTS[component]
    return next((name for name, cls in registry.items() if type(value) is cls), value)


def _jsonable(value: object) -> object:
    """``value`` as JSON holds it (tuples as lists); raises TypeError/ValueError if it
    cannot be written."""
    value = list(value) if isinstance(value, tuple) else value
    json.dumps(value, allow_nan=False)
    return value


def component_config(component: str, value: object) -> dict[str, object] | None:
    """A component's value as flat config entries: its name, then its settings that
    differ from its class's defaults; None when a config cannot name it (a class that is
    not registered, a setting that JSON cannot hold).

    :func:`estimator_params` builds the same component back from these entries.

    Examples
    --------
    >>> from tabmtl._nn.architectures import MMoE
    >>> component_config("architecture", MMoE(n_experts=2, tower_layer_sizes=(4,)))
    {'architecture': 'mmoe', 'architecture__n_experts': 2, 'architecture__tower_layer_sizes': [4]}
    >>> component_config("architecture", "hard")
    {'architecture': 'hard'}
    """
    if value is None or isinstance(value, str):
        return {component: value}
    name = component_name(component, value)
    if not isinstance(name, str):
        return None
    defaults = type(value)().get_params(deep=False)
    config: dict[str, object] = {component: name}
    for setting, v in value.get_params(deep=False).items():
        if setting in defaults and same_value(v, defaults[setting]):
            continue
        try:
            config[f"{component}__{setting}"] = _jsonable(v)
        except (TypeError, ValueError):
            return None
    return config


def same_value(a: object, b: object) -> bool:
    """``a == b`` as a bool; False where the comparison fails or is ambiguous (arrays).

    Examples
    --------
    >>> same_value((8,), (8,)), same_value(None, 'x')
    (True, False)
    """
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays
        return False


def estimator_params(
    values: Mapping[str, object], base: Mapping[str, object] | None = None
) -> dict[str, object]:
    """Flat tuned values as parameters ``set_params`` accepts.

    ``<component>__<setting>`` entries go into an instance of the component named in
    ``values``, else in ``base`` (the estimator's own parameters: a registered name or
    an instance, which is cloned); they are dropped when the component is None (no
    numeric embedding has no embedding size). Hidden layer sizes, and a component's list
    settings (layer sizes), become tuples.

    Examples
    --------
    >>> estimator_params({"numeric_embedding": "periodic", "numeric_embedding__d_embedding": 8})
    {'numeric_embedding': PeriodicEmbedding(d_embedding=8)}
    """
    params = {k: v for k, v in values.items() if "__" not in k}
    for component, registry in COMPONENTS.items():
        settings = {
            k.split("__", 1)[1]: v for k, v in values.items() if k.startswith(f"{component}__")
        }
        if not settings:
            continue
        name = params.get(component, (base or {}).get(component))
        if name is None:
            continue
        settings = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
        if isinstance(name, str):
            if name not in registry:
                raise ValueError(f"{component} {name!r} is not one of {sorted(registry)!r}, "
                                 f"so its settings {sorted(settings)!r} cannot be set.")
            cls = registry[name]
            known = cls().get_params(deep=False)
            params[component] = cls(**{k: v for k, v in settings.items() if k in known})
        elif hasattr(name, "set_params"):  # a user's instance: keep its class and settings
            params[component] = clone(name).set_params(**settings)
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return params
