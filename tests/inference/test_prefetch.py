"""The prefetching iterator: order kept, failures by item, the next item worked on while one is in use."""

from __future__ import annotations

import threading

import pytest

from gdr_toolkit.inference.prefetch import prefetched


def _square_or_fail(value: int) -> int:
    if value == 2:
        raise ValueError("two is broken")
    return value * value


def test_results_come_in_order_with_each_failure_beside_its_item():
    outcomes = list(prefetched(range(5), _square_or_fail, depth=2))
    assert [item for item, _ in outcomes] == [0, 1, 2, 3, 4]
    assert [outcome for item, outcome in outcomes if item != 2] == [0, 1, 9, 16]
    assert isinstance(outcomes[2][1], ValueError) and "two is broken" in str(outcomes[2][1])


def test_the_next_item_is_worked_on_while_the_current_one_is_in_use():
    started = {index: threading.Event() for index in range(3)}

    def work(index: int) -> int:
        started[index].set()
        return index

    seen = []
    for index, _ in prefetched(range(3), work, depth=1):
        if index < 2:  # while the consumer holds item `index`, item `index + 1` starts in the background
            assert started[index + 1].wait(timeout=10.0)
        seen.append(index)
    assert seen == [0, 1, 2]


def test_depth_zero_works_in_the_callers_thread_one_item_at_a_time():
    threads = [thread for _, thread in prefetched(range(3), lambda _: threading.get_ident(), depth=0)]
    assert set(threads) == {threading.get_ident()}


def test_stopping_early_leaves_the_rest_unworked():
    worked = []

    def work(index: int) -> int:
        worked.append(index)
        return index

    for index, _ in prefetched(range(100), work, depth=1):
        if index == 1:
            break
    assert len(worked) <= 3  # the item in use, at most one ahead and one being submitted


def test_negative_depth_is_rejected():
    with pytest.raises(ValueError, match="depth must be >= 0, got -1"):
        list(prefetched([1], _square_or_fail, depth=-1))
