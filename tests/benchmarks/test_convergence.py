"""benchmarks/convergence.py: lever trainers, the pinned base plan, and the lever table."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "convergence.py"


def _load(name: str, path: Path):
    specification = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(specification)
    sys.modules[name] = module  # dataclasses look their module up
    specification.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def convergence():
    return _load("convergence_benchmark", SCRIPT)


def test_every_lever_changes_something_against_an_existing_reference(convergence):
    for lever in convergence.LEVERS.values():
        if lever.reference:
            reference = convergence.LEVERS[lever.reference]
            assert lever.reference in convergence.LEVERS
            assert (lever.settings, lever.plan) != (reference.settings, reference.plan), lever.name


def _recipe(trainer_class, target_device="cpu"):
    from gdr_toolkit.training.recipe import configuration_recipe

    return trainer_class.recipe_for(configuration_recipe(target_device))


def test_lever_trainer_has_the_budget_and_the_levers_settings(convergence):
    trainer = convergence.trainer_class(convergence.LEVERS["nu_lr_3e-3_warmup"], 200)
    recipe = _recipe(trainer)
    assert recipe.num_epochs * recipe.iterations_per_epoch == 200
    assert trainer.lever_options.warmup_iterations == 20
    assert recipe.initial_learning_rate == 3e-3 and recipe.noise_units
    assert recipe.validation_border_voxels == 8
    augmented = _recipe(convergence.trainer_class(convergence.LEVERS["m2_right_angle_aug"], 100))
    assert augmented.augmentation.permute_axes and augmented.border_voxels == 2


def test_round_four_levers_leave_the_cpu_recipe_to_the_configuration(convergence):
    from gdr_toolkit.training.recipe import CPU_RECIPE, PAPER_RECIPE, recipe_differences

    trainer = convergence.trainer_class(convergence.LEVERS["r_structure_sampling"], 200)
    assert _recipe(trainer).enhancement_sampling == "structure"
    assert not set(trainer.recipe_changes) & set(recipe_differences(CPU_RECIPE, PAPER_RECIPE))
    assert convergence.LEVERS["r_width24"].plan["patch_size"] == (32, 32, 32)


def _lever_trainer(convergence, name):
    """The lever's trainer on the tiny plans with a small stand-in network (enough for optimiser and loss)."""
    training_fixtures = Path(__file__).resolve().parents[1] / "training" / "conftest.py"
    plans = _load("convergence_test_training_fixtures", training_fixtures).tiny_plans()
    trainer = convergence.trainer_class(convergence.LEVERS[name], 200)(plans, "3d_cpu", 0, Path(), Path())
    trainer.network = torch.nn.Linear(2, 2)
    return trainer


def test_lever_options_reach_the_optimiser_schedule_and_loss(convergence):
    optimizer, _ = _lever_trainer(convergence, "r_adamw").configure_optimizer()
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["weight_decay"] == 1e-2
    trainer = _lever_trainer(convergence, "r_poly")
    optimizer, scheduler = trainer.configure_optimizer()
    peak, final = trainer.recipe.initial_learning_rate, trainer.recipe.final_learning_rate
    for _ in range(100):  # half of the 200 iterations: (1 - 0.5) ** 0.9 of the way from final to peak
        optimizer.step()
        scheduler.step()
    expected = final + (peak - final) * 0.5**0.9
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected)
    assert _lever_trainer(convergence, "r_weights_reduction").build_loss().reduction == "weights"
    assert _lever_trainer(convergence, "r_no_clip").recipe.gradient_clip_norm == math.inf


def test_the_reference_lever_trains_as_the_core_trainer(convergence):
    from gdr_toolkit.training.trainer import GDRTrainer

    trainer = _lever_trainer(convergence, "recipe")
    optimizer, scheduler = trainer.configure_optimizer()
    core_optimizer, core_scheduler = GDRTrainer.configure_optimizer(trainer)
    assert type(optimizer) is type(core_optimizer) and type(scheduler) is type(core_scheduler)
    assert optimizer.param_groups[0]["weight_decay"] == core_optimizer.param_groups[0]["weight_decay"] == 0.0
    assert trainer.build_loss().reduction == GDRTrainer.build_loss(trainer).reduction == "mean"


def test_lever_runs_use_the_48_cubed_base_plan_unless_they_change_it(convergence):
    training_fixtures = Path(__file__).resolve().parents[1] / "training" / "conftest.py"
    plans = _load("convergence_test_training_fixtures", training_fixtures).tiny_plans()
    base = convergence.plans_with(plans, "3d_cpu", {}).configuration("3d_cpu")
    assert base.patch_size == (48, 48, 48) and base.batch_size == 2
    lever = convergence.LEVERS["m2_patch32_b4"]
    changed = convergence.plans_with(plans, "3d_cpu", lever.plan).configuration("3d_cpu")
    assert changed.patch_size == (32, 32, 32) and changed.batch_size == 4


def test_lever_table_reports_the_difference_to_the_reference(convergence, tmp_path):
    def write(name, recovery, psnr):
        final = {
            "validation_psnr_db": psnr,
            "validation_mae_enhancing": 0.2,
            "validation_contrast_recovery": recovery,
        }
        record = {"lever": {"reference": convergence.LEVERS[name].reference, "description": name}, "iterations": 200,
                  "seconds_per_iteration": 1.5, "final": final}  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "result.json").write_text(json.dumps(record))

    write("demo", 0.1, 26.0)
    write("noise_units", 0.35, 27.5)
    table = convergence.lever_table(tmp_path)
    assert "| noise_units |" in table and "+0.250 recovery, +1.50 dB" in table
