"""The learning curve of ``convergence.py``: one long run of the CPU configuration's recipe, its snapshots
evaluated on the held-out test split, and the table and figure of them (usage: ``convergence.py``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from convergence_levers import EPOCH_ITERATIONS, VALIDATION_BORDER_VOXELS  # type: ignore[import-not-found]

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
    trainer_type = type(CURVE_TRAINER, (GDRTrainer,), {"recipe_changes": settings})
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
        from gdr_toolkit.model.checkpoint import load_checkpoint

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
