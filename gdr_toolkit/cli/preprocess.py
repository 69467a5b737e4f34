"""``gdr_preprocess -d ID [-c CONFIGS] [-np N] [-p PLANS]``: store every training case as the plan says."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from tqdm import tqdm

from gdr_toolkit.cli.logging_setup import configure_logging
from gdr_toolkit.dataset.raw_layout import list_cases
from gdr_toolkit.paths import preprocessed_folder, raw_dataset_folder
from gdr_toolkit.planning.plans import load_plans, plans_path
from gdr_toolkit.preprocessing.preprocessor import PreprocessingError, preprocess_dataset

logger = logging.getLogger("gdr_preprocess")


def add_preprocess_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--configurations", nargs="+", default=None, help="default: all in the plans")
    parser.add_argument("-np", "--num-processes", type=int, default=2, help="worker processes (default 2)")
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
    *,
    accept_poor_registration: bool = False,
) -> int:
    """Preprocess each distinct data folder of the chosen configurations; 0 on success, 1 on failures."""
    raw = raw_dataset_folder(dataset)
    target = preprocessed_folder() / raw.name
    plans = load_plans(plans_path(target, plans_name))
    names = configurations or list(plans.configurations)
    cases = list_cases(raw, "Tr")
    done_identifiers: set[str] = set()
    for name in names:
        configuration = plans.configuration(name)
        if configuration.data_identifier in done_identifiers:
            logger.info("%s shares %s with a configuration already done", name, configuration.data_identifier)
            continue
        start = time.perf_counter()
        with tqdm(total=len(cases), desc=f"preprocessing {name}", unit="case", disable=None) as bar:
            try:
                summary = preprocess_dataset(
                    cases,
                    configuration,
                    target / configuration.data_identifier,
                    num_processes,
                    lambda _: bar.update(),
                    accept_poor_registration=accept_poor_registration,
                )
            except PreprocessingError as error:
                logger.error("%s: %s", name, error)
                return 1
        done_identifiers.add(configuration.data_identifier)
        logger.info(
            "%s: %d case(s) preprocessed, %d already complete, gamma %.4f, %.1f s",
            name,
            len(summary.processed),
            len(summary.skipped),
            summary.gamma,
            time.perf_counter() - start,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gdr_preprocess", description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or name")
    parser.add_argument("-p", "--plans", default="gdrPlans", help="plans name (default gdrPlans)")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_preprocess_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return run_preprocess(
            args.dataset,
            args.plans,
            args.configurations,
            args.num_processes,
            accept_poor_registration=args.accept_poor_registration,
        )
    except (OSError, ValueError, KeyError) as error:
        logger.error("%s", error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
