"""Shard: disjoint parts whose union is every case, independent of the listing order, validated flags."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gdr_toolkit.dataset.sharding import Shard

CASES = [f"case_{index:03d}" for index in range(10)]


def test_parts_are_disjoint_and_cover_every_case():
    parts = [Shard(3, part).select(CASES) for part in range(3)]
    assert sorted(case for part in parts for case in part) == CASES
    assert [len(part) for part in parts] == [4, 3, 3]
    assert parts[1] == ["case_001", "case_004", "case_007"]


def test_parts_do_not_depend_on_the_listing_order():
    assert Shard(4, 2).select(list(reversed(CASES))) == Shard(4, 2).select(CASES)


def test_objects_are_sharded_by_their_case_id():
    @dataclass(frozen=True)
    class Case:
        case_id: str

    chosen = Shard(2, 0).select([Case(name) for name in reversed(CASES)], lambda case: case.case_id)
    assert [case.case_id for case in chosen] == CASES[0::2]


def test_the_default_shard_is_everything():
    assert Shard().select(CASES) == CASES and Shard().is_whole


@pytest.mark.parametrize(
    ("num_parts", "part_id", "message"), [(0, 0, "num_parts"), (3, 3, "part_id"), (2, -1, "part_id")]
)
def test_invalid_shards_are_refused(num_parts, part_id, message):
    with pytest.raises(ValueError, match=message):
        Shard(num_parts, part_id)


def test_duplicate_case_ids_are_refused():
    with pytest.raises(ValueError, match="duplicates"):
        Shard(2, 0).select(["a", "b", "a"])
