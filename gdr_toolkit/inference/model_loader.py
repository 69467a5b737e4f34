"""A trained model (one network per fold) loaded from its result folder, ready for inference.

Model folder: ``$gdr_results/DatasetXXX_Name/<Trainer>__<plans>__<configuration>/`` with ``fold_K/`` (or
``fold_all/``) sub-folders holding ``checkpoint_{final,best,latest}.pth``. Each checkpoint describes itself
(trainer name, plans, configuration, network architecture and configuration, prediction target and input
channels, condition keys and normalisation, gamma), so nothing else is read. The network is rebuilt from
the stored architecture and configuration alone (``model.network_builder``; no trainer is constructed, so
a variant's network, e.g. ``SliceStackUNet``, needs its architecture registered in
``network.architectures``; an external trainer's network is registered by its file in
``$gdr_trainer_paths``, imported only for an architecture that is not built in), and its weights are
loaded with ``torch.load(weights_only=True)``. What the output means (contrast signal or standard dose)
comes from the checkpoint's :class:`PredictionSpec`, never from the trainer's name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from gdr_toolkit.model.checkpoint import load_checkpoint
from gdr_toolkit.model.conditions import ConditionNormalisation
from gdr_toolkit.model.network_builder import network_from_checkpoint
from gdr_toolkit.model.prediction_spec import PredictionSpec
from gdr_toolkit.model.training_ranges import TrainingRanges, read_training_ranges
from gdr_toolkit.planning.plans import ConfigurationPlan, Plans

logger = logging.getLogger(__name__)
DEFAULT_CHECKPOINT = "checkpoint_final.pth"
FOLD_FOLDER = re.compile(r"^fold_(\d+|all)$")


@dataclass(frozen=True, eq=False)
class FoldModel:
    """The network of one fold and what its inputs and outputs need.

    Attributes:
        fold: fold index or ``"all"``.
        checkpoint: the file it was loaded from.
        network: the network in eval mode, on the CPU until moved.
        condition_normalisation: standardisation of the condition keys (this fold's training cases).
        gamma: training-set scale <b, s_SD> / <b, s_LD> of this fold (dimensionless).
        training_ranges: the ranges of this fold's training cases (``model/training_ranges.py``), None
            for a model trained before they were stored.
        train_case_ids: the cases this fold was trained on (the checkpoint's ``train_case_ids``), None
            where the checkpoint does not record them.
    """

    fold: int | Literal["all"]
    checkpoint: Path
    network: nn.Module
    condition_normalisation: ConditionNormalisation
    gamma: float
    training_ranges: TrainingRanges | None = None
    train_case_ids: tuple[str, ...] | None = None


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """All folds of one trained configuration.

    Attributes:
        folder: the model folder ``<Trainer>__<plans>__<configuration>``.
        trainer_name: the trainer class that wrote the checkpoints.
        plans: the plans stored in the checkpoints.
        configuration_name: e.g. ``"3d_fullres"``.
        folds: one :class:`FoldModel` per fold, in the order asked for.
        prediction: the input channels and the meaning of the output (shared by all folds).
        precision: the training precision (``"bf16"``, ``"fp16"``, ``"fp32"``; None: not recorded).
        training_ranges: the union of the folds' training ranges (the out-of-distribution check), None
            when no fold stores them.
    """

    folder: Path
    trainer_name: str
    plans: Plans
    configuration_name: str
    folds: tuple[FoldModel, ...]
    prediction: PredictionSpec = PredictionSpec()
    precision: str | None = None
    training_ranges: TrainingRanges | None = None

    @property
    def configuration(self) -> ConfigurationPlan:
        return self.plans.configuration(self.configuration_name)

    @property
    def condition_keys(self) -> tuple[str, ...]:
        """Union of the condition keys of all folds (in the first fold's order)."""
        keys: list[str] = []
        for fold in self.folds:
            keys += [key for key in fold.condition_normalisation.keys if key not in keys]
        return tuple(keys)

    @property
    def noise_normalised(self) -> bool:
        """Whether the model was trained on noise-normalised data (eq. 1); the plan decides."""
        return self.configuration.noise_normalisation

    @property
    def produces_sdplus(self) -> bool:
        """SD+ = x_LD + contrast signal exists for contrast-signal models only (not for direct regression)."""
        return self.prediction.prediction_target == "contrast_signal"

    def to(self, device: torch.device | str) -> TrainedModel:
        """Move every fold's network to ``device`` (in place) and return self."""
        for fold in self.folds:
            fold.network.to(device)
        return self


def available_folds(model_folder: Path, checkpoint_name: str = DEFAULT_CHECKPOINT) -> list[str]:
    """Fold names (``"0"``, ``"all"``, ...) whose folder holds ``checkpoint_name``, sorted."""
    found = []
    for path in Path(model_folder).iterdir() if Path(model_folder).is_dir() else []:
        match = FOLD_FOLDER.match(path.name)
        if match and path.is_dir() and (path / checkpoint_name).is_file():
            found.append(match.group(1))
    return sorted(found, key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0))


def _fold_checkpoint(model_folder: Path, fold: str, checkpoint_name: str) -> Path:
    folder = model_folder / f"fold_{fold}"
    path = folder / checkpoint_name
    if path.is_file():
        return path
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} does not exist; folds with {checkpoint_name}: "
            f"{available_folds(model_folder, checkpoint_name) or 'none'}."
        )
    others = sorted(item.name for item in folder.glob("checkpoint_*.pth"))
    hint = f"; pass -chk {others[0]} to use another one" if others else "; train this fold first"
    raise FileNotFoundError(
        f"{path} does not exist (training not finished?); this fold has {others or 'no checkpoints'}{hint}."
    )


def load_fold(path: Path) -> tuple[FoldModel, dict[str, Any]]:
    """One fold's model from a checkpoint file, plus the checkpoint's metadata (without weights)."""
    checkpoint = load_checkpoint(path)
    plans = Plans.from_json_dict(checkpoint["plans"], source=str(path))
    try:
        normalisation = ConditionNormalisation.from_json_dict(checkpoint["condition_normalisation"])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    stored_ids = checkpoint.get("train_case_ids")
    fold = FoldModel(
        fold=checkpoint["fold"],
        checkpoint=path,
        network=network_from_checkpoint(checkpoint, str(path)),
        condition_normalisation=normalisation,
        gamma=float(checkpoint["gamma"]),
        training_ranges=read_training_ranges(checkpoint, path.parent),
        train_case_ids=None if stored_ids is None else tuple(str(case) for case in stored_ids),
    )
    description = {key: checkpoint[key] for key in ("trainer_name", "configuration")}
    try:
        prediction = PredictionSpec.from_checkpoint(checkpoint)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    description["precision"] = checkpoint.get("precision")
    return fold, {**description, "plans": plans, "prediction": prediction}


def load_trained_model(
    model_folder: Path | str,
    folds: Sequence[int | str] | None = None,
    checkpoint_name: str = DEFAULT_CHECKPOINT,
) -> TrainedModel:
    """Load the folds of a model folder.

    Args:
        model_folder: ``<Trainer>__<plans>__<configuration>`` folder.
        folds: fold indices or ``"all"``; None: every ``fold_*`` folder that holds ``checkpoint_name``.
        checkpoint_name: ``checkpoint_final.pth`` (default), ``checkpoint_best.pth`` or ``checkpoint_latest.pth``.

    Raises:
        FileNotFoundError: the folder, a fold or its checkpoint is missing (the message lists what exists).
        ValueError: the folds disagree on trainer, configuration or spacing.
    """
    model_folder = Path(model_folder)
    if not model_folder.is_dir():
        raise FileNotFoundError(
            f"model folder {model_folder} does not exist; train the model first (gdr_train)."
        )
    names = [str(fold) for fold in folds] if folds else available_folds(model_folder, checkpoint_name)
    if not names:
        present = sorted(path.name for path in model_folder.glob("fold_*/checkpoint_*.pth"))
        raise FileNotFoundError(
            f"{model_folder}: no fold_* folder holds {checkpoint_name}"
            + (
                f"; checkpoints present: {present} (choose one with -chk)"
                if present
                else "; train a fold first"
            )
        )
    loaded = [load_fold(_fold_checkpoint(model_folder, name, checkpoint_name)) for name in names]
    first = loaded[0][1]
    for fold, description in loaded[1:]:
        if _signature(description) != _signature(first):
            raise ValueError(
                f"{fold.checkpoint} was trained as {_signature(description)}, {loaded[0][0].checkpoint} as "
                f"{_signature(first)}; predict with folds of one model only (-f)."
            )
    logger.info("loaded %s folds %s (%s)", model_folder.name, names, checkpoint_name)
    return TrainedModel(
        folder=model_folder,
        trainer_name=first["trainer_name"],
        plans=first["plans"],
        configuration_name=first["configuration"],
        folds=tuple(fold for fold, _ in loaded),
        prediction=first["prediction"],
        precision=first["precision"],
        training_ranges=ensemble_training_ranges([fold for fold, _ in loaded]),
    )


def ensemble_training_ranges(folds: Sequence[FoldModel]) -> TrainingRanges | None:
    """The union of the folds' training ranges; None (and one info line) when no fold stores them."""
    stored = [fold.training_ranges for fold in folds if fold.training_ranges is not None]
    lacking = [str(fold.fold) for fold in folds if fold.training_ranges is None]
    if not stored:
        logger.info(
            "the model stores no training ranges (trained before they were recorded): "
            "no out-of-distribution check"
        )
        return None
    if lacking:
        logger.info("fold(s) %s store no training ranges: the other folds' ranges are used", lacking)
    union = stored[0]
    for ranges in stored[1:]:
        union = union.union(ranges)
    return union


def _signature(description: dict[str, Any]) -> tuple[str, str, float, PredictionSpec]:
    """(trainer, configuration, spacing_mm, prediction spec): what all folds of one model must share."""
    configuration = description["plans"].configuration(description["configuration"])
    return (
        description["trainer_name"],
        description["configuration"],
        configuration.spacing_mm,
        description["prediction"],
    )
