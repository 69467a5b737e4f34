"""The shared command skeleton: exit status of the body, user errors as one log line and exit 1."""

import argparse
import logging

import pytest

from gdr_toolkit.cli.command import run_command

logger = logging.getLogger("gdr_test_command")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gdr_test_command")
    parser.add_argument("--value", type=int, default=0)
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def test_the_body_gets_the_flags_and_gives_the_exit_status():
    assert run_command(_parser(), lambda args: args.value, logger, ["--value", "3"]) == 3


def test_verbose_turns_on_debug_logging():
    run_command(_parser(), lambda args: 0, logger, ["-v"])
    assert logging.getLogger().level == logging.DEBUG
    run_command(_parser(), lambda args: 0, logger, [])
    assert logging.getLogger().level == logging.INFO


def _raise(error: Exception):
    def body(args: argparse.Namespace) -> int:
        raise error

    return body


def test_a_user_error_is_one_log_line_and_exit_1(capsys):
    status = run_command(_parser(), _raise(FileNotFoundError("case_001.nii.gz is missing")), logger, [])
    assert status == 1
    assert capsys.readouterr().err.splitlines() == ["ERROR gdr_test_command: case_001.nii.gz is missing"]


def test_extra_error_types_and_the_message_format(capsys):
    status = run_command(
        _parser(), _raise(KeyError("sd")), logger, [], errors=(KeyError,), message="step failed: %s"
    )
    assert status == 1
    assert capsys.readouterr().err.splitlines() == ["ERROR gdr_test_command: step failed: 'sd'"]


def test_any_other_error_keeps_its_traceback():
    with pytest.raises(KeyError):
        run_command(_parser(), _raise(KeyError("a bug")), logger, [])
