"""Build the Colin27 tissue-code image that gdr_toolkit.simulation ships (``anatomy_sources``).

Source: MRIcron's brain-extracted Colin27 T1 (``ch2bet.nii.gz``, 1 mm, uint8; Debian package
``mricron-data``: /usr/share/mricron/templates/; Copyright 2006-2010 Chris Rorden, BSD-3-clause).

Method (intensity-based partial-volume segmentation inside the brain mask):
1. brain = ch2bet > 0 with holes filled (the mask BET gave).
2. A three-class Gaussian mixture (CSF, grey matter, white matter) fitted to the brain's intensities by
   expectation-maximisation (initial means 35, 85, 115: the histogram's modes).
3. Tissue coordinate t per voxel, piecewise linear in the intensity I between the class means
   mu_CSF < mu_GM < mu_WM: t = (I - mu_CSF) / (mu_GM - mu_CSF) below mu_GM, 1 + (I - mu_GM) / (mu_WM - mu_GM)
   above, clipped to [0, 2] (a voxel between two means is a linear mixture of those two tissues).
4. Stored as uint8 code 1 + round(127 t) (0 outside the brain), cropped to the brain's box plus one voxel,
   gzip-compressed NIfTI at 1 mm (``gdr_toolkit/simulation/data/colin27_tissue_code.nii.gz``).

Run: ``python tools/build_colin27_anatomy.py [--source PATH] [--output PATH]`` (about 10 s). Prints the class
means and the tissue volumes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from gdr_toolkit.simulation.anatomy_sources import COLIN27_FILE, DATA_FOLDER, fractions_from_code, tissue_code

logger = logging.getLogger("build_colin27_anatomy")
SOURCE = Path("/usr/share/mricron/templates/ch2bet.nii.gz")
INITIAL_MEANS = (35.0, 85.0, 115.0)


def fit_class_means(values: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Means of a three-class 1D Gaussian mixture fitted by EM (sorted ascending)."""
    values = values.astype(np.float64)
    means = np.array(INITIAL_MEANS)
    stds = np.full(3, 10.0)
    weights = np.full(3, 1.0 / 3.0)
    for _ in range(iterations):
        density = weights * np.exp(-0.5 * ((values[:, None] - means) / stds) ** 2) / stds
        responsibility = density / np.maximum(density.sum(axis=1, keepdims=True), 1e-300)
        total = responsibility.sum(axis=0)
        weights = total / values.size
        means = (responsibility * values[:, None]).sum(axis=0) / total
        stds = np.sqrt((responsibility * (values[:, None] - means) ** 2).sum(axis=0) / total)
    return np.sort(means)


def tissue_coordinate(intensity: np.ndarray, means: np.ndarray) -> np.ndarray:
    """t in [0, 2], piecewise linear between the class means (CSF 0, GM 1, WM 2)."""
    csf, grey, white = means
    below = (intensity - csf) / (grey - csf)
    above = 1.0 + (intensity - grey) / (white - grey)
    return np.clip(np.where(intensity < grey, below, above), 0.0, 2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--output", type=Path, default=DATA_FOLDER / COLIN27_FILE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    image = sitk.ReadImage(str(args.source))
    intensity = sitk.GetArrayFromImage(image).astype(np.float64)
    brain = ndimage.binary_fill_holes(intensity > 0)
    means = fit_class_means(intensity[brain & (intensity > 0)])
    codes = tissue_code(tissue_coordinate(intensity, means), brain)
    low = np.argwhere(brain).min(axis=0) - 1
    high = np.argwhere(brain).max(axis=0) + 2
    low, high = np.maximum(low, 0), np.minimum(high, brain.shape)
    cropped = sitk.GetImageFromArray(codes[low[0] : high[0], low[1] : high[1], low[2] : high[2]])
    cropped.SetSpacing(image.GetSpacing())
    cropped.SetDirection(image.GetDirection())
    cropped.SetOrigin(image.TransformIndexToPhysicalPoint([int(v) for v in low[::-1]]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(cropped, str(args.output), useCompression=True)
    csf, grey, white = fractions_from_code(codes)
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    logger.info("class means (CSF, GM, WM): %s", np.round(means, 2).tolist())
    logger.info(
        "volumes (ml): brain %.0f, CSF %.0f, GM %.0f, WM %.0f",
        brain.sum() * voxel_ml,
        csf.sum() * voxel_ml,
        grey.sum() * voxel_ml,
        white.sum() * voxel_ml,
    )
    logger.info("wrote %s (%d bytes)", args.output, args.output.stat().st_size)


if __name__ == "__main__":
    main()
