"""One-row serving without torch's per-op dispatch: the fitted network in onnxruntime.

At one row, a torch forward costs mostly its dispatch (a few microseconds per op, a
few dozen ops for the body and as many again for the per-task decoding). When
onnxruntime and onnx (the ``export`` extra; torch's exporter needs onnx) are installed,
:func:`serving_outputs` exports the estimator's :class:`~tabmtl.io._export.ServingModule`
(the network followed by each target's ``decode_outputs``, the one decoding
implementation) once, lazily, to an in-memory ONNX graph and answers from an onnxruntime
session on one thread: the numbers of ``predict`` / ``predict_proba`` to float32
rounding (see :func:`tabmtl.io._export.export_onnx`).

The session is cached here, keyed weakly by the estimator, never on the estimator
itself: pickling, ``clone``, ``get_state`` and ``save_model`` do not see it. It is
rebuilt when the estimator's network, its weights (torch's in-place version counters:
a refit, ``load_state_dict``, further training) or its temperatures change. Without the
extra, or when the export fails (a warning says why, once per fitted network),
:func:`serving_outputs` returns None and the caller keeps the torch path.
"""

from __future__ import annotations

import io
import warnings
import weakref
from typing import NamedTuple

import numpy as np
import torch

#: The target kinds whose record values ``predict_record`` reads from the exported
#: outputs (a real-valued ``"prediction"``, or ``"probabilities"`` over ``classes_``); a
#: model with any other kind is served by the torch path.
SERVED_KINDS = frozenset({"regression", "gaussian", "quantile", "binary", "multiclass"})

#: estimator -> its cached session (weak keys: the cache never keeps an estimator alive)
_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Session(NamedTuple):
    """An onnxruntime session (or None: the torch path) and what it was built from."""

    module: torch.nn.Module  # the network exported
    temperatures: bytes
    tensors: tuple  # the module's parameters and buffers
    versions: tuple  # their in-place version counters at export
    run: object  # the session's bound ``run``, or None
    keys: list  # (task index, value) of each output

    def is_current(self, estimator) -> bool:
        """Whether the estimator still has the network, weights and temperatures exported."""
        return (
            estimator.net_.module_ is self.module
            and np.asarray(estimator.temperatures_).tobytes() == self.temperatures
            and tuple(t._version for t in self.tensors) == self.versions
        )


def serving_outputs(
    estimator, features: np.ndarray
) -> dict[tuple[int, str], np.ndarray] | None:
    """The exported outputs of ``ServingModule(estimator)`` for an encoded feature matrix.

    Parameters
    ----------
    estimator : MultiTaskEstimator
        A fitted estimator.
    features : ndarray of shape (n, n_columns), float32
        The matrix of ``estimator.preprocessor_.transform`` (or ``transform_record``).

    Returns
    -------
    dict or None
        The outputs keyed by ``(task index, value)``: the task's position in
        ``target_spec_.tasks_`` and what the output holds (``value`` of
        :attr:`ServingModule.output_specs`: ``"prediction"``, ``"std"``,
        ``"quantiles"`` or ``"probabilities"``), float64 arrays whose first axis is the
        rows; None when onnxruntime or onnx is not installed, a target's kind is not in
        :data:`SERVED_KINDS` or the network could not be exported (use the torch path).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tabmtl import MultiTaskEstimator
    >>> X = pd.DataFrame({"km": np.arange(40.0)})
    >>> Y = pd.DataFrame({"eta": 3 * X.km, "late": X.km > 20})
    >>> model = MultiTaskEstimator(max_epochs=2, random_state=0).fit(X, Y)
    >>> out = serving_outputs(model, model.preprocessor_.transform_record({"km": 3.0}))
    >>> sorted(out), out[1, "probabilities"].shape
    ([(0, 'prediction'), (1, 'probabilities')], (1, 2))
    """
    session = _session(estimator)
    if session.run is None:
        return None
    values = session.run(None, {"features": features})
    return dict(zip(session.keys, values))


def _session(estimator) -> _Session:
    cached = _SESSIONS.get(estimator)
    if cached is None or not cached.is_current(estimator):
        module = estimator.net_.module_
        tensors = (*module.parameters(), *module.buffers())
        cached = _Session(
            module, np.asarray(estimator.temperatures_).tobytes(), tensors,
            tuple(t._version for t in tensors), *_build(estimator),
        )
        _SESSIONS[estimator] = cached
    return cached


def _build(estimator) -> tuple[object, list]:
    """``(session.run, output keys)``, or ``(None, [])`` for the torch path."""
    if any(task.kind not in SERVED_KINDS for task in estimator.target_spec_.tasks_):
        return None, []
    try:  # both of the export extra: torch's exporter needs onnx
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        return None, []
    from tabmtl.io._export import INPUT_NAME, ServingModule

    try:
        serving = ServingModule(estimator)
        pre = estimator.preprocessor_
        example = torch.zeros(2, pre.n_numeric_ + len(pre.categories_), dtype=torch.float32)
        names = [f"out{i}" for i in range(len(serving.output_specs))]
        buffer = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # exporter chatter; failures raise
            torch.onnx.export(
                serving, (example,), buffer, input_names=[INPUT_NAME], output_names=names,
                dynamic_axes={n: {0: "batch"} for n in [INPUT_NAME, *names]}, dynamo=False,
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one row: a thread pool costs more than it gains
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            buffer.getvalue(), options, providers=["CPUExecutionProvider"]
        )
        # (task index, value) of each output, in the order ServingModule.forward gives them
        keys = [
            (j, value)
            for j, (task, cols, _) in enumerate(serving.heads)
            for value in task.decode_outputs(torch.zeros(1, cols.stop - cols.start))
        ]
    except Exception as exc:  # any failure means: serve with torch
        warnings.warn(
            f"predict_record could not export the network to onnxruntime ({exc!r}); it "
            "uses the torch forward instead (same numbers, slower at one row).",
            RuntimeWarning, stacklevel=5,  # predict_record's caller
        )
        return None, []
    return session.run, keys

