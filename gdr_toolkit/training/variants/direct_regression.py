"""Direct-regression baselines (documentation/method.md section 6): networks predicting x_SD directly.

Same preprocessed data, patch loader, sliding-window predictor and evaluator as the paper's method; the
trainers only declare another input, target and loss. See documentation/training.md, "Direct-regression
baselines".
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from gdr_toolkit.network.slice_stack_unet import SliceStackConfig, SliceStackUNet
from gdr_toolkit.network.unet import NetworkConfig
from gdr_toolkit.training.loss import WeightedVoxelLoss
from gdr_toolkit.training.ssim_loss import L1SSIMLoss
from gdr_toolkit.training.trainer import GDRTrainer


class DirectRegressionTrainer(GDRTrainer):
    """Common base (not registered): inputs (x_PC, x_LD), target x_SD, no condition, uniform voxel weights."""

    recipe_changes = {"prediction_target": "standard_dose", "input_channel_names": ("x_pc", "x_ld")}

    @property
    def condition_keys(self) -> tuple[str, ...]:
        return ()

    def voxel_weights(self, brain_mask: torch.Tensor, enhancement: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(brain_mask)


class GDRTrainer_DirectSD3D(DirectRegressionTrainer):
    """3D U-Net (x_PC, x_LD) -> x_SD with a squared-error loss (after Ammari / Bone et al.)."""

    def network_config(self) -> NetworkConfig:
        return dataclasses.replace(super().network_config(), output_activation="identity")

    def build_loss(self) -> nn.Module:
        return WeightedVoxelLoss("squared", self.recipe.huber_delta, self.recipe.border_voxels)


class GDRTrainer_DirectSD2p5D(DirectRegressionTrainer):
    """2.5D U-Net: 7 neighbouring slices of x_PC and x_LD (14 channels) -> the centre x_SD slice, L1 + SSIM
    (after Pasumarthi et al. / Gong et al.). ``average_orientations``: average three slicing axes at inference."""

    context_slices: int = 7
    average_orientations: bool = False

    def build_network(self) -> nn.Module:
        config = SliceStackConfig(
            input_channels=len(self.recipe.input_channel_names),
            widths=self.network_config().widths,
            slices=self.context_slices,
            average_orientations=self.average_orientations,
        )
        return SliceStackUNet(config)

    def build_loss(self) -> nn.Module:
        return L1SSIMLoss(self.recipe.border_voxels)
