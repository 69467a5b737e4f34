"""Per-step time (wall and CPU) of the per-case preprocessing on simulated 1 mm and 2 mm cases, the current
settings against a reference measured in the same run, and the seconds one training case costs from raw
files to stored arrays (fingerprint + preprocessor).

Usage: python benchmarks/preprocess_case.py [--spacings 2 1] [--repeats 3] [--no-pipeline]

Each spacing runs in a fresh process; inside it a warm-up call pays elastix's one-off start-up (itk's lazy
module loading, counted once per process, as in the worker pools), then the case is preprocessed
``--repeats`` times with the reference and the current options, interleaved (reference, current,
reference, ...), so that a machine shared with other work loads both alike. Reported per step: median
wall seconds and median CPU seconds (user + system of the process, all threads; steadier than wall time on
a loaded machine) and the ratios current / reference. The reference is the co-registration on the scans'
own grid (``working_spacing_mm=None``, the settings before issue 26); its cost in accuracy is printed
too: the mean distance (mm, over the true brain) between the found and the simulated rigid motion, and
sigma_LD of both. Then, with the pipeline (default), one training case goes through
``fingerprint_case`` (which stores the registrations) and ``preprocess_and_store_case`` reusing them
("per training case"), again both settings interleaved.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

VARIANTS = ("reference", "current")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _options(variant: str):
    """The preprocessing options of a variant: current defaults, or co-registration at full resolution."""
    from gdr_toolkit.preprocessing.case_preprocessing import CasePreprocessingOptions
    from gdr_toolkit.preprocessing.coregistration import CoregistrationOptions
    from gdr_toolkit.preprocessing.registration import RegistrationOptions

    if variant == "current":
        return CasePreprocessingOptions()
    full_resolution = RegistrationOptions(initialisation="none", working_spacing_mm=None)
    return CasePreprocessingOptions(coregistration=CoregistrationOptions(registration=full_resolution))


def _install_cpu_step_timer() -> dict[str, float]:
    """Make preprocess_case's step timer also record CPU seconds per step (into the returned dict)."""
    from gdr_toolkit.preprocessing import case_preprocessing

    cpu_seconds: dict[str, float] = {}
    wall_timer = case_preprocessing._StepTimer

    class CpuStepTimer(wall_timer):  # type: ignore[misc,valid-type]
        @contextmanager
        def step(self, name: str) -> Iterator[None]:
            began = _cpu_seconds()
            with super().step(name):
                yield
            cpu_seconds[name] = _cpu_seconds() - began

    case_preprocessing._StepTimer = CpuStepTimer  # type: ignore[misc]
    return cpu_seconds


def _mean_error_mm(brain_mask, found, true) -> float:
    import numpy as np
    import SimpleITK as sitk

    indices = np.argwhere(sitk.GetArrayViewFromImage(brain_mask) > 0)[::50, ::-1]
    points = [brain_mask.TransformIndexToPhysicalPoint([int(i) for i in index]) for index in indices]
    distances = [np.linalg.norm(np.subtract(found.TransformPoint(p), true.TransformPoint(p))) for p in points]
    return float(np.mean(distances))


def _timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = action()
    return result, time.perf_counter() - wall, _cpu_seconds() - cpu


def _case_rounds(case, metadata, repeats: int) -> dict[str, Any]:
    """Interleaved preprocess_case runs per variant: per-step wall/CPU medians and the accuracy."""
    from gdr_toolkit.preprocessing.case_preprocessing import preprocess_case

    cpu_steps = _install_cpu_step_timer()
    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    accuracy: dict[str, dict[str, float]] = {}
    for _ in range(repeats):
        for variant in VARIANTS:
            result, wall, cpu = _timed(
                lambda variant=variant: preprocess_case(
                    case.pre_contrast, case.low_dose, case.standard_dose, metadata, _options(variant)
                )
            )
            steps = result.properties.step_seconds
            runs[variant].append(
                {
                    **{f"{k} wall": v for k, v in steps.items()},
                    **{f"{k} cpu": v for k, v in cpu_steps.items()},
                }
                | {"total wall": wall, "total cpu": cpu}
            )
            accuracy[variant] = {
                f"{name} error mm": _mean_error_mm(
                    case.brain_mask, result.registrations[name].to_sitk_transform(), case.motion[name]
                )
                for name in ("low_dose", "standard_dose")
            } | {"sigma_LD": result.properties.noise_sigma_ld}
    medians = {
        variant: {key: statistics.median(run[key] for run in rows) for key in rows[0]}
        for variant, rows in runs.items()
    }
    return {"median_s": medians, "accuracy": accuracy}


def _pipeline_seconds(spacing_mm: float, repeats: int) -> dict[str, dict[str, float]]:
    """Per variant, median wall and CPU seconds of fingerprint + preprocessing with stored registrations."""
    from gdr_toolkit.dataset.raw_layout import list_cases
    from gdr_toolkit.fingerprint import fingerprint_case
    from gdr_toolkit.preprocessing.preprocessor import preprocess_and_store_case
    from gdr_toolkit.preprocessing.registration_cache import REGISTRATION_FOLDER
    from gdr_toolkit.simulation import SimulationSettings, write_simulated_dataset

    rows: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "raw" / "Dataset900_Benchmark"
        settings = SimulationSettings(spacing_mm=spacing_mm, keep_noiseless=False)
        write_simulated_dataset(raw, settings, num_training=1, num_test=0, seed=3)
        case = list_cases(raw, "Tr")[0]
        configuration = _configuration(spacing_mm)
        for repeat in range(repeats):
            for variant in VARIANTS:
                target = Path(folder) / f"preprocessed_{variant}_{repeat}" / raw.name
                options = _options(variant)
                _, fingerprint_wall, fingerprint_cpu = _timed(
                    partial(fingerprint_case, case, options, registration_folder=target / REGISTRATION_FOLDER)
                )
                with _plan_options_of(variant):
                    _, wall, cpu = _timed(
                        partial(preprocess_and_store_case, case, configuration, target / "gdrPlans_benchmark")
                    )
                rows[variant].append(
                    {
                        "fingerprint wall": fingerprint_wall,
                        "fingerprint cpu": fingerprint_cpu,
                        "preprocessing (stored registrations) wall": wall,
                        "preprocessing (stored registrations) cpu": cpu,
                        "per training case wall": fingerprint_wall + wall,
                        "per training case cpu": fingerprint_cpu + cpu,
                    }
                )
    return {
        variant: {key: statistics.median(row[key] for row in values) for key in values[0]}
        for variant, values in rows.items()
    }


@contextmanager
def _plan_options_of(variant: str) -> Iterator[None]:
    """Within the block, the preprocessor derives the variant's co-registration options from a plan."""
    from dataclasses import replace

    from gdr_toolkit.preprocessing import preprocessor

    original = preprocessor.options_from_plan
    coregistration = _options(variant).coregistration
    preprocessor.options_from_plan = lambda plan: replace(original(plan), coregistration=coregistration)
    try:
        yield
    finally:
        preprocessor.options_from_plan = original


def _configuration(spacing_mm: float):
    from gdr_toolkit.planning.plans import ConfigurationPlan

    return ConfigurationPlan(
        data_identifier="gdrPlans_benchmark", spacing_mm=spacing_mm, patch_size=(64, 64, 64),
        batch_size=2, network={}, condition_keys=("noise_sigma_ld",), noise_normalisation=True,
        local_noise_kernel_mm=8.0, target_device="cpu", memory_budget_bytes=0, estimated_memory_bytes=0,
        median_image_shape=(128, 128, 128),
    )  # fmt: skip


def _measure(spacing_mm: float, repeats: int, pipeline: bool, queue: multiprocessing.Queue) -> None:
    import SimpleITK as sitk

    from gdr_toolkit.dataset.metadata import parse_case_metadata
    from gdr_toolkit.preprocessing.case_preprocessing import preprocess_case
    from gdr_toolkit.simulation.case_simulator import simulate_case
    from gdr_toolkit.simulation.settings import SimulationSettings

    case = simulate_case(SimulationSettings(spacing_mm=spacing_mm, keep_noiseless=False), seed=3)
    metadata = parse_case_metadata(case.metadata)
    _, first_wall, first_cpu = _timed(
        lambda: preprocess_case(case.pre_contrast, case.low_dose, case.standard_dose, metadata)
    )
    row = {
        "spacing_mm": spacing_mm,
        "shape_xyz": list(case.pre_contrast.GetSize()),
        "threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
        "first_call_s": {"wall": first_wall, "cpu": first_cpu},
        **_case_rounds(case, metadata, repeats),
        "pipeline_s": _pipeline_seconds(spacing_mm, repeats) if pipeline else {},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    queue.put(row)


def _print_table(title: str, by_variant: dict[str, dict[str, float]]) -> None:
    reference, current = by_variant["reference"], by_variant["current"]
    print(f"\n{title}\n| step | reference | current | current / reference |\n|---|---|---|---|")
    for key in reference:
        ratio = current[key] / reference[key] if reference[key] > 0 else float("nan")
        print(f"| {key} | {reference[key]:.2f} | {current[key]:.2f} | {ratio:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacings", type=float, nargs="+", default=[2.0, 1.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-pipeline", action="store_true", help="skip fingerprint + preprocessing")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    rows = []
    for spacing in args.spacings:
        queue = context.Queue()
        process = context.Process(target=_measure, args=(spacing, args.repeats, not args.no_pipeline, queue))
        process.start()
        rows.append(queue.get())
        process.join()
    load = os.getloadavg()
    print(f"cores: {os.cpu_count()}, load average {load[0]:.1f} / {load[1]:.1f}, repeats: {args.repeats}")
    for row in rows:
        shape = "x".join(map(str, row["shape_xyz"]))
        first = row["first_call_s"]
        print(
            f"\n## {row['spacing_mm']:g} mm, {shape} voxels; first call (incl. elastix start-up) "
            f"{first['wall']:.1f} s wall, {first['cpu']:.1f} s CPU; peak RSS {row['peak_rss_mib']:.0f} MiB"
        )
        _print_table("preprocess_case, median seconds", row["median_s"])
        print("\naccuracy (last run): " + json.dumps(row["accuracy"]))
        if row["pipeline_s"]:
            _print_table("per training case (fingerprint + preprocessing), median seconds", row["pipeline_s"])
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
