"""Mixed precision on CUDA: autocast to bfloat16 where the GPU supports it, else float16 + GradScaler.

On the CPU and MPS training runs in float32 (autocast off, GradScaler disabled: its calls pass through).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bfloat16 or float16 on CUDA, None (float32) elsewhere."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` for ``dtype``, or a no-op context for float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler that is enabled only for float16 (bfloat16 has float32's exponent range)."""
    return torch.amp.GradScaler("cuda" if device.type == "cuda" else "cpu", enabled=dtype == torch.float16)
