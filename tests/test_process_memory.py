"""Freed memory kept in the process: a whole-volume array comes from glibc's heap and stays there after free.

Each check runs in a fresh interpreter (mallopt settings last for the process) and reads glibc's own
accounting (``mallinfo2``: ``hblkhd`` = bytes in separately mapped blocks, ``arena`` = bytes of the
heap). glibc's default maps a 70 MB array on its own and unmaps it on free; kept, the array lies in the
heap and the heap keeps its pages after the array is freed, for the next one, also one a thread allocates.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pytest
from fresh_interpreter import run_probe

from gdr_toolkit.process_memory import SWITCH_VARIABLE, keep_freed_memory

ON_GLIBC = sys.platform.startswith("linux") and "libc.so.6" in (ctypes.util.find_library("c") or "")
HAS_MALLINFO2 = ON_GLIBC and hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")  # glibc >= 2.33
VOLUME_BYTES = 70 * 1024**2  # a 1 mm head in float64

PROBE = f"""
import ctypes, json, sys, threading
import numpy as np
from gdr_toolkit.process_memory import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2

def accounting():
    info = libc.mallinfo2()
    return {{"mapped": info.hblkhd, "heap": info.arena}}

taken = keep_freed_memory() if sys.argv[1] == "keep" else None
array = np.ones({VOLUME_BYTES} // 8)
alive = accounting()
del array
freed = accounting()
in_thread = {{}}
worker = threading.Thread(target=lambda: in_thread.update(array=np.ones({VOLUME_BYTES} // 8)))
worker.start()
worker.join()
print(json.dumps({{"taken": taken, "alive": alive, "freed": freed, "thread": accounting()}}))
"""


def _probe(mode: str, switch: str | None = None) -> dict:
    return run_probe(PROBE, mode, SWITCH_VARIABLE, switch)


@pytest.mark.skipif(not HAS_MALLINFO2, reason="mallopt and mallinfo2 (glibc >= 2.33) are glibc's")
def test_a_freed_volume_stays_in_the_heap() -> None:
    default, kept = _probe("default"), _probe("keep")
    assert default["alive"]["mapped"] >= VOLUME_BYTES  # mapped on its own ...
    assert (
        default["freed"]["mapped"] < VOLUME_BYTES and default["freed"]["heap"] < VOLUME_BYTES
    )  # ... and unmapped
    assert kept["taken"] is True
    assert kept["alive"]["mapped"] < VOLUME_BYTES <= kept["alive"]["heap"]  # in the heap ...
    assert kept["freed"]["heap"] >= VOLUME_BYTES  # ... which keeps it for the next array
    assert kept["thread"]["mapped"] < VOLUME_BYTES  # a thread's array comes from the same heap
    assert default["thread"]["mapped"] >= VOLUME_BYTES


@pytest.mark.skipif(not HAS_MALLINFO2, reason="mallopt and mallinfo2 (glibc >= 2.33) are glibc's")
@pytest.mark.parametrize("switch", ["0", "off", "False"])
def test_the_environment_switch_turns_it_off(switch: str) -> None:
    probe = _probe("keep", switch)
    assert probe["taken"] is False
    assert probe["alive"]["mapped"] >= VOLUME_BYTES and probe["freed"]["heap"] < VOLUME_BYTES


def test_without_glibc_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_libc(name: str) -> None:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.delenv(SWITCH_VARIABLE, raising=False)
    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert keep_freed_memory() is False
