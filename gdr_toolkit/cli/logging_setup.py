"""Logging and progress bars shared by the commands (the library only creates loggers)."""

from __future__ import annotations

import logging

from tqdm import tqdm


def configure_logging(verbose: bool = False) -> None:
    """Log INFO (DEBUG with ``verbose``) to stderr as ``LEVEL name: message``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )


def tqdm_progress(description: str, total: int) -> tqdm:
    """A per-case progress bar for the library's ``ProgressFactory`` arguments (hidden when not a TTY)."""
    return tqdm(total=total, desc=description, unit="case", disable=None)
