"""Progress reporting of the steps: the caller passes a factory of bars (tqdm in the commands) or none."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager[Any]]  # (description, total) -> bar


class _NoProgress:
    """A bar that shows nothing."""

    def update(self, amount: int = 1) -> None:
        """Ignore progress."""


def progress_bar(
    progress: ProgressFactory | None, description: str, total: int
) -> contextlib.AbstractContextManager[Any]:
    """``progress(description, total)``, or a bar that shows nothing when ``progress`` is None."""
    if progress is None:
        return contextlib.nullcontext(_NoProgress())
    return progress(description, total)
