"""The CPU recipe, noise units and snapshots: what the configuration implies and what a variant keeps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from tiny_trainer import TinyTestTrainer

from gdr_toolkit.model.checkpoint import load_checkpoint, snapshot_path
from gdr_toolkit.planning.plans import load_plans
from gdr_toolkit.training.recipe import CPU_RECIPE
from gdr_toolkit.training.trainer import GDRTrainer


class OwnLearningRate(GDRTrainer):
    initial_learning_rate = 5e-4


class BelowOwnLearningRate(OwnLearningRate):
    """Inherits the variant's own setting: still not the recipe's."""


def _plans(dataset, target_device="cpu"):
    plans = load_plans(dataset / "gdrPlans.json")
    configuration = dataclasses.replace(plans.configuration("3d_cpu"), target_device=target_device)
    return dataclasses.replace(plans, configurations={"3d_cpu": configuration})


def test_a_cpu_configuration_trains_with_the_cpu_recipe(phantom_dataset, tmp_path):
    trainer = GDRTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    assert CPU_RECIPE and all(getattr(trainer, name) == value for name, value in CPU_RECIPE.items())
    assert GDRTrainer.initial_learning_rate == 1e-4  # the class keeps the paper's value


def test_a_gpu_configuration_keeps_the_papers_settings(phantom_dataset, tmp_path):
    trainer = GDRTrainer(_plans(phantom_dataset, "gpu"), "3d_cpu", 0, phantom_dataset, tmp_path)
    assert trainer.initial_learning_rate == 1e-4 and trainer.oversample_fraction == 0.33
    assert trainer.border_voxels == 8 and not trainer.noise_units


@pytest.mark.parametrize("variant", [OwnLearningRate, BelowOwnLearningRate])
def test_a_variants_own_setting_wins_over_the_recipe(phantom_dataset, tmp_path, variant):
    trainer = variant(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    assert trainer.initial_learning_rate == 5e-4
    others = {name: value for name, value in CPU_RECIPE.items() if name != "initial_learning_rate"}
    assert all(getattr(trainer, name) == value for name, value in others.items())


def test_noise_units_scale_inputs_and_output_by_the_median_training_sigma(phantom_dataset, tmp_path):
    trainer = TinyTestTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    trainer.noise_units = True
    trainer.initialize()
    sigmas = [trainer.train_dataset.properties(case)["noise_sigma_ld"] for case in trainer.train_case_ids]
    unit = float(np.median(sigmas))
    config = trainer.network.config
    assert config.input_scales == pytest.approx((1 / unit, 1.0, 1 / unit))  # z_ld, x_ld, s_ld
    assert config.output_scale == pytest.approx(unit)


def test_snapshots_are_kept_at_the_listed_iterations(phantom_dataset, tmp_path):
    trainer = TinyTestTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    trainer.num_epochs, trainer.iterations_per_epoch, trainer.snapshot_iterations = 2, 2, (2,)
    trainer.run_training()
    assert snapshot_path(tmp_path, 2).is_file() and not snapshot_path(tmp_path, 4).is_file()
    snapshot, final = (
        load_checkpoint(snapshot_path(tmp_path, 2)),
        load_checkpoint(tmp_path / "checkpoint_final.pth"),
    )
    assert snapshot["iteration"] == 2 and final["iteration"] == 4
    assert not torch.equal(snapshot["network_state"]["stem.weight"], final["network_state"]["stem.weight"])


def test_channels_last_training_gives_the_same_losses(phantom_dataset, tmp_path):
    losses = {}
    for channels_last in (False, True):
        trainer = TinyTestTrainer(
            _plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path / str(channels_last)
        )
        trainer.channels_last = channels_last
        trainer.initialize()
        from gdr_toolkit.training.data import PatchLoader

        with PatchLoader(trainer.train_dataset, trainer.loader_options(0)) as loader:
            losses[channels_last] = [trainer.train_step(next(loader)) for _ in range(3)]
        if channels_last:
            assert trainer.network.stem.weight.is_contiguous(memory_format=torch.channels_last_3d)
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)


def test_a_noise_units_model_loads_for_inference_without_training_data(phantom_dataset, tmp_path):
    from gdr_toolkit.file_io import write_json_atomic
    from gdr_toolkit.inference.model_loader import load_trained_model

    trainer = TinyTestTrainer(
        _plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path / "model" / "fold_0"
    )
    trainer.noise_units, trainer.num_epochs, trainer.iterations_per_epoch = True, 1, 1
    trainer.run_training()
    write_json_atomic(trainer.plans.to_json_dict(), tmp_path / "model" / "plans.json")
    network = load_trained_model(tmp_path / "model", [0]).folds[0].network
    assert network.config.output_scale == pytest.approx(trainer.noise_unit)
    settings = load_checkpoint(tmp_path / "model" / "fold_0" / "checkpoint_final.pth")["trainer_settings"]
    assert settings["noise_unit"] == trainer.noise_unit
