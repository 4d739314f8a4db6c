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
from functools import partial

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.helper import predefined_split

from tabmtl._data.features import FeaturePreprocessor
from tabmtl._data.targets import TargetSpec
from tabmtl._data.targets.roles import split_roles
from tabmtl._estimators.params import check_params
from tabmtl._estimators.state import SavedStateMixin
from tabmtl._nn.architectures import Architecture
from tabmtl._nn.weighting import Weighting
from tabmtl._training.build import (
    build_net,
    check_groups,
    fit_input_state,
    resolve_early_stopping,
    resolve_patience,
    validation_rows,
)
from tabmtl._training.iterators import SliceIterator, TensorDataset
from tabmtl._training.net import MultiTaskNet, TrainingDiverged, seeded_rng
from tabmtl._training.resume import discard_resume_state, fingerprint, read_resume_state
from tabmtl._training.sample_weights import row_task_weights
from tabmtl._training.threads import thread_limit
from tabmtl._uncertainty.calibrator import Calibrator, calibration_split
from tabmtl.errors import InputError

#: The fitted calibration attributes, read through ``calibrator_`` (and saved by name).


class MultiTaskBase(SavedStateMixin, BaseEstimator):
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
        architecture: str | Architecture = "mmoe",
        weighting: str | Mapping[object, float] | Weighting = "equal",
        max_epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        numeric_embedding="piecewise_linear",
        numeric_scaling: str = "standard",
        ensemble_size: int = 1,
        label_smoothing: float = 0.0,
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.1,
        patience: int | str = "auto",
        calibration_fraction: float = 0.0,
        callbacks: Sequence | None = None,
        checkpoint_dir: str | None = None,
        net_kwargs: Mapping | None = None,
        random_state: int | None = None,
        device: str = "cpu",
        n_threads: int | None = None,
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
        self.numeric_embedding = numeric_embedding
        self.numeric_scaling = numeric_scaling
        self.ensemble_size = ensemble_size
        self.label_smoothing = label_smoothing
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.calibration_fraction = calibration_fraction
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.net_kwargs = net_kwargs
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose

    # -- fit -----------------------------------------------------------------------------

    def _fit_frames(
        self,
        X: pd.DataFrame,
        Y: pd.DataFrame,
        targets,
        sample_weight=None,
        class_weight=None,
        groups=None,
    ) -> None:
        """Fit on validated frames; ``targets`` are the kind overrides to use; ``groups``
        (one label per row, or None) makes early stopping hold out whole groups."""
        if len(X) != len(Y):
            raise InputError(f"X has {len(X)} rows but Y has {len(Y)}; they must match.")
        groups = check_groups(groups, len(X))
        if len(X) == 0:
            raise InputError("X and Y are empty (0 rows); fit needs at least one labelled row.")
        seed = self._begin_fit()
        spec = TargetSpec(targets=targets).fit(Y)
        y_enc = spec.transform(Y)
        labelled = np.flatnonzero(~np.isnan(y_enc).all(axis=1))
        if len(labelled) < len(Y):
            warnings.warn(
                f"Dropping {len(Y) - len(labelled)} rows of {len(Y)} that have no target "
                "label at all.",
                UserWarning,
                stacklevel=3,
            )
        # features are fitted on every row, labelled or not: predict sees all of them too
        self.preprocessor_ = FeaturePreprocessor().fit(X)
        X_enc = self.preprocessor_.transform(X)

        # Split-conformal intervals need rows the net never saw, so calibration rows are
        # held out of training entirely (early stopping's split, if any, is then drawn from
        # the rest: those rows chose the epoch, so they are not exchangeable with new data).
        calibration_rows, keep = calibration_split(len(labelled), self.calibration_fraction, seed)
        fitted = labelled[keep]  # the rows the net trains and early-stops on
        # Early stopping's validation rows judge the net: drawn here (as skorch would draw
        # them), they stay out of the target statistics and class-balance counts too.
        early_stopping = resolve_early_stopping(
            self.early_stopping, self._selection_rows(spec, y_enc[fitted])
        )
        params = {**self.get_params(deep=False), "early_stopping": early_stopping}
        split = validation_rows(
            params, len(fitted), seed, None if groups is None else groups[fitted]
        )
        training = fitted if split is None else fitted[split[0]]
        if len(training) < len(labelled):
            self._standardize_on_training_rows(spec, Y, y_enc, training)
        weights = row_task_weights(spec, Y, y_enc, sample_weight, class_weight, training)
        if weights is not None:  # carried as T more target columns (see MultiTaskLoss)
            y_enc = np.hstack([y_enc, weights])
        y_calibration = y_enc[labelled[calibration_rows], : len(spec.tasks_)]
        if len(fitted) < len(Y):
            X_enc, y_enc = X_enc[fitted], y_enc[fitted]
        resume = None
        if self.checkpoint_dir is not None:
            identity = fingerprint(self.get_params(deep=False), seed, X_enc, y_enc)
            resume = (identity, read_resume_state(self.checkpoint_dir, identity))
        dataset, configure = TensorDataset(X_enc, y_enc), None
        if split is not None:  # skorch is handed the split drawn above
            rows, valid = split
            dataset = TensorDataset(X_enc[rows], y_enc[rows])
            valid = predefined_split(TensorDataset(X_enc[valid], y_enc[valid]))
            configure = partial(MultiTaskNet.set_params, train_split=valid)
        self._fit_encoded(
            dataset, self.preprocessor_, spec, seed, configure=configure, resume=resume,
            early_stopping=early_stopping,
        )
        if len(calibration_rows):
            raw = self._raw_predict(X.iloc[labelled[calibration_rows]])
            self.calibrator_ = Calibrator(len(spec.tasks_)).fit(raw, y_calibration, spec)

    def _begin_fit(self) -> int:
        """Validate the parameters and return the fit's seed (documented protected).

        Every fit entry point calls it first, before any data is processed.
        """
        self._check_params()
        return self._seed()

    def _fit_encoded(
        self,
        dataset,
        preprocessor,
        target_spec,
        seed: int,
        *,
        configure=None,
        resume=None,
        numeric_sample: np.ndarray | None = None,
        early_stopping: bool | None = None,
    ) -> None:
        """Train on encoded data (documented protected: the one training seam).

        ``preprocessor`` and ``target_spec`` are fitted and become ``preprocessor_`` and
        ``target_spec_``; ``dataset`` holds what they produce (a :class:`TensorDataset`,
        or any dataset the net's iterators read). Calibration is reset; ``net_`` is
        built and trained. ``configure(net)`` may adjust the built net before training
        (the streamed fit sets its iterators there); ``resume`` as in :meth:`_build_net`.
        ``numeric_sample`` (encoded numeric block of training rows) fits the network's
        input statistics (``input_state_``); by default ``dataset.X`` of a
        :class:`TensorDataset` is used. ``early_stopping`` is whether this fit stops
        early, as the caller resolved ``early_stopping="auto"`` (None: from the parameter
        alone).
        """
        # auxiliary targets must be targets, and not all of them (before any training)
        split_roles(getattr(self, "auxiliary", None), target_spec.target_names_)
        self.preprocessor_ = preprocessor
        self.target_spec_ = target_spec
        self.early_stopping_ = (  # None: the caller knows no row count (a stream)
            resolve_early_stopping(self.early_stopping, None)
            if early_stopping is None
            else bool(early_stopping)
        )
        n_rows = len(dataset) if isinstance(dataset, TensorDataset) else None
        self.patience_ = resolve_patience(self.patience, n_rows, self.batch_size)
        if numeric_sample is None:  # the training rows themselves
            numeric_sample = np.asarray(dataset.X[:, : preprocessor.n_numeric_])
        self.input_state_ = fit_input_state(self.get_params(deep=False), numeric_sample)
        self.calibrator_ = Calibrator(len(target_spec.tasks_))
        self._train_net(dataset, seed, resume, configure)

    def _train_net(self, dataset, seed: int, resume=None, configure=None) -> None:
        """Build ``net_`` and train it on ``dataset`` (in-memory and streamed fits alike).

        ``resume`` as in :meth:`_build_net`; ``configure(net)`` may adjust the built net
        before training (the streamed fit sets its iterators there). A diverged fit keeps
        its best verified epoch, or no ``net_`` when no epoch finished; an interrupted
        one (Ctrl-C) its best finished epoch (``interrupted_``, ``best_epoch_``).
        """
        device = (self.net_kwargs or {}).get("device", self.device)
        # one CPU thread unless told otherwise (tabmtl._training.threads: measured)
        with thread_limit(self.n_threads), seeded_rng(seed, device):
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
                if resume is not None:
                    discard_resume_state(
                        self.checkpoint_dir, "its epochs led into this divergence"
                    )
                self.n_epochs_ = len(self.net_.history)
                self.interrupted_ = False
                self.best_epoch_ = best = self.net_.restore_best()
                kept = (
                    f"The model keeps the weights of epoch {best}, its best so far."
                    if best is not None
                    else "No epoch finished before it, so the model has no usable weights."
                )
                if best is None:
                    del self.net_
                raise TrainingDiverged(f"{exc} {kept}") from None
        self.n_epochs_ = len(self.net_.history)
        self.interrupted_ = self.net_.interrupted_
        self.best_epoch_ = self.net_.best_epoch_

    def _selection_rows(self, spec, y_enc: np.ndarray) -> int:
        """Rows of ``y_enc`` that can judge an epoch: with auxiliary targets, those with
        a main label (the selection objective watches only them); else every row."""
        main = split_roles(getattr(self, "auxiliary", None), spec.target_names_)[0]
        if len(main) == len(spec.tasks_):
            return len(y_enc)
        columns = [j for j, name in enumerate(spec.target_names_) if name in main]
        return int((~np.isnan(y_enc[:, columns])).any(axis=1).sum())

    @staticmethod
    def _standardize_on_training_rows(spec, Y, y_enc, training) -> None:
        """Refit the regression targets' mean and scale on ``Y``'s ``training`` rows only
        and re-encode them in ``y_enc`` (one row per row of ``Y``), so that nothing the net
        learns depends on the calibration or early-stopping validation labels."""
        for j, task in enumerate(spec.tasks_):
            if not task.is_regression:
                continue
            labels = Y[task.name]
            if labels.iloc[training].notna().sum() == 0:
                raise InputError(
                    f"Every label of target {task.name!r} fell in the calibration or "
                    "early-stopping validation rows; lower calibration_fraction (or "
                    "validation_fraction) or give it more labels."
                )
            task.fit(labels.iloc[training])
            y_enc[:, j] = task.encode(labels)

    def _check_params(self) -> None:
        check_params(self.get_params(deep=False))

    def _seed(self) -> int:
        if isinstance(self.random_state, (int, np.integer)):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _resolved_params(self) -> dict:
        """``get_params(deep=False)`` with ``early_stopping`` and ``patience`` as this fit
        resolved them."""
        params = self.get_params(deep=False)
        params["early_stopping"] = getattr(self, "early_stopping_", params["early_stopping"])
        params["patience"] = getattr(self, "patience_", params["patience"])
        return params

    def _build_net(self, seed: int, resume: tuple[str, dict | None] | None = None) -> MultiTaskNet:
        """The skorch net for the fitted spec and preprocessor (documented protected).

        See :func:`tabmtl._training.build.build_net`; ``resume`` is ``(fingerprint, saved
        state or None)`` when ``checkpoint_dir`` is set during fit.
        """
        return build_net(
            self._resolved_params(), self.target_spec_, self.preprocessor_, seed, resume,
            input_state=getattr(self, "input_state_", None),
        )

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
            with thread_limit(self.n_threads):  # not on the one-batch path: it costs ~ms
                return net.forward(TensorDataset(X_enc)).detach().cpu().numpy()
        if net.module_.training or net.criterion_.training:
            net._set_training(False)  # what skorch's evaluation step does before each batch
        x = torch.from_numpy(np.asarray(X_enc, dtype=np.float32))  # shares the memory
        if net.device is not None:
            x = x.to(net.device)
        with torch.inference_mode():
            return net.module_(x).cpu().numpy()

    @property
    def main_targets_(self) -> list:
        """The fitted targets that are predicted, scored and selected on (not auxiliary)."""
        check_is_fitted(self, "net_")
        return split_roles(getattr(self, "auxiliary", None), self.target_spec_.target_names_)[0]

    @property
    def auxiliary_targets_(self) -> list:
        """The fitted targets that are training signal only (the ``auxiliary`` parameter)."""
        check_is_fitted(self, "net_")
        return split_roles(getattr(self, "auxiliary", None), self.target_spec_.target_names_)[1]

    def _output_names(self, include_auxiliary: bool) -> list:
        """The targets a prediction returns: the main ones, or all with ``include_auxiliary``."""
        if include_auxiliary:
            return list(self.target_spec_.target_names_)
        return self.main_targets_

    @property
    def temperatures_(self) -> np.ndarray:
        """Temperature of each classification head (see ``calibrator_``)."""
        return self.calibrator_.temperatures_

    @property
    def conformal_scores_(self) -> np.ndarray:
        """Sorted conformity scores per regression target (see ``calibrator_``)."""
        return self.calibrator_.conformal_scores_

    @property
    def calibration_counts_(self) -> np.ndarray:
        """Labelled calibration rows per target (see ``calibrator_``)."""
        return self.calibrator_.calibration_counts_

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
