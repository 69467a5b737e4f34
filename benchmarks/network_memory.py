"""Estimated vs measured peak memory (and seconds) of one ConditionalUNet training step on this machine.

Usage: python benchmarks/network_memory.py [--threads 2] [--device cpu] [--speed | --only-speed] [--timed-steps 1]

Every row runs in a fresh process (``gdr_toolkit.network.memory_measurement``): one warm-up step, then
one measured step (forward, Huber loss, backward, Adam). "measured" is the step's peak above the
resident set before it plus the weights, Adam moments and batch that live across steps, so it is
comparable to ``estimate_training_memory_bytes``. "factor" is the TRAINING_MEMORY_CALIBRATION that
would make the estimate exact for that row. ``--speed`` adds the two speed rows of
documentation/network.md (the paper network at 64^3 needs about 3 GB and a minute on 2 cores).
Batch sizes are >= 2: with batch 1 and few channels torch's CPU convolution falls back from oneDNN to
an im2col path with a different workspace (documented in documentation/network.md).
"""

from __future__ import annotations

import argparse
import math

from gdr_toolkit.network.memory_estimate import (
    OPTIMISER_COPIES_PER_PARAMETER,
    TRAINING_MEMORY_CALIBRATION,
    count_parameters,
    estimate_training_memory_bytes,
)
from gdr_toolkit.network.memory_measurement import measure_training_step
from gdr_toolkit.network.unet import NetworkConfig

MEBIBYTE = 2**20
CALIBRATION_ROWS = [
    (NetworkConfig(widths=(8, 16, 32, 64)), 32, 2),
    (NetworkConfig(widths=(8, 16, 32, 64)), 48, 2),
    (NetworkConfig(widths=(8, 16, 32, 64)), 64, 2),
    (NetworkConfig(widths=(8, 16, 32, 64)), 32, 4),
    (NetworkConfig(widths=(16, 32, 64, 128)), 32, 2),
    (NetworkConfig(widths=(16, 32, 64, 128)), 48, 2),
    (NetworkConfig(widths=(16, 32, 64, 128)), 64, 1),
    (NetworkConfig(widths=(16, 32, 64)), 48, 2),
    (NetworkConfig(widths=(8, 16, 32, 64), fusion="concatenate"), 48, 2),
    (NetworkConfig(widths=(8, 16, 32, 64), downsampling="strided"), 48, 2),
    (NetworkConfig(widths=(8, 16, 32, 64), condition_features=0), 48, 2),
]
SPEED_ROWS = [(NetworkConfig(widths=(16, 32, 64, 128)), 32, 2), (NetworkConfig(), 64, 2)]


def _row(config: NetworkConfig, patch: int, batch: int, device: str, threads: int, timed_steps: int) -> str:
    patch_size = (patch,) * 3
    estimated = estimate_training_memory_bytes(config, patch_size, batch)
    measurement = measure_training_step(
        config.to_json_dict(), patch_size, batch, device, threads, timed_steps
    )
    measured = measurement.step_peak_bytes + measurement.resident_tensor_bytes
    voxels = batch * math.prod(patch_size)
    fixed = 4 * (OPTIMISER_COPIES_PER_PARAMETER * count_parameters(config) + config.input_channels * voxels)
    fixed += 4 * (config.output_channels * voxels + batch * config.condition_features)
    factor = TRAINING_MEMORY_CALIBRATION * (measured - fixed) / (estimated - fixed)
    variant = f"{config.fusion}/{config.downsampling}/K={config.condition_features}"
    return (
        f"| {'/'.join(map(str, config.widths))} | {variant} | {patch}^3 | {batch} | {estimated / MEBIBYTE:.0f} "
        f"| {measured / MEBIBYTE:.0f} | {measured / estimated:.2f} | {factor:.2f} | {measurement.seconds_per_step:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--speed", action="store_true", help="also run the two speed rows")
    parser.add_argument(
        "--timed-steps", type=int, default=1, help="measured steps per row; time is the fastest"
    )
    parser.add_argument("--only-speed", action="store_true", help="run only the two speed rows")
    arguments = parser.parse_args()
    print(f"TRAINING_MEMORY_CALIBRATION = {TRAINING_MEMORY_CALIBRATION}, device {arguments.device}")
    print(
        "| widths | fusion/downsampling/K | patch | batch | estimated MiB | measured MiB | measured/estimated "
        "| factor | s/step |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [] if arguments.only_speed else CALIBRATION_ROWS
    rows = rows + (SPEED_ROWS if arguments.speed or arguments.only_speed else [])
    for config, patch, batch in rows:
        row = _row(config, patch, batch, arguments.device, arguments.threads, arguments.timed_steps)
        print(row, flush=True)


if __name__ == "__main__":
    main()
