"""The models compared by the quality benchmark, all behind one interface.

Every model is a function ``fit_predict(X_train, Y_train, X_test, spec, settings)``
returning a :class:`FoldOutput`: one output per target for the test rows plus the
seconds spent fitting. An output is what the scorer needs and nothing model-specific:
the predicted value ``(n,)`` of a regression target in its own units, or the class
probabilities ``(n, K)`` of a classification target with columns in the order of
``spec``'s task ``classes_``. So every model goes through the same scoring code.

``spec`` is a :class:`tabmtl.TargetSpec` fitted on the whole target frame of the
dataset; baselines use it only for the list of classes and for label -> class index
(never for scaling, which each model learns from its own training rows).

Per-target baselines train on the rows where that target's label is present; the
multi-task models get every training row and mask missing labels in their loss.

The output format, the tabmtl outputs and the HistGB baseline are the transfer
analysis's own (:mod:`tabmtl.evaluation._outputs`, :mod:`tabmtl.evaluation._baseline`).
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skorch import NeuralNet
from torch import nn

from tabmtl import MultiTaskEstimator, TargetSpec
from tabmtl.evaluation._baseline import fit_hgb, hgb_frame, hgb_output
from tabmtl.evaluation._outputs import aligned_proba, tabmtl_outputs


@dataclass(frozen=True)
class Settings:
    """Training settings shared by the neural models, so their capacity and budget match.

    ``epochs`` is tabmtl's ``max_epochs``, the sklearn MLP's ``max_iter`` (for the
    ``adam`` solver an iteration is one epoch) and skorch's ``max_epochs``.
    """

    epochs: int | None
    seed: int = 0
    hidden_layer_sizes: tuple[int, ...] = (128, 64)
    batch_size: int = 256
    lr: float = 1e-3
    dropout: float = 0.1


@dataclass
class FoldOutput:
    """Test-set outputs by target (see the module docstring) and the fit time."""

    outputs: dict[str, np.ndarray]
    fit_seconds: float


FitPredict = Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame, TargetSpec, Settings], FoldOutput]


# -- shared helpers ------------------------------------------------------------------------


def categorical_columns(X: pd.DataFrame) -> list[str]:
    """Columns that are categories to every model: category, bool, object and string."""
    return [
        c
        for c in X.columns
        if isinstance(X[c].dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(X[c].dtype)
        or pd.api.types.is_object_dtype(X[c].dtype)
        or pd.api.types.is_string_dtype(X[c].dtype)
    ]


def make_preprocessor(X: pd.DataFrame) -> ColumnTransformer:
    """The one-hot preprocessing of the sklearn MLP and the plain skorch model.

    Numeric: median imputation with missing indicators, then standard scaling (as
    tabmtl's own preprocessor). Categorical: one-hot, unseen categories ignored and a
    missing value its own category. Dense output: skorch needs a float tensor.
    """
    cats = categorical_columns(X)
    nums = [c for c in X.columns if c not in cats]
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return ColumnTransformer(
        [("num", numeric, nums), ("cat", onehot, cats)],
        remainder="drop",
        sparse_threshold=0.0,
    )


def _present(y: pd.Series) -> np.ndarray:
    return y.notna().to_numpy()


def _class_codes(task, y: pd.Series) -> np.ndarray:
    """Class index of each (present) label in the scoring spec's class order."""
    return task.encode(y).astype(np.int64)


def _tasks(spec: TargetSpec, Y: pd.DataFrame) -> list:
    return [t for t in spec.tasks_ if t.name in Y.columns]


# -- tabmtl --------------------------------------------------------------------------------


def _tabmtl(settings: Settings, **params) -> MultiTaskEstimator:
    """tabmtl with default settings except the epoch budget (shared with the baselines);
    ``settings.epochs`` None keeps tabmtl's own regime (early stopping, ``max_epochs``)."""
    if settings.epochs is not None:
        params = {"max_epochs": settings.epochs, **params}
    return MultiTaskEstimator(random_state=settings.seed, **params)


def _fit_tabmtl(model: MultiTaskEstimator, Xtr, Ytr, Xte, spec, groups=None) -> FoldOutput:
    """Fit one tabmtl network on all targets (missing labels masked in its loss), timed;
    ``groups`` (one per row of ``Xtr``) as a user with unit ids would pass them."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "dropping rows with no label at all"
        model.fit(Xtr, Ytr, groups=groups)
    fit_s = time.perf_counter() - t0
    return FoldOutput(tabmtl_outputs(model, Xte, _tasks(spec, Ytr)), fit_s)


def fit_predict_tabmtl_multitask(Xtr, Ytr, Xte, spec, settings, **params) -> FoldOutput:
    """One tabmtl network for all targets, on the benchmark's epoch budget."""
    return _fit_tabmtl(_tabmtl(settings, **params), Xtr, Ytr, Xte, spec)


def fit_predict_tabmtl_defaults(Xtr, Ytr, Xte, spec, settings, groups=None,
                                **params) -> FoldOutput:
    """tabmtl exactly as a new user gets it: every parameter at its default but the seed
    (the benchmark's epoch budget, trunk and batch size are not imposed); ``groups`` the
    table's unit of each row (rand_hie's person), passed to fit as such a user would."""
    model = MultiTaskEstimator(random_state=settings.seed, **params)
    return _fit_tabmtl(model, Xtr, Ytr, Xte, spec, groups)


def fit_predict_tabmtl_single(Xtr, Ytr, Xte, spec, settings) -> FoldOutput:
    """One tabmtl network per target (same architecture), on that target's labelled rows."""
    outputs, fit_s = {}, 0.0
    for task in _tasks(spec, Ytr):
        rows = _present(Ytr[task.name])
        model = _tabmtl(settings)
        t0 = time.perf_counter()
        model.fit(Xtr[rows], Ytr.loc[rows, [task.name]])
        fit_s += time.perf_counter() - t0
        outputs.update(tabmtl_outputs(model, Xte, [task]))
    return FoldOutput(outputs, fit_s)


# -- scikit-learn, one model per target ----------------------------------------------------


def _per_target(make_regressor, make_classifier, prepare=None) -> FitPredict:
    """A FitPredict that fits one scikit-learn-style model per target on its labelled rows.

    ``make_*(settings, X_train)`` build an unfitted model (the frame tells a pipeline
    which columns are categorical); ``prepare(X_train, X_test)``, if given, turns the
    frames into what the model reads first.
    """

    def fit_predict(Xtr, Ytr, Xte, spec, settings) -> FoldOutput:
        if prepare is not None:
            Xtr, Xte = prepare(Xtr, Xte)
        outputs, fit_s = {}, 0.0
        for task in _tasks(spec, Ytr):
            rows = _present(Ytr[task.name])
            y = Ytr[task.name][rows]
            regression = task.is_regression
            make = make_regressor if regression else make_classifier
            model = make(settings, Xtr)
            target = y.to_numpy(dtype=np.float64) if regression else _class_codes(task, y)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # epoch budget reached
                # a batch larger than a small table is clipped to it, as in tabmtl
                warnings.filterwarnings("ignore", "Got `batch_size`", UserWarning)
                # lightning's (RealMLP's) notes on data-loader workers and logging
                warnings.filterwarnings("ignore", module="lightning")
                warnings.filterwarnings("ignore", module="pytorch_lightning")
                model.fit(Xtr[rows], target)
            fit_s += time.perf_counter() - t0
            if regression:
                outputs[task.name] = np.asarray(model.predict(Xte), dtype=np.float64).ravel()
            else:
                proba = model.predict_proba(Xte)
                outputs[task.name] = aligned_proba(proba, model.classes_, len(task.classes_))
        return FoldOutput(outputs, fit_s)

    return fit_predict


def fit_predict_hgb(Xtr, Ytr, Xte, spec, settings) -> FoldOutput:
    """HistGradientBoosting per target, native categorical splits (the transfer
    analysis's baseline, :mod:`tabmtl.evaluation._baseline`)."""
    frame = hgb_frame(pd.concat([Xtr, Xte]))  # one encoding for train and test rows
    hXtr, hXte = frame.iloc[: len(Xtr)], frame.iloc[len(Xtr) :]
    outputs, fit_s = {}, 0.0
    for task in _tasks(spec, Ytr):
        t0 = time.perf_counter()
        model = fit_hgb(task, hXtr, Ytr[task.name], random_state=settings.seed)
        fit_s += time.perf_counter() - t0
        outputs[task.name] = hgb_output(model, task, hXte)
    return FoldOutput(outputs, fit_s)


def _native_categories(Xtr: pd.DataFrame, Xte: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """Categorical columns as pandas categories (one encoding for train and test rows)."""
    frame = hgb_frame(pd.concat([Xtr, Xte]))
    return frame.iloc[: len(Xtr)], frame.iloc[len(Xtr) :]


def _lgbm(regression: bool):
    def make(s: Settings, X: pd.DataFrame):
        import lightgbm as lgb  # a benchmark-only dependency (extra "bench")

        cls = lgb.LGBMRegressor if regression else lgb.LGBMClassifier
        # LightGBM's defaults (100 trees, 31 leaves, lr 0.1), as a user fitting one model
        # per target would run it; one thread like every other model
        return cls(random_state=s.seed, n_jobs=1, verbose=-1)

    return make


fit_predict_lgbm = _per_target(_lgbm(True), _lgbm(False), prepare=_native_categories)
fit_predict_lgbm.__doc__ = "LightGBM per target at its defaults, native categorical splits."


def _realmlp_frames(Xtr: pd.DataFrame, Xte: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """RealMLP's input: numerics median-imputed with the training medians (it does not
    take NaN), categories as pandas categories (it one-hot encodes or embeds them)."""
    Xtr, Xte = _native_categories(Xtr, Xte)
    numeric = [c for c in Xtr.columns if not isinstance(Xtr[c].dtype, pd.CategoricalDtype)]
    medians = Xtr[numeric].astype(np.float64).median().fillna(0.0)
    fill = lambda X: X.assign(**X[numeric].astype(np.float64).fillna(medians))  # noqa: E731
    return fill(Xtr), fill(Xte)


def _realmlp(regression: bool):
    def make(s: Settings, X: pd.DataFrame):
        from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor  # benchmark-only

        cls = RealMLP_TD_Regressor if regression else RealMLP_TD_Classifier
        return cls(random_state=s.seed, n_threads=1, device="cpu", verbosity=0)

    return make


fit_predict_realmlp = _per_target(_realmlp(True), _realmlp(False), prepare=_realmlp_frames)
fit_predict_realmlp.__doc__ = "RealMLP-TD (pytabkit) per target at its tuned defaults."


def _mlp_kwargs(s: Settings) -> dict:
    # Same trunk, batch size, learning rate and epoch budget as the torch models; sklearn's
    # defaults otherwise (adam, L2 alpha=1e-4, stop early only on a training-loss plateau).
    return dict(
        hidden_layer_sizes=s.hidden_layer_sizes,
        batch_size=s.batch_size,
        learning_rate_init=s.lr,
        max_iter=s.epochs,
        early_stopping=False,
        random_state=s.seed,
    )


def _mlp_regressor(s: Settings, X: pd.DataFrame):
    # The target is standardised, as tabmtl and the skorch model do: sklearn's MLP does
    # not, and a raw target in the hundreds (flight minutes) would be an unfair handicap.
    pipe = make_pipeline(make_preprocessor(X), MLPRegressor(**_mlp_kwargs(s)))
    return TransformedTargetRegressor(regressor=pipe, transformer=StandardScaler())


def _mlp_classifier(s: Settings, X: pd.DataFrame):
    return make_pipeline(make_preprocessor(X), MLPClassifier(**_mlp_kwargs(s)))


fit_predict_sklearn_mlp = _per_target(_mlp_regressor, _mlp_classifier)
fit_predict_sklearn_mlp.__doc__ = "sklearn MLP per target on one-hot + scaled features."


# -- plain skorch: what a user writes by hand ----------------------------------------------


class MultiHeadMLP(nn.Module):
    """A shared ReLU trunk and one linear head per target; outputs concatenated."""

    def __init__(self, n_in: int, head_widths: Sequence[int], hidden=(128, 64), dropout=0.1):
        super().__init__()
        layers, width = [], n_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(width, k) for k in head_widths)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        z = self.trunk(X)
        return torch.cat([head(z) for head in self.heads], dim=1)


class MaskedMultiTaskLoss(nn.Module):
    """Sum over targets of each target's mean loss on the rows where its label is present.

    ``y`` has one column per target: a z-scored value (regression) or a class index
    (binary / multiclass), NaN where the label is missing.
    """

    def __init__(self, kinds: Sequence[str], head_widths: Sequence[int]):
        super().__init__()
        self.kinds, self.head_widths = list(kinds), list(head_widths)

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total, col = out.sum() * 0.0, 0  # a tensor even if a batch has no label at all
        for j, (kind, width) in enumerate(zip(self.kinds, self.head_widths)):
            o, col = out[:, col : col + width], col + width
            mask = ~torch.isnan(y[:, j])
            if not mask.any():
                continue
            o, t = o[mask], y[mask, j]
            if kind == "regression":
                total = total + F.mse_loss(o[:, 0], t)
            elif kind == "binary":
                total = total + F.binary_cross_entropy_with_logits(o[:, 0], t)
            else:
                total = total + F.cross_entropy(o, t.long())
        return total


def fit_predict_skorch_multihead(Xtr, Ytr, Xte, spec, settings) -> FoldOutput:
    """Plain skorch ``NeuralNet`` with the module and loss above, default DataLoader."""
    tasks = _tasks(spec, Ytr)
    widths = [t.n_outputs for t in tasks]
    t0 = time.perf_counter()
    pre = make_preprocessor(Xtr)
    X = pre.fit_transform(Xtr).astype(np.float32)
    y = np.empty((len(Ytr), len(tasks)), dtype=np.float32)
    scale = {}
    for j, task in enumerate(tasks):
        if task.is_regression:
            v = Ytr[task.name].to_numpy(dtype=np.float64, na_value=np.nan)
            scale[j] = (np.nanmean(v), np.nanstd(v) or 1.0)
            y[:, j] = (v - scale[j][0]) / scale[j][1]
        else:
            y[:, j] = task.encode(Ytr[task.name])  # class index, NaN = missing
    torch.manual_seed(settings.seed)
    net = NeuralNet(
        MultiHeadMLP,
        module__n_in=X.shape[1],
        module__head_widths=widths,
        module__hidden=settings.hidden_layer_sizes,
        module__dropout=settings.dropout,
        criterion=MaskedMultiTaskLoss,
        criterion__kinds=[t.kind for t in tasks],
        criterion__head_widths=widths,
        optimizer=torch.optim.Adam,
        lr=settings.lr,
        batch_size=settings.batch_size,
        max_epochs=settings.epochs,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    net.fit(X, y)
    fit_s = time.perf_counter() - t0
    raw = net.predict_proba(pre.transform(Xte).astype(np.float32)).astype(np.float64)
    outputs, col = {}, 0
    for j, task in enumerate(tasks):
        o, col = raw[:, col : col + widths[j]], col + widths[j]
        if task.is_regression:
            outputs[task.name] = o[:, 0] * scale[j][1] + scale[j][0]
        elif task.kind == "binary":
            p = 1.0 / (1.0 + np.exp(-o[:, 0]))
            outputs[task.name] = np.column_stack([1.0 - p, p])
        else:
            e = np.exp(o - o.max(axis=1, keepdims=True))
            outputs[task.name] = e / e.sum(axis=1, keepdims=True)
    return FoldOutput(outputs, fit_s)


#: key -> (display name, fit_predict), in table order.
MODELS: dict[str, tuple[str, FitPredict]] = {
    "mt": ("tabmtl multi-task", fit_predict_tabmtl_multitask),
    # hard sharing was the default before the method table chose soft sharing
    "mt_hard": (
        "tabmtl multi-task, hard sharing",
        functools.partial(fit_predict_tabmtl_multitask, architecture="hard"),
    ),
    "st": ("tabmtl single-task", fit_predict_tabmtl_single),
    "mt_default": ("tabmtl (defaults)", fit_predict_tabmtl_defaults),
    "hgb": ("HistGB per target", fit_predict_hgb),
    "lgbm": ("LightGBM per target", fit_predict_lgbm),
    "realmlp": ("RealMLP per target", fit_predict_realmlp),
    "mlp": ("sklearn MLP per target", fit_predict_sklearn_mlp),
    "skorch": ("skorch multi-head", fit_predict_skorch_multihead),
}
