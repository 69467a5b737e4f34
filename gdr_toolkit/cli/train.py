"""``gdr_train DATASET FOLD [-c CONFIG] [-tr TRAINER] [-p PLANS] [--c] [-device D] ...``: train one fold.

Multi-process (DDP): ``torchrun --nproc_per_node N -m gdr_toolkit.cli.train DATASET FOLD ...`` (the plan's
batch per process); several machines: add ``--nnodes M --rdzv_backend c10d --rdzv_endpoint HOST:PORT``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from gdr_toolkit.cli.command import USER_ERRORS, run_command
from gdr_toolkit.network.device import DEVICE_CHOICES, resolve_device_name
from gdr_toolkit.network.precision import PRECISION_CHOICES
from gdr_toolkit.paths import raw_dataset_folder
from gdr_toolkit.pipeline.validate_step import validate_fold
from gdr_toolkit.training.distributed import initialise_distributed, shutdown_distributed
from gdr_toolkit.training.fold_training import TrainingJob, parse_fold, train_fold, validation_only_folder

logger = logging.getLogger("gdr_train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gdr_train", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="dataset id or DatasetXXX_Name")
    parser.add_argument("fold", help="fold index (0-4) or 'all'")
    parser.add_argument("-c", "--configuration", default="3d_fullres", help="default 3d_fullres")
    parser.add_argument("-tr", "--trainer", default="GDRTrainer", help="trainer class (default GDRTrainer)")
    parser.add_argument("-p", "--plans", default="gdrPlans", help="plans name (default gdrPlans)")
    parser.add_argument("--c", dest="continue_training", action="store_true", help="resume checkpoint_latest")
    parser.add_argument(
        "-device", default="auto", choices=DEVICE_CHOICES, help="default auto: cuda, else mps, else cpu"
    )
    parser.add_argument(
        "--precision", default="auto", choices=PRECISION_CHOICES,
        help="auto: bf16 on GPUs of compute capability >= 8, fp16 before, fp32 on CPU/MPS",
    )  # fmt: skip
    parser.add_argument("-pretrained_weights", type=Path, default=None, help="checkpoint to initialise from")
    parser.add_argument("--num_epochs", type=int, default=None, help="override the trainer's num_epochs")
    parser.add_argument(
        "--iterations_per_epoch", type=int, default=None, help="override iterations per epoch"
    )
    parser.add_argument(
        "-lr", "--initial_learning_rate", type=float, default=None, help="override the peak learning rate"
    )
    parser.add_argument(
        "--oversample_fraction", type=float, default=None, help="override the enhancement-centred patch share"
    )
    parser.add_argument("--val", action="store_true", help="only validate a finished fold (no training)")
    parser.add_argument("--no_validation", action="store_true", help="skip the validation after training")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def run_validation(args: argparse.Namespace, fold_folder: Path, required: bool) -> int:
    """Validate the fold on its raw validation cases; without the raw dataset, skip (or fail if required)."""
    try:
        raw = raw_dataset_folder(args.dataset)
    except (OSError, ValueError) as error:
        if required:
            logger.error("--val needs the raw dataset: %s", error)
            return 1
        logger.warning(
            "validation skipped (%s); run `gdr_train ... --val` once the raw data are there", error
        )
        return 0
    try:
        summary = validate_fold(fold_folder, raw, args.device)
    except (OSError, ValueError, KeyError) as error:
        logger.error("validation of %s failed: %s", fold_folder, error)
        return 1
    logger.info("validation summary: %s", summary)
    return 0


def _override_problem(args: argparse.Namespace) -> str | None:
    """A message for an out-of-range schedule override, None when all are valid."""
    for name in ("num_epochs", "iterations_per_epoch"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            return f"--{name} must be >= 1, got {getattr(args, name)}"
    if args.initial_learning_rate is not None and not args.initial_learning_rate > 0:
        return f"-lr must be > 0, got {args.initial_learning_rate}"
    if args.oversample_fraction is not None and not 0 <= args.oversample_fraction <= 1:
        return f"--oversample_fraction must lie in [0, 1], got {args.oversample_fraction}"
    return None


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _train, logger, argv, errors=(*USER_ERRORS, KeyError, ImportError))


def _train(args: argparse.Namespace) -> int:
    args.device = resolve_device_name(args.device)
    if problem := _override_problem(args):
        logger.error("%s", problem)
        return 1
    context = initialise_distributed(args.device)
    if not context.is_main:
        logging.getLogger().setLevel(logging.WARNING)
    logger.info("device %s, precision %s, %d process(es)", args.device, args.precision, context.world_size)

    def progress(description: str, total: int) -> tqdm:
        return tqdm(total=total, desc=description, unit="it", disable=None if context.is_main else True)

    try:
        job = TrainingJob(
            args.dataset, parse_fold(args.fold), args.configuration, args.trainer, args.plans, args.device,
            args.continue_training, args.pretrained_weights, args.num_epochs, args.iterations_per_epoch,
            args.initial_learning_rate, args.oversample_fraction, args.precision,
        )  # fmt: skip
        folder = validation_only_folder(job) if args.val else train_fold(job, progress)
    finally:
        shutdown_distributed(context)
    logger.info("fold folder: %s", folder)
    if context.is_main and (args.val or not args.no_validation):
        return run_validation(args, folder, required=args.val)
    return 0


if __name__ == "__main__":
    sys.exit(main())
