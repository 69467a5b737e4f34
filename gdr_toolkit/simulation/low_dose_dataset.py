"""A training dataset with synthetic low doses from a pair dataset (PC + SD): the I/O of
``gdr_synthesize_low_dose``.

Per source case: SD is registered rigidly to PC (:func:`coregister_to_reference`), the pair is analysed
once (:func:`gdr_toolkit.simulation.low_dose_synthesis.analyse_pair`) and one new case is written per dose,
``CASE_dDDD`` (DDD = the dose in per cent, 033 for 0.33): PC and SD as they were (the preprocessing
registers them again), the synthetic LD on PC's grid and in PC's intensity frame, the lesion map where
the source has one, and metadata holding ``dose_fraction``, the scanner keys the source metadata had
(nothing is invented) and a ``synthetic_low_dose`` record (source case, signal model, measured noise).

Brain mask: on a skull-stripped scan (the rule of ``preprocessing/skull_stripped.py``, shared with the
brain mask) the scan's non-zero support, with holes filled; on a full head the atlas mask
(:func:`gdr_toolkit.preprocessing.brain_mask.atlas_brain_mask`). Signal and noise are added inside the
support only (skull-stripped: its zeros stay zeros; full head: everywhere SD has data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import image_from_array, read_image, write_image_atomic
from gdr_toolkit.dataset.metadata import check_scanner_metadata
from gdr_toolkit.dataset.raw_layout import (
    CHANNEL_NAMES,
    DatasetDescription,
    RawCase,
    Split,
    case_files,
    list_cases,
    load_dataset_description,
    write_dataset_description,
)
from gdr_toolkit.file_io import read_json, write_json_atomic
from gdr_toolkit.preprocessing.brain_mask import atlas_brain_mask
from gdr_toolkit.preprocessing.coregistration import coregister_to_reference
from gdr_toolkit.preprocessing.skull_stripped import check_skull_stripped, support_mask
from gdr_toolkit.simulation.low_dose_synthesis import SynthesisOptions, analyse_pair, synthesise_low_dose

logger = logging.getLogger(__name__)

OUTPUT_ENDING = ".nii.gz"


def synthetic_case_id(case_id: str, dose_fraction: float) -> str:
    """``CASE_d033`` for dose 0.33 (the dose in per cent, three digits)."""
    return f"{case_id}_d{round(dose_fraction * 100):03d}"


@dataclass(frozen=True)
class SynthesisedCase:
    """The synthetic low doses of one pair and what was measured on it.

    Attributes:
        low_doses: per dose fraction a float32 image on PC's grid.
        record: JSON-ready description (skull-stripped, brain volume, registration quality, noise, frame).
        standard_dose_in_frame: x_SD' = a x_SD / B registered onto PC's grid (float32), the reference of
            an evaluation in PC's frame; None when not kept.
        brain_mask: uint8 brain mask on PC's grid used for the fit; None when not kept.
    """

    low_doses: dict[float, sitk.Image]
    record: dict[str, Any] = field(default_factory=dict)
    standard_dose_in_frame: sitk.Image | None = None
    brain_mask: sitk.Image | None = None


def synthesise_case(
    pre_contrast: sitk.Image,
    standard_dose: sitk.Image,
    dose_fractions: Sequence[float],
    rng: np.random.Generator,
    options: SynthesisOptions | None = None,
    brain_mask: sitk.Image | None = None,
) -> SynthesisedCase:
    """Register SD to PC, analyse the pair, draw one LD per dose.

    Args:
        pre_contrast: PC image (any geometry).
        standard_dose: SD image (any geometry; registered rigidly to PC).
        dose_fractions: doses in (0, 1).
        rng: draws the added noise.
        options: synthesis settings (None: defaults).
        brain_mask: brain mask on PC's grid; None: the support of a skull-stripped PC, else the atlas mask.

    Returns:
        The LD images (PC's grid, float32) and the case record.
    """
    options = options or SynthesisOptions()
    pre_contrast = sitk.Cast(pre_contrast, sitk.sitkFloat32)
    values = sitk.GetArrayFromImage(pre_contrast)
    spacing_zyx_mm = np.array(pre_contrast.GetSpacing())[::-1]
    stripped = check_skull_stripped(values, tuple(spacing_zyx_mm)).skull_stripped
    support = support_mask(values) if stripped else np.ones(values.shape, dtype=bool)
    if brain_mask is None:
        brain_mask = (
            image_from_array(support.astype(np.uint8), pre_contrast)
            if stripped
            else atlas_brain_mask(pre_contrast).mask
        )
    brain = sitk.GetArrayFromImage(brain_mask) > 0
    registered = coregister_to_reference(sitk.Cast(standard_dose, sitk.sitkFloat32), pre_contrast, brain_mask)
    if not registered.quality.accepted:
        logger.warning("standard dose registered poorly to pre-contrast: %s", registered.quality)
    valid = sitk.GetArrayFromImage(registered.valid_mask) > 0
    analysis = analyse_pair(
        values, sitk.GetArrayFromImage(registered.image), brain, support, valid, spacing_zyx_mm, options
    )
    low_doses = {
        dose: image_from_array(synthesise_low_dose(analysis, dose, rng, options), pre_contrast)
        for dose in dose_fractions
    }
    record = {
        "skull_stripped": stripped,
        "brain_volume_ml": float(brain.sum() * np.prod(spacing_zyx_mm) / 1000.0),
        "registration": registered.quality.to_json_dict(),
        "registration_parameters": list(registered.registration.to_sitk_transform().GetParameters()),
        **analysis.summary(),
    }
    framed = np.where(valid, analysis.subtraction + values, 0.0).astype(np.float32)
    return SynthesisedCase(low_doses, record, image_from_array(framed, pre_contrast), brain_mask)


def _scanner_keys(case: RawCase) -> dict[str, Any]:
    """The source's scanner metadata (checked), without any dose; empty without a metadata file."""
    if not case.metadata.is_file():
        return {}
    record = read_json(case.metadata)
    if not isinstance(record, dict):
        raise ValueError(f"{case.metadata}: expected a JSON object.")
    check_scanner_metadata(record, str(case.metadata))
    return {key: value for key, value in record.items() if key not in ("dose_fraction", "simulation")}


def _write_case(
    case: RawCase,
    target_folder: Path,
    dose_fractions: Sequence[float],
    options: SynthesisOptions,
    rng: np.random.Generator,
) -> list[str]:
    pre_contrast, standard_dose = read_image(case.pre_contrast), read_image(case.standard_dose)
    result = synthesise_case(pre_contrast, standard_dose, dose_fractions, rng, options)
    scanner = _scanner_keys(case)
    lesions = read_image(case.lesions) if case.lesions.exists() else None
    written = []
    for dose, low_dose in result.low_doses.items():
        new_id = synthetic_case_id(case.case_id, dose)
        target = case_files(target_folder, new_id, case.split, OUTPUT_ENDING)
        write_image_atomic(pre_contrast, target.pre_contrast)
        write_image_atomic(low_dose, target.low_dose)
        write_image_atomic(standard_dose, target.standard_dose)
        if lesions is not None:
            write_image_atomic(lesions, target.lesions)
        synthesis = {
            "source_case": case.case_id,
            "signal_model": options.signal_model.to_json_dict(),
            **result.record,
        }
        write_json_atomic(
            {"dose_fraction": dose, **scanner, "synthetic_low_dose": synthesis}, target.metadata
        )
        written.append(new_id)
    return written


def synthesise_dataset(
    source_folder: Path,
    target_folder: Path,
    dose_fractions: Sequence[float],
    options: SynthesisOptions | None = None,
    seed: int = 0,
    on_case_done: Callable[[str], None] | None = None,
) -> list[str]:
    """Write a training dataset with synthetic low doses from the pairs in ``source_folder``.

    Args:
        source_folder: raw dataset with PC (``CASE_0000``) and SD (``targets``); an LD channel, if any, is
            ignored. Cases without SD are skipped (logged).
        target_folder: the new raw dataset folder (created; existing case files are overwritten).
        dose_fractions: doses in (0, 1), distinct.
        options: synthesis settings (None: defaults).
        seed: noise seed; case k of the sorted list uses ``SeedSequence(seed, spawn_key=(k,))``.
        on_case_done: called with each source case id when its doses are written.

    Returns:
        The ids of the cases written.
    """
    if not dose_fractions or len(set(dose_fractions)) != len(dose_fractions):
        raise ValueError(f"doses must be distinct and at least one, got {list(dose_fractions)}.")
    for dose in dose_fractions:
        if not 0 < dose < 1:
            raise ValueError(f"every dose must lie in (0, 1) of the standard dose, got {dose}.")
    options = options or SynthesisOptions()
    source = load_dataset_description(source_folder)
    written: dict[Split, list[str]] = {"Tr": [], "Ts": []}
    index = 0
    for split in ("Tr", "Ts"):
        for case in list_cases(source_folder, split, source.file_ending):
            if not case.standard_dose.exists():
                logger.warning("%s: no standard dose (%s); skipped.", case.case_id, case.standard_dose)
                continue
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
            written[split] += _write_case(case, Path(target_folder), dose_fractions, options, rng)
            index += 1
            if on_case_done is not None:
                on_case_done(case.case_id)
    description = DatasetDescription(
        name=Path(target_folder).name.partition("_")[2] or Path(target_folder).name,
        description=f"Synthetic low doses {', '.join(f'{d:g}' for d in dose_fractions)} from {Path(source_folder).name}",
        channel_names=dict(CHANNEL_NAMES),
        file_ending=OUTPUT_ENDING,
        num_training=len(written["Tr"]),
        licence=source.licence,
        metadata_keys=("dose_fraction",),
        extra={
            "synthetic_low_dose": {
                "source_dataset": Path(source_folder).name,
                "dose_fractions": list(dose_fractions),
                "seed": seed,
                "signal_model": options.signal_model.to_json_dict(),
                "shading_degree": options.shading_degree,
                "weight_enhancement": options.weight_enhancement,
                "noise_target": options.noise_target,
            }
        },
    )
    write_dataset_description(Path(target_folder), description)
    return written["Tr"] + written["Ts"]
