"""Serving latency: one row and 10k rows through every predict path, as a markdown table.

A realistic model (the default soft-sharing architecture, 128-64 towers, on a sample of
``flights``: two regression targets and a binary one; 17 numeric features, 9 of them with
missing values, and 3 categorical ones, one with 105 categories) is timed through

* ``predict`` / ``predict_proba``: DataFrame in, DataFrame out;
* ``predict_record`` / ``predict_proba_record``: the fast path, a dict in and out;
* ``transform_record`` + onnxruntime: the same record through the exported ONNX model;
* onnxruntime and the raw torch module on the preprocessed matrix (the network alone);
* ``preprocessor_.transform`` / ``transform_record`` alone (where the time goes).

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

N_BATCH = 10_000
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
    from tabmtl.io.export import export_onnx

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
    if hasattr(model, "predict_record"):  # absent before the fast path existed
        paths["predict_record (fast path)"] = (lambda: model.predict_record(record), None)
        paths["predict_proba_record (fast path)"] = (
            lambda: model.predict_proba_record(record), None
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
    table = measure(model, one, record, batch, session, repeats)
    print(
        f"# predict latency, flights, {rows:,} training rows, {epochs} epoch(s), "
        f"architecture {model.architecture!r} {tuple(model.hidden_layer_sizes)}, "
        f"targets {list(model.target_spec_.target_names_)}\n"
        f"# tabmtl {tabmtl.__version__}, torch {torch.__version__} (1 thread), pandas "
        f"{pd.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {repeats} calls per 1-row path, "
        f"{max(5, repeats // 100)} per 10k-row path\n"
    )
    shown = table.astype(object).where(table.notna(), None)  # tabulate's missingval is for None
    print(shown.to_markdown(index=False, floatfmt=".3f", missingval="—"))
    return table


if __name__ == "__main__":
    main()
