"""The precision policy: which autocast dtype and whether a GradScaler, for training and inference alike.

Rules (documentation/training.md, Precision):
- ``auto`` on CUDA: bfloat16 on GPUs with native bfloat16 (compute capability >= 8.0: Ampere, Ada,
  Hopper and later), float16 with a GradScaler on older GPUs (Volta, Turing); float32 on the CPU and MPS.
  torch reports bfloat16 as supported on pre-Ampere GPUs too (emulated, slow), so the capability, not
  ``torch.cuda.is_bf16_supported()``, decides.
- ``bf16`` is refused on a CUDA GPU without native support; on the CPU it autocasts to bfloat16 (slow, for
  tests). ``fp16`` needs CUDA. ``fp32`` everywhere.
- Inside autocast only the network body runs in low precision: the output head, the loss and eq. 1's
  revert run in float32 (the network has no normalisation layers, so float16 overflow is a real risk).
- The checkpoint records the policy's name (``"precision"``); inference reuses it where the device
  supports it and falls back to float32 elsewhere (never bfloat16 -> float16: the range differs).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

logger = logging.getLogger(__name__)

PrecisionName = Literal["bf16", "fp16", "fp32"]
PRECISION_CHOICES = ("auto", "bf16", "fp16", "fp32")
NATIVE_BFLOAT16_CAPABILITY = (8, 0)
CapabilityQuery = Callable[[torch.device], tuple[int, int]]
_DTYPES: dict[str, torch.dtype | None] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def cuda_capability(device: torch.device) -> tuple[int, int]:
    """(major, minor) compute capability of a CUDA device."""
    major, minor = torch.cuda.get_device_capability(device)
    return int(major), int(minor)


@dataclass(frozen=True)
class PrecisionPolicy:
    """A resolved precision for one device.

    Attributes:
        name: ``"bf16"``, ``"fp16"`` or ``"fp32"``.
        device_type: ``"cpu"``, ``"cuda"`` or ``"mps"`` (the autocast device type).
    """

    name: PrecisionName = "fp32"
    device_type: str = "cpu"

    def __post_init__(self) -> None:
        if self.name not in _DTYPES:
            raise ValueError(f"precision must be one of bf16, fp16, fp32, got {self.name!r}")

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """torch.bfloat16, torch.float16, or None (float32, no autocast)."""
        return _DTYPES[self.name]

    @property
    def uses_grad_scaler(self) -> bool:
        """Only float16 needs loss scaling (bfloat16 has float32's exponent range)."""
        return self.name == "fp16"

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` to the policy's dtype, or a no-op context for float32."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.autocast_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled for float16 only (disabled, its calls pass through)."""
        return torch.amp.GradScaler(
            "cuda" if self.device_type == "cuda" else "cpu", enabled=self.uses_grad_scaler
        )


def float32_region(tensor: torch.Tensor) -> contextlib.AbstractContextManager[Any]:
    """A context in which autocast is off for ``tensor``'s device (run heads and losses in float32); a
    no-op where autocast is not on (e.g. float32 training, or meta tensors when counting FLOPs)."""
    device_type = tensor.device.type
    if device_type not in ("cpu", "cuda", "mps") or not torch.is_autocast_enabled(device_type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, enabled=False)


def resolve_precision(
    requested: str, device: torch.device | str, capability: CapabilityQuery = cuda_capability
) -> PrecisionPolicy:
    """The policy for ``requested`` (``auto``, ``bf16``, ``fp16``, ``fp32``) on ``device``.

    Args:
        requested: one of :data:`PRECISION_CHOICES`.
        device: the torch device training or inference runs on.
        capability: returns a CUDA device's (major, minor) compute capability (a stand-in in tests).

    Raises:
        ValueError: an unknown name, or a precision the device cannot run natively.
    """
    device = torch.device(device)
    if requested not in PRECISION_CHOICES:
        raise ValueError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}, got {requested!r}")
    native_bf16 = device.type == "cuda" and capability(device) >= NATIVE_BFLOAT16_CAPABILITY
    if requested == "auto":
        if device.type != "cuda":
            return PrecisionPolicy("fp32", device.type)
        return PrecisionPolicy("bf16" if native_bf16 else "fp16", "cuda")
    if requested == "bf16" and device.type == "cuda" and not native_bf16:
        raise ValueError(
            f"--precision bf16 needs compute capability >= 8.0, {device} has {capability(device)}; "
            "use --precision fp16 or auto"
        )
    if requested == "bf16" and device.type == "mps":
        raise ValueError("--precision bf16 is not supported on mps; use fp32 or auto")
    if requested == "fp16" and device.type != "cuda":
        raise ValueError(f"--precision fp16 needs a CUDA device, got {device}; use fp32 or auto")
    return PrecisionPolicy(requested, device.type)  # type: ignore[arg-type]


def inference_precision(
    requested: str,
    trained: str | None,
    device: torch.device | str,
    capability: CapabilityQuery = cuda_capability,
) -> PrecisionPolicy:
    """The policy for inference: an explicit ``requested`` wins; ``auto`` reuses the trained one.

    Args:
        requested: ``--precision`` of the predictor (``auto`` follows the checkpoint).
        trained: the checkpoint's ``precision`` (None for checkpoints older than the key: device default).
        device: where inference runs.
        capability: as in :func:`resolve_precision`.

    Returns:
        On CUDA the trained precision where the GPU runs it natively, else float32 (a bfloat16 model on
        a pre-Ampere GPU); float32 on the CPU and MPS unless requested explicitly.
    """
    if requested != "auto":
        return resolve_precision(requested, device, capability)
    if torch.device(device).type != "cuda":
        return PrecisionPolicy("fp32", torch.device(device).type)
    if trained is None:
        return resolve_precision("auto", device, capability)
    try:
        return resolve_precision(trained, device, capability)
    except ValueError:
        logger.info("the model was trained in %s, which %s lacks; predicting in float32", trained, device)
        return PrecisionPolicy("fp32", torch.device(device).type)
