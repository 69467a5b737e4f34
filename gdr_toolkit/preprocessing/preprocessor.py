"""The dataset preprocessor: every training case through :func:`preprocess_case`, resampled to the
planned spacing, cropped to the head and stored (``case_storage``), in parallel worker processes.

Reruns skip complete cases; a failing case is reported by name while the others finish; worker death
(e.g. out of memory) is reported as such. gamma's per-case statistics are reduced into
``dataset_statistics.json`` beside the cases.
"""

from __future__ import annotations

import logging
import multiprocessing
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gdr_toolkit.dataset.case_identity import check_case_identity
from gdr_toolkit.dataset.image_io import read_image
from gdr_toolkit.dataset.metadata import load_case_metadata
from gdr_toolkit.dataset.raw_layout import RawCase
from gdr_toolkit.dataset.sharding import Shard
from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.preprocessing import case_storage
from gdr_toolkit.preprocessing.case_preprocessing import (
    CasePreprocessingOptions,
    grid_geometry,
    preprocess_case,
)
from gdr_toolkit.preprocessing.contrast_target import reduce_gamma
from gdr_toolkit.preprocessing.coregistration import RegistrationQualityOptions
from gdr_toolkit.preprocessing.network_noise import on_network_grid_noise
from gdr_toolkit.preprocessing.noise import LocalStatisticsOptions, NoiseOptions
from gdr_toolkit.preprocessing.registration_cache import cached_registration_arguments
from gdr_toolkit.preprocessing.resampling import crop, to_network_grid
from gdr_toolkit.process_memory import keep_freed_memory

logger = logging.getLogger(__name__)

STORED_CHANNELS = ("z_ld", "x_ld", "s_ld", "y_sd", "p_sd", "brain_mask", "x_pc", "x_sd", "valid_mask")
NEAREST_CHANNELS = frozenset({"brain_mask", "valid_mask"})
ENHANCING_PROBABILITY = 0.5
MAX_ENHANCING_LOCATIONS = 10_000
STATISTICS_FILE = "dataset_statistics.json"


class PreprocessingError(RuntimeError):
    """Some cases failed; ``failures`` maps case id to the reason."""

    def __init__(self, failures: dict[str, str], hint: str = "") -> None:
        self.failures = failures
        lines = "\n".join(f"  {case}: {reason}" for case, reason in sorted(failures.items()))
        super().__init__(f"{len(failures)} case(s) failed:\n{lines}{hint}")


class PreprocessingPlan(Protocol):
    """The plan fields preprocessing reads; ``planning.plans.ConfigurationPlan`` provides them.

    A structural type (any object with these read-only attributes), so preprocessing, a lower layer, does
    not import planning (documentation/development.md, "Layering rules").
    """

    @property
    def spacing_mm(self) -> float:
        """Isotropic voxel size of the preprocessed data, mm."""
        ...

    @property
    def noise_normalisation(self) -> bool:
        """Whether eq. 1 (division by the local noise level) is applied."""
        ...

    @property
    def local_noise_kernel_mm(self) -> float:
        """Std of the Gaussian of the local noise statistics, mm."""
        ...


def options_from_plan(configuration: PreprocessingPlan) -> CasePreprocessingOptions:
    """The per-case options a configuration asks for (noise normalisation, local kernel width)."""
    local = LocalStatisticsOptions(kernel_std_mm=configuration.local_noise_kernel_mm)
    return CasePreprocessingOptions(
        noise=NoiseOptions(normalise=configuration.noise_normalisation, local=local)
    )


def enhancing_locations(probability: np.ndarray, case_id: str) -> list[list[int]]:
    """Up to 10,000 (z, y, x) voxels with p_SD > 0.5, subsampled reproducibly per case."""
    locations = np.argwhere(probability > ENHANCING_PROBABILITY)
    if len(locations) > MAX_ENHANCING_LOCATIONS:
        rng = np.random.default_rng(zlib.crc32(case_id.encode()))
        locations = locations[np.sort(rng.choice(len(locations), MAX_ENHANCING_LOCATIONS, replace=False))]
    return locations.astype(int).tolist()


def require_accepted_registration(case_id: str, registration_quality: dict[str, dict[str, Any]]) -> None:
    """Raise ValueError naming the case, the scan and its measures when a co-registration was not accepted.

    Args:
        case_id: the case, for the message.
        registration_quality: ``CaseProperties.registration_quality`` (per CE scan ``fov_overlap``,
            ``similarity``, ``accepted``).
    """
    thresholds = RegistrationQualityOptions()
    for scan, quality in registration_quality.items():
        if not quality["accepted"]:
            raise ValueError(
                f"{case_id}: the {scan} registration to pre_contrast is not accepted: brain inside its field "
                f"of view {quality['fov_overlap']:.3f} (threshold {thresholds.min_fov_overlap}), similarity "
                f"{quality['similarity']:.3f} (threshold {thresholds.min_similarity}); check that the scans "
                "belong together, or rerun with --accept_poor_registration to keep the case."
            )


def preprocess_and_store_case(
    case: RawCase,
    configuration: PreprocessingPlan,
    output_folder: Path,
    accept_poor_registration: bool = False,
) -> dict[str, Any]:
    """Preprocess one training case and write ``CASE.b2nd`` + ``CASE.json``; returns the properties.

    Registrations the fingerprint stored in ``output_folder.parent/registrations`` (registration_cache)
    are reused when still valid for the case's files, so elastix runs once per case.

    Raises:
        ValueError: a co-registration below the quality thresholds, unless ``accept_poor_registration``
            (nothing is written for the case); DICOM series of the case from different patients or
            studies (``dataset/case_identity.py``).
    """
    check_case_identity(
        case.case_id, {"PC": case.pre_contrast, "LD": case.low_dose, "SD": case.standard_dose}
    )
    metadata = load_case_metadata(case.metadata) if case.metadata.is_file() else None
    pre_contrast = read_image(case.pre_contrast)
    options = options_from_plan(configuration)
    stored = cached_registration_arguments(
        output_folder.parent, case, options.brain_mask, options.coregistration
    )
    result = preprocess_case(
        pre_contrast, read_image(case.low_dose), read_image(case.standard_dose), metadata, options, **stored
    )
    if not accept_poor_registration:
        require_accepted_registration(case.case_id, result.properties.registration_quality)
    result = on_network_grid_noise(result, pre_contrast, configuration.spacing_mm, options.noise.estimator)
    arrays, grid, box = to_network_grid(
        result.arrays, pre_contrast, configuration.spacing_mm, STORED_CHANNELS, NEAREST_CHANNELS
    )
    stack = crop(np.stack([arrays[name].astype(np.float32) for name in STORED_CHANNELS]), box)
    properties = {
        "case_id": case.case_id,
        "channels": list(STORED_CHANNELS),
        "shape_zyx": list(stack.shape[1:]),
        "preprocessed_grid": grid_geometry(grid),
        "crop_box_zyx": [list(bounds) for bounds in box],
        "spacing_mm": configuration.spacing_mm,
        "enhancing_locations_zyx": enhancing_locations(stack[STORED_CHANNELS.index("p_sd")], case.case_id),
        **result.properties.to_json_dict(),
    }
    case_storage.write_case(output_folder, case.case_id, stack, properties)
    return properties


def _process(arguments: tuple[RawCase, PreprocessingPlan, Path, bool]) -> tuple[str, float | None]:
    case, configuration, folder, accept_poor_registration = arguments
    properties = preprocess_and_store_case(case, configuration, folder, accept_poor_registration)
    return case.case_id, properties["gamma_statistic"]


@dataclass(frozen=True)
class DatasetPreprocessingSummary:
    processed: tuple[str, ...]
    skipped: tuple[str, ...]
    gamma: float


def run_case_tasks(
    worker: Callable[[Any], Any],
    tasks: Sequence[tuple[Any, ...]],
    num_processes: int,
    on_case_done: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Run ``worker(task)`` for every task (first element: the case) in reused worker processes.

    Returns:
        The failures: case id -> "ExceptionType: message"; the other cases completed.

    Raises:
        PreprocessingError: a worker process died (e.g. killed for memory), with a hint about -np.
    """
    failures: dict[str, str] = {}
    if num_processes <= 1:
        for task in tasks:
            try:
                worker(task)
            except Exception as error:  # noqa: BLE001 (report every failure by case, keep going)
                failures[task[0].case_id] = f"{type(error).__name__}: {error}"
            if on_case_done:
                on_case_done(task[0].case_id)
        return failures
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(num_processes, context, initializer=keep_freed_memory) as pool:
        futures = {pool.submit(worker, task): task[0].case_id for task in tasks}
        for future in as_completed(futures):
            case_id = futures[future]
            try:
                future.result()
            except BrokenProcessPool as error:
                raise PreprocessingError(
                    {case_id: f"a worker process died ({error})"},
                    hint="\nA worker was killed, most likely out of memory: rerun with fewer processes (-np); "
                    "finished cases are kept.",
                ) from error
            except Exception as error:  # noqa: BLE001 (report every failure by case, keep going)
                failures[case_id] = f"{type(error).__name__}: {error}"
            if on_case_done:
                on_case_done(case_id)
    return failures


def preprocess_dataset(
    cases: list[RawCase],
    configuration: PreprocessingPlan,
    output_folder: Path,
    num_processes: int = 1,
    on_case_done: Callable[[str], None] | None = None,
    shard: Shard | None = None,
    *,
    accept_poor_registration: bool = False,
) -> DatasetPreprocessingSummary:
    """Preprocess the training cases into ``output_folder`` (skipping complete ones) and write gamma.

    With a ``shard`` only that part of ``cases`` is preprocessed; ``dataset_statistics.json`` (gamma over
    all ``cases``) is written once every case is complete (by the last part to finish, or a rerun).
    A case whose co-registration is below the quality thresholds is refused (reported by name with the
    other failures) unless ``accept_poor_registration``.

    Raises:
        PreprocessingError: one or more cases failed (the others are stored) or a worker died.
    """
    output_folder = Path(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    if removed := case_storage.remove_stale_temporaries(output_folder):
        logger.info("removed %d temporary file(s) left by an interrupted run", removed)
    shard = shard or Shard()
    mine = shard.select(cases, lambda case: case.case_id)
    todo = [case for case in mine if not case_storage.is_case_complete(output_folder, case.case_id)]
    skipped = tuple(case.case_id for case in mine if case not in todo)
    logger.info(
        "%s: %d case(s) to preprocess, %d already complete", output_folder.name, len(todo), len(skipped)
    )
    tasks = [(case, configuration, output_folder, accept_poor_registration) for case in todo]
    failures = run_case_tasks(_process, tasks, num_processes, on_case_done)
    if failures:
        raise PreprocessingError(failures)
    pending = [
        case.case_id for case in cases if not case_storage.is_case_complete(output_folder, case.case_id)
    ]
    if pending:
        logger.info("%s done; %d case(s) of other parts pending: %s is written once all are complete",
                    shard.describe(), len(pending), STATISTICS_FILE)  # fmt: skip
        return DatasetPreprocessingSummary(tuple(case.case_id for case in todo), skipped, float("nan"))
    statistics = {
        case.case_id: case_storage.load_case_properties(output_folder, case.case_id)["gamma_statistic"]
        for case in cases
    }
    gamma = reduce_gamma(list(statistics.values()))
    write_json_atomic(
        {"gamma": gamma, "gamma_statistic_per_case": statistics}, output_folder / STATISTICS_FILE
    )
    return DatasetPreprocessingSummary(tuple(case.case_id for case in todo), skipped, gamma)
