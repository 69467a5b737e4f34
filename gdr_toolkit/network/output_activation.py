"""The output ReLU with a leaky gradient: the paper's non-negative output without dead units.

A plain ReLU output stops learning wherever its input is negative: with the contrast signal zero almost
everywhere, a few large steps early in training can push the head's pre-activation below zero on every
voxel, after which no gradient reaches the network again (observed with Adam at lr >= 3e-4 on the
phantom: the prediction became exactly zero within 1-3 epochs and stayed there).

``LeakyGradientReLU`` returns exactly ``relu(x)`` (forward values, hence predictions, are the paper's), but
passes ``leak`` times the incoming gradient where ``x < 0`` (a straight-through estimator). Where the
target is zero and the output already is, the loss gradient is zero, so the leak changes nothing there;
it only revives voxels that should enhance but whose pre-activation is negative.
"""

from __future__ import annotations

import torch
from torch import nn


class LeakyGradientReLU(nn.Module):
    """``relu(x)`` forward; gradient 1 for ``x > 0`` and ``leak`` for ``x < 0``.

    Args:
        leak: gradient factor below zero, in [0, 1); 0 is a plain ReLU.
    """

    def __init__(self, leak: float) -> None:
        super().__init__()
        if not 0.0 <= leak < 1.0:
            raise ValueError(f"leak must lie in [0, 1), got {leak!r}")
        self.leak = leak

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        rectified = torch.relu(features)
        if self.leak == 0.0 or not features.requires_grad:
            return rectified
        negative = torch.clamp(features, max=0.0)
        return rectified + self.leak * (negative - negative.detach())

    def extra_repr(self) -> str:
        return f"leak={self.leak}"
