"""The lever runs of ``convergence.py``: what each changes, and the trainer class that trains it.

A lever changes fields of the training recipe (``TrainingRecipe``), the plan's patch / batch / widths, or
one of the lever-only settings that did not win and so live here, not in the core trainer
(``LeverOptions``: optimizer, weight decay, learning-rate schedule and warm-up, loss reduction, carried out
by ``LeverTrainer``'s ``configure_optimizer`` and ``build_loss``). Recorded results:
documentation/convergence.md.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from learning_rate_schedules import Schedule, learning_rate_factor  # type: ignore[import-not-found]
from torch import nn

from gdr_toolkit.training.data.options import AugmentationOptions
from gdr_toolkit.training.loss import Reduction, WeightedVoxelLoss
from gdr_toolkit.training.trainer import GDRTrainer

EPOCH_ITERATIONS = 50
REFERENCE_PATCH = (48, 48, 48)  # patch of every lever run that does not change it, and of the validation
BASE_PLAN = {"patch_size": REFERENCE_PATCH, "batch_size": 2}  # the CPU plan the levers were measured on
VALIDATION_BORDER_VOXELS = 8


@dataclass(frozen=True)
class LeverOptions:
    """Settings of the lever runs that the core trainer does not have (defaults: what it does).

    Attributes:
        optimizer_name: ``"adam"`` or ``"adamw"`` (decoupled weight decay).
        weight_decay: the optimizer's weight decay.
        learning_rate_schedule: ``"cosine"`` or ``"poly"`` (``learning_rate_schedules.py``).
        warmup_iterations: linear warm-up iterations (0: none).
        loss_reduction: ``"mean"`` (the plain mean over interior voxels) or ``"weights"``
            (sum(w * rho) / sum(w), ``training/loss.py``).
    """

    optimizer_name: Literal["adam", "adamw"] = "adam"
    weight_decay: float = 0.0
    learning_rate_schedule: Schedule = "cosine"
    warmup_iterations: int = 0
    loss_reduction: Reduction = "mean"


LEVER_OPTION_NAMES = tuple(option.name for option in dataclasses.fields(LeverOptions))


class LeverTrainer(GDRTrainer):
    """``GDRTrainer`` whose optimizer, schedule and loss reduction follow ``lever_options``."""

    lever_options: ClassVar[LeverOptions] = LeverOptions()

    def configure_optimizer(self) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """Adam or AdamW; torch's cosine annealing, or with warm-up / poly decay ``learning_rate_factor``."""
        options, recipe = self.lever_options, self.recipe
        total, peak = recipe.num_epochs * recipe.iterations_per_epoch, recipe.initial_learning_rate
        optimizer_class = torch.optim.AdamW if options.optimizer_name == "adamw" else torch.optim.Adam
        optimizer = optimizer_class(
            self.network.parameters(), lr=peak, betas=recipe.adam_betas, weight_decay=options.weight_decay
        )
        if options.warmup_iterations == 0 and options.learning_rate_schedule == "cosine":
            scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=total, eta_min=recipe.final_learning_rate
            )
            return optimizer, scheduler
        final_ratio = min(1.0, recipe.final_learning_rate / peak)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda iteration: learning_rate_factor(
                iteration, total, options.warmup_iterations, options.learning_rate_schedule, final_ratio
            ),
        )
        return optimizer, scheduler

    def build_loss(self) -> nn.Module:
        recipe = self.recipe
        return WeightedVoxelLoss(
            "huber", recipe.huber_delta, recipe.border_voxels, self.lever_options.loss_reduction
        )


@dataclass(frozen=True)
class Lever:
    """One controlled change against the reference recipe.

    Attributes:
        name: run folder name.
        description: what changes (table row).
        settings: recipe fields and ``LeverOptions`` that change (``warmup_fraction``: of the budget;
            ``augmentation``: a name of ``AUGMENTATIONS``; ``gradient_clip_norm`` None: no clipping).
        plan: configuration fields that change (``patch_size``, ``batch_size``, ``widths``).
        reference: the run it is compared with.
    """

    name: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    reference: str = "demo"


AUGMENTATIONS = {
    "right_angle": AugmentationOptions.right_angle,
    "none": lambda: AugmentationOptions(enabled=False),
}
# The demo's recipe before issue 13 (GDRTrainer_CPUDemo): lr 1e-3 cosine, Adam, clip 1.0, 90 % enhancement-
# centred patches, 8-voxel margin, affine augmentation, plain mean.
DEMO = {"initial_learning_rate": 1e-3, "oversample_fraction": 0.9}
NOISE_UNITS = {**DEMO, "noise_units": True}  # the base of the second round (the first round's winner)
MARGIN_2 = {**NOISE_UNITS, "border_voxels": 2}  # the base of the third round
RECIPE_PLAN = {"patch_size": (32, 32, 32), "batch_size": 4}  # the fourth round: the CPU plan of the recipe
LEVERS: dict[str, Lever] = {
    lever.name: lever
    for lever in (
        Lever("demo", "reference: the demo's recipe before issue 13", DEMO, reference=""),
        Lever("noise_units", "network in units of sigma_LD (inputs z_LD, s_LD and output)", NOISE_UNITS),
        Lever("nu_margin_2", "loss margin 2 voxels instead of 8", {**NOISE_UNITS, "border_voxels": 2}, reference="noise_units"),
        Lever("nu_lr_3e-3_warmup", "peak lr 3e-3 with 10 % linear warm-up", {**NOISE_UNITS, "initial_learning_rate": 3e-3, "warmup_fraction": 0.1}, reference="noise_units"),
        Lever("nu_right_angle_aug", "the authors' augmentation: flips, axis permutations, +-5 % intensity", {**NOISE_UNITS, "augmentation": "right_angle"}, reference="noise_units"),
        Lever("nu_patch32_b4", "patch 32^3, batch 4", NOISE_UNITS, {"patch_size": (32, 32, 32), "batch_size": 4}, reference="noise_units"),
        Lever("nu_oversample_0.5", "50 % enhancement-centred patches instead of 90 %", {**NOISE_UNITS, "oversample_fraction": 0.5}, reference="noise_units"),
        Lever("nu_weights_reduction", "loss normalised by the weights: sum(w rho) / sum(w)", {**NOISE_UNITS, "loss_reduction": "weights"}, reference="noise_units"),
        Lever("nu_poly", "polynomial decay (0.9) instead of cosine", {**NOISE_UNITS, "learning_rate_schedule": "poly"}, reference="noise_units"),
        Lever("nu_adamw", "AdamW, weight decay 1e-2", {**NOISE_UNITS, "optimizer_name": "adamw", "weight_decay": 1e-2}, reference="noise_units"),
        Lever("nu_no_clip", "no gradient clipping (instead of 1.0)", {**NOISE_UNITS, "gradient_clip_norm": None}, reference="noise_units"),
        Lever("nu_huber_0.03", "Huber delta 0.03 (about sigma_LD) instead of 0.1", {**NOISE_UNITS, "huber_delta": 0.03}, reference="noise_units"),
        Lever("nu_width24", "widths 24/48/96/192", NOISE_UNITS, {"widths": (24, 48, 96, 192)}, reference="noise_units"),
        # round 3: on noise units + 2-voxel margin (the second round's winner, ``nu_margin_2``)
        Lever("m2_lr_3e-3_warmup", "peak lr 3e-3 with 10 % linear warm-up", {**MARGIN_2, "initial_learning_rate": 3e-3, "warmup_fraction": 0.1}, reference="nu_margin_2"),
        Lever("m2_patch32_b4", "patch 32^3, batch 4", MARGIN_2, {"patch_size": (32, 32, 32), "batch_size": 4}, reference="nu_margin_2"),
        Lever("m2_right_angle_aug", "the authors' augmentation: flips, axis permutations, +-5 % intensity", {**MARGIN_2, "augmentation": "right_angle"}, reference="nu_margin_2"),
        Lever("m2_oversample_0.5", "50 % enhancement-centred patches instead of 90 %", {**MARGIN_2, "oversample_fraction": 0.5}, reference="nu_margin_2"),
        Lever("m2_weights_reduction", "loss normalised by the weights: sum(w rho) / sum(w)", {**MARGIN_2, "loss_reduction": "weights"}, reference="nu_margin_2"),
        # round 4: on the CPU recipe itself (``CPU_RECIPE``, applied by the 3d_cpu configuration, 32^3 x 4)
        Lever("recipe", "reference: the CPU recipe (CPU_RECIPE, patch 32^3, batch 4)", {}, RECIPE_PLAN, reference=""),
        Lever("r_structure_sampling", "enhancement-centred patches per structure, not per voxel", {"enhancement_sampling": "structure"}, RECIPE_PLAN, reference="recipe"),
        Lever("r_weights_reduction", "loss normalised by the weights: sum(w rho) / sum(w)", {"loss_reduction": "weights"}, RECIPE_PLAN, reference="recipe"),
        Lever("r_huber_0.03", "Huber delta 0.03 (about sigma_LD) instead of 0.1", {"huber_delta": 0.03}, RECIPE_PLAN, reference="recipe"),
        Lever("r_poly", "polynomial decay (0.9) instead of cosine", {"learning_rate_schedule": "poly"}, RECIPE_PLAN, reference="recipe"),
        Lever("r_adamw", "AdamW, weight decay 1e-2", {"optimizer_name": "adamw", "weight_decay": 1e-2}, RECIPE_PLAN, reference="recipe"),
        Lever("r_no_clip", "no gradient clipping (instead of 1.0)", {"gradient_clip_norm": None}, RECIPE_PLAN, reference="recipe"),
        Lever("r_width24", "widths 24/48/96/192", {}, {**RECIPE_PLAN, "widths": (24, 48, 96, 192)}, reference="recipe"),
    )
}  # fmt: skip


def trainer_class(lever: Lever, iterations: int) -> type[LeverTrainer]:
    """A ``LeverTrainer`` with the lever's recipe changes and options and the budget (epochs of
    ``EPOCH_ITERATIONS``). The lever's recipe fields are its ``recipe_changes``: they win over the
    configuration's recipe (the CPU recipe for ``3d_cpu``), as a variant's own fields do."""
    changes = dict(lever.settings)
    options = {name: changes.pop(name) for name in LEVER_OPTION_NAMES if name in changes}
    options["warmup_iterations"] = int(round(changes.pop("warmup_fraction", 0.0) * iterations))
    if "augmentation" in changes:
        changes["augmentation"] = AUGMENTATIONS[changes["augmentation"]]()
    if "gradient_clip_norm" in changes and changes["gradient_clip_norm"] is None:
        changes["gradient_clip_norm"] = math.inf  # no clipping
    changes |= {
        "num_epochs": max(1, iterations // EPOCH_ITERATIONS),
        "iterations_per_epoch": min(iterations, EPOCH_ITERATIONS),
        "validation_border_voxels": VALIDATION_BORDER_VOXELS,
        "validation_patches_per_case": 8,
        "num_dataloader_workers": 0,
    }
    attributes = {"recipe_changes": changes, "lever_options": LeverOptions(**options)}
    return type(f"Lever_{lever.name}", (LeverTrainer,), attributes)


def plans_with(plans: Any, configuration: str, changes: dict[str, Any]) -> Any:
    """``plans`` whose configuration has the base patch and batch, or the lever's, and its widths."""
    changes = {**BASE_PLAN, **changes}
    plan = plans.configuration(configuration)
    network = dict(plan.network)
    if "widths" in changes:
        network["widths"] = list(changes["widths"])
    replaced = dataclasses.replace(
        plan,
        patch_size=tuple(changes.get("patch_size", plan.patch_size)),
        batch_size=int(changes.get("batch_size", plan.batch_size)),
        network=network,
    )
    return dataclasses.replace(plans, configurations={**plans.configurations, configuration: replaced})
