"""Speed benchmark: tabmtl's training epoch against hand-written loops, as ratios.

1. Default model (MMoE over piecewise-linear embeddings of the 32 numeric
   features, dropout 0.1) at hidden (256, 256), 2 regression targets, 100k x 32, batch
   256, against a hand-written loop of one plain MLP of the same widths
   (``nn.Sequential`` Linear-ReLU-Dropout blocks, one 2-output layer, MSE, AdamW): the
   cost of the default network, embeddings included. Also timed: a hand-written loop
   over the same module as tabmtl's (tabmtl's loop overhead alone) and plain skorch
   ``NeuralNet`` on that module with its default Dataset + DataLoader.
2. Architectures against hard sharing: 8 regression targets, 50k rows, hidden (128, 64),
   dropout 0.1, no numeric embedding (the bodies alone); one epoch of each
   architecture's tabmtl fit loop.
3. Predict latency for 1 row and 10k rows, and of the one-row ``predict_record``.
4. Training throughput (rows/s) and peak resident memory as rows grow; each size runs
   in a fresh process so its peak RSS is its own.

Tables 1-3 are measured once per thread count of ``--threads`` (default one and two
torch threads, a ``threads`` column tells them apart); table 4 with the largest.
All epochs of one table run in one process and alternate (warm-up excluded); ratios are
medians of per-repeat ratios. The machine is shared and noisy: read the ratios, not the
absolute seconds.

    python -m benchmarks.speed --threads 1,2          # 100k rows for 1, 10k -> 1M for 4
    python -m benchmarks.speed --quick                # small sizes, a couple of minutes
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import os
import resource
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from skorch import NeuralNet
from torch import nn

from tabmtl import MultiTaskEstimator, MultiTaskRegressor
from tabmtl._data.features import as_frame
from tabmtl._training.iterators import TensorDataset

ARCHITECTURE_NAMES = ("hard", "soft", "cross_stitch", "mmoe", "ple")


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


def regression_arrays(n: int, n_features: int, n_targets: int, seed: int = 0):
    """Numeric features and ``n_targets`` related regression targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    z = X[:, 0] + 0.5 * X[:, 1] - X[:, 2] * X[:, 3]
    y = np.stack(
        [z * (1 + 0.1 * j) + np.sin(X[:, 4 + j % 8]) + rng.normal(0, 0.3, n)
         for j in range(n_targets)],
        axis=1,
    )
    return X, y.astype(np.float32)


def encoded(model, X: np.ndarray, y: np.ndarray) -> TensorDataset:
    """The tensors a fitted array estimator trains on (its preprocessor's and target spec's)."""
    y_frame = pd.DataFrame(y, columns=[f"y{j}" for j in range(y.shape[1])])
    return TensorDataset(model.preprocessor_.transform(as_frame(X)),
                         model.target_spec_.transform(y_frame))


def plain_mlp(n_inputs: int, sizes, n_outputs: int, dropout: float) -> nn.Sequential:
    """The reference network: one MLP of the given widths, one linear output layer."""
    layers: list[nn.Module] = []
    width = n_inputs
    for size in sizes:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, n_outputs))


def hand_written_epoch(module, loss_fn, optimizer, X, y, batch_size, generator) -> None:
    """The reference loop: what one would write without any framework."""
    module.train()
    perm = torch.randperm(len(X), generator=generator)
    X, y = X[perm], y[perm]
    for start in range(0, len(X), batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(module(xb), yb)
        loss.backward()
        optimizer.step()


def alternate(runners: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each runner, ``repeats`` times, in rotation after one warm-up each."""
    times: dict[str, list[float]] = {k: [] for k in runners}
    for fn in runners.values():
        fn()
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def ratio_rows(measure: str, times: dict[str, list[float]], reference: str) -> list[dict]:
    ref = times[reference]
    return [
        {"measure": measure, "model": name, "median seconds": statistics.median(t),
         "ratio (median)": statistics.median(a / b for a, b in zip(t, ref)),
         "reference": reference}
        for name, t in times.items()
    ]


def epoch_ratios(n_rows: int, repeats: int, batch_size: int) -> list[dict]:
    """Table 1: the default model against a plain MLP and against its own module."""
    sizes, n_features = (256, 256), 32
    X, y = regression_arrays(n_rows, n_features, 2)
    model = MultiTaskRegressor(  # the default model (early stopping off: training epochs)
        hidden_layer_sizes=sizes, max_epochs=1, batch_size=batch_size, random_state=0,
        early_stopping=False,
    ).fit(X, y)
    net = model.net_
    dataset = encoded(model, X, y)
    Xt, yt = dataset.X, dataset.y

    mlp = plain_mlp(n_features, sizes, 2, float(model.dropout))
    mlp_optimizer = torch.optim.AdamW(mlp.parameters(), lr=model.lr)
    module = copy.deepcopy(net.module_)
    criterion = copy.deepcopy(net.criterion_)
    optimizer = torch.optim.AdamW([*module.parameters(), *criterion.parameters()], lr=model.lr)
    gen = torch.Generator().manual_seed(0)

    def same_module_loss(out, yb):
        # the architecture's regulariser (soft sharing's tower penalty) is part of the loss
        return criterion(out, yb) + module.penalty()

    # what a skorch user writes: NeuralNet on numpy arrays, default Dataset + DataLoader
    plain = NeuralNet(
        copy.deepcopy(net.module_), criterion=copy.deepcopy(net.criterion_),
        optimizer=torch.optim.AdamW, lr=model.lr, batch_size=batch_size, max_epochs=1,
        train_split=None, iterator_train__shuffle=True, verbose=0,
    ).initialize()
    runners = {
        "plain MLP, hand loop": lambda: hand_written_epoch(
            mlp, nn.functional.mse_loss, mlp_optimizer, Xt, yt, batch_size, gen),
        "tabmtl": lambda: net.fit_loop(dataset, epochs=1),
        "same module, hand loop": lambda: hand_written_epoch(
            module, same_module_loss, optimizer, Xt, yt, batch_size, gen),
        "same module, plain skorch": lambda: plain.partial_fit(Xt.numpy(), yt.numpy()),
    }
    times = alternate(runners, repeats)
    measure = f"epoch, default model, hidden {sizes}, 2 targets, {n_rows:,} x {n_features}"
    rows = ratio_rows(measure, times, "plain MLP, hand loop")
    own = ratio_rows(measure, {k: times[k] for k in ("tabmtl", "same module, hand loop")},
                     "same module, hand loop")
    return [*rows, {**own[0], "model": "tabmtl (loop overhead)"}]


def architecture_ratios(n_rows: int, repeats: int, batch_size: int) -> list[dict]:
    """Table 2: one epoch of each architecture over hard sharing's, 8 regression targets."""
    X, y = regression_arrays(n_rows, 32, 8, seed=1)
    nets, datasets = {}, {}
    for name in ARCHITECTURE_NAMES:
        model = MultiTaskRegressor(  # the bodies alone: no numeric embedding, no validation
            architecture=name, hidden_layer_sizes=(128, 64), dropout=0.1, max_epochs=1,
            batch_size=batch_size, random_state=0, numeric_embedding=None, early_stopping=False,
        ).fit(X, y)
        nets[name] = model.net_
        datasets[name] = encoded(model, X, y)
    runners = {name: (lambda n=name: nets[n].fit_loop(datasets[n], epochs=1))
               for name in ARCHITECTURE_NAMES}
    times = alternate(runners, repeats)
    measure = f"epoch, 8 targets, {n_rows:,} rows, hidden (128, 64), dropout 0.1"
    return ratio_rows(measure, times, "hard")


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
                     "median seconds": statistics.median(times)})
    return rows


def _throughput_child(n_rows: int, batch_size: int, threads: int, queue) -> None:
    torch.set_num_threads(threads)
    MultiTaskEstimator(max_epochs=1, random_state=0).fit(*synthetic_table(1_000))  # warm-up
    X, Y = synthetic_table(n_rows)
    t0 = time.perf_counter()
    # no validation split: every row trains, so rows/s is rows over the epoch's time
    model = MultiTaskEstimator(
        max_epochs=1, batch_size=batch_size, early_stopping=False, random_state=0
    ).fit(X, Y)
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
        rows.append({"rows": f"{n:,}", "fit, 1 epoch (s)": seconds, "of which the epoch (s)": epoch,
                     "training rows/s": n / epoch, "peak RSS (MiB)": peak_mib})
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", default="1,2",
                        help="torch thread counts, comma-separated (tables 1-3 per count)")
    parser.add_argument("--only-epoch", action="store_true",
                        help="just the epoch and architecture tables")
    parser.add_argument("--only-throughput", action="store_true",
                        help="just the training throughput table")
    parser.add_argument("--sizes", type=int, nargs="*", default=None,
                        help="rows of the throughput table (default 10k, 100k, 1M)")
    args = parser.parse_args(argv)
    thread_counts = [int(t) for t in str(args.threads).split(",")]
    rows = args.rows or (20_000 if args.quick else 100_000)
    repeats = args.repeats or (3 if args.quick else 7)
    omp = os.environ.get("OMP_NUM_THREADS")
    print(f"# speed, torch threads={thread_counts}, OMP_NUM_THREADS={omp}, "
          f"load {os.getloadavg()[0]:.2f}\n")
    table = None
    if not args.only_throughput:
        records = []
        for threads in thread_counts:
            torch.set_num_threads(threads)
            part = epoch_ratios(rows, repeats, args.batch_size)
            part += architecture_ratios(rows // 2, repeats, args.batch_size)
            if not args.only_epoch:
                part += predict_latency(50 if args.quick else 200)
            records += [{"threads": threads, **r} for r in part]
        table = pd.DataFrame(records).round(4)
        print(table.to_markdown(index=False))
    if not args.only_epoch:
        threads = max(thread_counts)
        torch.set_num_threads(threads)
        sizes = args.sizes or ([5_000, 20_000] if args.quick else [10_000, 100_000, 1_000_000])
        scaling = pd.DataFrame(throughput(sizes, args.batch_size, threads)).round(1)
        print(f"\n# training throughput and peak memory (fresh process per size, "
              f"{threads} threads)\n")
        print(scaling.to_markdown(index=False))
        table = scaling if table is None else table
    return table


if __name__ == "__main__":
    main()
