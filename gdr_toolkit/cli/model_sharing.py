"""``gdr_export_model_to_zip`` and ``gdr_install_pretrained_model_from_zip`` (documentation/model_sharing.md)."""

from __future__ import annotations

import argparse
import logging
import sys

from gdr_toolkit.cli.command import run_command
from gdr_toolkit.model_sharing import export_model_to_zip, install_model_from_zip

logger = logging.getLogger("gdr_model_sharing")


def build_export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_export_model_to_zip",
        description="Zip trained model folders of a dataset in $gdr_results (plans, statistics, logs, "
        "chosen checkpoints), with paths relative to $gdr_results.",
    )
    parser.add_argument("-d", "--dataset", required=True, help="dataset id (1) or name (Dataset001_Phantom)")
    parser.add_argument("-o", "--output", required=True, help="zip file to write")
    parser.add_argument("-c", "--configurations", nargs="+", default=["3d_fullres"], help="configuration(s)")
    parser.add_argument("-tr", "--trainer", default="GDRTrainer", help="trainer class name (GDRTrainer)")
    parser.add_argument("-p", "--plans", default="gdrPlans", help="plans identifier (gdrPlans)")
    parser.add_argument("-f", "--folds", nargs="+", help="folds (default: every fold_* folder)")
    parser.add_argument(
        "-chk",
        "--checkpoints",
        nargs="+",
        default=["checkpoint_final"],
        help="checkpoint name(s) (checkpoint_final)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def export_main(argv: list[str] | None = None) -> int:
    return run_command(build_export_parser(), _export, logger, argv)


def _export(args: argparse.Namespace) -> int:
    export_model_to_zip(
        args.dataset, args.output, args.configurations, args.trainer, args.plans, args.folds, args.checkpoints
    )
    return 0


def build_install_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_install_pretrained_model_from_zip",
        description="Install a model zip into $gdr_results after checking every member path and that every "
        "checkpoint loads with torch.load(weights_only=True).",
    )
    parser.add_argument("zip", help="the model archive")
    parser.add_argument("--overwrite", action="store_true", help="replace model folders that exist already")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def install_main(argv: list[str] | None = None) -> int:
    return run_command(build_install_parser(), _install, logger, argv)


def _install(args: argparse.Namespace) -> int:
    install_model_from_zip(args.zip, overwrite=args.overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(export_main())
