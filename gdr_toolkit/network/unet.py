"""The conditional 3D U-Net of the paper and its configuration (documentation/method.md section 3).

Layout for ``widths = (w0, w1, w2, w3)`` (four scales); ``[CRB x B, w]`` is ``blocks_per_scale``
conditional residual blocks with w output channels, "fuse" the gated upsampling block, "head" SiLU,
conv3x3x3 to C_out channels and the output activation (ReLU)::

    image ──stem──> [CRB x B, w0] ─────────────────────────────────────> fuse ─> [CRB x B, w0] ─> head
      │blur pool          │blur pool                                      ^ upsample
      v                   v                                               │
    image/2 ───────> concat ─> [CRB x B, w1] ──────────────> fuse ─> [CRB x B, w1]
      │blur pool                   │blur pool                  ^ upsample
      v                            v                           │
    image/4 ────────────────> concat ─> [CRB x B, w2] ─> fuse ─> [CRB x B, w2]
      │blur pool                            │blur pool  ^ upsample
      v                                     v           │
    image/8 ─────────────────────────> concat ─> [CRB x B, w3]

Input injection: the network inputs are downscaled with the same (parameter-free) downsampling as the
features and concatenated to the downsampled features entering every coarser scale, so the first CRB of
scale s maps ``widths[s-1] + input_channels`` to ``widths[s]`` channels (its skip is a 1x1x1 conv).
Every CRB receives the condition embedding e.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, cast, get_args

import torch
from torch import nn

from gdr_toolkit.network.blur_pool import BlurPool3d, DownsamplingMethod
from gdr_toolkit.network.condition_embedding import ConditionEmbedding
from gdr_toolkit.network.conditional_residual_block import ConditionalResidualBlock
from gdr_toolkit.network.gated_upsampling import FusionMethod, GatedUpsampling
from gdr_toolkit.network.output_activation import LeakyGradientReLU
from gdr_toolkit.network.precision import float32_region

OutputActivation = Literal["relu", "identity"]


@dataclass(frozen=True)
class NetworkConfig:
    """Hyper-parameters of ``ConditionalUNet``; defaults are the paper's network.

    Attributes:
        input_channels: C_in, image channels (z_LD, x_LD, s_LD: 3).
        output_channels: C_out, predicted channels (the contrast signal: 1).
        widths: feature channels per scale, finest first; the number of scales is ``len(widths)``.
        blocks_per_scale: CRBs per scale before downsampling and again after upsampling.
        condition_features: K, length of the condition vector; 0 disables conditioning.
        embedding_features: E, length of the condition embedding.
        fusion: ``"gated"`` (paper) or ``"concatenate"`` (ablation) skip fusion.
        downsampling: ``"blur_pool"`` (paper) or ``"strided"`` (plain subsampling, ablation).
        output_activation: ``"relu"`` (non-negative contrast signal) or ``"identity"`` (baselines).
        relu_gradient_leak: gradient factor of the output ReLU below zero (its forward values are a plain
            ReLU's; ``LeakyGradientReLU`` explains why); 0 gives the plain ReLU gradient.
        input_scales: fixed factor per input channel applied before the first layer (None: all 1). The
            network then works in units where its inputs are of order one (e.g. z_LD / sigma_LD); the
            factors travel with the configuration, so inference applies them too.
        output_scale: fixed factor applied to the output (after the activation): the network's last layer
            works in units of ``output_scale`` (e.g. sigma_LD) instead of the target's raw units.
    """

    input_channels: int = 3
    output_channels: int = 1
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks_per_scale: int = 2
    condition_features: int = 4
    embedding_features: int = 128
    fusion: FusionMethod = "gated"
    downsampling: DownsamplingMethod = "blur_pool"
    output_activation: OutputActivation = "relu"
    relu_gradient_leak: float = 0.1
    input_scales: tuple[float, ...] | None = None
    output_scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        if self.input_scales is not None:
            object.__setattr__(self, "input_scales", tuple(float(factor) for factor in self.input_scales))
            if len(self.input_scales) != self.input_channels or not all(
                factor > 0 and factor < float("inf") for factor in self.input_scales
            ):
                raise ValueError(
                    f"NetworkConfig.input_scales must hold {self.input_channels} finite positive factors, got "
                    f"{self.input_scales!r}"
                )
        if not 0 < self.output_scale < float("inf"):
            raise ValueError(f"NetworkConfig.output_scale must be finite and > 0, got {self.output_scale!r}")
        minimum = {"input_channels": 1, "output_channels": 1, "blocks_per_scale": 1}
        minimum |= {"condition_features": 0, "embedding_features": 1}
        for name, lowest in minimum.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
                raise ValueError(f"NetworkConfig.{name} must be an integer >= {lowest}, got {value!r}")
        if not self.widths or any(not isinstance(width, int) or width < 1 for width in self.widths):
            raise ValueError(
                f"NetworkConfig.widths must be a non-empty tuple of integers >= 1, got {self.widths!r}"
            )
        options = {"fusion": FusionMethod, "downsampling": DownsamplingMethod}
        options["output_activation"] = OutputActivation
        for name, literal in options.items():
            if getattr(self, name) not in get_args(literal):
                raise ValueError(
                    f"NetworkConfig.{name} must be one of {get_args(literal)}, got {getattr(self, name)!r}"
                )

    @property
    def scales(self) -> int:
        """Number of resolution levels."""
        return len(self.widths)

    def to_json_dict(self) -> dict[str, Any]:
        """All fields as JSON-compatible values (``widths`` as a list)."""
        record = asdict(self)
        record["widths"] = list(self.widths)
        if self.input_scales is not None:
            record["input_scales"] = list(self.input_scales)
        return record

    @classmethod
    def from_json_dict(cls, record: dict[str, Any]) -> NetworkConfig:
        """Inverse of ``to_json_dict``; missing fields take their defaults, unknown fields are an error."""
        unknown = set(record) - {item.name for item in fields(cls)}
        if unknown:
            raise ValueError(f"network configuration has unknown fields {sorted(unknown)}")
        values = dict(record)
        for name in ("widths", "input_scales"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)


def minimum_divisor(config: NetworkConfig) -> int:
    """The number every spatial input size must be divisible by: ``2 ** (scales - 1)``."""
    return 2 ** (config.scales - 1)


class ConditionalUNet(nn.Module):
    """Conditional residual 3D U-Net with blur-pool downsampling and gated upsampling (module docstring).

    Args:
        config: the network's hyper-parameters.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        widths, blocks, embedding = config.widths, config.blocks_per_scale, config.embedding_features
        self.condition_embedding = ConditionEmbedding(config.condition_features, embedding)
        self.stem = nn.Conv3d(config.input_channels, widths[0], kernel_size=3, padding=1)
        entering = [widths[0]] + [width + config.input_channels for width in widths[:-1]]
        self.encoder = nn.ModuleList(
            _block_stack(entering[scale], widths[scale], blocks, embedding) for scale in range(config.scales)
        )
        self.feature_downsampling = nn.ModuleList(
            BlurPool3d(width, config.downsampling) for width in widths[:-1]
        )
        self.input_downsampling = BlurPool3d(config.input_channels, config.downsampling)
        self.fusion = nn.ModuleList(
            GatedUpsampling(widths[scale + 1], widths[scale], widths[scale], config.fusion)
            for scale in range(config.scales - 1)
        )
        self.decoder = nn.ModuleList(
            _block_stack(widths[scale], widths[scale], blocks, embedding)
            for scale in range(config.scales - 1)
        )
        self.head = nn.Sequential(
            nn.SiLU(), nn.Conv3d(widths[0], config.output_channels, kernel_size=3, padding=1)
        )
        self.output_activation = (
            LeakyGradientReLU(config.relu_gradient_leak)
            if config.output_activation == "relu"
            else nn.Identity()
        )
        scales = config.input_scales or (1.0,) * config.input_channels
        # not persistent: the factors live in the configuration (older checkpoints load unchanged)
        self.register_buffer(
            "input_scales", torch.tensor(scales, dtype=torch.float32).view(1, -1, 1, 1, 1), persistent=False
        )

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Predict the output (the contrast signal) from the images and the condition vector.

        Args:
            image: float tensor ``(B, C_in, D, H, W)``; D, H, W divisible by ``minimum_divisor(config)``.
            condition: float tensor ``(B, K)`` (``(B, 0)`` when ``condition_features == 0``).

        Returns:
            Float tensor ``(B, C_out, D, H, W)``, non-negative with ``output_activation="relu"``; the
            head runs in float32 also under autocast (``network.precision``), so the output is float32.
        """
        self._check_inputs(image, condition)
        if self.config.input_scales is not None:
            image = image * cast(torch.Tensor, self.input_scales).to(image.dtype)
        embedding = self.condition_embedding(condition)
        skips = self._encode(image, embedding)
        features = skips[-1]
        for scale in reversed(range(self.config.scales - 1)):
            features = self.fusion[scale](features, skips[scale])
            for block in cast(nn.ModuleList, self.decoder[scale]):
                features = block(features, embedding)
        with float32_region(features):
            output = self.output_activation(self.head(features.float()))
        return output * self.config.output_scale if self.config.output_scale != 1.0 else output

    def _encode(self, image: torch.Tensor, embedding: torch.Tensor) -> list[torch.Tensor]:
        """Encoder; returns the output of every scale, finest first."""
        skips: list[torch.Tensor] = []
        features, scaled_image = self.stem(image), image
        for scale in range(self.config.scales):
            if scale > 0:
                scaled_image = self.input_downsampling(scaled_image)
                downsampled = self.feature_downsampling[scale - 1](skips[-1])
                features = torch.cat([downsampled, scaled_image], dim=1)
            for block in cast(nn.ModuleList, self.encoder[scale]):
                features = block(features, embedding)
            skips.append(features)
        return skips

    def _check_inputs(self, image: torch.Tensor, condition: torch.Tensor) -> None:
        config, divisor = self.config, minimum_divisor(self.config)
        if image.ndim != 5 or image.shape[1] != config.input_channels:
            raise ValueError(
                f"image must have shape (B, {config.input_channels}, D, H, W), got {tuple(image.shape)}"
            )
        if any(size % divisor for size in image.shape[2:]):
            raise ValueError(
                f"image spatial size {tuple(image.shape[2:])} must be divisible by {divisor} "
                f"(2 ** (scales - 1) for {config.scales} scales); pad or crop the input"
            )
        if condition.shape[:1] != image.shape[:1]:
            raise ValueError(
                f"condition batch size {tuple(condition.shape)} differs from image {tuple(image.shape)}"
            )


def _block_stack(in_channels: int, out_channels: int, blocks: int, embedding_features: int) -> nn.ModuleList:
    """``blocks`` CRBs; the first maps ``in_channels`` to ``out_channels``, the rest keep it."""
    channels = [in_channels] + [out_channels] * blocks
    return nn.ModuleList(
        ConditionalResidualBlock(channels[index], channels[index + 1], embedding_features)
        for index in range(blocks)
    )
