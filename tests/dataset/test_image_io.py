"""Reading images: the gzip completeness check (fast trailer path and full decompression)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import _nifti_size_matches_trailer, check_gzip_complete


@pytest.fixture
def nifti_gz(tmp_path):
    values = np.random.default_rng(0).normal(size=(6, 7, 8)).astype(np.float32)
    path = tmp_path / "scan.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(values), str(path))
    return path


def test_a_complete_nifti_passes_on_its_trailer_alone(nifti_gz):
    assert _nifti_size_matches_trailer(nifti_gz)
    check_gzip_complete(nifti_gz)


@pytest.mark.parametrize("cut_bytes", [1, 4, 200])
def test_a_truncated_nifti_is_refused_by_name(nifti_gz, cut_bytes):
    data = nifti_gz.read_bytes()
    nifti_gz.write_bytes(data[: len(data) - cut_bytes])
    assert not _nifti_size_matches_trailer(nifti_gz)
    with pytest.raises(ValueError, match=r"scan\.nii\.gz: the compressed file is truncated"):
        check_gzip_complete(nifti_gz)


def test_a_gzipped_file_of_another_format_is_decompressed_to_its_end(tmp_path):
    path = tmp_path / "scan.mha.gz"
    path.write_bytes(gzip.compress(b"not a nifti header" * 100)[:-10])
    assert not _nifti_size_matches_trailer(path)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        check_gzip_complete(path)
