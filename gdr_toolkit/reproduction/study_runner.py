"""Run a reproduction study: simulate -> plan and preprocess -> train -> predict -> evaluate each method.

Every step is the library function behind the user-facing command (gdr_toolkit.pipeline,
training.fold_training, evaluation.evaluate_folder) and every step resumes: complete simulated
cases, preprocessed cases, finished trainings (``checkpoint_final.pth``), written predictions and
evaluation summaries newer than their predictions are reused, so an interrupted study continues where it
stopped. Folders under ``study_folder``: ``gdr_raw``, ``gdr_preprocessed``, ``gdr_results`` (the three
environment variables are pointed there for the run), ``predictions/<method>/`` with ``summary.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gdr_toolkit.evaluation.evaluate_folder import FolderEvaluationOptions, evaluate_predictions
from gdr_toolkit.file_io import read_json, write_json_atomic
from gdr_toolkit.inference.prediction_run import RunOptions
from gdr_toolkit.paths import dataset_folder_name, raw_folder, use_output_folders
from gdr_toolkit.pipeline.plan_step import plan_and_preprocess
from gdr_toolkit.pipeline.predict_step import (
    EmbeddingRequest,
    PredictionRequest,
    plot_fold_embedding,
    predict_folder,
)
from gdr_toolkit.planning.plan_experiment import PlannerRequest
from gdr_toolkit.reproduction.study_methods import NO_NOISE_NORM_PLANNER, OURS, StudyMethod
from gdr_toolkit.reproduction.study_settings import StudySettings
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.simulation.settings import SimulationSettings
from gdr_toolkit.training.fold_training import TrainingJob, train_fold, trainer_output_folder

logger = logging.getLogger(__name__)
DATASET_NAME = "ReproductionStudy"
STUDY_RECORD = "study.json"
EVALUATION_CACHE = "evaluation_cache"  # brain masks and co-registered test scans, shared by the methods
EMBEDDING_FIGURE = "embedding.png"


class StudyStepError(RuntimeError):
    """A step of the study failed; the message names the step and the method."""


@contextmanager
def _step(title: str) -> Iterator[None]:
    """Log the step's title; a failure inside becomes a StudyStepError naming the step."""
    logger.info("%s", title)
    try:
        yield
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise StudyStepError(
            f"{title} failed ({error}); rerun the study to resume after fixing it"
        ) from error


def simulation_settings(settings: StudySettings) -> SimulationSettings:
    """The simulator's settings of a study (all fields, agents, doses) at the study's spacing: the realistic
    mix (``realism="mixed"``) or the simulator's uniform defaults."""
    if settings.realism == "mixed":
        return SimulationSettings.realistic_mix(spacing_mm=settings.spacing_mm)
    return SimulationSettings(spacing_mm=settings.spacing_mm)


def prepare_data(settings: StudySettings, methods: Sequence[StudyMethod]) -> Path:
    """Simulate the dataset and preprocess it for every plans identifier the methods use; the raw folder."""
    raw = raw_folder() / dataset_folder_name(settings.dataset_id, DATASET_NAME)
    write_simulated_dataset(
        raw, simulation_settings(settings), settings.num_training, settings.num_test,
        settings.seed, progress=True,
    )  # fmt: skip
    dataset = str(settings.dataset_id)
    with _step("planning and preprocessing (default plans)"):
        plan_and_preprocess(dataset, PlannerRequest(), settings.num_processes, [settings.configuration])
    if any(method.plans != OURS.plans for method in methods):
        with _step("planning and preprocessing (no noise normalisation)"):
            request = PlannerRequest(planner=NO_NOISE_NORM_PLANNER)
            plan_and_preprocess(dataset, request, settings.num_processes, [settings.configuration])
    return raw


def train_method(settings: StudySettings, method: StudyMethod) -> None:
    """Train (or resume, or reuse) one method with its role's budget (equal within a role)."""
    job = TrainingJob(
        str(settings.dataset_id), settings.fold, settings.configuration, method.trainer, method.plans,
        settings.device, continue_training=True, num_epochs=settings.epochs_of(method.role),
        iterations_per_epoch=settings.iterations_per_epoch,
        initial_learning_rate=settings.initial_learning_rate, oversample_fraction=settings.oversample_fraction,
    )  # fmt: skip
    with _step(f"training {method.key} ({method.trainer}, {method.plans})"):
        train_fold(job)


def _model_folder(settings: StudySettings, method: StudyMethod) -> Path:
    name = dataset_folder_name(settings.dataset_id, DATASET_NAME)
    return trainer_output_folder(name, method.trainer, method.plans, settings.configuration)


def predict_method(settings: StudySettings, method: StudyMethod, raw: Path, output: Path) -> None:
    """Predict the held-out test cases with one method (finished cases are skipped)."""
    request = PredictionRequest(
        folds=[str(settings.fold)], device=settings.device, use_mirroring=not settings.disable_tta,
        run=RunOptions(continue_prediction=True),
    )  # fmt: skip
    with _step(f"predicting with {method.key}"):
        summary = predict_folder(_model_folder(settings, method), raw / "imagesTs", output, request)
        if summary.failures:
            raise RuntimeError(f"{len(summary.failures)} case(s) failed: {sorted(summary.failures)}")


def evaluate_method(method: StudyMethod, raw: Path, output: Path, cache: Path | None = None) -> Path:
    """Evaluate one method's predictions against the true SD (x_LD too for ours); the summary path.

    ``cache``: folder of the brain masks and co-registered scans shared by every method's evaluation."""
    summary = output / "summary.json"
    predictions = sorted(output.glob("*_sd.nii.gz"))
    if summary.is_file() and all(path.stat().st_mtime <= summary.stat().st_mtime for path in predictions):
        logger.info("evaluation of %s is up to date (%s)", method.key, summary)
        return summary
    suffixes = ("_sd", "_sdplus") if method.writes_sdplus else ("_sd",)
    options = FolderEvaluationOptions(include_low_dose=method == OURS, coregister_acquired_scans=True)
    with _step(f"evaluating {method.key}"):
        result = evaluate_predictions(
            raw / "targetsTs", output, raw / "imagesTs", raw / "lesionsTs", suffix=suffixes, options=options,
            cache_folder=cache,
        )  # fmt: skip
        write_json_atomic(result.to_json_dict(), summary)
    return summary


def plot_condition_embedding(settings: StudySettings, study_folder: Path) -> Path:
    """PCA and t-SNE of our model's condition embeddings of the training cases (paper Fig. 8)."""
    output = study_folder / EMBEDDING_FIGURE
    request = EmbeddingRequest(fold=str(settings.fold), cases="train", output=output)
    with _step("plotting the condition embedding of ours"):
        plot_fold_embedding(
            dataset_folder_name(settings.dataset_id, DATASET_NAME), _model_folder(settings, OURS), request
        )
    return output


def run_study(settings: StudySettings, methods: Sequence[StudyMethod], study_folder: Path) -> dict:
    """Run (or resume) the whole study; returns the study record also written to ``study.json``."""
    use_output_folders(study_folder)
    record_path = study_folder / STUDY_RECORD
    previous = read_json(record_path) if record_path.is_file() else {}
    if previous and previous.get("settings") != settings.to_json_dict():
        raise ValueError(
            f"{record_path} was written with other settings {previous.get('settings')}; use another "
            "output folder or delete it"
        )
    started, spent_before = time.perf_counter(), previous.get("seconds_total", 0.0)
    record = {"settings": settings.to_json_dict(), "summaries": dict(previous.get("summaries", {}))}

    def save(**entries: Any) -> None:
        """Write the record with the runtime so far, so an interrupted study still counts its time."""
        record.update(entries, seconds_total=spent_before + time.perf_counter() - started)
        write_json_atomic(record, record_path)

    raw = prepare_data(settings, methods)
    save(metadata_folder=str(raw / "metadataTs"))
    for method in methods:
        output = study_folder / "predictions" / method.key
        train_method(settings, method)
        predict_method(settings, method, raw, output)
        summary = evaluate_method(method, raw, output, study_folder / EVALUATION_CACHE)
        record["summaries"][method.key] = str(summary)
        save()
    embedding = plot_condition_embedding(settings, study_folder)
    save(methods=[method.key for method in methods], embedding_figure=str(embedding))
    record["summaries"] = {method.key: record["summaries"][method.key] for method in methods}
    return record
