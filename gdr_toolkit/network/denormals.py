"""Denormal floats flushed to zero on the CPU: the network's step at full speed after training has begun.

float32 values below 1.18e-38 (denormals) take the x86 CPU a slow microcode path, tens of times slower
per operation. A trained network's backward pass produces them: one training step of the demo's trained
CPU network (batch 2, 48^3 patch) took 2.36 s against 1.05 s with fresh weights on the 2-core machine,
and 1.01 s with denormals flushed (documentation/benchmarks.md, "Denormal floats"); its training epochs
grew from 26 s to 107 s while the work per epoch stayed the same. Flushing them to zero (the CPU's FTZ
and DAZ modes) changes values smaller than any the network can use.

The mode belongs to each thread, and a thread starts with the mode of the thread that created it, so
:func:`flush_denormals` must run before torch starts its worker threads (its first parallel
operation): ``gdr_*`` commands call it while parsing their flags (``cli/command.py``), the trainer and
the predictor when they are created (which covers library use; there the threads may already exist).
``gdr_flush_denormals=0`` in the environment switches it off; on CPUs without the modes (not x86) it
changes nothing.
"""

from __future__ import annotations

import torch

from gdr_toolkit.process_memory import switched_off

SWITCH_VARIABLE = "gdr_flush_denormals"


def flush_denormals() -> bool:
    """Flush denormal float32 values to zero in this thread and the threads it starts afterwards.

    Returns:
        True when the CPU took the mode; False where it has none or ``$gdr_flush_denormals`` is 0.
    """
    if switched_off(SWITCH_VARIABLE):
        return False
    return bool(torch.set_flush_denormal(True))
