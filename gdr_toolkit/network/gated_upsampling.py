"""Fusion of trilinearly upsampled coarse features with the skip connection of the finer scale."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

FusionMethod = Literal["gated", "concatenate"]


class GatedUpsampling(nn.Module):
    """Trilinear upsampling followed by gated (paper) or concatenating (ablation) fusion.

    The coarse features are upsampled trilinearly to the skip's spatial size, giving f_u. With
    ``method="gated"`` the fused features are (gated upsampling block; documentation/method.md section 3)::

        f = sigmoid(W~1 [f_u, f_s]) * W1 f_u + sigmoid(W~2 [f_u, f_s]) * W2 f_s

    with 1x1x1 convolutions W1 (``upsampled_projection``), W2 (``skip_projection``), W~1
    (``upsampled_gate``) and W~2 (``skip_gate``), all with bias. With ``method="concatenate"`` the
    fused features are a 1x1x1 convolution of [f_u, f_s] (``fusion``).

    Computation (gated): every 1x1x1 convolution is linear per voxel and trilinear interpolation is a convex
    combination of voxels, so the two commute (biases included): W1, and the f_u columns of W~1 and W~2,
    are applied to the coarse features before upsampling (8x fewer voxels), the f_s columns and W2 at the
    skip's resolution. Same parameters and outputs (to float rounding) as the formula; a CPU training step
    of the CPU plan is about 10 % faster (documentation/convergence.md).

    Args:
        coarse_channels: channels of the coarse features (the scale below).
        skip_channels: channels of the skip features (this scale).
        out_channels: channels of the fused features.
        method: ``"gated"`` or ``"concatenate"``.
    """

    def __init__(
        self, coarse_channels: int, skip_channels: int, out_channels: int, method: FusionMethod = "gated"
    ) -> None:
        super().__init__()
        for name, value in (
            ("coarse_channels", coarse_channels),
            ("skip_channels", skip_channels),
            ("out_channels", out_channels),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        joint_channels = coarse_channels + skip_channels
        self.method = method
        if method == "gated":
            self.upsampled_projection = nn.Conv3d(coarse_channels, out_channels, kernel_size=1)
            self.skip_projection = nn.Conv3d(skip_channels, out_channels, kernel_size=1)
            self.upsampled_gate = nn.Conv3d(joint_channels, out_channels, kernel_size=1)
            self.skip_gate = nn.Conv3d(joint_channels, out_channels, kernel_size=1)
        elif method == "concatenate":
            self.fusion = nn.Conv3d(joint_channels, out_channels, kernel_size=1)
        else:
            raise ValueError(f"method must be 'gated' or 'concatenate', got {method!r}")

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsample ``coarse`` to ``skip``'s size and fuse the two.

        Args:
            coarse: float tensor ``(B, coarse_channels, d, h, w)``.
            skip: float tensor ``(B, skip_channels, D, H, W)``, usually D = 2 d.

        Returns:
            Float tensor ``(B, out_channels, D, H, W)``.
        """
        if self.method == "concatenate":
            upsampled = F.interpolate(coarse, size=skip.shape[2:], mode="trilinear", align_corners=False)
            return self.fusion(torch.cat([upsampled, skip], dim=1))
        split = coarse.shape[1]
        up_gate, skip_gate = self.upsampled_gate, self.skip_gate
        coarse_weight = torch.cat(
            [self.upsampled_projection.weight, up_gate.weight[:, :split], skip_gate.weight[:, :split]]
        )
        coarse_bias = torch.cat([_bias(self.upsampled_projection), _bias(up_gate), _bias(skip_gate)])
        skip_weight = torch.cat(
            [self.skip_projection.weight, up_gate.weight[:, split:], skip_gate.weight[:, split:]]
        )
        gate_biases = torch.zeros_like(coarse_bias[len(coarse_bias) // 3 :])  # W~ biases counted once
        skip_bias = torch.cat([_bias(self.skip_projection), gate_biases])
        from_coarse = F.interpolate(
            F.conv3d(coarse, coarse_weight, coarse_bias),
            size=skip.shape[2:],
            mode="trilinear",
            align_corners=False,
        )
        from_skip = F.conv3d(skip, skip_weight, skip_bias)
        projected_up, up_gate_up, skip_gate_up = from_coarse.chunk(3, dim=1)
        projected_skip, up_gate_skip, skip_gate_skip = from_skip.chunk(3, dim=1)
        upsampled_part = torch.sigmoid(up_gate_up + up_gate_skip) * projected_up
        return upsampled_part + torch.sigmoid(skip_gate_up + skip_gate_skip) * projected_skip


def _bias(convolution: nn.Conv3d) -> torch.Tensor:
    """The bias of a convolution built with one (every 1x1x1 convolution here)."""
    assert convolution.bias is not None
    return convolution.bias
