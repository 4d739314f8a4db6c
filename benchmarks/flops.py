"""Arithmetic-bound as a number: achieved training GFLOP/s per architecture beside plain matmuls.

For each architecture (hard, soft, cross-stitch, sluice, MMoE, PLE) at the estimator's
default widths and numeric embedding, 8 regression targets over 32 numeric features and
a fixed batch (``--batch``, default the estimator's ``batch_size``):

1. the FLOPs of one training step (forward, backward and the AdamW update; skorch's own
   ``train_step``, what the fit loop runs per batch) are counted with
   ``torch.utils.flop_counter.FlopCounterMode`` (it counts the matrix products: mm,
   addmm, bmm, ... -- element-wise work is not in the count);
2. the same step is timed (median of ``--repeats`` rounds of ``--steps`` steps), giving the
   achieved GFLOP/s;
3. every matrix product the step dispatched is recorded with its shapes and replayed as a
   bare chain of the same products (random inputs, allocated once) -- the same FLOPs as
   dense matmuls and nothing else -- and timed the same way, in the same process, its
   rounds alternating with the step's ("step / matmuls" is the median of the per-round
   ratios, so a load drift on a shared machine moves both sides of a pair alike).

Both are timed at one and at two torch threads. "step / matmuls" is the share of the
matmul chain's rate the step achieves: near 1 means the step is bound by its arithmetic
(only fewer or cheaper FLOPs make it faster); well below 1 means the time goes elsewhere
(element-wise ops, dispatch, the optimizer, memory traffic).

    python -m benchmarks.flops                     # 6 architectures, 1 and 2 threads
    python -m benchmarks.flops --no-embedding       # the bodies alone
    python -m benchmarks.flops --steps 5 --repeats 2 --threads 1 --only hard mmoe
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from tabmtl import MultiTaskRegressor
from tabmtl._data.features import as_frame
from tabmtl._training.iterators import TensorDataset

ARCHITECTURES = ("hard", "soft", "cross_stitch", "sluice", "mmoe", "ple")
N_FEATURES = 32
N_TARGETS = 8

aten = torch.ops.aten
#: the matrix products FlopCounterMode counts, replayed by the chain
PRODUCTS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}


def regression_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``N_FEATURES`` numeric features and ``N_TARGETS`` related regression targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    z = X[:, 0] + 0.5 * X[:, 1] - X[:, 2] * X[:, 3]
    y = np.stack([z * (1 + 0.1 * j) + np.sin(X[:, 4 + j]) + rng.normal(0, 0.3, n)
                  for j in range(N_TARGETS)], axis=1)
    return X, y.astype(np.float32)


def training_step(architecture: str, batch_size: int, embedding: bool = True):
    """``(step, n_parameters)``: one skorch training step of a fitted default net, on one batch.

    ``embedding=False`` drops the numeric embedding: the architecture's body alone.
    """
    X, y = regression_arrays(max(4 * batch_size, 2_000))
    extra = {} if embedding else {"numeric_embedding": None}
    model = MultiTaskRegressor(architecture=architecture, max_epochs=1, batch_size=batch_size,
                               early_stopping=False, random_state=0, **extra).fit(X, y)
    net = model.net_
    Xt = model.preprocessor_.transform(as_frame(X))
    Yt = model.target_spec_.transform(pd.DataFrame(y, columns=[f"y{j}" for j in range(N_TARGETS)]))
    batch = next(iter(net.get_iterator(TensorDataset(Xt, Yt), training=True)))
    net.module_.train()
    n_params = sum(p.numel() for p in net.module_.parameters())
    return (lambda: net.train_step(batch)), n_params


class _RecordProducts(TorchDispatchMode):
    """Records every matrix product dispatched inside it: (op, argument shapes)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in PRODUCTS:
            self.calls.append((func, [tuple(a.shape) for a in args[:3]
                                      if isinstance(a, torch.Tensor)]))
        return func(*args, **(kwargs or {}))


def matmul_chain(calls: list[tuple]):
    """A function running the recorded products on random tensors of the same shapes."""
    gen = torch.Generator().manual_seed(0)
    prepared = [(func, [torch.randn(s, generator=gen) for s in shapes]) for func, shapes in calls]

    def run() -> None:
        for func, tensors in prepared:
            func(*tensors)

    return run


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def paired_seconds(step, chain, steps: int, repeats: int) -> tuple[float, float, float]:
    """Seconds per call of ``step`` and ``chain``, rounds alternating (after a warm-up).

    Returns the median over ``repeats`` rounds of each one's mean seconds over ``steps``
    calls, and the median of the per-round ratios chain / step (a load drift on the
    shared machine moves both of a pair alike).
    """
    for _ in range(max(2, steps // 5)):
        step()
        chain()
    step_rounds, chain_rounds = [], []
    for _ in range(repeats):
        for fn, rounds in ((step, step_rounds), (chain, chain_rounds)):
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            rounds.append((time.perf_counter() - t0) / steps)
    ratio = statistics.median(c / s for s, c in zip(step_rounds, chain_rounds))
    return statistics.median(step_rounds), statistics.median(chain_rounds), ratio


def measure(architecture: str, batch_size: int, threads: list[int], steps: int,
            repeats: int, embedding: bool = True) -> dict:
    torch.set_num_threads(1)
    step, n_params = training_step(architecture, batch_size, embedding)
    step()  # first-call costs out of the count and the recording
    flops = count_flops(step)
    recorder = _RecordProducts()
    with recorder:
        step()
    chain = matmul_chain(recorder.calls)
    chain_flops = count_flops(chain)
    if chain_flops != flops:
        raise RuntimeError(f"{architecture}: the chain has {chain_flops} FLOPs, the step {flops}")
    row = {"architecture": architecture, "parameters": n_params,
           "matrix products / step": len(recorder.calls), "MFLOP / step": flops / 1e6}
    for t in threads:
        torch.set_num_threads(t)
        step_s, chain_s, ratio = paired_seconds(step, chain, steps, repeats)
        row[f"step ms ({t}t)"] = step_s * 1e3
        row[f"step GFLOP/s ({t}t)"] = flops / step_s / 1e9
        row[f"matmuls GFLOP/s ({t}t)"] = flops / chain_s / 1e9
        row[f"step / matmuls ({t}t)"] = ratio
    torch.set_num_threads(1)
    return row


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES))
    parser.add_argument("--batch", type=int, default=None,
                        help="rows per step (default: the estimator's batch_size)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-embedding", action="store_true",
                        help="without the numeric embedding: the architectures' bodies alone")
    args = parser.parse_args(argv)
    default = MultiTaskRegressor().batch_size
    batch = args.batch or (default if isinstance(default, int) else 256)
    rows = []
    for name in args.only:
        rows.append(measure(name, batch, args.threads, args.steps, args.repeats,
                            embedding=not args.no_embedding))
        print(f"# {name} done", flush=True)
    table = pd.DataFrame(rows)
    print(f"\n# one training step (forward, backward, AdamW), {N_TARGETS} regression targets, "
          f"{N_FEATURES} numeric features, batch {batch}, "
          f"{'no numeric embedding' if args.no_embedding else 'estimator defaults'}; "
          f"torch {torch.__version__}\n")
    print(table.to_markdown(index=False, floatfmt=",.2f", intfmt=","))
    return table


if __name__ == "__main__":
    main()
