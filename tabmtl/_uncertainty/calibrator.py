"""The fitted calibration of a multi-task network, held out of training.

:class:`Calibrator` holds what calibration learns from held-out rows (split-conformal
scores per regression head, one temperature per classification head, the labelled rows
behind each) and applies it to raw network outputs. :func:`calibration_split` draws
those held-out rows.
"""

from __future__ import annotations

import warnings

import numpy as np

from tabmtl._uncertainty.conformal import check_alpha, conformal_quantile
from tabmtl._uncertainty.temperature import fit_temperature
from tabmtl.errors import InputError

INTERVAL_METHODS = ("auto", "conformal", "model")


class Calibrator:
    """Conformal scores and temperatures of one model's heads, fitted on held-out rows.

    A new calibrator is the uncalibrated state: every temperature 1, no conformal score.
    :meth:`fit` learns from the raw outputs of held-out rows; per task, only the rows
    with that task's label count.

    Parameters
    ----------
    n_tasks : int
        Number of tasks (targets) of the model.

    Attributes
    ----------
    temperatures_ : ndarray of shape (n_tasks,)
        Temperature of each classification head's logits (1.0 for regression heads).
    conformal_scores_ : ndarray of shape (n_calibration_max, n_tasks)
        Sorted conformity scores of each regression head's labelled rows, NaN-padded.
    calibration_counts_ : ndarray of shape (n_tasks,)
        Labelled calibration rows per task.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl._data.targets import TargetSpec
    >>> Y = pd.DataFrame({"eta": np.arange(20.0)})
    >>> spec = TargetSpec().fit(Y)
    >>> calibrator = Calibrator(1).fit(np.zeros((20, 1)), spec.transform(Y), spec)
    >>> calibrator.calibration_counts_.tolist()
    [20]
    """

    def __init__(self, n_tasks: int):
        self.n_tasks = n_tasks
        self.temperatures_ = np.ones(n_tasks, dtype=np.float64)
        self.conformal_scores_ = np.full((0, n_tasks), np.nan, dtype=np.float64)
        self.calibration_counts_ = np.zeros(n_tasks, dtype=np.int64)

    @classmethod
    def from_state(cls, temperatures, conformal_scores, calibration_counts) -> Calibrator:
        """A calibrator holding a saved state (the three fitted arrays, as saved)."""
        calibrator = cls(len(temperatures))
        calibrator.temperatures_ = np.asarray(temperatures, dtype=np.float64)
        calibrator.conformal_scores_ = np.asarray(conformal_scores, dtype=np.float64)
        calibrator.calibration_counts_ = np.asarray(calibration_counts, dtype=np.int64)
        return calibrator

    def fit(self, raw: np.ndarray, y: np.ndarray, spec) -> Calibrator:
        """Learn from held-out rows' raw outputs ``raw`` and encoded labels ``y``.

        ``y`` has one column per task of the fitted target spec ``spec``, NaN where a
        label is missing. Warns about tasks without any labelled row (they stay
        uncalibrated), and about classification heads whose temperature stays 1 (fewer
        than :data:`~tabmtl._uncertainty.temperature.MIN_TEMPERATURE_ROWS` labelled rows,
        or an optimum at a bound; see :func:`fit_temperature`).
        """
        present = ~np.isnan(y)
        counts = present.sum(axis=0).astype(np.int64)
        scores = np.full((int(counts.max()), len(spec.tasks_)), np.nan, dtype=np.float64)
        temperatures = np.ones(len(spec.tasks_), dtype=np.float64)
        for j, (task, cols) in enumerate(zip(spec.tasks_, spec.slices_)):
            rows = present[:, j]
            if task.is_regression:
                s = np.sort(task.conformity_scores(raw[rows, cols], y[rows, j]))
                scores[: len(s), j] = s
            else:
                temperatures[j] = fit_temperature(raw[rows, cols], y[rows, j], name=task.name)
        empty = [t.name for t, n in zip(spec.tasks_, counts) if n == 0]
        if empty:
            warnings.warn(
                f"No held-out calibration row has a label for {empty!r}; those targets stay "
                "uncalibrated. Raise calibration_fraction.",
                UserWarning,
                stacklevel=4,  # the user's fit
            )
        self.temperatures_ = temperatures
        self.conformal_scores_ = scores
        self.calibration_counts_ = counts
        return self

    def intervals(
        self, raw: np.ndarray, spec, alpha: float, method: str = "auto", targets=None
    ) -> dict[object, tuple[np.ndarray, np.ndarray]]:
        """Target name -> (lower, upper) of ``1 - alpha`` intervals from raw outputs.

        ``method`` is "conformal" (requires calibration), "model" (the head's own
        distribution) or "auto" (conformal where calibrated); ``targets`` names the
        regression targets to return (all when None).
        """
        alpha = check_alpha(alpha)
        if method not in INTERVAL_METHODS:
            raise InputError(f"method must be 'auto', 'conformal' or 'model', got {method!r}.")
        counts = self.calibration_counts_
        bounds, unbounded = {}, []
        for j, task in regression_tasks(spec, targets):
            out = raw[:, spec.slices_[j]]
            calibrated = counts[j] > 0
            if method == "conformal" and not calibrated:
                raise InputError(
                    f"Target {task.name!r} has no conformal calibration: fit with "
                    "calibration_fraction > 0 (and labelled held-out rows for it)."
                )
            if calibrated and method != "model":
                q = conformal_quantile(self.conformal_scores_[: counts[j], j], alpha)
                if np.isinf(q):
                    unbounded.append(task.name)
                bounds[task.name] = task.conformal_interval(out, q)
            else:
                bounds[task.name] = task.model_interval(out, alpha)
        if unbounded:
            warnings.warn(
                f"Too few calibration labels for alpha={alpha:g} on {unbounded!r} (conformal "
                "needs at least 1/alpha - 1): their intervals are unbounded.",
                UserWarning,
                stacklevel=3,  # the user's predict_interval
            )
        return bounds


def regression_tasks(spec, targets=None) -> list[tuple[int, object]]:
    """(task index, task) of the regression-family targets named (all when None).

    Raises a ValueError for unknown names, classification targets, or a model without
    any regression target.
    """
    tasks = spec.tasks_
    family = [(j, t) for j, t in enumerate(tasks) if t.is_regression]
    if targets is None:
        if not family:
            raise InputError(
                "This model has no regression target: intervals and standard deviations "
                "are for regression, gaussian and quantile targets."
            )
        return family
    by_name = {t.name: (j, t) for j, t in enumerate(tasks)}
    names = [targets] if isinstance(targets, (str, int)) else list(targets)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise InputError(f"Unknown targets {unknown!r}; the model has {list(by_name)!r}.")
    not_regression = [n for n in names if not by_name[n][1].is_regression]
    if not_regression:
        raise InputError(
            f"Targets {not_regression!r} are classification targets, which have "
            "probabilities (predict_proba), not intervals."
        )
    return [by_name[n] for n in names]


def calibration_split(n_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, object]:
    """Held-out calibration rows and the training rows (a slice when nothing is held out).

    The calibration rows are a seeded random ``fraction`` of ``n_rows``, both sorted.

    Examples
    --------
    >>> held, kept = calibration_split(10, 0.3, seed=0)
    >>> len(held), len(kept)
    (3, 7)
    """
    if not fraction:
        return np.zeros(0, dtype=np.intp), slice(None)
    n_calibration = round(float(fraction) * n_rows)
    if n_calibration < 1 or n_rows - n_calibration < 1:
        raise InputError(
            f"calibration_fraction={fraction!r} of {n_rows} labelled rows leaves "
            f"{n_calibration} calibration and {n_rows - n_calibration} training rows; "
            "each needs at least one."
        )
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[:n_calibration]), np.sort(order[n_calibration:])
