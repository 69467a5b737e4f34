from __future__ import annotations

import json

import pytest

from gdr_toolkit.planning.splits import load_or_create_splits, make_splits

CASES = [f"case_{i:02d}" for i in range(12)]


def test_five_folds_validate_every_case_once():
    folds = make_splits(CASES)
    assert len(folds) == 5
    validated = [case for fold in folds for case in fold["val"]]
    assert sorted(validated) == CASES
    for fold in folds:
        assert set(fold["train"]).isdisjoint(fold["val"])
        assert set(fold["train"]) | set(fold["val"]) == set(CASES)


def test_splits_are_seeded():
    assert make_splits(CASES) == make_splits(list(reversed(CASES)))
    assert make_splits(CASES, seed=1) != make_splits(CASES, seed=2)


def test_fewer_cases_than_folds_gives_leave_one_out():
    folds = make_splits(CASES[:3])
    assert len(folds) == 3 and all(len(fold["val"]) == 1 for fold in folds)
    with pytest.raises(ValueError, match=">= 2"):
        make_splits(CASES[:1])


def test_user_splits_in_the_raw_folder_are_respected(tmp_path):
    user = [{"train": CASES[:10], "val": CASES[10:]}]
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "splits_final.json").write_text(json.dumps(user))
    assert load_or_create_splits(tmp_path / "pre", tmp_path / "raw", CASES) == user
    assert json.loads((tmp_path / "pre" / "splits_final.json").read_text()) == user


def test_user_splits_with_unknown_cases_are_rejected(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "splits_final.json").write_text(json.dumps([{"train": ["ghost"], "val": []}]))
    with pytest.raises(ValueError, match="ghost"):
        load_or_create_splits(tmp_path / "pre", tmp_path / "raw", CASES)
