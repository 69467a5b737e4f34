"""Denormal floats flushed to zero: in the calling thread and in torch's worker threads started after it.

Each check runs in a fresh interpreter (the mode belongs to the threads of a process). 1e-30 * 1e-10 =
1e-40 is a denormal float32; flushed, it is 0. The product of a million elements runs on torch's worker
threads, so a flush that reached only the main thread would leave non-zero elements.
"""

from __future__ import annotations

import platform

import pytest
from fresh_interpreter import run_probe

from gdr_toolkit.network.denormals import SWITCH_VARIABLE

ON_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

PROBE = """
import json, sys
import torch
from gdr_toolkit.network.denormals import flush_denormals

mode = sys.argv[1]
if mode == "command":  # a gdr_* command: torch imported, then the flags parsed
    import argparse
    from gdr_toolkit.cli.command import parse_arguments
    parser = argparse.ArgumentParser()
    parser.add_argument("-v", "--verbose", action="store_true")
    parse_arguments(parser, [])
    taken = None
else:
    taken = flush_denormals() if mode == "flush" else None
torch.set_num_threads(2)
product = torch.full((1_000_000,), 1e-30, dtype=torch.float32) * 1e-10
print(json.dumps({"taken": taken, "non_zero": int((product != 0).sum())}))
"""


def _probe(mode: str, switch: str | None = None) -> dict:
    return run_probe(PROBE, mode, SWITCH_VARIABLE, switch)


@pytest.mark.skipif(not ON_X86, reason="flush-to-zero is an x86 mode here")
def test_denormals_are_flushed_in_every_torch_thread() -> None:
    assert _probe("none")["non_zero"] == 1_000_000  # the denormals exist by default
    flushed = _probe("flush")
    assert flushed["taken"] is True and flushed["non_zero"] == 0


@pytest.mark.skipif(not ON_X86, reason="flush-to-zero is an x86 mode here")
def test_a_command_that_imported_torch_flushes_when_parsing_its_flags() -> None:
    assert _probe("command")["non_zero"] == 0
    assert _probe("command", switch="0")["non_zero"] == 1_000_000


def test_the_environment_switch_turns_it_off() -> None:
    probe = _probe("flush", switch="off")
    assert probe["taken"] is False and probe["non_zero"] == (1_000_000 if ON_X86 else probe["non_zero"])
