"""Gaussian-weighted sliding-window inference of a patch network over a whole volume.

The volume (C, D, H, W) is covered by patches of the training patch size whose starts are spaced at most
``step_size * patch`` apart (evenly spread between the first and the last possible start, so the last
patch ends at the volume's edge). Each patch prediction is weighted by a Gaussian importance map (sigma
= patch edge / 8 per axis, peak 1, floored at ``MINIMUM_WEIGHT`` so that no voxel has weight 0): voxels
near a patch's centre, which saw the most context, count most. Weighted predictions and weights are
accumulated in float32 and divided at the end. A volume smaller than the patch along an axis is padded
with zeros (what the network saw beyond the image during training) and the padding is removed again.

Mirroring test-time augmentation averages the predictions of the 8 flips of the three spatial axes
(each flipped back); the condition vector is the same for every flip. With a batch of one patch, two
flips share a forward pass (``MIRRORED_IMAGES_PER_PASS``): on CPU torch runs a single-image 3D
convolution with few channels through a slow im2col path, so a pass of 2 images costs little more than
one of 1 (documentation/benchmarks.md, Inference).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from acvl_utils.cropping_and_padding.padding import pad_nd_image

from gdr_toolkit.network.precision import PrecisionPolicy

PatchNetwork = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SIGMA_FRACTION = 1.0 / 8.0
MINIMUM_WEIGHT = 1e-4
SPATIAL_AXES = (2, 3, 4)
MIRRORED_IMAGES_PER_PASS = 2


@dataclass(frozen=True)
class SlidingWindowOptions:
    """How a volume is tiled and predicted.

    Attributes:
        patch_size: patch (D, H, W) in voxels, the network's training patch.
        step_size: largest distance between neighbouring patch starts as a fraction of the patch, in
            (0, 1]; 0.5 (default) makes every voxel lie in about 2 patches per axis, 1 tiles.
        batch_size: patches per forward pass. On CPU use >= 2: torch runs single-image 3D convolutions
            with few channels through a slow im2col path (batch 2 took less than half the time of
            batch 1 for the CPU-plan network; documentation/benchmarks.md, Inference).
        use_mirroring: average over the 8 flips of the spatial axes (test-time augmentation).
        use_autocast: run the network under ``precision``'s autocast; False forces float32.
        precision: the precision policy (``network.precision``; the predictor takes the checkpoint's).
            Its device type must be the device's; the network's output head runs in float32.
    """

    patch_size: tuple[int, int, int]
    step_size: float = 0.5
    batch_size: int = 1
    use_mirroring: bool = True
    use_autocast: bool = True
    precision: PrecisionPolicy = PrecisionPolicy()

    def __post_init__(self) -> None:
        if len(self.patch_size) != 3 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size must be 3 positive integers (D, H, W), got {self.patch_size}.")
        if not 0.0 < self.step_size <= 1.0:
            raise ValueError(f"step_size must be in (0, 1] (a fraction of the patch), got {self.step_size}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}.")


def inference_tile(
    shape: tuple[int, ...], patch_size: tuple[int, int, int], divisor: int, max_edge: int
) -> tuple[int, int, int]:
    """The tile (D, H, W) to predict a volume of ``shape`` with: as much of it per pass as ``max_edge`` allows.

    The networks are fully convolutional and have no normalisation layers, so a tile larger than the
    training patch is a valid input that gives each voxel more context and the volume fewer overlapping
    passes. Per axis: the volume's extent rounded up to a multiple of ``divisor`` (the network's
    2**(scales - 1)), at most ``max_edge`` rounded down to one, never less than the training patch.
    """
    if divisor < 1 or max_edge < 1:
        raise ValueError(f"divisor and max_edge must be >= 1, got {divisor} and {max_edge}.")
    limit = max(divisor, max_edge // divisor * divisor)
    tile = []
    for extent, patch in zip(shape[-3:], patch_size, strict=True):
        wanted = min(-(-int(extent) // divisor) * divisor, limit)
        tile.append(max(patch, wanted))
    return cast("tuple[int, int, int]", tuple(tile))


def patch_starts(size: int, patch: int, step_size: float) -> list[int]:
    """Starts along one axis of length ``size`` >= ``patch``: first 0, last ``size - patch``, evenly spread.

    The number of patches is the smallest for which the distance between starts is <= step_size * patch.
    """
    if size < patch:
        raise ValueError(f"axis of {size} voxels is smaller than the patch ({patch}); pad it first.")
    span = size - patch
    count = math.ceil(span / (step_size * patch)) + 1 if span > 0 else 1
    if count == 1:
        return [0]
    return [int(round(index * span / (count - 1))) for index in range(count)]


def patch_positions(
    shape: tuple[int, int, int], patch_size: tuple[int, int, int], step_size: float
) -> list[tuple[int, int, int]]:
    """Start corners (z, y, x) of all patches covering a volume of ``shape`` (each axis >= the patch)."""
    starts = [patch_starts(n, p, step_size) for n, p in zip(shape, patch_size, strict=True)]
    return [cast("tuple[int, int, int]", start) for start in itertools.product(*starts)]


def gaussian_importance_map(
    patch_size: tuple[int, int, int], sigma_fraction: float = SIGMA_FRACTION
) -> torch.Tensor:
    """float32 (D, H, W) separable Gaussian centred in the patch, sigma = fraction * edge, peak 1.

    Values are floored at ``MINIMUM_WEIGHT`` so that every voxel of a patch has a positive weight.
    """
    profiles = []
    for edge in patch_size:
        coordinate = np.arange(edge, dtype=np.float64) - (edge - 1) / 2.0
        profiles.append(np.exp(-0.5 * (coordinate / (sigma_fraction * edge)) ** 2))
    weights = profiles[0][:, None, None] * profiles[1][None, :, None] * profiles[2][None, None, :]
    weights /= weights.max()
    return torch.from_numpy(np.maximum(weights, MINIMUM_WEIGHT).astype(np.float32))


def pad_to_patch(
    volume: torch.Tensor, patch_size: tuple[int, int, int]
) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Zero-pad a (C, D, H, W) volume to at least the patch along each axis (split evenly).

    Returns:
        The padded volume (``volume`` itself, not a copy, where no axis is smaller than the patch) and
        the slices (over D, H, W) that recover the original region.
    """
    padded, region = pad_nd_image(volume, patch_size, return_slicer=True)  # centred, as nnU-Net pads
    return padded, tuple(slice(int(axis.start), int(axis.stop)) for axis in region[1:])


def _flip_sets(use_mirroring: bool) -> list[tuple[int, ...]]:
    if not use_mirroring:
        return [()]
    return [axes for count in range(4) for axes in itertools.combinations(SPATIAL_AXES, count)]


def predict_patches(
    network: PatchNetwork, patches: torch.Tensor, condition: torch.Tensor, options: SlidingWindowOptions
) -> torch.Tensor:
    """Network output of a (B, C, D, H, W) batch, averaged over the mirror flips; float32 (B, C_out, D, H, W).

    With mirroring, ``max(1, MIRRORED_IMAGES_PER_PASS // B)`` flips of the batch share a forward pass
    (module docstring); the result does not depend on how the flips are grouped.
    """
    flips = _flip_sets(options.use_mirroring)
    flips_per_pass = max(1, MIRRORED_IMAGES_PER_PASS // len(patches)) if len(flips) > 1 else 1
    total: torch.Tensor | None = None
    for first in range(0, len(flips), flips_per_pass):
        group = flips[first : first + flips_per_pass]
        flipped = [torch.flip(patches, axes) if axes else patches for axes in group]
        images = torch.cat(flipped) if len(flipped) > 1 else flipped[0]
        outputs = _forward(network, images, condition.repeat(len(group), 1), options).chunk(len(group))
        for axes, output in zip(group, outputs, strict=True):
            output = torch.flip(output, axes) if axes else output
            total = output if total is None else total + output
    assert total is not None
    return total / len(flips) if len(flips) > 1 else total


def _forward(
    network: PatchNetwork, images: torch.Tensor, condition: torch.Tensor, options: SlidingWindowOptions
) -> torch.Tensor:
    if not options.use_autocast or options.precision.device_type != images.device.type:
        return network(images, condition).float()
    with options.precision.autocast():
        return network(images, condition).float()


def _batches(positions: list[tuple[int, int, int]], batch_size: int) -> Iterator[list[tuple[int, int, int]]]:
    for first in range(0, len(positions), batch_size):
        yield positions[first : first + batch_size]


def sliding_window_inference(
    network: PatchNetwork,
    volume: torch.Tensor,
    condition: torch.Tensor,
    options: SlidingWindowOptions,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Predict a whole volume patch by patch with Gaussian weighting (module docstring).

    Args:
        network: maps images (B, C, D, H, W) and conditions (B, K) to (B, C_out, D, H, W); in eval mode.
        volume: float tensor (C, D, H, W), any size (padded internally where smaller than the patch).
        condition: float tensor (K,) (K may be 0), the same for every patch.
        options: patch size, step size, batch size, mirroring, autocast.
        device: where the network runs and the accumulators live.

    Returns:
        float32 CPU tensor (C_out, D, H, W), the weighted mean prediction.
    """
    if volume.ndim != 4:
        raise ValueError(f"volume must have shape (C, D, H, W), got {tuple(volume.shape)}.")
    device = torch.device(device)
    padded, region = pad_to_patch(volume.to(device, torch.float32), options.patch_size)
    weights = gaussian_importance_map(options.patch_size).to(device)
    positions = patch_positions(
        cast("tuple[int, int, int]", tuple(padded.shape[1:])), options.patch_size, options.step_size
    )
    condition = condition.float().to(device).reshape(1, -1)
    prediction_sum: torch.Tensor | None = None
    weight_sum = torch.zeros(padded.shape[1:], dtype=torch.float32, device=device)
    with torch.inference_mode():
        for batch in _batches(positions, options.batch_size):
            windows = [_window(start, options.patch_size) for start in batch]
            patches = torch.stack([padded[(slice(None), *window)] for window in windows])
            output = predict_patches(network, patches, condition.expand(len(batch), -1), options)
            if prediction_sum is None:
                prediction_sum = torch.zeros(
                    (output.shape[1], *padded.shape[1:]), dtype=torch.float32, device=device
                )
            for window, patch_output in zip(windows, output, strict=True):
                prediction_sum[(slice(None), *window)].addcmul_(patch_output, weights)
                weight_sum[window] += weights
        assert prediction_sum is not None
        prediction_sum /= weight_sum
    return prediction_sum[(slice(None), *region)].cpu()


def _window(start: tuple[int, int, int], patch_size: tuple[int, int, int]) -> tuple[slice, ...]:
    return tuple(slice(first, first + size) for first, size in zip(start, patch_size, strict=True))
