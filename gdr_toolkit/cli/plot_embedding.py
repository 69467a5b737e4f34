"""``gdr_plot_embedding -d ID [-c CONFIG] [-tr TRAINER] [-p PLANS] [-f FOLD] ...``: plot the condition embedding.

Embeds every case's condition vector with one fold's network, projects the embeddings with PCA and t-SNE
and writes ``embedding.png`` and ``embedding.json`` (paper Fig. 8). See documentation/plot_embedding.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gdr_toolkit.analysis.embedding import (
    conditioned_embedding_module,
    fold_training_case_ids,
    plot_embedding,
    preprocessed_case_ids,
    project_embeddings,
    projection_record,
    read_case_conditions,
)
from gdr_toolkit.cli.logging_setup import configure_logging
from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.inference.model_loader import DEFAULT_CHECKPOINT, load_trained_model
from gdr_toolkit.paths import preprocessed_folder, resolve_dataset_name, results_folder
from gdr_toolkit.training.fold_training import trainer_output_folder

logger = logging.getLogger("gdr_plot_embedding")
CASE_SELECTIONS = {"all": "all preprocessed cases", "train": "the fold's training cases"}


def run(args: argparse.Namespace) -> Path:
    """Load the fold, embed and project its cases, write the PNG and the JSON; returns the PNG path."""
    if args.output is not None and args.output.suffix.lower() != ".png":
        raise ValueError(f"-o must name a .png file (the JSON goes beside it), got {args.output}")
    dataset = resolve_dataset_name(args.dataset, [results_folder()])
    model_folder = trainer_output_folder(dataset, args.trainer, args.plans, args.configuration)
    model = load_trained_model(model_folder, [args.fold], args.checkpoint)
    fold = model.folds[0]
    embedding_module = conditioned_embedding_module(fold)
    dataset_folder = preprocessed_folder() / dataset
    data_folder = dataset_folder / model.configuration.data_identifier
    if args.cases == "train":
        case_ids = fold_training_case_ids(model, fold, dataset_folder)
    else:
        case_ids = preprocessed_case_ids(data_folder)
    conditions = read_case_conditions(data_folder, case_ids, fold.condition_normalisation)
    keys = fold.condition_normalisation.keys
    projection = project_embeddings(embedding_module, conditions, keys, args.perplexity, args.seed)
    output = args.output or fold.checkpoint.parent / "embedding.png"
    title = (
        f"{dataset}  |  {model_folder.name}  |  fold {fold.fold} ({fold.checkpoint.name})\n"
        f"condition embedding of {len(case_ids)} cases ({CASE_SELECTIONS[args.cases]}); "
        f"model inputs: {', '.join(keys)}"
    )
    plot_embedding(projection, title, output)
    description = {
        "dataset": dataset, "model_folder": model_folder.name, "trainer": model.trainer_name,
        "configuration": model.configuration_name, "fold": fold.fold, "checkpoint": fold.checkpoint.name,
        "cases_selection": args.cases, "figure": output.name,
    }  # fmt: skip
    write_json_atomic(projection_record(projection, description), output.with_suffix(".json"))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gdr_plot_embedding", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name (in $gdr_results)")
    add("-c", "--configuration", default="3d_fullres", help="default 3d_fullres")
    add("-tr", "--trainer", default="GDRTrainer", help="trainer class (default GDRTrainer)")
    add("-p", "--plans", default="gdrPlans", help="plans name (default gdrPlans)")
    add("-f", "--fold", default="0", help="fold index or 'all' (default 0)")
    add("-chk", "--checkpoint", default=DEFAULT_CHECKPOINT, help=f"default {DEFAULT_CHECKPOINT}")
    add("-o", "--output", type=Path, default=None, help="PNG path (default <fold folder>/embedding.png)")
    add("--cases", choices=tuple(CASE_SELECTIONS), default="all", help="; ".join(CASE_SELECTIONS.values()))
    add("--perplexity", type=float, default=None, help="t-SNE perplexity (default min(30, (N-1)/3), >= 1)")
    add("--seed", type=int, default=0, help="t-SNE random state (default 0)")
    add("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        output = run(args)
    except (OSError, ValueError, KeyError) as error:
        logger.error("%s", error)
        return 1
    logger.info("wrote %s and %s", output, output.with_suffix(".json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
