"""Speed benchmark: tabmtl's training loop against the alternatives, as ratios.

1. Epoch time against a hand-written torch loop: the same network (a deep copy of the
   estimator's module), criterion, optimizer, prebuilt tensors, batch size and threads.
   The reference is what a careful user writes by hand: one permutation per epoch, slice
   batches, forward, masked multi-task loss, backward, step. Plain skorch ``NeuralNet``
   on the same module with its default Dataset + DataLoader is timed in the same
   rotation. Epochs alternate (warm-up excluded); medians of per-repeat ratios.
2. T tasks in one network against T single-task networks (same settings, same epochs).
3. Predict latency for 1 row and 10k rows, and of the one-row ``predict_record``.
4. Training throughput (rows/s) and peak resident memory as rows grow; each size runs
   in a fresh process so its peak RSS is its own.

The machine is shared and noisy: read the ratios, not the absolute seconds.

    python -m benchmarks.speed            # 100k rows for 1-3, 10k -> 1M for 4
    python -m benchmarks.speed --quick    # small sizes, a couple of minutes
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import os
import resource
import statistics
import time

import numpy as np
import pandas as pd
import torch
from skorch import NeuralNet

from tabmtl import MultiTaskEstimator
from tabmtl.training.iterators import TensorDataset


def synthetic_table(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """20 numeric + 3 categorical features; a regression, a binary and a 4-class target."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"f{i}" for i in range(20)])
    for j, k in enumerate((5, 30, 200)):
        X[f"c{j}"] = pd.Categorical(rng.integers(0, k, n))
    z = X["f0"] + 0.5 * X["f1"] - X["f2"] * X["f3"]
    Y = pd.DataFrame(
        {
            "reg": z + rng.normal(0, 0.3, n),
            "bin": (z + rng.normal(0, 0.5, n)) > 0,
            "cls": pd.Categorical(np.digitize(z, [-1, 0, 1])),
        }
    )
    return X, Y


def hand_written_epoch(module, criterion, optimizer, X, y, batch_size, generator) -> None:
    """The reference loop: what one would write without any framework."""
    module.train()
    perm = torch.randperm(len(X), generator=generator)
    X, y = X[perm], y[perm]
    for start in range(0, len(X), batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        optimizer.zero_grad()
        # the architecture's regulariser (soft sharing's tower penalty) is part of the loss
        loss = criterion(module(xb), yb) + module.penalty()
        loss.backward()
        optimizer.step()


def epoch_ratios(n_rows: int, repeats: int, batch_size: int) -> list[dict]:
    X, Y = synthetic_table(n_rows)
    model = MultiTaskEstimator(max_epochs=1, batch_size=batch_size, random_state=0).fit(X, Y)
    net = model.net_
    X_enc = model.preprocessor_.transform(X)
    y_enc = model.target_spec_.transform(Y)
    dataset = TensorDataset(X_enc, y_enc)

    module = copy.deepcopy(net.module_)
    criterion = copy.deepcopy(net.criterion_)
    params = list(module.parameters()) + list(criterion.parameters())
    optimizer = torch.optim.AdamW(params, lr=model.lr)
    Xt, yt = dataset.X, dataset.y
    gen = torch.Generator().manual_seed(0)

    # what a skorch user writes: NeuralNet on numpy arrays, default Dataset + DataLoader
    # (our loss module already has skorch's criterion(y_pred, y_true) signature)
    plain = NeuralNet(
        copy.deepcopy(net.module_), criterion=copy.deepcopy(net.criterion_),
        optimizer=torch.optim.AdamW, lr=model.lr, batch_size=batch_size, max_epochs=1,
        train_split=None, iterator_train__shuffle=True, verbose=0,
    ).initialize()

    def run_ours():
        net.fit_loop(dataset, epochs=1)

    def run_hand():
        hand_written_epoch(module, criterion, optimizer, Xt, yt, batch_size, gen)

    def run_plain():
        plain.partial_fit(X_enc, y_enc)

    runners = {"tabmtl": run_ours, "hand-written loop": run_hand, "plain skorch": run_plain}
    times: dict[str, list[float]] = {k: [] for k in runners}
    for fn in runners.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ref = times["hand-written loop"]
    return [
        {
            "measure": f"epoch, {n_rows:,} rows, batch {batch_size}",
            "model": name,
            "median seconds": statistics.median(t),
            "ratio vs hand loop (median)": statistics.median(a / b for a, b in zip(t, ref)),
        }
        for name, t in times.items()
    ]


def joint_vs_single(n_rows: int, epochs: int) -> list[dict]:
    X, Y = synthetic_table(n_rows)
    kw = dict(max_epochs=epochs, random_state=0)
    t0 = time.perf_counter()
    MultiTaskEstimator(**kw).fit(X, Y)
    joint = time.perf_counter() - t0
    t0 = time.perf_counter()
    for col in Y.columns:
        MultiTaskEstimator(**kw).fit(X, Y[[col]])
    single = time.perf_counter() - t0
    label = f"fit {Y.shape[1]} targets, {n_rows:,} rows, {epochs} epochs"
    return [
        {"measure": label, "model": "one multi-task net", "median seconds": joint,
         "ratio vs hand loop (median)": float("nan")},
        {"measure": label, "model": f"{Y.shape[1]} single-task nets", "median seconds": single,
         "ratio vs hand loop (median)": float("nan")},
    ]


def predict_latency(repeats: int) -> list[dict]:
    """``predict`` on 1 and 10k rows, and ``predict_record``, the one-row fast path.

    ``benchmarks/latency.py`` times every serving path (ONNX included) in more detail.
    """
    X, Y = synthetic_table(20_000)
    model = MultiTaskEstimator(max_epochs=1, random_state=0).fit(X, Y)
    record = X.iloc[0].to_dict()
    cases = [
        ("predict 1 row", lambda: model.predict(X.iloc[:1]), repeats),
        ("predict_record 1 row", lambda: model.predict_record(record), repeats),
        ("predict 10,000 rows", lambda: model.predict(X.iloc[:10_000]), max(3, repeats // 20)),
    ]
    rows = []
    for label, call, n_calls in cases:
        call()  # warm-up
        times = []
        for _ in range(n_calls):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        rows.append({"measure": label, "model": "tabmtl",
                     "median seconds": statistics.median(times),
                     "ratio vs hand loop (median)": float("nan")})
    return rows


def _throughput_child(n_rows: int, batch_size: int, threads: int, queue) -> None:
    torch.set_num_threads(threads)
    MultiTaskEstimator(max_epochs=1, random_state=0).fit(*synthetic_table(1_000))  # warm-up
    X, Y = synthetic_table(n_rows)
    t0 = time.perf_counter()
    model = MultiTaskEstimator(max_epochs=1, batch_size=batch_size, random_state=0).fit(X, Y)
    fit_one = time.perf_counter() - t0
    epoch = model.history_[-1]["dur"]
    queue.put((fit_one, epoch, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def throughput(sizes: list[int], batch_size: int, threads: int) -> list[dict]:
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for n in sizes:
        queue = ctx.Queue()
        proc = ctx.Process(target=_throughput_child, args=(n, batch_size, threads, queue))
        proc.start()
        seconds, epoch, peak_mib = queue.get()
        proc.join()
        rows.append({"rows": n, "fit, 1 epoch (s)": seconds, "of which the epoch (s)": epoch,
                     "training rows/s": n / epoch, "peak RSS (MiB)": peak_mib})
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only-epoch", action="store_true", help="just the epoch ratio")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = args.rows or (20_000 if args.quick else 100_000)
    repeats = args.repeats or (3 if args.quick else 7)
    omp = os.environ.get("OMP_NUM_THREADS")
    print(f"# speed, torch threads={args.threads}, OMP_NUM_THREADS={omp}\n")
    records = epoch_ratios(rows, repeats, args.batch_size)
    if not args.only_epoch:
        records += joint_vs_single(rows // 5, 3)
        records += predict_latency(50 if args.quick else 200)
    table = pd.DataFrame(records).round(4)
    print(table.to_markdown(index=False))
    if not args.only_epoch:
        sizes = [5_000, 20_000] if args.quick else [10_000, 100_000, 1_000_000]
        scaling = pd.DataFrame(throughput(sizes, args.batch_size, args.threads)).round(1)
        print("\n# training throughput and peak memory (fresh process per size)\n")
        print(scaling.to_markdown(index=False))
    return table


if __name__ == "__main__":
    main()
