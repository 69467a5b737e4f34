"""Conditional residual block (CRB): a norm-free DDPM residual block on 3D features."""

from __future__ import annotations

import torch
from torch import nn


class ConditionalResidualBlock(nn.Module):
    """Residual block whose residual path receives a projection of the condition embedding as a bias.

    ``out = skip(x) + conv_out(SiLU(conv_in(SiLU(x)) + Linear(SiLU(e))))`` where the projected embedding
    is a per-channel bias broadcast over (D, H, W) (Ho et al.'s DDPM block without normalisation; paper
    supplement). ``conv_in``/``conv_out`` are 3x3x3 with padding 1; ``conv_out`` starts at zero, so the
    block starts as its skip path: the identity when the channel count is kept, a 1x1x1 convolution
    otherwise.

    Args:
        in_channels: channels of the input features.
        out_channels: channels of the output features.
        embedding_features: E, the length of the condition embedding.
    """

    def __init__(self, in_channels: int, out_channels: int, embedding_features: int) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.activation = nn.SiLU()
        self.conv_in = nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1)
        self.embedding_projection = nn.Linear(embedding_features, out_channels)
        self.conv_out = nn.Conv3d(out_channels, out_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)  # type: ignore[arg-type]  # Conv3d's default bias=True
        if in_channels == out_channels:
            self.skip: nn.Module = nn.Identity()
        else:
            self.skip = nn.Conv3d(in_channels, out_channels, kernel_size=1)

    def forward(self, features: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            features: float tensor ``(B, in_channels, D, H, W)``.
            embedding: condition embedding, float tensor ``(B, E)``.

        Returns:
            Float tensor ``(B, out_channels, D, H, W)``.
        """
        residual = self.conv_in(self.activation(features))
        bias = self.embedding_projection(self.activation(embedding))
        residual = residual + bias[:, :, None, None, None]
        residual = self.conv_out(self.activation(residual))
        return self.skip(features) + residual
