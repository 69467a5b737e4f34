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
- collation: copying the patch into the batch array (``--transfer-dtype float16`` halves it and what
  the worker hands over).

``current`` is the loader's own ``assemble_batch``; ``reference`` re-enacts the loader before issue 26
(padded copy of every region, a contiguous augmented patch, then a copy into the batch). Both run
interleaved, batch by batch, on the same random draws.

Consumption: the conv FLOPs of one training step (forward analytically, ``network.memory_estimate``, which
torch's FlopCounterMode confirms: 709.6 GFLOP per 96^3 patch for widths 32/64/128/256, two blocks per
scale; backward twice the forward), at ``--utilisation`` (default 0.4) of ``--peak-tflops`` (default 990,
H100 SXM dense bf16). Prints patches per second per core, the cores one GPU needs and whether 8 cores
suffice.

Usage: python benchmarks/loader_supply.py [--folder DIR] [--cases 2] [--batches 20] [--batch-size 2]
       [--augmentation authors|default] [--transfer-dtype float32|float16] [--utilisation 0.4]
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


def reference_batch(
    rng: np.random.Generator, dataset: PreprocessedDataset, options: LoaderOptions, parts
) -> np.ndarray:
    """The loader before issue 26, timed by part: padded copy, contiguous patch, copy into the batch."""
    began = time.perf_counter()
    data = np.empty((options.batch_size, len(dataset.channels), *options.patch_size), dtype=np.float32)
    for index in range(options.batch_size):
        draw = draw_patch(rng, dataset, options)
        parts["sampling"] += time.perf_counter() - began
        began = time.perf_counter()
        margin = np.asarray(source_margin(draw.spatial, options.patch_size))
        start = np.asarray(draw.start_zyx) - margin
        size = np.asarray(options.patch_size) + 2 * margin
        array = dataset._array(draw.case_id)  # noqa: SLF001 (benchmark: the read split into its parts)
        shape = np.asarray(array.shape[1:])
        low, high = np.clip(start, 0, shape), np.clip(start + size, 0, shape)
        region = array[(slice(None), *(slice(int(a), int(b)) for a, b in zip(low, high, strict=True)))]
        parts["decompression"] += time.perf_counter() - began
        began = time.perf_counter()
        source = np.zeros((array.shape[0], *size.tolist()), dtype=np.float32)
        source[
            (slice(None), *(slice(int(a), int(b)) for a, b in zip(low - start, high - start, strict=True)))
        ] = region
        parts["cropping"] += time.perf_counter() - began
        began = time.perf_counter()
        patch = apply_spatial_augmentation(source, draw.spatial, options.patch_size)
        if draw.intensity_factor != 1.0:
            scaled = [i for i, name in enumerate(dataset.channels) if name not in MASK_CHANNELS]
            patch[scaled] *= np.float32(draw.intensity_factor)
        parts["augmentation"] += time.perf_counter() - began
        began = time.perf_counter()
        data[index] = patch
        parts["collation"] += time.perf_counter() - began
        began = time.perf_counter()
    return data


def current_batch(
    rng: np.random.Generator, dataset: PreprocessedDataset, options: LoaderOptions, parts
) -> np.ndarray:
    """The loader's ``assemble_batch`` (its parts are not separable from outside: one total)."""
    began = time.perf_counter()
    batch = assemble_batch(rng, dataset, options)["data"]
    parts["total (assemble_batch)"] += time.perf_counter() - began
    return batch


def measure(
    dataset: PreprocessedDataset, options: LoaderOptions, batches: int
) -> dict[str, dict[str, float]]:
    """Seconds per patch by part, median over batches, both implementations interleaved on equal draws."""
    per_batch: dict[str, list[dict[str, float]]] = {"reference": [], "current": []}
    for index in range(batches + 1):
        for name, function in (("reference", reference_batch), ("current", current_batch)):
            parts: dict[str, float] = defaultdict(float)
            began = time.perf_counter()
            function(np.random.default_rng([7, index]), dataset, options, parts)
            parts["total"] = time.perf_counter() - began
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
    parser.add_argument("--transfer-dtype", choices=("float32", "float16"), default="float32")
    parser.add_argument("--utilisation", type=float, default=0.4)
    parser.add_argument("--peak-tflops", type=float, default=990.0, help="dense bf16 peak (H100 SXM: 990)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import blosc2
    import torch

    torch.set_num_threads(1)
    blosc2.set_nthreads(1)
    augmentation = (
        AugmentationOptions.right_angle() if arguments.augmentation == "authors" else AugmentationOptions()
    )
    options = LoaderOptions(PATCH, arguments.batch_size, augmentation=augmentation, num_workers=0,
                            transfer_dtype=arguments.transfer_dtype)  # fmt: skip
    with tempfile.TemporaryDirectory() as temporary:
        dataset = build_dataset(arguments.folder or Path(temporary), arguments.cases)
        seconds = measure(dataset, options, arguments.batches)
    consumption = projected_consumption(arguments.utilisation, arguments.peak_tflops)
    load = os.getloadavg()
    print(
        f"3d_fullres: patch {PATCH}, batch {arguments.batch_size}, {len(dataset.channels)} channels, "
        f"{arguments.augmentation} augmentation, transfer {arguments.transfer_dtype}, {arguments.batches} "
        f"batches per variant, one core; load average {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} cores"
    )
    print("| part | reference ms/patch | current ms/patch |\n|---|---|---|")
    for key in sorted(
        set(seconds["reference"]) | set(seconds["current"]), key=lambda k: k.startswith("total")
    ):
        print(
            f"| {key} | {seconds['reference'].get(key, math.nan) * 1e3:.1f} "
            f"| {seconds['current'].get(key, math.nan) * 1e3:.1f} |"
        )
    flops = training_flops_per_patch()
    print(
        f"\nGPU consumption: {flops / 1e12:.2f} TFLOP per patch (forward + backward), at "
        f"{arguments.utilisation:.0%} of {arguments.peak_tflops:g} TFLOP/s: {consumption:.0f} patches/s"
    )
    for name in ("reference", "current"):
        per_core = 1.0 / seconds[name]["total"]
        cores = math.ceil(consumption / per_core)
        verdict = "feeds" if cores <= WORKER_CORES else "starves"
        print(
            f"{name}: {per_core:.1f} patches/s per core -> {cores} worker cores per GPU; "
            f"{WORKER_CORES} cores supply {WORKER_CORES * per_core:.0f} patches/s ({verdict} the GPU)"
        )


if __name__ == "__main__":
    main()
