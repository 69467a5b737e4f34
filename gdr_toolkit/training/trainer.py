"""``GDRTrainer``: the training of documentation/method.md section 4 as hook methods a variant overrides.

Hooks (override one at a time in a subclass, see ``variants/`` and documentation/training.md):
``condition_keys``, ``network_config``, ``build_network``, ``configure_optimizer``, ``build_loss``,
``voxel_weights``, ``loader_options``, ``dataloader_workers``, ``split_batch``, ``train_step``, ``validation_step``,
``on_epoch_end``. Settings are class attributes (``num_epochs``, ``iterations_per_epoch``, ...).
Checkpoint I/O, the training log, DDP and the trainer registry live in their own modules.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from gdr_toolkit.network.precision import resolve_precision
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig
from gdr_toolkit.planning.plans import Plans
from gdr_toolkit.planning.splits import fold_case_ids
from gdr_toolkit.preprocessing.contrast_target import reduce_gamma
from gdr_toolkit.training import checkpoint as checkpoints
from gdr_toolkit.training.conditions import ConditionNormalisation
from gdr_toolkit.training.data import (
    LazyValidationBatches,
    LoaderOptions,
    PatchLoader,
    PreprocessedDataset,
    validation_patch_positions,
)
from gdr_toolkit.training.data.options import AugmentationOptions
from gdr_toolkit.training.data.patch_sampling import EnhancementSampling
from gdr_toolkit.training.data.valid_mask import valid_voxels
from gdr_toolkit.training.distributed import DistributedContext, all_reduce_sum, wrap_model
from gdr_toolkit.training.learning_rate import Schedule, learning_rate_factor
from gdr_toolkit.training.loss import Reduction, WeightedVoxelLoss, voxel_weights
from gdr_toolkit.training.prediction_spec import CONTRAST_SIGNAL_INPUTS, PredictionSpec, PredictionTarget
from gdr_toolkit.training.recipe import CPU_RECIPE, set_by_variant
from gdr_toolkit.training.training_log import TrainingLog
from gdr_toolkit.training.training_ranges import CHECKPOINT_KEY as RANGES_KEY
from gdr_toolkit.training.training_ranges import record_training_ranges
from gdr_toolkit.training.validation import SUM_SLOTS, error_sums, finalise_metrics

logger = logging.getLogger(__name__)
Fold = int | Literal["all"]
ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager[Any]]
INPUT_CHANNELS = CONTRAST_SIGNAL_INPUTS
NOISE_UNIT_CHANNELS = frozenset({"z_ld", "s_ld"})  # inputs in units of sigma_LD with ``noise_units``
_NO_PROGRESS_BAR = SimpleNamespace(update=lambda count=1: None)
SAVED_SETTINGS = (
    "num_epochs", "iterations_per_epoch", "validation_patches_per_case", "initial_learning_rate",
    "final_learning_rate", "gradient_clip_norm", "oversample_fraction", "seed", "lambda1", "lambda2",
    "huber_delta", "border_voxels", "warmup_iterations", "learning_rate_schedule", "optimizer_name",
    "weight_decay", "loss_reduction", "noise_units", "noise_unit", "validation_border_voxels", "channels_last",
    "enhancement_sampling",
)  # fmt: skip


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

    num_epochs: int = 1000
    iterations_per_epoch: int = 250
    validation_patches_per_case: int = 8
    validation_cases_fold_all: int = 3
    initial_learning_rate: float = 1e-4
    final_learning_rate: float = 1e-6
    adam_betas: tuple[float, float] = (0.9, 0.999)
    warmup_iterations: int = 0  # linear warm-up (``learning_rate.py``); 0 with "cosine": the paper's schedule
    learning_rate_schedule: Schedule = "cosine"
    optimizer_name: Literal["adam", "adamw"] = "adam"
    weight_decay: float = 0.0  # decoupled (AdamW) weight decay
    gradient_clip_norm: float | None = 1.0  # None: no clipping
    oversample_fraction: float = 0.33
    enhancement_sampling: EnhancementSampling = "voxel"  # "structure": each enhancing structure equally often
    num_dataloader_workers: int | None = None
    seed: int = 0
    lambda1: float = 0.01
    lambda2: float = 1.0
    huber_delta: float = 0.1
    border_voxels: int = 8
    loss_reduction: Reduction = "mean"  # "weights": sum(w * rho) / sum(w) (loss.py)
    augmentation: AugmentationOptions = AugmentationOptions()
    noise_units: bool = False  # inputs z_LD, s_LD and the output in units of sigma_LD (network_config)
    noise_unit: float | None = None  # that unit; None: measured from the fold's training cases
    validation_border_voxels: int | None = None  # margin of the validation metrics (None: border_voxels)
    snapshot_iterations: tuple[int, ...] = ()  # also keep checkpoint_iteration_N.pth at these iterations
    channels_last: bool = False  # network weights and batches in torch.channels_last_3d (same values)
    prediction_target: PredictionTarget = "contrast_signal"  # what the output means (prediction_spec.py)
    input_channel_names: tuple[str, ...] = INPUT_CHANNELS

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
        for name, value in self.configuration_recipe().items():
            if not set_by_variant(type(self), name, GDRTrainer):
                setattr(self, name, value)
        self.preprocessed_dataset_folder = Path(preprocessed_dataset_folder)
        self.data_folder = self.preprocessed_dataset_folder / self.configuration.data_identifier
        self.output_folder = Path(output_folder)
        self.device = torch.device(device)
        self.distributed = distributed or DistributedContext()
        self.precision = resolve_precision(precision, self.device)
        self.grad_scaler = self.precision.grad_scaler()
        self.init_args = {"configuration": configuration, "fold": fold, "device": str(self.device)}
        self.init_args["precision"] = self.precision.name
        self.initialized = False
        self.current_epoch, self.current_iteration = 0, 0
        self.best_validation_loss: float | None = None

    # ----------------------------------------------------------------- hooks
    def configuration_recipe(self) -> dict[str, Any]:
        """Settings the configuration implies: ``CPU_RECIPE`` for one planned for CPUs, none otherwise.

        Applied in ``__init__`` to every setting that no variant class between ``GDRTrainer`` and this
        class sets itself (a variant's own change wins; ``gdr_train``'s overrides win over both).
        """
        return dict(CPU_RECIPE) if self.configuration.target_device == "cpu" else {}

    @property
    def condition_keys(self) -> tuple[str, ...]:
        """Condition inputs in order (the plan's); ``()`` disables conditioning."""
        return tuple(self.configuration.condition_keys)

    @property
    def prediction_spec(self) -> PredictionSpec:
        """The input channels and output meaning (class attributes), validated; stored in checkpoints."""
        return PredictionSpec(self.prediction_target, tuple(self.input_channel_names))

    def network_config(self) -> NetworkConfig:
        """The plan's network; ``condition_features`` and ``input_channels`` match this trainer's.

        With ``noise_units`` the network's fixed input factors divide z_LD and s_LD by the median sigma_LD
        of the training cases and its output is multiplied by it: the layers work in units of the low
        dose's noise, where inputs and target are of order one (documentation/convergence.md). Models of
        images (direct regression: no z_LD or s_LD input, x_SD output) have nothing in those units.
        """
        record = {**self.configuration.network, "condition_features": len(self.condition_keys)}
        record["input_channels"] = len(self.input_channel_names)
        in_noise_units = NOISE_UNIT_CHANNELS & set(self.input_channel_names)
        if self.noise_units and (in_noise_units or self.prediction_target == "contrast_signal"):
            unit = self.noise_unit_sigma()
            record["input_scales"] = [
                1.0 / unit if name in NOISE_UNIT_CHANNELS else 1.0 for name in self.input_channel_names
            ]
            record["output_scale"] = unit if self.prediction_target == "contrast_signal" else 1.0
        return NetworkConfig.from_json_dict(record)

    def noise_unit_sigma(self) -> float:
        """sigma_LD unit of ``noise_units``: ``noise_unit``, or when None the median ``noise_sigma_ld`` of the
        fold's training cases (then kept in ``noise_unit``, so checkpoints record it)."""
        unit: float | None = self.noise_unit
        if unit is None:
            training_cases = self.fold_cases()[0]
            dataset = PreprocessedDataset(self.data_folder, training_cases)
            unit = float(np.median([dataset.properties(case)["noise_sigma_ld"] for case in training_cases]))
            self.noise_unit = unit
        return unit

    def build_network(self) -> nn.Module:
        return ConditionalUNet(self.network_config())

    def configure_optimizer(self) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """Adam (or AdamW) and a schedule from ``initial`` to ``final_learning_rate``, stepped per iteration:
        the paper's cosine annealing, or with a warm-up / polynomial decay ``learning_rate.py``'s factor."""
        total = self.num_epochs * self.iterations_per_epoch
        parameters, peak = self.network.parameters(), self.initial_learning_rate
        if self.optimizer_name == "adamw":
            optimizer: torch.optim.Optimizer = torch.optim.AdamW(
                parameters, lr=peak, betas=self.adam_betas, weight_decay=self.weight_decay
            )
        else:
            optimizer = torch.optim.Adam(
                parameters, lr=peak, betas=self.adam_betas, weight_decay=self.weight_decay
            )
        if self.warmup_iterations == 0 and self.learning_rate_schedule == "cosine":
            scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=total, eta_min=self.final_learning_rate
            )
        else:
            final_ratio = min(1.0, self.final_learning_rate / peak)
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer,
                lambda iteration: learning_rate_factor(
                    iteration, total, self.warmup_iterations, self.learning_rate_schedule, final_ratio
                ),
            )
        return optimizer, scheduler

    def build_loss(self) -> nn.Module:
        return WeightedVoxelLoss("huber", self.huber_delta, self.border_voxels, self.loss_reduction)

    def voxel_weights(self, brain_mask: torch.Tensor, enhancement: torch.Tensor) -> torch.Tensor:
        """w (B, 1, D, H, W) from the brain mask and p_SD, both (B, 1, D, H, W)."""
        return voxel_weights(brain_mask, enhancement, self.lambda1, self.lambda2)

    def loader_options(self, epoch: int) -> LoaderOptions:
        """Options of the run's loader: the plan's batch per process; batch i of rank r is drawn from
        ``([seed, r] -> seed', i)``, i from the current iteration, so a resumed run continues the stream."""
        seed = int(np.random.SeedSequence([self.seed, self.distributed.rank]).generate_state(1)[0])
        return LoaderOptions(
            patch_size=self.configuration.patch_size,
            batch_size=self.configuration.batch_size,
            oversample_fraction=self.oversample_fraction,
            enhancement_sampling=self.enhancement_sampling,
            augmentation=self.augmentation,
            num_workers=self.dataloader_workers(),
            seed=seed,
            first_batch=self.current_iteration,
        )

    def dataloader_workers(self) -> int:
        """``num_dataloader_workers``, or when None: 2 on accelerators, 0 on the CPU (where the network's
        threads already use every core; on 2 cores two workers made steps four times slower)."""
        if self.num_dataloader_workers is not None:
            return self.num_dataloader_workers
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
        inputs = data[:, [self.channel_index[name] for name in self.input_channel_names]]
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
        if self.gradient_clip_norm is not None:
            nn.utils.clip_grad_norm_(self.network.parameters(), self.gradient_clip_norm)
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
        border = (
            self.border_voxels if self.validation_border_voxels is None else self.validation_border_voxels
        )
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
        logger.info(
            "epoch %d: train loss %.5f, validation loss %.5f, PSNR_B %s dB, lr %.3g, %.1f s",
            epoch, train_loss, validation_loss, _format(metrics["validation_psnr_db"]),
            record["learning_rate"], seconds,
        )  # fmt: skip
        if improved:
            self.save_checkpoint("best")
        if self.current_iteration in self.snapshot_iterations:
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
        if self.channels_last:
            self.network = self.network.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
        self.model = wrap_model(self.network, self.distributed, self.device)
        self.optimizer, self.scheduler = self.configure_optimizer()
        self.loss = self.build_loss()
        self.validation_batches = self._validation_batches()
        self.log = TrainingLog(self.output_folder) if self.distributed.is_main else None
        self.initialized = True

    def fold_cases(self) -> tuple[list[str], list[str]]:
        """(training, validation) case ids of this fold from ``splits_final.json``."""
        return fold_case_ids(self.preprocessed_dataset_folder, self.fold, self.validation_cases_fold_all)

    def run_training(self, progress: ProgressFactory | None = None) -> None:
        """Train from the current epoch to ``num_epochs``, then write ``checkpoint_final.pth``."""
        self.initialize()
        progress = progress or (lambda description, total: contextlib.nullcontext(_NO_PROGRESS_BAR))
        with PatchLoader(self.train_dataset, self.loader_options(self.current_epoch)) as loader:
            for epoch in range(self.current_epoch, self.num_epochs):
                start = time.perf_counter()
                train_loss = self._train_epoch(epoch, loader, progress)
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
        """The checkpoint dict (keys ``checkpoint.CHECKPOINT_KEYS``)."""
        return {
            "format_version": checkpoints.CHECKPOINT_FORMAT_VERSION,
            "trainer_name": type(self).__name__,
            "plans": json.loads(json.dumps(self.plans.to_json_dict())),
            "configuration": self.configuration_name,
            "fold": self.fold,
            "init_args": dict(self.init_args),
            "precision": self.precision.name,
            "trainer_settings": {name: getattr(self, name) for name in SAVED_SETTINGS},
            "network_architecture": type(self.network).__name__,
            "network_config": self.network.config.to_json_dict(),  # type: ignore[union-attr, operator]  # every architecture has one
            **self.prediction_spec.to_json_dict(),
            "condition_keys": list(self.condition_keys),
            "condition_normalisation": self.condition_normalisation.to_json_dict(),
            "gamma": self.gamma,
            RANGES_KEY: self.training_ranges.to_json_dict(),  # optional key: the out-of-distribution check
            "train_case_ids": list(self.train_case_ids),
            "validation_case_ids": list(self.validation_case_ids),
            "epoch": self.current_epoch,
            "iteration": self.current_iteration,
            "best_validation_loss": self.best_validation_loss,
            "network_state": self.network.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict(),
            "grad_scaler_state": self.grad_scaler.state_dict(),
            "rng_state": checkpoints.capture_rng_state(),
        }

    def save_checkpoint(self, kind: checkpoints.CheckpointKind) -> Path:
        path = checkpoints.checkpoint_path(self.output_folder, kind)
        checkpoints.save_checkpoint(self.checkpoint_state(), path)
        return path

    def load_checkpoint(self, path: Path) -> None:
        """Resume from ``path``: settings, states and RNGs; the next epoch is the stored ``epoch``."""
        checkpoint = checkpoints.load_checkpoint(path)
        if checkpoint["trainer_name"] != type(self).__name__:
            raise ValueError(f"{path} was written by {checkpoint['trainer_name']}, not {type(self).__name__}")
        self.restore_settings(checkpoint["trainer_settings"], str(path))
        self.initialize()
        self.network.load_state_dict(checkpoint["network_state"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        self.scheduler.load_state_dict(checkpoint["scheduler_state"])
        if checkpoint["grad_scaler_state"]:
            self.grad_scaler.load_state_dict(checkpoint["grad_scaler_state"])
        self.current_epoch, self.current_iteration = checkpoint["epoch"], checkpoint["iteration"]
        self.best_validation_loss = checkpoint["best_validation_loss"]
        checkpoints.restore_rng_state(checkpoint["rng_state"])
        if self.log is not None:
            self.log.truncate(self.current_epoch)
        logger.info("resumed %s at epoch %d, iteration %d", path, self.current_epoch, self.current_iteration)

    def restore_settings(self, saved: dict[str, Any], source: str, warn: bool = True) -> None:
        """Take the settings a checkpoint was trained with (its ``trainer_settings``). A setting the checkpoint
        predates takes this class's own value, which is what trained it, not the configuration's recipe."""
        for name in dict.fromkeys([*saved, *SAVED_SETTINGS]):
            value = saved[name] if name in saved else getattr(type(self), name)
            if warn and getattr(self, name) != value:
                logger.warning(
                    "%s: %s = %r from the checkpoint (was %r)", source, name, value, getattr(self, name)
                )
            setattr(self, name, value)

    def load_pretrained_weights(self, path: Path) -> None:
        """Copy the network parameters of a checkpoint whose names and shapes match; warn about the rest."""
        self.initialize()
        checkpoints.load_matching_parameters(self.network, path, type(self).__name__)

    def _train_epoch(self, epoch: int, loader: PatchLoader, progress: ProgressFactory) -> float:
        self.network.train()
        losses = []
        with progress(f"epoch {epoch + 1}/{self.num_epochs}", self.iterations_per_epoch) as bar:
            for _ in range(self.iterations_per_epoch):
                losses.append(self.train_step(next(loader)))
                self.current_iteration += 1
                bar.update(1)
        totals = torch.tensor([sum(losses), len(losses)], dtype=torch.float64, device=self.device)
        totals = all_reduce_sum(totals, self.distributed)
        return float(totals[0] / totals[1])

    def _validation_batches(self) -> LazyValidationBatches:
        """This rank's share of the fixed validation patches, read from disk when validating."""
        patch = self.configuration.patch_size
        positions = validation_patch_positions(
            self.validation_dataset, patch, self.validation_patches_per_case, self.seed
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
        return torch.channels_last_3d if self.channels_last else torch.contiguous_format

    def _channel(self, data: torch.Tensor, name: str) -> torch.Tensor:
        """Channel ``name`` of a (B, C, D, H, W) batch as (B, 1, D, H, W)."""
        return data[:, self.channel_index[name]][:, None]

    def _seed_everything(self) -> None:
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
