"""Ablations of the network architecture (documentation/method.md section 3)."""

from __future__ import annotations

import dataclasses

from gdr_toolkit.network.unet import NetworkConfig
from gdr_toolkit.training.trainer import GDRTrainer


class GDRTrainer_ConcatSkips(GDRTrainer):
    """Concatenation + 1x1x1 convolution instead of gated upsampling fusion."""

    def network_config(self) -> NetworkConfig:
        return dataclasses.replace(super().network_config(), fusion="concatenate")


class GDRTrainer_StridedDown(GDRTrainer):
    """Plain strided subsampling instead of the anti-aliased blur pool."""

    def network_config(self) -> NetworkConfig:
        return dataclasses.replace(super().network_config(), downsampling="strided")
