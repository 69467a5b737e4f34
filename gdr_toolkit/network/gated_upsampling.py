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
    ``method="gated"`` the fused features are (paper, gated upsampling block; method.md section 3)::

        f = sigmoid(W~1 [f_u, f_s]) * W1 f_u + sigmoid(W~2 [f_u, f_s]) * W2 f_s

    with 1x1x1 convolutions W1 (``upsampled_projection``), W2 (``skip_projection``), W~1
    (``upsampled_gate``) and W~2 (``skip_gate``), all with bias. With ``method="concatenate"`` the
    fused features are a 1x1x1 convolution of [f_u, f_s] (``fusion``).

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
        upsampled = F.interpolate(coarse, size=skip.shape[2:], mode="trilinear", align_corners=False)
        joint = torch.cat([upsampled, skip], dim=1)
        if self.method == "concatenate":
            return self.fusion(joint)
        upsampled_part = torch.sigmoid(self.upsampled_gate(joint)) * self.upsampled_projection(upsampled)
        skip_part = torch.sigmoid(self.skip_gate(joint)) * self.skip_projection(skip)
        return upsampled_part + skip_part
