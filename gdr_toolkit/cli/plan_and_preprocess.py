"""``gdr_plan_and_preprocess -d ID``: fingerprint -> plans -> preprocessed data, in one command.

With ``-num_parts N -part_id K`` (cluster array jobs) the fingerprint and plans must exist (run
``gdr_plan_and_preprocess -d ID --no_pp`` once first); each part then preprocesses its share of the cases.
"""

from __future__ import annotations

import argparse
import logging
import sys

from gdr_toolkit.cli.command import run_command
from gdr_toolkit.cli.plan_experiment import add_planner_arguments, planner_request, run_planning
from gdr_toolkit.cli.preprocess import PREPROCESS_ERRORS, add_preprocess_arguments, run_preprocess
from gdr_toolkit.cli.sharding_arguments import shard_from_arguments
from gdr_toolkit.dataset.sharding import Shard
from gdr_toolkit.dataset.verify import verify_dataset
from gdr_toolkit.fingerprint import FingerprintExtractionError, load_or_extract_fingerprint
from gdr_toolkit.paths import preprocessed_folder, raw_dataset_folder
from gdr_toolkit.planning.plans import plans_path

logger = logging.getLogger("gdr_plan_and_preprocess")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gdr_plan_and_preprocess", description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or name")
    parser.add_argument(
        "--verify_dataset_integrity", action="store_true", help="run gdr_verify_dataset first"
    )
    parser.add_argument("--clean", action="store_true", help="extract the fingerprint again")
    parser.add_argument("--no_pp", action="store_true", help="stop after planning")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_planner_arguments(parser)
    add_preprocess_arguments(parser)
    return parser


def _preprocess_part(dataset: str, args: argparse.Namespace, shard: Shard) -> int:
    """One part of the preprocessing with the existing plans (planning is dataset-level: done once)."""
    plans_name = args.overwrite_plans_name or "gdrPlans"
    plans_file = plans_path(preprocessed_folder() / dataset, plans_name)
    if not plans_file.is_file():
        raise FileNotFoundError(
            f"{plans_file} does not exist; with -num_parts, run `gdr_plan_and_preprocess -d {args.dataset} "
            "--no_pp` once first (fingerprint and plans are dataset-level), then the parts"
        )
    return run_preprocess(
        dataset,
        plans_name,
        args.configurations,
        args.num_processes,
        shard,
        accept_poor_registration=args.accept_poor_registration,
    )


def main(argv: list[str] | None = None) -> int:
    errors = (*PREPROCESS_ERRORS, FingerprintExtractionError)
    return run_command(build_parser(), _plan_and_preprocess, logger, argv, errors=errors)


def _plan_and_preprocess(args: argparse.Namespace) -> int:
    raw = raw_dataset_folder(args.dataset)
    if args.verify_dataset_integrity and (problems := verify_dataset(raw)):
        for problem in problems:
            logger.error("%s", problem)
        return 1
    shard = shard_from_arguments(args)
    if not shard.is_whole:
        return _preprocess_part(raw.name, args, shard)
    fingerprint = load_or_extract_fingerprint(
        raw, preprocessed_folder() / raw.name, args.num_processes, args.clean, progress=True
    )
    plans_name = run_planning(raw.name, fingerprint, planner_request(args))
    if args.no_pp:
        return 0
    return run_preprocess(
        raw.name,
        plans_name,
        args.configurations,
        args.num_processes,
        accept_poor_registration=args.accept_poor_registration,
    )


if __name__ == "__main__":
    sys.exit(main())
