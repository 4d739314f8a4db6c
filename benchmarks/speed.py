"""Speed benchmark: tabmtl's training epoch against a hand-written torch loop.

Both sides train the same network (a deep copy of the estimator's module), the same
criterion and optimizer, on the same prebuilt tensors with the same batch size and
thread count. The reference is what a careful user would write by hand: one
permutation per epoch, slice batches, forward, masked multi-task loss, backward, step.
Epochs alternate between the two (warm-up excluded) and the table reports the median
ratio, because the machine is shared and noisy.

    python -m benchmarks.speed            # 100k rows, 7 alternating repeats
    python -m benchmarks.speed --quick    # 20k rows, 3 repeats
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import numpy as np
import pandas as pd
import torch

from tabmtl import MultiTaskEstimator
from tabmtl.net import TensorDataset


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
        loss = criterion(module(xb), yb)
        loss.backward()
        optimizer.step()


def epoch_ratio(n_rows: int, repeats: int, batch_size: int) -> dict:
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

    # warm-up both paths once
    net.fit_loop(dataset, epochs=1)
    hand_written_epoch(module, criterion, optimizer, Xt, yt, batch_size, gen)
    ours, ref = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        net.fit_loop(dataset, epochs=1)
        t1 = time.perf_counter()
        hand_written_epoch(module, criterion, optimizer, Xt, yt, batch_size, gen)
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        ref.append(t2 - t1)
    ratios = [a / b for a, b in zip(ours, ref)]
    return {
        "rows": n_rows,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "tabmtl epoch (s)": statistics.median(ours),
        "hand loop epoch (s)": statistics.median(ref),
        "median ratio": statistics.median(ratios),
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = args.rows or (20_000 if args.quick else 100_000)
    repeats = args.repeats or (3 if args.quick else 7)
    table = pd.DataFrame([epoch_ratio(rows, repeats, args.batch_size)]).round(3)
    omp = os.environ.get("OMP_NUM_THREADS")
    print(f"# epoch time vs hand-written loop (OMP_NUM_THREADS={omp})")
    print(table.to_markdown(index=False))
    return table


if __name__ == "__main__":
    main()
