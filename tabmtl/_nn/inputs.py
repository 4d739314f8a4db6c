"""What the network does to its input before the body: robust numeric scaling, numeric
embeddings, and the parameter-efficient ensemble's member axis.

- :class:`RobustNumeric` applies RealMLP's robust scaling with smooth clipping
  (:mod:`tabmtl._data.robust_scale`) to the standard-scaled numeric block, from statistics
  fitted on the training rows and held as buffers: saved with the weights and part of an
  exported graph, so ``predict``, one-row serving and ONNX agree.
- :class:`MemberAdapter` turns one input row into ``k`` ensemble members (TabM-mini,
  Gorishniy et al., ICLR 2025): member ``i`` sees the input scaled elementwise by its own
  learned vector ``r_i`` (initialised with random signs) and shares every other weight, so
  k members cost one body run on a k-times larger batch and only ``k * d`` parameters.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tabmtl._data.robust_scale import RobustSmoothClipScaler, smooth_clip


class RobustNumeric(nn.Module):
    """``smooth_clip((x - center) / scale)`` per numeric column, fixed after fit.

    Examples
    --------
    >>> import numpy as np, torch
    >>> m = RobustNumeric.fit(np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]]))
    >>> m(torch.tensor([[3.0], [1000.0]])).squeeze(1).round(decimals=2).tolist()
    [0.0, 3.0]
    """

    def __init__(self, center: np.ndarray, scale: np.ndarray, clip: float | None = 3.0):
        super().__init__()
        self.register_buffer("center", torch.as_tensor(center, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.clip = clip

    @classmethod
    def fit(cls, X_numeric: np.ndarray, clip: float | None = 3.0) -> RobustNumeric:
        """Statistics from the encoded training block (see :class:`RobustSmoothClipScaler`)."""
        scaler = RobustSmoothClipScaler(clip=clip).fit(np.asarray(X_numeric, dtype=np.float64))
        return cls(scaler.center_, scaler.scale_, clip)

    def state(self) -> dict:
        """JSON-able statistics that rebuild this module (:meth:`from_state`)."""
        return {"center": self.center.tolist(), "scale": self.scale.tolist(), "clip": self.clip}

    @classmethod
    def from_state(cls, state: dict) -> RobustNumeric:
        return cls(np.asarray(state["center"]), np.asarray(state["scale"]), state["clip"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.center) / self.scale
        return z if self.clip is None else smooth_clip(z, self.clip)


class MemberAdapter(nn.Module):
    """(batch, d) -> (batch * k, d): member ``i`` of row ``b`` at ``b * k + i``, scaled by ``r_i``.

    Examples
    --------
    >>> import torch
    >>> adapter = MemberAdapter(3, 2)
    >>> adapter(torch.ones(5, 2)).shape
    torch.Size([15, 2])
    """

    def __init__(self, k: int, d: int):
        super().__init__()
        self.k = int(k)
        # random signs: the members start different, as TabM's "mini" variant does
        signs = torch.randint(0, 2, (self.k, d)).float() * 2.0 - 1.0
        self.r = nn.Parameter(signs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(1) * self.r).reshape(-1, x.shape[1])
