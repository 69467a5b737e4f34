"""Per-step time and peak memory of the per-case preprocessing on simulated 1 mm and 2 mm cases.

Usage: python benchmarks/preprocess_case.py [--spacings 2 1] [--repeats 3]

Each spacing runs in a fresh process (so peak memory is that spacing's own); inside it a warm-up call
pays elastix's one-off start-up, then the case is preprocessed ``--repeats`` times and the median of
every step is printed. Peak memory is the process's maximum resident set size (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import time


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
    print(" | ".join(["peak RSS (MiB)"] + [f"{row['peak_rss_mib']:.0f}" for row in rows]))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
