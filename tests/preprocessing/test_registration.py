"""Tests of the itk-elastix wrapper: known rigid/affine motions are recovered, resampling conventions hold.

All elastix calls share one process and module-scoped fixtures, so the elastix start-up (~10-20 s) is
paid once.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.atlas import load_mni152_atlas
from gdr_toolkit.preprocessing.registration import RegistrationOptions, RegistrationResult, register

pytestmark = pytest.mark.filterwarnings("ignore:builtin type:DeprecationWarning")

THREADS = 2


def _downsampled(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    size = [int(round(n * s / spacing_mm)) for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)]
    source = sitk.SmoothingRecursiveGaussian(image, spacing_mm / 2) if spacing_mm > 1 else image
    return sitk.Resample(
        source, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), (spacing_mm,) * 3,
        image.GetDirection(), 0.0, image.GetPixelID(),
    )  # fmt: skip


def _oblique_grid_like(image: sitk.Image) -> sitk.Image:
    """An empty grid with image's size/spacing, oblique RAS-like direction cosines, same physical centre."""
    flip = np.diag([-1.0, 1.0, -1.0])
    rotation = np.array(sitk.VersorTransform((0.2, 0.3, 0.9), 0.3).GetMatrix()).reshape(3, 3)
    grid = sitk.Image(image.GetSize(), sitk.sitkFloat32)
    grid.SetSpacing(image.GetSpacing())
    grid.SetDirection((rotation @ flip).ravel().tolist())
    centre = [(n - 1) / 2 for n in image.GetSize()]
    offset = np.array(image.TransformContinuousIndexToPhysicalPoint(centre))
    grid.SetOrigin(tuple(offset - np.array(grid.TransformContinuousIndexToPhysicalPoint(centre))))
    return grid


def _moved(image: sitk.Image, true_transform: sitk.Transform) -> sitk.Image:
    """Moving image with moving(T(x)) = image(x), stored on an oblique grid."""
    return sitk.Resample(image, _oblique_grid_like(image), true_transform.GetInverse(), sitk.sitkLinear, 0.0)


def _brain_points(mask: sitk.Image, step: int = 5) -> np.ndarray:
    indices = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[::step, ::-1]
    return np.array([mask.TransformIndexToPhysicalPoint([int(i) for i in index]) for index in indices])


def _mean_error_mm(points: np.ndarray, found: sitk.Transform, true: sitk.Transform) -> float:
    errors = [np.linalg.norm(np.subtract(found.TransformPoint(p), true.TransformPoint(p))) for p in points]
    return float(np.mean(errors))


def _true_rigid() -> sitk.Euler3DTransform:
    return sitk.Euler3DTransform((0, -18, 18), np.radians(4), np.radians(-3), np.radians(5), (5, -4, 3))


def _true_affine() -> sitk.AffineTransform:
    affine = sitk.AffineTransform(3)
    affine.SetCenter((0, -18, 18))
    rotation = np.array(sitk.Euler3DTransform((0, 0, 0), 0.05, -0.03, 0.04).GetMatrix()).reshape(3, 3)
    affine.SetMatrix((rotation @ np.diag([1.04, 0.97, 1.02])).ravel().tolist())
    affine.SetTranslation((3, -2, 4))
    return affine


@pytest.fixture(scope="module")
def template_2mm() -> tuple[sitk.Image, sitk.Image]:
    atlas = load_mni152_atlas()
    return _downsampled(atlas.t1, 2.0), _downsampled(atlas.brain_mask, 2.0)


@pytest.fixture(scope="module")
def rigid_case(template_2mm):
    fixed, mask = template_2mm
    moving = _moved(fixed, _true_rigid())
    result = register(fixed, moving, RegistrationOptions(number_of_threads=THREADS))
    return fixed, mask, moving, result


def test_rigid_motion_is_recovered_at_2mm(rigid_case):
    _, mask, _, result = rigid_case
    assert result.transform_kinds == ("rigid",)
    found = result.to_sitk_transform()
    assert isinstance(found, sitk.Euler3DTransform)
    assert _mean_error_mm(_brain_points(mask), found, _true_rigid()) < 1.0


def test_affine_motion_is_recovered_at_2mm(template_2mm):
    fixed, mask = template_2mm
    moving = _moved(fixed, _true_affine())
    options = RegistrationOptions(transform="affine", number_of_threads=THREADS, initialisation="moments")
    result = register(fixed, moving, options)
    assert isinstance(result.to_sitk_transform(), sitk.AffineTransform)
    assert _mean_error_mm(_brain_points(mask), result.to_sitk_transform(), _true_affine()) < 1.0


def test_rigid_then_affine_cascade_composes_into_one_affine(template_2mm, tmp_path):
    fixed, mask = template_2mm
    moving = _moved(fixed, _true_affine())
    stages = (
        RegistrationOptions(number_of_threads=THREADS, initialisation="moments"),
        RegistrationOptions(transform="affine", number_of_threads=THREADS),
    )
    result = register(fixed, moving, stages)
    assert result.transform_kinds == ("rigid", "affine")
    points = _brain_points(mask, step=50)
    assert _mean_error_mm(_brain_points(mask), result.to_sitk_transform(), _true_affine()) < 1.0
    path = tmp_path / "cascade.txt"
    result.save_parameter_file(path)
    reread = RegistrationResult.from_parameter_file(path)
    assert _mean_error_mm(points, reread.to_sitk_transform(), result.to_sitk_transform()) < 1e-6
    by_transformix = reread.resample(moving, fixed, "linear", backend="transformix")
    by_simpleitk = result.resample(moving, fixed, "linear")
    np.testing.assert_allclose(_array(by_transformix), _array(by_simpleitk), atol=1e-3)


def test_simpleitk_and_transformix_resampling_agree_on_an_oblique_grid(rigid_case):
    fixed, _, moving, result = rigid_case
    oblique_reference = _oblique_grid_like(fixed)
    by_simpleitk = result.resample(moving, oblique_reference, "linear")
    by_transformix = result.resample(moving, oblique_reference, "linear", backend="transformix")
    assert by_transformix.GetDirection() == oblique_reference.GetDirection()
    np.testing.assert_allclose(_array(by_transformix), _array(by_simpleitk), atol=1e-3)


@pytest.mark.parametrize("backend", ["simpleitk", "transformix"])
def test_nearest_resampling_keeps_a_mask_binary_and_leaves_the_maps_unchanged(rigid_case, backend):
    fixed, mask, _, result = rigid_case
    maps_before = [dict(parameter_map) for parameter_map in result.parameter_maps]
    moved_mask = sitk.Resample(
        mask, _oblique_grid_like(mask), _true_rigid().GetInverse(), sitk.sitkNearestNeighbor
    )
    resampled = result.resample(moved_mask, fixed, "nearest", backend=backend)
    assert resampled.GetPixelID() == mask.GetPixelID()
    assert set(np.unique(_array(resampled))) <= {0, 1}
    assert [dict(parameter_map) for parameter_map in result.parameter_maps] == maps_before
    overlap = _dice(_array(resampled), _array(mask))
    assert overlap > 0.95


def test_saved_parameter_file_gives_the_same_resampling(rigid_case, tmp_path):
    fixed, _, moving, result = rigid_case
    path = tmp_path / "TransformParameters.0.txt"
    result.save_parameter_file(path)
    reread = RegistrationResult.from_parameter_file(path)
    assert reread.to_sitk_transform().GetParameters() == pytest.approx(
        result.to_sitk_transform().GetParameters()
    )
    np.testing.assert_allclose(
        _array(reread.resample(moving, fixed, "bspline")),
        _array(result.resample(moving, fixed, "bspline")),
        atol=1e-5,
    )
    written = list(tmp_path.iterdir())
    assert written == [path]


def test_registration_writes_no_files_into_the_working_directory(template_2mm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fixed, mask = template_2mm
    register(
        fixed,
        fixed,
        RegistrationOptions(number_of_threads=THREADS, number_of_resolutions=1, iterations_per_resolution=8),
        fixed_mask=mask,
    )
    assert list(tmp_path.iterdir()) == []


def test_non_3d_input_is_rejected(template_2mm):
    fixed, _ = template_2mm
    with pytest.raises(ValueError, match="moving: expected a single-channel 3D image"):
        register(fixed, sitk.Image([8, 8], sitk.sitkFloat32))


def test_nan_input_is_rejected(template_2mm):
    fixed, _ = template_2mm
    array = sitk.GetArrayFromImage(fixed)
    array[3, 4, 5] = np.nan
    broken = sitk.GetImageFromArray(array)
    broken.CopyInformation(fixed)
    with pytest.raises(ValueError, match="moving image: 1 voxel"):
        register(fixed, broken)


def test_empty_mask_is_rejected(template_2mm):
    fixed, mask = template_2mm
    with pytest.raises(ValueError, match="fixed_mask is empty"):
        register(fixed, fixed, fixed_mask=mask * 0)


def test_invalid_options_name_the_argument():
    with pytest.raises(ValueError, match="transform must be 'rigid' or 'affine', got 'bspline'"):
        RegistrationOptions(transform="bspline")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="iterations_per_resolution must be >= 1, got 0"):
        RegistrationOptions(iterations_per_resolution=0)
    with pytest.raises(ValueError, match="working_spacing_mm must be None or > 0, got -1"):
        RegistrationOptions(working_spacing_mm=-1.0)


@pytest.mark.slow
def test_rigid_motion_is_recovered_at_1mm():
    atlas = load_mni152_atlas()
    moving = _moved(atlas.t1, _true_rigid())
    result = register(atlas.t1, moving, RegistrationOptions(number_of_threads=THREADS))
    assert (
        _mean_error_mm(_brain_points(atlas.brain_mask, step=40), result.to_sitk_transform(), _true_rigid())
        < 0.5
    )


def test_rigid_motion_at_1mm_is_recovered_on_a_2mm_working_grid():
    atlas = load_mni152_atlas()
    moving = _moved(atlas.t1, _true_rigid())
    options = RegistrationOptions(number_of_threads=THREADS, working_spacing_mm=2.0)
    result = register(atlas.t1, moving, options, fixed_mask=atlas.brain_mask)
    points = _brain_points(atlas.brain_mask, step=40)
    assert _mean_error_mm(points, result.to_sitk_transform(), _true_rigid()) < 0.5
    assert result.parameter_maps[0]["Spacing"] == tuple(repr(float(s)) for s in atlas.t1.GetSpacing())
    assert result.parameter_maps[0]["Size"] == tuple(str(n) for n in atlas.t1.GetSize())


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def _dice(first: np.ndarray, second: np.ndarray) -> float:
    return float(2 * np.logical_and(first > 0, second > 0).sum() / ((first > 0).sum() + (second > 0).sum()))
