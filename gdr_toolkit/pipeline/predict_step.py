"""Predict a folder of cases with a trained model (``gdr_predict``), and plot a fold's condition embedding."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from gdr_toolkit.analysis.embedding import (
    conditioned_embedding_module,
    fold_training_case_ids,
    plot_embedding,
    preprocessed_case_ids,
    project_embeddings,
    projection_record,
    read_case_conditions,
)
from gdr_toolkit.dataset.metadata import CaseMetadata
from gdr_toolkit.dataset.sharding import Shard
from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.inference.model_loader import DEFAULT_CHECKPOINT, load_trained_model
from gdr_toolkit.inference.prediction_cases import find_cases
from gdr_toolkit.inference.prediction_run import PredictionSummary, RunOptions, run_prediction
from gdr_toolkit.inference.predictor import Predictor, resolve_device
from gdr_toolkit.inference.run_summary import shard_summary_file
from gdr_toolkit.network.device import resolve_device_name
from gdr_toolkit.paths import preprocessed_folder
from gdr_toolkit.pipeline.progress import ProgressFactory, progress_bar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictionRequest:
    """How to predict a folder (``gdr_predict``'s flags; documentation/inference.md).

    Attributes:
        folds: folds to ensemble (None: all with the checkpoint).
        checkpoint: checkpoint file name in each fold folder.
        device: ``"auto"`` (cuda, else mps, else cpu), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        step_size: sliding-window step as a fraction of the patch.
        use_mirroring: mirroring test-time augmentation.
        enhancement_factor: k in x + k * y.
        metadata_folder: folder with ``CASE.json`` files (None: beside the images).
        metadata: metadata for every case (overrides the files), or None.
        run: export, resumption and parallelism options.
        precision: ``auto`` (the checkpoint's policy where the device runs it) or a
            ``network.precision.PRECISION_CHOICES`` name.
        shard: the part of the sorted case list to predict (``-num_parts/-part_id``).
        tile_edge: largest sliding-window tile edge in voxels, None for the training patch, ``"auto"``
            for the device's default (``inference.predictor.default_tile_edge``).
    """

    folds: list[str] | None = None
    checkpoint: str = DEFAULT_CHECKPOINT
    device: str = "auto"
    step_size: float = 0.5
    use_mirroring: bool = True
    enhancement_factor: float = 1.0
    metadata_folder: Path | None = None
    metadata: CaseMetadata | None = None
    run: RunOptions = field(default_factory=RunOptions)
    precision: str = "auto"
    shard: Shard = field(default_factory=Shard)
    tile_edge: int | None | Literal["auto"] = "auto"


def predict_folder(
    model_folder: Path,
    input_folder: Path,
    output_folder: Path,
    request: PredictionRequest,
    progress: ProgressFactory | None = None,
) -> PredictionSummary:
    """Load the model and predict every case of ``input_folder`` into ``output_folder``."""
    model = load_trained_model(model_folder, request.folds, request.checkpoint)
    device = resolve_device(resolve_device_name(request.device))
    predictor = Predictor(
        model, device, request.step_size, request.use_mirroring,
        enhancement_factor=request.enhancement_factor, precision=request.precision, tile_edge=request.tile_edge,
    )  # fmt: skip
    found = find_cases(input_folder, request.metadata_folder, request.metadata)
    cases = request.shard.select(found, lambda case: case.case_id)
    logger.info("device %s, %d case(s) (%s)", device, len(cases), request.shard.describe())
    run = request.run
    if not request.shard.is_whole:  # one record per part: array jobs share the output folder
        run = replace(run, summary_file=shard_summary_file(request.shard.num_parts, request.shard.part_id))
    with progress_bar(progress, "predicting", len(cases)) as bar:
        return run_prediction(cases, predictor, output_folder, run, lambda _case: bar.update())


CASE_SELECTIONS = {"all": "all preprocessed cases", "train": "the fold's training cases"}


@dataclass(frozen=True)
class EmbeddingRequest:
    """Which fold's condition embedding to plot, of which cases, where (``gdr_plot_embedding``'s flags).

    Attributes:
        fold: fold index or ``"all"``.
        checkpoint: checkpoint file name in the fold folder.
        cases: ``"all"`` preprocessed cases or the fold's ``"train"`` cases.
        output: PNG path (None: ``<fold folder>/embedding.png``); the JSON goes beside it.
        perplexity: t-SNE perplexity (None: min(30, (N - 1) / 3), >= 1).
        seed: t-SNE random state.
    """

    fold: str = "0"
    checkpoint: str = DEFAULT_CHECKPOINT
    cases: Literal["all", "train"] = "all"
    output: Path | None = None
    perplexity: float | None = None
    seed: int = 0


def plot_fold_embedding(dataset: str, model_folder: Path, request: EmbeddingRequest) -> Path:
    """Embed and project the cases' conditions with one fold, write the PNG and the JSON; the PNG path."""
    if request.output is not None and request.output.suffix.lower() != ".png":
        raise ValueError(f"-o must name a .png file (the JSON goes beside it), got {request.output}")
    model = load_trained_model(model_folder, [request.fold], request.checkpoint)
    fold = model.folds[0]
    dataset_folder = preprocessed_folder() / dataset
    data_folder = dataset_folder / model.configuration.data_identifier
    if request.cases == "train":
        case_ids = fold_training_case_ids(fold, dataset_folder)
    else:
        case_ids = preprocessed_case_ids(data_folder)
    conditions = read_case_conditions(data_folder, case_ids, fold.condition_normalisation)
    keys = fold.condition_normalisation.keys
    embedding_module = conditioned_embedding_module(fold)
    projection = project_embeddings(embedding_module, conditions, keys, request.perplexity, request.seed)
    output = request.output or fold.checkpoint.parent / "embedding.png"
    title = (
        f"{dataset}  |  {model_folder.name}  |  fold {fold.fold} ({fold.checkpoint.name})\n"
        f"condition embedding of {len(case_ids)} cases ({CASE_SELECTIONS[request.cases]}); "
        f"model inputs: {', '.join(keys)}"
    )
    plot_embedding(projection, title, output)
    description = {
        "dataset": dataset, "model_folder": model_folder.name, "trainer": model.trainer_name,
        "configuration": model.configuration_name, "fold": fold.fold, "checkpoint": fold.checkpoint.name,
        "cases_selection": request.cases, "figure": output.name,
    }  # fmt: skip
    write_json_atomic(projection_record(projection, description), output.with_suffix(".json"))
    return output
