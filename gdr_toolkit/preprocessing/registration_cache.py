"""Each case's elastix work done once: the fingerprint stores its registrations, preprocessing reuses them.

The fingerprint runs :func:`~gdr_toolkit.preprocessing.case_preprocessing.preprocess_case` (atlas brain
mask, LD -> PC) and co-registers SD -> PC; it writes what it found with :func:`write_registrations`.
The preprocessor then loads it (:func:`cached_registration_arguments`) and hands the brain mask and the
parameter maps to ``preprocess_case``, which resamples each scan with the stored transform instead of
registering again (:func:`coregister_or_reuse`): the arrays are those of a run from scratch. The
fingerprint also stores LD and SD as it resampled them onto PC's grid, so that preprocessing does not
resample them again either (issue 26: two cubic B-spline resamplings, ~4 CPU s per 1 mm case).

On disk, beside the fingerprint (``$gdr_preprocessed/DatasetXXX_Name/registrations/``), per case:

- ``CASE.json`` (written last, so its presence means the entry is complete)::

      {"format_version": 1, "case_id": "CASE",
       "inputs": {"pre_contrast": {"file": "CASE_0000.nii.gz", "size_bytes": 123, "sha256": "..."},
                  "low_dose": {...}, "standard_dose": {...}},
       "options": {"brain_mask": {...BrainMaskOptions...}, "coregistration": {...CoregistrationOptions...}},
       "registrations": {"atlas": [PMAP, ...], "low_dose": [PMAP], "standard_dose": [PMAP]},
       "brain_mask_file": "CASE_brain_mask.nii.gz",
       "resampled_files": {"low_dose": "CASE_low_dose_on_pc.nii", "standard_dose": "..."}}

  where PMAP is an elastix transform parameter map, ``{key: [string, ...]}`` (the maps of
  ``CaseProperties.transforms``, applied in list order).
- ``CASE_brain_mask.nii.gz``: the brain mask on PC's grid, uint8 0/1 (a skull-stripped PC's support,
  then without an ``atlas`` registration; ``preprocess_case`` records its source from that).
- ``CASE_low_dose_on_pc.nii``, ``CASE_standard_dose_on_pc.nii`` (optional): the CE scans resampled onto
  PC's grid with the stored registrations, float32, uncompressed (reading them is faster than resampling,
  and compressing noisy float32 would cost what it saves): 35 MB per scan of a 1 mm head (197 x 233 x
  189), about 40 % of the preprocessed case. Deleting them is safe: preprocessing then resamples again.
  An entry without them (or with a file missing) is still reused.

An entry is reused only when every input file still has the stored size and SHA-256 (a changed raw file
never reuses a stale registration; a copied or touched one still does) and the registration options are
the same; otherwise it is ignored (logged) and the case is registered from scratch.
"""

from __future__ import annotations

import json
import logging
import types
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import write_image_atomic
from gdr_toolkit.dataset.raw_layout import RawCase
from gdr_toolkit.file_io import file_sha256, read_json, write_json_atomic
from gdr_toolkit.preprocessing.brain_mask import BrainMaskOptions
from gdr_toolkit.preprocessing.coregistration import (
    CoregisteredScan,
    CoregistrationOptions,
    apply_coregistration,
    coregister_to_reference,
)
from gdr_toolkit.preprocessing.registration import RegistrationResult

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
REGISTRATION_FOLDER = "registrations"
SCAN_NAMES = ("pre_contrast", "low_dose", "standard_dose")


@dataclass(frozen=True)
class CachedRegistrations:
    """A case's stored registration work.

    Attributes:
        brain_mask: the atlas brain mask, uint8 image on PC's grid.
        registrations: RegistrationResult per name (atlas, low_dose[, standard_dose]).
        resampled: CE scans on PC's grid per name (low_dose[, standard_dose]), where stored.
    """

    brain_mask: sitk.Image
    registrations: dict[str, RegistrationResult]
    resampled: dict[str, sitk.Image] = field(default_factory=dict)


def file_identity(path: Path) -> dict[str, Any]:
    """``{"file": name, "size_bytes": n, "sha256": hex}`` of a raw file (its content, not its mtime)."""
    return {"file": Path(path).name, "size_bytes": Path(path).stat().st_size, "sha256": file_sha256(path)}


def _inputs(case: RawCase) -> dict[str, Path]:
    paths = {"pre_contrast": case.pre_contrast, "low_dose": case.low_dose}
    if case.standard_dose.is_file():
        paths["standard_dose"] = case.standard_dose
    return paths


def _options_record(brain_mask: BrainMaskOptions, coregistration: CoregistrationOptions) -> dict[str, Any]:
    """The registration options as stored (JSON round trip, so tuples compare as lists)."""
    return json.loads(
        json.dumps({"brain_mask": asdict(brain_mask), "coregistration": asdict(coregistration)})
    )


def write_registrations(
    folder: Path,
    case: RawCase,
    brain_mask: sitk.Image,
    registrations: Mapping[str, RegistrationResult],
    brain_mask_options: BrainMaskOptions,
    coregistration_options: CoregistrationOptions,
    resampled: Mapping[str, sitk.Image] | None = None,
) -> Path:
    """Store a case's brain mask and registrations in ``folder`` (module docstring); returns the JSON path.

    Args:
        folder: ``$gdr_preprocessed/DatasetXXX_Name/registrations``.
        case: the raw files the registrations were computed from (identified by size and SHA-256).
        brain_mask: the atlas brain mask on PC's grid (uint8 0/1).
        registrations: by name: atlas, low_dose and, when computed, standard_dose.
        brain_mask_options, coregistration_options: the options the registrations were run with.
        resampled: the CE scans as resampled onto PC's grid with ``registrations`` (float32), or None.
    """
    folder = Path(folder)
    mask_name = f"{case.case_id}_brain_mask.nii.gz"
    write_image_atomic(sitk.Cast(brain_mask, sitk.sitkUInt8), folder / mask_name)
    resampled_files = {}
    for name, image in (resampled or {}).items():
        resampled_files[name] = f"{case.case_id}_{name}_on_pc.nii"
        write_image_atomic(sitk.Cast(image, sitk.sitkFloat32), folder / resampled_files[name], compress=False)
    record = {
        "format_version": FORMAT_VERSION,
        "case_id": case.case_id,
        "inputs": {name: file_identity(path) for name, path in _inputs(case).items()},
        "options": _options_record(brain_mask_options, coregistration_options),
        "registrations": {
            name: [{key: list(values) for key, values in pmap.items()} for pmap in result.parameter_maps]
            for name, result in registrations.items()
        },
        "brain_mask_file": mask_name,
        "resampled_files": resampled_files,
    }
    path = folder / f"{case.case_id}.json"
    write_json_atomic(record, path)
    return path


def load_registrations(
    folder: Path,
    case: RawCase,
    brain_mask_options: BrainMaskOptions,
    coregistration_options: CoregistrationOptions,
) -> CachedRegistrations | None:
    """The stored registrations of ``case`` when still valid for its files and the options, else None.

    None (with the reason logged) when there is no entry, it is unreadable or of another format version,
    a raw file changed (size or SHA-256), a scan was added or removed, or the options differ.
    """
    path = Path(folder) / f"{case.case_id}.json"
    if not path.is_file():
        return None
    try:
        record = read_json(path)
        reason = _stale_reason(record, case, brain_mask_options, coregistration_options)
        if reason is None:
            return CachedRegistrations(
                brain_mask=sitk.ReadImage(str(Path(folder) / record["brain_mask_file"]), sitk.sitkUInt8),
                registrations={
                    name: RegistrationResult(
                        parameter_maps=tuple(
                            types.MappingProxyType({k: tuple(v) for k, v in pmap.items()}) for pmap in maps
                        )
                    )
                    for name, maps in record["registrations"].items()
                },
                resampled=_read_resampled(Path(folder), record.get("resampled_files", {})),
            )
    except (ValueError, KeyError, TypeError, RuntimeError, OSError) as error:
        reason = f"unreadable ({error})"
    logger.info("case %s: stored registrations not used, %s; registering again.", case.case_id, reason)
    return None


def _read_resampled(folder: Path, files: dict[str, str]) -> dict[str, sitk.Image]:
    """The stored resampled CE scans that are still there (a deleted one is resampled again)."""
    present = {
        name: folder / file_name for name, file_name in files.items() if (folder / file_name).is_file()
    }
    return {name: sitk.ReadImage(str(path), sitk.sitkFloat32) for name, path in present.items()}


def _stale_reason(
    record: dict[str, Any],
    case: RawCase,
    brain_mask_options: BrainMaskOptions,
    coregistration_options: CoregistrationOptions,
) -> str | None:
    if record.get("format_version") != FORMAT_VERSION:
        return f"format_version {record.get('format_version')!r} (expected {FORMAT_VERSION})"
    inputs = _inputs(case)
    if set(record["inputs"]) != set(inputs):
        return f"scans {sorted(record['inputs'])} stored, {sorted(inputs)} now"
    for name, path in inputs.items():
        if record["inputs"][name] != file_identity(path):
            return f"{path} changed since the registrations were stored"
    if record["options"] != _options_record(brain_mask_options, coregistration_options):
        return "the registration options differ"
    return None


def cached_registration_arguments(
    preprocessed_dataset_folder: Path,
    case: RawCase,
    brain_mask_options: BrainMaskOptions,
    coregistration_options: CoregistrationOptions,
) -> dict[str, Any]:
    """Keyword arguments of ``preprocess_case`` that reuse the stored work: ``brain_mask``,
    ``registrations`` and ``resampled`` (where stored), or ``{}`` when nothing valid is stored under
    ``preprocessed_dataset_folder``."""
    folder = Path(preprocessed_dataset_folder) / REGISTRATION_FOLDER
    cached = load_registrations(folder, case, brain_mask_options, coregistration_options)
    if cached is None:
        return {}
    logger.debug("case %s: reusing stored registrations %s", case.case_id, sorted(cached.registrations))
    return {
        "brain_mask": cached.brain_mask,
        "registrations": cached.registrations,
        "resampled": cached.resampled,
    }


def coregister_or_reuse(
    moving: sitk.Image,
    reference: sitk.Image,
    brain_mask: sitk.Image | None,
    options: CoregistrationOptions,
    registration: RegistrationResult | None = None,
    resampled: sitk.Image | None = None,
) -> CoregisteredScan:
    """:func:`coregister_to_reference`, or, given a stored ``registration``, only its resampling step
    (same interpolation, valid-data mask and quality measure as registering again would give), or, given
    ``moving`` as resampled with it (on ``reference``'s grid), only the valid-data mask and quality."""
    if registration is None:
        return coregister_to_reference(moving, reference, brain_mask, options)
    if resampled is not None and not _same_grid(resampled, reference):
        logger.info("a stored resampled scan is not on the reference grid; resampling again.")
        resampled = None
    return apply_coregistration(moving, reference, brain_mask, registration, options, resampled)


def _same_grid(image: sitk.Image, reference: sitk.Image) -> bool:
    return (
        image.GetSize() == reference.GetSize()
        and np.allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-6)
        and np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-4)
        and np.allclose(image.GetDirection(), reference.GetDirection(), atol=1e-6)
    )
