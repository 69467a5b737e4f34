"""The demo's run (``gdr_demo``): the whole pipeline on the embedded default, a simulated phantom dataset.

simulate -> verify -> plan and preprocess -> train the CPU configuration briefly (fold 0, then validate
it) -> predict the test cases -> evaluate x_LD, the synthesised SD and SD+ against the true SD. Every
step is the library function behind the user's command, and every step resumes, so a rerun reuses them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from gdr_toolkit.dataset.verify import verify_dataset
from gdr_toolkit.evaluation.evaluate_folder import FolderEvaluationOptions, evaluate_predictions
from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.inference.export import ExportOptions
from gdr_toolkit.inference.prediction_run import RunOptions
from gdr_toolkit.paths import dataset_folder_name, raw_folder, use_output_folders
from gdr_toolkit.pipeline.plan_step import plan_and_preprocess
from gdr_toolkit.pipeline.predict_step import PredictionRequest, predict_folder
from gdr_toolkit.pipeline.progress import ProgressFactory
from gdr_toolkit.pipeline.validate_step import validate_fold
from gdr_toolkit.planning.plan_experiment import PlannerRequest
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.simulation.settings import SimulationSettings
from gdr_toolkit.training.fold_training import TrainingJob, train_fold

logger = logging.getLogger(__name__)
DEMO_DATASET_ID = 1
DEMO_DATASET_NAME = "Phantom"
CONFIGURATION = "3d_cpu"
PREDICTIONS_FOLDER = "predictions"


@dataclass(frozen=True)
class DemoSettings:
    """The demo's size and schedule (``gdr_demo``'s flags; documentation/demo.md).

    Attributes:
        num_training: simulated training cases.
        num_test: simulated test cases.
        spacing_mm: voxel spacing of the simulated scans, mm.
        seed: simulation seed.
        num_processes: preprocessing workers.
        trainer: trainer of the demo model.
        num_epochs: overrides the trainer's epochs (None: keep).
        iterations_per_epoch: overrides the trainer's iterations per epoch (None: keep).
    """

    num_training: int = 12
    num_test: int = 4
    spacing_mm: float = 2.0
    seed: int = 0
    num_processes: int = 2
    trainer: str = "GDRTrainer_CPUDemo"
    num_epochs: int | None = None
    iterations_per_epoch: int | None = None


def run_demo(settings: DemoSettings, output: Path, progress: ProgressFactory | None = None) -> Path:
    """Run (or resume) the six steps under ``output``; returns the evaluation's ``summary.json``.

    Raises:
        ValueError: the simulated dataset fails verification, or a step rejects its inputs.
        RuntimeError: test cases could not be predicted (named in the message).
    """
    use_output_folders(output)
    dataset = raw_folder() / dataset_folder_name(DEMO_DATASET_ID, DEMO_DATASET_NAME)
    logger.info(
        "1/6 simulating %d + %d cases at %.1f mm into %s",
        settings.num_training, settings.num_test, settings.spacing_mm, dataset,
    )  # fmt: skip
    # the realistic mix: cropped LD/SD slabs, thick-slice PC, MPRAGE, int16 storage, oblique scans
    simulation = SimulationSettings.realistic_mix(spacing_mm=settings.spacing_mm)
    write_simulated_dataset(
        dataset,
        simulation,
        settings.num_training,
        settings.num_test,
        settings.seed,
        progress=progress is not None,
    )
    logger.info("2/6 verifying %s", dataset.name)
    if problems := verify_dataset(dataset):
        raise ValueError("the simulated dataset fails verification:\n" + "\n".join(map(str, problems)))
    logger.info("3/6 planning and preprocessing")
    plan_and_preprocess(str(DEMO_DATASET_ID), PlannerRequest(), settings.num_processes, progress=progress)
    logger.info("4/6 training the CPU configuration (fold 0)")
    fold_folder = _train_and_validate(settings, dataset, progress)
    logger.info("5/6 predicting the test cases")
    predictions = output / PREDICTIONS_FOLDER
    request = PredictionRequest(
        folds=["0"], use_mirroring=False,
        run=RunOptions(ExportOptions(save_contrast_signal=True), continue_prediction=True),
    )  # fmt: skip
    prediction = predict_folder(fold_folder.parent, dataset / "imagesTs", predictions, request, progress)
    if prediction.failures:
        raise RuntimeError(f"test case(s) could not be predicted: {prediction.failures}")
    logger.info("6/6 evaluating against the true standard dose")
    summary = evaluate_predictions(
        dataset / "targetsTs", predictions, dataset / "imagesTs", dataset / "lesionsTs", suffix=("_sd", "_sdplus"),
        options=FolderEvaluationOptions(include_low_dose=True, coregister_acquired_scans=True),
    )  # fmt: skip
    write_json_atomic(summary.to_json_dict(), predictions / "summary.json")
    return predictions / "summary.json"


def _train_and_validate(settings: DemoSettings, dataset: Path, progress: ProgressFactory | None) -> Path:
    """Train fold 0 (a finished fold is reused, an interrupted one continued) and validate it on its raw
    validation cases."""
    job = TrainingJob(
        str(DEMO_DATASET_ID), 0, CONFIGURATION, settings.trainer, num_epochs=settings.num_epochs,
        iterations_per_epoch=settings.iterations_per_epoch, continue_training=True,  # an interrupted demo resumes
    )  # fmt: skip
    fold_folder = train_fold(job, progress)
    logger.info("validation summary: %s", validate_fold(fold_folder, dataset))
    return fold_folder
