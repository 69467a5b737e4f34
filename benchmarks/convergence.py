"""What limits quality per iteration: controlled lever runs, and the learning curve of one recipe.

Every lever run trains the CPU configuration (``3d_cpu``) of one preprocessed dataset on one fold with the
same seed, data and validation patches, changing one thing against a reference recipe (fields of the
training recipe, lever-only optimiser / schedule / loss options, or the plan's patch / batch / widths:
``convergence_levers.py``). Its result is the fold's validation metrics after
the budget (``validation_*`` of ``training/validation.py``: PSNR of the contrast signal in the brain,
MAE in enhancing voxels, and the contrast recovery, the patch-level analogue of c_bar), always on the
interior that excludes the paper's 8-voxel border, whatever the run's loss margin; plus seconds per
iteration. The test split is not touched.

Runs go in subprocesses, ``--parallel`` at a time with ``--threads`` torch threads each, and resume:
a finished run's ``result.json`` is reused, an interrupted one continues from its latest checkpoint.

The learning curve (``curve``) is one long run of the CPU configuration's default recipe (``GDRTrainer``
on ``3d_cpu``) with its own cosine schedule over the largest budget, snapshots kept at every budget
(``checkpoint_iteration_N.pth``: checkpoints of one long run, so a small budget's snapshot was taken at a
higher learning rate than a run of that length would end with); ``curve-evaluate`` predicts the held-out
test split (``imagesTs``) with every snapshot through the predictor (preprocessing the test cases once)
and evaluates it as ``gdr_evaluate`` does; ``curve-table`` prints the table and draws the figure
(``convergence_curve.py``).

Usage:
    python benchmarks/convergence.py curve --study STUDY --budgets 500 1000 2000 4000 8000
    python benchmarks/convergence.py curve-evaluate --study STUDY
    python benchmarks/convergence.py curve-table --study STUDY --figure documentation/convergence_curve.png
    python benchmarks/convergence.py levers --preprocessed DIR --output RUNS [--iterations 300]
        [--names demo margin_2 ...] [--parallel 2 --threads 1]
    python benchmarks/convergence.py table --output RUNS          # prints the lever table (Markdown)
    python benchmarks/convergence.py run NAME --preprocessed DIR --output RUNS --iterations N
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules below

from convergence_curve import STUDY_DATASET, curve_table, evaluate_curve, train_curve  # type: ignore[import-not-found]  # noqa: E402
from convergence_levers import LEVERS, REFERENCE_PATCH, plans_with, trainer_class  # type: ignore[import-not-found]  # noqa: E402


def run_lever(
    name: str, preprocessed: Path, output: Path, iterations: int, configuration: str, fold: int
) -> dict:
    """Train one lever (or resume it) and write ``output/name/result.json``; returns the result."""
    import torch

    from gdr_toolkit.file_io import write_json_atomic
    from gdr_toolkit.planning.plans import load_plans

    lever = LEVERS[name]
    folder = output / name
    result_path = folder / "result.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    plans = plans_with(load_plans(preprocessed / "gdrPlans.json"), configuration, lever.plan)
    trainer = trainer_class(lever, iterations)(plans, configuration, fold, preprocessed, folder / "fold")
    latest = folder / "fold" / "checkpoint_latest.pth"
    if latest.is_file():
        trainer.load_checkpoint(latest)
    started = time.perf_counter()
    trainer.run_training()
    records = [json.loads(line) for line in (folder / "fold" / "training_log.jsonl").read_text().splitlines()]
    reference_metrics = metrics_on_reference_patches(trainer, plans.configuration(configuration).batch_size)
    seconds = sum(record["epoch_seconds"] for record in records)
    result = {
        "lever": dataclasses.asdict(lever),
        "iterations": trainer.current_iteration,
        "threads": torch.get_num_threads(),
        "seconds_total": seconds,
        "seconds_per_iteration": seconds / max(1, trainer.current_iteration),
        "final": {**records[-1], **reference_metrics},
        "curve": [
            {
                key: record.get(key)
                for key in ("iteration", "validation_psnr_db", "validation_contrast_recovery")
            }
            for record in records
        ],
        "wall_seconds_this_call": time.perf_counter() - started,
    }
    write_json_atomic(result, result_path)
    return result


def metrics_on_reference_patches(trainer: Any, batch_size: int) -> dict[str, Any]:
    """The validation metrics of the trained network on the 48^3 validation patches every run shares
    (a run with another training patch validates on patches of its own size during training)."""
    import torch

    from gdr_toolkit.training.data import LazyValidationBatches, validation_patch_positions
    from gdr_toolkit.training.validation import SUM_SLOTS, finalise_metrics

    positions = validation_patch_positions(
        trainer.validation_dataset, REFERENCE_PATCH, trainer.validation_patches_per_case, trainer.seed
    )
    batches = LazyValidationBatches(trainer.validation_dataset, positions, REFERENCE_PATCH, batch_size)
    trainer.network.eval()
    sums = torch.zeros(len(SUM_SLOTS), dtype=torch.float64)
    for batch in batches:
        sums += trainer.validation_step(batch)
    return finalise_metrics(sums)


def reevaluate(name: str, preprocessed: Path, output: Path, configuration: str, fold: int) -> None:
    """Replace a finished run's final metrics by those on the shared 48^3 validation patches."""
    from gdr_toolkit.file_io import write_json_atomic
    from gdr_toolkit.planning.plans import load_plans

    result_path = output / name / "result.json"
    result = json.loads(result_path.read_text())
    lever = LEVERS[name]
    plans = plans_with(load_plans(preprocessed / "gdrPlans.json"), configuration, lever.plan)
    trainer = trainer_class(lever, result["iterations"])(
        plans, configuration, fold, preprocessed, output / name / "fold"
    )
    trainer.load_checkpoint(output / name / "fold" / "checkpoint_final.pth")
    result["final"] |= metrics_on_reference_patches(trainer, plans.configuration(configuration).batch_size)
    write_json_atomic(result, result_path)


def run_levers(args: argparse.Namespace) -> None:
    """Run the named levers in subprocesses, ``args.parallel`` at a time."""
    pending = [name for name in args.names if not (args.output / name / "result.json").is_file()]
    running: list[tuple[str, subprocess.Popen]] = []
    environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            (args.output / name).mkdir(parents=True, exist_ok=True)
            command = [
                sys.executable, __file__, "run", name, "--preprocessed", str(args.preprocessed),
                "--output", str(args.output), "--iterations", str(args.iterations),
                "--threads", str(args.threads), "--fold", str(args.fold),
            ]  # fmt: skip
            log = (args.output / name / "run.log").open("a")
            running.append(
                (name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment))
            )
            print(f"started {name}", flush=True)
        time.sleep(5)
        for name, process in list(running):
            if process.poll() is not None:
                running.remove((name, process))
                print(f"finished {name} (exit {process.returncode})", flush=True)


def lever_table(output: Path) -> str:
    """Markdown table of every finished lever run under ``output``."""
    results = {
        path.parent.name: json.loads(path.read_text()) for path in sorted(output.glob("*/result.json"))
    }
    lines = [
        "| lever | change | iterations | s/it | val. PSNR (dB) | val. MAE_CE | contrast recovery | vs reference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in [name for name in LEVERS if name in results]:
        result, final = results[name], results[name]["final"]
        reference = results.get(result["lever"]["reference"])
        delta = ""
        if reference and final["validation_contrast_recovery"] is not None:
            gain = final["validation_contrast_recovery"] - reference["final"]["validation_contrast_recovery"]
            psnr = final["validation_psnr_db"] - reference["final"]["validation_psnr_db"]
            delta = f"{gain:+.3f} recovery, {psnr:+.2f} dB"
        lines.append(
            f"| {name} | {result['lever']['description']} | {result['iterations']} | "
            f"{result['seconds_per_iteration']:.2f} | {final['validation_psnr_db']:.2f} | "
            f"{final['validation_mae_enhancing']:.4f} | {final['validation_contrast_recovery']:.3f} | {delta} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("levers", "run", "reevaluate"):
        sub = commands.add_parser(command)
        if command in ("run", "reevaluate"):
            sub.add_argument("name", choices=sorted(LEVERS))
        else:
            sub.add_argument("--names", nargs="+", default=list(LEVERS), choices=sorted(LEVERS))
            sub.add_argument("--parallel", type=int, default=2)
        sub.add_argument("--preprocessed", type=Path, required=True, help="$gdr_preprocessed/DatasetXXX_Name")
        sub.add_argument("--output", type=Path, required=True)
        sub.add_argument("--iterations", type=int, default=300)
        sub.add_argument("--threads", type=int, default=1)
        sub.add_argument("--fold", type=int, default=0)
        sub.add_argument("--configuration", default="3d_cpu")
    table = commands.add_parser("table")
    table.add_argument("--output", type=Path, required=True)
    for command in ("curve", "curve-evaluate", "curve-table"):
        sub = commands.add_parser(command)
        sub.add_argument("--study", type=Path, required=True, help="gdr_reproduce's output folder")
        sub.add_argument("--threads", type=int, default=2)
        sub.add_argument("--budgets", type=int, nargs="+", default=[500, 1000, 2000, 4000, 8000])
        sub.add_argument("--figure", type=Path, default=None)
        sub.add_argument("--dataset", default=STUDY_DATASET)
        sub.add_argument("--latest", action="store_true", help="curve-evaluate: also the latest checkpoint")
    args = parser.parse_args()
    if args.command == "table":
        print(lever_table(args.output))
    elif args.command == "curve":
        train_curve(args.study, args.dataset, args.budgets, args.threads)
    elif args.command == "curve-evaluate":
        evaluate_curve(args.study, args.dataset, args.threads, args.latest)
    elif args.command == "curve-table":
        print(curve_table(args.study, args.dataset, args.figure))
    elif args.command == "reevaluate":
        reevaluate(args.name, args.preprocessed, args.output, args.configuration, args.fold)
    elif args.command == "run":
        import torch

        torch.set_num_threads(args.threads)
        result = run_lever(
            args.name, args.preprocessed, args.output, args.iterations, args.configuration, args.fold
        )
        print(json.dumps(result["final"]))
    else:
        run_levers(args)


if __name__ == "__main__":
    main()
