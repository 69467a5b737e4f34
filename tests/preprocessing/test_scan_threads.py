"""The LD and SD halves of a step side by side: results by name, in threads, errors passed on."""

from __future__ import annotations

import threading

import pytest

from gdr_toolkit.preprocessing.scan_threads import per_scan


def test_two_scans_run_at_the_same_time() -> None:
    both_started = threading.Barrier(2, timeout=10)  # broken (an error) if the two ran one after the other

    def work(name: str) -> tuple[str, str]:
        both_started.wait()
        return name, threading.current_thread().name

    results = per_scan(work, ["low_dose", "standard_dose"])
    assert list(results) == ["low_dose", "standard_dose"]
    assert [value[0] for value in results.values()] == ["low_dose", "standard_dose"]
    assert len({value[1] for value in results.values()}) == 2


def test_one_scan_runs_in_the_calling_thread() -> None:
    results = per_scan(lambda name: threading.current_thread(), ["low_dose"])
    assert results == {"low_dose": threading.current_thread()}


def test_the_first_error_is_raised_after_both_ended() -> None:
    ended: list[str] = []

    def work(name: str) -> str:
        if name == "low_dose":
            raise ValueError("low_dose: its field of view holds no brain voxel")
        ended.append(name)
        return name

    with pytest.raises(ValueError, match="low_dose: its field of view"):
        per_scan(work, ["low_dose", "standard_dose"])
    assert ended == ["standard_dose"]
