"""Integrity check of a raw dataset: every problem of every case, each naming its file.

Checked per case: both input channels, the standard-dose target (training split), the metadata file
and its schema/ranges (dose in (0, 1), field strength > 0, known agent or relaxivity override). In a pair
dataset (no low-dose channel, the input of ``gdr_synthesize_low_dose``) a low-dose file is a problem and
the metadata file is optional (scanner keys checked where present; a pair has no dose).
Each image (a file or a folder holding one DICOM series) is readable (not empty or truncated), 3D,
single-channel, finite, not constant, with positive spacing; a lesion map, where present, holds integer
labels on the pre-contrast grid. Per split, every entry of ``images<split>`` must be a channel of a case
(``CASE_0000``/``CASE_0001`` with the dataset's ending, or a series folder of that name). Different grids
for PC, LD and SD are legal (registration handles them). A DICOM series folder passes the series checks
of ``dicom_series`` (whole files, one MR series, evenly spaced slices ...), and the DICOM series of a case
belong to one patient, study and frame of reference (``case_identity``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.case_identity import RULE, case_identity_mismatches
from gdr_toolkit.dataset.image_io import count_non_finite_stored, read_image
from gdr_toolkit.dataset.metadata import check_scanner_metadata, load_case_metadata
from gdr_toolkit.dataset.raw_layout import (
    RawCase,
    Split,
    list_cases,
    load_dataset_description,
    unmatched_entries,
)
from gdr_toolkit.file_io import read_json

GEOMETRY_TOLERANCE = 1e-3  # relative tolerance on spacing/origin/direction when comparing grids


@dataclass(frozen=True)
class Problem:
    """One finding: the file concerned and what is wrong with it."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _check_image(path: Path, problems: list[Problem], allow_constant: bool = False) -> sitk.Image | None:
    """Read ``path`` and record what is wrong with it; the image if it is usable.

    ``allow_constant``: a constant image is legal (a lesion map without lesions); else it is a problem.
    """
    if not path.exists():
        problems.append(Problem(path, "file is missing"))
        return None
    try:
        image = read_image(path)
        non_finite = count_non_finite_stored(path, image)
    except (OSError, ValueError) as error:
        # a series folder's file is named relative to the folder
        problems.append(Problem(path, str(error).removeprefix(f"{path}: ").removeprefix(f"{path}/")))
        return None
    if non_finite:
        problems.append(Problem(path, f"{non_finite} voxel(s) are NaN or infinite"))
        return None
    if min(image.GetSpacing()) <= 0:
        problems.append(Problem(path, f"spacing must be positive, got {image.GetSpacing()}"))
        return None
    values = sitk.GetArrayViewFromImage(image)
    if not allow_constant and values.min() == values.max():
        problems.append(Problem(path, f"image is constant (every voxel is {values.flat[0]}): an empty scan"))
        return None
    return image


def same_grid(first: sitk.Image, second: sitk.Image, tolerance: float = GEOMETRY_TOLERANCE) -> bool:
    """True when both images share size, spacing, origin and direction (within ``tolerance``)."""
    if first.GetSize() != second.GetSize():
        return False
    scale = max(first.GetSpacing())
    return (
        np.allclose(first.GetSpacing(), second.GetSpacing(), rtol=tolerance, atol=0)
        and np.allclose(first.GetOrigin(), second.GetOrigin(), atol=tolerance * scale)
        and np.allclose(first.GetDirection(), second.GetDirection(), atol=tolerance)
    )


def _check_lesions(case: RawCase, pre_contrast: sitk.Image | None, problems: list[Problem]) -> None:
    lesions = _check_image(case.lesions, problems, allow_constant=True)
    if lesions is None:
        return
    values = sitk.GetArrayViewFromImage(lesions)
    if not np.array_equal(values, np.round(values)) or values.min() < 0:
        problems.append(Problem(case.lesions, "lesion map must hold non-negative integer labels"))
    if pre_contrast is not None and not same_grid(lesions, pre_contrast):
        problems.append(
            Problem(
                case.lesions,
                f"lesion map is not on the pre-contrast grid ({case.pre_contrast.name}): size "
                f"{lesions.GetSize()} vs {pre_contrast.GetSize()}, spacing {lesions.GetSpacing()} vs "
                f"{pre_contrast.GetSpacing()}",
            )
        )


def _identity_problems(case: RawCase) -> list[Problem]:
    """PC, LD and SD series of the case from one patient, study and frame of reference (DICOM only)."""
    series = {"PC": case.pre_contrast, "LD": case.low_dose, "SD": case.standard_dose}
    return [
        Problem(series[role], f"{message} ({RULE})")
        for role, message in case_identity_mismatches(series).items()
    ]


def _check_pair_metadata(case: RawCase, problems: list[Problem]) -> None:
    """A pair case's metadata: optional, scanner keys only (no dose)."""
    if not case.metadata.exists():
        return
    try:
        record = read_json(case.metadata)
        if not isinstance(record, dict):
            raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        check_scanner_metadata(record, str(case.metadata))
    except ValueError as error:
        problems.append(Problem(case.metadata, str(error).removeprefix(f"{case.metadata}: ")))


def verify_case(case: RawCase, require_target: bool, has_low_dose: bool = True) -> list[Problem]:
    """All problems of one case (empty list when it is fine); ``has_low_dose=False``: a pair dataset's
    case (PC + SD, no low dose, metadata optional)."""
    problems: list[Problem] = []
    pre_contrast = _check_image(case.pre_contrast, problems)
    if has_low_dose:
        _check_image(case.low_dose, problems)
    elif case.low_dose.exists():
        problems.append(
            Problem(case.low_dose, "a pair dataset (channel_names without '1') has no low-dose channel")
        )
    if require_target or case.standard_dose.exists():
        _check_image(case.standard_dose, problems)
    if case.lesions.exists():
        _check_lesions(case, pre_contrast, problems)
    problems.extend(_identity_problems(case))
    if not has_low_dose:
        _check_pair_metadata(case, problems)
        return problems
    try:
        load_case_metadata(case.metadata)
    except FileNotFoundError:
        problems.append(Problem(case.metadata, "metadata file is missing"))
    except ValueError as error:
        problems.append(Problem(case.metadata, str(error).removeprefix(f"{case.metadata}: ")))
    return problems


def verify_dataset(
    dataset_folder: Path,
    splits: Iterable[Split] = ("Tr", "Ts"),
    on_case_done: Callable[[RawCase], None] | None = None,
) -> list[Problem]:
    """Check a raw dataset folder and return every problem found (empty list: the dataset is valid).

    Args:
        dataset_folder: ``$gdr_raw/DatasetXXX_Name``.
        splits: which splits to check; the test split needs no targets.
        on_case_done: called after each case (progress reporting).
    """
    dataset_folder = Path(dataset_folder)
    try:
        description = load_dataset_description(dataset_folder)
    except (FileNotFoundError, ValueError) as error:
        return [Problem(dataset_folder / "dataset.json", str(error))]
    problems: list[Problem] = []
    for split in splits:
        cases = list_cases(dataset_folder, split, description.file_ending)
        if split == "Tr":
            if not cases:
                problems.append(Problem(dataset_folder / "imagesTr", "no training cases found"))
            elif len(cases) != description.num_training:
                problems.append(
                    Problem(
                        dataset_folder / "dataset.json",
                        f"numTraining is {description.num_training} but {len(cases)} training cases were found",
                    )
                )
        problems.extend(
            Problem(path, "matches no channel: expected CASE_0000 (pre-contrast) or CASE_0001 (low dose) "
                    f"ending in {description.file_ending}, or a DICOM series folder of that name")
            for path in unmatched_entries(dataset_folder, split, description.file_ending)
        )  # fmt: skip
        for case in cases:
            problems.extend(verify_case(case, split == "Tr", description.has_low_dose))
            if on_case_done is not None:
                on_case_done(case)
    return problems
