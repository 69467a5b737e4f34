"""``gdr_demo``: the whole pipeline on the embedded default, a simulated phantom dataset.

simulate -> verify -> plan and preprocess -> train the CPU configuration briefly (fold 0) -> predict
the test cases -> evaluate x_LD, the synthesised SD and SD+ against the true SD, printing a table.
Each step is the command a user would run (the demo calls their ``main``), so the demo exercises
exactly the user-facing path.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from gdr_toolkit.cli import evaluate, plan_and_preprocess, predict, train
from gdr_toolkit.cli.logging_setup import configure_logging
from gdr_toolkit.dataset.verify import verify_dataset
from gdr_toolkit.file_io import read_json
from gdr_toolkit.paths import dataset_folder_name, raw_folder, use_output_folders
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.simulation.settings import SimulationSettings

logger = logging.getLogger("gdr_demo")
DEMO_DATASET_ID = 1
DEMO_DATASET_NAME = "Phantom"
CONFIGURATION = "3d_cpu"
TABLE_METRICS = ("psnr_b", "ssim", "mae_ce", "psnr_l", "c_bar", "c_hat")
METHOD_NAMES = {"low_dose": "x_LD (baseline)", "sd": "synthesised SD", "sdplus": "SD+ (LD + signal)"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gdr_demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("gdr_demo_output"), help="default ./gdr_demo_output"
    )
    parser.add_argument("-n", "--num-training", type=int, default=12, help="training cases (default 12)")
    parser.add_argument("--test", type=int, default=4, help="test cases (default 4)")
    parser.add_argument("--spacing", type=float, default=2.0, help="voxel spacing in mm (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "-np", "--num-processes", type=int, default=2, help="preprocessing workers (default 2)"
    )
    parser.add_argument("-tr", "--trainer", default="GDRTrainer_CPUDemo", help="trainer for the demo model")
    parser.add_argument("--num_epochs", type=int, default=None, help="override the trainer's epochs")
    parser.add_argument(
        "--iterations_per_epoch", type=int, default=None, help="override iterations per epoch"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _set_folders(output: Path) -> Path:
    use_output_folders(output)
    return raw_folder() / dataset_folder_name(DEMO_DATASET_ID, DEMO_DATASET_NAME)


def _train_arguments(args: argparse.Namespace) -> list[str]:
    arguments = [str(DEMO_DATASET_ID), "0", "-c", CONFIGURATION, "-tr", args.trainer]
    for flag in ("num_epochs", "iterations_per_epoch"):
        if getattr(args, flag) is not None:
            arguments += [f"--{flag}", str(getattr(args, flag))]
    return arguments


def format_table(summary: dict) -> str:
    """The comparison table (mean +- std per method) from a summary.json dictionary."""
    header = f"{'method':<20}" + "".join(f"{metric:>18}" for metric in TABLE_METRICS)
    lines = [header, "-" * len(header)]
    for method, label in METHOD_NAMES.items():
        if method not in summary["methods"]:
            continue
        aggregates = summary["methods"][method]["aggregate"]
        cells = []
        for metric in TABLE_METRICS:
            value = aggregates[metric]
            mean, std = value["mean"], value["std"]
            cells.append("n/a" if mean is None else f"{mean:.3f} +- {std or 0:.3f}")
        lines.append(f"{label:<20}" + "".join(f"{cell:>18}" for cell in cells))
    return "\n".join(lines)


def run_steps(args: argparse.Namespace, dataset: Path) -> int:
    """The six steps; 0 on success, the failing step's exit code otherwise."""
    write_simulated_dataset(
        dataset,
        SimulationSettings(spacing_mm=args.spacing),
        args.num_training,
        args.test,
        args.seed,
        progress=True,
    )
    logger.info("2/6 verifying %s", dataset.name)
    if problems := verify_dataset(dataset):
        for problem in problems:
            logger.error("%s", problem)
        return 1
    predictions = args.output / "predictions"
    steps = (
        (
            "3/6 planning and preprocessing",
            plan_and_preprocess.main,
            ["-d", str(DEMO_DATASET_ID), "-np", str(args.num_processes)],
        ),
        ("4/6 training the CPU configuration (fold 0)", train.main, _train_arguments(args)),
        (
            "5/6 predicting the test cases",
            predict.main,
            [
                "-d",
                str(DEMO_DATASET_ID),
                "-c",
                CONFIGURATION,
                "-tr",
                args.trainer,
                "-f",
                "0",
                "-i",
                str(dataset / "imagesTs"),
                "-o",
                str(predictions),
                "--disable_tta",
                "--save_contrast_signal",
                "--continue_prediction",
            ],
        ),
        (
            "6/6 evaluating against the true standard dose",
            evaluate.main,
            [
                "-ref",
                str(dataset / "targetsTs"),
                "-pred",
                str(predictions),
                "-pc",
                str(dataset / "imagesTs"),
                "-lesions",
                str(dataset / "lesionsTs"),
                "--suffix",
                "_sd",
                "_sdplus",
                "--low-dose",
                "--coregister",
                "-o",
                str(predictions / "summary.json"),
            ],
        ),
    )
    for title, command, arguments in steps:
        logger.info("%s", title)
        if (status := command([*arguments, *(["-v"] if args.verbose else [])])) != 0:
            logger.error("step failed: %s", title)
            return status
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    start = time.perf_counter()
    dataset = _set_folders(args.output)
    logger.info(
        "1/6 simulating %d + %d cases at %.1f mm into %s", args.num_training, args.test, args.spacing, dataset
    )
    if (status := run_steps(args, dataset)) != 0:
        return status
    summary = read_json(args.output / "predictions" / "summary.json")
    sys.stdout.write(
        "\nTest cases against the true standard dose (mean +- std; lesion metrics pooled over lesions):\n"
    )
    sys.stdout.write(format_table(summary) + "\n")
    sys.stdout.write(f"QC pictures: {(args.output / 'predictions').resolve()}/*_qc.png\n")
    logger.info(
        "demo finished in %.0f s; everything is under %s", time.perf_counter() - start, args.output.resolve()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
