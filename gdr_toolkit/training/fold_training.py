"""Train one fold as the command asks: result folders, resume/finished rules, DDP set-up.

Result layout: ``$gdr_results/DatasetXXX_Name/<Trainer>__<plans>__<configuration>/`` holds one ``fold_K/``
(or ``fold_all/``) per fold. The checkpoints are the model's one source: each carries the plans, gamma and
everything else prediction needs (``training/checkpoint.py``); no copy of the plans is written beside them.

Rules: a fold with ``checkpoint_final.pth`` is finished: nothing is done (also with ``continue_training``;
delete the fold folder to train again). A fold with ``checkpoint_latest.pth`` but no final checkpoint is
continued with ``continue_training`` and refused without it (no silent overwrite). ``continue_training``
on an empty fold starts from scratch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gdr_toolkit.model.checkpoint import checkpoint_path
from gdr_toolkit.paths import preprocessed_folder, resolve_dataset_name, results_folder
from gdr_toolkit.planning.plans import load_plans, plans_path
from gdr_toolkit.training.distributed import DistributedContext, initialise_distributed
from gdr_toolkit.training.registry import get_trainer_class
from gdr_toolkit.training.trainer import Fold, ProgressFactory

logger = logging.getLogger(__name__)
# ``TrainingJob`` fields that replace the recipe field of the same name (``gdr_train``'s override flags)
OVERRIDABLE_SETTINGS = ("num_epochs", "iterations_per_epoch", "initial_learning_rate", "oversample_fraction")


@dataclass(frozen=True)
class TrainingJob:
    """What ``gdr_train`` was asked to do (see documentation/training.md).

    Attributes:
        dataset: dataset id or ``DatasetXXX_Name``.
        fold: fold index or ``"all"``.
        configuration: configuration in the plans.
        trainer_name: registered trainer class name.
        plans_name: plans file name without ``.json``.
        device: ``"cpu"``, ``"cuda"`` or ``"mps"``.
        continue_training: resume from ``checkpoint_latest.pth``.
        pretrained_weights: checkpoint whose matching network parameters initialise the network.
        num_epochs: overrides the trainer's ``num_epochs`` (None: keep).
        iterations_per_epoch: overrides the trainer's ``iterations_per_epoch`` (None: keep).
        initial_learning_rate: overrides the trainer's peak learning rate (None: keep).
        oversample_fraction: overrides the trainer's fraction of enhancement-centred patches (None: keep).
        precision: ``auto``, ``bf16``, ``fp16`` or ``fp32`` (``network.precision``).
    """

    dataset: str
    fold: Fold
    configuration: str = "3d_fullres"
    trainer_name: str = "GDRTrainer"
    plans_name: str = "gdrPlans"
    device: str = "cpu"
    continue_training: bool = False
    pretrained_weights: Path | None = None
    num_epochs: int | None = None
    iterations_per_epoch: int | None = None
    initial_learning_rate: float | None = None
    oversample_fraction: float | None = None
    precision: str = "auto"

    def recipe_overrides(self) -> dict[str, Any]:
        """The overrides that were given (not None), by recipe field name."""
        given = {name: getattr(self, name) for name in OVERRIDABLE_SETTINGS}
        return {name: value for name, value in given.items() if value is not None}


def parse_fold(text: str) -> Fold:
    """``"0"`` .. ``"4"`` (any non-negative integer) or ``"all"``."""
    if text == "all":
        return "all"
    if not text.isdigit():
        raise ValueError(f"FOLD must be a non-negative integer or 'all', got {text!r}")
    return int(text)


def trainer_output_folder(dataset_name: str, trainer_name: str, plans_name: str, configuration: str) -> Path:
    """``$gdr_results/DatasetXXX_Name/<Trainer>__<plans>__<configuration>``."""
    return results_folder() / dataset_name / f"{trainer_name}__{plans_name}__{configuration}"


def select_device(name: str, context: DistributedContext) -> torch.device:
    """The torch device for ``name``; with CUDA in a DDP group, this process's GPU."""
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("-device cuda was requested but CUDA is not available; use -device cpu")
        return torch.device("cuda", context.local_rank)
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("-device mps was requested but MPS is not available; use -device cpu")
    if name not in ("cpu", "mps"):
        raise ValueError(f"-device must be cpu, cuda or mps, got {name!r}")
    return torch.device(name)


def train_fold(job: TrainingJob, progress: ProgressFactory | None = None) -> Path:
    """Run ``job``; returns the fold folder. Call inside torchrun for multi-process training."""
    dataset_name = resolve_dataset_name(job.dataset)
    preprocessed_dataset = preprocessed_folder() / dataset_name
    plans = load_plans(plans_path(preprocessed_dataset, job.plans_name))
    trainer_class = get_trainer_class(job.trainer_name)
    context = initialise_distributed(job.device)
    output = trainer_output_folder(dataset_name, job.trainer_name, job.plans_name, job.configuration)
    fold_folder = output / f"fold_{job.fold}"
    if checkpoint_path(fold_folder, "final").is_file():
        logger.info("%s is finished (checkpoint_final.pth exists); delete it to train again", fold_folder)
        return fold_folder
    latest = checkpoint_path(fold_folder, "latest")
    resume = job.continue_training and latest.is_file()
    if latest.is_file() and not job.continue_training:
        raise FileExistsError(
            f"{latest} is from an unfinished run: pass --c to continue it or delete {fold_folder}"
        )
    if resume and job.pretrained_weights is not None:
        raise ValueError("-pretrained_weights cannot be combined with --c on a fold that has a checkpoint")
    device = select_device(job.device, context)
    trainer = trainer_class(
        plans, job.configuration, job.fold, preprocessed_dataset, fold_folder, device, context, job.precision
    )
    trainer.recipe = trainer.recipe.replace(**job.recipe_overrides())  # the overrides win over the recipe
    if resume:
        trainer.load_checkpoint(latest)
    elif job.pretrained_weights is not None:
        trainer.load_pretrained_weights(job.pretrained_weights)
    logger.info(
        "precision %s on %s, batch %d per process x %d process(es)",
        trainer.precision.name, device, trainer.configuration.batch_size, context.world_size,
    )  # fmt: skip
    trainer.run_training(progress)
    return fold_folder


def validation_only_folder(job: TrainingJob) -> Path:
    """The fold folder of a finished run (``gdr_train ... --val``); error if it has no final checkpoint."""
    dataset_name = resolve_dataset_name(job.dataset)
    output = trainer_output_folder(dataset_name, job.trainer_name, job.plans_name, job.configuration)
    fold_folder = output / f"fold_{job.fold}"
    if not checkpoint_path(fold_folder, "final").is_file():
        raise FileNotFoundError(
            f"--val needs a finished fold: {checkpoint_path(fold_folder, 'final')} does not exist"
        )
    return fold_folder
