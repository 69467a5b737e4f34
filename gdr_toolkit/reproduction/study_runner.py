"""Run a reproduction study: simulate -> plan and preprocess -> train -> predict -> evaluate each method.

Every step is the user-facing command (called in-process) and every step resumes: complete simulated
cases, preprocessed cases, finished trainings (``checkpoint_final.pth``), written predictions and
evaluation summaries newer than their predictions are reused, so an interrupted study continues where it
stopped. Folders under ``study_folder``: ``gdr_raw``, ``gdr_preprocessed``, ``gdr_results`` (the three
environment variables are pointed there for the run), ``predictions/<method>/`` with ``summary.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gdr_toolkit.cli import evaluate, plan_and_preprocess, plot_embedding, predict, train
from gdr_toolkit.file_io import read_json, write_json_atomic
from gdr_toolkit.paths import dataset_folder_name, raw_folder, use_output_folders
from gdr_toolkit.reproduction.study_methods import NO_NOISE_NORM_PLANNER, OURS, StudyMethod
from gdr_toolkit.reproduction.study_settings import StudySettings
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.simulation.settings import SimulationSettings

logger = logging.getLogger(__name__)
DATASET_NAME = "ReproductionStudy"
STUDY_RECORD = "study.json"
EMBEDDING_FIGURE = "embedding.png"
Command = Callable[[list[str]], int]


class StudyStepError(RuntimeError):
    """A step of the study failed; the message names the step and the method."""


def _run(title: str, command: Command, arguments: list[str]) -> None:
    logger.info("%s", title)
    if (status := command(arguments)) != 0:
        raise StudyStepError(f"{title} failed (exit {status}); rerun the study to resume after fixing it")


def simulation_settings(settings: StudySettings) -> SimulationSettings:
    """The simulator's settings of a study: its defaults (all fields, agents, doses) at the study's spacing."""
    return SimulationSettings(spacing_mm=settings.spacing_mm)


def prepare_data(settings: StudySettings, methods: Sequence[StudyMethod]) -> Path:
    """Simulate the dataset and preprocess it for every plans identifier the methods use; the raw folder."""
    raw = raw_folder() / dataset_folder_name(settings.dataset_id, DATASET_NAME)
    write_simulated_dataset(
        raw, simulation_settings(settings), settings.num_training, settings.num_test,
        settings.seed, progress=True,
    )  # fmt: skip
    common = [
        "-d",
        str(settings.dataset_id),
        "-c",
        settings.configuration,
        "-np",
        str(settings.num_processes),
    ]
    _run("planning and preprocessing (default plans)", plan_and_preprocess.main, common)
    if any(method.plans != OURS.plans for method in methods):
        _run(
            "planning and preprocessing (no noise normalisation)",
            plan_and_preprocess.main,
            [*common, "-pl", NO_NOISE_NORM_PLANNER],
        )
    return raw


def train_method(settings: StudySettings, method: StudyMethod) -> None:
    """Train (or resume, or reuse) one method with the study's equal budget."""
    arguments = [
        str(settings.dataset_id), str(settings.fold), "-c", settings.configuration, "-tr", method.trainer,
        "-p", method.plans, "-device", settings.device, "--num_epochs", str(settings.num_epochs),
        "--iterations_per_epoch", str(settings.iterations_per_epoch),
        "-lr", repr(settings.initial_learning_rate), "--oversample_fraction", repr(settings.oversample_fraction),
        "--c", "--no_validation",
    ]  # fmt: skip
    _run(f"training {method.key} ({method.trainer}, {method.plans})", train.main, arguments)


def predict_method(settings: StudySettings, method: StudyMethod, raw: Path, output: Path) -> None:
    """Predict the held-out test cases with one method (finished cases are skipped)."""
    arguments = [
        "-d", str(settings.dataset_id), "-c", settings.configuration, "-tr", method.trainer,
        "-p", method.plans, "-f", str(settings.fold), "-i", str(raw / "imagesTs"), "-o", str(output),
        "-device", settings.device, "--continue_prediction",
    ]  # fmt: skip
    _run(
        f"predicting with {method.key}", predict.main, arguments + (["--disable_tta"] * settings.disable_tta)
    )


def evaluate_method(method: StudyMethod, raw: Path, output: Path) -> Path:
    """Evaluate one method's predictions against the true SD (x_LD too for ours); the summary path."""
    summary = output / "summary.json"
    predictions = sorted(output.glob("*_sd.nii.gz"))
    if summary.is_file() and all(path.stat().st_mtime <= summary.stat().st_mtime for path in predictions):
        logger.info("evaluation of %s is up to date (%s)", method.key, summary)
        return summary
    suffixes = ["_sd", "_sdplus"] if method.writes_sdplus else ["_sd"]
    arguments = [
        "-ref", str(raw / "targetsTs"), "-pred", str(output), "-pc", str(raw / "imagesTs"),
        "-lesions", str(raw / "lesionsTs"), "--suffix", *suffixes, "--coregister", "-o", str(summary),
    ]  # fmt: skip
    _run(f"evaluating {method.key}", evaluate.main, arguments + (["--low-dose"] * (method == OURS)))
    return summary


def plot_condition_embedding(settings: StudySettings, study_folder: Path) -> Path:
    """PCA and t-SNE of our model's condition embeddings of the training cases (paper Fig. 8)."""
    output = study_folder / EMBEDDING_FIGURE
    arguments = [
        "-d", str(settings.dataset_id), "-c", settings.configuration, "-tr", OURS.trainer, "-p", OURS.plans,
        "-f", str(settings.fold), "--cases", "train", "-o", str(output),
    ]  # fmt: skip
    _run("plotting the condition embedding of ours", plot_embedding.main, arguments)
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
        record["summaries"][method.key] = str(evaluate_method(method, raw, output))
        save()
    embedding = plot_condition_embedding(settings, study_folder)
    save(methods=[method.key for method in methods], embedding_figure=str(embedding))
    record["summaries"] = {method.key: record["summaries"][method.key] for method in methods}
    return record
