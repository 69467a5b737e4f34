"""Derived summaries of the dataset fingerprint and its JSON round trip."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gdr_toolkit.fingerprint.dataset_fingerprint import DatasetFingerprint, summarise_values


def test_constant_field_strength_does_not_vary(anisotropic_fingerprint):
    summary = anisotropic_fingerprint.metadata_summary()["field_strength_t"]
    assert summary.present_in_all_cases
    assert summary.unique_values == (3.0,)
    assert not summary.varies
    assert summary.minimum == summary.maximum == 3.0


def test_drawn_dose_fraction_varies(anisotropic_fingerprint):
    summary = anisotropic_fingerprint.metadata_summary()["dose_fraction"]
    assert summary.present_in_all_cases and summary.varies
    assert 0.1 <= summary.minimum < summary.maximum <= 0.33


def test_dataset_without_metadata_reports_every_key_missing(fingerprint_without_metadata):
    summaries = fingerprint_without_metadata.metadata_summary()
    assert set(summaries) == {"dose_fraction", "field_strength_t", "relaxivity"}
    for summary in summaries.values():
        assert not summary.present_in_all_cases and not summary.varies
        assert summary.unique_values == () and summary.minimum is None
    assert fingerprint_without_metadata.contrast_agents == ()
    json.dumps(fingerprint_without_metadata.to_json_dict())


def test_value_missing_in_one_case_is_not_present_in_all():
    summary = summarise_values("dose_fraction", [0.1, None, 0.2])
    assert not summary.present_in_all_cases and summary.present_in_cases == 2 and summary.varies


def test_medians_and_totals(anisotropic_fingerprint):
    cases = anisotropic_fingerprint.cases
    assert anisotropic_fingerprint.median_spacing_mm == pytest.approx((4.0, 4.0, 4.0))
    assert anisotropic_fingerprint.median_shape == cases[0].shape  # one simulated grid for every case
    assert 2.0 <= anisotropic_fingerprint.median_ce_to_pc_spacing_ratio <= 3.0
    assert anisotropic_fingerprint.total_brain_voxels == sum(case.brain_voxel_count for case in cases)
    sigma = anisotropic_fingerprint.noise_sigma_ld_range
    assert 0 < sigma["min"] <= sigma["median"] <= sigma["max"]
    widths = sorted(case.head_box_mm[0] for case in cases)
    assert anisotropic_fingerprint.median_head_box_mm[0] == pytest.approx(widths[1])


def test_json_round_trip_keeps_every_case(anisotropic_fingerprint):
    record = json.loads(json.dumps(anisotropic_fingerprint.to_json_dict()))
    assert record["schema_version"] == 1 and record["summary"]["num_cases"] == 3
    assert DatasetFingerprint.from_json_dict(record) == anisotropic_fingerprint


def test_other_schema_version_is_refused_with_a_hint(anisotropic_fingerprint):
    record = {**anisotropic_fingerprint.to_json_dict(), "schema_version": 0}
    with pytest.raises(ValueError, match="schema_version.*--clean"):
        DatasetFingerprint.from_json_dict(record)


def test_contrast_agents_are_distinct_and_lower_case(anisotropic_fingerprint):
    cases = tuple(replace(case, contrast_agent="Gadovist") for case in anisotropic_fingerprint.cases)
    mixed = DatasetFingerprint("Dataset999_X", (*cases, replace(cases[0], contrast_agent="gadovist")))
    assert mixed.contrast_agents == ("gadovist",)
