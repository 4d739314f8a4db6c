"""MultiTaskEstimator: DataFrames in, DataFrames out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array, validate_data

from tabmtl._data.features import as_frame, check_unique_names
from tabmtl._estimators.base import MultiTaskBase
from tabmtl._estimators.intervals import IntervalPredictionMixin
from tabmtl._estimators.records import RecordPredictionMixin
from tabmtl._nn.architectures import Architecture
from tabmtl._nn.weighting import Weighting
from tabmtl.errors import InputError, InputTypeError
from tabmtl.evaluation._metrics import score_frame


class MultiTaskEstimator(IntervalPredictionMixin, RecordPredictionMixin, MultiTaskBase):
    """One network for several targets of mixed kinds; DataFrames in, DataFrame out.

    Each target column becomes a task whose kind is read from its dtype (float ->
    regression; bool or two labels -> binary; category / string / small-cardinality
    int -> multiclass) or set in ``targets``. By default (chosen by
    ``benchmarks/sharing.py`` on how many tasks beat their own single-task fit, then by
    score against boosting) the tasks share four experts mixed by one gate per task
    (``architecture="mmoe"``) over piecewise-linear embeddings of the numeric features,
    trained with early stopping on a held-out validation split; ``"hard"`` shares one
    trunk, ``"soft"`` gives each task its own tower pulled together by a penalty, and the
    others share through mixing units or experts. The weighted sum
    of per-task losses (or a combination of their gradients) trains them together.
    A missing label (NaN / None / pd.NA) drops out of its own task's loss only.

    Parameters
    ----------
    targets : dict, optional
        Target name -> kind ("regression", "binary", "multiclass", "classification"),
        overriding the kind inferred from the dtype. A regression target may instead be
        "gaussian" (the head predicts a mean and a variance, trained with the Gaussian
        negative log-likelihood; ``predict(X, return_std=True)``) or "quantile" (the
        0.05, 0.5 and 0.95 quantiles, pinball loss); both give intervals by themselves.
    auxiliary : str or list of str, optional
        Target columns that are *auxiliary*: training signal only (see
        ``docs/auxiliary.md``). They are encoded, get their heads and masked losses like
        any target (rows labelled only for them still train the shared layers), but the
        selection objective (early stopping, best epoch), :meth:`predict` /
        :meth:`predict_proba` / :meth:`predict_record` (unless
        ``include_auxiliary=True``), :meth:`score`, :meth:`score_tasks`, ``task_scorer``
        and the tuning objective use the other, *main*, targets only. A name that is not
        a column of ``Y``, or every column auxiliary, is an InputError at fit.
    auxiliary_weight : float, default=0.5
        Factor on each auxiliary target's loss before the weighting combines the tasks'
        losses: with ``"equal"`` or fixed weights it multiplies their weights; strategies
        that normalise each loss's scale (uncertainty, DWA, GradNorm, the gradient
        aggregators) largely undo it.
    class_weight : "balanced" or dict, optional
        Loss weights of the classes of classification targets: "balanced" for every
        classification target (n_labelled / (K * count of the class)), or a dict
        ``{target: "balanced" or {label: weight}}``. Missing labels stay out either way.
    hidden_layer_sizes : tuple of int, default=(128, 64)
        Widths of the trunk's (or each task tower's) layers.
    dropout : float, default=0.1
        Dropout after each hidden layer.
    architecture : str or Architecture, default="mmoe"
        How parameters are shared; a name from ``tabmtl._nn.architectures.ARCHITECTURES``
        ("hard", "soft", "cross_stitch", "mmoe", "ple", "sluice") or an instance (whose parameters
        are then reachable as ``architecture__*``).
    weighting : str, dict or Weighting, default="equal"
        How task losses are combined: "equal", "uncertainty", a dict of fixed weights
        ``{target: lambda}`` (L = sum lambda_i L_i), or a Weighting instance.
    max_epochs : int, default=200
        Most passes over the data (early stopping usually ends the fit far sooner).
    batch_size : int, default=256
        Mini-batch size.
    lr : float, default=1e-3
        AdamW learning rate.
    weight_decay : float, default=0.0
        AdamW weight decay.
    numeric_embedding : None, "piecewise_linear", "periodic" or NumericEmbedding, \
default="piecewise_linear"
        Embed each numeric feature before the body (Gorishniy et al., 2022, via
        ``rtdl_num_embeddings``): piecewise-linear over quantile bins of the training
        rows, or periodic (PLR). None feeds the scaled values directly. An instance's
        settings are searchable as ``numeric_embedding__*``.
    numeric_scaling : {"standard", "robust"}, default="standard"
        "robust": RealMLP's robust scaling (median, IQR) with a smooth clip to ±3 on top
        of the standard scaling, for heavy-tailed features (lab values, amounts).
    ensemble_size : int, default=1
        Members of a parameter-efficient ensemble (TabM-mini): each member scales the
        input by its own learned vector and shares every other weight; each member's
        loss counts in training, and predictions average their outputs (probabilities
        for classification targets). 1 turns it off.
    label_smoothing : float, default=0.0
        Label smoothing of the classification losses.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the rows and stop when the selection
        objective (each task's validation loss over its first-epoch value, geometric
        mean over tasks) has not improved for ``patience`` epochs, keeping the best
        weights. "auto" does so from 200 training rows on and runs the whole budget
        below that (with ``auxiliary`` targets: 200 rows with a main label).
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    patience : int or "auto", default="auto"
        Epochs without validation improvement before stopping. "auto" is 6 epochs, or
        enough epochs to span 16 optimizer steps when an epoch has fewer than three
        batches (16 epochs at one batch per epoch); the fitted value is ``patience_``.
        Measured on the project's tables, 6 keeps the scores and sharing of 16 (the 0.2
        development default) at a quarter to a third less fit time (docs/sharing.md,
        "Fit time").
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
    n_threads : int, optional
        CPU threads (torch's and the BLAS/OpenMP pools') of fit and of batch prediction.
        None: the enclosing ``thread_limit`` block's count,
        else the ``TABMTL_THREADS`` environment variable, else **1** — measured faster
        than torch's one-per-core default for tabmtl's small networks, by 4x and more on
        a busy 2-core machine (``python -m benchmarks.threads``).
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
    main_targets_, auxiliary_targets_ : list
        The fitted targets by role (``auxiliary``).
    task_weights_ : pandas.Series
        Final weight of each task's loss.
    n_epochs_ : int
        Epochs that finished (fewer with early stopping, divergence or Ctrl-C).
    interrupted_ : bool
        Whether Ctrl-C (``KeyboardInterrupt``) cut the fit short; its last epoch is dropped.
    best_epoch_ : int or None
        Finished epoch of lowest loss with finite weights (None: no epoch finished); an
        interrupted or diverged fit keeps its weights.
    early_stopping_ : bool
        Whether this fit stopped early on a validation split ("auto" resolved).
    patience_ : int
        The patience in epochs this fit used (``patience`` with "auto" resolved).
    input_state_ : dict
        Statistics of the training rows' numeric block the network's input side uses
        (robust scaling, embedding bin edges); saved with the model.
    calibrator_ : Calibrator
        The fitted calibration; the three attributes below read it.
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
        auxiliary: object | Sequence | None = None,
        auxiliary_weight: float = 0.5,
        class_weight: str | Mapping | None = None,
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
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, dropout=dropout, architecture=architecture,
            weighting=weighting, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
            weight_decay=weight_decay, numeric_embedding=numeric_embedding,
            numeric_scaling=numeric_scaling, ensemble_size=ensemble_size,
            label_smoothing=label_smoothing, early_stopping=early_stopping,
            validation_fraction=validation_fraction, patience=patience,
            calibration_fraction=calibration_fraction, callbacks=callbacks,
            checkpoint_dir=checkpoint_dir, net_kwargs=net_kwargs, random_state=random_state,
            device=device, n_threads=n_threads, verbose=verbose,
        )
        self.targets = targets
        self.auxiliary = auxiliary
        self.auxiliary_weight = auxiliary_weight
        self.class_weight = class_weight

    def fit(self, X, Y, sample_weight=None, groups=None) -> MultiTaskEstimator:
        """Fit on features ``X`` (DataFrame or array) and targets ``Y`` (DataFrame).

        ``sample_weight`` (one value per row, >= 0) scales each row's contribution to every
        task's loss; with ``class_weight`` the two multiply. ``groups`` (one label per row:
        a person, a patient, a store) makes early stopping hold out whole groups instead
        of random rows. Pass it whenever rows repeat a unit that new data will not: split
        at random, the validation rows' units are also trained on, and early stopping
        rewards memorising them (on rand_hie, several years per person, the default scored
        0.372 with random rows and 0.433 with whole persons held out; docs/sharing.md).
        """
        X = self._validate_features(X, reset=True)
        if isinstance(Y, pd.Series):
            Y = Y.to_frame()
        if not isinstance(Y, pd.DataFrame):
            raise InputTypeError(
                "Y must be a pandas DataFrame with one column per target, got "
                f"{type(Y).__name__}; use MultiTaskRegressor/MultiTaskClassifier for arrays."
            )
        self._fit_frames(X, Y, self.targets, sample_weight, self.class_weight, groups)
        return self

    def _validate_features(self, X, reset: bool) -> pd.DataFrame:
        if X is None:
            raise InputError("X is None; pass a DataFrame or array of features.")
        is_frame = isinstance(X, pd.DataFrame)
        if is_frame:
            check_unique_names(X)  # before sklearn's own check raises a less clear error
        if not is_frame:
            X = check_array(X, dtype=None, ensure_all_finite=False, ensure_min_samples=0)
        if reset:
            validate_data(self, X, skip_check_array=True, reset=True)
        elif not is_frame:
            if hasattr(self, "feature_names_in_"):
                raise InputError(
                    "X is an array but the model was fitted on a DataFrame with columns "
                    f"{list(self.feature_names_in_)!r}; pass a DataFrame with those columns."
                )
            validate_data(self, X, skip_check_array=True, reset=False)
        # DataFrames are matched to the fitted schema by column name in the preprocessor.
        return as_frame(X)

    def predict(self, X, return_std: bool = False, *, include_auxiliary: bool = False):
        """One column per target, in each target's own dtype and labels, indexed like X.

        Parameters
        ----------
        X : DataFrame or array
            Features.
        include_auxiliary : bool, default=False
            Also return the ``auxiliary`` targets' columns (by default only the main
            targets are predicted).
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
        names = self._output_names(include_auxiliary)
        pred = self.target_spec_.inverse_transform(raw, index=X.index)[names]
        if not return_std:
            return pred
        tasks, slices = self.target_spec_.tasks_, self.target_spec_.slices_
        gaussian = [
            (t, s) for t, s in zip(tasks, slices) if hasattr(t, "std") and t.name in names
        ]
        if not gaussian:
            raise InputError(
                "return_std=True needs a target with a gaussian head, and none of "
                f"{ {t.name: t.kind for t in tasks}!r} has one: declare it with "
                "targets={name: 'gaussian'}, or use predict_interval for conformal or "
                "quantile intervals."
            )
        std = {t.name: t.std(raw[:, s]) for t, s in gaussian}
        return pred, pd.DataFrame(std, index=X.index)

    def predict_proba(self, X, *, include_auxiliary: bool = False) -> dict[object, pd.DataFrame]:
        """Target name -> DataFrame of class probabilities (class labels as columns).

        When the model was fitted with ``calibration_fraction > 0`` the probabilities are
        temperature-scaled (see ``temperatures_``). The main classification targets
        only, unless ``include_auxiliary=True``.
        """
        X = self._validate_features(X, reset=False)
        raw = self._raw_predict(X)
        probas = self.target_spec_.predict_proba(raw, self.temperatures_)
        classes, names = self._class_labels(), self._output_names(include_auxiliary)
        return {
            name: pd.DataFrame(p, index=X.index, columns=pd.Index(classes[name], dtype=object))
            for name, p in probas.items()
            if name in names
        }

    def score_tasks(self, X, Y) -> pd.Series:
        """Each main task's default score (R² for regression, accuracy for classification).

        Rows whose label is missing are left out of that task's score only; a task with
        no label at all scores NaN. ``auxiliary`` targets are not scored (``Y`` need not
        hold their columns).
        """
        if isinstance(Y, pd.Series):
            Y = Y.to_frame()
        pred = self.predict(X)
        return score_frame(self.target_spec_, Y, pred, names=list(pred.columns))

    def score(self, X, Y) -> float:
        """Mean over the main tasks of :meth:`score_tasks` (NaN tasks ignored)."""
        return float(np.nanmean(self.score_tasks(X, Y).to_numpy()))
