"""Fingerprint every training case of a raw dataset, in reused worker processes, and cache the result.

Elastix costs 10-20 s to load in a fresh process, so a pool of ``num_processes`` workers is created
once (``spawn`` context: no inherited threads or ITK state) and each worker handles many cases. A case
that fails does not stop the others; after all have run, :class:`FingerprintExtractionError` lists every
failed case with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from multiprocessing import get_context
from pathlib import Path

from gdr_toolkit.dataset.raw_layout import RawCase, list_cases, require_low_dose
from gdr_toolkit.file_io import read_json, write_json_atomic
from gdr_toolkit.fingerprint.case_fingerprint import CaseFingerprint, fingerprint_case
from gdr_toolkit.fingerprint.dataset_fingerprint import DatasetFingerprint
from gdr_toolkit.preprocessing.registration_cache import REGISTRATION_FOLDER
from gdr_toolkit.process_memory import keep_freed_memory

logger = logging.getLogger(__name__)

FINGERPRINT_FILE_NAME = "dataset_fingerprint.json"


class FingerprintExtractionError(RuntimeError):
    """One or more cases could not be fingerprinted.

    Attributes:
        failures: case id -> reason.
        completed: fingerprints of the cases that succeeded (sorted by case id).
        workers_died: a worker process died (e.g. killed for lack of memory).
    """

    def __init__(
        self,
        dataset_name: str,
        failures: dict[str, str],
        completed: tuple[CaseFingerprint, ...] = (),
        workers_died: bool = False,
    ) -> None:
        self.failures = dict(sorted(failures.items()))
        self.completed = completed
        self.workers_died = workers_died
        lines = [f"  {case_id}: {reason}" for case_id, reason in self.failures.items()]
        message = f"{dataset_name}: {len(failures)} case(s) could not be fingerprinted:\n" + "\n".join(lines)
        if workers_died:
            message += "\nA worker process died (often: out of memory). Run again with fewer processes (-np)."
        super().__init__(message)


def extract_fingerprint(
    dataset_folder: Path,
    num_processes: int = 2,
    progress: bool = False,
    registration_folder: Path | None = None,
) -> DatasetFingerprint:
    """Fingerprint the training cases (``imagesTr``) of a raw dataset.

    Args:
        dataset_folder: ``$gdr_raw/DatasetXXX_Name``.
        num_processes: worker processes, reused across cases; 1 runs in this process.
        progress: show a tqdm progress bar.
        registration_folder: where each case's registrations are stored for preprocessing to reuse
            (``registration_cache``); None stores nothing.

    Returns:
        The dataset fingerprint, cases sorted by id.

    Raises:
        FileNotFoundError: no training case in the folder.
        ValueError: ``num_processes`` < 1, or a pair dataset without low dose (:func:`require_low_dose`).
        FingerprintExtractionError: some cases failed (all others were processed first) or a worker died.
    """
    dataset_folder = Path(dataset_folder)
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}.")
    require_low_dose(dataset_folder)
    cases = list_cases(dataset_folder, "Tr")
    if not cases:
        raise FileNotFoundError(f"{dataset_folder / 'imagesTr'}: no training case found.")
    logger.info(
        "%s: fingerprinting %d case(s) with %d process(es).", dataset_folder.name, len(cases), num_processes
    )
    found: dict[str, CaseFingerprint] = {}
    failures: dict[str, str] = {}
    workers_died = False
    bar = _progress_bar(len(cases), progress)
    for case_id, outcome in _run(cases, num_processes, registration_folder):
        if isinstance(outcome, CaseFingerprint):
            found[case_id] = outcome
        else:
            failures[case_id] = f"{type(outcome).__name__}: {outcome}"
            workers_died = workers_died or isinstance(outcome, BrokenProcessPool)
            logger.warning("case %s failed (the reason is listed at the end)", case_id)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    if failures:
        completed = tuple(found[case_id] for case_id in sorted(found))
        raise FingerprintExtractionError(dataset_folder.name, failures, completed, workers_died)
    return DatasetFingerprint(dataset_folder.name, tuple(found[case.case_id] for case in cases))


def _run(
    cases: list[RawCase], num_processes: int, registration_folder: Path | None
) -> Iterator[tuple[str, CaseFingerprint | Exception]]:
    """Yield (case id, fingerprint or the exception it raised) as cases finish."""
    task = partial(fingerprint_case, registration_folder=registration_folder)
    if num_processes == 1:
        for case in cases:
            try:
                yield case.case_id, task(case)
            except Exception as error:  # noqa: BLE001 (a bad case is reported, the others continue)
                yield case.case_id, error
        return
    workers = min(num_processes, len(cases))
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=keep_freed_memory
    ) as pool:
        futures: dict[Future, str] = {pool.submit(task, case): case.case_id for case in cases}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as error:  # noqa: BLE001 (includes BrokenProcessPool)
                yield futures[future], error


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm  # noqa: PLC0415 (only needed with a progress bar)

    return tqdm(total=total, desc="fingerprinting", unit="case")


def load_or_extract_fingerprint(
    dataset_folder: Path,
    preprocessed_dataset_folder: Path,
    num_processes: int = 2,
    clean: bool = False,
    progress: bool = False,
) -> DatasetFingerprint:
    """Read ``preprocessed_dataset_folder/dataset_fingerprint.json`` or extract and write it.

    The cached file is used unless ``clean``, its schema version is outdated, or its case ids differ
    from the dataset's current training cases (cases added or removed); then the fingerprint is
    extracted again and written atomically, and each case's registrations are stored in
    ``preprocessed_dataset_folder/registrations`` for the preprocessor to reuse.

    Args:
        dataset_folder: ``$gdr_raw/DatasetXXX_Name``.
        preprocessed_dataset_folder: ``$gdr_preprocessed/DatasetXXX_Name`` (created when missing).
        num_processes: worker processes for an extraction.
        clean: ignore an existing file and extract again.
        progress: show a tqdm progress bar during an extraction.

    Returns:
        The dataset fingerprint.
    """
    path = Path(preprocessed_dataset_folder) / FINGERPRINT_FILE_NAME
    if not clean and path.is_file():
        cached = _read_cached(path, Path(dataset_folder))
        if cached is not None:
            logger.info("%s: using the cached fingerprint %s.", Path(dataset_folder).name, path)
            return cached
    registration_folder = Path(preprocessed_dataset_folder) / REGISTRATION_FOLDER
    fingerprint = extract_fingerprint(dataset_folder, num_processes, progress, registration_folder)
    write_json_atomic(fingerprint.to_json_dict(), path)
    logger.info("%s: wrote %s.", fingerprint.dataset_name, path)
    return fingerprint


def _read_cached(path: Path, dataset_folder: Path) -> DatasetFingerprint | None:
    """The cached fingerprint, or None (logged) when it is outdated or unreadable."""
    try:
        fingerprint = DatasetFingerprint.from_json_dict(read_json(path), str(path))
    except (ValueError, TypeError) as error:
        logger.warning("%s is outdated or unreadable (%s); extracting again.", path, error)
        return None
    current = tuple(case.case_id for case in list_cases(dataset_folder, "Tr"))
    if current != fingerprint.case_ids:
        logger.warning("%s lists other cases than %s/imagesTr; extracting again.", path, dataset_folder)
        return None
    return fingerprint
