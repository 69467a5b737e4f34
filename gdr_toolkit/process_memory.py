"""Keeping freed memory in the process: glibc's malloc settings for whole-volume work.

Preprocessing, prediction and the patch loader allocate and free arrays of tens of megabytes many times
per case (a 1 mm head is 8.7 M voxels: 35 MB in float32, 70 MB in float64). By default glibc serves each
block above 32 MiB with a fresh ``mmap`` and unmaps it on ``free``; the next array faults its pages in
again and the kernel zeroes them. On a virtual machine whose guest reports free pages to the host
(Firecracker, ballooning cloud VMs) each such fault is a trip to the hypervisor: on the 2-core machine of
documentation/benchmarks.md ("A 1 mm case end to end") a 1 mm prediction spent 6.5 s in the kernel
(15.1 s in all) without this setting and 0.06 s (10.2 s) with it.

:func:`keep_freed_memory` tells glibc (``mallopt``) to serve large blocks from its heap as well, to keep
up to ``kept_free_bytes`` of freed memory at the heap's top, and to let threads allocate from that one
heap too (a thread's own arena holds at most 64 MiB, so its whole-volume arrays would be mapped afresh
again), so a freed array's pages are reused by the next one. The process's resident size then stays at its peak instead of falling between cases.
Every ``gdr_*`` command calls it at start (``cli/command.py``), and so does every worker process the
toolkit starts (preprocessing, fingerprint, prediction and loader workers). ``gdr_keep_freed_memory=0``
in the environment switches it off; elsewhere than glibc (macOS, musl, Windows) it changes nothing.
"""

from __future__ import annotations

import ctypes
import logging
import os

logger = logging.getLogger(__name__)

SWITCH_VARIABLE = "gdr_keep_freed_memory"
#: glibc's mallopt parameter numbers (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -3, -4, -8
#: freed memory at the heap's top kept for reuse: 2 GiB - 1, the most mallopt takes (a C int; a 1 mm case's
#: preprocessing peaks near 2 GB)
DEFAULT_KEPT_FREE_BYTES = 2**31 - 1


def switched_off(variable: str = SWITCH_VARIABLE) -> bool:
    """Whether the environment variable ``variable`` (default ``gdr_keep_freed_memory``) is ``0`` (or
    ``false``/``no``/``off``): the switch of a process-wide setting that is on by default."""
    return os.environ.get(variable, "1").strip().lower() in ("0", "false", "no", "off")


def keep_freed_memory(
    largest_heap_block: int | None = None, kept_free_bytes: int = DEFAULT_KEPT_FREE_BYTES
) -> bool:
    """Let glibc reuse freed blocks instead of returning them to the kernel (module docstring).

    Args:
        largest_heap_block: blocks up to this size (bytes, at most 32 MiB: glibc's limit) come from the
            heap, larger ones are still mapped freshly; None: every block, in every thread, comes from the
            one main heap (glibc falls back to ``mmap`` where the heap cannot grow).
        kept_free_bytes: freed memory at the heap's top that is kept rather than trimmed (bytes, < 2^31).

    Returns:
        True when glibc took the settings; False where it is not the allocator or
        ``$gdr_keep_freed_memory`` is 0 (then nothing changes).
    """
    if switched_off():
        return False
    if not 0 <= kept_free_bytes < 2**31:
        raise ValueError(f"kept_free_bytes must lie in [0, 2^31), got {kept_free_bytes}.")
    try:
        libc = ctypes.CDLL("libc.so.6")
        heap_only = (
            libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_ARENA_MAX, 1)
            if largest_heap_block is None
            else libc.mallopt(M_MMAP_THRESHOLD, largest_heap_block)
        )
        return bool(heap_only and libc.mallopt(M_TRIM_THRESHOLD, kept_free_bytes))
    except (OSError, AttributeError):
        return False
