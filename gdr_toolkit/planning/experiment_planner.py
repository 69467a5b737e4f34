"""The default experiment planner: spacing, condition keys, noise normalisation, patch, batch, network.

Rules (documentation/plan_and_preprocess.md explains them with examples):
- target spacing (isotropic): median over cases of each PC scan's median voxel size, so a 1 x 1 x 3 mm
  dataset trains at 1 mm and a 0.5 x 0.5 x 1 mm dataset at 0.5 mm;
- condition keys: dose, field strength, relaxivity where every case carries them and they vary;
  sigma_LD always;
- noise normalisation (eq. 1) on unless the median CE/PC voxel-size ratio exceeds 1.5 (the paper turns
  it off when PC and CE resolutions differ strongly);
- per configuration: scales so the bottleneck keeps >= 4 voxels; the patch starts at the median image
  shape (capped per configuration) and its largest axis shrinks until the estimated training memory
  fits the budget; batch size starts at 2 and grows while it fits and one batch covers <= 5 % of the
  dataset's voxels.

A variant is a subclass overriding one attribute or method, registered in ``PLANNERS``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from gdr_toolkit.network.memory_estimate import estimate_training_memory_bytes
from gdr_toolkit.network.unet import NetworkConfig
from gdr_toolkit.planning.planning_inputs import METADATA_CONDITION_KEYS, PlanningInputs
from gdr_toolkit.planning.plans import CONDITION_KEYS_ORDER, ConfigurationPlan, Plans

logger = logging.getLogger(__name__)
GIB = 1024**3


@dataclass(frozen=True)
class ConfigurationSpec:
    """What distinguishes a configuration before fitting.

    Attributes:
        widths: feature channels per scale, finest first.
        target_device: "gpu" (memory-bound: fit the GPU memory target) or "cpu" (compute-bound).
        max_patch_edge: cap per patch axis, voxels.
        max_batch_size: cap on the batch (on CPU the step time, not memory, limits it).
    """

    widths: tuple[int, ...]
    target_device: str
    max_patch_edge: int
    max_batch_size: int = 64


class ExperimentPlanner:
    """Plans ``3d_fullres`` (the paper's network, GPU budget) and ``3d_cpu`` (small, CPU budget)."""

    plans_name = "gdrPlans"
    configuration_specs = {
        "3d_fullres": ConfigurationSpec(widths=(32, 64, 128, 256), target_device="gpu", max_patch_edge=128),
        # 32^3 x 4 beat 48^3 x 2 per CPU-second (documentation/convergence.md): 2.2x faster steps
        "3d_cpu": ConfigurationSpec(
            widths=(16, 32, 64, 128), target_device="cpu", max_patch_edge=32, max_batch_size=4
        ),
    }
    blocks_per_scale = 2
    embedding_features = 128
    default_gpu_memory_gb = 16.0
    cpu_memory_budget_gb = 4.0
    min_bottleneck_voxels = 4
    min_batch_size = 2
    batch_voxel_fraction = 0.05
    noise_normalisation_max_spacing_ratio = 1.5
    local_noise_kernel_mm = 8.0

    def __init__(
        self,
        inputs: PlanningInputs,
        gpu_memory_target_gb: float | None = None,
        target_spacing_mm: float | None = None,
        plans_name: str | None = None,
        noise_normalisation: bool | None = None,
    ) -> None:
        self.inputs = inputs
        self.gpu_memory_target_gb = gpu_memory_target_gb or self.default_gpu_memory_gb
        self.spacing_override = target_spacing_mm
        self.plans_name = plans_name or self.plans_name
        self.noise_normalisation_override = noise_normalisation

    # --- dataset-level decisions -------------------------------------------------------------------
    def target_spacing_mm(self) -> float:
        if self.spacing_override is not None:
            if self.spacing_override <= 0:
                raise ValueError(f"target spacing must be > 0 mm, got {self.spacing_override}.")
            return float(self.spacing_override)
        per_case = [float(np.median(spacing)) for spacing in self.inputs.pre_contrast_spacings_mm]
        return round(float(np.median(per_case)), 3)

    def condition_keys(self) -> tuple[str, ...]:
        used = {
            key
            for key in METADATA_CONDITION_KEYS
            if self.inputs.metadata_present.get(key, False) and self.inputs.metadata_varies.get(key, False)
        }
        return tuple(key for key in CONDITION_KEYS_ORDER if key in used or key == "noise_sigma_ld")

    def use_noise_normalisation(self) -> bool:
        if self.noise_normalisation_override is not None:
            return self.noise_normalisation_override
        return self.inputs.median_spacing_ratio <= self.noise_normalisation_max_spacing_ratio

    def median_image_shape(self, spacing_mm: float) -> tuple[int, int, int]:
        """Median cropped head shape at ``spacing_mm``, voxels (z, y, x)."""
        extents = np.median(np.asarray(self.inputs.head_extents_mm, dtype=float), axis=0)
        return tuple(max(1, int(round(extent / spacing_mm))) for extent in extents)  # type: ignore[return-value]

    def dataset_voxels(self, spacing_mm: float) -> float:
        return float(sum(np.prod(np.asarray(extent) / spacing_mm) for extent in self.inputs.head_extents_mm))

    def memory_budget_bytes(self, spec: ConfigurationSpec) -> int:
        gigabytes = self.gpu_memory_target_gb if spec.target_device == "gpu" else self.cpu_memory_budget_gb
        return int(gigabytes * GIB)

    # --- configuration-level fitting ---------------------------------------------------------------
    def number_of_scales(self, patch_size: Sequence[int], max_scales: int) -> int:
        """Most scales (<= max_scales) for which the smallest patch axis keeps >= 4 bottleneck voxels."""
        fit = 1 + int(math.floor(math.log2(max(min(patch_size), 1) / self.min_bottleneck_voxels)))
        return max(1, min(max_scales, fit))

    def network_config(self, widths: tuple[int, ...], condition_features: int) -> NetworkConfig:
        return NetworkConfig(
            widths=widths,
            blocks_per_scale=self.blocks_per_scale,
            condition_features=condition_features,
            embedding_features=self.embedding_features,
        )

    def initial_patch(self, spec: ConfigurationSpec, median_shape: tuple[int, int, int]) -> list[int]:
        divisor = 2 ** (len(spec.widths) - 1)
        smallest = divisor * self.min_bottleneck_voxels
        return [max(smallest, (min(edge, spec.max_patch_edge) // divisor) * divisor) for edge in median_shape]

    def fit_patch_and_batch(
        self, spec: ConfigurationSpec, median_shape: tuple[int, int, int], dataset_voxels: float, budget: int
    ) -> tuple[tuple[int, int, int], int, NetworkConfig, int]:
        """Shrink the patch until batch 2 fits, then grow the batch; returns patch, batch, network, bytes."""
        conditions = len(self.condition_keys())
        patch = self.initial_patch(spec, median_shape)
        while True:
            scales = self.number_of_scales(patch, len(spec.widths))
            network = self.network_config(spec.widths[:scales], conditions)
            estimate = estimate_training_memory_bytes(
                network, cast("tuple[int, int, int]", tuple(patch)), self.min_batch_size
            )
            divisor = 2 ** (scales - 1)
            if estimate <= budget or max(patch) <= divisor * self.min_bottleneck_voxels:
                break
            largest = int(np.argmax(patch))
            patch[largest] -= divisor
        if estimate > budget:
            logger.warning(
                "even the smallest patch %s needs %.1f GiB > budget %.1f GiB",
                patch,
                estimate / GIB,
                budget / GIB,
            )
        batch = self.min_batch_size
        voxels = float(np.prod(patch))
        while (
            batch < spec.max_batch_size and (batch + 1) * voxels <= self.batch_voxel_fraction * dataset_voxels
        ):
            larger = estimate_training_memory_bytes(
                network, cast("tuple[int, int, int]", tuple(patch)), batch + 1
            )
            if larger > budget:
                break
            batch, estimate = batch + 1, larger
        return tuple(patch), batch, network, estimate  # type: ignore[return-value]

    def plan_configuration(self, name: str, spec: ConfigurationSpec) -> ConfigurationPlan:
        spacing = self.target_spacing_mm()
        median_shape = self.median_image_shape(spacing)
        budget = self.memory_budget_bytes(spec)
        patch, batch, network, estimate = self.fit_patch_and_batch(
            spec, median_shape, self.dataset_voxels(spacing), budget
        )
        return ConfigurationPlan(
            data_identifier=f"{self.plans_name}_{spacing:g}mm",
            spacing_mm=spacing,
            patch_size=patch,
            batch_size=batch,
            network=network.to_json_dict(),
            condition_keys=self.condition_keys(),
            noise_normalisation=self.use_noise_normalisation(),
            local_noise_kernel_mm=self.local_noise_kernel_mm,
            target_device=spec.target_device,  # type: ignore[arg-type]
            memory_budget_bytes=budget,
            estimated_memory_bytes=int(estimate),
            median_image_shape=median_shape,
        )

    def plan(self) -> Plans:
        configurations = {
            name: self.plan_configuration(name, spec) for name, spec in self.configuration_specs.items()
        }
        for name, plan in configurations.items():
            logger.info(
                "%s: spacing %g mm, patch %s, batch %d, scales %d, estimated %.2f GiB of %.1f GiB",
                name,
                plan.spacing_mm,
                plan.patch_size,
                plan.batch_size,
                len(plan.network["widths"]),
                plan.estimated_memory_bytes / GIB,
                plan.memory_budget_bytes / GIB,
            )
        return Plans(
            dataset_name=self.inputs.dataset_name,
            plans_name=self.plans_name,
            planner=type(self).__name__,
            configurations=configurations,
            fingerprint_summary={
                "cases": len(self.inputs.pre_contrast_spacings_mm),
                "median_spacing_ratio": self.inputs.median_spacing_ratio,
                "metadata_present": self.inputs.metadata_present,
                "metadata_varies": self.inputs.metadata_varies,
            },
        )


class ExperimentPlanner_NoNoiseNorm(ExperimentPlanner):  # noqa: N801 (variant naming as nnU-Net)
    """Variant: never apply eq. 1 (the ablation of the paper's noise normalisation)."""

    plans_name = "gdrPlansNoNoiseNorm"

    def use_noise_normalisation(self) -> bool:
        return False


class ExperimentPlanner_LargeGPU(ExperimentPlanner):  # noqa: N801
    """Variant: plan ``3d_fullres`` for a 40 GiB GPU (A40/A100 class) unless told otherwise."""

    plans_name = "gdrPlansLargeGPU"
    default_gpu_memory_gb = 40.0


PLANNERS: dict[str, type[ExperimentPlanner]] = {
    planner.__name__: planner
    for planner in (ExperimentPlanner, ExperimentPlanner_NoNoiseNorm, ExperimentPlanner_LargeGPU)
}


def find_planner(name: str) -> type[ExperimentPlanner]:
    if name not in PLANNERS:
        raise ValueError(f"Unknown planner {name!r}; available: {', '.join(sorted(PLANNERS))}.")
    return PLANNERS[name]
