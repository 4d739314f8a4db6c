"""Tuned values -> MultiTaskEstimator parameters (no Optuna needed to read a result).

A search space may set a component's own settings (``numeric_embedding__d_embedding``)
next to the component's name (``numeric_embedding="periodic"``). ``set_params`` only
reaches such settings when the component is an instance, so :func:`estimator_params`
builds it: the registered class of that name, with those settings.
"""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.base import clone

from tabmtl.nn.architectures import ARCHITECTURES
from tabmtl.nn.numeric_embedding import NUMERIC_EMBEDDINGS

#: Component parameter -> registry of its named classes (whose settings are searchable).
COMPONENTS = {"numeric_embedding": NUMERIC_EMBEDDINGS, "architecture": ARCHITECTURES}


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
    >>> from tabmtl.nn.numeric_embedding import PeriodicEmbedding
    >>> component_name("numeric_embedding", PeriodicEmbedding(d_embedding=4))
    'periodic'
    """
    if value is None or isinstance(value, str):
        return value
    registry = COMPONENTS[component]
    return next((name for name, cls in registry.items() if type(value) is cls), value)


def estimator_params(
    values: Mapping[str, object], base: Mapping[str, object] | None = None
) -> dict[str, object]:
    """Flat tuned values as parameters ``set_params`` accepts.

    ``<component>__<setting>`` entries go into an instance of the component named in
    ``values``, else in ``base`` (the estimator's own parameters: a registered name or
    an instance, which is cloned); they are dropped when the component is None (no
    numeric embedding has no embedding size). Hidden layer sizes become a tuple.

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
        if isinstance(name, str):
            cls = registry[name]
            known = cls().get_params(deep=False)
            params[component] = cls(**{k: v for k, v in settings.items() if k in known})
        else:  # an instance given by the user: keep its class, set the tuned settings
            params[component] = clone(name).set_params(**settings)
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return params
