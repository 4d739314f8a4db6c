"""Conformal intervals of a fitted blend from its out-of-fold residuals."""

from __future__ import annotations

import pandas as pd

from tabmtl._uncertainty.conformal import check_alpha, conformal_quantile
from tabmtl.errors import InputError


class BlendIntervalsMixin:
    """:meth:`predict_interval` of :class:`~tabmtl._ensemble.MultiTaskBlend`: it reads
    ``conformal_scores_``, ``blended_outputs`` and ``_check_X``."""

    def predict_interval(self, X, alpha: float = 0.1, *, targets=None) -> pd.DataFrame:
        """Conformal intervals of coverage ``1 - alpha`` around the blend's prediction.

        The half-width is the conformal quantile
        (``conformal_quantile``) of the blend's absolute
        out-of-fold residuals on the target's labelled rows: no row is held out of
        training for it. The residuals come from the fold models and the centre from the
        refitted ones (a CV+-style interval), so the coverage is approximate, usually a
        little conservative.

        Returns
        -------
        DataFrame
            Indexed like ``X``, MultiIndex columns ``(target, "lower" | "upper")``, float64.
        """
        alpha = check_alpha(alpha)
        names = list(self.conformal_scores_) if targets is None else list(targets)
        unknown = [n for n in names if n not in self.conformal_scores_]
        if unknown or not names:
            raise InputError(
                f"predict_interval covers the regression targets "
                f"{list(self.conformal_scores_)!r}; got {unknown or names!r}."
            )
        index = self._check_X(X, reset=False).index
        outputs = self.blended_outputs(X)
        frames = {}
        for name in names:
            q = conformal_quantile(self.conformal_scores_[name], alpha)
            center = outputs[name]
            frames[name] = pd.DataFrame({"lower": center - q, "upper": center + q}, index=index)
        return pd.concat(frames, axis=1)
