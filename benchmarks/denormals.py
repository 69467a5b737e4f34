"""Denormal floats: the training step and forward pass of a trained network with and without flushing.

Usage: python benchmarks/denormals.py --checkpoint PATH [--repeats 5] [--patch 48] [--batch 2]

PATH: a trained fold's checkpoint, e.g. ``gdr_demo_output/gdr_results/Dataset001_Phantom/
GDRTrainer_CPUDemo__gdrPlans__3d_cpu/fold_0/checkpoint_latest.pth`` after ``gdr_demo``. Each variant
runs in a fresh interpreter (the CPU's flush-to-zero mode belongs to a process's threads): the network
as trained and with freshly initialised weights, with denormals kept (torch's default), flushed before
torch starts its threads (``network.denormals.flush_denormals`` as the ``gdr_*`` commands do) and
flushed only after the threads started (the main thread alone). A step is forward, L1 loss, backward
and an Adam update on a random batch (``--batch`` patches of ``--patch``^3 voxels, seed 0); medians of
``--repeats`` steps after one warm-up step. Printed: a table of seconds and the denormal share of the
gradients of one step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "trained, denormals kept": ("trained", "keep"),
    "trained, flushed before torch's threads start": ("trained", "early"),
    "trained, flushed after they started (main thread only)": ("trained", "late"),
    "fresh weights, denormals kept": ("fresh", "keep"),
}
SMALLEST_NORMAL = 1.1754944e-38


def _worker(checkpoint: Path, weights: str, flush: str, repeats: int, patch: int, batch: int) -> None:
    import torch

    from gdr_toolkit.network.denormals import flush_denormals

    if flush == "early":
        flush_denormals()
    from gdr_toolkit.model.checkpoint import load_checkpoint
    from gdr_toolkit.model.network_builder import network_from_checkpoint

    network = network_from_checkpoint(load_checkpoint(checkpoint))
    if weights == "fresh":
        for module in network.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    config = network.config
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(batch, config.input_channels, patch, patch, patch, generator=generator)
    condition = torch.randn(batch, config.condition_features, generator=generator)
    target = 0.01 * torch.randn(batch, 1, patch, patch, patch, generator=generator)
    if flush == "late":
        network(image, condition)  # torch's threads now exist
        flush_denormals()
    optimiser = torch.optim.Adam(network.parameters(), 1e-4)

    def step() -> float:
        start = time.perf_counter()
        optimiser.zero_grad()
        (network(image, condition) - target).abs().mean().backward()
        optimiser.step()
        return time.perf_counter() - start

    def forward() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            network(image, condition)
        return time.perf_counter() - start

    steps = [step() for _ in range(repeats + 1)][1:]
    gradients = torch.cat([p.grad.flatten() for p in network.parameters() if p.grad is not None])
    tiny = ((gradients != 0) & (gradients.abs() < SMALLEST_NORMAL)).float().mean().item()
    forwards = [forward() for _ in range(repeats + 1)][1:]
    record = {"step": statistics.median(steps), "forward": statistics.median(forwards), "denormal": tiny}
    print("RESULT " + json.dumps(record), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    sizes = (arguments.repeats, arguments.patch, arguments.batch)
    if arguments.worker:
        _worker(arguments.checkpoint, *arguments.worker, *sizes)
        return
    print("| network | step s | forward s | denormal share of the gradients |\n|---|---|---|---|")
    for name, (weights, flush) in VARIANTS.items():
        command = [sys.executable, __file__, "--checkpoint", str(arguments.checkpoint)]
        command += ["--repeats", str(arguments.repeats), "--patch", str(arguments.patch)]
        command += ["--batch", str(arguments.batch), "--worker", weights, flush]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        record = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
        print(f"| {name} | {record['step']:.3f} | {record['forward']:.3f} | {record['denormal']:.2e} |")


if __name__ == "__main__":
    main()
