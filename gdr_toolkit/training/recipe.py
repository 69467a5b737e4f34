"""The training recipe a configuration implies: the CPU recipe for configurations planned for CPUs.

``CPU_RECIPE`` holds the settings measured to give the most quality per CPU-hour at the budgets 2 cores
afford (documentation/convergence.md has every measurement); GPU configurations keep the paper's settings
(``GDRTrainer``'s class attributes). ``GDRTrainer.__init__`` applies the recipe to every setting that no
variant class sets itself (``set_by_variant``).
"""

from __future__ import annotations

from typing import Any

from gdr_toolkit.training.data.options import AugmentationOptions

CPU_RECIPE: dict[str, Any] = {
    "noise_units": True,  # round 1: the network in units of sigma_LD
    "border_voxels": 2,  # round 2: a 2-voxel loss margin instead of 8
    "augmentation": AugmentationOptions.right_angle(),  # round 3: the authors' augmentation
    "oversample_fraction": 0.5,  # round 3: 50 % enhancement-centred patches
    "initial_learning_rate": 1e-3,  # rounds 2-3: 1e-3 (3e-3 with warm-up was worse)
}


def set_by_variant(trainer_class: type, name: str, base: type) -> bool:
    """Whether a class between ``base`` (excluded) and ``trainer_class`` (included) sets ``name`` itself."""
    for klass in trainer_class.__mro__:
        if klass is base:
            return False
        if name in vars(klass):
            return True
    return False
