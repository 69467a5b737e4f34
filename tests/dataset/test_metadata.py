from __future__ import annotations

import json

import pytest

from gdr_toolkit.dataset.metadata import load_case_metadata, parse_case_metadata

VALID = {"field_strength_t": 3.0, "contrast_agent": "Gadovist", "dose_fraction": 0.25, "flip_angle_deg": 12}


def test_valid_metadata_round_trips():
    metadata = parse_case_metadata(VALID)
    assert metadata.relaxivity_l_per_mmol_s == pytest.approx(4.5)
    assert metadata.sequence == {"flip_angle_deg": 12}
    assert parse_case_metadata(metadata.to_json_dict()) == metadata


def test_relaxivity_override_allows_unknown_agent():
    metadata = parse_case_metadata({**VALID, "contrast_agent": "experimental", "relaxivity": 7.5})
    assert metadata.relaxivity_l_per_mmol_s == 7.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dose_fraction": 1.7}, "dose_fraction"),
        ({"dose_fraction": 0.0}, "dose_fraction"),
        ({"field_strength_t": -1.0}, "field_strength_t"),
        ({"field_strength_t": 30.0}, "field_strength_t"),
        ({"field_strength_t": "3T"}, "finite number"),
        ({"contrast_agent": "gadolinium-x"}, "Unknown contrast agent"),
        ({"relaxivity": 0}, "relaxivity"),
    ],
)
def test_invalid_values_name_the_source(change, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_case_metadata({**VALID, **change}, source="case_007.json")
    assert "case_007.json" in str(info.value)


def test_missing_dose_is_named():
    with pytest.raises(ValueError, match="missing metadata key.*dose_fraction"):
        parse_case_metadata({"field_strength_t": 1.5, "contrast_agent": "gadobutrol"})


def test_archive_without_scanner_keys_keeps_them_absent():
    """A synthetic low dose from an archive knows its dose only: field, agent and relaxivity stay None."""
    metadata = parse_case_metadata({"dose_fraction": 0.33})
    assert metadata.field_strength_t is None and metadata.contrast_agent is None
    assert metadata.relaxivity_l_per_mmol_s is None
    assert metadata.to_json_dict() == {"dose_fraction": 0.33}


def test_agent_without_field_strength_has_no_relaxivity():
    assert (
        parse_case_metadata({"dose_fraction": 0.1, "contrast_agent": "gadobutrol"}).relaxivity_l_per_mmol_s
        is None
    )


def test_load_names_file_on_bad_json(tmp_path):
    path = tmp_path / "case.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="case.json"):
        load_case_metadata(path)
    path.write_text(json.dumps(VALID))
    assert load_case_metadata(path).dose_fraction == 0.25
