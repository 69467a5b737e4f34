"""``gdr_plan_experiment -d ID``: plans (spacing, patch, batch, network, conditions) from the fingerprint."""

from __future__ import annotations

import argparse
import logging
import sys

from gdr_toolkit.cli.command import run_command
from gdr_toolkit.fingerprint import DatasetFingerprint
from gdr_toolkit.pipeline.plan_step import plan
from gdr_toolkit.planning.plan_experiment import PlannerRequest

logger = logging.getLogger("gdr_plan_experiment")
NOISE_CHOICES = {"auto": None, "on": True, "off": False}


def add_planner_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-pl", "--planner", default="ExperimentPlanner", help="planner class name")
    parser.add_argument(
        "-gpu_memory_target", type=float, default=None, help="GiB for 3d_fullres (default 16)"
    )
    parser.add_argument("-overwrite_target_spacing", type=float, default=None, help="isotropic spacing, mm")
    parser.add_argument("-overwrite_plans_name", default=None, help="plans name (file <NAME>.json)")
    parser.add_argument("--noise_normalisation", choices=NOISE_CHOICES, default="auto", help="eq. 1 on/off")


def planner_request(args: argparse.Namespace) -> PlannerRequest:
    return PlannerRequest(
        planner=args.planner,
        gpu_memory_target_gb=args.gpu_memory_target,
        target_spacing_mm=args.overwrite_target_spacing,
        plans_name=args.overwrite_plans_name,
        noise_normalisation=NOISE_CHOICES[args.noise_normalisation],
    )


def run_planning(dataset: str, fingerprint: DatasetFingerprint | None, request: PlannerRequest) -> str:
    """Plan and save; returns the plans name (:func:`gdr_toolkit.pipeline.plan`)."""
    return plan(dataset, fingerprint, request)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gdr_plan_experiment", description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or name")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_planner_arguments(parser)
    return run_command(parser, _plan, logger, argv)


def _plan(args: argparse.Namespace) -> int:
    run_planning(args.dataset, None, planner_request(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
