"""Parallel scaling of the dataset preprocessor: cases per minute with -np 1 vs -np 2.

Simulates ``--cases`` training cases at 2 mm into a temporary raw dataset, then preprocesses all of them
(brain mask, co-registration, intensity and noise normalisation, target, resampling, storage: what
``gdr_preprocess -np N`` runs per configuration, through ``preprocess_dataset``) into a fresh output
folder with 1 and with 2 worker processes. Every run is a fresh Python process, so each pays elastix's
one-off start-up as a real run does (once in-process for -np 1, once per worker for -np 2). Runs are
interleaved (1, 2, 2, 1, ...) so that machine load hits both equally; the median is printed. ITK and
elastix use every core in each process unless ``--itk-threads`` sets ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS
for the runs (and so for their workers).

Usage: python benchmarks/preprocess_scaling.py [--cases 4] [--repeats 1] [--processes 1 2] [--itk-threads N]
       [--folder DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAW_NAME = "Dataset901_PreprocessingScaling"


def configuration():
    """The CPU plan's 2 mm configuration (what the preprocessor needs of it)."""
    from gdr_toolkit.planning.plans import ConfigurationPlan

    return ConfigurationPlan(
        data_identifier="gdrPlans_2mm", spacing_mm=2.0, patch_size=(48, 48, 48), batch_size=2, network={},
        condition_keys=("noise_sigma_ld",), noise_normalisation=True, local_noise_kernel_mm=8.0,
        target_device="cpu", memory_budget_bytes=0, estimated_memory_bytes=0, median_image_shape=(80, 96, 80),
    )  # fmt: skip


def simulate(root: Path, num_cases: int) -> Path:
    """Write (or reuse) the raw dataset; returns its folder."""
    from gdr_toolkit.simulation import SimulationSettings
    from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset

    raw = root / "raw" / RAW_NAME
    write_simulated_dataset(
        raw, SimulationSettings(spacing_mm=2.0), num_training=num_cases, seed=5, num_processes=2
    )
    return raw


def _child(request: dict) -> float:
    """Preprocess every case of the raw dataset into a new folder; returns the wall time, s."""
    from gdr_toolkit.dataset.raw_layout import list_cases
    from gdr_toolkit.preprocessing.preprocessor import preprocess_dataset

    cases = list_cases(Path(request["raw"]), "Tr")
    began = time.perf_counter()
    summary = preprocess_dataset(cases, configuration(), Path(request["output"]), request["processes"])
    seconds = time.perf_counter() - began
    if len(summary.processed) != len(cases):
        raise RuntimeError(f"expected {len(cases)} processed cases, got {summary.processed}")
    return seconds


def run_once(raw: Path, output: Path, processes: int, itk_threads: int | None) -> float:
    request = json.dumps({"raw": str(raw), "output": str(output), "processes": processes})
    environment = dict(os.environ)
    if itk_threads:
        environment["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(itk_threads)
    completed = subprocess.run(
        [sys.executable, __file__, "--child", request],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"preprocessing with -np {processes} failed:\n{completed.stderr[-3000:]}")
    return float(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4, help="simulated 2 mm training cases")
    parser.add_argument("--repeats", type=int, default=1, help="runs per process count")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="-np values to compare")
    parser.add_argument("--itk-threads", type=int, default=None, help="ITK/elastix threads per process")
    parser.add_argument("--folder", type=Path, default=None, help="keep (and reuse) the raw dataset here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(_child(json.loads(arguments.child)))
        return
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as temporary:
        root = arguments.folder or Path(temporary)
        began = time.perf_counter()
        raw = simulate(root, arguments.cases)
        threads = arguments.itk_threads or "all cores"
        print(f"{arguments.cases} simulated 2 mm cases in {time.perf_counter() - began:.0f} s")
        print(f"{os.cpu_count()} cores; ITK threads per process: {threads}")
        seconds: dict[int, list[float]] = {count: [] for count in arguments.processes}
        for repeat in range(arguments.repeats):
            order = arguments.processes if repeat % 2 == 0 else list(reversed(arguments.processes))
            for count in order:
                output = Path(temporary) / f"preprocessed_np{count}_run{repeat}"
                seconds[count].append(run_once(raw, output, count, arguments.itk_threads))
        baseline = statistics.median(seconds[arguments.processes[0]])
        print(
            f"| -np | s for {arguments.cases} cases (median of {arguments.repeats}) | cases/min | speed-up |"
        )
        print("|---|---|---|---|")
        for count, values in seconds.items():
            median = statistics.median(values)
            print(
                f"| {count} | {median:.1f} | {60 * arguments.cases / median:.1f} | {baseline / median:.2f} |"
            )


if __name__ == "__main__":
    main()
