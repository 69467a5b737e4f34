"""Throughput of PatchLoader with augmentation on a small simulated, preprocessed dataset.

Builds 3 simulated cases at 2 mm in a temporary folder, preprocesses them (registration included,
about a minute), then times PatchLoader (patch 48^3, batch 4, default augmentation) with 0, 1 and 2
worker processes and prints patches per second and seconds per batch. Worker start-up is excluded
(the first batches are discarded).

With ``--compare-augmentation`` it instead times one rotated and scaled batch (every sample
transformed, linear interpolation, single thread) with classic batchgenerators' SpatialTransform and
MirrorTransform against the batchgeneratorsv2 transform the loader uses, for (4, 8, 48^3) and
(2, 8, 96^3) batches.

With ``--consumption`` it instead compares, in one process and interleaved (one batch, one step, ...),
the loader's supply (in-process, 0 workers, as the trainer runs on CPU; default augmentation) with the
trainer's consumption: training steps of the CPU-plan network (16/32/64/128) at the same batch size and
patch, the step of ``benchmarks/training_step.py`` (forward, Huber loss, backward, Adam). It prints
patches per second of both and their ratio (the loader should supply >= 3x what training consumes).

Usage: python benchmarks/data_loading.py [--batches 40] [--cases 3] [--folder DIR] [--compare-augmentation]
       [--consumption [--batch-size 2] [--rounds 10] [--threads 2]]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from gdr_toolkit.dataset.raw_layout import list_cases
from gdr_toolkit.planning.plans import ConfigurationPlan
from gdr_toolkit.preprocessing import case_storage
from gdr_toolkit.preprocessing.preprocessor import preprocess_dataset
from gdr_toolkit.simulation import SimulationSettings
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.training.data import LoaderOptions, PatchLoader, PreprocessedDataset

PATCH_SIZE = (48, 48, 48)
BATCH_SIZE = 4
WARM_UP_BATCHES = 3
MAX_ANGLE = math.radians(15.0)


def cpu_configuration() -> ConfigurationPlan:
    return ConfigurationPlan(
        data_identifier="gdrPlans_2mm",
        spacing_mm=2.0,
        patch_size=PATCH_SIZE,
        batch_size=BATCH_SIZE,
        network={},
        condition_keys=("noise_sigma_ld",),
        noise_normalisation=True,
        local_noise_kernel_mm=8.0,
        target_device="cpu",
        memory_budget_bytes=0,
        estimated_memory_bytes=0,
        median_image_shape=(80, 96, 80),
    )


def build_dataset(root: Path, num_cases: int) -> PreprocessedDataset:
    """Simulate and preprocess ``num_cases`` cases under ``root`` (reuses complete cases)."""
    raw = root / "raw" / "Dataset900_LoaderBenchmark"
    output = root / "preprocessed" / "gdrPlans_2mm"
    write_simulated_dataset(raw, SimulationSettings(spacing_mm=2.0), num_training=num_cases, seed=11)
    cases = list_cases(raw, "Tr")
    if not all(case_storage.is_case_complete(output, case.case_id) for case in cases):
        preprocess_dataset(cases, cpu_configuration(), output, num_processes=1)
    return PreprocessedDataset(output, [case.case_id for case in cases])


def seconds_per_batch(dataset: PreprocessedDataset, num_workers: int, batches: int) -> float:
    options = LoaderOptions(PATCH_SIZE, BATCH_SIZE, num_workers=num_workers, seed=0)
    with PatchLoader(dataset, options) as loader:
        for _ in range(WARM_UP_BATCHES):
            next(loader)
        began = time.perf_counter()
        for _ in range(batches):
            next(loader)
        return (time.perf_counter() - began) / batches


def compare_augmentation_backends(repeats: int = 3) -> None:
    """Print seconds per batch of classic batchgenerators vs the loader's batchgeneratorsv2 transform."""
    import numpy as np
    import torch

    from gdr_toolkit.training.data import SpatialParameters, source_margin

    torch.set_num_threads(1)
    print(f"{'batch':>18} {'classic s/batch':>16} {'v2 s/batch':>11}")
    for batch_size, edge in ((4, 48), (2, 96)):
        patch = (edge,) * 3
        worst = SpatialParameters((MAX_ANGLE,) * 3, scale=1.15)
        source_shape = tuple(p + 2 * m for p, m in zip(patch, source_margin(worst, patch), strict=True))
        batch = np.random.default_rng(0).random((batch_size, 8, *source_shape), dtype=np.float32)
        classic = min(_classic_seconds(batch, patch) for _ in range(repeats + 1))
        version_2 = min(_version_2_seconds(batch, patch, worst) for _ in range(repeats + 1))
        print(f"{str((batch_size, 8, *patch)):>18} {classic:>16.3f} {version_2:>11.3f}")


def _classic_seconds(batch, patch: tuple[int, ...]) -> float:
    from batchgenerators.transforms.spatial_transforms import MirrorTransform, SpatialTransform

    spatial = SpatialTransform(
        patch, None, do_elastic_deform=False, angle_x=(-MAX_ANGLE, MAX_ANGLE), angle_y=(-MAX_ANGLE, MAX_ANGLE),
        angle_z=(-MAX_ANGLE, MAX_ANGLE), scale=(0.85, 1.15), border_mode_data="constant", order_data=1,
        random_crop=False, p_rot_per_sample=1, p_scale_per_sample=1,
    )  # fmt: skip
    began = time.perf_counter()
    MirrorTransform((0, 1, 2))(**spatial(data=batch.copy(), seg=None))
    return time.perf_counter() - began


def _version_2_seconds(batch, patch: tuple[int, ...], worst) -> float:
    """Each sample: draw, crop the region the draw needs from the worst-case source, transform."""
    import numpy as np

    from gdr_toolkit.training.data import SpatialParameters, apply_spatial_augmentation, source_margin

    rng = np.random.default_rng(0)
    began = time.perf_counter()
    for sample in batch:
        drawn = SpatialParameters(
            tuple(rng.uniform(-MAX_ANGLE, MAX_ANGLE, 3)), rng.uniform(0.85, 1.15), (0, 1, 2)
        )
        surplus = np.subtract(source_margin(worst, patch), source_margin(drawn, patch))
        region = tuple(slice(m, n - m) for m, n in zip(surplus, sample.shape[1:], strict=True))
        apply_spatial_augmentation(sample[(slice(None), *region)], drawn, patch)
    return time.perf_counter() - began


def loading_vs_consumption(dataset: PreprocessedDataset, batch_size: int, rounds: int) -> None:
    """Print the loader's and the training step's patches per second, measured interleaved."""
    from training_step import StepSetup, training_step  # the sibling script

    step, _ = training_step("ours", StepSetup(patch=PATCH_SIZE[0], batch_size=batch_size))
    options = LoaderOptions(PATCH_SIZE, batch_size, num_workers=0, seed=0)
    with PatchLoader(dataset, options) as loader:
        actions = {"loader (0 workers, augmented)": lambda: next(loader), "training step (CPU plan)": step}
        for action in actions.values():
            action()  # warm-up
        seconds: dict[str, list[float]] = {name: [] for name in actions}
        for _ in range(rounds):
            for name, action in actions.items():
                began = time.perf_counter()
                action()
                seconds[name].append(time.perf_counter() - began)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"| | s/batch of {batch_size} (median of {rounds}) | patches/s |")
    print("|---|---|---|")
    for name, median in medians.items():
        print(f"| {name} | {median:.3f} | {batch_size / median:.1f} |")
    loader_seconds, step_seconds = medians.values()
    print(f"supply/consumption = {step_seconds / loader_seconds:.1f}x (target >= 3x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="timed batches per setting")
    parser.add_argument("--cases", type=int, default=3, help="simulated cases")
    parser.add_argument("--folder", type=Path, default=None, help="keep (and reuse) the dataset here")
    parser.add_argument("--compare-augmentation", action="store_true", help="classic vs v2 transform timing")
    parser.add_argument("--consumption", action="store_true", help="loader supply vs training consumption")
    parser.add_argument("--batch-size", type=int, default=2, help="batch of --consumption (CPU plan: 2)")
    parser.add_argument(
        "--rounds", type=int, default=10, help="interleaved batch/step pairs of --consumption"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (--consumption)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if arguments.compare_augmentation:
        compare_augmentation_backends()
        return
    with tempfile.TemporaryDirectory() as temporary:
        root = arguments.folder or Path(temporary)
        began = time.perf_counter()
        dataset = build_dataset(root, arguments.cases)
        shapes = ", ".join(str(dataset.shape(case)) for case in dataset.case_ids)
        print(
            f"dataset: {len(dataset)} cases at 2 mm, shapes {shapes} (built in {time.perf_counter() - began:.0f} s)"
        )
        if arguments.consumption:
            import torch

            torch.set_num_threads(arguments.threads)
            print(f"patch {PATCH_SIZE}, batch {arguments.batch_size}, {arguments.threads} torch threads")
            loading_vs_consumption(dataset, arguments.batch_size, arguments.rounds)
            return
        print(
            f"patch {PATCH_SIZE}, batch {BATCH_SIZE}, default augmentation, {arguments.batches} timed batches"
        )
        print(f"{'workers':>8} {'s/batch':>9} {'patches/s':>10}")
        for num_workers in (0, 1, 2):
            seconds = seconds_per_batch(dataset, num_workers, arguments.batches)
            print(f"{num_workers:>8} {seconds:>9.3f} {BATCH_SIZE / seconds:>10.1f}")


if __name__ == "__main__":
    main()
