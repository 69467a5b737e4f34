"""The brains the phantom is built on: the MNI152 average brain and the Colin27 single-subject brain.

Each source gives, on its own 1 mm grid, the grey- and white-matter fractions and the brain mask (CSF is
the rest of the mask, as for MNI152) plus the box the simulator works in (the object grid covers it).

- ``mni152``: the ICBM 2009a template and tissue maps from nilearn's package data (:mod:`gdr_toolkit.atlas`).
- ``colin27``: Colin Holmes' brain (27 averaged scans, Holmes et al., JCAT 1998), from MRIcron's
  brain-extracted ``ch2bet.nii.gz`` (Copyright 2006-2010 Chris Rorden, BSD-3-clause; the licence is
  ``data/LICENSE_colin27.txt``). The package ships one uint8 *tissue code* image built by
  ``tools/build_colin27_anatomy.py`` (intensity-based partial-volume segmentation inside the brain mask):
  code 0 is outside the brain, code c in 1..255 is the tissue coordinate t = (c - 1) / 127 in [0, 2]
  with t = 0 pure CSF, 1 pure grey matter, 2 pure white matter and linear mixtures between neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.atlas import load_mni152_atlas
from gdr_toolkit.dataset.image_io import read_image

AnatomyName = Literal["mni152", "colin27"]
ANATOMIES: tuple[AnatomyName, ...] = ("mni152", "colin27")
DATA_FOLDER = Path(__file__).with_name("data")
COLIN27_FILE = "colin27_tissue_code.nii.gz"
CODE_STEPS_PER_CLASS = 127  # code = 1 + round(127 t), t in [0, 2]
# Working box of Colin27 around its brain (mm): about the MNI152 template's margins (26-34 mm around the
# brain, none below it: both brains end at the brain stem, where the synthetic head is left open).
COLIN27_MARGIN_MM = {"lateral": 28.0, "inferior": 0.0, "superior": 32.0}


@dataclass(frozen=True)
class AnatomySource:
    """One brain on its own grid (SimpleITK images; identity or axis-flip directions, 1 mm).

    Attributes:
        name: the anatomy's name (one of :data:`ANATOMIES`).
        grey_matter, white_matter: tissue fractions in [0, 1], float32.
        brain_mask: uint8 0/1.
        extent: any image whose physical bounding box is the working box (the object grid covers it).
    """

    name: str
    grey_matter: sitk.Image
    white_matter: sitk.Image
    brain_mask: sitk.Image
    extent: sitk.Image


def tissue_code(coordinate: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Encode tissue coordinates t in [0, 2] (0 CSF, 1 GM, 2 WM) inside ``brain`` as uint8 codes 1..255.

    Args:
        coordinate: float array (any shape), t per voxel (clipped to [0, 2]).
        brain: boolean array of the same shape; voxels outside get code 0.

    Returns:
        uint8 array of the same shape.
    """
    codes = 1 + np.rint(np.clip(coordinate, 0.0, 2.0) * CODE_STEPS_PER_CLASS)
    return np.where(brain, codes, 0).astype(np.uint8)


def fractions_from_code(code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode uint8 tissue codes into (CSF, grey matter, white matter) fractions (float32, same shape).

    Outside the brain (code 0) all three are 0; inside they sum to 1.
    """
    code = np.asarray(code)
    inside = code > 0
    coordinate = (code.astype(np.float32) - 1.0) / CODE_STEPS_PER_CLASS
    white = np.clip(coordinate - 1.0, 0.0, 1.0)
    csf = np.clip(1.0 - coordinate, 0.0, 1.0)
    grey = 1.0 - white - csf
    return tuple(np.where(inside, part, 0.0).astype(np.float32) for part in (csf, grey, white))  # type: ignore[return-value]


def _like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def _padded_extent(brain_mask: sitk.Image) -> sitk.Image:
    """An image (1 voxel per corner) spanning the brain's box plus :data:`COLIN27_MARGIN_MM` (LPS, z up)."""
    filter_ = sitk.LabelShapeStatisticsImageFilter()
    filter_.Execute(brain_mask)
    start, size = np.array(filter_.GetBoundingBox(1)[:3]), np.array(filter_.GetBoundingBox(1)[3:])
    corners = np.array(
        [
            brain_mask.TransformIndexToPhysicalPoint([int(v) for v in start + offset * (size - 1)])
            for offset in (0, 1)
        ]
    )
    low, high = corners.min(axis=0), corners.max(axis=0)
    side = COLIN27_MARGIN_MM["lateral"]
    low = low - np.array([side, side, COLIN27_MARGIN_MM["inferior"]])
    high = high + np.array([side, side, COLIN27_MARGIN_MM["superior"]])
    extent = sitk.Image([2, 2, 2], sitk.sitkUInt8)
    extent.SetOrigin([float(v) for v in low])
    extent.SetSpacing([float(v) for v in high - low])
    return extent


@lru_cache(maxsize=1)
def _colin27() -> AnatomySource:
    path = DATA_FOLDER / COLIN27_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the package data of gdr_toolkit.simulation is incomplete (reinstall, or rebuild "
            "it with tools/build_colin27_anatomy.py)."
        )
    code_image = read_image(path)
    _, grey, white = fractions_from_code(sitk.GetArrayFromImage(code_image))
    mask = _like((sitk.GetArrayFromImage(code_image) > 0).astype(np.uint8), code_image)
    return AnatomySource(
        name="colin27",
        grey_matter=_like(grey, code_image),
        white_matter=_like(white, code_image),
        brain_mask=mask,
        extent=_padded_extent(mask),
    )


def load_anatomy(name: str) -> AnatomySource:
    """The anatomy ``name`` (cached per process).

    Raises:
        ValueError: an unknown name.
    """
    if name == "mni152":
        atlas = load_mni152_atlas()
        return AnatomySource("mni152", atlas.grey_matter, atlas.white_matter, atlas.brain_mask, atlas.t1)
    if name == "colin27":
        return _colin27()
    raise ValueError(f"Unknown anatomy {name!r}; expected one of {ANATOMIES}.")
