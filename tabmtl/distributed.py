"""Data-parallel fits and predictions across ``torchrun`` processes.

``torchrun`` starts one process per GPU (or CPU slot) on each node; in each,
:func:`fit_distributed` trains one replica of the network on its share of the rows
(gradients averaged every step, so every replica stays identical), and
:func:`predict_distributed` splits a prediction over the processes and gathers it on
rank 0. For parquet data too large for memory, :func:`tabmtl.io.fit_parquet` runs
under ``torchrun`` the same way.

Examples
--------
``train.py``, run as ``torchrun --nproc_per_node 2 train.py``::

    import pandas as pd
    from tabmtl import MultiTaskEstimator
    from tabmtl.distributed import fit_distributed, predict_distributed

    trips = pd.read_parquet("trips.parquet")
    X, Y = trips[["km", "zone"]], trips[["eta", "late"]]
    model = fit_distributed(MultiTaskEstimator(random_state=0), X, Y)
    pred = predict_distributed(model, X)    # a DataFrame on rank 0, None elsewhere
"""

from tabmtl._training.distributed.fit import fit_distributed, predict_distributed

__all__ = ["fit_distributed", "predict_distributed"]
