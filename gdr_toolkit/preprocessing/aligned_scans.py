"""Every scan of a case on PC's grid with where it has data: the co-registration step of
:func:`~gdr_toolkit.preprocessing.case_preprocessing.preprocess_case` as numpy masks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.preprocessing.coregistration import (
    CoregisteredScan,
    CoregistrationOptions,
    RegistrationQuality,
)
from gdr_toolkit.preprocessing.registration import RegistrationResult
from gdr_toolkit.preprocessing.registration_cache import coregister_or_reuse
from gdr_toolkit.preprocessing.scan_threads import per_scan


@dataclass(frozen=True)
class AlignedScans:
    """Every scan on PC's grid with where it has data.

    Attributes:
        images: scan name -> image on PC's grid (PC itself included).
        brain: (z, y, x) bool brain mask.
        valid: CE scan name -> (z, y, x) bool valid-data mask.
        registrations: atlas (when computed), low_dose[, standard_dose].
        quality: CE scan name -> registration quality.
    """

    images: dict[str, sitk.Image]
    brain: np.ndarray
    valid: dict[str, np.ndarray]
    registrations: dict[str, RegistrationResult]
    quality: dict[str, RegistrationQuality]

    def region(self, name: str) -> np.ndarray:
        """Where the statistics of scan ``name`` are taken: brain & its valid mask (LD's for PC)."""
        return self.brain & self.valid["low_dose" if name == "pre_contrast" else name]

    @property
    def all_valid(self) -> np.ndarray:
        """The stored valid_mask: every CE scan has data."""
        return np.logical_and.reduce(list(self.valid.values()))


def coregister_scans(
    scans: dict[str, sitk.Image],
    brain_mask: sitk.Image,
    options: CoregistrationOptions,
    stored: Mapping[str, RegistrationResult] | None = None,
    resampled: Mapping[str, sitk.Image] | None = None,
) -> AlignedScans:
    """Co-register low_dose (and standard_dose when present) to pre_contrast.

    Args:
        scans: pre_contrast, low_dose[, standard_dose], float32 images on their own grids.
        brain_mask: brain mask on PC's grid (non-zero = brain).
        options: co-registration options.
        stored: registrations to reuse (``registration_cache``): only resampled with and judged.
        resampled: CE scans already resampled onto PC's grid with the ``stored`` registrations (the
            fingerprint's, ``registration_cache``): only judged.

    Returns:
        The scans on PC's grid with their valid masks, registrations (low_dose[, standard_dose]) and
        qualities.

    Raises:
        ValueError: an empty brain mask, or a CE scan whose field of view holds no brain voxel.
    """
    brain = sitk.GetArrayFromImage(brain_mask).astype(bool)
    if not brain.any():
        raise ValueError("brain mask is empty: the atlas registration failed or the given mask has no voxel.")
    aligned = AlignedScans({"pre_contrast": scans["pre_contrast"]}, brain, {}, {}, {})

    def coregistered(name: str) -> CoregisteredScan:
        reuse = (stored or {}).get(name)
        on_grid = (resampled or {}).get(name) if reuse is not None else None
        return coregister_or_reuse(scans[name], scans["pre_contrast"], brain_mask, options, reuse, on_grid)

    names = [name for name in ("low_dose", "standard_dose") if name in scans]
    for name, result in per_scan(coregistered, names).items():  # LD and SD side by side
        aligned.images[name], aligned.registrations[name] = result.image, result.registration
        aligned.quality[name] = result.quality
        aligned.valid[name] = sitk.GetArrayFromImage(result.valid_mask) > 0
        if not (brain & aligned.valid[name]).any():
            raise ValueError(
                f"{name}: its field of view holds no brain voxel after registration to pre_contrast."
            )
    return aligned
