"""Can CPU workers feed one H100-class GPU? Patches per second per worker core for the ``3d_fullres`` plan
against the GPU's consumption projected from the training step's FLOPs.

Supply: simulated 1 mm cases preprocessed as a training set (all 9 stored channels, blosc2 files), then
in this process on one core (torch and blosc2 single-threaded, as in a DataLoader worker) ``--batches``
batches of ``--batch-size`` 96^3 patches with the authors' augmentation (``AugmentationOptions
.right_angle()``: flips, axis permutations, +-5 % intensity; ``--augmentation default`` for the rotating
and scaling one), each patch's time split into its parts:

- sampling: draw case, position and augmentation;
- decompression: blosc2 decompresses the blocks of the patch region (``NDArray`` slicing);
- cropping: placing the region in a zero-padded patch where it leaves the volume;
- augmentation: resampling (when drawn), flips, permutation, intensity factor;
- collation: copying the patch into the batch array.

``reference`` re-enacts the loader before issue 26 (cases stored with blosc2 ZSTD level 3, a padded copy
of every region, a contiguous augmented patch, then a copy into the batch); ``current`` is the loader now
(cases as ``case_storage`` writes them, LZ4; a region inside the volume used as decompressed; the
augmented patch written straight into its batch slot), split into the same parts;
``assemble_batch`` is the loader's own function on the current storage (its total must match
``current``). All three run interleaved, batch by batch, on the same random draws, and are timed in CPU
seconds of this single-threaded process (on a loaded machine steadier than wall time, which is printed
too): patches per second per core = 1 / CPU seconds per patch. The process uses the workers' allocator
settings (``worker_loader.keep_freed_patch_memory``; ``--glibc-default`` leaves glibc's, as before issue 26).
Not counted: the hand-over to the training process (workers now assemble batches in shared memory, so
it copies nothing) and the host-to-GPU copy.

Consumption: the conv FLOPs of one training step (forward analytically, ``network.memory_estimate``, which
torch's FlopCounterMode confirms: 709.6 GFLOP per 96^3 patch for widths 32/64/128/256, two blocks per
scale; backward twice the forward), at ``--utilisation`` (default 0.4) of ``--peak-tflops`` (default 990,
H100 SXM dense bf16). Prints patches per second per core, the cores one GPU needs and whether 8 cores
suffice.

Usage: python benchmarks/loader_supply.py [--folder DIR] [--cases 2] [--batches 20] [--batch-size 2]
       [--augmentation authors|default] [--glibc-default] [--utilisation 0.4]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from gdr_toolkit.network.memory_estimate import estimate_forward_flops
from gdr_toolkit.network.unet import NetworkConfig
from gdr_toolkit.training.data import AugmentationOptions, LoaderOptions, PreprocessedDataset
from gdr_toolkit.training.data.batch_assembly import MASK_CHANNELS, assemble_batch, draw_patch
from gdr_toolkit.training.data.spatial_augmentation import apply_spatial_augmentation, source_margin
from gdr_toolkit.training.data.worker_loader import keep_freed_patch_memory

PATCH = (96, 96, 96)
PAPER_NETWORK = NetworkConfig(widths=(32, 64, 128, 256), blocks_per_scale=2, condition_features=4)
TRAINING_FLOPS_PER_FORWARD = 3.0  # forward + backward (input and weight gradients: 2 x forward)
WORKER_CORES = 8


def training_flops_per_patch(network: NetworkConfig = PAPER_NETWORK, patch=PATCH) -> float:
    """Conv FLOPs of one training step per patch: 3 x the analytic forward FLOPs."""
    return TRAINING_FLOPS_PER_FORWARD * estimate_forward_flops(network, patch, 1)


def projected_consumption(
    utilisation: float, peak_tflops: float, network: NetworkConfig = PAPER_NETWORK
) -> float:
    """Patches per second one GPU trains on at ``utilisation`` of ``peak_tflops``."""
    return utilisation * peak_tflops * 1e12 / training_flops_per_patch(network)


def build_dataset(root: Path, num_cases: int) -> PreprocessedDataset:
    """Simulate and preprocess ``num_cases`` 1 mm training cases under ``root`` (complete ones reused)."""
    from gdr_toolkit.dataset.raw_layout import list_cases
    from gdr_toolkit.planning.plans import ConfigurationPlan
    from gdr_toolkit.preprocessing import case_storage
    from gdr_toolkit.preprocessing.preprocessor import preprocess_dataset
    from gdr_toolkit.simulation import SimulationSettings
    from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset

    raw = root / "raw" / "Dataset902_LoaderSupply"
    output = root / "preprocessed" / "gdrPlans_1mm"
    write_simulated_dataset(raw, SimulationSettings(spacing_mm=1.0), num_training=num_cases, seed=13)
    cases = list_cases(raw, "Tr")
    configuration = ConfigurationPlan(
        data_identifier="gdrPlans_1mm", spacing_mm=1.0, patch_size=PATCH, batch_size=2, network={},
        condition_keys=("noise_sigma_ld",), noise_normalisation=True, local_noise_kernel_mm=8.0,
        target_device="gpu", memory_budget_bytes=0, estimated_memory_bytes=0, median_image_shape=(160, 192, 160),
    )  # fmt: skip
    if not all(case_storage.is_case_complete(output, case.case_id) for case in cases):
        preprocess_dataset(cases, configuration, output, num_processes=1)
    return PreprocessedDataset(output, [case.case_id for case in cases])


def storage_variants(dataset: PreprocessedDataset, root: Path) -> dict[str, PreprocessedDataset]:
    """The cases written twice: as before issue 26 (blosc2 ZSTD level 3) and as ``case_storage`` writes
    them now (same chunks and blocks)."""
    import blosc2

    from gdr_toolkit.file_io import write_json_atomic
    from gdr_toolkit.preprocessing import case_storage

    folders = {name: root / f"storage_{name}" for name in ("reference", "current")}
    for case_id in dataset.case_ids:
        stack = np.asarray(dataset._array(case_id)[:])  # noqa: SLF001
        properties = case_storage.load_case_properties(dataset.folder, case_id)
        case_storage.write_case(folders["current"], case_id, stack, properties)
        folders["reference"].mkdir(parents=True, exist_ok=True)
        blosc2.asarray(
            stack, urlpath=str(case_storage.case_array_path(folders["reference"], case_id)), mode="w",
            chunks=(stack.shape[0], 64, 64, 64), blocks=(stack.shape[0], 16, 16, 16),
            cparams={"codec": blosc2.Codec.ZSTD, "clevel": 3, "nthreads": 1},
        )  # fmt: skip
        write_json_atomic(properties, case_storage.case_properties_path(folders["reference"], case_id))
    return {name: PreprocessedDataset(folder, dataset.case_ids) for name, folder in folders.items()}


def _read_parts(
    dataset: PreprocessedDataset, draw, patch_size, parts, clock, padded_always: bool
) -> np.ndarray:
    """The region a draw needs: blosc2 decompression, then (where needed) the zero-padded copy."""
    began = clock()
    margin = np.asarray(source_margin(draw.spatial, patch_size))
    start = np.asarray(draw.start_zyx) - margin
    size = np.asarray(patch_size) + 2 * margin
    array = dataset._array(draw.case_id)  # noqa: SLF001 (benchmark: the read split into its parts)
    shape = np.asarray(array.shape[1:])
    low, high = np.clip(start, 0, shape), np.clip(start + size, 0, shape)
    region = array[(slice(None), *(slice(int(a), int(b)) for a, b in zip(low, high, strict=True)))]
    parts["decompression"] += clock() - began
    began = clock()
    inside = (low == start).all() and (high == start + size).all()
    if inside and not padded_always:
        source = region
    else:
        source = np.zeros((array.shape[0], *size.tolist()), dtype=np.float32)
        target = (
            slice(None),
            *(slice(int(a), int(b)) for a, b in zip(low - start, high - start, strict=True)),
        )
        source[target] = region
    parts["cropping"] += clock() - began
    return source


def instrumented_batch(
    rng, dataset: PreprocessedDataset, options: LoaderOptions, parts, clock, reference: bool
):
    """One batch by parts: ``reference`` re-enacts the loader before issue 26 (padded copy of every region,
    a contiguous augmented patch, a copy into the batch); otherwise the current path (region as
    decompressed where inside, augmented straight into the batch slot)."""
    data = np.empty((options.batch_size, len(dataset.channels), *options.patch_size), dtype=np.float32)
    scaled = [i for i, name in enumerate(dataset.channels) if name not in MASK_CHANNELS]
    for index in range(options.batch_size):
        began = clock()
        draw = draw_patch(rng, dataset, options)
        parts["sampling"] += clock() - began
        source = _read_parts(dataset, draw, options.patch_size, parts, clock, padded_always=reference)
        began = clock()
        if reference:
            patch = apply_spatial_augmentation(source, draw.spatial, options.patch_size)
            if draw.intensity_factor != 1.0:
                patch[scaled] *= np.float32(draw.intensity_factor)
            parts["augmentation"] += clock() - began
            began = clock()
            data[index] = patch
            parts["collation"] += clock() - began
        else:  # flips, permutation and intensity factor land in the slot in one pass
            factors = np.ones(len(dataset.channels), np.float32)
            factors[scaled] = draw.intensity_factor
            apply_spatial_augmentation(source, draw.spatial, options.patch_size, data[index], factors)
            parts["augmentation + collation"] += clock() - began
    return data


def measure(
    datasets: dict[str, PreprocessedDataset], options: LoaderOptions, batches: int
) -> dict[str, dict[str, float]]:
    """CPU seconds per patch by part (median over batches; one thread, so CPU time is the core's time),
    the reference, the current path and the loader's own ``assemble_batch``, interleaved on equal draws."""
    clock = time.process_time
    per_batch: dict[str, list[dict[str, float]]] = {"reference": [], "current": [], "assemble_batch": []}
    for index in range(batches + 1):
        for name in per_batch:
            parts: dict[str, float] = defaultdict(float)
            rng = np.random.default_rng([7, index])
            began, wall = clock(), time.perf_counter()
            if name == "assemble_batch":
                assemble_batch(rng, datasets["current"], options)
            else:
                dataset = datasets[name]
                instrumented_batch(rng, dataset, options, parts, clock, reference=name == "reference")
            parts["total CPU"] = clock() - began
            parts["total wall"] = time.perf_counter() - wall
            if index > 0:  # the first batch opens the files
                per_batch[name].append(dict(parts))
    return {
        name: {key: statistics.median(row[key] for row in rows) / options.batch_size for key in rows[0]}
        for name, rows in per_batch.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None, help="keep (and reuse) the dataset here")
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--augmentation", choices=("authors", "default"), default="authors")
    parser.add_argument(
        "--glibc-default",
        action="store_true",
        help="without the workers' keep_freed_patch_memory (as before)",
    )
    parser.add_argument("--utilisation", type=float, default=0.4)
    parser.add_argument("--peak-tflops", type=float, default=990.0, help="dense bf16 peak (H100 SXM: 990)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import blosc2
    import torch

    torch.set_num_threads(1)
    blosc2.set_nthreads(1)
    if not arguments.glibc_default:
        keep_freed_patch_memory()  # as every DataLoader worker does
    augmentation = (
        AugmentationOptions.right_angle() if arguments.augmentation == "authors" else AugmentationOptions()
    )
    options = LoaderOptions(PATCH, arguments.batch_size, augmentation=augmentation, num_workers=0)
    with tempfile.TemporaryDirectory() as temporary:
        root = arguments.folder or Path(temporary)
        dataset = build_dataset(root, arguments.cases)
        seconds = measure(storage_variants(dataset, root), options, arguments.batches)
    consumption = projected_consumption(arguments.utilisation, arguments.peak_tflops)
    load = os.getloadavg()
    print(
        f"3d_fullres: patch {PATCH}, batch {arguments.batch_size}, {len(dataset.channels)} channels, "
        f"{arguments.augmentation} augmentation, {arguments.batches} "
        f"batches per variant, one core; load average {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} cores"
    )
    names = list(seconds)
    print(
        "| part | "
        + " | ".join(f"{name} ms/patch" for name in names)
        + " |\n"
        + "|---" * (len(names) + 1)
        + "|"
    )
    keys = list(dict.fromkeys(key for name in names for key in seconds[name]))
    for key in sorted(keys, key=lambda k: k.startswith("total")):
        print(
            f"| {key} | "
            + " | ".join(f"{seconds[name].get(key, math.nan) * 1e3:.1f}" for name in names)
            + " |"
        )
    flops = training_flops_per_patch()
    print(
        f"\nGPU consumption: {flops / 1e12:.2f} TFLOP per patch (forward + backward), at "
        f"{arguments.utilisation:.0%} of {arguments.peak_tflops:g} TFLOP/s: {consumption:.0f} patches/s"
    )
    for name in names:
        per_core = 1.0 / seconds[name]["total CPU"]
        cores = math.ceil(consumption / per_core)
        verdict = "feeds" if cores <= WORKER_CORES else "starves"
        print(
            f"{name}: {per_core:.1f} patches/s per core -> {cores} worker cores per GPU; "
            f"{WORKER_CORES} cores supply {WORKER_CORES * per_core:.0f} patches/s ({verdict} the GPU)"
        )


if __name__ == "__main__":
    main()
