"""``GDRTrainer``: the training of documentation/method.md section 4 as hook methods a variant overrides.

Hooks (override one at a time in a subclass, see ``variants/`` and documentation/training.md):
``condition_keys``, ``network_config``, ``build_network``, ``configure_optimizer``, ``build_loss``,
``voxel_weights``, ``loader_options``, ``dataloader_workers``, ``split_batch``, ``train_step``, ``validation_step``,
``on_epoch_end``. Settings are one frozen ``TrainingRecipe`` (``recipe.py``): ``self.recipe``, the
configuration's recipe with the class's ``recipe_changes``. Checkpoint state (``trainer_state.py``), the
training log, DDP and the trainer registry live in their own modules.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from gdr_toolkit.model import checkpoint as checkpoints
from gdr_toolkit.model.conditions import ConditionNormalisation
from gdr_toolkit.model.network_builder import build_network, has_noise_unit_quantities, plan_network_config
from gdr_toolkit.model.prediction_spec import PredictionSpec
from gdr_toolkit.model.training_ranges import record_training_ranges
from gdr_toolkit.network.architectures import architecture_name
from gdr_toolkit.network.denormals import flush_denormals
from gdr_toolkit.network.precision import resolve_precision
from gdr_toolkit.network.unet import NetworkConfig
from gdr_toolkit.planning.plans import Plans
from gdr_toolkit.planning.splits import fold_case_ids
from gdr_toolkit.preprocessing.contrast_target import reduce_gamma
from gdr_toolkit.training.data import (
    LazyValidationBatches,
    LoaderOptions,
    PatchLoader,
    PreprocessedDataset,
    validation_patch_positions,
)
from gdr_toolkit.training.data.valid_mask import valid_voxels
from gdr_toolkit.training.distributed import DistributedContext, all_reduce_sum, wrap_model
from gdr_toolkit.training.epoch_loop import ProgressFactory, epoch_summary, no_progress, train_epoch
from gdr_toolkit.training.loss import WeightedVoxelLoss, voxel_weights
from gdr_toolkit.training.recipe import PAPER_RECIPE, TrainingRecipe, check_no_settings, configuration_recipe
from gdr_toolkit.training.trainer_state import checkpoint_state, restored_recipe, resume_from
from gdr_toolkit.training.training_log import TrainingLog
from gdr_toolkit.training.validation import SUM_SLOTS, error_sums, finalise_metrics

logger = logging.getLogger(__name__)
Fold = int | Literal["all"]


class GDRTrainer:
    """Trains the conditional U-Net of one plan configuration on one cross-validation fold.

    Args:
        plans: the dataset's plans.
        configuration: name of the configuration in ``plans`` (e.g. ``"3d_cpu"``).
        fold: index into ``splits_final.json``, or ``"all"`` (train on every case, validate on the
            first ``validation_cases_fold_all`` of them).
        preprocessed_dataset_folder: ``$gdr_preprocessed/DatasetXXX_Name`` (holds the splits).
        output_folder: the fold folder that receives checkpoints and logs.
        device: torch device.
        distributed: this process's place in a DDP group (default: a single process). The plan's batch
            size is per process: N processes train with N times the plan's batch.
        precision: ``auto`` (bfloat16 on GPUs of compute capability >= 8.0, float16 + GradScaler on
            older ones, float32 on CPU/MPS), ``bf16``, ``fp16`` or ``fp32`` (``network.precision``).
    """

    recipe_changes: ClassVar[dict[str, Any]] = {}  # a variant's own recipe fields (win over the recipe)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_no_settings(vars(cls), cls.__name__)  # fails where the variant is defined, as do unknown names
        try:
            cls.recipe_for(PAPER_RECIPE)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{cls.__name__}.recipe_changes: {error}") from error

    def __setattr__(self, name: str, value: Any) -> None:
        check_no_settings({name: value}, type(self).__name__)
        super().__setattr__(name, value)

    @classmethod
    def recipe_for(cls, base: TrainingRecipe) -> TrainingRecipe:
        """``base`` with this class's ``recipe_changes`` (a variant of a variant extends its parent's dict)."""
        return base.replace(**cls.recipe_changes)

    def __init__(
        self,
        plans: Plans,
        configuration: str,
        fold: Fold,
        preprocessed_dataset_folder: Path,
        output_folder: Path,
        device: torch.device | str = "cpu",
        distributed: DistributedContext | None = None,
        precision: str = "auto",
    ) -> None:
        if fold != "all" and (isinstance(fold, bool) or not isinstance(fold, int) or fold < 0):
            raise ValueError(f"fold must be a non-negative integer or 'all', got {fold!r}")
        self.plans, self.configuration_name, self.fold = plans, configuration, fold
        self.configuration = plans.configuration(configuration)
        self.recipe: TrainingRecipe = self.recipe_for(self.configuration_recipe())
        self.preprocessed_dataset_folder = Path(preprocessed_dataset_folder)
        self.data_folder = self.preprocessed_dataset_folder / self.configuration.data_identifier
        self.output_folder = Path(output_folder)
        self.device = torch.device(device)
        flush_denormals()  # a trained network's backward pass makes denormals (network/denormals.py)
        self.distributed = distributed or DistributedContext()
        self.precision = resolve_precision(precision, self.device)
        self.grad_scaler = self.precision.grad_scaler()
        self.init_args = {"configuration": configuration, "fold": fold, "device": str(self.device)}
        self.init_args["precision"] = self.precision.name
        self.initialized = False
        self.current_epoch, self.current_iteration = 0, 0
        self.best_validation_loss: float | None = None

    # ----------------------------------------------------------------- hooks
    def configuration_recipe(self) -> TrainingRecipe:
        """The recipe the configuration implies (``CPU_RECIPE`` for CPUs, else the paper's), before the class's
        ``recipe_changes``; ``gdr_train``'s overrides replace fields of ``self.recipe`` afterwards."""
        return configuration_recipe(self.configuration.target_device)

    @property
    def condition_keys(self) -> tuple[str, ...]:
        """Condition inputs in order (the plan's); ``()`` disables conditioning."""
        return tuple(self.configuration.condition_keys)

    @property
    def prediction_spec(self) -> PredictionSpec:
        """The input channels and output meaning (recipe fields), validated; stored in checkpoints."""
        return PredictionSpec(self.recipe.prediction_target, self.recipe.input_channel_names)

    def network_config(self) -> NetworkConfig:
        """The plan's network for this trainer's inputs, conditions and ``noise_units`` (``model.network_builder``)."""
        in_units = self.recipe.noise_units and has_noise_unit_quantities(self.prediction_spec)
        unit = self.noise_unit_sigma() if in_units else None
        return plan_network_config(self.configuration, self.prediction_spec, len(self.condition_keys), unit)

    def noise_unit_sigma(self) -> float:
        """sigma_LD unit of ``noise_units``: the recipe's ``noise_unit``, or when None the median
        ``noise_sigma_ld`` of the fold's training cases (then written into the recipe: checkpoints record it)."""
        unit: float | None = self.recipe.noise_unit
        if unit is None:
            training_cases = self.fold_cases()[0]
            dataset = PreprocessedDataset(self.data_folder, training_cases)
            unit = float(np.median([dataset.properties(case)["noise_sigma_ld"] for case in training_cases]))
            self.recipe = self.recipe.replace(noise_unit=unit)
        return unit

    def build_network(self) -> nn.Module:
        return build_network(self.network_config())

    def configure_optimizer(self) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """Adam and the paper's cosine annealing from ``initial`` to ``final_learning_rate``, stepped per
        iteration (other optimisers and schedules: ``benchmarks/convergence_levers.py``)."""
        recipe = self.recipe
        optimizer = torch.optim.Adam(
            self.network.parameters(), lr=recipe.initial_learning_rate, betas=recipe.adam_betas
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer,
            T_max=recipe.num_epochs * recipe.iterations_per_epoch,
            eta_min=recipe.final_learning_rate,
        )
        return optimizer, scheduler

    def build_loss(self) -> nn.Module:
        return WeightedVoxelLoss("huber", self.recipe.huber_delta, self.recipe.border_voxels)

    def voxel_weights(self, brain_mask: torch.Tensor, enhancement: torch.Tensor) -> torch.Tensor:
        """w (B, 1, D, H, W) from the brain mask and p_SD, both (B, 1, D, H, W)."""
        return voxel_weights(brain_mask, enhancement, self.recipe.lambda1, self.recipe.lambda2)

    def loader_options(self, epoch: int) -> LoaderOptions:
        """Options of the run's loader: the plan's batch per process; batch i of rank r is drawn from
        ``([seed, r] -> seed', i)``, i from the current iteration, so a resumed run continues the stream."""
        recipe = self.recipe
        seed = int(np.random.SeedSequence([recipe.seed, self.distributed.rank]).generate_state(1)[0])
        return LoaderOptions(
            patch_size=self.configuration.patch_size,
            batch_size=self.configuration.batch_size,
            oversample_fraction=recipe.oversample_fraction,
            enhancement_sampling=recipe.enhancement_sampling,
            augmentation=recipe.augmentation,
            num_workers=self.dataloader_workers(),
            seed=seed,
            first_batch=self.current_iteration,
        )

    def dataloader_workers(self) -> int:
        """``num_dataloader_workers``, or when None: 2 on accelerators, 0 on the CPU (where the network's
        threads already use every core; on 2 cores two workers made steps four times slower)."""
        if self.recipe.num_dataloader_workers is not None:
            return self.recipe.num_dataloader_workers
        return 0 if self.device.type == "cpu" else 2

    def split_batch(
        self, batch: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pick channels by name from a loader batch ``{"data": (B, C, D, H, W), "case_ids": [...]}``.

        Returns:
            inputs (B, C_in, D, H, W) (``input_channel_names``), condition (B, K), target (B, 1, D, H, W)
            (y_SD, or x_SD for ``prediction_target = "standard_dose"``), weights (B, 1, D, H, W).
        """
        data = torch.from_numpy(np.ascontiguousarray(batch["data"])).to(self.device)
        inputs = data[:, [self.channel_index[name] for name in self.recipe.input_channel_names]]
        inputs = inputs.contiguous(memory_format=self._memory_format)
        target = self._channel(data, self.prediction_spec.target_channel)
        brain = (self._channel(data, "brain_mask") > 0.5).float()
        weights = self.voxel_weights(brain, self._channel(data, "p_sd"))
        vectors = [self.case_conditions[case] for case in batch["case_ids"]]
        condition = torch.from_numpy(np.stack(vectors).reshape(len(vectors), -1)).to(self.device)
        return inputs, condition, target, weights

    def valid_voxels(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """bool (B, 1, D, H, W): where the scans have data (loss and metrics skip the rest); None: all."""
        return valid_voxels(batch["data"], self.channel_index, self.device)

    def train_step(self, batch: dict[str, Any]) -> float:
        """One optimiser step (autocast per ``self.precision``, loss in float32, clipping); returns the loss."""
        inputs, condition, target, weights = self.split_batch(batch)
        self.optimizer.zero_grad(set_to_none=True)
        with self.precision.autocast():
            prediction = self.model(inputs, condition)
        loss = self.loss(prediction.float(), target, weights, self.valid_voxels(batch))
        self.grad_scaler.scale(loss).backward()
        self.grad_scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.network.parameters(), self.recipe.gradient_clip_norm)
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()
        self.scheduler.step()
        return float(loss.detach())

    @torch.no_grad()
    def validation_step(self, batch: dict[str, Any]) -> torch.Tensor:
        """Sums float64 of ``validation.SUM_SLOTS`` over one batch of validation patches."""
        inputs, condition, target, weights = self.split_batch(batch)
        with self.precision.autocast():
            prediction = self.network(inputs, condition).float()
        valid = self.valid_voxels(batch)
        loss = float(self.loss(prediction, target, weights, valid))
        data = torch.from_numpy(np.ascontiguousarray(batch["data"])).to(self.device)
        brain, enhancement = self._channel(data, "brain_mask"), self._channel(data, "p_sd")
        border = self.recipe.validation_border_voxels
        border = self.recipe.border_voxels if border is None else border
        errors = error_sums(prediction, target, brain, enhancement, border, valid)
        count = torch.tensor([loss * len(inputs), len(inputs)], dtype=torch.float64, device=errors.device)
        return torch.cat([count, errors])

    def on_epoch_end(self, epoch: int, train_loss: float, metrics: dict[str, Any], seconds: float) -> None:
        """Log the epoch, update the best checkpoint and write the latest one (rank 0 only)."""
        validation_loss = metrics["validation_loss"]
        improved = self.best_validation_loss is None or validation_loss < self.best_validation_loss
        if improved:
            self.best_validation_loss = validation_loss
        if not self.distributed.is_main or self.log is None:  # only the main rank keeps a log
            return
        record = {"epoch": epoch, "iteration": self.current_iteration, "train_loss": train_loss, **metrics}
        record |= {"learning_rate": self.scheduler.get_last_lr()[0], "epoch_seconds": seconds}
        self.log.append(record)
        logger.info("%s", epoch_summary(record))
        if improved:
            self.save_checkpoint("best")
        if self.current_iteration in self.recipe.snapshot_iterations:
            path = checkpoints.snapshot_path(self.output_folder, self.current_iteration)
            checkpoints.save_checkpoint(self.checkpoint_state(), path)
        self.save_checkpoint("latest")

    # -------------------------------------------------------------- plumbing
    def initialize(self) -> None:
        """Seed, read the fold's cases, gamma and conditions, build network, optimiser, loss, patches."""
        if self.initialized:
            return
        self._seed_everything()
        self.train_case_ids, self.validation_case_ids = self.fold_cases()
        self.train_dataset = PreprocessedDataset(self.data_folder, self.train_case_ids)
        self.validation_dataset = PreprocessedDataset(self.data_folder, self.validation_case_ids)
        self._check_channels(self.train_dataset.channels)
        properties = {case: self.train_dataset.properties(case) for case in self.train_case_ids}
        self.gamma = reduce_gamma([properties[case]["gamma_statistic"] for case in self.train_case_ids])
        self.condition_normalisation = ConditionNormalisation.from_training_cases(
            properties, self.condition_keys
        )
        ranges_folder = self.output_folder if self.distributed.is_main else None
        self.training_ranges = record_training_ranges(
            properties, self.preprocessed_dataset_folder, ranges_folder
        )
        properties |= {case: self.validation_dataset.properties(case) for case in self.validation_case_ids}
        self.case_conditions = {
            case: self.condition_normalisation.case_vector(props, case) for case, props in properties.items()
        }
        self.network = self.build_network().to(self.device)
        architecture_name(self.network)  # fails now, not after training, where prediction could not load it
        if self.recipe.channels_last:
            self.network = self.network.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
        self.model = wrap_model(self.network, self.distributed, self.device)
        self.optimizer, self.scheduler = self.configure_optimizer()
        self.loss = self.build_loss()
        self.validation_batches = self._validation_batches()
        self.log = TrainingLog(self.output_folder) if self.distributed.is_main else None
        self.initialized = True

    def fold_cases(self) -> tuple[list[str], list[str]]:
        """(training, validation) case ids of this fold from ``splits_final.json``."""
        cases = self.recipe.validation_cases_fold_all
        return fold_case_ids(self.preprocessed_dataset_folder, self.fold, cases)

    def run_training(self, progress: ProgressFactory | None = None) -> None:
        """Train from the current epoch to the recipe's ``num_epochs``, then write ``checkpoint_final.pth``."""
        self.initialize()
        progress = progress or no_progress
        with PatchLoader(self.train_dataset, self.loader_options(self.current_epoch)) as loader:
            for epoch in range(self.current_epoch, self.recipe.num_epochs):
                start = time.perf_counter()
                train_loss = train_epoch(self, epoch, loader, progress)
                metrics = self.validate()
                self.current_epoch = epoch + 1
                self.on_epoch_end(epoch, train_loss, metrics, time.perf_counter() - start)
        if self.distributed.is_main:
            self.save_checkpoint("final")

    def validate(self) -> dict[str, float | None]:
        """Metrics of ``validation.py`` over all ranks' shares of the fixed validation patches."""
        self.network.eval()
        sums = torch.zeros(len(SUM_SLOTS), dtype=torch.float64, device=self.device)
        for batch in self.validation_batches:
            sums += self.validation_step(batch)
        return finalise_metrics(all_reduce_sum(sums, self.distributed).cpu())

    def checkpoint_state(self) -> dict[str, Any]:
        """The checkpoint dict (keys ``checkpoint.CHECKPOINT_KEYS``; ``trainer_state.checkpoint_state``)."""
        return checkpoint_state(self)

    def save_checkpoint(self, kind: checkpoints.CheckpointKind) -> Path:
        path = checkpoints.checkpoint_path(self.output_folder, kind)
        checkpoints.save_checkpoint(self.checkpoint_state(), path)
        return path

    def load_checkpoint(self, path: Path) -> None:
        """Resume from ``path``: recipe, states and RNGs; the next epoch is the stored ``epoch``."""
        resume_from(self, path)

    def restore_settings(self, saved: dict[str, Any], source: str, warn: bool = True) -> None:
        """Take the recipe of a checkpoint's ``trainer_settings`` (``trainer_state.restored_recipe``)."""
        self.recipe = restored_recipe(saved, self.recipe, self.recipe_for(PAPER_RECIPE), source, warn)

    def load_pretrained_weights(self, path: Path) -> None:
        """Copy the network parameters of a checkpoint whose names and shapes match; warn about the rest."""
        self.initialize()
        checkpoints.load_matching_parameters(self.network, path, type(self).__name__)

    def _validation_batches(self) -> LazyValidationBatches:
        """This rank's share of the fixed validation patches, read from disk when validating."""
        patch = self.configuration.patch_size
        positions = validation_patch_positions(
            self.validation_dataset, patch, self.recipe.validation_patches_per_case, self.recipe.seed
        )
        own = positions[self.distributed.rank :: self.distributed.world_size]
        return LazyValidationBatches(self.validation_dataset, own, patch, self.configuration.batch_size)

    def _check_channels(self, channels: Sequence[str]) -> None:
        spec = self.prediction_spec
        required = (*spec.input_channel_names, spec.target_channel, "p_sd", "brain_mask")
        missing = [name for name in dict.fromkeys(required) if name not in channels]
        if missing:
            raise ValueError(
                f"{self.data_folder}: preprocessed data lack channels {missing} (have {list(channels)})"
            )
        self.channel_index = {name: position for position, name in enumerate(channels)}

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last_3d if self.recipe.channels_last else torch.contiguous_format

    def _channel(self, data: torch.Tensor, name: str) -> torch.Tensor:
        """Channel ``name`` of a (B, C, D, H, W) batch as (B, 1, D, H, W)."""
        return data[:, self.channel_index[name]][:, None]

    def _seed_everything(self) -> None:
        random.seed(self.recipe.seed)
        np.random.seed(self.recipe.seed)
        torch.manual_seed(self.recipe.seed)
