"""Public BraTS layouts imported into a raw pair dataset (PC + SD, no low dose).

Recognised (files anywhere below the folder, usually one folder per case; ``.nii.gz`` or ``.nii``):

| release | pre-contrast | standard dose | segmentation | enhancing tumour label |
|---|---|---|---|---|
| BraTS 2020 / 2021 | ``CASE_t1`` | ``CASE_t1ce`` | ``CASE_seg`` | 4 |
| BraTS 2023+ (GLI, MET(S), MEN, ...) | ``CASE-t1n`` | ``CASE-t1c`` | ``CASE-seg`` | 3 |

Each case becomes ``imagesTr/CASE_0000`` (PC) and ``targetsTr/CASE`` (SD). A segmentation becomes
``lesionsTr/CASE``: the connected components (26-neighbourhood) of the enhancing-tumour label, numbered
1..K, because the toolkit's lesions are enhancing structures (necrosis and oedema do not enhance). No
metadata are written (BraTS records no field strength, agent or dose). A case id that ends in ``_NNNN``
(four digits, the channel suffix of the layout) has its last ``_`` replaced by ``-``.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from gdr_toolkit.dataset.image_io import image_from_array, read_image, write_image_atomic
from gdr_toolkit.dataset.raw_layout import (
    PAIR_CHANNEL_NAMES,
    DatasetDescription,
    case_files,
    write_dataset_description,
)
from gdr_toolkit.dataset.verify import same_grid
from gdr_toolkit.file_io import atomic_path

logger = logging.getLogger(__name__)

FILE_ENDING = ".nii.gz"
BRATS_LICENCE = (
    "BraTS data terms (research use; cite the BraTS papers of the release); TCIA data usage policies apply"
)


@dataclass(frozen=True)
class BratsRelease:
    """File suffixes and the enhancing-tumour label of one BraTS naming scheme."""

    name: str
    pre_contrast_suffix: str
    standard_dose_suffix: str
    segmentation_suffix: str
    enhancing_label: int


RELEASES = (
    BratsRelease("BraTS 2020/2021", "_t1", "_t1ce", "_seg", 4),
    BratsRelease("BraTS 2023+", "-t1n", "-t1c", "-seg", 3),
)


@dataclass(frozen=True)
class BratsCase:
    """The files of one BraTS case."""

    case_id: str
    release: BratsRelease
    pre_contrast: Path
    standard_dose: Path
    segmentation: Path | None


def _stem(path: Path) -> str | None:
    for ending in (".nii.gz", ".nii"):
        if path.name.endswith(ending):
            return path.name[: -len(ending)]
    return None


def _layout_case_id(name: str) -> str:
    return re.sub(r"_(\d{4})$", r"-\1", name)


def find_brats_cases(folder: Path) -> list[BratsCase]:
    """Every case below ``folder`` with both a PC and an SD file (sorted by id).

    Raises:
        FileNotFoundError: ``folder`` is missing or holds no BraTS case.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder.")
    files: dict[tuple[str, str], dict[str, Path]] = {}
    for path in sorted(folder.rglob("*.nii*")):
        stem = _stem(path)
        for release in RELEASES:
            for role, suffix in (
                ("pc", release.pre_contrast_suffix),
                ("sd", release.standard_dose_suffix),
                ("seg", release.segmentation_suffix),
            ):
                if stem is not None and stem.endswith(suffix) and len(stem) > len(suffix):
                    files.setdefault((release.name, stem[: -len(suffix)]), {})[role] = path
    cases = []
    for (release_name, name), found in sorted(files.items(), key=lambda item: item[0][1]):
        release = next(release for release in RELEASES if release.name == release_name)
        if "pc" not in found or "sd" not in found:
            missing = "pre-contrast" if "pc" not in found else "standard dose"
            logger.warning("%s: no %s file next to %s; skipped.", name, missing, next(iter(found.values())))
            continue
        cases.append(BratsCase(_layout_case_id(name), release, found["pc"], found["sd"], found.get("seg")))
    if not cases:
        raise FileNotFoundError(
            f"{folder}: no BraTS case found (expected CASE_t1 + CASE_t1ce or CASE-t1n + CASE-t1c .nii.gz files)."
        )
    return cases


def enhancing_lesions(segmentation: np.ndarray, enhancing_label: int) -> np.ndarray:
    """Connected components (26-neighbourhood) of ``segmentation == enhancing_label``, numbered 1..K (uint16)."""
    labels, _ = ndimage.label(segmentation == enhancing_label, structure=np.ones((3, 3, 3), dtype=bool))
    return labels.astype(np.uint16)


def _copy_image(source: Path, target: Path) -> None:
    if source.name.endswith(FILE_ENDING):
        with atomic_path(target) as temporary:
            shutil.copyfile(source, temporary)
    else:
        write_image_atomic(read_image(source), target)


def import_brats_case(case: BratsCase, dataset_folder: Path) -> None:
    """Write one case into the raw pair dataset (PC, SD, enhancing lesions if segmented)."""
    files = case_files(dataset_folder, case.case_id, "Tr", FILE_ENDING)
    pre_contrast = read_image(case.pre_contrast)
    read_image(case.standard_dose)  # a broken file fails here, naming it
    _copy_image(case.pre_contrast, files.pre_contrast)
    _copy_image(case.standard_dose, files.standard_dose)
    if case.segmentation is None:
        return
    segmentation = read_image(case.segmentation)
    if not same_grid(segmentation, pre_contrast):
        raise ValueError(
            f"{case.segmentation}: the segmentation is not on the grid of {case.pre_contrast.name}."
        )
    lesions = enhancing_lesions(sitk.GetArrayFromImage(segmentation), case.release.enhancing_label)
    write_image_atomic(image_from_array(lesions, pre_contrast), files.lesions)


def import_brats(
    folder: Path, dataset_folder: Path, on_case_done: Callable[[str], None] | None = None
) -> list[BratsCase]:
    """Import every BraTS case below ``folder`` into the raw pair dataset ``dataset_folder``.

    Returns:
        The imported cases.
    """
    cases = find_brats_cases(folder)
    for case in cases:
        import_brats_case(case, Path(dataset_folder))
        if on_case_done is not None:
            on_case_done(case.case_id)
    releases = sorted({case.release.name for case in cases})
    description = DatasetDescription(
        name=Path(dataset_folder).name.partition("_")[2] or Path(dataset_folder).name,
        description=f"Pre-contrast and standard-dose T1w pairs imported from {' and '.join(releases)} "
        f"({Path(folder).name}); no low dose: run gdr_synthesize_low_dose",
        channel_names=dict(PAIR_CHANNEL_NAMES),
        file_ending=FILE_ENDING,
        num_training=len(cases),
        licence=BRATS_LICENCE,
        metadata_keys=(),
        extra={"source_layout": releases},
    )
    write_dataset_description(Path(dataset_folder), description)
    return cases
