"""Building the skorch net of a fitted target spec and feature preprocessor.

The estimators' parameters (``get_params(deep=False)`` of a
:class:`~tabmtl._estimators.base.MultiTaskBase`) decide the network, the loss, the
callbacks and the training options; the fitted spec and preprocessor decide the input
width, the embeddings and the heads. :func:`build_net` is used by every fit and
:func:`load_net` by loading a saved model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from sklearn.base import clone
from skorch.callbacks import Checkpoint, EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit
from skorch.history import History

from tabmtl._data.targets import TARGET_KINDS
from tabmtl._data.targets.roles import loss_scales, split_roles
from tabmtl._nn.architectures import resolve_architecture
from tabmtl._nn.inputs import MemberAdapter, RobustNumeric
from tabmtl._nn.loss import MultiTaskLoss
from tabmtl._nn.network import TabularNetwork
from tabmtl._nn.numeric_embedding import resolve_numeric_embedding
from tabmtl._nn.scaled_loss import ScaledMultiTaskLoss
from tabmtl._nn.weighting import resolve_weighting
from tabmtl._training.callbacks import BestWeights
from tabmtl._training.iterators import SliceIterator, TensorDataset
from tabmtl._training.net import MultiTaskNet
from tabmtl._training.resume import ResumeCheckpoint
from tabmtl.errors import InputError

#: Smallest batch of the validation and prediction iterator: prediction needs no
#: gradients, so larger batches only save per-batch overhead.
PREDICT_BATCH = 4096


def fit_input_state(params: Mapping, X_numeric: np.ndarray) -> dict:
    """Statistics of the encoded training numeric block that the network's input side
    needs (robust scaling's centre and scale, a numeric embedding's bin edges), as a
    JSON-able dict: the estimator keeps it as ``input_state_`` and saves it.

    Examples
    --------
    >>> import numpy as np
    >>> state = fit_input_state({"numeric_scaling": "robust", "numeric_embedding": None},
    ...                         np.arange(10.0).reshape(5, 2))
    >>> sorted(state["robust"])
    ['center', 'clip', 'scale']
    """
    state: dict = {}
    X = np.asarray(X_numeric, dtype=np.float32)
    if X.shape[1] == 0:
        return state
    if params.get("numeric_scaling", "standard") == "robust":
        robust = RobustNumeric.fit(X)
        state["robust"] = robust.state()
        X = robust(torch.from_numpy(X)).numpy()
    embedding = resolve_numeric_embedding(params.get("numeric_embedding"))
    if embedding is not None:
        state["embedding"] = embedding.fit_state(X)
    return state


def build_network(
    params: Mapping, target_spec, preprocessor, input_state: Mapping
) -> TabularNetwork:
    """The torch module: input side, the architecture's body and the fused heads."""
    spec, pre = target_spec, preprocessor
    keys = [f"t{i}" for i in range(len(spec.tasks_))]
    spec_embedding = resolve_numeric_embedding(params.get("numeric_embedding"))
    robust_scaling = params.get("numeric_scaling", "standard") == "robust"
    needed = {"robust": robust_scaling, "embedding": spec_embedding is not None}
    missing = [key for key, wanted in needed.items() if wanted and key not in input_state]
    if missing and pre.n_numeric_:
        raise ValueError(
            f"The network's numeric inputs need the statistics {missing!r} that "
            "fit_input_state computes from the training rows: pass input_state."
        )
    robust = RobustNumeric.from_state(input_state["robust"]) if "robust" in input_state else None
    n_numeric_out = pre.n_numeric_
    embedding = None
    if spec_embedding is not None and pre.n_numeric_:
        embedding = spec_embedding.build(pre.n_numeric_, input_state["embedding"])
        n_numeric_out = embedding.n_out
    n_inputs = n_numeric_out + sum(pre.embedding_dims_)
    body = resolve_architecture(params["architecture"]).build(
        n_inputs,
        {k: t.n_outputs for k, t in zip(keys, spec.tasks_)},
        tuple(int(h) for h in params["hidden_layer_sizes"]),
        float(params["dropout"]),
    )
    k = int(params.get("ensemble_size", 1))
    members = MemberAdapter(k, n_inputs) if k > 1 else None
    combiners = [
        (TARGET_KINDS[t.kind].combine_members, s.start, s.stop)
        for t, s in zip(spec.tasks_, spec.slices_)
    ]
    return TabularNetwork(
        pre.n_numeric_, pre.cardinalities_, pre.embedding_dims_, body,
        robust=robust, numeric_embedding=embedding, members=members,
        member_combiners=combiners,
    )


#: ``early_stopping="auto"`` holds out a validation split from this many training rows on;
#: below it the whole epoch budget runs (a split of a couple of dozen rows is too noisy to
#: pick an epoch with). benchmarks/defaults.py measured early stopping on penguins' folds
#: (229 training rows) at no loss against the full budget.
AUTO_EARLY_STOPPING_ROWS = 200


def resolve_early_stopping(value, n_rows: int | None) -> bool:
    """Whether a fit on ``n_rows`` training rows stops early (``n_rows`` None: unknown,
    as for a stream, which is large)."""
    if isinstance(value, str) and value == "auto":
        return n_rows is None or n_rows >= AUTO_EARLY_STOPPING_ROWS
    return bool(value)


#: ``patience="auto"``: this many epochs without improvement stop a fit...
AUTO_PATIENCE = 6
#: ...unless an epoch has so few batches that they span fewer optimizer steps than this.
#: benchmarks/sharing.py measured 6 against 16 on the six project tables (the same kept
#: epochs, a quarter to a third less fit time) but also penguins' single-target fits
#: (229 training rows, one step per epoch), where 6 steps of patience stopped one fold's
#: ``body_mass_g`` at R² 0.65 against 0.84 with 16.
AUTO_PATIENCE_STEPS = 16


def resolve_patience(value, n_rows: int | None, batch_size: int) -> int:
    """Early stopping's patience in epochs for a fit on ``n_rows`` training rows.

    ``"auto"`` is :data:`AUTO_PATIENCE` epochs, or as many more as it takes for the
    patience to span :data:`AUTO_PATIENCE_STEPS` optimizer steps when an epoch has fewer
    than three batches (``n_rows`` None: unknown, as for a stream, which is large).

    Examples
    --------
    >>> resolve_patience("auto", 20_000, 256), resolve_patience("auto", 229, 256)
    (6, 16)
    >>> resolve_patience(10, 229, 256)
    10
    """
    if not (isinstance(value, str) and value == "auto"):
        return int(value)
    if n_rows is None:
        return AUTO_PATIENCE
    batches = max(1, -(-int(n_rows) // int(batch_size)))
    return max(AUTO_PATIENCE, -(-AUTO_PATIENCE_STEPS // batches))


def validation_split(params: Mapping, seed: int) -> ValidSplit:
    """Early stopping's split: ``validation_fraction`` of the rows, drawn with the seed."""
    return ValidSplit(params["validation_fraction"], stratified=False, random_state=seed)


def check_groups(groups, n_rows: int) -> np.ndarray | None:
    """``groups`` as an array of one label per row, or an InputError naming the problem."""
    if groups is None:
        return None
    import pandas as pd

    values = np.asarray(groups.to_numpy() if isinstance(groups, pd.Series) else groups)
    if values.ndim != 1 or len(values) != n_rows:
        raise InputError(
            f"groups must hold one label per row: got shape {values.shape} for {n_rows} rows."
        )
    missing = pd.isna(values)
    if missing.any():
        raise InputError(
            f"groups has {int(missing.sum())} missing label(s) (first at row "
            f"{int(np.argmax(missing))}); give every row a group."
        )
    return values


def validation_rows(
    params: Mapping, n_rows: int, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Early stopping's (training, validation) positions among ``n_rows`` rows, as
    :func:`validation_split` draws them; None without early stopping (or with a user
    ``train_split`` in ``net_kwargs``).

    With ``groups`` (one label per row), ``validation_fraction`` of the *groups* is held
    out, every row of a group on one side. Rows of one unit (a person, a store) resemble
    each other; split at random, the validation rows' units are also trained on, the
    validation loss rewards memorising units and early stopping stops far too late for
    new ones (rand_hie, docs/sharing.md: 0.372 mean score with random rows, 0.433 with
    whole persons held out).
    """
    if not resolve_early_stopping(params["early_stopping"], n_rows) or "train_split" in (
        params["net_kwargs"] or {}
    ):
        return None
    if groups is None:
        split = validation_split(params, seed)
        return tuple(np.asarray(part.indices) for part in split(np.arange(n_rows)))
    labels, codes = np.unique(np.asarray(groups), return_inverse=True)
    if len(labels) < 2:
        raise InputError(
            f"groups has {len(labels)} distinct value(s) among the {n_rows} rows early "
            "stopping splits; holding out whole groups needs at least 2."
        )
    n_valid = min(len(labels) - 1, max(1, round(params["validation_fraction"] * len(labels))))
    held = np.random.default_rng(seed).choice(len(labels), n_valid, replace=False)
    valid = np.isin(codes, held)
    return np.flatnonzero(~valid), np.flatnonzero(valid)


def build_net(
    params: Mapping,
    target_spec,
    preprocessor,
    seed: int,
    resume: tuple[str, dict | None] | None = None,
    input_state: Mapping | None = None,
) -> MultiTaskNet:
    """The (uninitialised) skorch net for a fitted spec and preprocessor.

    Parameters
    ----------
    params : mapping
        The estimator's parameters, as ``get_params(deep=False)`` returns them.
    target_spec : TargetSpec
        The fitted target spec: one head and one loss term per task.
    preprocessor : FeaturePreprocessor
        The fitted feature preprocessor: numeric width and embeddings.
    seed : int
        Seeds the shuffle order and the early-stopping split.
    resume : (str, dict or None), optional
        ``(fingerprint, saved state or None)`` when ``checkpoint_dir`` is set during
        fit: a :class:`ResumeCheckpoint` then saves (and restores) the fit's state.
    input_state : dict, optional
        What :func:`fit_input_state` fitted (robust scaling, numeric embedding bins).

    Returns
    -------
    MultiTaskNet

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl import MultiTaskEstimator
    >>> from tabmtl._data.features import FeaturePreprocessor
    >>> from tabmtl._data.targets import TargetSpec
    >>> X, Y = pd.DataFrame({"km": np.arange(9.0)}), pd.DataFrame({"eta": np.arange(9.0)})
    >>> params = MultiTaskEstimator(max_epochs=2, numeric_embedding=None).get_params(deep=False)
    >>> net = build_net(params, TargetSpec().fit(Y), FeaturePreprocessor().fit(X), seed=0)
    >>> net.max_epochs, net.task_names
    (2, ['eta'])
    """
    spec = target_spec
    module = build_network(params, spec, preprocessor, input_state or {})
    weighting = resolve_weighting(params["weighting"])
    names = list(spec.target_names_)
    # auxiliary targets (an estimator parameter of MultiTaskEstimator): their losses are
    # scaled by auxiliary_weight before the weighting, and selection watches the rest
    auxiliary = params.get("auxiliary")
    scales = loss_scales(auxiliary, params.get("auxiliary_weight", 1.0), names)
    loss_class, extra = MultiTaskLoss, {}
    if scales is not None:
        loss_class, extra = ScaledMultiTaskLoss, {"scales": scales}
    criterion = loss_class(
        [t.kind for t in spec.tasks_],
        [(s.start, s.stop) for s in spec.slices_],
        weighting.build(names),
        label_smoothing=float(params.get("label_smoothing", 0.0)),
        **extra,
    )
    device, batch_size = params["device"], params["batch_size"]
    callbacks = [("best_weights", BestWeights())]
    train_split = None
    early_stopping = resolve_early_stopping(params["early_stopping"], None)
    if early_stopping:
        train_split = validation_split(params, seed)
        callbacks.append(
            (
                "early_stopping",
                EarlyStopping(
                    monitor="valid_objective",
                    patience=resolve_patience(params["patience"], None, batch_size),
                    load_best=True,
                ),
            )
        )
    if params["checkpoint_dir"] is not None:
        monitor = "valid_objective_best" if early_stopping else "train_objective_best"
        callbacks.append(
            ("checkpoint", Checkpoint(monitor=monitor, dirname=str(params["checkpoint_dir"])))
        )
    if params["verbose"]:
        callbacks.append(("progress_bar", ProgressBar()))
    for i, cb in enumerate(params["callbacks"] or ()):
        name, cb = cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb)
        callbacks.append((name, clone(cb)))
    if resume is not None:  # last: its on_train_begin must run after the others reset
        callbacks.append(
            ("resume", ResumeCheckpoint(str(params["checkpoint_dir"]), *resume))
        )
    kwargs = dict(
        module=module,
        criterion=criterion,
        task_names=[str(t.name) for t in spec.tasks_],
        optimizer=torch.optim.AdamW,
        optimizer__weight_decay=params["weight_decay"],
        lr=params["lr"],
        max_epochs=params["max_epochs"],
        batch_size=batch_size,
        train_split=train_split,
        callbacks=callbacks,
        dataset=TensorDataset,
        iterator_train=SliceIterator,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_train__device=device,
        iterator_valid=SliceIterator,
        iterator_valid__batch_size=max(batch_size, PREDICT_BATCH),
        iterator_valid__device=device,
        device=device,
        verbose=params["verbose"],
    )
    main = split_roles(auxiliary, names)[0]
    if len(main) < len(names):  # the selection objective watches the main targets only
        kwargs["callbacks__task_logger__objective_tasks"] = [str(t) for t in main]
    kwargs.update(params["net_kwargs"] or {})
    return MultiTaskNet(**kwargs)


def load_net(
    params: Mapping,
    target_spec,
    preprocessor,
    weights: Mapping,
    history: list[dict],
    input_state: Mapping | None = None,
) -> MultiTaskNet:
    """A trained net rebuilt from saved ``weights`` and ``history`` (loading a model).

    ``weights`` holds the ``state_dict`` of the module and of the criterion (keys
    ``"module"`` and ``"criterion"``); ``history`` the per-epoch rows; ``input_state``
    what :func:`fit_input_state` fitted.
    """
    net = build_net(params, target_spec, preprocessor, seed=0, input_state=input_state)
    net.initialize()
    net.module_.load_state_dict(weights["module"])
    net.criterion_.load_state_dict(weights["criterion"])
    net.history = History(history)
    return net


def net_weights(net: MultiTaskNet) -> dict[str, dict[str, torch.Tensor]]:
    """The trained state :func:`load_net` takes back: module and criterion, on the CPU."""
    return {
        "module": {k: v.cpu() for k, v in net.module_.state_dict().items()},
        "criterion": {k: v.cpu() for k, v in net.criterion_.state_dict().items()},
    }
