"""An external trainer with its own network class (copied into a ``gdr_trainer_paths`` folder by tests).

The network registers itself when this file is imported, so a model trained with this trainer can be
loaded for prediction (documentation/training.md, "External trainers").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from gdr_toolkit.network.architectures import register_architecture
from gdr_toolkit.training.trainer import GDRTrainer


@dataclass(frozen=True)
class ExternalNetConfig:
    input_channels: int
    condition_features: int
    hidden_features: int = 4

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json_dict(cls, record: dict[str, Any]) -> ExternalNetConfig:
        return cls(**record)


class ExternalNet(nn.Module):
    """conv3x3 + Linear(condition) broadcast, ReLU, conv1x1: (B, C, D, H, W), (B, K) -> (B, 1, D, H, W)."""

    def __init__(self, config: ExternalNetConfig) -> None:
        super().__init__()
        self.config = config
        self.image_conv = nn.Conv3d(config.input_channels, config.hidden_features, 3, padding=1)
        self.condition_linear = nn.Linear(config.condition_features, config.hidden_features)
        self.output_conv = nn.Conv3d(config.hidden_features, 1, 1)

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        shift = self.condition_linear(condition)[:, :, None, None, None]
        return self.output_conv(torch.relu(self.image_conv(image) + shift))


register_architecture("ExternalNet", ExternalNet, ExternalNetConfig.from_json_dict)


class ExternalNetTrainer(GDRTrainer):
    """One epoch of 2 iterations of :class:`ExternalNet` on 16^3 patches."""

    recipe_changes = {
        "num_epochs": 1,
        "iterations_per_epoch": 2,
        "validation_patches_per_case": 2,
        "num_dataloader_workers": 0,
        "border_voxels": 4,
        "initial_learning_rate": 3e-3,
    }

    def build_network(self) -> nn.Module:
        planned = self.network_config()
        return ExternalNet(ExternalNetConfig(planned.input_channels, planned.condition_features))
