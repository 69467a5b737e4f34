"""Preprocess a planned dataset: every distinct data folder of the chosen configurations (``gdr_preprocess``)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from gdr_toolkit.dataset.raw_layout import list_cases, require_low_dose
from gdr_toolkit.dataset.sharding import Shard
from gdr_toolkit.paths import preprocessed_folder, raw_dataset_folder
from gdr_toolkit.pipeline.progress import ProgressFactory, progress_bar
from gdr_toolkit.planning.plans import load_plans, plans_path
from gdr_toolkit.preprocessing.preprocessor import PreprocessingError, preprocess_dataset

logger = logging.getLogger(__name__)


def preprocess(
    dataset: str,
    plans_name: str,
    configurations: list[str] | None = None,
    num_processes: int = 2,
    progress: ProgressFactory | None = None,
    shard: Shard | None = None,
    *,
    accept_poor_registration: bool = False,
) -> None:
    """Preprocess each distinct data folder of the chosen configurations (default: all in the plans).

    ``shard`` (``-num_parts/-part_id``) preprocesses one part of the sorted case list; the part that
    completes the dataset writes the dataset-level files (``preprocess_dataset``). A case whose
    co-registration is below the quality thresholds is refused unless ``accept_poor_registration``.

    Raises:
        PreprocessingError: cases failed (named in the message); the others are stored.
    """
    raw = raw_dataset_folder(dataset)
    require_low_dose(raw)
    target = preprocessed_folder() / raw.name
    plans = load_plans(plans_path(target, plans_name))
    cases = list_cases(raw, "Tr")
    shard = shard or Shard()
    shard_size = len(shard.select(cases, lambda case: case.case_id))
    done_identifiers: set[str] = set()
    for name in configurations or list(plans.configurations):
        configuration = plans.configuration(name)
        if configuration.data_identifier in done_identifiers:
            logger.info("%s shares %s with a configuration already done", name, configuration.data_identifier)
            continue
        start = time.perf_counter()
        with progress_bar(progress, f"preprocessing {name}", shard_size) as bar, _naming(name):
            summary = preprocess_dataset(
                cases, configuration, target / configuration.data_identifier, num_processes,
                lambda _case: bar.update(), shard, accept_poor_registration=accept_poor_registration,
            )  # fmt: skip
        done_identifiers.add(configuration.data_identifier)
        logger.info(
            "%s (%s): %d case(s) preprocessed, %d already complete, gamma %.4f, %.1f s",
            name, shard.describe(), len(summary.processed), len(summary.skipped), summary.gamma,
            time.perf_counter() - start,
        )  # fmt: skip


@contextlib.contextmanager
def _naming(configuration: str) -> Iterator[None]:
    try:
        yield
    except PreprocessingError:
        logger.error("preprocessing %s failed", configuration)
        raise
