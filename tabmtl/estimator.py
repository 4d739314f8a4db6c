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
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.callbacks import Checkpoint, EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit

from .architectures import Architecture, resolve_architecture
from .calibration import _check_alpha, conformal_quantile, fit_temperature
from .calibration import interval_coverage as _coverage
from .checkpoint import ResumeCheckpoint, fingerprint, read_resume_state
from .features import FeaturePreprocessor, as_frame, check_unique_names
from .net import (
    BestWeights,
    MultiTaskLoss,
    MultiTaskNet,
    SliceIterator,
    TabularNetwork,
    TaskLogger,
    TensorDataset,
    TrainingDiverged,
)
from .targets import TargetSpec, as_python_scalar
from .weighting import Weighting, resolve_weighting

_PREDICT_BATCH = 4096


class _MultiTaskBase(BaseEstimator):
    """Shared fit/predict machinery. Subclasses decide how X and Y come in and go out."""

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
        self._check_params()
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

        seed = self._seed()
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
        self._reset_calibration()
        resume = None
        if self.checkpoint_dir is not None:
            identity = fingerprint(self.get_params(deep=False), seed, X_enc, y_enc)
            resume = (identity, read_resume_state(self.checkpoint_dir, identity))
        self._train_net(TensorDataset(X_enc, y_enc), seed, resume)
        if len(calibration_rows):
            rows_in_X = np.flatnonzero(labelled)[calibration_rows]
            self._fit_calibration(X.iloc[rows_in_X], y_calibration)

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


class MultiTaskEstimator(_MultiTaskBase):
    """One network for several targets of mixed kinds; DataFrames in, DataFrame out.

    Each target column becomes a task whose kind is read from its dtype (float ->
    regression; bool or two labels -> binary; category / string / small-cardinality
    int -> multiclass) or set in ``targets``. By default (``architecture="soft"``, chosen
    by ``benchmarks/methods.py``) each task has its own tower and an L2 penalty pulls the
    towers together; ``"hard"`` shares one trunk, and the others share through mixing
    units or experts. The weighted sum of per-task losses (or a combination of their
    gradients) trains them together.
    A missing label (NaN / None / pd.NA) drops out of its own task's loss only.

    Parameters
    ----------
    targets : dict, optional
        Target name -> kind ("regression", "binary", "multiclass", "classification"),
        overriding the kind inferred from the dtype. A regression target may instead be
        "gaussian" (the head predicts a mean and a variance, trained with the Gaussian
        negative log-likelihood; ``predict(X, return_std=True)``) or "quantile" (the
        0.05, 0.5 and 0.95 quantiles, pinball loss); both give intervals by themselves.
    class_weight : "balanced" or dict, optional
        Loss weights of the classes of classification targets: "balanced" for every
        classification target (n_labelled / (K * count of the class)), or a dict
        ``{target: "balanced" or {label: weight}}``. Missing labels stay out either way.
    hidden_layer_sizes : tuple of int, default=(128, 64)
        Widths of the trunk's (or each task tower's) layers.
    dropout : float, default=0.1
        Dropout after each hidden layer.
    architecture : str or Architecture, default="soft"
        How parameters are shared; a name from ``tabmtl.architectures.ARCHITECTURES``
        ("soft", "hard", "cross_stitch", "mmoe", "ple") or an instance (whose parameters
        are then reachable as ``architecture__*``).
    weighting : str, dict or Weighting, default="equal"
        How task losses are combined: "equal", "uncertainty", a dict of fixed weights
        ``{target: lambda}`` (L = sum lambda_i L_i), or a Weighting instance.
    max_epochs : int, default=100
        Number of passes over the data (fewer with early stopping).
    batch_size : int, default=256
        Mini-batch size.
    lr : float, default=1e-3
        AdamW learning rate.
    weight_decay : float, default=0.0
        AdamW weight decay.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when the validation loss
        has not improved for ``patience`` epochs, keeping the best weights.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    patience : int, default=10
        Epochs without validation improvement before stopping.
    calibration_fraction : float, default=0.0
        Share of the labelled rows (seeded by ``random_state``) held out of training to
        calibrate: split-conformal scores for the regression targets (so that
        :meth:`predict_interval` has the promised coverage whatever the head) and one
        temperature per classification head (applied in ``predict_proba``). Per target,
        only the held-out rows with that target's label count. 0 turns it off. The
        early-stopping split, if any, is drawn from the remaining rows: conformal needs
        rows that neither trained the net nor chose its epoch.
    callbacks : list of skorch callbacks, optional
        Extra skorch callbacks (e.g. ``LRScheduler``); cloned at each fit.
    checkpoint_dir : str, optional
        Folder where skorch's ``Checkpoint`` saves the best parameters, optimizer state
        and history during training.
    net_kwargs : dict, optional
        Any further ``skorch.NeuralNet`` arguments (an escape hatch).
    random_state : int, optional
        Seeds weight init, dropout, shuffling and the validation split: the same value
        gives identical predictions.
    device : str, default="cpu"
        Torch device ("cpu", "cuda", "cuda:1", ...).
    verbose : int, default=0
        0 silent; 1 prints an epoch table (per-task losses included) and a progress bar.

    Attributes
    ----------
    net_ : MultiTaskNet
        The fitted skorch net (its ``history`` holds ``train_loss_<target>`` per epoch).
    target_spec_ : TargetSpec
        Fitted target transformer (kinds, classes, scales).
    preprocessor_ : FeaturePreprocessor
        Fitted feature preprocessor.
    n_features_in_ : int
        Number of feature columns seen in fit.
    feature_names_in_ : ndarray
        Feature names seen in fit (only when X had string column names).
    task_weights_ : pandas.Series
        Final weight of each task's loss.
    n_epochs_ : int
        Epochs actually run.
    temperatures_ : ndarray of shape (n_targets,)
        Temperature of each classification head's logits (1.0 for regression targets
        and without calibration).
    conformal_scores_ : ndarray of shape (n_calibration_max, n_targets)
        Sorted conformity scores of each regression target's labelled calibration rows
        (standardised units; absolute residuals, residuals over the predicted std, or
        CQR scores by head), NaN-padded; no rows without calibration.
    calibration_counts_ : ndarray of shape (n_targets,)
        Labelled calibration rows per target.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl import MultiTaskEstimator
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"km": rng.uniform(1, 20, 200), "zone": rng.choice(["a", "b"], 200)})
    >>> Y = pd.DataFrame({"eta": 3 * X.km + rng.normal(size=200), "late": X.km > 10})
    >>> model = MultiTaskEstimator(max_epochs=20, random_state=0).fit(X, Y)
    >>> model.predict(X.head(2)).dtypes.tolist()
    [dtype('float64'), dtype('bool')]
    """

    def __init__(
        self,
        targets: Mapping[object, str] | None = None,
        *,
        class_weight: str | Mapping | None = None,
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
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, dropout=dropout, architecture=architecture,
            weighting=weighting, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
            weight_decay=weight_decay, early_stopping=early_stopping,
            validation_fraction=validation_fraction, patience=patience,
            calibration_fraction=calibration_fraction, callbacks=callbacks,
            checkpoint_dir=checkpoint_dir, net_kwargs=net_kwargs, random_state=random_state,
            device=device, verbose=verbose,
        )
        self.targets = targets
        self.class_weight = class_weight

    def fit(self, X, Y, sample_weight=None) -> MultiTaskEstimator:
        """Fit on features ``X`` (DataFrame or array) and targets ``Y`` (DataFrame).

        ``sample_weight`` (one value per row, >= 0) scales each row's contribution to every
        task's loss; with ``class_weight`` the two multiply.
        """
        X = self._validate_features(X, reset=True)
        if isinstance(Y, pd.Series):
            Y = Y.to_frame()
        if not isinstance(Y, pd.DataFrame):
            raise TypeError(
                "Y must be a pandas DataFrame with one column per target, got "
                f"{type(Y).__name__}; use MultiTaskRegressor/MultiTaskClassifier for arrays."
            )
        self._fit_frames(X, Y, self.targets, sample_weight, self.class_weight)
        return self

    def _validate_features(self, X, reset: bool) -> pd.DataFrame:
        if X is None:
            raise ValueError("X is None; pass a DataFrame or array of features.")
        is_frame = isinstance(X, pd.DataFrame)
        if is_frame:
            check_unique_names(X)  # before sklearn's own check raises a less clear error
        if not is_frame:
            X = check_array(X, dtype=None, ensure_all_finite=False, ensure_min_samples=0)
        if reset:
            validate_data(self, X, skip_check_array=True, reset=True)
        elif not is_frame:
            if hasattr(self, "feature_names_in_"):
                raise ValueError(
                    "X is an array but the model was fitted on a DataFrame with columns "
                    f"{list(self.feature_names_in_)!r}; pass a DataFrame with those columns."
                )
            validate_data(self, X, skip_check_array=True, reset=False)
        # DataFrames are matched to the fitted schema by column name in the preprocessor.
        return as_frame(X)

    def predict(self, X, return_std: bool = False):
        """One column per target, in each target's own dtype and labels, indexed like X.

        Parameters
        ----------
        X : DataFrame or array
            Features.
        return_std : bool, default=False
            Also return the predicted standard deviation of the targets with a gaussian
            head (``targets={name: "gaussian"}``); a ValueError names the targets and
            their kinds when none has one.

        Returns
        -------
        pred : DataFrame
            The predictions (the mean of a gaussian head, the median of a quantile head).
        std : DataFrame
            Only with ``return_std=True``: one float64 column per gaussian target, in the
            target's units. Other targets have no column: for intervals on any regression
            head use :meth:`predict_interval`.
        """
        X = self._validate_features(X, reset=False)
        raw = self._raw_predict(X)
        pred = self.target_spec_.inverse_transform(raw, index=X.index)
        if not return_std:
            return pred
        tasks, slices = self.target_spec_.tasks_, self.target_spec_.slices_
        gaussian = [(t, s) for t, s in zip(tasks, slices) if hasattr(t, "std")]
        if not gaussian:
            raise ValueError(
                "return_std=True needs a target with a gaussian head, and none of "
                f"{ {t.name: t.kind for t in tasks}!r} has one: declare it with "
                "targets={name: 'gaussian'}, or use predict_interval for conformal or "
                "quantile intervals."
            )
        std = {t.name: t.std(raw[:, s]) for t, s in gaussian}
        return pred, pd.DataFrame(std, index=X.index)

    def predict_interval(
        self, X, alpha: float = 0.1, *, method: str = "auto", targets=None
    ) -> pd.DataFrame:
        """Prediction intervals with coverage ``1 - alpha`` for the regression targets.

        With ``calibration_fraction > 0`` the intervals are split-conformal, so they
        cover a new row's label with probability at least ``1 - alpha`` whatever the head
        (absolute residuals for a point head, residuals over the predicted std for a
        gaussian head, CQR for a quantile head). Without calibration a gaussian head
        gives its normal quantiles and a quantile head its outer levels (``alpha=0.1``
        only); a point head has no interval.

        Parameters
        ----------
        X : DataFrame or array
            Features.
        alpha : float, default=0.1
            Miscoverage level in (0, 1); 0.1 gives 90% intervals.
        method : {"auto", "conformal", "model"}, default="auto"
            "conformal" requires calibration; "model" uses the head's own distribution
            even when the model is calibrated; "auto" prefers conformal.
        targets : list, optional
            Regression targets to return (default: all of them).

        Returns
        -------
        DataFrame
            Indexed like ``X``, with MultiIndex columns ``(target, "lower" | "upper")``,
            float64 in the targets' units: ``intervals["eta"]`` is a (lower, upper) frame.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from tabmtl import MultiTaskEstimator
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"km": rng.uniform(1, 20, 300)})
        >>> Y = pd.DataFrame({"eta": 3 * X.km + rng.normal(size=300)})
        >>> model = MultiTaskEstimator(calibration_fraction=0.3, max_epochs=20,
        ...                            random_state=0).fit(X, Y)
        >>> model.predict_interval(X.head(2), alpha=0.1).columns.tolist()
        [('eta', 'lower'), ('eta', 'upper')]
        """
        X = self._validate_features(X, reset=False)
        bounds = self._intervals(self._raw_predict(X), alpha, method, targets)
        frames = {
            name: pd.DataFrame({"lower": lo, "upper": hi}, index=X.index)
            for name, (lo, hi) in bounds.items()
        }
        return pd.concat(frames, axis=1)

    def interval_coverage(
        self, X, Y, alpha: float = 0.1, *, method: str = "auto", targets=None
    ) -> pd.DataFrame:
        """Empirical coverage and mean width of :meth:`predict_interval` on labelled data.

        Rows whose label is missing leave that target's figures only.

        Returns
        -------
        DataFrame
            One row per regression target: ``coverage`` (share of labels inside their
            interval, to compare with ``1 - alpha``), ``mean_width`` (target units) and
            ``n`` (labelled rows).
        """
        if isinstance(Y, pd.Series):
            Y = Y.to_frame()
        intervals = self.predict_interval(X, alpha, method=method, targets=targets)
        rows = {}
        for name in intervals.columns.get_level_values(0).unique():
            truth = pd.to_numeric(Y[name]).to_numpy(dtype=np.float64, na_value=np.nan)
            rows[name] = _coverage(
                truth, intervals[name]["lower"], intervals[name]["upper"]
            )
        return pd.DataFrame.from_dict(rows, orient="index")

    def predict_proba(self, X) -> dict[object, pd.DataFrame]:
        """Target name -> DataFrame of class probabilities (class labels as columns).

        When the model was fitted with ``calibration_fraction > 0`` the probabilities are
        temperature-scaled (see ``temperatures_``).
        """
        X = self._validate_features(X, reset=False)
        raw = self._temperature_scaled(self._raw_predict(X))
        probas = self.target_spec_.predict_proba(raw)
        classes = {t.name: t.classes_ for t in self.target_spec_.tasks_ if not t.is_regression}
        return {
            name: pd.DataFrame(p, index=X.index, columns=pd.Index(classes[name], dtype=object))
            for name, p in probas.items()
        }

    def predict_record(self, record: Mapping) -> dict[object, object]:
        """Predict one row given as a mapping ``{feature: value}``: the low-latency path.

        Returns ``{target: value}`` with exactly the values :meth:`predict` gives for a
        one-row frame of the same data, as plain Python scalars (a float for regression
        targets, the class label for classification ones; JSON-ready for numbers, bools
        and strings). No DataFrame is built on the way in or out, which is most of a
        one-row :meth:`predict`'s time: use this to serve single requests. See
        :meth:`FeaturePreprocessor.transform_record` for the values a record may hold.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from tabmtl import MultiTaskEstimator
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"km": rng.uniform(1, 20, 200), "zone": rng.choice(["a", "b"], 200)})
        >>> Y = pd.DataFrame({"eta": 3 * X.km + rng.normal(size=200), "late": X.km > 10})
        >>> model = MultiTaskEstimator(max_epochs=20, random_state=0).fit(X, Y)
        >>> out = model.predict_record({"km": 12.5, "zone": "b"})
        >>> sorted(out), type(out["late"]).__name__
        (['eta', 'late'], 'bool')
        >>> out == model.predict(pd.DataFrame({"km": [12.5], "zone": ["b"]})).iloc[0].to_dict()
        True
        """
        check_is_fitted(self, "net_")
        raw = self._network_outputs(self.preprocessor_.transform_record(record))
        return self.target_spec_.inverse_transform_record(raw)

    def predict_proba_record(self, record: Mapping) -> dict[object, dict[object, float]]:
        """Class probabilities of one row given as a mapping ``{feature: value}``.

        Returns ``{target: {class label: probability}}`` for the classification targets:
        the numbers of :meth:`predict_proba` for a one-row frame (temperature-scaled when
        calibrated), as plain Python values, built without pandas (see
        :meth:`predict_record`).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from tabmtl import MultiTaskEstimator
        >>> X = pd.DataFrame({"km": np.arange(100.0)})
        >>> Y = pd.DataFrame({"late": X.km > 50})
        >>> model = MultiTaskEstimator(max_epochs=5, random_state=0).fit(X, Y)
        >>> proba = model.predict_proba_record({"km": 70.0})["late"]
        >>> sorted(proba), round(sum(proba.values()), 6)
        ([False, True], 1.0)
        """
        check_is_fitted(self, "net_")
        raw = self._network_outputs(self.preprocessor_.transform_record(record))
        probas = self.target_spec_.predict_proba(self._temperature_scaled(raw))
        classes = {t.name: t.classes_ for t in self.target_spec_.tasks_ if not t.is_regression}
        return {
            name: {as_python_scalar(c): float(q) for c, q in zip(classes[name], p[0])}
            for name, p in probas.items()
        }

    def score_tasks(self, X, Y) -> pd.Series:
        """Each task's default score (R² for regression, accuracy for classification).

        Rows whose label is missing are left out of that task's score only; a task with
        no label at all scores NaN.
        """
        if isinstance(Y, pd.Series):
            Y = Y.to_frame()
        pred = self.predict(X)
        scores = {}
        for task in self.target_spec_.tasks_:
            present = Y[task.name].notna().to_numpy()
            scores[task.name] = (
                task.score(Y[task.name][present], pred[task.name][present])
                if present.any()
                else np.nan
            )
        return pd.Series(scores, name="score", dtype=float)

    def score(self, X, Y) -> float:
        """Mean over tasks of :meth:`score_tasks` (NaN tasks ignored)."""
        return float(np.nanmean(self.score_tasks(X, Y).to_numpy()))


class _ArrayMultiTask(_MultiTaskBase):
    """ndarray in/out like scikit-learn's multi-output estimators; 1-D y allowed."""

    _target_kind = ""

    def fit(self, X, y) -> _ArrayMultiTask:
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype="numeric", reset=True)
        y = check_array(
            y, ensure_2d=False, dtype=None, ensure_all_finite=False, input_name="y",
            ensure_min_samples=0,
        )
        if y.ndim > 2:
            raise ValueError(f"y must be 1- or 2-dimensional, got shape {y.shape}.")
        self._y_1d = y.ndim == 1
        Y = pd.DataFrame(y.reshape(len(y), -1))
        Y.columns = [f"y{j}" for j in range(Y.shape[1])]
        self._check_targets(Y)
        targets = {c: self._target_kind for c in Y.columns}
        self._fit_frames(as_frame(X), Y, targets)
        return self

    def _check_targets(self, Y: pd.DataFrame) -> None:
        pass

    def _predict_frame(self, X) -> pd.DataFrame:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype="numeric", reset=False)
        return self.target_spec_.inverse_transform(self._raw_predict(as_frame(X)))

    def predict(self, X) -> np.ndarray:
        out = self._predict_frame(X).to_numpy()
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MultiTaskRegressor(RegressorMixin, _ArrayMultiTask):
    """Multi-output regression with one shared network (ndarray in, ndarray out).

    Same parameters as :class:`MultiTaskEstimator`; every output is a regression task,
    standardised in fit. ``y`` may be 1-D or 2-D and may hold NaN for missing labels.

    Examples
    --------
    >>> import numpy as np
    >>> from tabmtl import MultiTaskRegressor
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> y = np.column_stack([X[:, 0], X[:, 1] - X[:, 2]])
    >>> MultiTaskRegressor(max_epochs=5, random_state=0).fit(X, y).predict(X).shape
    (100, 2)
    """

    _target_kind = "regression"

    def _check_targets(self, Y: pd.DataFrame) -> None:
        for c in Y.columns:
            try:
                Y[c] = pd.to_numeric(Y[c]).astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"y column {c} is not numeric; regression needs numbers.") from exc


class MultiTaskClassifier(ClassifierMixin, _ArrayMultiTask):
    """Multi-output / multi-label classification with one shared network.

    Same parameters as :class:`MultiTaskEstimator`; every output is a binary or
    multiclass task. Follows scikit-learn's multi-output conventions (as
    ``RandomForestClassifier``): for 1-D ``y``, ``classes_`` is an array and
    ``predict_proba`` returns one ``(n, K)`` array; for 2-D ``y``, ``classes_`` is a
    list with one array per output and ``predict_proba`` a list of arrays. Missing
    labels (NaN / None) are allowed in ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> from tabmtl import MultiTaskClassifier
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    >>> clf = MultiTaskClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> [c.tolist() for c in clf.classes_]
    [[0, 1], [0, 1]]
    """

    _target_kind = "classification"

    def _check_targets(self, Y: pd.DataFrame) -> None:
        for c in Y.columns:
            # object columns of numbers (from a mixed-type y array) are read as numbers
            check_classification_targets(Y[c].dropna().infer_objects().to_numpy())

    @property
    def classes_(self):
        check_is_fitted(self, "net_")
        classes = [np.asarray(list(t.classes_)) for t in self.target_spec_.tasks_]
        return classes[0] if self._y_1d else classes

    def predict_proba(self, X):
        check_is_fitted(self, "net_")
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype="numeric", reset=False)
        raw = self._temperature_scaled(self._raw_predict(as_frame(X)))
        probas = list(self.target_spec_.predict_proba(raw).values())
        return probas[0] if self._y_1d else probas
