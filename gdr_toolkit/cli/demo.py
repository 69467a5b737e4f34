"""``gdr_demo``: the main job on the embedded default, a simulated phantom dataset.

Today it simulates a small dataset, verifies it and runs the per-case preprocessing on one training
case, comparing what preprocessing recovers with the simulator's ground truth. Later stages
(plan, train, predict, evaluate) join this command as they are built.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from gdr_toolkit.cli.logging_setup import configure_logging
from gdr_toolkit.dataset.image_io import read_image
from gdr_toolkit.dataset.metadata import load_case_metadata
from gdr_toolkit.dataset.raw_layout import list_cases
from gdr_toolkit.dataset.verify import verify_dataset
from gdr_toolkit.paths import PREPROCESSED_VARIABLE, RAW_VARIABLE, RESULTS_VARIABLE, dataset_folder_name
from gdr_toolkit.preprocessing.case_preprocessing import preprocess_case
from gdr_toolkit.simulation.artifacts import rigid_motion_from_record
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.simulation.settings import SimulationSettings

logger = logging.getLogger("gdr_demo")
DEMO_DATASET_ID = 1
DEMO_DATASET_NAME = "Phantom"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_demo",
        description="Run the toolkit on a simulated phantom dataset written under OUTPUT "
        "(gdr_raw, gdr_preprocessed, gdr_results are set to OUTPUT's subfolders for this run).",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("gdr_demo_output"), help="default ./gdr_demo_output"
    )
    parser.add_argument("-n", "--num-training", type=int, default=12, help="training cases (default 12)")
    parser.add_argument("--test", type=int, default=4, help="test cases (default 4)")
    parser.add_argument("--spacing", type=float, default=2.0, help="voxel spacing in mm (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _set_folders(output: Path) -> Path:
    for variable in (RAW_VARIABLE, PREPROCESSED_VARIABLE, RESULTS_VARIABLE):
        os.environ[variable] = str((output / variable).resolve())
        Path(os.environ[variable]).mkdir(parents=True, exist_ok=True)
    return Path(os.environ[RAW_VARIABLE]) / dataset_folder_name(DEMO_DATASET_ID, DEMO_DATASET_NAME)


def _report_preprocessing(dataset: Path) -> None:
    """Preprocess the first training case and compare with the simulator's recorded truth."""
    case = list_cases(dataset, "Tr")[0]
    metadata = load_case_metadata(case.metadata)
    result = preprocess_case(
        read_image(case.pre_contrast), read_image(case.low_dose), read_image(case.standard_dose), metadata
    )
    truth = rigid_motion_from_record(metadata.simulation["motion"]["low_dose"])
    recovered = result.registrations["low_dose"].to_sitk_transform()
    pre_contrast = read_image(case.pre_contrast)
    corners = [
        pre_contrast.TransformContinuousIndexToPhysicalPoint([s * f for s in pre_contrast.GetSize()])
        for f in (0.3, 0.5, 0.7)
    ]
    error_mm = max(
        np.linalg.norm(np.subtract(truth.TransformPoint(p), recovered.TransformPoint(p))) for p in corners
    )
    properties = result.properties
    logger.info(
        "case %s: brain %.0f ml, sigma_LD %.4f, radiometric scale LD %.3f, LD motion recovered to %.2f mm, "
        "steps %s s",
        case.case_id,
        properties.brain_volume_ml,
        properties.noise_sigma_ld,
        properties.radiometric_scales["low_dose"],
        error_mm,
        properties.step_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    start = time.perf_counter()
    dataset = _set_folders(args.output)
    logger.info(
        "1/3 simulating %d + %d cases at %.1f mm into %s", args.num_training, args.test, args.spacing, dataset
    )
    settings = SimulationSettings(spacing_mm=args.spacing)
    write_simulated_dataset(dataset, settings, args.num_training, args.test, args.seed, progress=True)
    logger.info("2/3 verifying %s", dataset.name)
    problems = verify_dataset(dataset)
    for problem in problems:
        logger.error("%s", problem)
    if problems:
        return 1
    logger.info("3/3 preprocessing one training case (registration, normalisation, eq. 1 and 2)")
    _report_preprocessing(dataset)
    logger.info("demo finished in %.0f s; data in %s", time.perf_counter() - start, args.output.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
