"""Data-parallel training on ``torch.distributed``, launched by ``torchrun``.

tabmtl does not run a cluster of its own: ``torchrun`` starts one process per GPU (or per
CPU slot) on each node, and :func:`fit_distributed` (in-memory ``X``/``Y``) or
:func:`tabmtl.io._streaming.fit_parquet` (parquet, out of core) trains one replica of the
network in each process:

- the process group comes from torchrun's environment (``RANK``, ``WORLD_SIZE``,
  ``MASTER_ADDR``...): gloo on CPU, NCCL on GPU (each process on ``cuda:LOCAL_RANK``,
  whichever CUDA device the estimator names: ``"cuda"``, ``"cuda:0"``...);
- every epoch the rows (or parquet row groups) are dealt out so that each process sees a
  disjoint share, and every process runs the *same number* of batches: a collective
  step that one process skips would hang the others. Training pads a short share with
  repeated rows, as ``torch.utils.data.DistributedSampler`` does. A stream's validation
  row groups are dealt out too, short shares padded with empty batches (which count for
  nothing); in memory every process scores the whole validation split, because the
  validation iterator also serves ``predict`` (which calibration calls inside fit);
- each task's loss is the mean over the labels of *every* process's share of the step
  (:func:`~tabmtl._training.distributed.loss_scale.global_task_losses`), so a task
  labelled on few rows weighs what it weighs in one process, wherever its labels fall;
- a loss that becomes NaN or infinite on one process stops every process at the same
  step, with the tasks and processes named (:class:`ReplicaSync`);
- after each backward pass :class:`ReplicaSync` averages the gradients over the processes
  in one all-reduce, exactly the update DDP makes, for the criterion's learnable
  parameters (uncertainty weighting's log-variances) as well as the module's, and
  averages the loss modules' running buffers (GradNorm's weights); parameters start from
  rank 0's. Every replica therefore holds identical parameters after every step. (The
  module is not wrapped in ``DistributedDataParallel`` itself: DDP only synchronises the
  module it wraps, and its autograd hooks expect a single backward per forward, which the
  gradient-combining weightings such as PCGrad or GradNorm do not make.);
- skorch's :class:`~skorch.history.DistributedHistory` collects every process's batch
  records, so the epoch losses, early stopping and the best-epoch choice are global and
  identical on all processes;
- after fit, every process holds the same fitted estimator (with an ordinary
  ``History``); :func:`predict_distributed` splits a prediction over the processes and
  gathers it once, on rank 0 (inside a process group already started: predicting never
  starts one).

``batch_size`` is per process: the effective batch is ``world_size * batch_size``.

The modules: :mod:`~tabmtl._training.distributed.context` (the process group, the rank),
:mod:`~tabmtl._training.distributed.replicas` (:class:`ReplicaSync`, digests, a net made
data-parallel), :mod:`~tabmtl._training.distributed.sharding` (each process's rows),
:mod:`~tabmtl._training.distributed.fingerprint` (the same data on every process) and
:mod:`~tabmtl._training.distributed.fit` (:func:`fit_distributed`,
:func:`predict_distributed`); every public name is re-exported here.

Examples
--------
``train.py``, run as ``torchrun --nproc_per_node 2 train.py``::

    import pandas as pd
    from tabmtl import MultiTaskEstimator
    from tabmtl._training.distributed import fit_distributed, predict_distributed

    trips = pd.read_parquet("trips.parquet")
    X, Y = trips[["km", "zone"]], trips[["eta", "late"]]
    model = fit_distributed(MultiTaskEstimator(random_state=0), X, Y)
    pred = predict_distributed(model, X)    # a DataFrame on rank 0, None elsewhere
"""

from tabmtl._training.distributed.context import (
    DistributedContext,
    current_context,
    distributed_history,
    init_distributed,
    is_active,
    local_device,
    process_rank,
)
from tabmtl._training.distributed.fingerprint import data_fingerprint
from tabmtl._training.distributed.fit import fit_distributed, predict_distributed
from tabmtl._training.distributed.replicas import (
    ReplicaSync,
    finish_data_parallel,
    main_process_callbacks,
    make_data_parallel,
    parameter_digest,
)
from tabmtl._training.distributed.sharding import DistributedSliceIterator

__all__ = [
    "DistributedContext",
    "DistributedSliceIterator",
    "ReplicaSync",
    "current_context",
    "data_fingerprint",
    "distributed_history",
    "finish_data_parallel",
    "fit_distributed",
    "init_distributed",
    "is_active",
    "local_device",
    "main_process_callbacks",
    "make_data_parallel",
    "parameter_digest",
    "predict_distributed",
    "process_rank",
]
