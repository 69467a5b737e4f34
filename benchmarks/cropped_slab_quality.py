"""Does a cropped LD/SD slab cost quality inside the covered brain? (issue 12's done-when)

Simulates the same test cases twice with one seed, once whole and once with the LD and SD slabs cut so that
a fixed share of the brain lies outside them (the simulator's crop uses its own random stream, so anatomy,
lesions, noise and motion are identical), predicts both with a trained model and evaluates both inside the
*same* region: the brain covered by the cropped case's low dose (its ``CASE_valid_mask``). Prints PSNR_B,
MAE_CE, PSNR_L and c_bar of x_LD, the synthesised SD and SD+ for both versions, and the guard's numbers.

Usage:
    python benchmarks/cropped_slab_quality.py MODEL_FOLDER OUTPUT [--cases 3] [--outside 0.25] [--seed 101]

MODEL_FOLDER is a trainer folder (``.../GDRTrainer_CPUDemo__gdrPlans__3d_cpu``; fold 0 is used), e.g. the
one ``gdr_demo`` leaves under ``gdr_demo_output/gdr_results``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from gdr_toolkit.evaluation.evaluate_folder import FolderEvaluationOptions, evaluate_predictions
from gdr_toolkit.inference.export import ExportOptions
from gdr_toolkit.inference.prediction_run import RunOptions
from gdr_toolkit.pipeline.predict_step import PredictionRequest, predict_folder
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.simulation.settings import SimulationSettings

METRICS = ("psnr_b", "mae_ce", "psnr_l", "c_bar")


def _simulate(folder: Path, outside: float, cases: int, seed: int, spacing_mm: float) -> Path:
    crop = {"fov_crop_fraction": 1.0, "fov_brain_outside_range": (outside, outside)} if outside > 0 else {}
    write_simulated_dataset(folder, SimulationSettings(spacing_mm=spacing_mm, **crop), 1, cases, seed)
    return folder


def _predict_and_evaluate(model: Path, dataset: Path, output: Path, valid_masks: Path | None):
    request = PredictionRequest(folds=["0"], use_mirroring=False, run=RunOptions(ExportOptions()))
    predict_folder(model, dataset / "imagesTs", output, request)
    return evaluate_predictions(
        dataset / "targetsTs", output, dataset / "imagesTs", dataset / "lesionsTs", suffix=("_sd", "_sdplus"),
        options=FolderEvaluationOptions(include_low_dose=True, coregister_acquired_scans=True),
        valid_mask_folder=valid_masks,
    )  # fmt: skip


def _number(value: float | int | None) -> float:
    return float("nan") if value is None else float(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_folder", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--outside", type=float, default=0.25, help="brain fraction outside the slab")
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--spacing", type=float, default=2.0)
    args = parser.parse_args()
    cropped = _simulate(args.output / "cropped", args.outside, args.cases, args.seed, args.spacing)
    whole = _simulate(args.output / "whole", 0.0, args.cases, args.seed, args.spacing)
    cropped_summary = _predict_and_evaluate(args.model_folder, cropped, args.output / "pred_cropped", None)
    masks = args.output / "covered_region"
    masks.mkdir(parents=True, exist_ok=True)
    for path in (args.output / "pred_cropped").glob("*_valid_mask.nii.gz"):
        shutil.copy(path, masks / path.name.replace("_valid_mask", ""))
    whole_summary = _predict_and_evaluate(args.model_folder, whole, args.output / "pred_whole", masks)
    print(f"inside the brain covered by the cropped LD ({args.cases} cases, {args.outside:.0%} outside):")
    print(f"{'version':10} {'method':16} " + " ".join(f"{name:>8}" for name in METRICS))
    for label, summary in (("whole", whole_summary), ("cropped", cropped_summary)):
        for method in summary.methods:
            means = {name: record["mean"] for name, record in summary.aggregates(method).items()}
            values = " ".join(f"{_number(means.get(name)):8.3f}" for name in METRICS)
            print(f"{label:10} {method:16} {values}")


if __name__ == "__main__":
    main()
