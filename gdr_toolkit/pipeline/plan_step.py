"""Plan a dataset from its fingerprint, and the whole fingerprint -> plans -> preprocessed data step."""

from __future__ import annotations

import logging

from gdr_toolkit.file_io import read_json
from gdr_toolkit.fingerprint import DatasetFingerprint, load_or_extract_fingerprint
from gdr_toolkit.fingerprint.extraction import FINGERPRINT_FILE_NAME
from gdr_toolkit.paths import preprocessed_folder, raw_dataset_folder
from gdr_toolkit.pipeline.preprocess_step import preprocess
from gdr_toolkit.pipeline.progress import ProgressFactory
from gdr_toolkit.planning.plan_experiment import PlannerRequest, plan_experiment

logger = logging.getLogger(__name__)


def plan(dataset: str, fingerprint: DatasetFingerprint | None, request: PlannerRequest) -> str:
    """Plan and save; returns the plans name. Reads the fingerprint file when none is given."""
    raw = raw_dataset_folder(dataset)
    target = preprocessed_folder() / raw.name
    if fingerprint is None:
        path = target / FINGERPRINT_FILE_NAME
        fingerprint = DatasetFingerprint.from_json_dict(read_json(path), source=str(path))
    plans, path = plan_experiment(fingerprint, target, raw, request)
    for name, configuration in plans.configurations.items():
        logger.info(
            "%s: %g mm, patch %s, batch %d, widths %s, conditions %s, noise normalisation %s",
            name, configuration.spacing_mm, list(configuration.patch_size), configuration.batch_size,
            configuration.network["widths"], list(configuration.condition_keys),
            configuration.noise_normalisation,
        )  # fmt: skip
    logger.info("wrote %s", path)
    return plans.plans_name


def plan_and_preprocess(
    dataset: str,
    request: PlannerRequest,
    num_processes: int = 2,
    configurations: list[str] | None = None,
    progress: ProgressFactory | None = None,
) -> str:
    """Fingerprint (reused when present), plan and preprocess; returns the plans name."""
    raw = raw_dataset_folder(dataset)
    fingerprint = load_or_extract_fingerprint(
        raw, preprocessed_folder() / raw.name, num_processes, False, progress=progress is not None
    )
    plans_name = plan(raw.name, fingerprint, request)
    preprocess(raw.name, plans_name, configurations, num_processes, progress)
    return plans_name
