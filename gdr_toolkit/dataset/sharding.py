"""Sharding: split a sorted case list into disjoint parts for cluster array jobs (``-num_parts/-part_id``).

Every command that loops over cases (``gdr_preprocess``, ``gdr_plan_and_preprocess``, ``gdr_predict``)
selects its cases with :class:`Shard`: the cases sorted by id, part ``k`` of ``n`` takes every n-th case
starting at the k-th (as nnU-Net's ``-num_parts/-part_id``). The parts are disjoint and their union is
every case, whatever the order the cases were listed in. Dataset-level files (e.g.
``dataset_statistics.json``) are written by the part that finds every case complete, or by a rerun.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

Item = TypeVar("Item")


@dataclass(frozen=True)
class Shard:
    """Part ``part_id`` (0-based) of ``num_parts``; the default (1, 0) is everything.

    Attributes:
        num_parts: number of parts (>= 1).
        part_id: this part, 0 <= part_id < num_parts.
    """

    num_parts: int = 1
    part_id: int = 0

    def __post_init__(self) -> None:
        if self.num_parts < 1:
            raise ValueError(f"-num_parts must be >= 1, got {self.num_parts}")
        if not 0 <= self.part_id < self.num_parts:
            raise ValueError(f"-part_id must lie in [0, {self.num_parts - 1}] for -num_parts {self.num_parts}, "
                             f"got {self.part_id}")  # fmt: skip

    @property
    def is_whole(self) -> bool:
        return self.num_parts == 1

    def select(self, items: Sequence[Item], case_id: Callable[[Item], str] = str) -> list[Item]:
        """This part's items: ``items`` sorted by ``case_id(item)``, every ``num_parts``-th from ``part_id``.

        Args:
            items: case ids, or objects whose id ``case_id`` returns (ids must be unique).
            case_id: maps an item to its case id (default: the item as a string).

        Raises:
            ValueError: two items share a case id (the split would not be disjoint).
        """
        ordered = sorted(items, key=case_id)
        ids = [case_id(item) for item in ordered]
        if len(set(ids)) != len(ids):
            duplicates = sorted({name for name in ids if ids.count(name) > 1})
            raise ValueError(f"case ids must be unique to shard them, got duplicates {duplicates}")
        return ordered[self.part_id :: self.num_parts]

    def describe(self) -> str:
        return "all cases" if self.is_whole else f"part {self.part_id} of {self.num_parts} (0-based)"
