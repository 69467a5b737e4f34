"""Predicting a folder of cases: skipping finished cases, parallel preprocessing, failures by case.

The cases and their metadata are found by ``prediction_cases.py``. A DICOM series is validated when read
(``dataset/dicom_series.py``) and PC and LD series are compared by patient, study and frame of reference
(``dataset/case_identity.py``); a case breaking a rule fails with one line naming the file or positions and
the rule, and the other cases go on. Without metadata a case can only be predicted by a model whose
condition keys are limited to ``noise_sigma_ld``.

Parallelism: ``preprocessing_processes`` > 1 preprocesses upcoming cases in worker processes while the
network runs in this one; otherwise ``prefetch_cases`` (default 1) preprocess in a background thread of
this process meanwhile; ``export_threads`` writers save finished cases in the background.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from gdr_toolkit.dataset.case_identity import CaseIdentityError
from gdr_toolkit.dataset.dicom_headers import DicomSeriesError
from gdr_toolkit.dataset.dicom_metadata import HeaderMetadataError
from gdr_toolkit.dataset.image_io import read_image
from gdr_toolkit.dataset.metadata import CaseMetadata
from gdr_toolkit.inference.export import ExportOptions, is_case_complete, series_sources, write_prediction
from gdr_toolkit.inference.model_fingerprint import model_provenance
from gdr_toolkit.inference.prediction_cases import PredictionCase
from gdr_toolkit.inference.predictor import CasePrediction, Predictor
from gdr_toolkit.inference.prefetch import prefetched
from gdr_toolkit.inference.run_summary import RUN_SUMMARY_FILE, DistributionLedger, write_run_summary
from gdr_toolkit.preprocessing.case_preprocessing import (
    CasePreprocessingOptions,
    PreprocessedCase,
    preprocess_case,
)
from gdr_toolkit.process_memory import keep_freed_memory

logger = logging.getLogger(__name__)


def _case_metadata(case: PredictionCase, predictor: Predictor) -> CaseMetadata | None:
    """:meth:`PredictionCase.load_metadata`; incomplete DICOM headers are an error only for a model that
    needs metadata (the message then names both the missing attributes and the ways to give metadata)."""
    try:
        return case.load_metadata()
    except HeaderMetadataError as error:
        try:
            predictor.check_metadata(None, case.case_id)
        except ValueError as needed:
            raise ValueError(f"{needed} No metadata in the headers either: {error}.") from error
        logger.info("case %s: no metadata (%s); the model needs none", case.case_id, error)
        return None


def default_preprocessing_processes(device_type: str, cpu_count: int | None = None) -> int:
    """``-npp`` when not given: 2 where the network runs on an accelerator and >= 4 CPU cores are free
    to preprocess the next cases meanwhile, else 1 (inline: on a CPU the network already uses every
    core; documentation/inference.md gives the measurement)."""
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return 2 if device_type in ("cuda", "mps") and cores >= 4 else 1


@dataclass(frozen=True)
class RunOptions:
    """How a folder is predicted.

    Attributes:
        export: which files to write.
        continue_prediction: skip cases whose files all exist.
        preprocessing_processes: worker processes that preprocess ahead of the network (<= 1: inline;
            None: :func:`default_preprocessing_processes` for the predictor's device).
        export_threads: background threads that write outputs (<= 1: inline; default 2: a case's files are
            written while the next case is predicted).
        allow_mismatched_patient: predict a case whose PC and LD series differ in patient, study or frame
            of reference (logged); by default such a case is refused.
        strict: refuse (do not write, report as failed) a case outside the model's training ranges
            (``distribution_check.py``).
        summary_file: name of the run's record in the output folder (``run_summary.py``).
        prefetch_cases: without preprocessing processes, cases read and preprocessed ahead in a
            background thread while the network runs (default 1; 0: one case after the other). With
            ``export_threads`` 2, a folder of 1 mm cases took 0.87 of the sum of its cases predicted
            alone on 2 idle cores (documentation/benchmarks.md, "Prediction of a folder").
    """

    export: ExportOptions = field(default_factory=ExportOptions)
    continue_prediction: bool = False
    preprocessing_processes: int | None = None
    export_threads: int = 2
    allow_mismatched_patient: bool = False
    strict: bool = False
    summary_file: str = RUN_SUMMARY_FILE
    prefetch_cases: int = 1


@dataclass(frozen=True)
class PredictionSummary:
    """Outcome of a run: written and skipped case ids, failures (case id -> reason), and the data-check
    warnings of written cases (case id -> messages; ``case_quality.py``) with the flagged case ids, the
    out-of-distribution findings (case id -> JSON records, ``distribution_check.py``) and the case ids
    that ``strict`` refused (also listed in ``failures``)."""

    written: tuple[str, ...]
    skipped: tuple[str, ...]
    failures: dict[str, str]
    warnings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    flagged: tuple[str, ...] = ()
    out_of_distribution: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    refused: tuple[str, ...] = ()


def _preprocess_files(task: tuple[PredictionCase, CasePreprocessingOptions]) -> PreprocessedCase:
    """Worker: preprocess one case from its files (registration objects dropped: not picklable)."""
    case, options = task
    try:
        metadata = case.load_metadata()
    except HeaderMetadataError:
        metadata = None  # the main process decides whether the model needs it (_case_metadata)
    result = preprocess_case(
        read_image(case.pre_contrast), read_image(case.low_dose), None, metadata, options
    )
    return PreprocessedCase(result.arrays, result.properties, {})


@dataclass(frozen=True)
class _ReadyCase:
    """A case read and preprocessed (by the prefetching thread), waiting for the network."""

    pre_contrast: sitk.Image
    preprocessed: PreprocessedCase
    seconds: float


def _read_and_preprocess(predictor: Predictor, allow_mismatch: bool, case: PredictionCase) -> _ReadyCase:
    case.check_files()
    case.check_identity(allow_mismatch)
    metadata = _case_metadata(case, predictor)
    pre_contrast, low_dose = read_image(case.pre_contrast), read_image(case.low_dose)
    predictor.check_metadata(metadata, case.case_id)
    start = time.perf_counter()
    preprocessed = predictor.preprocess(pre_contrast, low_dose, metadata)
    return _ReadyCase(pre_contrast, preprocessed, time.perf_counter() - start)


def _predict_inline(
    predictor: Predictor, cases: list[PredictionCase], prefetch: int, allow_mismatch: bool
) -> Iterator[tuple[PredictionCase, CasePrediction | Exception]]:
    """Preprocess ``prefetch`` cases ahead in a background thread (0: none); the network runs here."""
    for case, ready in prefetched(cases, partial(_read_and_preprocess, predictor, allow_mismatch), prefetch):
        try:
            if isinstance(ready, Exception):
                raise ready
            yield (
                case,
                predictor.predict_preprocessed(
                    ready.preprocessed, ready.pre_contrast, case.case_id, ready.seconds
                ),
            )
        except Exception as error:  # noqa: BLE001 (a broken case is reported; the others go on)
            yield case, error


def _predict_pipelined(
    predictor: Predictor, cases: list[PredictionCase], processes: int, allow_mismatch: bool
) -> Iterator[tuple[PredictionCase, CasePrediction | Exception]]:
    """Preprocess up to ``processes`` cases ahead in worker processes; the network runs here."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, context, initializer=keep_freed_memory) as pool:
        pending: list[tuple[PredictionCase, Future[PreprocessedCase]]] = []
        queue = list(cases)
        while queue or pending:
            while queue and len(pending) < processes + 1:
                case = queue.pop(0)
                pending.append(
                    (case, pool.submit(_preprocess_files, (case, predictor.preprocessing_options)))
                )
            case, future = pending.pop(0)
            try:
                case.check_files()
                case.check_identity(allow_mismatch)
                predictor.check_metadata(_case_metadata(case, predictor), case.case_id)
                preprocessed = future.result()
                yield (
                    case,
                    predictor.predict_preprocessed(preprocessed, read_image(case.pre_contrast), case.case_id),
                )
            except Exception as error:  # noqa: BLE001 (a broken case is reported; the others go on)
                yield case, error


def run_prediction(
    cases: list[PredictionCase],
    predictor: Predictor,
    output_folder: Path | str,
    options: RunOptions | None = None,
    on_case_done: Callable[[str], None] | None = None,
) -> PredictionSummary:
    """Predict and write every case; a failing case is logged by name and the others finish.

    Args:
        cases: from :func:`find_cases`.
        predictor: the model and inference settings.
        output_folder: receives ``CASE_sd.nii.gz`` etc. (created).
        options: export, resume and parallelism settings.
        on_case_done: called with each case id when it is written, skipped or failed.
    """
    options = options or RunOptions()
    output_folder = Path(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    skipped = [
        case
        for case in cases
        if options.continue_prediction
        and is_case_complete(output_folder, case.case_id, options.export, predictor.model.produces_sdplus)
    ]
    todo = [case for case in cases if case not in skipped]
    logger.info("%d case(s) to predict, %d already written", len(todo), len(skipped))
    ledger = DistributionLedger(options.strict, predictor.model.training_ranges is not None)
    for case in skipped:
        ledger.record_previous(case.case_id, output_folder)
        if on_case_done:
            on_case_done(case.case_id)
    failures: dict[str, str] = {}
    written: list[str] = []
    warnings: dict[str, tuple[str, ...]] = {}
    flagged: list[str] = []
    processes = options.preprocessing_processes
    if processes is None:
        processes = default_preprocessing_processes(predictor.device.type)
    allow_mismatch = options.allow_mismatched_patient
    if allow_mismatch:
        logger.warning(
            "--allow_mismatched_patient: cases whose PC and LD differ in patient or study are predicted"
        )
    results = (
        _predict_pipelined(predictor, todo, processes, allow_mismatch)
        if processes > 1
        else _predict_inline(predictor, todo, options.prefetch_cases, allow_mismatch)
    )
    provenance = model_provenance(predictor.model) if options.export.output_format == "dicom" else None
    with ThreadPoolExecutor(max_workers=max(1, options.export_threads)) as writers:
        exports: list[tuple[str, Future[list[Path]]]] = []
        for case, outcome in results:
            if isinstance(outcome, Exception):
                failures[case.case_id] = failure_reason(outcome)
                logger.warning("case %s failed (the reason is listed at the end)", case.case_id)
                if on_case_done:
                    on_case_done(case.case_id)
                continue
            refusal = ledger.record(case.case_id, outcome.distribution)
            if refusal is not None:  # --strict: not written, reported as failed
                failures[case.case_id] = refusal
                if on_case_done:
                    on_case_done(case.case_id)
                continue
            if outcome.quality is not None and outcome.quality.warnings:
                warnings[case.case_id] = outcome.quality.warnings
                flagged += [case.case_id] if outcome.quality.flagged else []
            sources = None
            if provenance is not None:
                sources = series_sources(case.case_id, case.pre_contrast, case.low_dose, provenance)
            exports.append(
                (
                    case.case_id,
                    writers.submit(write_prediction, outcome, output_folder, options.export, sources),
                )
            )
            if options.export_threads <= 1:
                _collect(exports, written, failures, on_case_done)
        _collect(exports, written, failures, on_case_done)
    if warnings:
        logger.warning(
            "%d case(s) with data warnings (see CASE_summary.json): %s; flagged: %s",
            len(warnings), ", ".join(sorted(warnings)), ", ".join(sorted(flagged)) or "none",
        )  # fmt: skip
    ledger.log_end()
    skipped_ids = tuple(case.case_id for case in skipped)
    summary = PredictionSummary(
        tuple(written), skipped_ids, failures, warnings, tuple(sorted(flagged)),
        ledger.findings, tuple(ledger.refused),
    )  # fmt: skip
    write_run_summary(output_folder / options.summary_file, summary, predictor.model, options.strict)
    return summary


def failure_reason(error: Exception) -> str:
    """One line for a failed case: a refused input's own message (it names the file, the values and the
    rule), else the exception's type and message."""
    if isinstance(error, DicomSeriesError | CaseIdentityError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _collect(
    exports: list[tuple[str, Future[list[Path]]]],
    written: list[str],
    failures: dict[str, str],
    on_case_done: Callable[[str], None] | None,
) -> None:
    """Wait for the submitted exports, recording each as written or failed."""
    while exports:
        case_id, future = exports.pop(0)
        try:
            future.result()
            written.append(case_id)
        except Exception as error:  # noqa: BLE001 (a failed write is reported per case)
            failures[case_id] = f"{type(error).__name__}: {error}"
            logger.error("case %s: writing failed: %s", case_id, failures[case_id])
        if on_case_done:
            on_case_done(case_id)
