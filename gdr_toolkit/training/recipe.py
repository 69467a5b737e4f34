"""``TrainingRecipe``: every setting of a trainer in one typed, frozen record, and the named recipes.

Which recipe a trainer trains with (documentation/training.md, "Recipes and variants"), later wins:

1. ``PAPER_RECIPE``: the paper's settings (documentation/method.md section 4);
2. ``CPU_RECIPE`` instead when the configuration is planned for CPUs (``target_device == "cpu"``):
   the settings measured to give the most quality per CPU-hour on 2 cores (documentation/convergence.md);
3. the trainer class's ``recipe_changes`` (a variant's own fields, ``recipe_for``);
4. ``gdr_train``'s overrides (``-lr``, ``--num_epochs``, ...), a ``replace`` on the trainer's recipe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from gdr_toolkit.model.prediction_spec import CONTRAST_SIGNAL_INPUTS, PredictionTarget
from gdr_toolkit.training.data.options import AugmentationOptions
from gdr_toolkit.training.data.patch_sampling import ENHANCEMENT_SAMPLING_MODES, EnhancementSampling

RECIPE_JSON_FIELDS = ("augmentation",)  # fields stored as a nested dict in checkpoints


def _check(name: str, value: Any, valid: bool, expected: Any) -> None:
    if not valid:
        raise ValueError(f"TrainingRecipe.{name} must be {expected}, got {value!r}")


@dataclass(frozen=True)
class TrainingRecipe:
    """The settings of one training run (defaults: the paper's, ``PAPER_RECIPE``).

    Attributes:
        num_epochs: epochs to train (>= 1).
        iterations_per_epoch: optimiser steps per epoch (>= 1); the schedule spans
            ``num_epochs * iterations_per_epoch`` steps.
        validation_patches_per_case: fixed validation patches drawn per validation case.
        validation_cases_fold_all: validation cases of fold ``"all"`` (the first N training cases).
        initial_learning_rate: Adam's peak learning rate, start of the cosine annealing (> 0).
        final_learning_rate: learning rate at the last step (>= 0).
        adam_betas: Adam's (beta1, beta2).
        gradient_clip_norm: largest L2 norm of the gradient (> 0); ``math.inf``: no clipping.
        oversample_fraction: share of patches centred on enhancing voxels, in [0, 1].
        enhancement_sampling: ``"voxel"`` (every enhancing voxel equally often) or ``"structure"``
            (every enhancing structure equally often).
        num_dataloader_workers: loader worker processes; None: 2 on accelerators, 0 on the CPU.
        seed: seed of the RNGs, the patch stream and the validation patches.
        lambda1: voxel weight of the brain outside enhancement (eq. 6), dimensionless.
        lambda2: extra voxel weight per unit of enhancement probability p_SD (eq. 6), dimensionless.
        huber_delta: Huber loss threshold, in the units of the contrast signal y.
        border_voxels: voxels at each patch face left out of the loss.
        augmentation: spatial and intensity augmentation of training patches.
        noise_units: inputs z_LD, s_LD and the output in units of sigma_LD (``network_config``).
        noise_unit: that unit; None: the median sigma_LD of the fold's training cases (filled in when the
            network is built, so checkpoints record it).
        validation_border_voxels: margin of the validation metrics; None: ``border_voxels``.
        snapshot_iterations: also keep ``checkpoint_iteration_N.pth`` at these iterations.
        channels_last: network weights and batches in ``torch.channels_last_3d`` (same values).
        prediction_target: what the output means (``prediction_spec.py``).
        input_channel_names: preprocessed channels stacked as the network input, in order.
    """

    num_epochs: int = 1000
    iterations_per_epoch: int = 250
    validation_patches_per_case: int = 8
    validation_cases_fold_all: int = 3
    initial_learning_rate: float = 1e-4
    final_learning_rate: float = 1e-6
    adam_betas: tuple[float, float] = (0.9, 0.999)
    gradient_clip_norm: float = 1.0
    oversample_fraction: float = 0.33
    enhancement_sampling: EnhancementSampling = "voxel"
    num_dataloader_workers: int | None = None
    seed: int = 0
    lambda1: float = 0.01
    lambda2: float = 1.0
    huber_delta: float = 0.1
    border_voxels: int = 8
    augmentation: AugmentationOptions = AugmentationOptions()
    noise_units: bool = False
    noise_unit: float | None = None
    validation_border_voxels: int | None = None
    snapshot_iterations: tuple[int, ...] = ()
    channels_last: bool = False
    prediction_target: PredictionTarget = "contrast_signal"
    input_channel_names: tuple[str, ...] = CONTRAST_SIGNAL_INPUTS

    def __post_init__(self) -> None:
        for name in ("num_epochs", "iterations_per_epoch", "validation_patches_per_case"):
            _check(name, getattr(self, name), getattr(self, name) >= 1, ">= 1")
        _check("initial_learning_rate", self.initial_learning_rate, self.initial_learning_rate > 0, "> 0")
        _check("final_learning_rate", self.final_learning_rate, self.final_learning_rate >= 0, ">= 0")
        _check("gradient_clip_norm", self.gradient_clip_norm, self.gradient_clip_norm > 0, "> 0 (inf: none)")
        fraction = self.oversample_fraction
        _check("oversample_fraction", fraction, 0 <= fraction <= 1, "in [0, 1]")
        modes = ENHANCEMENT_SAMPLING_MODES
        _check("enhancement_sampling", self.enhancement_sampling, self.enhancement_sampling in modes, modes)
        targets = get_args(PredictionTarget)
        _check("prediction_target", self.prediction_target, self.prediction_target in targets, targets)
        if not isinstance(self.augmentation, AugmentationOptions):
            raise ValueError(f"augmentation must be AugmentationOptions, got {self.augmentation!r}")
        for name in ("adam_betas", "snapshot_iterations", "input_channel_names"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def replace(self, **changes: Any) -> TrainingRecipe:
        """A copy with ``changes``; an unknown name raises ``ValueError`` listing the fields."""
        unknown = sorted(set(changes) - set(RECIPE_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown training recipe setting(s) {unknown}; the recipe has {list(RECIPE_FIELDS)}"
            )
        return dataclasses.replace(self, **changes)

    def to_json_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict``: plain dicts, tuples, numbers, str, bool and None (checkpoint-safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json_dict(cls, record: Mapping[str, Any], base: TrainingRecipe | None = None) -> TrainingRecipe:
        """The inverse of ``to_json_dict``; fields missing from ``record`` keep ``base``'s (default: paper)."""
        changes = dict(record)
        if isinstance(changes.get("augmentation"), Mapping):
            augmentation = dict(changes["augmentation"])
            for name in ("scaling_range", "mirror_axes"):
                if name in augmentation:
                    augmentation[name] = tuple(augmentation[name])
            changes["augmentation"] = AugmentationOptions(**augmentation)
        return (base or PAPER_RECIPE).replace(**changes)


RECIPE_FIELDS = tuple(field.name for field in dataclasses.fields(TrainingRecipe))
PAPER_RECIPE = TrainingRecipe()
CPU_RECIPE = PAPER_RECIPE.replace(
    noise_units=True,  # round 1: the network in units of sigma_LD
    border_voxels=2,  # round 2: a 2-voxel loss margin instead of 8
    augmentation=AugmentationOptions.right_angle(),  # round 3: the authors' augmentation
    oversample_fraction=0.5,  # round 3: 50 % enhancement-centred patches
    initial_learning_rate=1e-3,  # rounds 2-3: 1e-3 (3e-3 with warm-up was worse)
)


def configuration_recipe(target_device: str) -> TrainingRecipe:
    """The recipe a configuration implies: ``CPU_RECIPE`` when planned for ``"cpu"``, else ``PAPER_RECIPE``."""
    return CPU_RECIPE if target_device == "cpu" else PAPER_RECIPE


def check_no_settings(attributes: Mapping[str, Any], owner: str) -> None:
    """Raise ``ValueError`` when ``attributes`` (a trainer's) name a recipe field: settings live in the recipe."""
    misplaced = sorted(set(attributes) & set(RECIPE_FIELDS))
    if misplaced:
        example = f"{misplaced[0]}=..."
        raise ValueError(
            f"{owner}: {misplaced} are training recipe settings, not trainer attributes; a variant declares "
            f"recipe_changes = {{'{misplaced[0]}': ...}}, code replaces trainer.recipe = trainer.recipe.replace({example})"
        )


def recipe_differences(recipe: TrainingRecipe, reference: TrainingRecipe) -> dict[str, Any]:
    """The fields of ``recipe`` whose values differ from ``reference``'s, with ``recipe``'s values."""
    return {
        name: getattr(recipe, name)
        for name in RECIPE_FIELDS
        if getattr(recipe, name) != getattr(reference, name)
    }
