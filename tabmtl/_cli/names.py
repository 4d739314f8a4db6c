"""The registry names the command line offers, without importing the registries.

``tabmtl --help`` lists the architectures, weightings and metrics a user can name; the
registries themselves (:data:`tabmtl.ARCHITECTURES`, :data:`tabmtl.WEIGHTINGS`,
:func:`tabmtl.evaluation._metrics.metric_names`) live in modules that import torch and
scikit-learn, seconds of start-up that ``--help`` and ``--version`` must not pay. So the
parser reads these copies; ``tests/test_cli_startup.py`` checks that they equal the
registries, so a new registry entry fails the tests until it is listed here too.
"""

from __future__ import annotations

__all__ = ["ARCHITECTURE_NAMES", "METRIC_NAMES", "WEIGHTING_NAMES"]

#: :data:`tabmtl.ARCHITECTURES`'s keys, in its order.
ARCHITECTURE_NAMES = ("hard", "soft", "cross_stitch", "mmoe", "ple", "sluice")

#: :data:`tabmtl.WEIGHTINGS`'s keys, in its order.
WEIGHTING_NAMES = (
    "equal", "uncertainty", "dwa", "rlw", "gradnorm", "pcgrad", "cagrad", "mgda", "imtl",
    "upgrad", "aligned_mtl",
)  # fmt: skip

#: :func:`tabmtl.evaluation._metrics.metric_names`, sorted.
METRIC_NAMES = (
    "accuracy", "balanced_accuracy", "neg_ece", "neg_log_loss", "neg_mae", "neg_rmse", "r2",
    "roc_auc",
)  # fmt: skip
