"""Time of the out-of-distribution check per case, and the error of its sampled brain percentiles.

A real-sized synthetic case (155 x 240 x 240 voxels, a 2.9-million-voxel brain box, normal intensities)
goes through ``check_distribution`` against training ranges; the brain percentiles it uses (every k-th
brain voxel, at most ``PERCENTILE_SAMPLES``) are compared with the percentiles of all brain voxels.

Usage:
    python benchmarks/distribution_check.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np

from gdr_toolkit.inference.distribution_check import brain_percentiles, check_distribution
from gdr_toolkit.model.training_ranges import BRAIN_PERCENTILES, TrainingRanges, case_quantities
from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase

SHAPE = (155, 240, 240)


def synthetic_case(seed: int = 0) -> PreprocessedCase:
    rng = np.random.default_rng(seed)
    brain = np.zeros(SHAPE, np.uint8)
    brain[20:135, 40:200, 40:200] = 1
    arrays = {
        "brain_mask": brain,
        "x_pc": rng.normal(0.7, 0.2, SHAPE).astype(np.float32),
        "x_ld": rng.normal(0.75, 0.25, SHAPE).astype(np.float32),
    }
    record = {"noise_sigma_ld": 0.03, "condition": {"dose_fraction": 0.25}, "brain_volume_ml": 1300.0}
    properties = SimpleNamespace(to_json_dict=lambda: record)
    return PreprocessedCase(arrays, properties, {})  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    case = synthetic_case()
    ranges = TrainingRanges.from_cases(
        [case_quantities(case.properties.to_json_dict(), brain_percentiles(case))]
    )
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        check_distribution(case, ranges, "bench")
        seconds.append(time.perf_counter() - start)
    brain = case.arrays["brain_mask"] > 0
    sampled = brain_percentiles(case)
    worst = 0.0
    for scan, keys in BRAIN_PERCENTILES.items():
        array = case.arrays["x_pc" if scan == "pre_contrast" else "x_ld"][brain]
        exact = np.percentile(array, [float(key) for key in keys])
        worst = max(worst, float(np.max(np.abs(exact - [sampled[scan][key] for key in keys]))))
    print(f"brain voxels: {int(brain.sum())}")
    print(f"check_distribution per case: median {np.median(seconds):.3f} s over {args.repeats} repeats")
    print(f"largest |sampled - exact| brain percentile: {worst:.5f} (normalised units)")


if __name__ == "__main__":
    main()
