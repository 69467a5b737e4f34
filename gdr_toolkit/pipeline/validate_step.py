"""Validation of a trained fold: predict its validation cases from the raw dataset with the predictor
(the same path as ``gdr_predict``) and evaluate them against the true SD into
``fold_K/validation/summary.json``.

Runs at the end of ``gdr_train`` and alone with ``gdr_train DATASET FOLD --val`` (and in the demo). A
pipeline step: it reads the fold's checkpoint (``model/``) and uses inference/ and evaluation/, so
training/ imports neither of them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from gdr_toolkit.dataset.raw_layout import case_files, load_dataset_description
from gdr_toolkit.evaluation.evaluate_folder import FolderEvaluationOptions, evaluate_predictions
from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.inference.prediction_cases import PredictionCase
from gdr_toolkit.inference.prediction_run import RunOptions, run_prediction
from gdr_toolkit.inference.predictor import Predictor
from gdr_toolkit.model.checkpoint import load_checkpoint

logger = logging.getLogger(__name__)
VALIDATION_FOLDER = "validation"
SUMMARY_FILE = "summary.json"


def validate_fold(
    fold_folder: Path,
    raw_dataset_folder: Path,
    device: str = "cpu",
    checkpoint_name: str = "checkpoint_final.pth",
) -> Path:
    """Predict and evaluate the fold's validation cases; returns the summary.json path.

    The validation cases are those stored in the checkpoint (the fold's split). Predictions (SD, SD+,
    QC pictures) go to ``fold_K/validation/``; x_LD, SD and SD+ are evaluated against the raw SD
    (rigidly co-registered to PC), with the lesion maps where the dataset has them. Direct-regression
    (standard-dose) models have no SD+: x_LD and SD only.

    Raises:
        FileNotFoundError: the checkpoint or the raw dataset is missing.
    """
    fold_folder, raw_dataset_folder = Path(fold_folder), Path(raw_dataset_folder)
    checkpoint = load_checkpoint(fold_folder / checkpoint_name)
    ending = load_dataset_description(raw_dataset_folder).file_ending
    raw_cases = [
        case_files(raw_dataset_folder, case_id, "Tr", ending) for case_id in checkpoint["validation_case_ids"]
    ]
    cases = [
        PredictionCase(
            case.case_id, case.pre_contrast, case.low_dose, case.metadata if case.metadata.is_file() else None
        )
        for case in raw_cases
    ]
    model = load_trained_model(fold_folder.parent, [checkpoint["fold"]], checkpoint_name)
    output = fold_folder / VALIDATION_FOLDER
    result = run_prediction(
        cases, Predictor(model, device, use_mirroring=False), output, RunOptions(continue_prediction=True)
    )
    for case_id, reason in result.failures.items():
        logger.error("validation case %s could not be predicted: %s", case_id, reason)
    lesions = raw_dataset_folder / "lesionsTr"
    summary = evaluate_predictions(
        raw_dataset_folder / "targetsTr",
        output,
        pre_contrast_folder=raw_dataset_folder / "imagesTr",
        lesion_folder=lesions if lesions.is_dir() else None,
        suffix=("_sd", "_sdplus") if model.produces_sdplus else ("_sd",),
        options=FolderEvaluationOptions(include_low_dose=True, coregister_acquired_scans=True),
    )
    path = output / SUMMARY_FILE
    write_json_atomic(summary.to_json_dict(), path)
    for method in summary.methods:
        metrics = summary.aggregates(method)
        logger.info(
            "validation %s: PSNR_B %s dB, c_bar %s",
            method,
            _mean(metrics["psnr_b"]),
            _mean(metrics["c_bar"]),
        )
    return path


def _mean(aggregate: dict) -> str:
    return "n/a" if aggregate["mean"] is None else f"{aggregate['mean']:.3f}"
