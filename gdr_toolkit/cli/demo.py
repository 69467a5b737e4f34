"""``gdr_demo``: the whole pipeline on the embedded default, a simulated phantom dataset.

simulate -> verify -> plan and preprocess -> train the CPU configuration briefly (fold 0) -> predict
the test cases -> evaluate x_LD, the synthesised SD and SD+ against the true SD, printing a table.
The steps run in gdr_toolkit.pipeline.demo_run, through the library functions behind the user's
commands; this command parses the flags and prints the table.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from gdr_toolkit.cli.command import USER_ERRORS, run_command
from gdr_toolkit.cli.logging_setup import tqdm_progress
from gdr_toolkit.file_io import read_json
from gdr_toolkit.pipeline.demo_run import DemoSettings, run_demo

logger = logging.getLogger("gdr_demo")
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


def main(argv: list[str] | None = None) -> int:
    errors = (*USER_ERRORS, KeyError, RuntimeError)
    return run_command(build_parser(), _demo, logger, argv, errors=errors, message="demo step failed: %s")


def _demo(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    settings = DemoSettings(
        args.num_training, args.test, args.spacing, args.seed, args.num_processes, args.trainer,
        args.num_epochs, args.iterations_per_epoch,
    )  # fmt: skip
    summary_path = run_demo(settings, args.output, tqdm_progress)
    sys.stdout.write(
        "\nTest cases against the true standard dose (mean +- std; lesion metrics pooled over lesions):\n"
    )
    sys.stdout.write(format_table(read_json(summary_path)) + "\n")
    sys.stdout.write(f"QC pictures: {summary_path.parent.resolve()}/*_qc.png\n")
    logger.info(
        "demo finished in %.0f s; everything is under %s", time.perf_counter() - start, args.output.resolve()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
