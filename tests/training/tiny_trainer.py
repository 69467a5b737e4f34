"""A trainer for tests: a few iterations of the tiny phantom network on 16^3 patches, in one process.

Also copied into a ``gdr_trainer_paths`` folder by the fixtures (an external trainer for the commands).
"""

from __future__ import annotations

from gdr_toolkit.training.trainer import GDRTrainer


class TinyTestTrainer(GDRTrainer):
    """Two epochs of 4 iterations; 4-voxel border (16^3 patches); a learning rate that shows progress."""

    recipe_changes = {
        "num_epochs": 2,
        "iterations_per_epoch": 4,
        "validation_patches_per_case": 2,
        "num_dataloader_workers": 0,
        "border_voxels": 4,
        "initial_learning_rate": 3e-3,
    }
