"""``gdr_plot_embedding -d ID [-c CONFIG] [-tr TRAINER] [-p PLANS] [-f FOLD] ...``: plot the condition embedding.

Embeds every case's condition vector with one fold's network, projects the embeddings with PCA and t-SNE
and writes ``embedding.png`` and ``embedding.json`` (paper Fig. 8). See documentation/plot_embedding.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gdr_toolkit.cli.command import USER_ERRORS, run_command
from gdr_toolkit.inference.model_loader import DEFAULT_CHECKPOINT
from gdr_toolkit.paths import resolve_dataset_name, results_folder
from gdr_toolkit.pipeline.predict_step import CASE_SELECTIONS, EmbeddingRequest, plot_fold_embedding
from gdr_toolkit.training.fold_training import trainer_output_folder

logger = logging.getLogger("gdr_plot_embedding")


def run(args: argparse.Namespace) -> Path:
    """Load the fold, embed and project its cases, write the PNG and the JSON; returns the PNG path."""
    dataset = resolve_dataset_name(args.dataset, [results_folder()])
    model_folder = trainer_output_folder(dataset, args.trainer, args.plans, args.configuration)
    request = EmbeddingRequest(
        args.fold, args.checkpoint, args.cases, args.output, args.perplexity, args.seed
    )
    return plot_fold_embedding(dataset, model_folder, request)


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
    return run_command(parser, _plot, logger, argv, errors=(*USER_ERRORS, KeyError))


def _plot(args: argparse.Namespace) -> int:
    output = run(args)
    logger.info("wrote %s and %s", output, output.with_suffix(".json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
