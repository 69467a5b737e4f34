"""The MNI152 (ICBM 2009a symmetric) T1 template, tissue maps and brain mask, read from nilearn's wheel.

nilearn ships the 1 mm template and grey/white-matter probability maps as package data; they are read
straight from disk with SimpleITK (which keeps their LPS geometry). Nothing is downloaded, and nilearn
itself is not imported (its import pulls in scikit-learn and pandas).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import read_image

_T1_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
_GM_FILE = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
_WM_FILE = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"
BRAIN_MASK_THRESHOLD = 0.2  # fraction of the template maximum; nilearn's load_mni152_brain_mask rule


@dataclass(frozen=True)
class MNI152Atlas:
    """The atlas on its 1 mm grid (197 x 233 x 189 voxels, LPS direction cosines).

    Attributes:
        t1: skull-stripped T1 template scaled to [0, 1], float32.
        grey_matter: grey-matter probability in [0, 1], float32.
        white_matter: white-matter probability in [0, 1], float32.
        brain_mask: brain mask (uint8, 0/1): template > 0.2 with holes filled.
    """

    t1: sitk.Image
    grey_matter: sitk.Image
    white_matter: sitk.Image
    brain_mask: sitk.Image


def nilearn_data_folder() -> Path:
    """Folder of nilearn's packaged data files, found without importing nilearn."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "nilearn is not installed; it provides the MNI152 atlas files (pip install nilearn)."
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    missing = [name for name in (_T1_FILE, _GM_FILE, _WM_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"nilearn's package data lacks {missing} in {folder}; reinstall nilearn.")
    return folder


def _read_scaled(path: Path) -> sitk.Image:
    image = sitk.Cast(read_image(path), sitk.sitkFloat32)
    maximum = float(sitk.GetArrayViewFromImage(image).max())
    return image / maximum


@lru_cache(maxsize=1)
def load_mni152_atlas() -> MNI152Atlas:
    """Load (once per process) the MNI152 template, GM/WM maps and brain mask as SimpleITK images."""
    folder = nilearn_data_folder()
    t1 = _read_scaled(folder / _T1_FILE)
    mask_array = (sitk.GetArrayViewFromImage(t1) > BRAIN_MASK_THRESHOLD).astype(np.uint8)
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(t1)
    mask = sitk.BinaryFillhole(mask)
    return MNI152Atlas(
        t1=t1,
        grey_matter=_read_scaled(folder / _GM_FILE),
        white_matter=_read_scaled(folder / _WM_FILE),
        brain_mask=mask,
    )
