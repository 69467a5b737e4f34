"""GPU check: the paper's 3d_fullres network on simulated data, in minutes, on any CUDA machine.

Reports, for the best available precision (``network.precision``, ``--precision auto``):
- seconds per training iteration (forward, weighted Huber loss in float32, backward, clipping, Adam,
  GradScaler where float16) at patch 96^3 with the largest batch that fits (tried from ``--max-batch``
  down, halving on out-of-memory), median over ``--iterations`` after ``WARM_UP`` steps;
- peak GPU memory (``torch.cuda.max_memory_allocated``) against the planner's estimate
  (``network.memory_estimate``, float32 activations);
- the loss of the first ``AGREEMENT_STEPS`` steps in that precision against float32 from the same
  initialisation and data (largest relative difference);
- full-volume inference seconds (sliding window, step 0.5, batch 2) of a 1 mm head (160 x 192 x 160
  voxels) with and without mirroring;
- the paper's schedule (2e5 iterations x batch 16) projected to hours on this GPU (iterations scaled by
  16 / batch, seconds per iteration as measured);
- supply vs consumption of training patches: the loader's patches per second on one core (torch and
  blosc2 single-threaded, as in a DataLoader worker; the authors' augmentation; two synthetic noisy
  9-channel cases of the inference volume's size written as blosc2 files) against the patches per second
  this device trains on (batch / seconds per iteration) and against one H100 at 40 % of its dense bf16
  peak (``benchmarks/loader_supply.py``); the worker cores one GPU needs, and a warning when more than
  ``MAX_WORKER_CORES`` (or more than this machine has) would be needed: the loader would starve the GPU.

Self-contained: random inputs with a smooth synthetic target, nothing read from disk, no network access.
Writes ``gpu_check.json`` and ``gpu_check.md`` (a markdown table) to ``--output``. ``--tiny`` runs a small
network (widths 4, 8; patch 16^3; 16 x 16 x 24 volume) on the CPU in seconds, so the script is known to work
before a GPU is at hand (tested in CI).

Usage: python benchmarks/gpu_check.py [--output DIR] [--tiny] [--precision auto|bf16|fp16|fp32]
       [--iterations 30] [--max-batch 16] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from gdr_toolkit.inference.sliding_window import SlidingWindowOptions, sliding_window_inference
from gdr_toolkit.network.device import best_available_device
from gdr_toolkit.network.memory_estimate import estimate_forward_flops, estimate_training_memory_bytes
from gdr_toolkit.network.precision import PRECISION_CHOICES, PrecisionPolicy, resolve_precision
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig

WARM_UP = 3
MAX_WORKER_CORES = 8
H100_BF16_DENSE_TFLOPS, PROJECTED_UTILISATION = 990.0, 0.4
LOADER_BATCHES = 6
AGREEMENT_STEPS = 5
PAPER_ITERATIONS, PAPER_BATCH = 200_000, 16
MIB = 1024**2


@dataclass(frozen=True)
class CheckSetup:
    """What is trained and predicted: network widths, patch, inference volume, largest batch tried."""

    widths: tuple[int, ...]
    patch: tuple[int, int, int]
    volume: tuple[int, int, int]
    max_batch: int
    conditions: int = 4


PAPER = CheckSetup(widths=(32, 64, 128, 256), patch=(96, 96, 96), volume=(160, 192, 160), max_batch=16)
TINY = CheckSetup(widths=(4, 8), patch=(16, 16, 16), volume=(16, 16, 24), max_batch=2)


def network_config(setup: CheckSetup) -> NetworkConfig:
    return NetworkConfig(widths=setup.widths, blocks_per_scale=2, condition_features=setup.conditions)


def synthetic_batch(setup: CheckSetup, batch: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Inputs (B, 3, *patch), conditions (B, K), a smooth non-negative target (B, 1, *patch), weights."""
    generator = torch.Generator().manual_seed(batch)
    images = torch.randn(batch, 3, *setup.patch, generator=generator)
    target = torch.relu(torch.nn.functional.avg_pool3d(images[:, :1], 5, stride=1, padding=2))
    condition = torch.randn(batch, setup.conditions, generator=generator)
    weights = torch.ones_like(target)
    return tuple(tensor.to(device) for tensor in (images, condition, target, weights))


def make_step(network: ConditionalUNet, policy: PrecisionPolicy, data: tuple[torch.Tensor, ...]):
    """A closure running one training iteration; returns the float32 loss."""
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    scaler = policy.grad_scaler()
    images, condition, target, weights = data

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with policy.autocast():
            prediction = network(images, condition)
        loss = (
            weights * torch.nn.functional.huber_loss(prediction.float(), target, delta=0.1, reduction="none")
        ).mean()
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        return float(loss.detach())

    return step


def fresh_network(setup: CheckSetup, device: torch.device) -> ConditionalUNet:
    torch.manual_seed(0)
    return ConditionalUNet(network_config(setup)).to(device)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(
    setup: CheckSetup, policy: PrecisionPolicy, batch: int, iterations: int, device: torch.device
):
    """(seconds per iteration (median), peak bytes or None) at ``batch``; raises OutOfMemoryError."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    step = make_step(fresh_network(setup, device), policy, synthetic_batch(setup, batch, device))
    seconds = []
    for index in range(WARM_UP + iterations):
        synchronise(device)
        start = time.perf_counter()
        step()
        synchronise(device)
        if index >= WARM_UP:
            seconds.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return statistics.median(seconds), peak


def largest_batch(setup: CheckSetup, policy: PrecisionPolicy, iterations: int, device: torch.device):
    """Try ``max_batch``, halving on out-of-memory; returns (batch, seconds per iteration, peak bytes)."""
    batch = setup.max_batch
    while batch >= 1:
        try:
            return (batch, *time_training(setup, policy, batch, iterations, device))
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            batch //= 2
    raise RuntimeError("not even batch 1 fits on this device")


def loss_agreement(setup: CheckSetup, policy: PrecisionPolicy, device: torch.device) -> dict:
    """Losses of the first steps in ``policy`` and in float32 (same start, same data)."""
    data = synthetic_batch(setup, 2, device)
    losses = {}
    for name, candidate in (("fp32", PrecisionPolicy("fp32", device.type)), (policy.name, policy)):
        step = make_step(fresh_network(setup, device), candidate, data)
        losses[name] = [step() for _ in range(AGREEMENT_STEPS)]
    relative = max(
        abs(low - full) / abs(full) for low, full in zip(losses[policy.name], losses["fp32"], strict=True)
    )
    return {"losses": losses, "max_relative_difference": relative}


def time_inference(setup: CheckSetup, policy: PrecisionPolicy, device: torch.device) -> dict:
    network = fresh_network(setup, device).eval()
    volume = torch.randn(3, *setup.volume)
    condition = torch.zeros(setup.conditions)
    seconds = {}
    for mirroring in (False, True):
        options = SlidingWindowOptions(setup.patch, 0.5, 2, mirroring, precision=policy)
        synchronise(device)
        start = time.perf_counter()
        sliding_window_inference(network, volume, condition, options, device)
        synchronise(device)
        seconds["with_mirroring" if mirroring else "without_mirroring"] = time.perf_counter() - start
    return seconds


def loader_patches_per_core(setup: CheckSetup, batch: int) -> float:
    """Training patches per second one loader core assembles (two synthetic 9-channel blosc2 cases)."""
    import blosc2
    import numpy as np

    from gdr_toolkit.preprocessing import case_storage
    from gdr_toolkit.preprocessing.preprocessor import STORED_CHANNELS
    from gdr_toolkit.training.data import AugmentationOptions, LoaderOptions, PreprocessedDataset
    from gdr_toolkit.training.data.batch_assembly import assemble_batch

    rng = np.random.default_rng(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    blosc2.set_nthreads(1)
    with tempfile.TemporaryDirectory() as folder:
        for case_id in ("a", "b"):
            stack = rng.normal(1.0, 0.1, (len(STORED_CHANNELS), *setup.volume)).astype(np.float32)
            properties = {
                "case_id": case_id,
                "channels": list(STORED_CHANNELS),
                "enhancing_locations_zyx": [],
            }
            case_storage.write_case(Path(folder), case_id, stack, properties)
        dataset = PreprocessedDataset(Path(folder), ["a", "b"])
        options = LoaderOptions(
            setup.patch, batch, augmentation=AugmentationOptions.right_angle(), num_workers=0
        )
        assemble_batch(np.random.default_rng(0), dataset, options)  # opens the files
        began = time.perf_counter()
        for index in range(LOADER_BATCHES):
            assemble_batch(np.random.default_rng([1, index]), dataset, options)
        seconds = time.perf_counter() - began
    torch.set_num_threads(threads)
    return LOADER_BATCHES * batch / seconds


def supply_vs_consumption(setup: CheckSetup, batch: int, seconds_per_iteration: float) -> dict:
    """Loader supply per core against this device's consumption and an H100's projected one."""
    per_core = loader_patches_per_core(setup, batch)
    consumption = batch / seconds_per_iteration
    training_flops = 3 * estimate_forward_flops(network_config(setup), setup.patch, 1)
    projected = PROJECTED_UTILISATION * H100_BF16_DENSE_TFLOPS * 1e12 / training_flops
    needed = math.ceil(consumption / per_core)
    available = max(1, len(os.sched_getaffinity(0)) - 1)  # one core runs the training loop
    starves = needed > min(MAX_WORKER_CORES, available)
    if starves:
        logging.warning(
            "the loader would starve this GPU: it trains on %.0f patches/s, one loader core supplies %.1f, so "
            "%d worker cores are needed (%d available, %d at most per GPU)",
            consumption, per_core, needed, available, MAX_WORKER_CORES,
        )  # fmt: skip
    return {
        "patches_per_second_per_core": per_core,
        "consumption_patches_per_second": consumption,
        "worker_cores_needed": needed,
        "worker_cores_available": available,
        "loader_starves_gpu": starves,
        "h100_projected_patches_per_second": projected,
        "h100_worker_cores_needed": math.ceil(projected / per_core),
    }


def run_check(setup: CheckSetup, device: torch.device, precision: str, iterations: int) -> dict:
    policy = resolve_precision(precision, device)
    began = time.perf_counter()
    batch, seconds, peak = largest_batch(setup, policy, iterations, device)
    estimate = estimate_training_memory_bytes(network_config(setup), setup.patch, batch)
    projected = PAPER_ITERATIONS * PAPER_BATCH / batch * seconds / 3600
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "torch": torch.__version__,
        "precision": policy.name,
        "network_widths": list(setup.widths),
        "patch": list(setup.patch),
        "batch": batch,
        "iterations": iterations,
        "seconds_per_iteration": seconds,
        "peak_memory_mib": None if peak is None else peak / MIB,
        "estimated_memory_mib": estimate / MIB,
        "loss_agreement": loss_agreement(setup, policy, device),
        "inference_volume": list(setup.volume),
        "inference_seconds": time_inference(setup, policy, device),
        "paper_schedule_hours": projected,
        "loader": supply_vs_consumption(setup, batch, seconds),
        "total_seconds": time.perf_counter() - began,
    }


def markdown_table(result: dict) -> str:
    peak, loader = result["peak_memory_mib"], result["loader"]
    rows = [
        ("device", result["device"]),
        ("precision", result["precision"]),
        ("network / patch / batch", f"{result['network_widths']} / {result['patch']} / {result['batch']}"),
        ("s per iteration", f"{result['seconds_per_iteration']:.3f}"),
        (
            "peak memory (MiB) vs planner estimate",
            f"{'n/a' if peak is None else f'{peak:.0f}'} vs {result['estimated_memory_mib']:.0f}",
        ),  # fmt: skip
        (
            "loss vs float32, first 5 steps (max rel. diff.)",
            f"{result['loss_agreement']['max_relative_difference']:.2e}",
        ),
        (
            "inference of a 1 mm head, no mirroring (s)",
            f"{result['inference_seconds']['without_mirroring']:.1f}",
        ),
        ("inference with mirroring (s)", f"{result['inference_seconds']['with_mirroring']:.1f}"),
        ("paper schedule 2e5 it x batch 16 (h)", f"{result['paper_schedule_hours']:.1f}"),
        ("loader supply per core (patches/s)", f"{loader['patches_per_second_per_core']:.1f}"),
        ("consumption of this device (patches/s)", f"{loader['consumption_patches_per_second']:.1f}"),
        (
            "worker cores needed / available",
            f"{loader['worker_cores_needed']} / {loader['worker_cores_available']}"
            + (" (STARVED)" if loader["loader_starves_gpu"] else ""),
        ),
        (
            "H100 at 40 % bf16 peak (patches/s, worker cores)",
            f"{loader['h100_projected_patches_per_second']:.0f}, {loader['h100_worker_cores_needed']}",
        ),
    ]
    return "| | |\n|---|---|\n" + "".join(f"| {name} | {value} |\n" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=Path("gpu_check_results"), help="folder for JSON and table"
    )
    parser.add_argument("--tiny", action="store_true", help="small network on the CPU (seconds)")
    parser.add_argument("--precision", default="auto", choices=PRECISION_CHOICES)
    parser.add_argument("--iterations", type=int, default=None, help="timed iterations (default 30; tiny 2)")
    parser.add_argument("--max-batch", type=int, default=None, help="largest batch tried (default 16)")
    parser.add_argument("--device", default=None, help="default: cuda (cpu with --tiny)")
    args = parser.parse_args(argv)
    setup = TINY if args.tiny else PAPER
    if args.max_batch is not None:
        setup = CheckSetup(setup.widths, setup.patch, setup.volume, args.max_batch)
    device = torch.device(args.device or ("cpu" if args.tiny else best_available_device()))
    iterations = args.iterations or (2 if args.tiny else 30)
    result = run_check(setup, device, args.precision, iterations)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "gpu_check.json").write_text(json.dumps(result, indent=2))
    table = markdown_table(result)
    (args.output / "gpu_check.md").write_text(table)
    print(table)
    return 0 if math.isfinite(result["seconds_per_iteration"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
