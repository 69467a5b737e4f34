"""``gdr_preprocess -d ID [-c CONFIGS] [-np N] [-p PLANS] [-num_parts N -part_id K]``: store the training cases.

Every training case is stored as the plan says; with ``-num_parts/-part_id`` only one part of them (cluster
array jobs), and ``dataset_statistics.json`` once every part is done.
"""

from __future__ import annotations

import argparse
import logging
import sys

from gdr_toolkit.cli.command import USER_ERRORS, run_command
from gdr_toolkit.cli.logging_setup import tqdm_progress
from gdr_toolkit.cli.sharding_arguments import add_sharding_arguments, shard_from_arguments
from gdr_toolkit.dataset.sharding import Shard
from gdr_toolkit.pipeline.preprocess_step import preprocess
from gdr_toolkit.preprocessing.preprocessor import PreprocessingError

logger = logging.getLogger("gdr_preprocess")
#: what gdr_preprocess reports as one error line and exit status 1
PREPROCESS_ERRORS: tuple[type[Exception], ...] = (*USER_ERRORS, KeyError, PreprocessingError)


def add_preprocess_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--configurations", nargs="+", default=None, help="default: all in the plans")
    parser.add_argument("-np", "--num-processes", type=int, default=2, help="worker processes (default 2)")
    add_sharding_arguments(parser)
    parser.add_argument(
        "--accept_poor_registration",
        action="store_true",
        help="keep cases whose LD/SD registration is below the quality thresholds (default: refuse them)",
    )


def run_preprocess(
    dataset: str,
    plans_name: str,
    configurations: list[str] | None,
    num_processes: int,
    shard: Shard | None = None,
    *,
    accept_poor_registration: bool = False,
) -> int:
    """Preprocess each distinct data folder of the chosen configurations; 0 on success.

    Raises:
        PreprocessingError: some cases failed (``main`` reports it as one error line and exit status 1).
    """
    preprocess(
        dataset, plans_name, configurations, num_processes, tqdm_progress, shard,
        accept_poor_registration=accept_poor_registration,
    )  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gdr_preprocess", description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or name")
    parser.add_argument("-p", "--plans", default="gdrPlans", help="plans name (default gdrPlans)")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_preprocess_arguments(parser)
    return run_command(parser, _preprocess, logger, argv, errors=PREPROCESS_ERRORS)


def _preprocess(args: argparse.Namespace) -> int:
    return run_preprocess(
        args.dataset, args.plans, args.configurations, args.num_processes, shard_from_arguments(args),
        accept_poor_registration=args.accept_poor_registration,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
