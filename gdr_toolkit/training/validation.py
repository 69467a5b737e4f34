"""Validation metrics on fixed held-out patches, accumulated as sums (so ranks can add them up).

- ``validation_loss``: the training loss, averaged over the validation patches.
- ``validation_psnr_db``: PSNR inside the brain, 10 * log10(peak^2 / MSE), peak = 1.0 in the normalised
  intensity units of preprocessing (every scan is divided by its 95th percentile inside the brain, so
  brain tissue sits around 1). The error is that of the contrast signal, yhat - y_SD; it equals the
  error of the synthesised image x_PC + yhat against x_PC + y_SD (x_PC cancels), so this is the PSNR_B
  of the synthesised standard dose on the patches (in noise-normalised units when eq. 1 is on). The
  MSE is pooled over all brain voxels of all patches before the logarithm (no infinite per-patch values).
- ``validation_mae_enhancing``: mean |yhat - y_SD| over brain voxels with p_SD > 0.5 (MAE_CE), pooled;
  None when the patches hold no enhancing voxel.
- ``validation_contrast_recovery``: sum of yhat over those enhancing voxels divided by the sum of y_SD
  over them (pooled): the share of the standard dose's enhancement the model recovers, the patch-level
  analogue of the lesion metric c_bar (1 = all of it; 0 = none); None without enhancing voxels.
Both metrics use the patch interior only (the loss's border is excluded), like the loss, and only valid
voxels (where the scans have data, ``training/data/valid_mask.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gdr_toolkit.training.loss import interior_mask

PSNR_PEAK = 1.0
ENHANCING_THRESHOLD = 0.5
SUM_SLOTS = (
    "loss_sum",
    "patches",
    "squared_error_brain",
    "brain_voxels",
    "absolute_error_enhancing",
    "enhancing_voxels",
    "predicted_enhancing",
    "target_enhancing",
)


def error_sums(
    prediction: torch.Tensor,
    target: torch.Tensor,
    brain_mask: torch.Tensor,
    enhancement: torch.Tensor,
    border_voxels: int,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Squared-error and absolute-error sums of one batch, with their voxel counts.

    Args:
        prediction: float tensor (B, 1, D, H, W), yhat.
        target: float tensor (B, 1, D, H, W), y_SD.
        brain_mask: float tensor (B, 1, D, H, W), 1 in the brain.
        enhancement: float tensor (B, 1, D, H, W), p_SD.
        border_voxels: margin excluded at every face.
        valid: bool tensor (B, 1, D, H, W), False where the scans have no data (left out); None: all valid.

    Returns:
        float64 tensor (6,): squared error in the brain, brain voxels, absolute error in enhancing
        brain voxels, enhancing brain voxels, and the sums of yhat and of y_SD over those voxels.
    """
    inside = interior_mask(prediction.shape, border_voxels, prediction.device)
    brain = (brain_mask > 0.5)[..., inside]
    if valid is not None:
        brain = brain & valid.bool()[..., inside]
    enhancing = brain & (enhancement[..., inside] > ENHANCING_THRESHOLD)
    predicted, expected = prediction.double()[..., inside], target.double()[..., inside]
    error = predicted - expected
    return torch.stack(
        [
            (error**2)[brain].sum(),
            brain.sum().double(),
            error.abs()[enhancing].sum(),
            enhancing.sum().double(),
            predicted[enhancing].sum(),
            expected[enhancing].sum(),
        ]
    )


def finalise_metrics(sums: torch.Tensor) -> dict[str, float | None]:
    """Turn the (8,) sums of :data:`SUM_SLOTS` into the metrics of the module docstring."""
    values = dict(zip(SUM_SLOTS, sums.tolist(), strict=True))
    if values["patches"] == 0:
        raise ValueError("no validation patches were evaluated")
    psnr = None
    if values["brain_voxels"] > 0:
        mse = values["squared_error_brain"] / values["brain_voxels"]
        psnr = math.inf if mse == 0 else 10.0 * math.log10(PSNR_PEAK**2 / mse)
    mae = recovery = None
    if values["enhancing_voxels"] > 0:
        mae = values["absolute_error_enhancing"] / values["enhancing_voxels"]
        if values["target_enhancing"] > 0:
            recovery = values["predicted_enhancing"] / values["target_enhancing"]
    return {
        "validation_loss": values["loss_sum"] / values["patches"],
        "validation_psnr_db": psnr,
        "validation_mae_enhancing": mae,
        "validation_contrast_recovery": recovery,
    }


def group_patches(patches: list[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
    """Batches ``{"data": (B, C, D, H, W), "case_ids": [...]}`` of ``batch_size`` (the last may be smaller)
    from patches ``{"data": (C, D, H, W), "case_id": str}``."""
    return [
        {
            "data": np.stack([patch["data"] for patch in patches[start : start + batch_size]]),
            "case_ids": [patch["case_id"] for patch in patches[start : start + batch_size]],
        }
        for start in range(0, len(patches), batch_size)
    ]
