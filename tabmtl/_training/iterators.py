"""Fast batching: datasets of two tensors and batches as slices of them.

skorch calls these through its ``dataset`` and ``iterator_train``/``iterator_valid``
parameters: batches are slices of prebuilt tensors, never per-row ``__getitem__`` +
collate.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, Subset


class TensorDataset(Dataset):
    """Features and encoded targets held as two tensors (``y`` may be None at predict)."""

    def __init__(self, X, y=None):
        self.X = torch.as_tensor(X, dtype=torch.float32)
        self.y = None if y is None else torch.as_tensor(y, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i):  # only for generic tools; training never indexes rows
        return self.X[i], (self.y[i] if self.y is not None else torch.zeros(()))


def _tensors(dataset) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The (X, y) tensors behind a TensorDataset or a skorch/torch Subset of one."""
    if isinstance(dataset, Subset):
        X, y = _tensors(dataset.dataset)
        idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        return X[idx], (None if y is None else y[idx])
    if isinstance(dataset, TensorDataset):
        return dataset.X, dataset.y
    raise TypeError(f"tabmtl's batch iterator needs a TensorDataset, got {type(dataset)}.")


class SliceIterator:
    """Mini-batches as slices of prebuilt tensors (a shuffle is one permutation per epoch).

    Used as skorch's ``iterator_train``/``iterator_valid``: skorch calls it with the
    dataset and the ``iterator_*__`` parameters, then loops over it once per epoch.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
    ):
        X, y = _tensors(dataset)
        self.X = X.to(device) if device is not None else X
        self.y = None if y is None else y.to(self.X.device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = None
        if shuffle:  # its own generator: the global one is never drawn from nor reseeded
            self.generator = torch.Generator()
            if seed is None:
                self.generator.seed()  # fresh entropy from the OS
            else:
                self.generator.manual_seed(int(seed))

    def __len__(self) -> int:
        return -(-len(self.X) // self.batch_size)

    def __iter__(self):
        X, y, bs = self.X, self.y, self.batch_size
        if self.shuffle:
            perm = torch.randperm(len(X), generator=self.generator).to(X.device)
            X = X[perm]
            y = None if y is None else y[perm]
        for start in range(0, len(X), bs):
            yb = y[start : start + bs] if y is not None else None
            yield X[start : start + bs], yb
