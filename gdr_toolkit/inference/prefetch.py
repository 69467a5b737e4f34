"""Work on the next items in a background thread while the caller uses the current one.

Prediction runs the network on one case while the next case is read and preprocessed (co-registration,
noise statistics: SimpleITK, elastix and numpy, which release the GIL in their heavy parts). A thread
rather than a process: no second elastix start-up, nothing pickled, and the preprocessed arrays are
handed over without a copy. At most ``depth`` results wait beside the one in use (memory: one 1 mm case
is ~0.3 GB of arrays).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def prefetched(
    items: Iterable[Item], work: Callable[[Item], Result], depth: int = 1
) -> Iterator[tuple[Item, Result | Exception]]:
    """``(item, work(item))`` in the order of ``items``, computing up to ``depth`` items ahead.

    Args:
        items: the inputs, consumed lazily.
        work: applied to every item in one background thread (so items are worked on one at a time).
        depth: items worked on ahead of the one yielded; 0 works inline in the caller's thread.

    Yields:
        Each item with its result, or with the exception ``work`` raised for it (the others go on).

    Raises:
        ValueError: ``depth`` < 0.
    """
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}.")
    if depth == 0:
        for item in items:
            yield item, _outcome(work, item)
        return
    source = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        pending: deque[tuple[Item, Future[Result | Exception]]] = deque()
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) <= depth:
                    try:
                        upcoming = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.append((upcoming, pool.submit(_outcome, work, upcoming)))
                if not pending:
                    return
                item, future = pending.popleft()
                yield item, future.result()
        finally:  # the consumer stopped early: drop work not yet started
            for _, future in pending:
                future.cancel()


def _outcome(work: Callable[[Item], Result], item: Item) -> Result | Exception:
    try:
        return work(item)
    except Exception as error:  # noqa: BLE001 (handed to the consumer with its item)
        return error
