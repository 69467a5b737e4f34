"""The training recipe: precedence, immutability, checkpoints (both formats), variants, noise units."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from tiny_trainer import TinyTestTrainer

from gdr_toolkit.model.checkpoint import load_checkpoint, save_checkpoint, snapshot_path
from gdr_toolkit.planning.plans import load_plans
from gdr_toolkit.training.data.options import AugmentationOptions
from gdr_toolkit.training.fold_training import TrainingJob
from gdr_toolkit.training.recipe import (
    CPU_RECIPE,
    PAPER_RECIPE,
    RECIPE_FIELDS,
    TrainingRecipe,
    recipe_differences,
)
from gdr_toolkit.training.registry import BUILTIN_TRAINERS
from gdr_toolkit.training.trainer import GDRTrainer

CPU_CHANGES = recipe_differences(CPU_RECIPE, PAPER_RECIPE)


class OwnLearningRate(GDRTrainer):
    recipe_changes = {"initial_learning_rate": 5e-4}


class BelowOwnLearningRate(OwnLearningRate):
    """Inherits the variant's own setting: still not the recipe's."""


def _plans(dataset, target_device="cpu"):
    plans = load_plans(dataset / "gdrPlans.json")
    configuration = dataclasses.replace(plans.configuration("3d_cpu"), target_device=target_device)
    return dataclasses.replace(plans, configurations={"3d_cpu": configuration})


def test_a_cpu_configuration_trains_with_the_cpu_recipe(phantom_dataset, tmp_path):
    trainer = GDRTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    assert trainer.recipe == CPU_RECIPE
    assert set(CPU_CHANGES) == {
        "noise_units", "border_voxels", "augmentation", "oversample_fraction", "initial_learning_rate"
    }  # fmt: skip


def test_a_gpu_configuration_keeps_the_papers_settings(phantom_dataset, tmp_path):
    trainer = GDRTrainer(_plans(phantom_dataset, "gpu"), "3d_cpu", 0, phantom_dataset, tmp_path)
    assert trainer.recipe == PAPER_RECIPE
    assert (PAPER_RECIPE.initial_learning_rate, PAPER_RECIPE.oversample_fraction) == (1e-4, 0.33)
    assert PAPER_RECIPE.border_voxels == 8 and not PAPER_RECIPE.noise_units


@pytest.mark.parametrize("variant", [OwnLearningRate, BelowOwnLearningRate])
def test_a_variants_own_setting_wins_over_the_recipe(phantom_dataset, tmp_path, variant):
    trainer = variant(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    assert recipe_differences(trainer.recipe, CPU_RECIPE) == {"initial_learning_rate": 5e-4}


def test_precedence_is_paper_then_cpu_then_variant_then_overrides(phantom_dataset, tmp_path):
    trainer = TinyTestTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    job = TrainingJob("42", 0, num_epochs=3, initial_learning_rate=2e-3)
    recipe = trainer.recipe.replace(**job.recipe_overrides())  # what train_fold does
    assert recipe.noise_units and recipe.oversample_fraction == 0.5  # CPU recipe over the paper's
    assert recipe.border_voxels == 4 and recipe.iterations_per_epoch == 4  # the variant's over the CPU's
    assert recipe.num_epochs == 3 and recipe.initial_learning_rate == 2e-3  # overrides over the variant's


def test_the_recipe_is_frozen_and_settings_are_not_trainer_attributes(phantom_dataset, tmp_path):
    with pytest.raises(dataclasses.FrozenInstanceError):
        PAPER_RECIPE.num_epochs = 3  # type: ignore[misc]
    trainer = GDRTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    with pytest.raises(ValueError, match=r"trainer.recipe.replace\(num_epochs=...\)"):
        trainer.num_epochs = 3
    with pytest.raises(ValueError, match="recipe_changes"):
        type("OldStyle", (GDRTrainer,), {"num_epochs": 5})


@pytest.mark.parametrize(
    "changes, message",
    [({"num_epoch": 5}, "unknown training recipe setting"), ({"oversample_fraction": 1.5}, r"in \[0, 1\]")],
)
def test_bad_recipe_changes_fail_where_the_variant_is_defined(changes, message):
    with pytest.raises(ValueError, match=f"Broken.recipe_changes.*{message}"):
        type("Broken", (GDRTrainer,), {"recipe_changes": changes})


def test_unknown_override_names_fail_clearly():
    with pytest.raises(ValueError, match=r"unknown training recipe setting\(s\) \['epochs'\]"):
        CPU_RECIPE.replace(epochs=3)


@pytest.mark.parametrize("name", sorted(set(BUILTIN_TRAINERS) - {"GDRTrainer"}))
def test_every_builtin_variant_changes_exactly_the_fields_it_declares(name):
    variant = BUILTIN_TRAINERS[name]
    parent = variant.__mro__[1]
    declared = vars(variant).get("recipe_changes", {})
    differences = recipe_differences(variant.recipe_for(PAPER_RECIPE), parent.recipe_for(PAPER_RECIPE))
    assert differences == {key: getattr(variant.recipe_for(PAPER_RECIPE), key) for key in declared}


def test_the_recipe_round_trips_through_json_with_no_clipping():
    recipe = CPU_RECIPE.replace(gradient_clip_norm=math.inf, snapshot_iterations=[2, 4], noise_unit=0.05)
    record = recipe.to_json_dict()
    assert record["augmentation"]["permute_axes"] and record["snapshot_iterations"] == (2, 4)
    assert TrainingRecipe.from_json_dict(record) == recipe


@pytest.fixture(scope="module")
def trained(phantom_dataset, tmp_path_factory):
    """A finished 1-epoch run of a changed recipe: (trainer, fold folder)."""
    folder = tmp_path_factory.mktemp("recipe_fold")
    trainer = TinyTestTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, folder)
    trainer.recipe = trainer.recipe.replace(num_epochs=1, iterations_per_epoch=1, huber_delta=0.07, seed=3)
    trainer.run_training()
    return trainer, folder


def test_the_recipe_round_trips_through_a_checkpoint(trained, phantom_dataset, tmp_path):
    trainer, folder = trained
    resumed = TinyTestTrainer(_plans(phantom_dataset, "gpu"), "3d_cpu", 0, phantom_dataset, tmp_path)
    assert resumed.recipe != trainer.recipe
    resumed.load_checkpoint(folder / "checkpoint_final.pth")
    assert resumed.recipe == trainer.recipe and resumed.recipe.noise_unit is not None


# ``trainer_settings`` as checkpoints wrote it before the recipe: a fixed list of names, lever-only ones too
OLD_SETTINGS = {
    "num_epochs": 1, "iterations_per_epoch": 1, "validation_patches_per_case": 2, "initial_learning_rate": 3e-3,
    "final_learning_rate": 1e-6, "gradient_clip_norm": None, "oversample_fraction": 0.5, "seed": 3,
    "lambda1": 0.01, "lambda2": 1.0, "huber_delta": 0.07, "border_voxels": 4, "warmup_iterations": 0,
    "learning_rate_schedule": "cosine", "optimizer_name": "adam", "weight_decay": 0.0, "loss_reduction": "mean",
    "noise_units": True, "noise_unit": 0.04, "validation_border_voxels": None, "channels_last": False,
}  # fmt: skip  # no "enhancement_sampling": a checkpoint written before that setting existed


def test_an_old_checkpoint_restores_its_settings(phantom_dataset, tmp_path, caplog):
    trainer = TinyTestTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    trainer.recipe = trainer.recipe.replace(enhancement_sampling="structure", num_dataloader_workers=1)
    trainer.restore_settings({**OLD_SETTINGS, "optimizer_name": "adamw"}, "old.pth")
    recipe = trainer.recipe
    assert {name: getattr(recipe, name) for name in OLD_SETTINGS if name in RECIPE_FIELDS} == {
        **{name: value for name, value in OLD_SETTINGS.items() if name in RECIPE_FIELDS},
        "gradient_clip_norm": math.inf,  # None meant no clipping
    }
    assert recipe.enhancement_sampling == "voxel"  # predates the setting: the class's own value
    assert recipe.num_dataloader_workers == 1  # never stored before the recipe: the trainer's value
    assert recipe.augmentation == AugmentationOptions.right_angle()  # ditto (the CPU recipe's)
    assert "lever-only setting optimizer_name = 'adamw' is ignored" in caplog.text


def test_an_old_checkpoint_resumes_and_loads_for_inference(trained, phantom_dataset, tmp_path):
    from gdr_toolkit.inference.model_loader import load_trained_model

    trainer, folder = trained
    checkpoint = load_checkpoint(folder / "checkpoint_final.pth")
    old_settings = {**OLD_SETTINGS, "noise_unit": trainer.recipe.noise_unit}
    save_checkpoint(
        {**checkpoint, "trainer_settings": old_settings}, tmp_path / "model" / "fold_0" / "old.pth"
    )
    resumed = TinyTestTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path / "resumed")
    resumed.load_checkpoint(tmp_path / "model" / "fold_0" / "old.pth")
    assert resumed.recipe.huber_delta == 0.07 and resumed.current_iteration == 1
    assert torch.equal(resumed.network.stem.weight, trainer.network.stem.weight)
    network = load_trained_model(tmp_path / "model", [0], "old.pth").folds[0].network
    assert network.config.output_scale == pytest.approx(trainer.recipe.noise_unit)


def test_noise_units_scale_inputs_and_output_by_the_median_training_sigma(phantom_dataset, tmp_path):
    trainer = TinyTestTrainer(_plans(phantom_dataset, "gpu"), "3d_cpu", 0, phantom_dataset, tmp_path)
    trainer.recipe = trainer.recipe.replace(noise_units=True)
    trainer.initialize()
    sigmas = [trainer.train_dataset.properties(case)["noise_sigma_ld"] for case in trainer.train_case_ids]
    unit = float(np.median(sigmas))
    config = trainer.network.config
    assert config.input_scales == pytest.approx((1 / unit, 1.0, 1 / unit))  # z_ld, x_ld, s_ld
    assert config.output_scale == pytest.approx(unit) and trainer.recipe.noise_unit == pytest.approx(unit)


def test_snapshots_are_kept_at_the_listed_iterations(phantom_dataset, tmp_path):
    trainer = TinyTestTrainer(_plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path)
    trainer.recipe = trainer.recipe.replace(num_epochs=2, iterations_per_epoch=2, snapshot_iterations=(2,))
    trainer.run_training()
    assert snapshot_path(tmp_path, 2).is_file() and not snapshot_path(tmp_path, 4).is_file()
    snapshot, final = (
        load_checkpoint(snapshot_path(tmp_path, 2)),
        load_checkpoint(tmp_path / "checkpoint_final.pth"),
    )
    assert snapshot["iteration"] == 2 and final["iteration"] == 4
    assert not torch.equal(snapshot["network_state"]["stem.weight"], final["network_state"]["stem.weight"])


def test_channels_last_training_gives_the_same_losses(phantom_dataset, tmp_path):
    from gdr_toolkit.training.data import PatchLoader

    losses = {}
    for channels_last in (False, True):
        trainer = TinyTestTrainer(
            _plans(phantom_dataset), "3d_cpu", 0, phantom_dataset, tmp_path / str(channels_last)
        )
        trainer.recipe = trainer.recipe.replace(channels_last=channels_last)
        trainer.initialize()
        with PatchLoader(trainer.train_dataset, trainer.loader_options(0)) as loader:
            losses[channels_last] = [trainer.train_step(next(loader)) for _ in range(3)]
        if channels_last:
            assert trainer.network.stem.weight.is_contiguous(memory_format=torch.channels_last_3d)
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)


def test_no_clipping_leaves_the_gradient_unchanged():
    parameter = torch.nn.Parameter(torch.zeros(3))
    parameter.grad = torch.tensor([300.0, -400.0, 1e-3])
    torch.nn.utils.clip_grad_norm_([parameter], math.inf)
    assert torch.equal(parameter.grad, torch.tensor([300.0, -400.0, 1e-3]))
    torch.nn.utils.clip_grad_norm_([parameter], PAPER_RECIPE.gradient_clip_norm)
    assert float(parameter.grad.norm()) == pytest.approx(1.0, rel=1e-4)
