"""Is a scan skull-stripped? Exact-zero background around one connected support without a scalp shell.

A skull-stripped scan (BraTS and most public brain datasets) stores the brain and exact zeros elsewhere:
its brain mask is its own support, and registering an atlas to it only loses brain at the edges. Raw
scans can hold exact zeros too (some converters zero the air, as Colin27's ``ch2`` does: 42 % zeros
around one component), so the rule also looks for the scalp/skull shell that every head has and a
stripped brain lacks (documentation/registration.md, "Skull-stripped scans"):

1. more than ``min_zero_fraction`` (30 %) of the voxels are exactly zero;
2. the largest 26-connected component of the non-zero voxels holds more than ``min_largest_share``
   (99 %) of them;
3. no dark shell: in the 2 mm layers between ``shell_depths_mm`` (2-20 mm) under the support's surface,
   no layer has more than ``max_dark_fraction`` (5 %) of its voxels darker than ``dark_level`` (20 %)
   of the support's 90th percentile. A head has its skull (and the CSF and air of the sinuses) there,
   and a raw scan whose field of view ends in exact zeros (an oblique resampling) its noisy air; a
   stripped brain has 0-1 % (Colin27's ``ch2bet``, the BraTS pair).

The rule runs on a copy strided to about 2 mm (``analysis_spacing_mm``), in physical millimetres.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class SkullStrippedOptions:
    """Thresholds of the rule (module docstring)."""

    min_zero_fraction: float = 0.30
    min_largest_share: float = 0.99
    max_dark_fraction: float = 0.05
    dark_level: float = 0.20
    shell_depths_mm: tuple[float, float] = (2.0, 20.0)
    analysis_spacing_mm: float = 2.0


@dataclass(frozen=True)
class SkullStrippedCheck:
    """The measured quantities and the decision.

    Attributes:
        zero_fraction: share of all voxels that are exactly 0.
        largest_share: share of the non-zero voxels in the largest connected component.
        dark_shell_fraction: the largest share of dark voxels over the shell layers (0 when the
            support is too thin to have layers).
        skull_stripped: all three criteria met.
    """

    zero_fraction: float
    largest_share: float
    dark_shell_fraction: float
    skull_stripped: bool

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_skull_stripped(
    values: np.ndarray,
    spacing_zyx_mm: tuple[float, float, float],
    options: SkullStrippedOptions | None = None,
) -> SkullStrippedCheck:
    """Apply the rule to a scan.

    Args:
        values: the scan, shape (z, y, x), any real dtype, finite.
        spacing_zyx_mm: voxel size in mm along (z, y, x).
        options: thresholds; defaults as documented.

    Returns:
        The three measured quantities and the decision.
    """
    options = options or SkullStrippedOptions()
    steps = tuple(max(1, int(round(options.analysis_spacing_mm / s))) for s in spacing_zyx_mm)
    coarse = np.asarray(values)[:: steps[0], :: steps[1], :: steps[2]]
    spacing = tuple(s * k for s, k in zip(spacing_zyx_mm, steps, strict=True))
    support = coarse != 0
    zero_fraction = 1.0 - float(support.mean())
    if zero_fraction <= options.min_zero_fraction or not support.any():
        return SkullStrippedCheck(zero_fraction, 0.0, 0.0, False)
    largest = largest_component(support)
    largest_share = float(largest.sum()) / float(support.sum())
    dark = _dark_shell_fraction(coarse, ndimage.binary_fill_holes(largest), spacing, options)
    stripped = largest_share > options.min_largest_share and dark <= options.max_dark_fraction
    return SkullStrippedCheck(zero_fraction, largest_share, dark, bool(stripped))


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a boolean mask (all False for an empty mask)."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return np.zeros(mask.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def support_mask(values: np.ndarray) -> np.ndarray:
    """The brain mask of a skull-stripped scan: its largest non-zero component with holes filled (bool)."""
    return ndimage.binary_fill_holes(largest_component(np.asarray(values) != 0))


def _dark_shell_fraction(
    values: np.ndarray, support: np.ndarray, spacing: tuple[float, ...], options: SkullStrippedOptions
) -> float:
    depth = ndimage.distance_transform_edt(support, sampling=spacing)
    inner, outer = options.shell_depths_mm
    dark = values < options.dark_level * float(np.percentile(values[support], 90))
    fractions = [
        float(dark[layer].mean())
        for start in np.arange(inner, outer, 2.0)
        if (layer := (depth > start) & (depth <= start + 2.0)).any()
    ]
    return max(fractions, default=0.0)
