"""One training case's fingerprint: geometry, intensities, noise, brain and head size, metadata.

The brain mask, the co-registration, the intensity scales and the noise level sigma_LD are those of
:func:`~gdr_toolkit.preprocessing.case_preprocessing.preprocess_case` run as at inference (the same
``align_scans`` and ``normalise_scans`` steps, the same estimator), so the fingerprint sees exactly what
preprocessing and prediction will see; it computes only what it keeps (issue 26): no local noise
statistics, no eq. 1, no target. SD, when the case has one, is co-registered in the same step. Intensity
percentiles are of the raw scans (their own units) on PC's grid: PC's inside the brain mask, a CE scan's
inside the brain mask and its own field of view.

Given a ``registration_folder``, the brain mask, every registration found here (atlas, LD -> PC,
SD -> PC) and LD and SD as resampled onto PC's grid are stored there (``registration_cache``), so that
preprocessing neither runs elastix nor resamples again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import check_finite, image_from_array, read_image
from gdr_toolkit.dataset.metadata import CaseMetadata, load_case_metadata
from gdr_toolkit.dataset.raw_layout import RawCase
from gdr_toolkit.fingerprint.head_extent import head_extent
from gdr_toolkit.preprocessing.aligned_scans import AlignedScans
from gdr_toolkit.preprocessing.case_preprocessing import (
    CasePreprocessingOptions,
    align_scans,
    normalise_scans,
)
from gdr_toolkit.preprocessing.noise import estimate_noise_sigma, subtraction_image
from gdr_toolkit.preprocessing.registration_cache import write_registrations

logger = logging.getLogger(__name__)

INTENSITY_PERCENTILES = (0.5, 50.0, 95.0, 99.5)
SCAN_NAMES = ("pre_contrast", "low_dose", "standard_dose")
_TUPLE_FIELDS = {
    "spacing_mm",
    "shape",
    "direction",
    "low_dose_spacing_mm",
    "low_dose_shape",
    "standard_dose_spacing_mm",
    "standard_dose_shape",
    "head_box_shape",
    "head_box_mm",
}


def percentile_key(percentile: float) -> str:
    """JSON key of a percentile: ``0.5`` -> ``"0.5"``, ``50.0`` -> ``"50"``."""
    return f"{percentile:g}"


@dataclass(frozen=True)
class CaseFingerprint:
    """Fingerprint of one case. Vectors are in SimpleITK order (x, y, z); spacings in mm.

    Attributes:
        case_id: the case identifier.
        spacing_mm: PC voxel size (x, y, z), mm.
        shape: PC grid size (x, y, z), voxels.
        direction: PC direction cosines, 9 numbers, row-major.
        low_dose_spacing_mm: LD voxel size (x, y, z), mm, on its own grid.
        low_dose_shape: LD grid size (x, y, z), voxels.
        standard_dose_spacing_mm: SD voxel size, or None when the case has no SD file.
        standard_dose_shape: SD grid size, or None.
        ce_to_pc_spacing_ratio: the largest ratio, over axes and over the CE scans present (LD, SD), of
            the CE voxel size to the PC voxel size, with each scan's spacings sorted first so that
            storage orientation does not matter. 1 = CE as fine as PC; 2.5 = CE slices 2.5 times thicker.
        intensity_percentiles: per scan (pre_contrast, low_dose[, standard_dose]) the 0.5th, 50th, 95th and
            99.5th intensity percentile inside the brain mask (keys "0.5", "50", "95", "99.5"), in the
            scan's raw units, after co-registration onto PC's grid.
        noise_sigma_ld: noise std of the LD subtraction z~_LD in normalised units (preprocess_case).
        brain_volume_ml: volume of the atlas brain mask, mL.
        brain_voxel_count: voxels in the brain mask (PC grid).
        head_box_shape: size (x, y, z) in PC voxels of the head's bounding box (see head_extent.py).
        head_box_mm: the same in mm.
        head_voxel_count: voxels of the head (largest foreground component).
        field_strength_t: main field in tesla, or None without a metadata file.
        contrast_agent: agent name as written in the metadata, or None.
        dose_fraction: LD dose relative to the standard dose, or None.
        relaxivity: r1 in L/(mmol s) used as condition (metadata override, else the agent table at the
            case's field strength), or None.
        seconds: wall time spent on this case, s.
    """

    case_id: str
    spacing_mm: tuple[float, float, float]
    shape: tuple[int, int, int]
    direction: tuple[float, ...]
    low_dose_spacing_mm: tuple[float, float, float]
    low_dose_shape: tuple[int, int, int]
    standard_dose_spacing_mm: tuple[float, float, float] | None
    standard_dose_shape: tuple[int, int, int] | None
    ce_to_pc_spacing_ratio: float
    intensity_percentiles: dict[str, dict[str, float]]
    noise_sigma_ld: float
    brain_volume_ml: float
    brain_voxel_count: int
    head_box_shape: tuple[int, int, int]
    head_box_mm: tuple[float, float, float]
    head_voxel_count: int
    field_strength_t: float | None
    contrast_agent: str | None
    dose_fraction: float | None
    relaxivity: float | None
    seconds: float

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (tuples become lists)."""
        record = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in record.items()}

    @classmethod
    def from_json_dict(cls, record: dict[str, Any], source: str = "fingerprint") -> CaseFingerprint:
        """Inverse of :meth:`to_json_dict`; ``source`` is named in errors."""
        names = {field.name for field in fields(cls)}
        missing = sorted(names - set(record))
        if missing:
            raise ValueError(f"{source}: case entry lacks key(s) {', '.join(missing)}.")
        values: dict[str, Any] = {
            key: tuple(record[key]) if key in _TUPLE_FIELDS and record[key] is not None else record[key]
            for key in names
        }
        return cls(**values)


def spacing_ratio(
    contrast_spacing_mm: tuple[float, ...], pre_contrast_spacing_mm: tuple[float, ...]
) -> float:
    """Largest ratio of sorted CE voxel sizes to sorted PC voxel sizes (orientation-independent, >= 0)."""
    contrast = np.sort(np.asarray(contrast_spacing_mm, dtype=float))
    pre_contrast = np.sort(np.asarray(pre_contrast_spacing_mm, dtype=float))
    return float(np.max(contrast / pre_contrast))


def fingerprint_case(
    case: RawCase, options: CasePreprocessingOptions | None = None, registration_folder: Path | None = None
) -> CaseFingerprint:
    """Measure one case (PC, LD, optional SD and metadata files).

    Args:
        case: file locations; the metadata file is optional (all metadata fields None without it), the
            SD file is used when it exists.
        options: preprocessing options (defaults as in training).
        registration_folder: where to store the case's registrations for preprocessing to reuse
            (``$gdr_preprocessed/DatasetXXX_Name/registrations``); None stores nothing.

    Returns:
        The case's :class:`CaseFingerprint`.

    Raises:
        FileNotFoundError: a missing PC or LD file.
        ValueError: an unreadable, non-3D or non-finite image, invalid metadata, or a failed brain mask;
            the message names the file or the case.
    """
    start = time.perf_counter()
    options = options or CasePreprocessingOptions()
    scans = {"pre_contrast": _read(case.pre_contrast), "low_dose": _read(case.low_dose)}
    if case.standard_dose.exists():
        scans["standard_dose"] = _read(case.standard_dose)
    metadata = load_case_metadata(case.metadata) if case.metadata.is_file() else None
    try:
        measured = _measure(scans, options)
    except ValueError as error:
        raise ValueError(f"case {case.case_id}: {error}") from error
    aligned = measured.aligned
    if registration_folder is not None:
        mask_image = image_from_array(aligned.brain.astype(np.uint8), scans["pre_contrast"])
        write_registrations(
            registration_folder,
            case,
            mask_image,
            aligned.registrations,
            options.brain_mask,
            options.coregistration,
            resampled={name: aligned.images[name] for name in aligned.valid},
        )
    percentiles = {
        name: _brain_percentiles(values, region) for name, (values, region) in _raw(aligned).items()
    }
    head = head_extent(scans["pre_contrast"], measured.pre_contrast_scale)
    voxel_ml = float(np.prod(scans["pre_contrast"].GetSpacing())) / 1000.0
    return CaseFingerprint(
        case_id=case.case_id,
        **_geometry_values(scans),
        intensity_percentiles=percentiles,
        noise_sigma_ld=measured.noise_sigma_ld,
        brain_volume_ml=float(aligned.brain.sum() * voxel_ml),
        brain_voxel_count=int(aligned.brain.sum()),
        head_box_shape=head.box_shape,
        head_box_mm=head.box_mm,
        head_voxel_count=head.voxel_count,
        **_metadata_values(metadata),
        seconds=round(time.perf_counter() - start, 3),
    )


@dataclass(frozen=True)
class _Measured:
    """What the fingerprint keeps of the preprocessing steps (PC's grid, arrays (z, y, x)).

    Attributes:
        aligned: brain mask, every scan on PC's grid (raw units) with its valid mask, the registrations.
        pre_contrast_scale: PC's 95th brain percentile (raw units).
        noise_sigma_ld: sigma of z~_LD inside brain & LD's field of view (normalised units).
    """

    aligned: AlignedScans
    pre_contrast_scale: float
    noise_sigma_ld: float


def _measure(scans: dict[str, sitk.Image], options: CasePreprocessingOptions) -> _Measured:
    """Brain mask, co-registration of LD (and SD), PC/LD normalisation and sigma_LD, as preprocess_case
    computes them (its ``align_scans`` and ``normalise_scans``), without the local noise statistics."""
    as_float = {name: sitk.Cast(image, sitk.sitkFloat32) for name, image in scans.items()}
    aligned, _ = align_scans(as_float, None, options)
    low_dose_only = replace(
        aligned,
        images={name: aligned.images[name] for name in ("pre_contrast", "low_dose")},
        valid={"low_dose": aligned.valid["low_dose"]},
    )
    normalised, intensity_scales, _ = normalise_scans(low_dose_only, options)
    subtraction = subtraction_image(normalised["low_dose"], normalised["pre_contrast"])
    sigma = estimate_noise_sigma(subtraction, aligned.region("low_dose"), options.noise.estimator)
    return _Measured(aligned, intensity_scales["pre_contrast"], float(sigma))


def _raw(aligned: AlignedScans) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per scan, its raw values (z, y, x) on PC's grid and the region of its percentiles (module docstring)."""
    regions = {"pre_contrast": aligned.brain} | {
        name: aligned.brain & valid for name, valid in aligned.valid.items()
    }
    return {name: (sitk.GetArrayViewFromImage(aligned.images[name]), regions[name]) for name in regions}


def _read(path: Path) -> sitk.Image:
    image = read_image(path)
    check_finite(image, str(path))
    return image


def _geometry_values(scans: dict[str, sitk.Image]) -> dict[str, Any]:
    """Grid fields of the case (PC, LD, optional SD) and the CE/PC spacing ratio."""
    pre_contrast, low_dose = scans["pre_contrast"], scans["low_dose"]
    standard_dose = scans.get("standard_dose")
    return {
        "spacing_mm": _floats(pre_contrast.GetSpacing()),
        "shape": _ints(pre_contrast.GetSize()),
        "direction": _floats(pre_contrast.GetDirection()),
        "low_dose_spacing_mm": _floats(low_dose.GetSpacing()),
        "low_dose_shape": _ints(low_dose.GetSize()),
        "standard_dose_spacing_mm": None if standard_dose is None else _floats(standard_dose.GetSpacing()),
        "standard_dose_shape": None if standard_dose is None else _ints(standard_dose.GetSize()),
        "ce_to_pc_spacing_ratio": max(
            spacing_ratio(scan.GetSpacing(), pre_contrast.GetSpacing())
            for scan in (low_dose, standard_dose)
            if scan is not None
        ),
    }


def _floats(values: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _ints(values: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _metadata_values(metadata: CaseMetadata | None) -> dict[str, Any]:
    if metadata is None:
        return {"field_strength_t": None, "contrast_agent": None, "dose_fraction": None, "relaxivity": None}
    return {
        "field_strength_t": metadata.field_strength_t,
        "contrast_agent": metadata.contrast_agent,
        "dose_fraction": metadata.dose_fraction,
        "relaxivity": metadata.relaxivity_l_per_mmol_s,
    }


def _brain_percentiles(values: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The :data:`INTENSITY_PERCENTILES` of ``values`` (z, y, x) inside ``mask`` (bool, same shape)."""
    found = np.percentile(values[mask], INTENSITY_PERCENTILES)
    return {percentile_key(p): float(v) for p, v in zip(INTENSITY_PERCENTILES, found, strict=True)}
