"""The skeleton every command shares: parse the flags, configure logging, run, map user errors to exit 1.

A command module builds its parser (with ``-v/--verbose``), writes its work as a body ``args -> exit code``
and ends ``main`` with ``return run_command(parser, body, logger, argv)``. Errors a user can cause and fix
(a missing file, a bad value) are logged as one line and give exit status 1; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from gdr_toolkit.cli.logging_setup import configure_logging
from gdr_toolkit.process_memory import keep_freed_memory

#: the errors every command reports as one log line and exit status 1
USER_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError)


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default ``sys.argv[1:]``), configure logging from its ``--verbose`` flag, keep
    freed memory in the process (``process_memory``, off with ``gdr_keep_freed_memory=0``) and, in a
    command that runs networks, flush denormal floats to zero (``network/denormals.py``, off with
    ``gdr_flush_denormals=0``)."""
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    keep_freed_memory()
    if "torch" in sys.modules:  # imported by every command that trains or predicts, before any thread runs
        from gdr_toolkit.network.denormals import flush_denormals

        flush_denormals()
    return args


def report_user_errors(
    body: Callable[[], int],
    logger: logging.Logger,
    errors: tuple[type[Exception], ...] = USER_ERRORS,
    message: str = "%s",
) -> int:
    """``body()``'s exit status; 1 with one error line (``message % error``) when it raises one of ``errors``."""
    try:
        return body()
    except errors as error:
        logger.error(message, error)
        return 1


def run_command(
    parser: argparse.ArgumentParser,
    body: Callable[[argparse.Namespace], int],
    logger: logging.Logger,
    argv: list[str] | None = None,
    *,
    errors: tuple[type[Exception], ...] = USER_ERRORS,
    message: str = "%s",
) -> int:
    """Parse, configure logging and return ``body(args)``'s exit status (1 on one of ``errors``).

    Args:
        parser: the command's parser; it must define ``-v/--verbose``.
        body: the command's work, given the parsed flags; returns the exit status (0 on success).
        logger: the command's logger, which reports a user error.
        argv: the flags (default ``sys.argv[1:]``).
        errors: exception types reported as one log line with exit status 1.
        message: %-format of that line, given the error.
    """
    args = parse_arguments(parser, argv)
    return report_user_errors(lambda: body(args), logger, errors, message)
