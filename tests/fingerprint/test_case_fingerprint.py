"""Per-case fingerprint values against the files and the simulator's ground truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.dataset.metadata import load_case_metadata
from gdr_toolkit.dataset.raw_layout import list_cases
from gdr_toolkit.fingerprint.case_fingerprint import CaseFingerprint, spacing_ratio
from gdr_toolkit.simulation import simulate_case


def test_geometry_equals_the_files(anisotropic_dataset, anisotropic_fingerprint):
    for case, found in zip(list_cases(anisotropic_dataset), anisotropic_fingerprint.cases, strict=True):
        assert found.case_id == case.case_id
        pre_contrast = sitk.ReadImage(str(case.pre_contrast))
        low_dose = sitk.ReadImage(str(case.low_dose))
        assert found.spacing_mm == pytest.approx(pre_contrast.GetSpacing())
        assert found.shape == pre_contrast.GetSize()
        assert found.direction == pytest.approx(pre_contrast.GetDirection())
        assert found.low_dose_spacing_mm == pytest.approx(low_dose.GetSpacing())
        assert found.low_dose_shape == low_dose.GetSize()
        assert found.standard_dose_shape == sitk.ReadImage(str(case.standard_dose)).GetSize()


def test_thick_slice_cases_have_a_spacing_ratio_of_two_to_three(anisotropic_fingerprint):
    for case in anisotropic_fingerprint.cases:
        assert 2.0 <= case.ce_to_pc_spacing_ratio <= 3.0


def test_same_resolution_case_has_a_spacing_ratio_of_one(fingerprint_without_metadata):
    assert fingerprint_without_metadata.cases[0].ce_to_pc_spacing_ratio == pytest.approx(1.0)


def test_spacing_ratio_ignores_storage_orientation():
    assert spacing_ratio((5.0, 1.0, 1.0), (1.0, 1.0, 1.0)) == pytest.approx(5.0)
    assert spacing_ratio((1.0, 1.0, 5.0), (1.0, 5.0, 1.0)) == pytest.approx(1.0)


def test_metadata_values_equal_the_files(anisotropic_dataset, anisotropic_fingerprint):
    for case, found in zip(list_cases(anisotropic_dataset), anisotropic_fingerprint.cases, strict=True):
        metadata = load_case_metadata(case.metadata)
        assert found.field_strength_t == metadata.field_strength_t
        assert found.dose_fraction == metadata.dose_fraction
        assert found.contrast_agent == metadata.contrast_agent
        assert found.relaxivity == pytest.approx(metadata.relaxivity_l_per_mmol_s)


def test_case_without_metadata_has_none_values(fingerprint_without_metadata):
    case = fingerprint_without_metadata.cases[0]
    assert (case.field_strength_t, case.contrast_agent, case.dose_fraction, case.relaxivity) == (None,) * 4


def test_noise_sigma_is_positive_and_finite(anisotropic_fingerprint):
    for case in anisotropic_fingerprint.cases:
        assert case.noise_sigma_ld > 0 and math.isfinite(case.noise_sigma_ld)


def test_brain_volume_matches_the_true_brain(anisotropic_fingerprint, anisotropic_simulation):
    settings, seed = anisotropic_simulation
    for index, case in enumerate(anisotropic_fingerprint.cases):
        truth = simulate_case(settings, seed, index).brain_mask
        true_voxels = int(sitk.GetArrayViewFromImage(truth).sum())
        true_ml = true_voxels * float(np.prod(truth.GetSpacing())) / 1000.0
        assert case.brain_voxel_count == pytest.approx(true_voxels, rel=0.15)
        assert case.brain_volume_ml == pytest.approx(true_ml, rel=0.15)


def test_intensity_percentiles_are_ordered_and_in_raw_units(anisotropic_dataset, anisotropic_fingerprint):
    case = anisotropic_fingerprint.cases[0]
    assert set(case.intensity_percentiles) == {"pre_contrast", "low_dose", "standard_dose"}
    for values in case.intensity_percentiles.values():
        ordered = [values[key] for key in ("0.5", "50", "95", "99.5")]
        assert ordered == sorted(ordered) and ordered[0] > 0
    pre_contrast = sitk.GetArrayFromImage(
        sitk.ReadImage(str(list_cases(anisotropic_dataset)[0].pre_contrast))
    )
    assert case.intensity_percentiles["pre_contrast"]["99.5"] <= pre_contrast.max()
    # the simulator's white matter is about 1000 raw units times a receiver gain in [0.8, 1.25]
    assert 300 < case.intensity_percentiles["low_dose"]["50"] < 3000


def test_head_box_holds_the_brain_and_fits_in_the_image(anisotropic_fingerprint):
    for case in anisotropic_fingerprint.cases:
        assert all(0 < box <= size for box, size in zip(case.head_box_shape, case.shape, strict=True))
        head_box_ml = np.prod(case.head_box_mm) / 1000.0
        assert case.brain_volume_ml < head_box_ml
        assert case.brain_voxel_count < case.head_voxel_count <= np.prod(case.head_box_shape)


def test_case_json_round_trip(anisotropic_fingerprint):
    case = anisotropic_fingerprint.cases[0]
    assert CaseFingerprint.from_json_dict(json.loads(json.dumps(case.to_json_dict()))) == case


def test_case_json_missing_key_names_the_source(anisotropic_fingerprint):
    record = anisotropic_fingerprint.cases[0].to_json_dict()
    del record["noise_sigma_ld"]
    with pytest.raises(ValueError, match="my.json.*noise_sigma_ld"):
        CaseFingerprint.from_json_dict(record, source="my.json")
