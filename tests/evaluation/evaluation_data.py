"""Writers of a tiny evaluation dataset: x_PC, x_LD, x_SD (other gain), lesions, brain masks and predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

SHAPE = (20, 22, 24)
SD_GAIN = 1.2


def write(array: np.ndarray, path: Path, spacing: tuple[float, float, float] = (2.0, 2.0, 2.0)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))


def make_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    brain = np.zeros(SHAPE, dtype=np.uint8)
    brain[3:17, 3:19, 3:21] = 1
    pre_contrast = np.where(brain > 0, 100.0, 20.0) + rng.normal(0, 2.0, SHAPE)
    labels = np.zeros(SHAPE, dtype=np.uint16)
    labels[6:9, 6:9, 6:9] = 1
    labels[11:14, 12:15, 14:17] = 2
    enhancement = np.where(labels == 1, 60.0, 0.0) + np.where(labels == 2, 30.0, 0.0)
    standard_dose = SD_GAIN * (pre_contrast + enhancement + rng.normal(0, 2.0, SHAPE))
    low_dose = 0.9 * (pre_contrast + 0.3 * enhancement + rng.normal(0, 2.0, SHAPE))
    return {
        "brain": brain,
        "pre_contrast": pre_contrast.astype(np.float32),
        "low_dose": low_dose.astype(np.float32),
        "standard_dose": standard_dose.astype(np.float32),
        "labels": labels,
        "sd": (pre_contrast + 0.8 * enhancement).astype(np.float32),
        "sdplus": (low_dose / 0.9 + enhancement).astype(np.float32),
    }


def write_dataset(root: Path, seed: int = 0) -> dict[str, Path]:
    """Three cases under ``root`` (images, targets, lesions, brain, pred folders); returns the folders."""
    rng = np.random.default_rng(seed)
    folders = {name: root / name for name in ("images", "targets", "lesions", "brain", "pred")}
    for case_id in ("case_a", "case_b", "case_c"):
        case = make_case(rng)
        write(case["pre_contrast"], folders["images"] / f"{case_id}_0000.nii.gz")
        write(case["low_dose"], folders["images"] / f"{case_id}_0001.nii.gz")
        write(case["standard_dose"], folders["targets"] / f"{case_id}.nii.gz")
        write(case["labels"], folders["lesions"] / f"{case_id}.nii.gz")
        write(case["brain"], folders["brain"] / f"{case_id}.nii.gz")
        write(case["sd"], folders["pred"] / f"{case_id}_sd.nii.gz")
        write(case["sdplus"], folders["pred"] / f"{case_id}_sdplus.nii.gz")
    return folders
