"""``gdr_verify_dataset -d ID``: check a raw dataset and report every problem, each naming its file."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Literal

from tqdm import tqdm

from gdr_toolkit.cli.command import run_command
from gdr_toolkit.dataset.raw_layout import RawCase
from gdr_toolkit.dataset.verify import verify_dataset
from gdr_toolkit.paths import raw_dataset_folder

logger = logging.getLogger("gdr_verify_dataset")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_verify_dataset",
        description="Check every case of a raw dataset in $gdr_raw: channels, target, metadata, readable "
        "finite 3D images, lesion maps on the pre-contrast grid. Exit code 1 on any problem.",
    )
    parser.add_argument("-d", "--dataset", required=True, help="dataset id (1) or name (Dataset001_Phantom)")
    parser.add_argument("--skip-test-split", action="store_true", help="check imagesTr only")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _verify, logger, argv)


def _verify(args: argparse.Namespace) -> int:
    folder = raw_dataset_folder(args.dataset)
    splits: tuple[Literal["Tr", "Ts"], ...] = ("Tr",) if args.skip_test_split else ("Tr", "Ts")
    checked: list[str] = []

    with tqdm(desc=f"verifying {folder.name}", unit="case", disable=None) as bar:

        def case_done(case: RawCase) -> None:
            checked.append(case.case_id)
            bar.update()

        problems = verify_dataset(folder, splits, on_case_done=case_done)
    if problems:
        for problem in problems:
            logger.error("%s", problem)
        logger.error("%s: %d problem(s) in %d case(s) checked.", folder.name, len(problems), len(checked))
        return 1
    logger.info("%s: all %d case(s) passed.", folder.name, len(checked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
