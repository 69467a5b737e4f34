"""int16 storage with NIfTI rescaling: range filled, positive slope, values read back within slope / 2."""

from __future__ import annotations

import nibabel
import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.simulation.scanner_storage import int16_rescaling, quantise, write_rescaled_int16_atomic

OBLIQUE = (0.0, 1.0, 0.0, -0.8, 0.0, 0.6, 0.6, 0.0, 0.8)


def _image(values: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.9, 0.9, 4.0))
    image.SetOrigin((-10.0, 20.5, 3.0))
    image.SetDirection(OBLIQUE)
    return image


def test_rescaling_fills_the_int16_range_with_a_positive_slope():
    values = np.random.default_rng(0).uniform(3.0, 2500.0, size=(5, 6, 7)).astype(np.float32)
    rescaling = int16_rescaling(values)
    stored = quantise(values, rescaling)
    assert rescaling.slope > 0
    assert stored.min() == -32768 and stored.max() == 32767


def test_written_int16_file_reads_back_within_half_a_slope(tmp_path):
    values = np.random.default_rng(1).gamma(2.0, 300.0, size=(6, 7, 8)).astype(np.float32)
    image = _image(values)
    rescaling = int16_rescaling(values)
    path = tmp_path / "scan.nii.gz"
    write_rescaled_int16_atomic(image, rescaling, path)
    stored = nibabel.load(path)
    assert stored.get_data_dtype() == np.int16
    assert stored.dataobj.slope == pytest.approx(rescaling.slope, rel=1e-7)
    assert stored.dataobj.inter == pytest.approx(rescaling.intercept, rel=1e-7)
    read = sitk.ReadImage(str(path))
    error = np.abs(sitk.GetArrayFromImage(read).astype(np.float64) - values)
    assert error.max() <= rescaling.slope / 2 + 1e-6 * values.max()
    assert error.max() > 0  # really quantised
    assert read.GetDirection() == pytest.approx(OBLIQUE, abs=1e-6)
    assert read.GetOrigin() == pytest.approx(image.GetOrigin(), abs=1e-4)
    assert read.GetSpacing() == pytest.approx(image.GetSpacing(), abs=1e-6)
    assert not [name for name in tmp_path.iterdir() if name.name != "scan.nii.gz"]  # no temporary left
