"""A plain 2D U-Net (the in-plane network of the 2.5D direct-regression baseline).

Layout for ``widths = (w0, ..., w_{n-1})``: per scale a block of ``convolutions_per_scale`` times
(conv3x3 + SiLU); 2x2 max pooling between scales; on the way up bilinear upsampling to the skip's size,
concatenation with the skip and a block back to the scale's width; a 1x1 convolution to the output
channels with identity output (no normalisation layers, no activation at the end). Upsampling to the
skip's size makes any input size work (odd sizes included).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


def _conv_block(in_channels: int, out_channels: int, convolutions: int) -> nn.Sequential:
    """``convolutions`` times conv3x3 (zero padding 1) + SiLU; the first maps in -> out channels."""
    layers: list[nn.Module] = []
    for index in range(convolutions):
        layers += [
            nn.Conv2d(in_channels if index == 0 else out_channels, out_channels, kernel_size=3, padding=1),
            nn.SiLU(),
        ]
    return nn.Sequential(*layers)


class UNet2d(nn.Module):
    """2D U-Net with concatenation skips and identity output (module docstring).

    Args:
        in_channels: C_in, input channels.
        out_channels: C_out, output channels.
        widths: feature channels per scale, finest first; ``len(widths)`` scales.
        convolutions_per_scale: conv3x3 + SiLU pairs per block (>= 1).
    """

    def __init__(
        self, in_channels: int, out_channels: int, widths: tuple[int, ...], convolutions_per_scale: int = 2
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1 or convolutions_per_scale < 1 or not widths:
            raise ValueError(
                f"UNet2d needs in/out channels >= 1, convolutions_per_scale >= 1 and widths, got "
                f"{in_channels}, {out_channels}, {convolutions_per_scale}, {widths!r}"
            )
        entering = (in_channels, *widths[:-1])
        self.encoder = nn.ModuleList(
            _conv_block(entering[scale], widths[scale], convolutions_per_scale)
            for scale in range(len(widths))
        )
        self.decoder = nn.ModuleList(
            _conv_block(widths[scale + 1] + widths[scale], widths[scale], convolutions_per_scale)
            for scale in range(len(widths) - 1)
        )
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Map ``(N, C_in, H, W)`` to ``(N, C_out, H, W)`` (any H, W >= 1)."""
        skips = []
        features = image
        for scale, block in enumerate(self.encoder):
            if scale > 0:
                features = functional.max_pool2d(features, kernel_size=2, ceil_mode=True)
            features = block(features)
            skips.append(features)
        for scale in reversed(range(len(self.decoder))):
            skip = skips[scale]
            features = functional.interpolate(
                features, size=skip.shape[-2:], mode="bilinear", align_corners=False
            )
            features = self.decoder[scale](torch.cat([features, skip], dim=1))
        return self.head(features)
