"""The low-dose and standard-dose halves of a preprocessing step side by side, one thread per CE scan.

A training case's co-registration, radiometric scale and noise statistics run once per contrast-enhanced
scan, and the two runs are independent. Their work is in elastix, SimpleITK, scipy and numpy, which
release the GIL, so two threads use two cores: on the 2-core machine of documentation/benchmarks.md
("A 1 mm case end to end") the co-registration of LD and SD took 3.1 s instead of 3.7 s, and with the
memory setting of ``process_memory`` the preprocessing of a 1 mm training case 4.1 s instead of 6.0 s,
with results equal to the bit (each scan's arithmetic is unchanged; only the order in which the scans
run differs). With one scan (prediction) the work runs in this thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Result = TypeVar("Result")


def per_scan(work: Callable[[str], Result], names: Sequence[str]) -> dict[str, Result]:
    """``work(name)`` for every scan name, one thread each when there are several; results by name in the
    order of ``names``. The first exception (in that order) is raised after every thread has ended."""
    if len(names) <= 1:
        return {name: work(name) for name in names}
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="gdr-scan") as pool:
        futures = {name: pool.submit(work, name) for name in names}
    return {name: future.result() for name, future in futures.items()}
