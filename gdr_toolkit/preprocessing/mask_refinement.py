"""Refine an affinely placed atlas brain mask on the scan's own intensities (documentation/registration.md).

An affine atlas fit follows the head's outline (scalp, skull) and the template's average brain, so it is
off wherever a brain is not MNI-like inside its skull: wide CSF spaces, thick slices that smear the
brain's top and bottom, a different shape. The refinement keeps the atlas only as a prior of where the
brain is and lets the scan decide its edge, on an isotropic grid of about 2 mm:

1. search region: the atlas mask dilated by ``search_margin_mm`` (5 mm); core: the atlas mask eroded
   by ``core_depth_mm`` (10 mm), which is brain in any head the affine fit is near;
2. threshold between CSF and brain tissue: Otsu's threshold of the voxels between the core and the
   atlas mask dilated by ``threshold_band_mm`` (10 mm, so that CSF is always sampled) whose values lie
   between ``dark_floor`` (0.15) times the core's median (so skull and air, a third class, do
   not pull the split below CSF) and the core's 99th percentile (so the bright scalp fat does not
   enter), clamped to ``threshold_range`` (0.3-0.85) times the core's median;
3. brain candidate: above the threshold, inside the search region; morphological opening with a ball of
   ``opening_mm`` (4 mm) cuts the thin bridges to scalp, muscle and eyes through the skull;
4. the connected component holding most of the core;
5. closing with a ball of ``closing_mm`` (0 mm: off by default, it added 1-8 % outside the reference
   masks), every hole filled (in 3D and, for holes cut open by the edge of a slab, in each slice along
   the grid's first axis, the scan's slice axis), clipped to the search region.

The atlas mask is kept, and the reason returned, where the premise fails (the median of the band
outside the atlas mask, mostly CSF and skull, is not below the core's: not a T1-weighted contrast)
or the result is implausible against the atlas (volume outside ``volume_ratio_range`` of the atlas
mask's). Pure numerics: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gdr_toolkit.preprocessing.skull_stripped import largest_component


@dataclass(frozen=True)
class RefinementOptions:
    """Distances (mm) and limits of the refinement (module docstring)."""

    search_margin_mm: float = 5.0
    threshold_band_mm: float = 10.0
    core_depth_mm: float = 10.0
    opening_mm: float = 4.0
    closing_mm: float = 0.0
    threshold_range: tuple[float, float] = (0.3, 0.85)
    dark_floor: float = 0.15
    volume_ratio_range: tuple[float, float] = (0.6, 1.3)

    def __post_init__(self) -> None:
        for name in ("search_margin_mm", "threshold_band_mm", "core_depth_mm", "opening_mm", "closing_mm"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 mm, got {getattr(self, name)}.")
        low, high = self.threshold_range
        if not 0.0 < low < high < 1.0:
            raise ValueError(f"threshold_range must satisfy 0 < low < high < 1, got {self.threshold_range}.")


@dataclass(frozen=True)
class RefinedMask:
    """Result of :func:`refine_brain_mask`.

    Attributes:
        mask: bool (z, y, x): the refined mask, or the atlas mask when ``fallback_reason`` is set.
        threshold: the tissue threshold used (scan units), or None when none could be estimated.
        fallback_reason: why the atlas mask was kept, or None when the refined mask is returned.
    """

    mask: np.ndarray
    threshold: float | None
    fallback_reason: str | None


def refine_brain_mask(
    values: np.ndarray,
    atlas_mask: np.ndarray,
    spacing_zyx_mm: tuple[float, float, float],
    options: RefinementOptions | None = None,
) -> RefinedMask:
    """Refine an atlas brain mask on a scan's intensities (T1-weighted: brain brighter than CSF).

    Args:
        values: the scan on an (ideally isotropic, ~2 mm) grid, shape (z, y, x), finite.
        atlas_mask: bool/0-1 (z, y, x): the affinely registered atlas mask on the same grid.
        spacing_zyx_mm: voxel size (mm) along (z, y, x).
        options: distances and limits.

    Returns:
        The refined mask, the threshold, and a fallback reason when the atlas mask was kept.
    """
    options = options or RefinementOptions()
    atlas = np.asarray(atlas_mask).astype(bool)
    if values.shape != atlas.shape:
        raise ValueError(f"values {values.shape} and atlas_mask {atlas.shape} must have the same shape.")
    if not atlas.any():
        return RefinedMask(atlas, None, "the atlas mask is empty")
    reach = max(options.search_margin_mm + options.closing_mm, options.threshold_band_mm)
    pad = int(np.ceil(reach / min(spacing_zyx_mm))) + 1
    box = _box(atlas, pad)  # the work happens in the atlas mask's box plus the reach, zero-padded
    values_p = np.pad(np.asarray(values, dtype=np.float32), pad)[box]
    atlas_p = np.pad(atlas, pad)[box]
    search = _dilate(atlas_p, options.search_margin_mm, spacing_zyx_mm)
    core = _erode(atlas_p, options.core_depth_mm, spacing_zyx_mm)
    if int(core.sum()) < 50:
        core = atlas_p
    band = _dilate(atlas_p, options.threshold_band_mm, spacing_zyx_mm)
    threshold = _tissue_threshold(values_p, band, core, options)
    surroundings = float(np.median(values_p[band & ~atlas_p]))
    level = float(np.median(values_p[core]))
    if surroundings >= level:
        reason = f"the brain (median {level:.4g}) is not brighter than its surroundings (median {surroundings:.4g})"
        return RefinedMask(atlas, threshold, reason)
    candidate = (values_p > threshold) & search
    candidate = _dilate(
        _erode(candidate, options.opening_mm, spacing_zyx_mm), options.opening_mm, spacing_zyx_mm
    )
    brain = _component_holding(candidate, core)
    brain = _erode(_dilate(brain, options.closing_mm, spacing_zyx_mm), options.closing_mm, spacing_zyx_mm)
    brain = _fill_holes(brain) & search
    brain = _unboxed(brain, box, pad, atlas.shape)
    ratio = float(brain.sum()) / float(atlas.sum())
    low, high = options.volume_ratio_range
    if not low <= ratio <= high:
        reason = f"refined volume {ratio:.2f} x the atlas mask's, outside [{low}, {high}]"
        return RefinedMask(atlas, threshold, reason)
    return RefinedMask(brain, threshold, None)


def _box(mask: np.ndarray, pad: int) -> tuple[slice, ...]:
    """Slices of the mask's bounding box grown by ``pad`` voxels, in the array padded by ``pad``."""
    boxes = []
    for axis in range(mask.ndim):
        occupied = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        boxes.append(slice(int(occupied[0]), int(occupied[-1]) + 2 * pad + 1))
    return tuple(boxes)


def _unboxed(boxed: np.ndarray, box: tuple[slice, ...], pad: int, shape: tuple[int, ...]) -> np.ndarray:
    """The boxed result put back into a zero array of the original ``shape``."""
    padded = np.zeros(tuple(n + 2 * pad for n in shape), dtype=bool)
    padded[box] = boxed
    return padded[pad:-pad, pad:-pad, pad:-pad]


def _tissue_threshold(
    values: np.ndarray, band: np.ndarray, core: np.ndarray, options: RefinementOptions
) -> float:
    core_values = values[core]
    level = float(np.median(core_values))
    ceiling = float(np.percentile(core_values, 99))
    low, high = options.threshold_range
    shell = values[band & ~core]
    shell = shell[(shell <= ceiling) & (shell >= options.dark_floor * level)]
    threshold = _otsu(shell) if shell.size >= 100 else 0.5 * level
    return float(np.clip(threshold, low * level, high * level))


def _otsu(samples: np.ndarray, bins: int = 128) -> float:
    """Otsu's threshold: maximises the between-class variance of a 1D sample."""
    counts, edges = np.histogram(samples, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    weight = np.cumsum(counts).astype(np.float64)
    total = weight[-1]
    mean = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight / total - mean) ** 2 / (weight * (total - weight))
    between[~np.isfinite(between)] = -1.0
    return float(edges[int(np.argmax(between)) + 1])


def _dilate(mask: np.ndarray, radius_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    if radius_mm <= 0:
        return mask
    return ndimage.distance_transform_edt(~mask, sampling=spacing) <= radius_mm


def _erode(mask: np.ndarray, radius_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    if radius_mm <= 0:
        return mask
    return ndimage.distance_transform_edt(mask, sampling=spacing) > radius_mm


def _component_holding(candidate: np.ndarray, core: np.ndarray) -> np.ndarray:
    """The connected component of ``candidate`` with the most core voxels (largest if none touches it)."""
    labels, count = ndimage.label(candidate, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return candidate
    overlap = np.bincount(labels[core], minlength=count + 1)
    overlap[0] = 0
    if overlap.max() == 0:
        return largest_component(candidate)
    return labels == int(np.argmax(overlap))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    filled = ndimage.binary_fill_holes(mask)
    for axis_slice in range(filled.shape[0]):
        filled[axis_slice] = ndimage.binary_fill_holes(filled[axis_slice])
    return filled
