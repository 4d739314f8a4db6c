"""Target kinds and the target transformer.

A target column becomes one *task*. Its kind (regression, binary, multiclass, or the
distributional regression kinds gaussian and quantile) decides the head's width, the
loss, the default score and how network outputs turn back into the user's values.
:class:`TargetSpec` is the transformer that does this for a whole target frame.

Modules: :mod:`~tabmtl._data.targets.base` (the kind base class and registry),
:mod:`~tabmtl._data.targets.regression` and :mod:`~tabmtl._data.targets.labels` (the
kinds), :mod:`~tabmtl._data.targets.inference` (a column's kind) and
:mod:`~tabmtl._data.targets.spec` (:class:`TargetSpec`). Every public name is importable
from here.
"""

# importing the kinds' modules registers them in TARGET_KINDS
from tabmtl._data.targets.base import (
    TARGET_KINDS,
    TargetKind,
    as_python_scalar,
    as_tensor,
    decoding_constant,
)
from tabmtl._data.targets.inference import (
    KIND_NAMES,
    MAX_INT_CLASSES,
    MAX_TARGET_CLASSES,
    check_label_count,
    infer_kind,
    is_regression_kind,
    resolve_kind,
)
from tabmtl._data.targets.labels import BinaryTarget, MulticlassTarget
from tabmtl._data.targets.regression import (
    LOG_VAR_BOUND,
    QUANTILE_LEVELS,
    GaussianRegressionTarget,
    QuantileRegressionTarget,
    RegressionTarget,
)
from tabmtl._data.targets.spec import TargetSpec

__all__ = [
    "KIND_NAMES",
    "LOG_VAR_BOUND",
    "MAX_INT_CLASSES",
    "MAX_TARGET_CLASSES",
    "QUANTILE_LEVELS",
    "TARGET_KINDS",
    "BinaryTarget",
    "GaussianRegressionTarget",
    "MulticlassTarget",
    "QuantileRegressionTarget",
    "RegressionTarget",
    "TargetKind",
    "TargetSpec",
    "as_python_scalar",
    "as_tensor",
    "check_label_count",
    "decoding_constant",
    "infer_kind",
    "is_regression_kind",
    "resolve_kind",
]
