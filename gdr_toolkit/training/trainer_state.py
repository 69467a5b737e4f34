"""A trainer's checkpoint dict, and the way back: the recipe and the states a checkpoint restores.

The recipe is stored as ``dataclasses.asdict(TrainingRecipe)`` under ``trainer_settings``. Checkpoints
written before recipes existed hold a shorter dict of the same name: ``restored_recipe`` reads both.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gdr_toolkit.model import checkpoint as checkpoints
from gdr_toolkit.model.training_ranges import CHECKPOINT_KEY as RANGES_KEY
from gdr_toolkit.network.architectures import architecture_name
from gdr_toolkit.training.recipe import RECIPE_FIELDS, TrainingRecipe

if TYPE_CHECKING:
    from gdr_toolkit.training.trainer import GDRTrainer

logger = logging.getLogger(__name__)

# Settings of the lever experiments (benchmarks/convergence_levers.py), stored by checkpoints before the
# recipe, with the values the core trainer still trains with: other values are ignored with a warning.
LEVER_ONLY_SETTINGS: Mapping[str, Any] = {
    "warmup_iterations": 0,
    "learning_rate_schedule": "cosine",
    "optimizer_name": "adam",
    "weight_decay": 0.0,
    "loss_reduction": "mean",
}
# Recipe fields that checkpoints before the recipe did not store: a resumed run keeps the trainer's value.
NOT_STORED_BEFORE_RECIPES = (
    "validation_cases_fold_all", "adam_betas", "num_dataloader_workers", "augmentation",
    "snapshot_iterations", "prediction_target", "input_channel_names",
)  # fmt: skip


def restored_recipe(
    saved: Mapping[str, Any], current: TrainingRecipe, own: TrainingRecipe, source: str, warn: bool = True
) -> TrainingRecipe:
    """The recipe a checkpoint's ``trainer_settings`` record (either format).

    Args:
        saved: the checkpoint's ``trainer_settings``.
        current: the trainer's recipe now (kept for the settings old checkpoints did not store).
        own: the trainer class's own recipe (``recipe_for(PAPER_RECIPE)``): a setting the checkpoint
            predates takes this value, which is what trained it, not the configuration's recipe.
        source: names the checkpoint in warnings and errors.
        warn: log each setting that differs from ``current``.
    """
    record = {name: value for name, value in saved.items() if name in RECIPE_FIELDS}
    if record.get("gradient_clip_norm", 0.0) is None:  # before recipes: None meant no clipping
        record["gradient_clip_norm"] = math.inf
    for name, usual in LEVER_ONLY_SETTINGS.items():
        if name in saved and saved[name] != usual:
            logger.warning("%s: lever-only setting %s = %r is ignored (core trainer: %r)", source, name, saved[name], usual)  # fmt: skip
    unknown = sorted(set(saved) - set(RECIPE_FIELDS) - set(LEVER_ONLY_SETTINGS))
    if unknown:
        logger.warning("%s: ignoring unknown trainer settings %s", source, unknown)
    for name in RECIPE_FIELDS:
        if name not in record:
            record[name] = getattr(current if name in NOT_STORED_BEFORE_RECIPES else own, name)
    try:
        recipe = TrainingRecipe.from_json_dict(record)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: trainer_settings do not form a training recipe: {error}") from error
    if warn:
        for name in RECIPE_FIELDS:
            if getattr(recipe, name) != getattr(current, name):
                logger.warning("%s: %s = %r from the checkpoint (was %r)", source, name, getattr(recipe, name), getattr(current, name))  # fmt: skip
    return recipe


def checkpoint_state(trainer: GDRTrainer) -> dict[str, Any]:
    """The checkpoint dict of an initialised trainer (keys ``checkpoint.CHECKPOINT_KEYS``)."""
    return {
        "format_version": checkpoints.CHECKPOINT_FORMAT_VERSION,
        "trainer_name": type(trainer).__name__,
        "plans": json.loads(json.dumps(trainer.plans.to_json_dict())),
        "configuration": trainer.configuration_name,
        "fold": trainer.fold,
        "init_args": dict(trainer.init_args),
        "precision": trainer.precision.name,
        "trainer_settings": trainer.recipe.to_json_dict(),
        "network_architecture": architecture_name(trainer.network),
        "network_config": trainer.network.config.to_json_dict(),  # type: ignore[union-attr, operator]  # every architecture has one
        **trainer.prediction_spec.to_json_dict(),
        "condition_keys": list(trainer.condition_keys),
        "condition_normalisation": trainer.condition_normalisation.to_json_dict(),
        "gamma": trainer.gamma,
        RANGES_KEY: trainer.training_ranges.to_json_dict(),  # optional key: the out-of-distribution check
        "train_case_ids": list(trainer.train_case_ids),
        "validation_case_ids": list(trainer.validation_case_ids),
        "epoch": trainer.current_epoch,
        "iteration": trainer.current_iteration,
        "best_validation_loss": trainer.best_validation_loss,
        "network_state": trainer.network.state_dict(),
        "optimizer_state": trainer.optimizer.state_dict(),
        "scheduler_state": trainer.scheduler.state_dict(),
        "grad_scaler_state": trainer.grad_scaler.state_dict(),
        "rng_state": checkpoints.capture_rng_state(),
    }


def resume_from(trainer: GDRTrainer, path: Path) -> None:
    """Restore ``trainer`` from checkpoint ``path``: recipe, states and RNGs (the next epoch is ``epoch``)."""
    checkpoint = checkpoints.load_checkpoint(path)
    if checkpoint["trainer_name"] != type(trainer).__name__:
        raise ValueError(f"{path} was written by {checkpoint['trainer_name']}, not {type(trainer).__name__}")
    trainer.restore_settings(checkpoint["trainer_settings"], str(path))
    trainer.initialize()
    trainer.network.load_state_dict(checkpoint["network_state"])
    trainer.optimizer.load_state_dict(checkpoint["optimizer_state"])
    trainer.scheduler.load_state_dict(checkpoint["scheduler_state"])
    if checkpoint["grad_scaler_state"]:
        trainer.grad_scaler.load_state_dict(checkpoint["grad_scaler_state"])
    trainer.current_epoch, trainer.current_iteration = checkpoint["epoch"], checkpoint["iteration"]
    trainer.best_validation_loss = checkpoint["best_validation_loss"]
    checkpoints.restore_rng_state(checkpoint["rng_state"])
    if trainer.log is not None:
        trainer.log.truncate(trainer.current_epoch)
    logger.info(
        "resumed %s at epoch %d, iteration %d", path, trainer.current_epoch, trainer.current_iteration
    )
