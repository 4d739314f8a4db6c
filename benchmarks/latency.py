"""Serving latency: one row and 10k rows through every predict path, as a markdown table.

A realistic model (the default soft-sharing architecture, 128-64 towers, on a sample of
``flights``: two regression targets and a binary one; 17 numeric features, 9 of them with
missing values, and 3 categorical ones, one with 105 categories) is timed through

* ``predict`` / ``predict_proba``: DataFrame in, DataFrame out;
* ``predict_record`` / ``predict_proba_record``: the fast path, a dict in and out
  (onnxruntime behind it when installed: :mod:`tabmtl._estimators.fast_forward`), and the
  same through the torch path (``transform_record`` -> ``_network_outputs`` ->
  ``inverse_transform_record`` / ``predict_proba``: what ``predict_record`` does without
  onnxruntime, and did before it), the "before" of the before/after table;
* ``transform_record`` + onnxruntime: the same record through the exported ONNX model;
* onnxruntime and the raw torch module on the preprocessed matrix (the network alone);
* ``preprocessor_.transform`` / ``transform_record`` alone, the torch decoding alone and
  ``serving_outputs`` alone (where the time goes).

A second table sets ``predict_record`` and ``predict_proba_record`` beside their torch
path (medians and their ratio). The header gives the first ``predict_record`` call's
time, which exports the network to onnxruntime.

Torch and onnxruntime run on one thread, deliberately: serving processes usually get
one core each, and it makes the figures comparable between machines. Median and 95th
percentile of the wall time over many calls (after warm-up), and the median CPU time of
the calling thread, which leaves out the waits a busy machine adds.

    python -m benchmarks.latency            # 20k training rows, 3 epochs, 2000 calls
    python -m benchmarks.latency --quick    # 5k rows, 1 epoch, 300 calls (~1 minute)
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import torch

import datasets
import tabmtl
from tabmtl import MultiTaskEstimator
from tabmtl._estimators.fast_forward import serving_outputs

N_BATCH = 10_000
TORCH_RECORD = "predict_record, torch path (before)"
TORCH_PROBA_RECORD = "predict_proba_record, torch path (before)"
COLUMNS = (
    "1 row median (ms)", "1 row p95 (ms)", "1 row CPU median (ms)",
    "10k rows median (ms)", "10k rows p95 (ms)", "10k rows CPU median (ms)",
)


def time_calls(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Median and 95th percentile of the wall time of ``repeats`` calls, and the median of
    their CPU time (this thread's), in milliseconds.

    On a shared machine a call longer than the scheduler's time slice is often preempted,
    which inflates wall times; the CPU time leaves those waits out (everything here runs on
    the calling thread), so it is what the call costs on a core of its own.
    """
    for _ in range(max(3, repeats // 20)):  # warm-up: lazy initialisations, caches
        fn()
    gc.collect()
    wall, cpu = np.empty(repeats), np.empty(repeats)
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn()
        cpu[i] = time.thread_time() - start_cpu
        wall[i] = time.perf_counter() - start
    ms = 1e3
    return (float(np.median(wall) * ms), float(np.percentile(wall, 95) * ms),
            float(np.median(cpu) * ms))


def fitted_model(rows: int, epochs: int, seed: int):
    """The model, a one-row frame, its record and a batch of N_BATCH unseen rows."""
    X, Y = datasets.load("flights", n_rows=rows + N_BATCH, random_state=seed)
    X_train, Y_train = X.iloc[:rows], Y.iloc[:rows]
    batch = X.iloc[rows:].reset_index(drop=True)
    model = MultiTaskEstimator(max_epochs=epochs, random_state=seed).fit(X_train, Y_train)
    one = batch.iloc[[0]]
    return model, one, one.iloc[0].to_dict(), batch


def onnx_session(model, folder: Path):
    """An onnxruntime session (one thread) on the exported model, or None without it."""
    try:
        import onnxruntime
    except ImportError:
        return None
    from tabmtl.io._export import export_onnx

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    path = export_onnx(model, folder / "model.onnx")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure(model, one, record, batch, session, repeats: int) -> pd.DataFrame:
    pre, module = model.preprocessor_, model.net_.module_
    one_enc, batch_enc = pre.transform(one), pre.transform(batch)
    module.eval()

    def torch_module(x: np.ndarray) -> Callable[[], object]:
        def run():
            with torch.inference_mode():
                return module(torch.from_numpy(x))

        return run

    # path -> (1-row call, 10k-row call or None)
    paths: dict[str, tuple[Callable, Callable | None]] = {
        "predict (DataFrame)": (lambda: model.predict(one), lambda: model.predict(batch)),
        "predict_proba (DataFrame)": (
            lambda: model.predict_proba(one), lambda: model.predict_proba(batch)
        ),
    }
    spec, temperatures = model.target_spec_, model.temperatures_
    record_enc = pre.transform_record(record)
    raw = model._network_outputs(record_enc)
    paths["predict_record (fast path)"] = (lambda: model.predict_record(record), None)
    paths["predict_proba_record (fast path)"] = (
        lambda: model.predict_proba_record(record), None
    )
    paths[TORCH_RECORD] = (
        lambda: spec.inverse_transform_record(
            model._network_outputs(pre.transform_record(record))
        ),
        None,
    )
    paths[TORCH_PROBA_RECORD] = (
        lambda: spec.predict_proba(model._network_outputs(pre.transform_record(record)),
                                   temperatures),
        None,
    )
    if session is not None:
        paths["transform_record + onnxruntime"] = (
            lambda: session.run(None, {"features": pre.transform_record(record)}), None
        )
        paths["onnxruntime, preprocessed matrix"] = (
            lambda: session.run(None, {"features": one_enc}),
            lambda: session.run(None, {"features": batch_enc}),
        )
    paths["torch module, preprocessed matrix"] = (
        torch_module(one_enc), torch_module(batch_enc)
    )
    paths["torch decoding only: inverse_transform_record"] = (
        lambda: spec.inverse_transform_record(raw), None
    )
    if serving_outputs(model, record_enc) is not None:
        paths["serving_outputs only (onnxruntime: network + decoding)"] = (
            lambda: serving_outputs(model, record_enc), None
        )
    paths["preprocess only: transform"] = (lambda: pre.transform(one), lambda: pre.transform(batch))
    if hasattr(pre, "transform_record"):
        paths["preprocess only: transform_record"] = (lambda: pre.transform_record(record), None)

    rows = []
    for name, (single, many) in paths.items():
        one_row = time_calls(single, repeats)
        nan = float("nan")
        batch_rows = time_calls(many, max(5, repeats // 100)) if many else (nan, nan, nan)
        rows.append({"path": name, **dict(zip(COLUMNS[:3], one_row)),
                     **dict(zip(COLUMNS[3:], batch_rows))})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small model, fewer calls")
    parser.add_argument("--rows", type=int, default=None, help="training rows")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None, help="calls per 1-row path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-onnx", action="store_true", help="no export, no onnxruntime rows")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = args.rows or (5_000 if args.quick else 20_000)
    epochs = args.epochs or (1 if args.quick else 3)
    repeats = args.repeats or (300 if args.quick else 2_000)

    model, one, record, batch = fitted_model(rows, epochs, args.seed)
    session = None
    if not args.skip_onnx:
        with tempfile.TemporaryDirectory() as folder:
            session = onnx_session(model, Path(folder))
    start = time.perf_counter()
    model.predict_record(record)  # the first call exports the network to onnxruntime
    first_call = time.perf_counter() - start
    table = measure(model, one, record, batch, session, repeats)
    agreement = record_agreement(model, batch)
    print(
        f"# predict latency, flights, {rows:,} training rows, {epochs} epoch(s), "
        f"architecture {model.architecture!r} {tuple(model.hidden_layer_sizes)}, "
        f"targets {list(model.target_spec_.target_names_)}\n"
        f"# tabmtl {tabmtl.__version__}, torch {torch.__version__} (1 thread), pandas "
        f"{pd.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {repeats} calls per 1-row path, "
        f"{max(5, repeats // 100)} per 10k-row path; first predict_record call "
        f"{first_call:.2f} s\n# {agreement}\n"
    )
    shown = table.astype(object).where(table.notna(), None)  # tabulate's missingval is for None
    print(shown.to_markdown(index=False, floatfmt=".3f", missingval="—"))
    print("\n# one row, before (torch path) and after (predict_record)\n")
    print(before_after(table).to_markdown(index=False, floatfmt=".3f"))
    return table


def record_agreement(model, batch: pd.DataFrame, n: int = 200) -> str:
    """How far ``predict_record`` is from ``predict`` on ``n`` one-row frames: the largest
    difference of a regression value (absolute, and relative to ``max(|value|, 1)``) and
    the number of differing labels."""
    worst, worst_abs, labels = 0.0, 0.0, 0
    for i in range(min(n, len(batch))):
        fast = model.predict_record(batch.iloc[i].to_dict())
        expected = model.predict(batch.iloc[[i]]).iloc[0]
        for name, value in fast.items():
            if isinstance(value, float):
                want = float(expected[name])
                worst_abs = max(worst_abs, abs(value - want))
                worst = max(worst, abs(value - want) / max(abs(want), 1.0))
            else:
                labels += value != expected[name]
    return (f"predict_record vs predict on {min(n, len(batch))} rows: largest difference "
            f"{worst_abs:.1e} (relative {worst:.1e}), {labels} differing label(s)")


def before_after(table: pd.DataFrame) -> pd.DataFrame:
    """Median wall and CPU time of each record path beside its torch path, and the ratio."""
    rows = table.set_index("path")
    out = []
    for fast, torch_path in (("predict_record (fast path)", TORCH_RECORD),
                             ("predict_proba_record (fast path)", TORCH_PROBA_RECORD)):
        before, after = rows.loc[torch_path], rows.loc[fast]
        out.append({
            "call": fast.split(" ")[0],
            "before: torch (ms)": before[COLUMNS[0]], "after (ms)": after[COLUMNS[0]],
            "before CPU (ms)": before[COLUMNS[2]], "after CPU (ms)": after[COLUMNS[2]],
            "CPU speed-up": before[COLUMNS[2]] / after[COLUMNS[2]],
        })
    return pd.DataFrame(out)


if __name__ == "__main__":
    main()
