"""Issue 26: seconds per 1 mm case, a training case (fingerprint + preprocessing) and a prediction end to
end, for two code trees measured in the same run (reference = another checkout, e.g. main; current = this
one).

Usage: python benchmarks/per_case_time.py --reference-root PATH_TO_MAIN [--repeats 3] [--spacing 1] [--threads 1]

The parent simulates one training case and two test cases (``--spacing`` mm, seed 3) and writes a model
folder with the CPU plan's network at ``--model-spacing`` (default 2 mm, as the CPU models that predicted
the public 1 mm cases of issue 26: the network sees a 2 mm grid and the prediction is resampled back onto
PC's 1 mm grid; ``prediction_overlap.write_model``: widths 16/32/64/128, random weights, only time
matters; a 1 mm plan's network alone takes ~125 s per case on one core, documentation/benchmarks.md,
"Inference"). The training case is preprocessed with a plan at its own spacing. Then one worker process per tree (``PYTHONPATH`` = the
tree's root, so each imports its own ``gdr_toolkit``) pays its one-off costs in a warm-up (a whole
prediction of the other test case: elastix start-up, the atlas, torch's first call), and the parent
sends the two workers the same tasks in turn, reference then current, ``--repeats`` times:

- training case: ``fingerprint_case`` (which stores the registrations) then ``preprocess_and_store_case``
  with the plan (``preprocess_case.py``'s 1 mm configuration), in a fresh folder each time;
- prediction: ``run_prediction`` of one test case (read, preprocess, network without mirroring, resample
  to PC's grid, write NIfTI, summary, QC picture and report), after a first case in the same process.

``--reference-environment NAME=VALUE ...`` sets variables for the reference worker only: with
``--reference-root .`` this tree with a setting switched off is the reference (``gdr_keep_freed_memory=0``).

Printed: each task's seconds as it finishes, then medians of CPU seconds (user + system of the worker, all
threads; ``kernel cpu`` the system part alone: page faults, mapping and unmapping) and wall seconds, per task and
per preprocessing step (``preprocess_case``'s steps, CPU; the fingerprint's too where it runs them), and
the ratios current / reference. CPU seconds are the comparable figure on a shared machine; on idle cores
wall time is at most the CPU time (up to I/O waits, files are in the page cache) and at least CPU / cores.
On a loaded machine pass ``--threads 1``: torch's threads spin at barriers when another process holds a
core, which inflates the network's CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

CONFIGURATION = "3d_cpu"
MARKER = "RESULT "


# ----------------------------------------------------------------------------------------------- worker
def _worker(folder: Path, spacing_mm: float, threads: int | None) -> None:
    """Answer the parent's tasks (one JSON line each on stdin) with one ``RESULT {json}`` line each."""
    import logging

    import torch

    if threads:
        torch.set_num_threads(threads)
    try:  # as every gdr_* command does at start (a tree from before issue 26's memory setting has none)
        from gdr_toolkit.process_memory import keep_freed_memory
    except ImportError:
        pass
    else:
        keep_freed_memory()
    import resource
    import time
    from contextlib import contextmanager

    from gdr_toolkit.dataset.raw_layout import list_cases
    from gdr_toolkit.fingerprint import fingerprint_case
    from gdr_toolkit.inference.model_loader import load_trained_model
    from gdr_toolkit.inference.prediction_cases import find_cases
    from gdr_toolkit.inference.prediction_run import RunOptions, run_prediction
    from gdr_toolkit.inference.predictor import Predictor
    from gdr_toolkit.preprocessing import case_preprocessing
    from gdr_toolkit.preprocessing.preprocessor import preprocess_and_store_case
    from gdr_toolkit.preprocessing.registration_cache import REGISTRATION_FOLDER

    logging.basicConfig(level=logging.WARNING)

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def system_seconds() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_stime

    steps: dict[str, float] = {}

    class CpuStepTimer(case_preprocessing._StepTimer):
        @contextmanager
        def step(self, name: str):
            began = cpu_seconds()
            with super().step(name):
                yield
            steps[name] = steps.get(name, 0.0) + cpu_seconds() - began

    case_preprocessing._StepTimer = CpuStepTimer  # type: ignore[misc]

    def timed(action) -> dict[str, Any]:
        steps.clear()
        wall, cpu, system = time.perf_counter(), cpu_seconds(), system_seconds()
        action()
        record = {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}
        record["kernel cpu"] = system_seconds() - system
        return record | {f"{name} cpu": value for name, value in steps.items()}

    raw = folder / "raw" / "Dataset902_PerCase"
    training_case = list_cases(raw, "Tr")[0]
    test_cases = find_cases(raw / "imagesTs")
    configuration = _configuration(spacing_mm)
    predictor = Predictor(load_trained_model(folder / "model" / _model_name()), use_mirroring=False)
    for line in sys.stdin:
        task = json.loads(line)
        target = Path(task["output"])
        if task["task"] == "training":
            registrations = target / "preprocessed" / REGISTRATION_FOLDER
            fingerprint = timed(partial(fingerprint_case, training_case, registration_folder=registrations))
            stored = target / "preprocessed" / "gdrPlans_benchmark"
            preprocessing = timed(partial(preprocess_and_store_case, training_case, configuration, stored))
            result = {f"fingerprint {k}": v for k, v in fingerprint.items()} | {
                f"preprocessing {k}": v for k, v in preprocessing.items()
            }
            result |= {key: fingerprint[key] + preprocessing[key] for key in ("wall", "cpu", "kernel cpu")}
        else:
            case = test_cases[task["case"]]
            options = RunOptions(prefetch_cases=0)
            result = timed(partial(run_prediction, [case], predictor, target, options))
            summary = json.loads((target / f"{case.case_id}_summary.json").read_text())
            result |= {f"{name} wall": value for name, value in summary["seconds"].items()}
        print(MARKER + json.dumps(result), flush=True)


def _configuration(spacing_mm: float):
    sys.path.insert(0, str(Path(__file__).parent))
    from preprocess_case import _configuration as plan_configuration

    return plan_configuration(spacing_mm)


def _model_name() -> str:
    return f"GDRTrainer__gdrPlans__{CONFIGURATION}"


# ----------------------------------------------------------------------------------------------- parent
def _prepare(folder: Path, spacing_mm: float, model_spacing_mm: float) -> None:
    """Simulated raw cases (1 training, 2 test) and the model folder, with this tree's code."""
    sys.path.insert(0, str(Path(__file__).parent))
    from prediction_overlap import write_model

    from gdr_toolkit.simulation import SimulationSettings, write_simulated_dataset

    settings = SimulationSettings(spacing_mm=spacing_mm, keep_noiseless=False)
    write_simulated_dataset(
        folder / "raw" / "Dataset902_PerCase", settings, num_training=1, num_test=2, seed=3
    )
    write_model(folder / "model", model_spacing_mm)


class _Worker:
    """A worker process running one tree's code."""

    def __init__(
        self, root: Path, folder: Path, spacing_mm: float, threads: int, variables: dict[str, str]
    ) -> None:
        environment = {**os.environ, "PYTHONPATH": str(root), **variables}
        command = [sys.executable, __file__, "--worker", str(folder), "--spacing", str(spacing_mm)]
        command += ["--threads", str(threads)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment
        )

    def run(self, task: dict[str, Any]) -> dict[str, float]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(task) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith(MARKER):
                return json.loads(line[len(MARKER) :])
        raise RuntimeError(f"worker ended with code {self.process.wait()}")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def _medians(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({key for row in rows for key in row})
    return {key: statistics.median(row.get(key, 0.0) for row in rows) for key in keys}


def _print_table(title: str, reference: dict[str, float], current: dict[str, float]) -> None:
    print(f"\n{title}\n| seconds | reference | current | current / reference |\n|---|---|---|---|")
    for key in sorted(set(reference) | set(current)):
        old, new = reference.get(key, 0.0), current.get(key, 0.0)
        ratio = f"{new / old:.2f}" if old > 0 else "-"
        print(f"| {key} | {old:.2f} | {new:.2f} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-root", type=Path, required="--worker" not in sys.argv)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spacing", type=float, default=1.0)
    parser.add_argument(
        "--model-spacing", type=float, default=2.0, help="the model's plan spacing (mm) for the predictions"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--reference-environment",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="environment variables of the reference worker only, e.g. gdr_keep_freed_memory=0 with "
        "--reference-root . (this tree with a setting off as the reference)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker is not None:
        _worker(arguments.worker, arguments.spacing, arguments.threads)
        return
    roots = {"reference": arguments.reference_root.resolve(), "current": Path(__file__).parents[1]}
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {"training": [], "prediction": []} for name in roots
    }
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        _prepare(folder, arguments.spacing, arguments.model_spacing)
        variables = {"reference": dict(item.split("=", 1) for item in arguments.reference_environment)}
        workers = {
            name: _Worker(root, folder, arguments.spacing, arguments.threads, variables.get(name, {}))
            for name, root in roots.items()
        }
        try:
            for name, worker in workers.items():  # warm-up: elastix start-up, torch, a first case
                worker.run({"task": "prediction", "case": 0, "output": str(folder / f"{name}_warm_pred")})
            for repeat in range(arguments.repeats):
                for task in ("training", "prediction"):
                    for name, worker in workers.items():
                        output = str(folder / f"{name}_{task}_{repeat}")
                        results[name][task].append(worker.run({"task": task, "case": 1, "output": output}))
                        print(f"{name} {task} {repeat}: " + json.dumps(results[name][task][-1]), flush=True)
        finally:
            for worker in workers.values():
                worker.close()
    load = os.getloadavg()
    print(f"{arguments.spacing:g} mm cases, model at {arguments.model_spacing:g} mm, {arguments.repeats} interleaved rounds, {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")  # fmt: skip
    for task in ("training", "prediction"):
        _print_table(
            f"{task} case, medians", _medians(results["reference"][task]), _medians(results["current"][task])
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
