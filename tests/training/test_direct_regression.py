"""Direct-regression baselines on the tiny phantom: inputs, target, learning, self-describing checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gdr_toolkit.model.checkpoint import checkpoint_path, load_checkpoint
from gdr_toolkit.network.slice_stack_unet import SliceStackUNet
from gdr_toolkit.network.unet import ConditionalUNet
from gdr_toolkit.planning.plans import load_plans
from gdr_toolkit.training.registry import BUILTIN_TRAINERS
from gdr_toolkit.training.ssim_loss import L1SSIMLoss
from gdr_toolkit.training.variants.direct_regression import GDRTrainer_DirectSD2p5D, GDRTrainer_DirectSD3D

TINY_SETTINGS = {
    "num_epochs": 1, "iterations_per_epoch": 3, "validation_patches_per_case": 1,
    "num_dataloader_workers": 0, "border_voxels": 4, "initial_learning_rate": 3e-3,
}  # fmt: skip


def make(trainer_class, dataset, output):
    trainer = trainer_class(load_plans(dataset / "gdrPlans.json"), "3d_cpu", 0, dataset, output)
    trainer.recipe = trainer.recipe.replace(**TINY_SETTINGS)
    return trainer


@pytest.mark.parametrize("trainer_class", [GDRTrainer_DirectSD3D, GDRTrainer_DirectSD2p5D])
def test_baselines_are_registered(trainer_class):
    assert BUILTIN_TRAINERS[trainer_class.__name__] is trainer_class


@pytest.mark.parametrize("trainer_class", [GDRTrainer_DirectSD3D, GDRTrainer_DirectSD2p5D])
def test_baseline_reads_pc_and_ld_and_regresses_sd_with_uniform_weights(
    trainer_class, phantom_dataset, tmp_path
):
    trainer = make(trainer_class, phantom_dataset, tmp_path)
    trainer.initialize()
    data = np.arange(8, dtype=np.float32)[None, :, None, None, None] * np.ones((2, 8, 16, 16, 16), np.float32)
    inputs, condition, target, weights = trainer.split_batch(
        {"data": data, "case_ids": ["case_001", "case_002"]}
    )
    assert inputs[:, :, 0, 0, 0].tolist() == [[6.0, 1.0]] * 2  # x_pc (channel 6), x_ld (channel 1)
    assert float(target[0, 0, 0, 0, 0]) == 7.0  # x_sd
    assert condition.shape == (2, 0)
    assert torch.equal(weights, torch.ones_like(weights))


def test_direct_sd_3d_is_an_unconditioned_identity_output_unet(phantom_dataset, tmp_path):
    trainer = make(GDRTrainer_DirectSD3D, phantom_dataset, tmp_path)
    config = trainer.network_config()
    assert (config.input_channels, config.condition_features, config.output_activation) == (2, 0, "identity")
    assert isinstance(trainer.build_network(), ConditionalUNet)


def test_direct_sd_2p5d_builds_a_seven_slice_stack_network_with_l1_ssim(phantom_dataset, tmp_path):
    trainer = make(GDRTrainer_DirectSD2p5D, phantom_dataset, tmp_path)
    network = trainer.build_network()
    assert isinstance(network, SliceStackUNet)
    assert (network.config.slices, network.config.input_channels, network.config.widths) == (7, 2, (4, 8))
    assert isinstance(trainer.build_loss(), L1SSIMLoss)


@pytest.mark.parametrize(
    ("trainer_class", "architecture"),
    [(GDRTrainer_DirectSD3D, "ConditionalUNet"), (GDRTrainer_DirectSD2p5D, "SliceStackUNet")],
)
def test_short_baseline_training_is_finite_and_checkpoint_records_the_target(
    trainer_class, architecture, phantom_dataset, tmp_path
):
    trainer = make(trainer_class, phantom_dataset, tmp_path)
    trainer.initialize()
    before = trainer.validate()["validation_loss"]
    trainer.run_training()
    (record,) = trainer.log.records
    assert np.isfinite([before, record["train_loss"]]).all()
    assert record["validation_loss"] < before
    checkpoint = load_checkpoint(checkpoint_path(tmp_path, "final"))
    assert checkpoint["prediction_target"] == "standard_dose"
    assert checkpoint["input_channel_names"] == ["x_pc", "x_ld"]
    assert checkpoint["network_architecture"] == architecture
    assert checkpoint["condition_keys"] == []
