"""Predicting a folder of cases: preprocessing the next case while the network runs vs one after the other.

Simulates ``--cases`` test cases (default 3, at ``--spacing`` mm, default 2) and writes a model folder with
the CPU plan's network (widths 16/32/64/128, two blocks per scale, random weights: only time matters) at
that spacing, then predicts the folder with ``run_prediction`` (no mirroring, default export: NIfTI,
summary, QC picture and report) one case after the other (read, preprocess, network, resample, write),
with the outputs written by a background thread while the next case is read and preprocessed
(``export_threads=2``), with a background thread preprocessing the next case (``prefetch_cases=1``) and
with a worker process doing so (``preprocessing_processes=2``, ``-npp 2``), against the sum of the cases
each predicted alone (one ``run_prediction`` per case in the same process: what a folder would cost
without overlap), interleaved over ``--repeats`` rounds after one warm-up run (elastix start-up, torch's
first call). Prints median wall and CPU seconds (user + system, all threads) per run,
per case, the sum of the cases' own preprocessing + network + resampling seconds (in the sequential
runs: what a folder costs without overlap) and the ratios to sequential.

Usage: python benchmarks/prediction_overlap.py [--cases 3] [--spacing 2] [--model-spacing MM] [--repeats 3]
[--threads 2] (1 mm cases with a 2 mm model, as the CPU models that predicted public 1 mm cases:
``--spacing 1 --model-spacing 2``)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gdr_toolkit.inference.export import ExportOptions
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.inference.prediction_cases import find_cases
from gdr_toolkit.inference.prediction_run import RunOptions, run_prediction
from gdr_toolkit.inference.predictor import Predictor
from gdr_toolkit.model.checkpoint import CHECKPOINT_FORMAT_VERSION, CHECKPOINT_KEYS, save_checkpoint
from gdr_toolkit.model.conditions import ConditionNormalisation
from gdr_toolkit.planning.plans import ConfigurationPlan, Plans
from gdr_toolkit.process_memory import keep_freed_memory
from gdr_toolkit.simulation import SimulationSettings, write_simulated_dataset
from gdr_toolkit.training.trainer import GDRTrainer

DATASET = "Dataset901_PredictionOverlap"
ALONE = "the sum of the cases, each predicted alone"
CONFIGURATION = "3d_cpu"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_model(folder: Path, spacing_mm: float) -> Path:
    """A one-fold model folder with the CPU plan's network (random weights) at ``spacing_mm``."""
    configuration = ConfigurationPlan(
        data_identifier=f"gdrPlans_{spacing_mm:g}mm", spacing_mm=spacing_mm, patch_size=(48, 48, 48),
        batch_size=2, network={"widths": [16, 32, 64, 128], "blocks_per_scale": 2, "embedding_features": 128},
        condition_keys=("noise_sigma_ld",), noise_normalisation=True, local_noise_kernel_mm=8.0,
        target_device="cpu", memory_budget_bytes=0, estimated_memory_bytes=0, median_image_shape=(96, 112, 96),
    )  # fmt: skip
    plans = Plans(DATASET, "gdrPlans", "ExperimentPlanner", {CONFIGURATION: configuration})
    model_folder = folder / f"GDRTrainer__gdrPlans__{CONFIGURATION}"
    torch.manual_seed(0)
    trainer = GDRTrainer(plans, CONFIGURATION, 0, Path(), model_folder / "fold_0")
    trainer.recipe = trainer.recipe.replace(noise_units=False)
    network = trainer.build_network()
    keys = trainer.condition_keys
    checkpoint = dict.fromkeys(CHECKPOINT_KEYS) | {
        "format_version": CHECKPOINT_FORMAT_VERSION, "trainer_name": "GDRTrainer",
        "plans": plans.to_json_dict(), "configuration": CONFIGURATION, "fold": 0, "init_args": {},
        "trainer_settings": {}, "network_config": network.config.to_json_dict(), "condition_keys": list(keys),
        "condition_normalisation": ConditionNormalisation(keys, (0.1,) * len(keys), (1.0,) * len(keys)).to_json_dict(),
        "gamma": 1.2, "network_state": network.state_dict(),
    }  # fmt: skip
    save_checkpoint(checkpoint, model_folder / "fold_0" / "checkpoint_final.pth")
    return model_folder


VARIANTS = {
    "sequential": RunOptions(ExportOptions(), preprocessing_processes=1, prefetch_cases=0),
    "writing in the background (export_threads=2)": RunOptions(
        ExportOptions(), preprocessing_processes=1, prefetch_cases=0, export_threads=2
    ),
    "prefetching thread": RunOptions(ExportOptions(), preprocessing_processes=1, prefetch_cases=1),
    "prefetching thread and writing in the background": RunOptions(
        ExportOptions(), preprocessing_processes=1, prefetch_cases=1, export_threads=2
    ),
    "worker process (-npp 2)": RunOptions(ExportOptions(), preprocessing_processes=2),
}


def timed_run(cases, predictor: Predictor, output: Path, options: RunOptions) -> dict[str, float]:
    """Wall and CPU seconds of one folder prediction, and the sum of the cases' own step seconds.
    (CPU seconds are this process's: a worker process's preprocessing is not in them.)"""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    summary = run_prediction(cases, predictor, output, options)
    seconds = {"wall": time.perf_counter() - wall, "cpu": _cpu_seconds() - cpu}
    assert not summary.failures, summary.failures
    steps = [json.loads((output / f"{case.case_id}_summary.json").read_text()) for case in cases]
    seconds["sum of case steps"] = sum(sum(record["seconds"].values()) for record in steps)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument(
        "--spacing", type=float, default=2.0, help="simulated voxel size and plan spacing (mm)"
    )
    parser.add_argument(
        "--model-spacing", type=float, help="the model's plan spacing (mm; default: --spacing)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(arguments.threads)
    keep_freed_memory()  # as gdr_predict does
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        raw = root / "raw" / DATASET
        settings = SimulationSettings(spacing_mm=arguments.spacing, keep_noiseless=False)
        write_simulated_dataset(raw, settings, num_training=1, num_test=arguments.cases, seed=5)
        cases = find_cases(raw / "imagesTs")
        predictor = Predictor(
            load_trained_model(write_model(root / "model", arguments.model_spacing or arguments.spacing)),
            use_mirroring=False,
        )
        run_prediction(cases[:1], predictor, root / "warm-up", RunOptions(prefetch_cases=0))
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in (ALONE, *VARIANTS)}
        for repeat in range(arguments.repeats):
            alone = [
                timed_run([case], predictor, root / f"alone_{repeat}_{case.case_id}", VARIANTS["sequential"])
                for case in cases
            ]
            runs[ALONE].append({key: sum(run[key] for run in alone) for key in alone[0]})
            for index, (name, options) in enumerate(VARIANTS.items()):
                runs[name].append(timed_run(cases, predictor, root / f"{index}_{repeat}", options))
    medians = {
        name: {key: statistics.median(run[key] for run in rows) for key in rows[0]}
        for name, rows in runs.items()
    }
    load = os.getloadavg()
    print(
        f"{arguments.cases} cases at {arguments.spacing:g} mm, {arguments.repeats} interleaved rounds, "
        f"{os.cpu_count()} cores, {arguments.threads} torch threads, load average {load[0]:.1f} / {load[1]:.1f}"
    )
    print(
        "| run | wall s | CPU s | wall s per case | sum of the cases' own steps (s) |\n|---|---|---|---|---|"
    )
    for name, values in medians.items():
        print(
            f"| {name} | {values['wall']:.1f} | {values['cpu']:.1f} | {values['wall'] / arguments.cases:.1f} "
            f"| {values['sum of case steps']:.1f} |"
        )
    for name in VARIANTS:
        print(
            f"{name} / the sum of the cases alone, wall = {medians[name]['wall'] / medians[ALONE]['wall']:.2f}"
        )
    print(json.dumps({"runs": runs, "medians": medians}))


if __name__ == "__main__":
    main()
