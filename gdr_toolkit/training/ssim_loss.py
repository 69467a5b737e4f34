"""L1 + SSIM loss of the 2.5D direct-regression baseline (after Pasumarthi et al. / Gong et al.).

loss = l1_weight * mean |prediction - target| + (1 - l1_weight) * (1 - SSIM), both over the patch
interior (``border_voxels`` excluded at every face, as the contrast-signal loss).

SSIM (Wang et al. 2004) is two-dimensional, per depth slice (the first spatial axis, the slicing axis
of ``SliceStackUNet``): local means, variances and the covariance with an 11 x 11 Gaussian window of
standard deviation 1.5 pixels (normalised, zero padding), C1 = (0.01 L)^2, C2 = (0.03 L)^2. The SSIM map is
averaged over the interior voxels, so a border of at least 5 pixels keeps the zero padding out of it.

Data range L per batch item: max - min of the target over the patch interior, but at least
``minimum_data_range`` (default 1.0, in the normalised units where brain tissue's 95th percentile is 1).
The floor keeps C1 and C2 from vanishing on patches of background only, where SSIM would otherwise
reward matching pure noise.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from gdr_toolkit.training.loss import counted_voxels

SSIM_K1, SSIM_K2 = 0.01, 0.03


def gaussian_window_2d(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """float32 (1, 1, size, size) normalised Gaussian window (sums to 1)."""
    coordinate = torch.arange(size, dtype=torch.float32) - (size - 1) / 2.0
    profile = torch.exp(-0.5 * (coordinate / sigma) ** 2)
    profile = profile / profile.sum()
    return (profile[:, None] * profile[None, :])[None, None]


def ssim_map_2d(
    prediction: torch.Tensor, target: torch.Tensor, data_range: torch.Tensor, window: torch.Tensor
) -> torch.Tensor:
    """Slice-wise SSIM map.

    Args:
        prediction, target: float tensors (B, 1, D, H, W); every depth slice is one 2D image.
        data_range: float tensor (B,), L per batch item.
        window: (1, 1, k, k) Gaussian window.

    Returns:
        Float tensor (B, 1, D, H, W) of local SSIM values.
    """
    batch, _, depth, height, width = prediction.shape
    images = torch.stack([prediction, target]).transpose(2, 3).reshape(2 * batch * depth, 1, height, width)
    padding = window.shape[-1] // 2

    def local_mean(values: torch.Tensor) -> torch.Tensor:
        return functional.conv2d(values, window.to(values), padding=padding)

    means = local_mean(images).reshape(2, batch * depth, 1, height, width)
    squares = local_mean(images**2).reshape(2, batch * depth, 1, height, width)
    flat = images.reshape(2, batch * depth, 1, height, width)
    cross = local_mean(flat[0] * flat[1])
    range_per_slice = data_range.repeat_interleave(depth)[:, None, None, None]
    c1, c2 = (SSIM_K1 * range_per_slice) ** 2, (SSIM_K2 * range_per_slice) ** 2
    mean_p, mean_t = means[0], means[1]
    variance_p, variance_t = squares[0] - mean_p**2, squares[1] - mean_t**2
    covariance = cross - mean_p * mean_t
    ssim = ((2 * mean_p * mean_t + c1) * (2 * covariance + c2)) / (
        (mean_p**2 + mean_t**2 + c1) * (variance_p + variance_t + c2)
    )
    return ssim.reshape(batch, depth, 1, height, width).transpose(1, 2)


class L1SSIMLoss(nn.Module):
    """``l1_weight * L1 + (1 - l1_weight) * (1 - SSIM)`` over the patch interior (module docstring).

    Args:
        border_voxels: margin excluded at every face of the patch.
        l1_weight: weight of the L1 term in [0, 1] (0.5: equal weights).
        window_size: odd Gaussian window edge in pixels (11).
        window_sigma: Gaussian standard deviation in pixels (1.5).
        minimum_data_range: floor of the data range L, normalised intensity units (1.0).
    """

    window: torch.Tensor  # registered buffer

    def __init__(
        self,
        border_voxels: int = 8,
        l1_weight: float = 0.5,
        window_size: int = 11,
        window_sigma: float = 1.5,
        minimum_data_range: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= l1_weight <= 1.0 or border_voxels < 0:
            raise ValueError(
                f"need 0 <= l1_weight <= 1 and border_voxels >= 0, got {l1_weight}, {border_voxels}"
            )
        if window_size < 1 or window_size % 2 == 0 or window_sigma <= 0 or minimum_data_range <= 0:
            raise ValueError(
                f"need an odd window_size >= 1, window_sigma > 0 and minimum_data_range > 0, got "
                f"{window_size}, {window_sigma}, {minimum_data_range}"
            )
        self.border_voxels, self.l1_weight = border_voxels, l1_weight
        self.minimum_data_range = minimum_data_range
        self.register_buffer("window", gaussian_window_2d(window_size, window_sigma), persistent=False)

    def forward(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        weights: torch.Tensor,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scalar loss of (B, 1, D, H, W) prediction and target; ``weights`` (same shape) weigh the L1 term.

        ``valid`` (bool, same shape; None: all valid) marks where the scans have data: elsewhere prediction
        and target are set to 0 before the SSIM windows see them and neither term counts those voxels.
        """
        voxels = counted_voxels(prediction, target, weights, valid, self.border_voxels)
        l1 = voxels.mean(voxels.weights * (voxels.prediction - voxels.target).abs())
        interior_target = voxels.target[..., voxels.interior].reshape(len(voxels.target), -1)
        spread = interior_target.amax(dim=1) - interior_target.amin(dim=1)
        data_range = spread.clamp(min=self.minimum_data_range).detach()
        ssim = voxels.mean(ssim_map_2d(voxels.prediction, voxels.target, data_range, self.window))
        return self.l1_weight * l1 + (1.0 - self.l1_weight) * (1.0 - ssim)
