"""A case's images on the evaluation grid: grid checks, brain masks, valid-data masks, acquired scans.

Used by ``evaluate_folder`` (which says which file plays which role). The grid is x_PC's when a
pre-contrast folder is given, else the reference's. Every image read must lie on it (:func:`read_on_grid`),
except acquired scans (x_SD, x_LD) that ``acquired_on_grid`` co-registers rigidly to x_PC. Derived images
(brain masks, co-registered scans) go through the evaluation's ``DerivedImageCache``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import read_image
from gdr_toolkit.evaluation.derived_cache import DerivedImageCache

BrainMaskRule = Literal["atlas", "head_threshold"]
GEOMETRY_TOLERANCE = 1e-4  # mm for spacing/origin, absolute for direction cosines
VALID_MASK_SUFFIX = "_valid_mask"  # the predictor's PRED/CASE_valid_mask<ending>


def require_same_grid(
    image: sitk.Image, image_path: Path, reference: sitk.Image, reference_path: Path
) -> None:
    """Raise ValueError naming both files unless the images share size, spacing, origin and direction."""
    checks = (
        ("size", image.GetSize(), reference.GetSize()),
        ("spacing", image.GetSpacing(), reference.GetSpacing()),
        ("origin", image.GetOrigin(), reference.GetOrigin()),
        ("direction", image.GetDirection(), reference.GetDirection()),
    )
    for name, value, expected in checks:
        if len(value) != len(expected) or not np.allclose(value, expected, rtol=0, atol=GEOMETRY_TOLERANCE):
            raise ValueError(
                f"{image_path} and {reference_path} do not share one grid: {name} {tuple(value)} vs "
                f"{tuple(expected)}. Predictions must be written on the reference's (pre-contrast) grid; "
                "for raw acquired scans use coregister_acquired_scans (--coregister)."
            )


def head_threshold_mask(pre_contrast: sitk.Image) -> sitk.Image:
    """Head mask: x_PC > Otsu threshold, largest connected component, holes filled (uint8 0/1)."""
    foreground = sitk.OtsuThreshold(sitk.Cast(pre_contrast, sitk.sitkFloat32), 0, 1)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(foreground), sortByObjectSize=True)
    largest = sitk.Cast(components == 1, sitk.sitkUInt8)
    return sitk.Cast(sitk.BinaryFillhole(largest, fullyConnected=False, foregroundValue=1), sitk.sitkUInt8)


def derive_brain_mask(pre_contrast: sitk.Image, rule: BrainMaskRule) -> sitk.Image:
    """A brain (or head) mask on x_PC's grid by ``rule`` (``evaluate_folder``'s module docstring)."""
    if rule == "head_threshold":
        return head_threshold_mask(pre_contrast)
    from gdr_toolkit.preprocessing.brain_mask import atlas_brain_mask  # noqa: PLC0415  (loads itk-elastix)

    return atlas_brain_mask(pre_contrast).mask


def coregistered_to_pre_contrast(
    moving: sitk.Image, pre_contrast: sitk.Image, brain_mask: sitk.Image
) -> dict[str, sitk.Image]:
    """``moving`` on PC's grid (``image``) and where it has data there (``field_of_view``, uint8)."""
    from gdr_toolkit.preprocessing.coregistration import coregister_to_reference  # noqa: PLC0415

    result = coregister_to_reference(moving, pre_contrast, brain_mask)
    return {"image": result.image, "field_of_view": result.valid_mask}


def read_on_grid(path: Path, reference: sitk.Image, reference_path: Path) -> sitk.Image:
    """The image at ``path``; ValueError naming both files unless it lies on ``reference``'s grid."""
    image = read_image(path)
    require_same_grid(image, path, reference, reference_path)
    return image


@dataclass(frozen=True)
class EvaluationFolders:
    """The folders an evaluation reads (``evaluate_folder``'s module docstring) and its derived-image cache."""

    reference: Path
    prediction: Path
    pre_contrast: Path | None
    lesions: Path | None
    brain_masks: Path | None
    valid_masks: Path | None = None
    cache: DerivedImageCache = DerivedImageCache()


def valid_mask(
    case_id: str,
    folders: EvaluationFolders,
    grid: sitk.Image,
    grid_path: Path,
    ending: str,
    use_prediction_valid_masks: bool,
) -> tuple[np.ndarray | None, str | None]:
    """The case's valid-data mask (bool (z, y, x), intersection of the files found) and the file names,
    or (None, None) when there is no file (valid everywhere)."""
    candidates = []
    if use_prediction_valid_masks:
        candidates.append(folders.prediction / f"{case_id}{VALID_MASK_SUFFIX}{ending}")
    if folders.valid_masks is not None:
        candidates.append(folders.valid_masks / f"{case_id}{ending}")
    found = [path for path in candidates if path.is_file()]
    if not found:
        return None, None
    masks = [sitk.GetArrayFromImage(read_on_grid(path, grid, grid_path)) > 0 for path in found]
    return np.logical_and.reduce(masks), ", ".join(path.name for path in found)


@dataclass(frozen=True)
class CaseBrain:
    """A case's brain mask on the evaluation grid, the files it came from and how (``folder`` or the
    derivation's cache kind)."""

    mask: sitk.Image
    sources: tuple[Path, ...]
    derivation: str


def brain_mask(
    case_id: str,
    folders: EvaluationFolders,
    grid: sitk.Image,
    grid_path: Path,
    ending: str,
    rule: BrainMaskRule,
) -> CaseBrain:
    """The mask of the brain-mask folder, or the one derived from the grid's image by ``rule`` (cached)."""
    if folders.brain_masks is not None:
        path = folders.brain_masks / f"{case_id}{ending}"
        return CaseBrain(read_on_grid(path, grid, grid_path), (path,), "folder")
    kind = f"brain_mask:{rule}:{_mask_settings(rule)}"
    cache = folders.cache if folders.pre_contrast is not None else DerivedImageCache()  # no reuse per model
    derived = cache.images(
        kind, [grid_path], grid, lambda: {"mask": derive_brain_mask(grid, rule)}, ("mask",)
    )
    return CaseBrain(derived["mask"], (grid_path,), kind)


def _mask_settings(rule: BrainMaskRule) -> str:
    """What a derived mask depends on besides x_PC: the atlas rule's options and threshold (cache key)."""
    if rule == "head_threshold":
        return ""
    from gdr_toolkit.atlas import BRAIN_MASK_THRESHOLD  # noqa: PLC0415
    from gdr_toolkit.preprocessing.brain_mask import BrainMaskOptions  # noqa: PLC0415

    return f"{BrainMaskOptions()!r}:template_threshold={BRAIN_MASK_THRESHOLD}"


def acquired_on_grid(
    path: Path,
    grid: sitk.Image,
    grid_path: Path,
    brain: CaseBrain,
    folders: EvaluationFolders,
    coregister: bool,
) -> tuple[sitk.Image, np.ndarray | None]:
    """An acquired scan on the grid and, when ``coregister``-ed (rigidly, to x_PC), its field of view
    there (bool (z, y, x); None: everywhere)."""
    if not coregister:
        return read_on_grid(path, grid, grid_path), None
    from gdr_toolkit.preprocessing.coregistration import CoregistrationOptions  # noqa: PLC0415

    kind = f"coregistered:mask={brain.derivation}:{CoregistrationOptions()!r}"
    registered = folders.cache.images(
        kind,
        [path, grid_path, *brain.sources],
        grid,
        lambda: coregistered_to_pre_contrast(read_image(path), grid, brain.mask),
        ("image", "field_of_view"),
    )
    return registered["image"], sitk.GetArrayFromImage(registered["field_of_view"]) > 0
