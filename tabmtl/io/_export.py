"""Ship a fitted model: export its network to ONNX (or a ``torch.export`` program).

The exported graph takes the preprocessed feature matrix and returns, per target, what
``predict`` / ``predict_proba`` would give, so a server needs no tabmtl maths after the
network:

=================  ==========================  =============================================
target kind        output(s), ``n`` = batch    meaning
=================  ==========================  =============================================
regression         ``<name>``: float64 (n,)    the prediction in the target's own units
                                               (de-standardised, as ``predict``)
gaussian           ``<name>``: float64 (n,)    the predicted mean (as ``predict``)
                   ``<name>_std``: (n,)        its standard deviation, target units
                                               (as ``predict(return_std=True)``)
quantile           ``<name>``: float64 (n,)    the predicted median (as ``predict``)
                   ``<name>_quantiles``: (n,   the sorted quantiles at the levels listed in
                   L)                          the metadata, target units
binary             ``<name>``: float64 (n, 2)  class probabilities, columns in the order of
                                               the metadata's ``classes`` (as
                                               ``predict_proba``, temperature-scaled when
                                               the model was calibrated)
multiclass         ``<name>``: float64 (n, K)  the same, K classes
=================  ==========================  =============================================

The predicted label of a classification target is ``classes[argmax(probabilities)]``
(what ``predict`` returns; a binary tie at exactly 0.5 goes to the first class, as in
``predict``). Output names are the target names made into ASCII identifiers (other
characters become ``_``; a leading digit gets a ``_`` prefix; clashes get ``_2``,
``_3``...); the metadata maps each back to its target.

The input, ``features``, is the float32 matrix of ``preprocessor_.transform`` (any
number of rows): scaled numeric columns with missing indicators, then one column of
category codes per categorical feature. The model file records how to build it: ONNX
``metadata_props`` (or the ``.pt2`` file's extra file ``tabmtl.json``) hold JSON under
the keys ``tabmtl.input_columns`` (column names, in order), ``tabmtl.preprocessing``
(the exact recipe: medians, means, scales, categories) and ``tabmtl.outputs`` (one
entry per output: name, target, kind, classes or quantile levels). A Python server with
tabmtl installed can simply call ``model.preprocessor_.transform(frame)``.

A :class:`~tabmtl._ensemble.MultiTaskBlend` is refused with a message (its LightGBM
models are not in the graph); ``export_onnx(blend.net_, path)`` exports its net alone.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from tabmtl._data.targets import QUANTILE_LEVELS, TARGET_KINDS, as_python_scalar
from tabmtl._data.targets.base import TargetKind
from tabmtl.errors import InputTypeError

INPUT_NAME = "features"
#: metadata keys written into the exported file, each holding a JSON document
METADATA_KEYS = ("tabmtl.version", "tabmtl.input_columns", "tabmtl.preprocessing",
                 "tabmtl.outputs")
_PT2_EXTRA_FILE = "tabmtl.json"


def _require(module: str):
    """Import an optional dependency of export, or say how to install it."""
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f"ONNX export needs the {module!r} package, which is not installed; "
            "install the export extra: pip install 'tabmtl[export]'."
        ) from exc


def refuse_blend(estimator, what: str) -> None:
    """Refuse a MultiTaskBlend: only the network is exported, not its boosting models."""
    if type(estimator).__name__ == "MultiTaskBlend":
        raise InputTypeError(
            f"{what} cannot export a MultiTaskBlend: its per-target boosting models "
            "(LightGBM) are not part of the exported network graph, so the file could not "
            "reproduce the blend's predictions. Serve the blend with tabmtl (save_model / "
            "load_model, tabmtl predict, the MLflow flavor), or export its net alone with "
            f"{what}(blend.net_, ...): the net's predictions, not the blend's."
        )


class ServingModule(nn.Module):
    """The fitted network followed by each target's decoding, as one exportable module.

    ``forward(features)`` returns a tuple of tensors, one per entry of
    :attr:`output_specs` (see the module docstring for their meaning): each target's
    ``TargetKind.decode_outputs``, the decoding ``predict`` and ``predict_proba`` use.
    The network and the target tasks are deep copies (the network in eval mode on the
    CPU), so exporting leaves the estimator untouched.

    Parameters
    ----------
    estimator : MultiTaskEstimator, MultiTaskRegressor or MultiTaskClassifier
        A fitted estimator.

    Attributes
    ----------
    output_specs : list of dict
        Per output, in order: ``name``, ``target``, ``kind``, ``value`` (what it holds)
        and, when relevant, ``classes`` or ``levels``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, torch
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(40.0)})
    >>> Y = pd.DataFrame({"eta": 3 * X.km, "late": X.km > 20})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> serving = ServingModule(model)
    >>> [(o["name"], o["value"]) for o in serving.output_specs]
    [('eta', 'prediction'), ('late', 'probabilities')]
    >>> [tuple(t.shape) for t in serving(torch.zeros(3, 1))]
    [(3,), (3, 2)]
    """

    def __init__(self, estimator):
        super().__init__()
        refuse_blend(estimator, "ServingModule")
        check_is_fitted(estimator, "net_")
        spec = estimator.target_spec_
        self.network = copy.deepcopy(estimator.net_.module_).cpu().eval()
        temperatures = getattr(estimator, "temperatures_", None)  # set by calibration
        if temperatures is None:
            temperatures = np.ones(len(spec.tasks_))
        #: (task, its output columns, its temperature) per target
        self.heads = [
            (task, cols, float(t))
            for task, cols, t in zip(copy.deepcopy(spec.tasks_), spec.slices_, temperatures)
        ]
        self.output_specs: list[dict] = []
        used = {INPUT_NAME}
        for task, cols, _ in self.heads:
            _check_exportable(task)
            name = _identifier(task.name)
            # what the head decodes to, read from one dummy row
            values = task.decode_outputs(torch.zeros(1, cols.stop - cols.start))
            for value in values:  # the main value is named after the target, others suffixed
                main = value in ("prediction", "probabilities")
                entry = {"name": _unique(name if main else f"{name}_{value}", used),
                         "target": as_python_scalar(task.name), "kind": task.kind, "value": value}
                if value == "probabilities":
                    entry["classes"] = [as_python_scalar(c) for c in task.classes_]
                elif value == "quantiles":
                    entry["levels"] = list(QUANTILE_LEVELS)
                self.output_specs.append(entry)
        self.eval()

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raw = self.network(features)
        outputs: list[torch.Tensor] = []
        for task, cols, temperature in self.heads:
            outputs.extend(task.decode_outputs(raw[:, cols], temperature).values())
        return tuple(outputs)


class _DictOutputs(nn.Module):
    """:class:`ServingModule` with a dict of named outputs (for ``torch.export``)."""

    def __init__(self, serving: ServingModule):
        super().__init__()
        self.serving = serving
        self.names = [o["name"] for o in serving.output_specs]

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.serving(features)))


def export_onnx(
    estimator, path: str | os.PathLike, *, opset: int | None = None, dynamo: bool = True
) -> Path:
    """Write the fitted network, with per-target decoding, as an ONNX model.

    Input ``features``: float32 ``(batch, n_columns)``, the matrix of
    ``estimator.preprocessor_.transform(X)``; the batch axis is dynamic. Outputs: one per
    target (two for gaussian and quantile heads), named after the targets; see the
    module docstring for what each holds. Regression values are in the target's units
    and classification outputs are probabilities (temperature-scaled when the model was
    calibrated), so a consumer needs no tabmtl maths. The file's ``metadata_props``
    hold the input column layout, the preprocessing recipe and the output list as JSON
    (read them back with :func:`read_metadata`).

    onnxruntime reproduces ``predict`` and ``predict_proba`` to float32 rounding (the
    network runs in float32; decoding in float64).

    Parameters
    ----------
    estimator : MultiTaskEstimator, MultiTaskRegressor or MultiTaskClassifier
        A fitted estimator.
    path : str or path-like
        Destination ``.onnx`` file (weights included in the one file).
    opset : int, optional
        ONNX opset to target; torch's default when None.
    dynamo : bool, default=True
        Use torch's ``torch.export``-based exporter (PyTorch's recommended one; several
        seconds per model). False uses the legacy TorchScript-based exporter, which
        PyTorch deprecates but which is much faster and also works on older torch.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, pandas as pd, onnxruntime
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(40.0), "zone": ["a", "b"] * 20})
    >>> Y = pd.DataFrame({"eta": 3 * X.km, "late": X.km > 20})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> path = export_onnx(model, os.path.join(tempfile.mkdtemp(), "model.onnx"),
    ...                    dynamo=False)
    >>> session = onnxruntime.InferenceSession(path)
    >>> eta, late = session.run(["eta", "late"],
    ...                         {"features": model.preprocessor_.transform(X.head(3))})
    >>> eta.shape, late.shape
    ((3,), (3, 2))
    >>> read_metadata(path)["tabmtl.input_columns"]
    ['km', 'zone__code']
    """
    refuse_blend(estimator, "export_onnx")
    onnx = _require("onnx")
    if dynamo:
        _require("onnxscript")
    serving = ServingModule(estimator)
    names = [o["name"] for o in serving.output_specs]
    example = _example_input(estimator)
    with _quiet_exporter(), torch.no_grad():
        if dynamo:
            program = torch.onnx.export(
                serving,
                (example,),
                input_names=[INPUT_NAME],
                output_names=names,
                opset_version=opset,
                dynamo=True,
                dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch", min=1)}},
                verbose=False,
            )
            proto = program.model_proto
        else:
            buffer = io.BytesIO()
            kwargs = {} if opset is None else {"opset_version": opset}
            torch.onnx.export(
                serving,
                (example,),
                buffer,
                input_names=[INPUT_NAME],
                output_names=names,
                dynamic_axes={n: {0: "batch"} for n in [INPUT_NAME, *names]},
                dynamo=False,
                **kwargs,
            )
            proto = onnx.load_from_string(buffer.getvalue())
    for key, value in _metadata(estimator, serving).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = (
        "tabmtl multi-task model: input 'features' (preprocessed float32 matrix); one "
        "output per target. See metadata_props 'tabmtl.*'."
    )
    onnx.checker.check_model(proto)
    path = Path(path)
    onnx.save_model(proto, str(path))
    return path


def export_torch(estimator, path: str | os.PathLike) -> Path:
    """Write the fitted network, with per-target decoding, as a ``torch.export`` program.

    The torch-native counterpart of :func:`export_onnx` (TorchScript, its predecessor,
    is deprecated in recent torch): same input and outputs, returned as a dict keyed by
    output name. Load it without tabmtl with ``torch.export.load(path).module()``; the
    metadata is the file's extra file ``tabmtl.json`` (see :func:`read_metadata`).

    Parameters
    ----------
    estimator : MultiTaskEstimator, MultiTaskRegressor or MultiTaskClassifier
        A fitted estimator.
    path : str or path-like
        Destination file (``.pt2`` by convention).

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, pandas as pd, torch
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(40.0)})
    >>> Y = pd.DataFrame({"eta": 3 * X.km, "late": X.km > 20})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> path = export_torch(model, os.path.join(tempfile.mkdtemp(), "model.pt2"))
    >>> program = torch.export.load(path).module()
    >>> out = program(torch.from_numpy(model.preprocessor_.transform(X.head(3))))
    >>> sorted(out), tuple(out["late"].shape)
    (['eta', 'late'], (3, 2))
    """
    refuse_blend(estimator, "export_torch")
    serving = ServingModule(estimator)
    program = torch.export.export(
        _DictOutputs(serving),
        (_example_input(estimator),),
        dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch", min=1)}},
        strict=False,
    )
    path = Path(path)
    extra = json.dumps(_metadata(estimator, serving))
    torch.export.save(program, str(path), extra_files={_PT2_EXTRA_FILE: extra})
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, object]:
    """The tabmtl metadata of an exported file (``.onnx`` or ``.pt2``), JSON-decoded.

    Returns
    -------
    dict
        ``tabmtl.version`` (str), ``tabmtl.input_columns`` (list of the input's column
        names), ``tabmtl.preprocessing`` (dict: how to build the input from raw
        features) and ``tabmtl.outputs`` (list of dicts: ``name``, ``target``,
        ``kind``, ``value`` and ``classes`` or ``levels`` where they apply).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, pandas as pd
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(40.0)})
    >>> Y = pd.DataFrame({"late": X.km > 20})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> path = export_torch(model, os.path.join(tempfile.mkdtemp(), "model.pt2"))
    >>> read_metadata(path)["tabmtl.outputs"][0]["classes"]
    [False, True]
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):  # a .pt2 program is a zip archive, an ONNX model not
        onnx = _require("onnx")
        proto = onnx.load_model(str(path), load_external_data=False)
        raw = {p.key: p.value for p in proto.metadata_props if p.key in METADATA_KEYS}
    else:
        extra = {_PT2_EXTRA_FILE: ""}
        torch.export.load(str(path), extra_files=extra)
        raw = json.loads(extra[_PT2_EXTRA_FILE])
    return {key: json.loads(value) for key, value in raw.items()}


# -- helpers -----------------------------------------------------------------------------


def _example_input(estimator) -> torch.Tensor:
    """Two rows of zeros in the input layout (code 0 = unknown category: always valid)."""
    pre = estimator.preprocessor_
    return torch.zeros(2, pre.n_numeric_ + len(pre.categories_), dtype=torch.float32)


def _metadata(estimator, serving: ServingModule) -> dict[str, str]:
    from tabmtl import __version__

    pre = estimator.preprocessor_
    values = {
        "tabmtl.version": __version__,
        "tabmtl.input_columns": [str(c) for c in pre.get_feature_names_out()],
        "tabmtl.preprocessing": pre.recipe(),
        "tabmtl.outputs": serving.output_specs,
    }
    return {key: json.dumps(value, default=str) for key, value in values.items()}


def _check_exportable(task: TargetKind) -> None:
    """Every kind of the target-kind registry exports, through its ``decode_outputs``."""
    cls = type(task)
    if TARGET_KINDS.get(task.kind) is not cls or cls.decode_outputs is TargetKind.decode_outputs:
        raise ValueError(
            f"Target {task.name!r} has kind {task.kind!r} ({cls.__name__}), which is not a "
            f"registered target kind with a decoding; registered: {sorted(TARGET_KINDS)!r}."
        )


def _identifier(name: object) -> str:
    text = re.sub(r"\W", "_", str(name), flags=re.ASCII)
    return f"_{text}" if not text or text[0].isdigit() else text


def _unique(name: str, used: set[str]) -> str:
    candidate, k = name, 2
    while candidate in used:
        candidate, k = f"{name}_{k}", k + 1
    used.add(candidate)
    return candidate


@contextlib.contextmanager
def _quiet_exporter():
    """Hide torch exporter chatter a user cannot act on (optional-op registry notes such
    as "torchvision is not installed", internal deprecation notices); real errors raise."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            # the decoding constants are float64 tensors on purpose (TargetKind.decode_outputs)
            warnings.filterwarnings("ignore", message=r"torch\.tensor results are registered")
            yield
    finally:
        logger.setLevel(level)
