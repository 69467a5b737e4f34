"""Training ranges: the quantities of a case, their ranges over training cases, storage with the model."""

from __future__ import annotations

import json

import pytest

from gdr_toolkit.model.training_ranges import (
    TRAINING_RANGES_FILE,
    QuantityRange,
    TrainingRanges,
    case_quantities,
    fold_training_ranges,
    normalised_brain_percentiles,
    read_training_ranges,
    write_training_ranges,
)


def properties(sigma: float = 0.03, field_strength: float = 3.0, **changes) -> dict:
    """A preprocessed case's properties (the keys case_quantities reads)."""
    record = {
        "noise_sigma_ld": sigma,
        "condition": {"dose_fraction": 0.25, "field_strength_t": field_strength, "relaxivity": 4.5},
        "intensity_scales": {"pre_contrast": 800.0, "low_dose": 400.0},
        "radiometric_scales": {"low_dose": 1.1},
        "geometry": {"spacing_mm": [0.9, 0.9, 5.5]},
        "brain_volume_ml": 1250.0,
        "coverage": {"low_dose": 0.97},
        "registration_quality": {"low_dose": {"fov_overlap": 0.97, "similarity": 0.88, "accepted": True}},
    }
    return record | changes


def test_case_quantities_reads_every_stored_measure():
    quantities = case_quantities(properties(), {"pre_contrast": {"50": 0.6}, "low_dose": {"95": 1.1}})
    assert quantities == {
        "dose_fraction": 0.25, "field_strength_t": 3.0, "relaxivity": 4.5, "noise_sigma_ld": 0.03,
        "x_pc_brain_percentile_50": 0.6, "x_ld_brain_percentile_95": 1.1,
        "pre_contrast_scale_raw": 800.0, "low_dose_scale_raw": 400.0,
        "spacing_min_mm": 0.9, "spacing_max_mm": 5.5, "brain_volume_ml": 1250.0,
        "low_dose_coverage": 0.97, "low_dose_registration_similarity": 0.88,
    }  # fmt: skip


def test_case_quantities_leaves_out_what_a_case_lacks():
    record = {"noise_sigma_ld": 0.02, "condition": {}, "brain_volume_ml": None}
    assert case_quantities(record) == {"noise_sigma_ld": 0.02}


def test_fingerprint_percentiles_become_those_of_the_normalised_scans():
    raw = {"pre_contrast": {"50": 400.0, "95": 800.0}, "low_dose": {"95": 400.0, "0.5": 40.0}}
    normalised = normalised_brain_percentiles(raw, properties())
    assert normalised["pre_contrast"] == pytest.approx({"50": 0.5, "95": 1.0})  # raw / 800
    assert normalised["low_dose"] == pytest.approx({"95": 1.1, "0.5": 0.11})  # raw / 400 * a (1.1)


def test_ranges_span_the_cases_and_keep_the_field_strengths_seen():
    cases = [
        case_quantities(properties(sigma, field)) for sigma, field in ((0.02, 1.5), (0.05, 3.0), (0.03, 3.0))
    ]
    ranges = TrainingRanges.from_cases(cases)
    assert ranges.case_count == 3
    assert ranges.quantities["noise_sigma_ld"] == QuantityRange(0.02, 0.05, 3)
    assert ranges.quantities["field_strength_t"].values == (1.5, 3.0)
    assert TrainingRanges.from_json_dict(json.loads(json.dumps(ranges.to_json_dict()))) == ranges


def test_union_of_folds_widens_each_range():
    first = TrainingRanges.from_cases([case_quantities(properties(0.02, 1.5))])
    second = TrainingRanges.from_cases(
        [{"noise_sigma_ld": 0.06, "field_strength_t": 3.0, "dose_fraction": 0.1}]
    )
    union = first.union(second)
    assert (union.quantities["noise_sigma_ld"].minimum, union.quantities["noise_sigma_ld"].maximum) == (
        0.02,
        0.06,
    )
    assert union.quantities["field_strength_t"].values == (1.5, 3.0)
    assert union.quantities["dose_fraction"].minimum == 0.1
    assert union.quantities["brain_volume_ml"] == first.quantities["brain_volume_ml"]  # only in one fold


def test_fold_ranges_take_brain_percentiles_from_the_fingerprint(tmp_path):
    fingerprint = tmp_path / "dataset_fingerprint.json"
    cases = [{"case_id": "a", "intensity_percentiles": {"pre_contrast": {"50": 400.0}, "low_dose": {}}}]
    fingerprint.write_text(json.dumps({"cases": cases}))
    ranges = fold_training_ranges({"a": properties(), "b": properties(0.05)}, fingerprint)
    assert ranges.quantities["x_pc_brain_percentile_50"] == QuantityRange(0.5, 0.5, 1)  # only a has one
    assert ranges.quantities["noise_sigma_ld"] == QuantityRange(0.03, 0.05, 2)
    without = fold_training_ranges({"a": properties()}, tmp_path / "absent.json")
    assert "x_pc_brain_percentile_50" not in without.quantities


def test_ranges_are_read_from_the_checkpoint_then_the_fold_file(tmp_path):
    stored = TrainingRanges.from_cases([{"noise_sigma_ld": 0.03}])
    in_file = TrainingRanges.from_cases([{"noise_sigma_ld": 0.07}])
    assert read_training_ranges({}, tmp_path) is None  # an older model
    write_training_ranges(in_file, tmp_path)
    assert (tmp_path / TRAINING_RANGES_FILE).is_file()
    assert read_training_ranges({}, tmp_path) == in_file
    assert read_training_ranges({"training_ranges": stored.to_json_dict()}, tmp_path) == stored


def test_a_malformed_ranges_file_is_an_error_naming_it(tmp_path):
    (tmp_path / TRAINING_RANGES_FILE).write_text(json.dumps({"format_version": 7}))
    with pytest.raises(ValueError, match=TRAINING_RANGES_FILE):
        read_training_ranges({}, tmp_path)
