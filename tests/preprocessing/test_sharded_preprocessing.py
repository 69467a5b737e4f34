"""Sharded preprocessing (``-num_parts/-part_id``) stores the same files as one unsharded run (issue 14).

The full form preprocesses the 3 cases twice (about 90 s of elastix on 2 busy cores): marked slow. The small
form in ``test_preprocessor.py`` runs one part and takes the other part's cases from the unsharded run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_preprocessor import configuration, raw_dataset  # noqa: F401  (the module-scoped fixture)

from gdr_toolkit.dataset.raw_layout import list_cases
from gdr_toolkit.dataset.sharding import Shard
from gdr_toolkit.preprocessing import case_storage
from gdr_toolkit.preprocessing.preprocessor import STATISTICS_FILE, preprocess_dataset

TIMING_KEYS = ("step_seconds",)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def unsharded_and_sharded(raw_dataset, tmp_path_factory) -> tuple[Path, Path, dict[int, tuple[str, ...]]]:  # noqa: F811
    """Folder A (one run), folder B (part 0 then part 1 of 2), and the case ids each part processed."""
    cases = list_cases(raw_dataset, "Tr")
    root = tmp_path_factory.mktemp("sharded")
    preprocess_dataset(cases, configuration(), root / "A")
    processed = {}
    first = preprocess_dataset(cases, configuration(), root / "B", shard=Shard(2, 0))
    processed[0] = first.processed
    statistics_after_first_part = (root / "B" / STATISTICS_FILE).exists()
    processed[1] = preprocess_dataset(cases, configuration(), root / "B", shard=Shard(2, 1)).processed
    assert not statistics_after_first_part, f"{STATISTICS_FILE} written before every case was complete"
    return root / "A", root / "B", processed


def _without_timing(properties: Any) -> Any:
    if isinstance(properties, dict):
        return {key: _without_timing(value) for key, value in properties.items() if key not in TIMING_KEYS}
    if isinstance(properties, list):
        return [_without_timing(value) for value in properties]
    return properties


def test_parts_are_disjoint_and_cover_every_case(unsharded_and_sharded, raw_dataset):  # noqa: F811
    _, _, processed = unsharded_and_sharded
    assert set(processed[0]).isdisjoint(processed[1])
    assert processed[0] and processed[1]
    assert sorted(processed[0] + processed[1]) == sorted(
        case.case_id for case in list_cases(raw_dataset, "Tr")
    )


def test_sharded_run_stores_the_same_files_and_statistics(unsharded_and_sharded):
    unsharded, sharded, _ = unsharded_and_sharded
    assert sorted(path.name for path in sharded.iterdir()) == sorted(
        path.name for path in unsharded.iterdir()
    )
    assert (sharded / STATISTICS_FILE).is_file()
    assert json.loads((sharded / STATISTICS_FILE).read_text()) == json.loads(
        (unsharded / STATISTICS_FILE).read_text()
    )


def test_sharded_run_stores_identical_arrays_and_properties(unsharded_and_sharded, raw_dataset):  # noqa: F811
    unsharded, sharded, _ = unsharded_and_sharded
    for case in list_cases(raw_dataset, "Tr"):
        expected = case_storage.open_case_arrays(unsharded, case.case_id)[...]
        np.testing.assert_array_equal(case_storage.open_case_arrays(sharded, case.case_id)[...], expected)
        assert _without_timing(case_storage.load_case_properties(sharded, case.case_id)) == _without_timing(
            case_storage.load_case_properties(unsharded, case.case_id)
        )
