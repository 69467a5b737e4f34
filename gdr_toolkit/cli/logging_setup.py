"""Logging configuration shared by the commands (the library only creates loggers)."""

from __future__ import annotations

import logging


def configure_logging(verbose: bool = False) -> None:
    """Log INFO (DEBUG with ``verbose``) to stderr as ``LEVEL name: message``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )
