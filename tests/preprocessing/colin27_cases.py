"""Brain-mask test cases built from Colin27 (Debian's mricron-data; BSD-3), with reference masks.

``ch2.nii.gz`` is the Colin27 single-subject head (1 mm, scalp, skull, face), ``ch2bet.nii.gz`` the same
intensities inside its BET brain mask; the reference brain is ``ch2bet > 0``. Nothing is shipped: the
files are read from ``/usr/share/mricron/templates/`` and callers skip where they are absent.

Cases (see documentation/registration.md, "Brain masks on heads that are not MNI-like"):

- ``scaled_head(scale)``: the 1 mm head with every dimension multiplied by ``scale`` (the voxel spacing
  is multiplied, the voxels are untouched, so anatomy and reference stay exact); Rician noise.
- ``spin_echo_slab(...)``: a 2D T1 spin-echo-like acquisition. Contrast: a monotone piecewise-linear
  remap of the Colin27 intensities, with knots at the class intensities of CSF, grey matter, white
  matter and fat in ch2 and target values from the spin-echo signal ``S = PD (1 - exp(-TR/T1))
  exp(-TE/T2)`` at TR 500 ms, TE 12 ms with 3 T tissue values (:data:`SPIN_ECHO_TISSUES`). Geometry:
  axial slices of ``slice_mm`` (5.5 mm) with a Gaussian slice profile (FWHM = slice thickness) and
  1 mm in plane, covering a slab of ``slab_mm`` (143 mm) that starts ``top_margin_mm`` below the top of
  the scalp, so the lower cerebellum/brainstem and the neck lie outside. Rician noise, sigma 3 % of the
  white-matter signal. The reference is ch2bet's mask with the same slice profile, ``>= 0.5``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

TEMPLATES = Path("/usr/share/mricron/templates")
HEAD_FILE = TEMPLATES / "ch2.nii.gz"
BRAIN_FILE = TEMPLATES / "ch2bet.nii.gz"

# Class intensities of ch2 (0-255 file scale): CSF, grey matter, white matter (modes of the histogram
# inside ch2bet) and subcutaneous fat (the bright scalp).
_CH2_CLASS_INTENSITY = {"csf": 30.0, "gm": 78.0, "wm": 112.0, "fat": 170.0}
# (PD, T1 ms, T2 ms) at 3 T: WM/GM from Stanisz et al., MRM 54:507 (2005); CSF and subcutaneous fat typical
# literature values. Spin echo TR 500 ms, TE 12 ms.
SPIN_ECHO_TISSUES = {
    "csf": (1.0, 4300.0, 2000.0),
    "gm": (0.80, 1820.0, 99.0),
    "wm": (0.69, 1084.0, 69.0),
    "fat": (0.90, 382.0, 68.0),
}
SPIN_ECHO_TR_MS = 500.0
SPIN_ECHO_TE_MS = 12.0


def colin27_available() -> bool:
    return HEAD_FILE.is_file() and BRAIN_FILE.is_file()


def spin_echo_signal(pd: float, t1_ms: float, t2_ms: float) -> float:
    """S = PD (1 - exp(-TR/T1)) exp(-TE/T2) at the module's TR and TE."""
    return pd * (1.0 - np.exp(-SPIN_ECHO_TR_MS / t1_ms)) * np.exp(-SPIN_ECHO_TE_MS / t2_ms)


def spin_echo_contrast(head: np.ndarray) -> np.ndarray:
    """Monotone piecewise-linear remap of ch2 intensities to spin-echo signal (white matter = 100)."""
    names = ("csf", "gm", "wm", "fat")
    signal = {name: spin_echo_signal(*SPIN_ECHO_TISSUES[name]) for name in names}
    knots_in = [0.0, *(_CH2_CLASS_INTENSITY[name] for name in names), 255.0]
    knots_out = [0.0, *(signal[name] for name in names), 1.1 * signal["fat"]]
    if np.any(np.diff(knots_out) <= 0):
        raise AssertionError(f"spin-echo remap is not monotone: {knots_out}")
    return (np.interp(head, knots_in, knots_out) * 100.0 / signal["wm"]).astype(np.float32)


def _read(path: Path, scale: float) -> sitk.Image:
    image = sitk.Cast(sitk.ReadImage(str(path)), sitk.sitkFloat32)
    centre = np.array(image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in image.GetSize()]))
    image.SetSpacing([s * scale for s in image.GetSpacing()])
    image.SetOrigin(tuple(centre + (np.array(image.GetOrigin()) - centre) * scale))
    return image


def _rician(array: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    real = array + rng.normal(0.0, sigma, array.shape)
    imaginary = rng.normal(0.0, sigma, array.shape)
    return np.sqrt(real**2 + imaginary**2).astype(np.float32)


def _with_values(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


def scaled_head(scale: float, seed: int = 0, noise: float = 0.03) -> tuple[sitk.Image, sitk.Image]:
    """Colin27 head scaled by ``scale`` (T1 gradient-echo contrast as in the file) and its brain mask."""
    head = _read(HEAD_FILE, scale)
    brain = _read(BRAIN_FILE, scale)
    values = sitk.GetArrayFromImage(head)
    noisy = _rician(values, noise * _CH2_CLASS_INTENSITY["wm"], seed)
    mask = ndimage.binary_fill_holes(sitk.GetArrayViewFromImage(brain) > 0).astype(np.uint8)
    return _with_values(noisy, head), _with_values(mask, head)


def spin_echo_slab(
    slice_mm: float = 5.5,
    atrophy_mm: float = 0.0,
    slab_mm: float = 143.0,
    top_margin_mm: float = 0.0,
    scale: float = 1.0,
    seed: int = 0,
    noise: float = 0.03,
) -> tuple[sitk.Image, sitk.Image]:
    """Thick-slice 2D spin-echo-like slab of the Colin27 head and the reference brain mask on its grid.

    Returns:
        The slab (float32, white matter ~100) and the reference mask (uint8), same grid (1 x 1 x
        ``slice_mm`` mm, RAS storage as ch2).
    """
    head = _read(HEAD_FILE, scale)
    brain = _read(BRAIN_FILE, scale)
    mask = ndimage.binary_fill_holes(sitk.GetArrayViewFromImage(brain) > 0)
    head_values = sitk.GetArrayFromImage(head)
    if atrophy_mm > 0:
        kept = ndimage.distance_transform_edt(mask, sampling=head.GetSpacing()[::-1]) > atrophy_mm
        head_values[mask & ~kept] = _CH2_CLASS_INTENSITY["csf"]
        mask = kept
    values = spin_echo_contrast(head_values)
    mask = mask.astype(np.float32)
    z_spacing = head.GetSpacing()[2]
    sigma_voxels = slice_mm / (2.0 * np.sqrt(2.0 * np.log(2.0))) / z_spacing
    profile = {
        name: ndimage.gaussian_filter1d(array, sigma_voxels, axis=0, mode="constant")
        for name, array in (("values", values), ("mask", mask))
    }
    occupied = np.nonzero((sitk.GetArrayViewFromImage(head) > 40).any(axis=(1, 2)))[0]
    top_mm = head.GetOrigin()[2] + occupied[-1] * z_spacing - top_margin_mm
    count = int(round(slab_mm / slice_mm))
    grid = sitk.Image([head.GetSize()[0], head.GetSize()[1], count], sitk.sitkFloat32)
    grid.SetSpacing((head.GetSpacing()[0], head.GetSpacing()[1], slice_mm))
    grid.SetDirection(head.GetDirection())
    grid.SetOrigin((head.GetOrigin()[0], head.GetOrigin()[1], top_mm - (count - 0.5) * slice_mm))
    resampled = {
        name: sitk.GetArrayFromImage(
            sitk.Resample(_with_values(array, head), grid, sitk.Transform(), sitk.sitkLinear, 0.0)
        )
        for name, array in profile.items()
    }
    noisy = _rician(resampled["values"], noise * 100.0, seed)
    return _with_values(noisy, grid), _with_values((resampled["mask"] >= 0.5).astype(np.uint8), grid)


def volume_ml(mask: sitk.Image) -> float:
    return float(sitk.GetArrayViewFromImage(mask).astype(bool).sum() * np.prod(mask.GetSpacing()) / 1000.0)
