"""Tests of the skull-stripped rule: synthetic supports, Colin27's head and brain, and the real BraTS pair."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from colin27_cases import BRAIN_FILE, HEAD_FILE, colin27_available
from scipy import ndimage

from gdr_toolkit.preprocessing.skull_stripped import check_skull_stripped, largest_component, support_mask

SPACING = (2.0, 2.0, 2.0)


def _ball_head(shell: bool, background: float = 0.0, seed: int = 0) -> np.ndarray:
    """A 2 mm grid: a brain ball (radius 60 mm) and, with ``shell``, a dark skull and a bright scalp."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[-50:50, -50:50, -50:50]
    radius_mm = 2.0 * np.sqrt(z**2 + y**2 + x**2)
    values = np.where(radius_mm <= 60, 100.0 + rng.normal(0, 5, radius_mm.shape), background)
    if shell:
        values = np.where((radius_mm > 60) & (radius_mm <= 68), 5.0, values)
        values = np.where((radius_mm > 68) & (radius_mm <= 76), 140.0, values)
    return values


def test_a_brain_in_exact_zeros_is_skull_stripped():
    check = check_skull_stripped(_ball_head(shell=False), SPACING)
    assert check.skull_stripped
    assert check.zero_fraction > 0.3 and check.largest_share == 1.0 and check.dark_shell_fraction < 0.05


def test_a_head_with_a_skull_in_exact_zeros_is_not():
    check = check_skull_stripped(_ball_head(shell=True), SPACING)
    assert not check.skull_stripped
    assert check.dark_shell_fraction > 0.5


def test_a_noisy_background_is_not_skull_stripped():
    values = _ball_head(shell=False) + np.abs(np.random.default_rng(1).normal(0, 2, (100, 100, 100)))
    check = check_skull_stripped(values, SPACING)
    assert not check.skull_stripped and check.zero_fraction == 0.0


def test_two_separate_supports_are_not_skull_stripped():
    values = _ball_head(shell=False)
    values[:, :, 90:] = 50.0  # a second slab-shaped support, not touching the ball
    check = check_skull_stripped(values, SPACING)
    assert not check.skull_stripped and check.largest_share < 0.99


def test_support_mask_fills_holes_and_drops_specks():
    values = _ball_head(shell=False)
    values[45:55, 45:55, 45:55] = 0.0  # a zero hole inside (e.g. a resection cavity stored as 0)
    values[2, 2, 2] = 7.0  # an isolated speck
    mask = support_mask(values)
    assert mask[50, 50, 50] and not mask[2, 2, 2]
    assert mask.sum() == ndimage.binary_fill_holes(largest_component(values != 0)).sum()


@pytest.mark.skipif(not colin27_available(), reason="Colin27 (Debian mricron-data) is not installed")
@pytest.mark.parametrize(
    ("path", "expected"), [(BRAIN_FILE, True), (HEAD_FILE, False)], ids=["ch2bet", "ch2"]
)
def test_colin27_brain_is_stripped_and_its_zero_padded_head_is_not(path, expected):
    image = sitk.ReadImage(str(path))
    check = check_skull_stripped(sitk.GetArrayViewFromImage(image), image.GetSpacing()[::-1])
    # the head has exact zeros in 42 % of its voxels around one component: only the shell tells
    assert check.zero_fraction > 0.3 and check.largest_share > 0.99
    assert check.skull_stripped is expected


def test_the_real_brats_scan_is_skull_stripped(real_pair):
    image = sitk.ReadImage(str(real_pair.pre_contrast))
    check = check_skull_stripped(sitk.GetArrayViewFromImage(image), image.GetSpacing()[::-1])
    assert check.skull_stripped
