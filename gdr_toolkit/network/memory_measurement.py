"""Measured peak memory and time of one training step of ``ConditionalUNet``, in a fresh process.

Used to calibrate ``memory_estimate`` (``benchmarks/network_memory.py``) and by its test. The step is
forward, Huber loss (delta 0.1), backward and an Adam update on random data. One warm-up step comes
first, so Adam's moments exist and the measured step is a steady-state one; gradients are released
(``zero_grad(set_to_none=True)``) before it.

- CPU (Linux): the child runs with glibc's mmap threshold fixed at 64 KiB, so freed tensors go back to
  the system at once and the resident set follows the allocations. The peak resident set (VmHWM) is
  reset through ``/proc/self/clear_refs`` before the measured step; the step's peak is VmHWM minus the
  resident set just before it. torch's CPU allocations are invisible to ``tracemalloc``.
- CUDA: ``torch.cuda.max_memory_allocated`` minus ``memory_allocated`` before the step.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass

MMAP_THRESHOLD_BYTES = 65536


@dataclass(frozen=True)
class TrainingStepMeasurement:
    """What one measured training step used.

    Attributes:
        step_peak_bytes: peak memory of the step above what was resident before it (activations,
            gradients, workspaces; not the weights, Adam moments and batch that live across steps).
        resident_tensor_bytes: bytes of weights, Adam moments and the batch (counted, not measured).
        seconds_per_step: wall time of the fastest measured step, s.
        device: ``"cpu"`` or ``"cuda"``.
    """

    step_peak_bytes: int
    resident_tensor_bytes: int
    seconds_per_step: float
    device: str


def measure_training_step(
    network: dict,
    patch_size: tuple[int, int, int],
    batch_size: int,
    device: str = "cpu",
    threads: int = 2,
    timed_steps: int = 1,
) -> TrainingStepMeasurement:
    """Run one warm-up and ``timed_steps`` measured training steps in a fresh Python process.

    Args:
        network: ``NetworkConfig.to_json_dict()`` of the network to train.
        patch_size: spatial size (D, H, W), voxels.
        batch_size: patches per step.
        device: ``"cpu"`` or ``"cuda"``.
        threads: torch intra-op threads on CPU.
        timed_steps: measured steps (>= 1); memory is the peak over them, time the fastest.

    Returns:
        The measurement (see ``TrainingStepMeasurement``).
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cpu" and not sys.platform.startswith("linux"):
        raise RuntimeError(f"CPU memory measurement reads /proc/self and needs Linux, this is {sys.platform}")
    if timed_steps < 1:
        raise ValueError(f"timed_steps must be >= 1, got {timed_steps}")
    request = {"network": network, "patch_size": list(patch_size), "batch_size": batch_size}
    request |= {"device": device, "threads": threads, "timed_steps": timed_steps}
    environment = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD_BYTES))
    completed = subprocess.run(
        [sys.executable, "-m", "gdr_toolkit.network.memory_measurement", json.dumps(request)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"training-step measurement failed for {request}:\n{completed.stderr[-2000:]}")
    return TrainingStepMeasurement(**json.loads(completed.stdout.strip().splitlines()[-1]))


def _resident_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def _run_child(request: dict) -> dict:
    import torch
    import torch.nn.functional as F

    from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig

    torch.set_num_threads(request["threads"])
    torch.manual_seed(0)
    device = torch.device(request["device"])
    config = NetworkConfig.from_json_dict(request["network"])
    model = ConditionalUNet(config).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    shape = (request["batch_size"], config.input_channels, *request["patch_size"])
    image = torch.randn(shape, device=device)
    condition = torch.randn(request["batch_size"], config.condition_features, device=device)
    target = torch.rand(request["batch_size"], config.output_channels, *request["patch_size"], device=device)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        F.huber_loss(model(image, condition), target, delta=0.1).backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    step()
    parameters = sum(parameter.numel() for parameter in model.parameters())
    resident = 4 * (3 * parameters + image.numel() + condition.numel() + target.numel())
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        before = _resident_kib("VmRSS") * 1024
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")  # reset VmHWM to the current resident set
    seconds = math.inf
    for _ in range(request["timed_steps"]):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = min(seconds, time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else _resident_kib("VmHWM") * 1024
    return {
        "step_peak_bytes": peak - before,
        "resident_tensor_bytes": resident,
        "seconds_per_step": seconds,
        "device": device.type,
    }


if __name__ == "__main__":
    print(json.dumps(_run_child(json.loads(sys.argv[1]))))
