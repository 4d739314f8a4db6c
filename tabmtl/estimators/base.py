"""The scikit-learn-facing estimators.

They compose a skorch net (``net_``) built in ``fit`` rather than inherit from one, so
``__init__`` stores parameters verbatim and every scikit-learn contract holds: clone,
``get_params``/``set_params`` with nested prefixes (``architecture__head_layer_sizes``,
``weighting__init_log_var``), pickling, pipelines and searches.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Checkpoint, EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit

from tabmtl.data.features import FeaturePreprocessor
from tabmtl.data.targets import TargetSpec
from tabmtl.nn.architectures import Architecture, resolve_architecture
from tabmtl.nn.loss import MultiTaskLoss
from tabmtl.nn.network import TabularNetwork
from tabmtl.nn.weighting import Weighting, resolve_weighting
from tabmtl.training.callbacks import BestWeights, TaskLogger
from tabmtl.training.iterators import SliceIterator, TensorDataset
from tabmtl.training.net import MultiTaskNet, TrainingDiverged
from tabmtl.training.resume import ResumeCheckpoint, fingerprint, read_resume_state
from tabmtl.uncertainty.calibration import _check_alpha, conformal_quantile, fit_temperature

_PREDICT_BATCH = 4096


class MultiTaskBase(BaseEstimator):
    """Shared fit/predict machinery. Subclasses decide how X and Y come in and go out.

    Fit entry points outside this class (``fit_parquet``, ``fit_distributed``, the command
    line) use two documented protected methods and nothing else of its internals:

    - :meth:`_begin_fit` validates the parameters and draws the fit's seed;
    - :meth:`_fit_encoded` trains on data that is already encoded, given the fitted
      preprocessor and target spec.
    """

    def __init__(
        self,
        *,
        hidden_layer_sizes: Sequence[int] = (128, 64),
        dropout: float = 0.1,
        architecture: str | Architecture = "soft",
        weighting: str | Mapping[object, float] | Weighting = "equal",
        max_epochs: int = 100,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 10,
        calibration_fraction: float = 0.0,
        callbacks: Sequence | None = None,
        checkpoint_dir: str | None = None,
        net_kwargs: Mapping | None = None,
        random_state: int | None = None,
        device: str = "cpu",
        verbose: int = 0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.architecture = architecture
        self.weighting = weighting
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.calibration_fraction = calibration_fraction
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.net_kwargs = net_kwargs
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- fit -----------------------------------------------------------------------------

    def _fit_frames(
        self,
        X: pd.DataFrame,
        Y: pd.DataFrame,
        targets,
        sample_weight=None,
        class_weight=None,
    ) -> None:
        """Fit on validated frames; ``targets`` are the kind overrides to use."""
        if len(X) != len(Y):
            raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}; they must match.")
        if len(X) == 0:
            raise ValueError("X and Y are empty (0 rows); fit needs at least one labelled row.")
        seed = self._begin_fit()
        spec = TargetSpec(targets=targets).fit(Y)
        y_enc = spec.transform(Y)
        weights = row_task_weights(spec, Y, y_enc, sample_weight, class_weight)
        if weights is not None:  # carried as T more target columns (see MultiTaskLoss)
            y_enc = np.hstack([y_enc, weights])
        labelled = ~np.isnan(y_enc[:, : len(spec.tasks_)]).all(axis=1)
        if not labelled.all():
            warnings.warn(
                f"Dropping {int((~labelled).sum())} rows of {len(Y)} that have no target "
                "label at all.",
                UserWarning,
                stacklevel=3,
            )
        # features are fitted on every row, labelled or not: predict sees all of them too
        self.preprocessor_ = FeaturePreprocessor().fit(X)
        X_enc = self.preprocessor_.transform(X)
        if not labelled.all():
            X_enc, y_enc = X_enc[labelled], y_enc[labelled]
        self.target_spec_ = spec

        # Split-conformal intervals need rows the net never saw, so calibration rows are
        # held out of training entirely (early stopping's split, if any, is then drawn from
        # the rest: those rows chose the epoch, so they are not exchangeable with new data).
        calibration_rows, keep = _calibration_split(
            int(labelled.sum()), self.calibration_fraction, seed
        )
        if len(calibration_rows):
            self._standardize_on_training_rows(spec, Y, y_enc, np.flatnonzero(labelled), keep)
        y_calibration = y_enc[calibration_rows, : len(spec.tasks_)]
        X_enc, y_enc = X_enc[keep], y_enc[keep]
        resume = None
        if self.checkpoint_dir is not None:
            identity = fingerprint(self.get_params(deep=False), seed, X_enc, y_enc)
            resume = (identity, read_resume_state(self.checkpoint_dir, identity))
        self._fit_encoded(
            TensorDataset(X_enc, y_enc), self.preprocessor_, spec, seed, resume=resume
        )
        if len(calibration_rows):
            rows_in_X = np.flatnonzero(labelled)[calibration_rows]
            self._fit_calibration(X.iloc[rows_in_X], y_calibration)

    def _begin_fit(self) -> int:
        """Validate the parameters and return the fit's seed (documented protected).

        Every fit entry point calls it first, before any data is processed.
        """
        self._check_params()
        return self._seed()

    def _fit_encoded(
        self, dataset, preprocessor, target_spec, seed: int, *, configure=None, resume=None
    ) -> None:
        """Train on encoded data (documented protected: the one training seam).

        ``preprocessor`` and ``target_spec`` are fitted and become ``preprocessor_`` and
        ``target_spec_``; ``dataset`` holds what they produce (a :class:`TensorDataset`,
        or any dataset the net's iterators read). Calibration is reset; ``net_`` is
        built and trained. ``configure(net)`` may adjust the built net before training
        (the streamed fit sets its iterators there); ``resume`` as in :meth:`_build_net`.
        """
        self.preprocessor_ = preprocessor
        self.target_spec_ = target_spec
        self._reset_calibration()
        self._train_net(dataset, seed, resume, configure)

    def _train_net(self, dataset, seed: int, resume=None, configure=None) -> None:
        """Build ``net_`` and train it on ``dataset`` (in-memory and streamed fits alike).

        ``resume`` as in :meth:`_build_net`; ``configure(net)`` may adjust the built net
        before training (the streamed fit sets its iterators there). A diverged fit keeps
        its best verified epoch, or no ``net_`` when no epoch finished.
        """
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
            torch.manual_seed(seed)
            self.net_ = self._build_net(seed, resume)
            if configure is not None:
                configure(self.net_)
            try:
                if resume is not None and resume[1] is not None:
                    # continue an interrupted fit: ResumeCheckpoint restores the state at
                    # the start of training, then only the remaining epochs run
                    done = len(json.loads(resume[1]["history"]))
                    self.net_.initialize()
                    self.net_.partial_fit(dataset, y=None, epochs=max(self.max_epochs - done, 0))
                else:
                    self.net_.fit(dataset, y=None)
            except TrainingDiverged as exc:
                self.n_epochs_ = len(self.net_.history)
                best = dict(self.net_.callbacks_)["best_weights"].restore(self.net_)
                kept = (
                    f"The model keeps the weights of epoch {best}, its best so far."
                    if best is not None
                    else "No epoch finished before it, so the model has no usable weights."
                )
                if best is None:
                    del self.net_
                raise TrainingDiverged(f"{exc} {kept}") from None
        self.n_epochs_ = len(self.net_.history)

    @staticmethod
    def _standardize_on_training_rows(spec, Y, y_enc, rows, keep) -> None:
        """Refit the regression targets' mean and scale on the training rows only and
        re-encode them in ``y_enc`` (whose rows are ``Y``'s ``rows``), so that nothing the
        net learns depends on the calibration labels."""
        training = rows[keep]
        for j, task in enumerate(spec.tasks_):
            if not task.is_regression:
                continue
            labels = Y[task.name]
            if labels.iloc[training].notna().sum() == 0:
                raise ValueError(
                    f"Every label of target {task.name!r} fell in the calibration rows; "
                    "lower calibration_fraction or give it more labels."
                )
            task.fit(labels.iloc[training])
            y_enc[:, j] = task.encode(labels.iloc[rows])

    def _reset_calibration(self) -> None:
        """The uncalibrated state: every temperature 1, no conformal scores."""
        n_tasks = len(self.target_spec_.tasks_)
        self.temperatures_ = np.ones(n_tasks, dtype=np.float64)
        self.conformal_scores_ = np.full((0, n_tasks), np.nan, dtype=np.float64)
        self.calibration_counts_ = np.zeros(n_tasks, dtype=np.int64)

    def _fit_calibration(self, X_calibration: pd.DataFrame, y_calibration: np.ndarray) -> None:
        """Conformal scores (regression heads) and temperatures (classification heads)
        from held-out rows; per task, only the rows with that task's label count."""
        spec = self.target_spec_
        raw = self._raw_predict(X_calibration)
        present = ~np.isnan(y_calibration)
        counts = present.sum(axis=0).astype(np.int64)
        scores = np.full((int(counts.max()), len(spec.tasks_)), np.nan, dtype=np.float64)
        temperatures = np.ones(len(spec.tasks_), dtype=np.float64)
        for j, (task, cols) in enumerate(zip(spec.tasks_, spec.slices_)):
            rows = present[:, j]
            if task.is_regression:
                s = np.sort(task.conformity_scores(raw[rows, cols], y_calibration[rows, j]))
                scores[: len(s), j] = s
            else:
                temperatures[j] = fit_temperature(raw[rows, cols], y_calibration[rows, j])
        empty = [t.name for t, n in zip(spec.tasks_, counts) if n == 0]
        if empty:
            warnings.warn(
                f"No held-out calibration row has a label for {empty!r}; those targets stay "
                "uncalibrated. Raise calibration_fraction.",
                UserWarning,
                stacklevel=4,
            )
        self.temperatures_ = temperatures
        self.conformal_scores_ = scores
        self.calibration_counts_ = counts

    def _check_params(self) -> None:
        if not (0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        for name in ("max_epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not (0.0 < self.validation_fraction < 1.0):
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}."
            )
        if any(int(h) < 1 for h in self.hidden_layer_sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive, got {self.hidden_layer_sizes!r}."
            )
        fraction = self.calibration_fraction
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, (int, float, np.integer, np.floating))
            or not (0.0 <= fraction < 1.0)
        ):
            raise ValueError(
                f"calibration_fraction must be a number in [0, 1) (0 turns calibration "
                f"off), got {fraction!r}."
            )

    def _seed(self) -> int:
        if isinstance(self.random_state, (int, np.integer)):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _build_net(self, seed: int, resume: tuple[str, dict | None] | None = None) -> MultiTaskNet:
        """The skorch net for the fitted spec and preprocessor.

        ``resume`` is ``(fingerprint, saved state or None)`` when ``checkpoint_dir`` is set
        during fit: a :class:`ResumeCheckpoint` then saves (and restores) the fit's state.
        """
        spec, pre = self.target_spec_, self.preprocessor_
        keys = [f"t{i}" for i in range(len(spec.tasks_))]
        architecture = resolve_architecture(self.architecture)
        weighting = resolve_weighting(self.weighting)
        task_names = [str(t.name) for t in spec.tasks_]
        n_inputs = pre.n_numeric_ + sum(pre.embedding_dims_)
        body = architecture.build(
            n_inputs,
            {k: t.n_outputs for k, t in zip(keys, spec.tasks_)},
            tuple(int(h) for h in self.hidden_layer_sizes),
            float(self.dropout),
        )
        module = TabularNetwork(pre.n_numeric_, pre.cardinalities_, pre.embedding_dims_, body)
        criterion = MultiTaskLoss(
            [t.kind for t in spec.tasks_],
            [(s.start, s.stop) for s in spec.slices_],
            weighting.build(list(spec.target_names_)),
        )
        callbacks = [("task_logger", TaskLogger(task_names)), ("best_weights", BestWeights())]
        train_split = None
        if self.early_stopping:
            train_split = ValidSplit(self.validation_fraction, stratified=False, random_state=seed)
            callbacks.append(
                ("early_stopping", EarlyStopping(patience=self.patience, load_best=True))
            )
        if self.checkpoint_dir is not None:
            monitor = "valid_loss_best" if self.early_stopping else "train_loss_best"
            callbacks.append(
                ("checkpoint", Checkpoint(monitor=monitor, dirname=str(self.checkpoint_dir)))
            )
        if self.verbose:
            callbacks.append(("progress_bar", ProgressBar()))
        for i, cb in enumerate(self.callbacks or ()):
            name, cb = cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb)
            callbacks.append((name, clone(cb)))
        if resume is not None:  # last: its on_train_begin must run after the others reset
            callbacks.append(("resume", ResumeCheckpoint(str(self.checkpoint_dir), *resume)))
        kwargs = dict(
            module=module,
            criterion=criterion,
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=train_split,
            callbacks=callbacks,
            dataset=TensorDataset,
            iterator_train=SliceIterator,
            iterator_train__shuffle=True,
            iterator_train__seed=seed,
            iterator_train__device=self.device,
            iterator_valid=SliceIterator,
            iterator_valid__batch_size=max(self.batch_size, _PREDICT_BATCH),
            iterator_valid__device=self.device,
            device=self.device,
            verbose=self.verbose,
        )
        kwargs.update(self.net_kwargs or {})
        return MultiTaskNet(**kwargs)

    # -- predict -------------------------------------------------------------------------

    def _raw_predict(self, X: pd.DataFrame) -> np.ndarray:
        """Network outputs (n, n_outputs) for validated features."""
        check_is_fitted(self, "net_")
        return self._network_outputs(self.preprocessor_.transform(X))

    def _network_outputs(self, X_enc: np.ndarray) -> np.ndarray:
        """Network outputs (n, n_outputs) of an encoded feature matrix.

        Up to one prediction batch (and with tabmtl's own batch iterator), the module is
        called directly: the computation skorch's ``forward`` does for that one batch,
        eval mode included, without its dataset and iterator set-up (about 0.4 ms of a
        one-row predict). Larger inputs go through skorch, batch by batch.
        """
        if len(X_enc) == 0:
            return np.zeros((0, self.target_spec_.n_outputs_), dtype=np.float32)
        net = self.net_
        batch_size = getattr(net, "iterator_valid__batch_size", net.batch_size)
        one_batch = batch_size == -1 or len(X_enc) <= batch_size
        if not (one_batch and net.iterator_valid is SliceIterator):
            return net.forward(TensorDataset(X_enc)).detach().cpu().numpy()
        if net.module_.training or net.criterion_.training:
            net._set_training(False)  # what skorch's evaluation step does before each batch
        x = torch.from_numpy(np.asarray(X_enc, dtype=np.float32))  # shares the memory
        if net.device is not None:
            x = x.to(net.device)
        with torch.inference_mode():
            return net.module_(x).cpu().numpy()

    def _temperature_scaled(self, raw: np.ndarray) -> np.ndarray:
        """Raw outputs with each classification head's logits divided by its temperature."""
        temperatures = getattr(self, "temperatures_", None)  # absent: fitted before calibration
        if temperatures is None or np.all(temperatures == 1.0):
            return raw
        raw = raw.astype(np.float64, copy=True)
        for task, cols, t in zip(self.target_spec_.tasks_, self.target_spec_.slices_, temperatures):
            if not task.is_regression:
                raw[:, cols] /= t
        return raw

    def _regression_tasks(self, targets) -> list[tuple[int, object]]:
        """(task index, task) of the regression-family targets named (all when None)."""
        tasks = self.target_spec_.tasks_
        family = [(j, t) for j, t in enumerate(tasks) if t.is_regression]
        if targets is None:
            if not family:
                raise ValueError(
                    "This model has no regression target: intervals and standard deviations "
                    "are for regression, gaussian and quantile targets."
                )
            return family
        by_name = {t.name: (j, t) for j, t in enumerate(tasks)}
        names = [targets] if isinstance(targets, (str, int)) else list(targets)
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"Unknown targets {unknown!r}; the model has {list(by_name)!r}.")
        not_regression = [n for n in names if not by_name[n][1].is_regression]
        if not_regression:
            raise ValueError(
                f"Targets {not_regression!r} are classification targets, which have "
                "probabilities (predict_proba), not intervals."
            )
        return [by_name[n] for n in names]

    def _intervals(
        self, raw: np.ndarray, alpha: float, method: str, targets
    ) -> dict[object, tuple[np.ndarray, np.ndarray]]:
        """Target name -> (lower, upper) of ``1 - alpha`` intervals from raw outputs."""
        alpha = _check_alpha(alpha)
        if method not in ("auto", "conformal", "model"):
            raise ValueError(f"method must be 'auto', 'conformal' or 'model', got {method!r}.")
        counts = getattr(self, "calibration_counts_", None)
        bounds, unbounded = {}, []
        for j, task in self._regression_tasks(targets):
            out = raw[:, self.target_spec_.slices_[j]]
            calibrated = counts is not None and counts[j] > 0
            if method == "conformal" and not calibrated:
                raise ValueError(
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
                stacklevel=3,
            )
        return bounds

    @property
    def task_weights_(self) -> pd.Series:
        """The weight each task's loss had at the end of training, by target name."""
        check_is_fitted(self, "net_")
        weights = self.net_.criterion_.weighting.weights().detach().cpu().numpy()
        return pd.Series(weights, index=pd.Index(self.target_spec_.target_names_), name="weight")

    @property
    def history_(self):
        """The skorch history: one dict per epoch, per-task losses included."""
        check_is_fitted(self, "net_")
        return self.net_.history

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing features are imputed
        tags.target_tags.required = True
        tags.non_deterministic = self.random_state is None
        return tags


def _calibration_split(n_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, object]:
    """Held-out calibration rows and the training rows (a slice when nothing is held out)."""
    if not fraction:
        return np.zeros(0, dtype=np.intp), slice(None)
    n_calibration = round(float(fraction) * n_rows)
    if n_calibration < 1 or n_rows - n_calibration < 1:
        raise ValueError(
            f"calibration_fraction={fraction!r} of {n_rows} labelled rows leaves "
            f"{n_calibration} calibration and {n_rows - n_calibration} training rows; "
            "each needs at least one."
        )
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[:n_calibration]), np.sort(order[n_calibration:])


def row_task_weights(spec, Y, y_enc, sample_weight, class_weight) -> np.ndarray | None:
    """Per-row, per-task loss weights from ``sample_weight`` and ``class_weight``.

    Returns None when every weight would be 1 (the unweighted fast path).
    """
    if sample_weight is None and not class_weight:
        return None
    n, n_tasks = y_enc.shape
    weights = np.ones((n, n_tasks), dtype=np.float32)
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if len(sw) != n:
            raise ValueError(f"sample_weight has {len(sw)} values but Y has {n} rows.")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite and >= 0.")
        weights *= sw[:, None].astype(np.float32)
    if class_weight:
        chosen = (
            {t.name: class_weight for t in spec.tasks_ if not t.is_regression}
            if class_weight == "balanced"
            else dict(class_weight)
        )
        tasks = {t.name: (j, t) for j, t in enumerate(spec.tasks_)}
        for name, rule in chosen.items():
            if name not in tasks or tasks[name][1].is_regression:
                raise ValueError(
                    f"class_weight names {name!r}, which is not a classification target; "
                    f"those are {[t.name for t in spec.tasks_ if not t.is_regression]!r}."
                )
            j, task = tasks[name]
            codes = y_enc[:, j]
            present = ~np.isnan(codes)
            counts = np.bincount(codes[present].astype(int), minlength=len(task.classes_))
            if rule == "balanced":
                per_class = present.sum() / (len(task.classes_) * np.maximum(counts, 1))
            else:
                unknown = [c for c in dict(rule) if c not in list(task.classes_)]
                if unknown:
                    raise ValueError(
                        f"class_weight for {name!r} names labels {unknown!r} that are not "
                        f"among its classes {list(task.classes_)!r}."
                    )
                per_class = np.array([float(dict(rule).get(c, 1.0)) for c in task.classes_])
            weights[present, j] *= per_class[codes[present].astype(int)].astype(np.float32)
    return weights
