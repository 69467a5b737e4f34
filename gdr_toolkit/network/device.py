"""The default compute device: the best one available (CUDA, then MPS, then the CPU)."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def best_available_device() -> str:
    """``"cuda"`` when a CUDA GPU is visible, else ``"mps"`` when Apple's MPS is, else ``"cpu"``."""
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_device_name(name: str | None) -> str:
    """``name`` itself, or the best available device for None and ``"auto"``."""
    return best_available_device() if name in (None, "auto") else name
