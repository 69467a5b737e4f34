"""Condition vectors: key order, normalisation with training statistics, missing keys."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.model.conditions import ConditionNormalisation, raw_condition

KEYS = ("dose_fraction", "field_strength_t", "relaxivity", "noise_sigma_ld")


def properties(dose: float, field: float, sigma: float) -> dict:
    return {
        "condition": {"dose_fraction": dose, "field_strength_t": field, "relaxivity": 4.5},
        "noise_sigma_ld": sigma,
    }


def test_raw_condition_follows_the_key_order():
    vector = raw_condition(
        properties(0.2, 3.0, 0.05), ("noise_sigma_ld", "dose_fraction", "field_strength_t"), "a"
    )
    assert vector.tolist() == [0.05, 0.2, 3.0]


def test_training_statistics_standardise_each_key():
    cases = {
        "a": properties(0.1, 1.5, 0.02),
        "b": properties(0.3, 3.0, 0.04),
        "c": properties(0.2, 3.0, 0.06),
    }
    normalisation = ConditionNormalisation.from_training_cases(cases, KEYS)
    table = np.stack([normalisation.case_vector(props, case) for case, props in cases.items()])
    assert table.dtype == np.float32
    assert table[:, [0, 1, 3]].mean(axis=0) == pytest.approx(0.0, abs=1e-6)
    assert table[:, [0, 1, 3]].std(axis=0) == pytest.approx(1.0, rel=1e-5)
    assert normalisation.std[2] == 1.0  # constant relaxivity: centred only
    assert table[:, 2] == pytest.approx(0.0, abs=1e-6)


def test_missing_key_names_the_case_and_the_key():
    record = properties(0.1, 1.5, 0.02)
    del record["condition"]["relaxivity"]
    with pytest.raises(ValueError, match="case 'case_007'.*'relaxivity'"):
        raw_condition(record, KEYS, "case_007")
    with pytest.raises(ValueError, match="'noise_sigma_ld'"):
        raw_condition({"condition": {}}, ("noise_sigma_ld",), "case_008")


def test_normalisation_round_trips_through_json():
    normalisation = ConditionNormalisation(("dose_fraction",), (0.2,), (0.1,))
    assert ConditionNormalisation.from_json_dict(normalisation.to_json_dict()) == normalisation


def test_no_keys_give_empty_vectors():
    normalisation = ConditionNormalisation.from_training_cases({"a": properties(0.1, 1.5, 0.02)}, ())
    assert normalisation.case_vector(properties(0.1, 1.5, 0.02), "a").shape == (0,)
