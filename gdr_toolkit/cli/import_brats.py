"""``gdr_import_brats -i FOLDER -d ID [--name NAME]``: BraTS 2020/2021 or 2023+ folders as a raw pair
dataset (documentation/public_datasets.md)."""

from __future__ import annotations

import argparse
import logging
import sys

from tqdm import tqdm

from gdr_toolkit.cli.command import run_command
from gdr_toolkit.dataset.public_layouts import import_brats
from gdr_toolkit.paths import dataset_folder_name, raw_folder

logger = logging.getLogger("gdr_import_brats")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_import_brats",
        description="Import BraTS cases (CASE_t1 + CASE_t1ce, or CASE-t1n + CASE-t1c; segmentations as "
        "enhancing lesions) into $gdr_raw/DatasetXXX_NAME as pre-contrast + standard-dose pairs.",
    )
    parser.add_argument("-i", "--input", required=True, help="folder holding the BraTS case folders")
    parser.add_argument("-d", "--dataset-id", type=int, required=True, help="id of the new dataset, 1..999")
    parser.add_argument("--name", default="BraTS", help="dataset name (default BraTS)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _import, logger, argv)


def _import(args: argparse.Namespace) -> int:
    root = raw_folder()
    folder = root / dataset_folder_name(args.dataset_id, args.name)
    others = sorted(p.name for p in root.glob(f"Dataset{args.dataset_id:03d}_*") if p.name != folder.name)
    if others:
        raise ValueError(f"Dataset id {args.dataset_id} is already used by {', '.join(others)} in {root}.")
    with tqdm(desc=f"importing {args.input}", unit="case", disable=None) as bar:
        cases = import_brats(args.input, folder, on_case_done=lambda _: bar.update())
    logger.info(
        "%d case(s) imported into %s; next: gdr_synthesize_low_dose -d %s", len(cases), folder, folder.name
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
