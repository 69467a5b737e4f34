"""``gdr_extract_fingerprint -d ID``: fingerprint a raw dataset into ``$gdr_preprocessed/<name>/``."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from gdr_toolkit.cli.command import USER_ERRORS, run_command
from gdr_toolkit.fingerprint import (
    DatasetFingerprint,
    FingerprintExtractionError,
    load_or_extract_fingerprint,
)
from gdr_toolkit.fingerprint.extraction import FINGERPRINT_FILE_NAME
from gdr_toolkit.paths import preprocessed_folder, raw_dataset_folder

logger = logging.getLogger("gdr_extract_fingerprint")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_extract_fingerprint",
        description="Measure the training cases of a raw dataset in $gdr_raw (spacing, shape, intensities "
        "in the brain, noise sigma_LD, brain and head size, metadata spread) and write "
        f"$gdr_preprocessed/DatasetXXX_Name/{FINGERPRINT_FILE_NAME}. An existing file is reused unless "
        "--clean.",
    )
    parser.add_argument("-d", "--dataset", required=True, help="dataset id (1) or name (Dataset001_Phantom)")
    parser.add_argument("-np", "--num-processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--clean", action="store_true", help="extract again even if the file exists")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(
        build_parser(), _extract, logger, argv, errors=(*USER_ERRORS, FingerprintExtractionError)
    )


def _extract(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    raw = raw_dataset_folder(args.dataset)
    target = preprocessed_folder() / raw.name
    fingerprint = load_or_extract_fingerprint(
        raw, target, args.num_processes, clean=args.clean, progress=True
    )
    _log_summary(fingerprint, time.perf_counter() - start)
    logger.info("wrote %s", target / FINGERPRINT_FILE_NAME)
    return 0


def _log_summary(fingerprint: DatasetFingerprint, seconds: float) -> None:
    sigma = fingerprint.noise_sigma_ld_range
    varying = [key for key, value in fingerprint.metadata_summary().items() if value.varies]
    missing = [key for key, value in fingerprint.metadata_summary().items() if not value.present_in_all_cases]
    logger.info(
        "%s: %d case(s), median spacing %s mm, median head box %s mm, CE/PC spacing ratio %.2f",
        fingerprint.dataset_name,
        len(fingerprint.cases),
        " x ".join(f"{v:.3g}" for v in fingerprint.median_spacing_mm),
        " x ".join(f"{v:.0f}" for v in fingerprint.median_head_box_mm),
        fingerprint.median_ce_to_pc_spacing_ratio,
    )
    logger.info(
        "metadata that varies: %s; missing in some case: %s; sigma_LD %.4f .. %.4f (median %.4f); %.1f s",
        ", ".join(varying) or "none",
        ", ".join(missing) or "none",
        sigma["min"],
        sigma["max"],
        sigma["median"],
        seconds,
    )


if __name__ == "__main__":
    sys.exit(main())
