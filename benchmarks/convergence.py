"""What limits quality per iteration: controlled lever runs, and the learning curve of one recipe.

Every lever run trains the CPU configuration (``3d_cpu``) of one preprocessed dataset on one fold with the
same seed, data and validation patches, changing one thing against a reference recipe (class attributes
of the trainer, or the plan's patch / batch / widths). Its result is the fold's validation metrics after
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
and evaluates it as ``gdr_evaluate`` does; ``curve-table`` prints the table and draws the figure.

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
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EPOCH_ITERATIONS = 50
REFERENCE_PATCH = (48, 48, 48)  # patch of every lever run that does not change it, and of the validation
BASE_PLAN = {"patch_size": REFERENCE_PATCH, "batch_size": 2}  # the CPU plan the levers were measured on
VALIDATION_BORDER_VOXELS = 8


@dataclass(frozen=True)
class Lever:
    """One controlled change against the reference recipe.

    Attributes:
        name: run folder name.
        description: what changes (table row).
        settings: trainer class attributes that change.
        plan: configuration fields that change (``patch_size``, ``batch_size``, ``widths``).
        reference: the run it is compared with.
    """

    name: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    reference: str = "demo"


def _right_angle() -> Any:
    from gdr_toolkit.training.data.options import AugmentationOptions

    return AugmentationOptions.right_angle()


def _no_augmentation() -> Any:
    from gdr_toolkit.training.data.options import AugmentationOptions

    return AugmentationOptions(enabled=False)


# The demo's recipe before issue 13 (GDRTrainer_CPUDemo): lr 1e-3 cosine, Adam, clip 1.0, 90 % enhancement-
# centred patches, 8-voxel margin, affine augmentation, plain mean.
DEMO = {"initial_learning_rate": 1e-3, "oversample_fraction": 0.9}
NOISE_UNITS = {**DEMO, "noise_units": True}  # the base of the second round (the first round's winner)
MARGIN_2 = {**NOISE_UNITS, "border_voxels": 2}  # the base of the third round
RECIPE_PLAN = {"patch_size": (32, 32, 32), "batch_size": 4}  # the fourth round: the CPU plan of the recipe
LEVERS: dict[str, Lever] = {
    lever.name: lever
    for lever in (
        Lever("demo", "reference: the demo's recipe before issue 13", DEMO, reference=""),
        Lever("noise_units", "network in units of sigma_LD (inputs z_LD, s_LD and output)", NOISE_UNITS),
        Lever("nu_margin_2", "loss margin 2 voxels instead of 8", {**NOISE_UNITS, "border_voxels": 2}, reference="noise_units"),
        Lever("nu_lr_3e-3_warmup", "peak lr 3e-3 with 10 % linear warm-up", {**NOISE_UNITS, "initial_learning_rate": 3e-3, "warmup_fraction": 0.1}, reference="noise_units"),
        Lever("nu_right_angle_aug", "the authors' augmentation: flips, axis permutations, +-5 % intensity", {**NOISE_UNITS, "augmentation": "right_angle"}, reference="noise_units"),
        Lever("nu_patch32_b4", "patch 32^3, batch 4", NOISE_UNITS, {"patch_size": (32, 32, 32), "batch_size": 4}, reference="noise_units"),
        Lever("nu_oversample_0.5", "50 % enhancement-centred patches instead of 90 %", {**NOISE_UNITS, "oversample_fraction": 0.5}, reference="noise_units"),
        Lever("nu_weights_reduction", "loss normalised by the weights: sum(w rho) / sum(w)", {**NOISE_UNITS, "loss_reduction": "weights"}, reference="noise_units"),
        Lever("nu_poly", "polynomial decay (0.9) instead of cosine", {**NOISE_UNITS, "learning_rate_schedule": "poly"}, reference="noise_units"),
        Lever("nu_adamw", "AdamW, weight decay 1e-2", {**NOISE_UNITS, "optimizer_name": "adamw", "weight_decay": 1e-2}, reference="noise_units"),
        Lever("nu_no_clip", "no gradient clipping (instead of 1.0)", {**NOISE_UNITS, "gradient_clip_norm": None}, reference="noise_units"),
        Lever("nu_huber_0.03", "Huber delta 0.03 (about sigma_LD) instead of 0.1", {**NOISE_UNITS, "huber_delta": 0.03}, reference="noise_units"),
        Lever("nu_width24", "widths 24/48/96/192", NOISE_UNITS, {"widths": (24, 48, 96, 192)}, reference="noise_units"),
        # round 3: on noise units + 2-voxel margin (the second round's winner, ``nu_margin_2``)
        Lever("m2_lr_3e-3_warmup", "peak lr 3e-3 with 10 % linear warm-up", {**MARGIN_2, "initial_learning_rate": 3e-3, "warmup_fraction": 0.1}, reference="nu_margin_2"),
        Lever("m2_patch32_b4", "patch 32^3, batch 4", MARGIN_2, {"patch_size": (32, 32, 32), "batch_size": 4}, reference="nu_margin_2"),
        Lever("m2_right_angle_aug", "the authors' augmentation: flips, axis permutations, +-5 % intensity", {**MARGIN_2, "augmentation": "right_angle"}, reference="nu_margin_2"),
        Lever("m2_oversample_0.5", "50 % enhancement-centred patches instead of 90 %", {**MARGIN_2, "oversample_fraction": 0.5}, reference="nu_margin_2"),
        Lever("m2_weights_reduction", "loss normalised by the weights: sum(w rho) / sum(w)", {**MARGIN_2, "loss_reduction": "weights"}, reference="nu_margin_2"),
        # round 4: on the CPU recipe itself (``CPU_RECIPE``, applied by the 3d_cpu configuration, 32^3 x 4)
        Lever("recipe", "reference: the CPU recipe (CPU_RECIPE, patch 32^3, batch 4)", {}, RECIPE_PLAN, reference=""),
        Lever("r_structure_sampling", "enhancement-centred patches per structure, not per voxel", {"enhancement_sampling": "structure"}, RECIPE_PLAN, reference="recipe"),
        Lever("r_weights_reduction", "loss normalised by the weights: sum(w rho) / sum(w)", {"loss_reduction": "weights"}, RECIPE_PLAN, reference="recipe"),
        Lever("r_huber_0.03", "Huber delta 0.03 (about sigma_LD) instead of 0.1", {"huber_delta": 0.03}, RECIPE_PLAN, reference="recipe"),
        Lever("r_poly", "polynomial decay (0.9) instead of cosine", {"learning_rate_schedule": "poly"}, RECIPE_PLAN, reference="recipe"),
        Lever("r_adamw", "AdamW, weight decay 1e-2", {"optimizer_name": "adamw", "weight_decay": 1e-2}, RECIPE_PLAN, reference="recipe"),
        Lever("r_no_clip", "no gradient clipping (instead of 1.0)", {"gradient_clip_norm": None}, RECIPE_PLAN, reference="recipe"),
        Lever("r_width24", "widths 24/48/96/192", {}, {**RECIPE_PLAN, "widths": (24, 48, 96, 192)}, reference="recipe"),
    )
}  # fmt: skip
AUGMENTATIONS = {"right_angle": _right_angle, "none": _no_augmentation}


def trainer_class(lever: Lever, iterations: int) -> type:
    """A GDRTrainer subclass with the lever's settings and the budget (epochs of ``EPOCH_ITERATIONS``)."""
    from gdr_toolkit.training.trainer import GDRTrainer

    settings = dict(lever.settings)
    warmup_fraction = settings.pop("warmup_fraction", 0.0)
    if "augmentation" in settings:
        settings["augmentation"] = AUGMENTATIONS[settings["augmentation"]]()
    settings |= {
        "num_epochs": max(1, iterations // EPOCH_ITERATIONS),
        "iterations_per_epoch": min(iterations, EPOCH_ITERATIONS),
        "warmup_iterations": int(round(warmup_fraction * iterations)),
        "validation_border_voxels": VALIDATION_BORDER_VOXELS,
        "validation_patches_per_case": 8,
        "num_dataloader_workers": 0,
    }
    return type(f"Lever_{lever.name}", (GDRTrainer,), settings)


def _plans_with(plans: Any, configuration: str, changes: dict[str, Any]) -> Any:
    """``plans`` whose configuration has the base patch and batch, or the lever's, and its widths."""
    changes = {**BASE_PLAN, **changes}
    plan = plans.configuration(configuration)
    network = dict(plan.network)
    if "widths" in changes:
        network["widths"] = list(changes["widths"])
    replaced = dataclasses.replace(
        plan,
        patch_size=tuple(changes.get("patch_size", plan.patch_size)),
        batch_size=int(changes.get("batch_size", plan.batch_size)),
        network=network,
    )
    return dataclasses.replace(plans, configurations={**plans.configurations, configuration: replaced})


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
    plans = _plans_with(load_plans(preprocessed / "gdrPlans.json"), configuration, lever.plan)
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
    plans = _plans_with(load_plans(preprocessed / "gdrPlans.json"), configuration, lever.plan)
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


CURVE_TRAINER = "GDRTrainer_Curve"
STUDY_DATASET = "Dataset700_ReproductionStudy"
CURVE_METRICS = ("psnr_b", "psnr_l", "c_bar", "c_hat", "mae_ce")


def _curve_model_folder(study: Path, dataset: str) -> Path:
    return study / "gdr_results" / dataset / f"{CURVE_TRAINER}__gdrPlans__3d_cpu"


def train_curve(study: Path, dataset: str, budgets: list[int], threads: int) -> None:
    """Train (or resume) the long run with snapshots at ``budgets``; the CPU recipe of ``GDRTrainer``."""
    import torch

    from gdr_toolkit.planning.plans import load_plans
    from gdr_toolkit.training.trainer import GDRTrainer

    torch.set_num_threads(threads)
    preprocessed = study / "gdr_preprocessed" / dataset
    plans = load_plans(preprocessed / "gdrPlans.json")
    epoch = math.gcd(EPOCH_ITERATIONS, *budgets)  # every budget ends an epoch
    settings = {"num_epochs": max(budgets) // epoch, "iterations_per_epoch": epoch}
    settings |= {"snapshot_iterations": tuple(budgets), "validation_border_voxels": VALIDATION_BORDER_VOXELS}
    trainer_type = type(CURVE_TRAINER, (GDRTrainer,), settings)
    model_folder = _curve_model_folder(study, dataset)
    trainer = trainer_type(plans, "3d_cpu", 0, preprocessed, model_folder / "fold_0")
    latest = model_folder / "fold_0" / "checkpoint_latest.pth"
    if (model_folder / "fold_0" / "checkpoint_final.pth").is_file():
        return
    if latest.is_file():
        trainer.load_checkpoint(latest)
    trainer.run_training()


def _preprocessed_test_cases(raw: Path, output: Path, predictor: Any) -> dict[str, Any]:
    """The test cases preprocessed once with the model's plan (cached in ``output/test_cases.pkl``)."""
    import pickle

    from gdr_toolkit.dataset.image_io import read_image
    from gdr_toolkit.inference.prediction_cases import find_cases
    from gdr_toolkit.preprocessing.case_preprocessing import PreprocessedCase

    cache = output / "test_cases.pkl"
    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    cases = {}
    for case in find_cases(raw / "imagesTs"):
        result = predictor.preprocess(
            read_image(case.pre_contrast), read_image(case.low_dose), case.load_metadata()
        )
        cases[case.case_id] = (PreprocessedCase(result.arrays, result.properties, {}), case.pre_contrast)
    temporary = cache.with_suffix(".tmp")
    temporary.write_bytes(pickle.dumps(cases))
    temporary.replace(cache)
    return cases


def evaluate_curve(study: Path, dataset: str, threads: int, latest_too: bool = False) -> None:
    """Predict and evaluate the test split with every snapshot not yet evaluated (and with the run's latest
    checkpoint, as the point of its iteration, when ``latest_too``: an unfinished run's newest point)."""
    import re

    import torch

    from gdr_toolkit.dataset.image_io import read_image
    from gdr_toolkit.evaluation.evaluate_folder import FolderEvaluationOptions, evaluate_predictions
    from gdr_toolkit.file_io import write_json_atomic
    from gdr_toolkit.inference.export import ExportOptions, write_prediction
    from gdr_toolkit.inference.model_loader import load_trained_model
    from gdr_toolkit.inference.predictor import Predictor
    from gdr_toolkit.reproduction.study_runner import EVALUATION_CACHE

    torch.set_num_threads(threads)
    model_folder, output = _curve_model_folder(study, dataset), study / "curve"
    output.mkdir(parents=True, exist_ok=True)
    raw = study / "gdr_raw" / dataset
    snapshots = sorted(
        (int(re.findall(r"\d+", path.stem)[0]), path.name)
        for path in (model_folder / "fold_0").glob("checkpoint_iteration_*.pth")
    )
    if latest_too and (model_folder / "fold_0" / "checkpoint_latest.pth").is_file():
        from gdr_toolkit.training.checkpoint import load_checkpoint

        iteration = int(load_checkpoint(model_folder / "fold_0" / "checkpoint_latest.pth")["iteration"])
        if iteration not in dict(snapshots):
            snapshots.append((iteration, "checkpoint_latest.pth"))
    cases: dict[str, Any] | None = None
    for iteration, name in snapshots:
        folder = output / f"iteration_{iteration}"
        if (folder / "summary.json").is_file():
            continue
        # patch tiles, as the snapshots evaluated before inference tiles existed (inference.md)
        predictor = Predictor(
            load_trained_model(model_folder, [0], name), use_mirroring=False, tile_edge=None
        )
        cases = cases or _preprocessed_test_cases(raw, output, predictor)
        for case_id, (case, pre_contrast) in cases.items():
            prediction = predictor.predict_preprocessed(case, read_image(pre_contrast), case_id)
            write_prediction(prediction, folder / "predictions", ExportOptions())
        summary = evaluate_predictions(
            raw / "targetsTs", folder / "predictions", raw / "imagesTs", raw / "lesionsTs", suffix=("_sd", "_sdplus"),
            options=FolderEvaluationOptions(include_low_dose=True, coregister_acquired_scans=True),
            cache_folder=study / EVALUATION_CACHE,
        )  # fmt: skip
        write_json_atomic(summary.to_json_dict(), folder / "summary.json")
        print(f"evaluated iteration {iteration}", flush=True)


def curve_table(study: Path, dataset: str, figure: Path | None) -> str:
    """Markdown table of the evaluated snapshots (overall and by dose), and the figure."""
    from gdr_toolkit.reproduction.results_tables import TableRow, metric_values, strata
    from gdr_toolkit.reproduction.study_report import held_out_case_metadata

    model_log = _curve_model_folder(study, dataset) / "fold_0" / "training_log.jsonl"
    records = [json.loads(line) for line in model_log.read_text().splitlines()]
    seconds_at = {
        record["iteration"]: sum(r["epoch_seconds"] for r in records if r["iteration"] <= record["iteration"])
        for record in records
    }
    groups = {
        "all": None,
        **{
            k: v
            for k, v in strata(
                held_out_case_metadata(study / "gdr_raw" / dataset / "metadataTs"), 0.2
            ).items()
            if k.startswith("dose")
        },
    }
    lines = [
        "| iterations | CPU-hours | group | image | " + " | ".join(CURVE_METRICS) + " |",
        "|---" * (4 + len(CURVE_METRICS)) + "|",
    ]
    points: dict[str, list[tuple[int, float, float, float]]] = {}  # (iterations, CPU-h, c_bar, PSNR_L)
    for folder in sorted(
        (study / "curve").glob("iteration_*"), key=lambda path: int(path.name.split("_")[1])
    ):
        if not (folder / "summary.json").is_file():
            continue
        iteration = int(folder.name.split("_")[1])
        summary = json.loads((folder / "summary.json").read_text())
        hours = seconds_at.get(iteration, float("nan")) * 2 / 3600  # 2 cores
        for group, cases in groups.items():
            for method, label in (("low_dose", "x_LD"), ("sd", "synthesised SD"), ("sdplus", "SD+")):
                row = TableRow(label, summary, method)
                means = [float(np.mean(metric_values(row, metric, cases))) for metric in CURVE_METRICS]
                lines.append(
                    f"| {iteration} | {hours:.2f} | {group} | {label} | "
                    + " | ".join(f"{value:.3f}" for value in means)
                    + " |"
                )
                if group == "all":
                    points.setdefault(label, []).append((iteration, hours, means[2], means[1]))
    if figure is not None and points:
        _draw_curve(points, figure)
    return "\n".join(lines)


def _draw_curve(points: dict[str, list[tuple[int, float, float, float]]], figure: Path) -> None:
    """c_bar (top) and PSNR_L (bottom) of each image against iterations (left) and CPU-hours (right)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    fig, axes = pyplot.subplots(2, 2, figsize=(10, 7.5))
    metrics = ((2, "c_bar on the test split", 0.8), (3, "PSNR_L (dB) on the test split", None))
    for row, (index, name, target) in zip(axes, metrics, strict=True):
        for column, (axis, x_name) in enumerate(
            zip(row, ("training iterations", "CPU-hours (2 cores)"), strict=True)
        ):
            for label, values in points.items():
                axis.plot([v[column] for v in values], [v[index] for v in values], marker="o", label=label)
            axis.set_xscale("log")
            axis.set_xlabel(x_name)
            axis.set_ylabel(name)
            if target is not None:
                axis.axhline(target, color="grey", linestyle=":", linewidth=1)
            axis.grid(alpha=0.3)
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(figure, dpi=100)


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
