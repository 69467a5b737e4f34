"""Anti-aliased stride-2 downsampling with a fixed binomial kernel ("blur pool", Zhang 2019)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

BINOMIAL_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)
DownsamplingMethod = Literal["blur_pool", "strided"]


def binomial_kernel_3d() -> torch.Tensor:
    """The 5x5x5 binomial smoothing kernel: outer product of [1, 4, 6, 4, 1] / 16 with itself thrice.

    Returns:
        Float tensor ``(5, 5, 5)`` that sums to 1.
    """
    taps = torch.tensor(BINOMIAL_TAPS, dtype=torch.float32)
    taps = taps / taps.sum()
    return taps[:, None, None] * taps[None, :, None] * taps[None, None, :]


class BlurPool3d(nn.Module):
    """Depthwise fixed low-pass filter followed by stride-2 subsampling, per channel.

    ``method="blur_pool"`` (paper supplement): replicate-pad by 2, convolve each channel with the fixed
    5x5x5 binomial kernel, keep every second voxel. ``method="strided"`` (ablation): keep every second
    voxel without filtering (a 1x1x1 kernel of value 1). Both map a spatial size n to ceil(n / 2) and
    have no trainable parameters; the kernel is a non-persistent buffer (not in checkpoints).
    Replicate padding keeps a constant volume constant and works for sizes down to 1 voxel.

    Args:
        channels: number of feature channels (the filter is applied to each separately).
        method: ``"blur_pool"`` or ``"strided"``.
    """

    kernel: torch.Tensor  # registered buffer

    def __init__(self, channels: int, method: DownsamplingMethod = "blur_pool") -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if method == "blur_pool":
            kernel = binomial_kernel_3d()
        elif method == "strided":
            kernel = torch.ones(1, 1, 1)
        else:
            raise ValueError(f"method must be 'blur_pool' or 'strided', got {method!r}")
        self.channels = channels
        self.method = method
        self.padding = kernel.shape[0] // 2
        self.register_buffer("kernel", kernel.expand(channels, 1, *kernel.shape).clone(), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Downsample by 2 along D, H and W.

        Args:
            features: float tensor ``(B, channels, D, H, W)``.

        Returns:
            Float tensor ``(B, channels, ceil(D/2), ceil(H/2), ceil(W/2))``.
        """
        if self.padding > 0:
            features = F.pad(features, (self.padding,) * 6, mode="replicate")
        return F.conv3d(features, self.kernel.to(features.dtype), stride=2, groups=self.channels)
