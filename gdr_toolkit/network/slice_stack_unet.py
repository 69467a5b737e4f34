"""The 2.5D direct-regression baseline (after Pasumarthi et al. / Gong et al.) as a 3D patch network.

``SliceStackUNet`` takes a 3D patch ``(B, C, D, H, W)`` like ``ConditionalUNet``, so the 3D patch loader,
the trainer and the sliding-window predictor use it unchanged. The slicing axis is the first spatial
axis D (the array's z axis, i.e. the image's third/slowest storage axis). For every slice d it gathers
the ``slices`` neighbouring slices d - s//2 .. d + s//2 of every input channel (slices beyond the patch
replicate the edge slice), stacks them as ``C * slices`` 2D channels (channel-major: all slices of
channel 0, then of channel 1, ...), and runs a 2D U-Net on the B*D stacks as one batch; its output is
the centre slice d. Each output slice therefore depends on at most ``slices`` input slices.

With ``average_orientations`` (multi-planar, as Pasumarthi et al.'s reformatted inputs) the same 2D
weights serve the three orientations: in training mode each forward pass slices along one spatial axis
drawn at random (torch's global generator, so seeded runs and resumed runs replay it); in eval mode the
predictions of slicing along D, H and W are averaged. Without it the network always slices along D.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from gdr_toolkit.network.unet_2d import UNet2d

SPATIAL_AXES = (2, 3, 4)


@dataclass(frozen=True)
class SliceStackConfig:
    """Hyper-parameters of :class:`SliceStackUNet`.

    Attributes:
        input_channels: C, 3D input channels (x_PC, x_LD: 2); the 2D U-Net gets ``C * slices``.
        output_channels: predicted channels (x_SD: 1).
        widths: 2D feature channels per scale, finest first (the plan's widths).
        convolutions_per_scale: conv3x3 + SiLU pairs per 2D block.
        slices: neighbouring slices per stack, odd (7: the centre slice and three on either side).
        average_orientations: train on a random slicing axis per forward pass and average the
            predictions of slicing along D, H and W at inference (module docstring).
    """

    input_channels: int = 2
    output_channels: int = 1
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convolutions_per_scale: int = 2
    slices: int = 7
    average_orientations: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        for name in ("input_channels", "output_channels", "convolutions_per_scale", "slices"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SliceStackConfig.{name} must be an integer >= 1, got {value!r}")
        if self.slices % 2 == 0:
            raise ValueError(f"SliceStackConfig.slices must be odd (a centre slice), got {self.slices}")
        if not self.widths or any(not isinstance(width, int) or width < 1 for width in self.widths):
            raise ValueError(f"SliceStackConfig.widths must be integers >= 1, got {self.widths!r}")
        if not isinstance(self.average_orientations, bool):
            raise ValueError(
                f"SliceStackConfig.average_orientations must be a bool, got {self.average_orientations!r}"
            )

    def to_json_dict(self) -> dict[str, Any]:
        """All fields as JSON-compatible values (``widths`` as a list)."""
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_json_dict(cls, record: dict[str, Any]) -> SliceStackConfig:
        """Inverse of ``to_json_dict``; missing fields take their defaults, unknown fields are an error."""
        unknown = set(record) - {item.name for item in fields(cls)}
        if unknown:
            raise ValueError(f"slice-stack network configuration has unknown fields {sorted(unknown)}")
        return cls(**record)


class SliceStackUNet(nn.Module):
    """A 2D U-Net on stacks of neighbouring slices, applied to every slice of a 3D patch (module docstring).

    Args:
        config: the network's hyper-parameters.
    """

    def __init__(self, config: SliceStackConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet2d(
            config.input_channels * config.slices,
            config.output_channels,
            config.widths,
            config.convolutions_per_scale,
        )

    def forward(self, image: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Predict every slice of a patch.

        Args:
            image: float tensor ``(B, C, D, H, W)``, any D, H, W >= 1.
            condition: ignored (no conditioning); accepted so the network fits the trainer and the
                sliding window, which pass ``(B, K)``.

        Returns:
            Float tensor ``(B, C_out, D, H, W)`` (identity output).
        """
        if image.ndim != 5 or image.shape[1] != self.config.input_channels:
            raise ValueError(
                f"image must have shape (B, {self.config.input_channels}, D, H, W), got {tuple(image.shape)}"
            )
        if not self.config.average_orientations:
            return self._slice_along_depth(image)
        if self.training:
            return self._slice_along(image, SPATIAL_AXES[int(torch.randint(len(SPATIAL_AXES), ()))])
        return torch.stack([self._slice_along(image, axis) for axis in SPATIAL_AXES]).mean(dim=0)

    def _slice_along(self, image: torch.Tensor, axis: int) -> torch.Tensor:
        """Like :meth:`_slice_along_depth` with tensor axis ``axis`` (2, 3 or 4) as the slicing axis."""
        return self._slice_along_depth(image.movedim(axis, 2)).movedim(2, axis)

    def _slice_along_depth(self, image: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) -> (B, C_out, D, H, W), each depth slice from its ``slices`` neighbours."""
        batch, channels, depth, height, width = image.shape
        half = self.config.slices // 2
        padded = functional.pad(image, (0, 0, 0, 0, half, half), mode="replicate")
        windows = padded.unfold(2, self.config.slices, 1)  # (B, C, D, H, W, slices)
        stacks = windows.permute(0, 2, 1, 5, 3, 4).reshape(
            batch * depth, channels * self.config.slices, height, width
        )
        output = self.unet(stacks)
        return output.reshape(batch, depth, -1, height, width).transpose(1, 2)
