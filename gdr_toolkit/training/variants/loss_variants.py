"""Ablations of the loss (documentation/method.md section 4)."""

from __future__ import annotations

import torch
from torch import nn

from gdr_toolkit.training.loss import WeightedVoxelLoss
from gdr_toolkit.training.trainer import GDRTrainer


class GDRTrainer_L2(GDRTrainer):
    """Squared error instead of Huber (same voxel weights and border)."""

    def build_loss(self) -> nn.Module:
        return WeightedVoxelLoss("squared", self.recipe.huber_delta, self.recipe.border_voxels)


class GDRTrainer_UniformWeights(GDRTrainer):
    """Every voxel weighs 1 (no brain or enhancement emphasis)."""

    def voxel_weights(self, brain_mask: torch.Tensor, enhancement: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(brain_mask)
