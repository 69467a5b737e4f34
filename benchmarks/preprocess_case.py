"""Per-step time and peak memory of the per-case preprocessing on simulated 1 mm and 2 mm cases, and the
seconds one training case costs from raw files to stored arrays (fingerprint + preprocessor).

Usage: python benchmarks/preprocess_case.py [--spacings 2 1] [--repeats 3]

Each spacing runs in a fresh process (so peak memory is that spacing's own); inside it a warm-up call
pays elastix's one-off start-up (counted once per process, as in the worker pools), then the case is
preprocessed ``--repeats`` times and the median of every step is printed. Then one training case goes
through the pipeline as ``gdr_plan_and_preprocess`` runs it: ``fingerprint_case`` (which stores the
registrations), then ``preprocess_and_store_case`` reusing them ("per training case"), and, for
comparison, ``preprocess_and_store_case`` registering again from scratch (what main did before the
registrations were stored). Peak memory is the process's maximum resident set size (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path


def _pipeline_seconds(spacing_mm: float) -> dict[str, float]:
    """Seconds of fingerprint, preprocessing with stored registrations, and preprocessing from scratch."""
    from gdr_toolkit.dataset.raw_layout import list_cases
    from gdr_toolkit.fingerprint import fingerprint_case
    from gdr_toolkit.preprocessing.preprocessor import preprocess_and_store_case
    from gdr_toolkit.preprocessing.registration_cache import REGISTRATION_FOLDER
    from gdr_toolkit.simulation import SimulationSettings, write_simulated_dataset

    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "raw" / "Dataset900_Benchmark"
        settings = SimulationSettings(spacing_mm=spacing_mm, keep_noiseless=False)
        write_simulated_dataset(raw, settings, num_training=1, num_test=0, seed=3)
        case = list_cases(raw, "Tr")[0]
        target = Path(folder) / "preprocessed" / raw.name
        configuration = _configuration(spacing_mm)
        seconds = {}
        start = time.perf_counter()
        fingerprint_case(case, registration_folder=target / REGISTRATION_FOLDER)
        seconds["fingerprint"] = time.perf_counter() - start
        start = time.perf_counter()
        preprocess_and_store_case(case, configuration, target / configuration.data_identifier)
        seconds["preprocessing (stored registrations)"] = time.perf_counter() - start
        start = time.perf_counter()
        preprocess_and_store_case(case, configuration, Path(folder) / "scratch" / "plans")
        seconds["preprocessing (registering again)"] = time.perf_counter() - start
    seconds["per training case (fingerprint + preprocessing, registered once)"] = (
        seconds["fingerprint"] + seconds["preprocessing (stored registrations)"]
    )
    seconds["per training case before (registered twice)"] = (
        seconds["fingerprint"] + seconds["preprocessing (registering again)"]
    )
    return seconds


def _configuration(spacing_mm: float):
    from gdr_toolkit.planning.plans import ConfigurationPlan

    return ConfigurationPlan(
        data_identifier="gdrPlans_benchmark", spacing_mm=spacing_mm, patch_size=(64, 64, 64),
        batch_size=2, network={}, condition_keys=("noise_sigma_ld",), noise_normalisation=True,
        local_noise_kernel_mm=8.0, target_device="cpu", memory_budget_bytes=0, estimated_memory_bytes=0,
        median_image_shape=(128, 128, 128),
    )  # fmt: skip


def _measure(spacing_mm: float, repeats: int, queue: multiprocessing.Queue) -> None:
    import SimpleITK as sitk

    from gdr_toolkit.dataset.metadata import parse_case_metadata
    from gdr_toolkit.preprocessing.case_preprocessing import preprocess_case
    from gdr_toolkit.simulation.case_simulator import simulate_case
    from gdr_toolkit.simulation.settings import SimulationSettings

    case = simulate_case(SimulationSettings(spacing_mm=spacing_mm, keep_noiseless=False), seed=3)
    metadata = parse_case_metadata(case.metadata)
    start = time.perf_counter()
    preprocess_case(case.pre_contrast, case.low_dose, case.standard_dose, metadata)  # warm-up
    first_call = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = preprocess_case(case.pre_contrast, case.low_dose, case.standard_dose, metadata)
        runs.append({**result.properties.step_seconds, "total": time.perf_counter() - start})
    queue.put(
        {
            "spacing_mm": spacing_mm,
            "shape_xyz": list(case.pre_contrast.GetSize()),
            "threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
            "first_call_s": first_call,
            "median_s": {key: statistics.median(run[key] for run in runs) for key in runs[0]},
            "pipeline_s": _pipeline_seconds(spacing_mm),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacings", type=float, nargs="+", default=[2.0, 1.0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    rows = []
    for spacing in args.spacings:
        queue = context.Queue()
        process = context.Process(target=_measure, args=(spacing, args.repeats, queue))
        process.start()
        rows.append(queue.get())
        process.join()
    steps = list(rows[0]["median_s"])
    print(f"cores: {os.cpu_count()}, repeats: {args.repeats} (median seconds per step)")
    header = ["step"] + [f"{row['spacing_mm']:g} mm {'x'.join(map(str, row['shape_xyz']))}" for row in rows]
    print(" | ".join(header))
    for step in steps:
        print(" | ".join([step] + [f"{row['median_s'][step]:.2f}" for row in rows]))
    print(
        " | ".join(["first call (incl. elastix start-up)"] + [f"{row['first_call_s']:.2f}" for row in rows])
    )
    for step in rows[0]["pipeline_s"]:
        print(" | ".join([step] + [f"{row['pipeline_s'][step]:.2f}" for row in rows]))
    print(" | ".join(["peak RSS (MiB)"] + [f"{row['peak_rss_mib']:.0f}" for row in rows]))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
