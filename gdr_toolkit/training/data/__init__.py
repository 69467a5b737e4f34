"""Training data: lazy patch reads from preprocessed cases, patch sampling, spatial augmentation, workers."""

from gdr_toolkit.training.data.batch_assembly import (
    PatchDraw,
    assemble_batch,
    draw_patch,
    load_augmented_patch,
)
from gdr_toolkit.training.data.options import AugmentationOptions, LoaderOptions
from gdr_toolkit.training.data.patch_loader import PatchLoader
from gdr_toolkit.training.data.preprocessed_dataset import PreprocessedDataset
from gdr_toolkit.training.data.spatial_augmentation import (
    SpatialParameters,
    apply_spatial_augmentation,
    sample_spatial_parameters,
    source_margin,
)
from gdr_toolkit.training.data.validation_patches import (
    LazyValidationBatches,
    ValidationPatch,
    validation_patch_positions,
    validation_patches,
)

__all__ = [
    "AugmentationOptions",
    "LazyValidationBatches",
    "LoaderOptions",
    "PatchDraw",
    "PatchLoader",
    "PreprocessedDataset",
    "SpatialParameters",
    "ValidationPatch",
    "apply_spatial_augmentation",
    "assemble_batch",
    "draw_patch",
    "load_augmented_patch",
    "sample_spatial_parameters",
    "source_margin",
    "validation_patch_positions",
    "validation_patches",
]
