"""Shorter schedules for quick experiments and smoke tests."""

from __future__ import annotations

from gdr_toolkit.training.trainer import GDRTrainer


class GDRTrainer_5epochs(GDRTrainer):
    """5 epochs of 250 iterations (the cosine schedule still ends at 1e-6)."""

    recipe_changes = {"num_epochs": 5}


class GDRTrainer_1epoch_10iters(GDRTrainer):
    """One epoch of 10 iterations, one validation patch per case: checks a set-up end to end."""

    recipe_changes = {
        "num_epochs": 1,
        "iterations_per_epoch": 10,
        "validation_patches_per_case": 1,
        "num_dataloader_workers": 0,
    }


class GDRTrainer_5epochs_50iters(GDRTrainer):
    """5 epochs of 50 iterations: a few minutes for the CPU configuration on 2 cores (demo scale)."""

    recipe_changes = {"num_epochs": 5, "iterations_per_epoch": 50, "validation_patches_per_case": 2}


class GDRTrainer_CPUDemo(GDRTrainer):
    """The demo's budget on 2 CPU cores: 6 epochs of 50 iterations, 2 validation patches per case; the rest
    is the configuration's recipe (the CPU recipe for ``3d_cpu``, ``training.recipe.CPU_RECIPE``)."""

    recipe_changes = {"num_epochs": 6, "iterations_per_epoch": 50, "validation_patches_per_case": 2}


class GDRTrainer_Reference(GDRTrainer):
    """``GDRTrainer`` unchanged, in a model folder of its own: a second model of the same recipe (the
    reproduction study's "ours" at the ablations' shorter budget)."""


class GDRTrainer_NoiseUnits(GDRTrainer):
    """The paper's settings with the network in units of sigma_LD (``noise_units``): the CPU recipe's
    first lever (documentation/convergence.md), to try on a GPU configuration."""

    recipe_changes = {"noise_units": True}
