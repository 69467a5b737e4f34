"""The voxel-weighted contrast-signal loss (documentation/method.md section 4).

loss = mean over the patch interior of w * rho(yhat - y_SD), with the voxel weight
w = b + lambda1 + lambda2 * p_SD (b: brain mask, p_SD: CE mask of eq. 2) and rho the Huber function with
delta = 0.1 (``"huber"``) or the squared error (``"squared"``, an ablation). A margin of
``border_voxels`` voxels at every face of the patch is excluded: the network sees zero padding there.

Reduction: the plain mean over interior voxels, not sum(w * rho) / sum(w). With the plain mean the
lambdas keep their meaning as absolute weights: a background voxel always counts 1 % (lambda1 = 0.01)
of a brain voxel, whatever else is in the batch. Normalising by sum(w) would make a voxel's weight
depend on the patch: in a patch that is mostly outside the head its few background voxels would be
amplified up to 100-fold.

``reduction="weights"`` (an ablation of the loss scale, documentation/convergence.md) divides by the sum
of the weights over the counted voxels instead: sum(w * rho) / sum(w).

Valid-data mask: voxels where a CE scan has no data (outside its field of view, ``valid`` False) get
weight 0 and are not counted by the mean either: the loss is the mean over interior *valid* voxels.
Whatever prediction and target hold there (even NaN) changes neither the loss nor its gradient.
:func:`counted_voxels` does this masking and border cropping for both losses (this one and
``ssim_loss.L1SSIMLoss``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import nn
from torch.nn import functional

ElementwiseLoss = Literal["huber", "squared"]
Reduction = Literal["mean", "weights"]


def voxel_weights(
    brain_mask: torch.Tensor, enhancement: torch.Tensor, lambda1: float, lambda2: float
) -> torch.Tensor:
    """w = b + lambda1 + lambda2 * p_SD (documentation/method.md section 4).

    Args:
        brain_mask: float tensor (B, 1, D, H, W), 1 inside the brain, 0 outside.
        enhancement: float tensor (B, 1, D, H, W), the CE mask p_SD in [0, 1] (eq. 2).
        lambda1: weight of every voxel (background included).
        lambda2: extra weight of enhancing voxels.

    Returns:
        Float tensor (B, 1, D, H, W) of non-negative weights.
    """
    return brain_mask + lambda1 + lambda2 * enhancement


def interior_mask(
    shape: torch.Size | tuple[int, ...], border_voxels: int, device: torch.device
) -> torch.Tensor:
    """Boolean (D, H, W) mask, False within ``border_voxels`` of any face of the last three axes."""
    spatial = tuple(shape[-3:])
    if any(size <= 2 * border_voxels for size in spatial):
        raise ValueError(
            f"patch size {spatial} leaves no interior after excluding a {border_voxels}-voxel border; "
            f"every axis must exceed {2 * border_voxels} voxels"
        )
    mask = torch.zeros(spatial, dtype=torch.bool, device=device)
    inner = slice(border_voxels, -border_voxels if border_voxels else None)
    mask[inner, inner, inner] = True
    return mask


@dataclass(frozen=True)
class CountedVoxels:
    """A loss's inputs with the voxels it counts: the patch interior where the scans have data.

    Attributes:
        prediction, target, weights: float32 (B, 1, D, H, W); 0 where the scans have no data (``valid``
            False), so that garbage there (even NaN) reaches neither a sum, a window nor a gradient.
            Inside the border they keep their values: windowed terms (SSIM) read them.
        interior: bool (D, H, W), False within the border (:func:`interior_mask`).
        counted: bool (B, 1, D, H, W), interior and valid: the voxels a loss term sums and counts.
    """

    prediction: torch.Tensor
    target: torch.Tensor
    weights: torch.Tensor
    interior: torch.Tensor
    counted: torch.Tensor

    def total(self, values: torch.Tensor) -> torch.Tensor:
        """Sum of (B, 1, D, H, W) ``values`` over the counted voxels (0-dim; no gradient elsewhere)."""
        return torch.where(self.counted, values, values.new_zeros(())).sum()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean of (B, 1, D, H, W) ``values`` over the counted voxels (0 when none is counted)."""
        return self.total(values) / self.counted.sum().clamp(min=1)


def counted_voxels(
    prediction: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    valid: torch.Tensor | None,
    border_voxels: int,
) -> CountedVoxels:
    """The shared first step of the masked, border-cropped losses (``loss.py``, ``ssim_loss.py``).

    Args:
        prediction: float tensor (B, 1, D, H, W), yhat.
        target: float tensor (B, 1, D, H, W), y_SD.
        weights: float tensor (B, 1, D, H, W), per-voxel weights.
        valid: bool tensor (B, 1, D, H, W), False where the scans have no data; None: every voxel is valid.
        border_voxels: margin excluded at every face of the patch.

    Raises:
        ValueError: the shapes differ or are not 5D, or the border leaves no interior.
    """
    if not prediction.shape == target.shape == weights.shape or prediction.ndim != 5:
        raise ValueError(
            f"prediction, target and weights must share a (B, 1, D, H, W) shape, got "
            f"{tuple(prediction.shape)}, {tuple(target.shape)} and {tuple(weights.shape)}"
        )
    if valid is not None and valid.shape != prediction.shape:
        raise ValueError(
            f"valid must have the prediction's shape {tuple(prediction.shape)}, got {tuple(valid.shape)}"
        )
    interior = interior_mask(prediction.shape, border_voxels, prediction.device)
    prediction, target, weights = prediction.float(), target.float(), weights.float()
    if valid is None:
        return CountedVoxels(prediction, target, weights, interior, interior.expand(prediction.shape))
    has_data = valid.bool()
    zero = prediction.new_zeros(())
    # torch.where (not a product with 0) so that garbage, even NaN, where there is no data sends no gradient
    return CountedVoxels(
        torch.where(has_data, prediction, zero),
        torch.where(has_data, target, zero),
        torch.where(has_data, weights, zero),
        interior,
        has_data & interior,
    )


class WeightedVoxelLoss(nn.Module):
    """Mean of w * rho(prediction - target) over the patch interior (module docstring).

    Args:
        elementwise: ``"huber"`` (rho = Huber with ``delta``) or ``"squared"`` (rho = squared error).
        delta: Huber threshold in normalised intensity units (0.1 in the paper).
        border_voxels: margin excluded at every face of the patch (8 in the paper).
        reduction: ``"mean"`` over the counted voxels (the paper) or ``"weights"``: divided by sum(w).
    """

    def __init__(
        self,
        elementwise: ElementwiseLoss = "huber",
        delta: float = 0.1,
        border_voxels: int = 8,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if elementwise not in get_args(ElementwiseLoss):
            raise ValueError(f"elementwise must be one of {get_args(ElementwiseLoss)}, got {elementwise!r}")
        if reduction not in get_args(Reduction):
            raise ValueError(f"reduction must be one of {get_args(Reduction)}, got {reduction!r}")
        self.reduction = reduction
        if delta <= 0 or border_voxels < 0:
            raise ValueError(f"need delta > 0 and border_voxels >= 0, got {delta!r} and {border_voxels!r}")
        self.elementwise, self.delta, self.border_voxels = elementwise, delta, border_voxels

    def forward(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        weights: torch.Tensor,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scalar loss.

        Args:
            prediction: float tensor (B, 1, D, H, W), yhat.
            target: float tensor (B, 1, D, H, W), y_SD.
            weights: float tensor (B, 1, D, H, W), w from :func:`voxel_weights`.
            valid: bool tensor (B, 1, D, H, W), False where the scans have no data (excluded from the sum
                and the count); None: every voxel is valid.

        Returns:
            0-dim float32 tensor (0 when no interior voxel is valid).
        """
        voxels = counted_voxels(prediction, target, weights, valid, self.border_voxels)
        weighted = voxels.weights * self._pointwise(voxels.prediction, voxels.target)
        if self.reduction == "weights":
            return voxels.total(weighted) / voxels.total(voxels.weights).clamp(min=1e-12)
        return voxels.mean(weighted)

    def _pointwise(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.elementwise == "huber":
            return functional.huber_loss(prediction, target, reduction="none", delta=self.delta)
        return (prediction - target) ** 2
