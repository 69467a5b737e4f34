"""``results.md`` of a reproduction study: settings, runtime, the tables, significance and strata."""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from gdr_toolkit.dataset.metadata import load_case_metadata
from gdr_toolkit.file_io import read_json
from gdr_toolkit.reproduction.results_tables import (
    ablation_table,
    best_baseline,
    markdown_table,
    significance_table,
    strata,
    study_rows,
)
from gdr_toolkit.reproduction.study_methods import ABLATION_REFERENCE, OURS, StudyMethod
from gdr_toolkit.reproduction.study_runner import simulation_settings
from gdr_toolkit.reproduction.study_settings import StudySettings

DOSE_EDGE = 0.2


def held_out_case_metadata(metadata_folder: Path) -> dict[str, dict[str, float]]:
    """``{case: {"dose_fraction", "field_strength_t"}}`` of the test cases (``metadataTs/CASE.json``);
    a field strength the metadata lack is NaN."""
    records = {}
    for path in sorted(metadata_folder.glob("*.json")):
        metadata = load_case_metadata(path)
        records[path.stem] = {
            "dose_fraction": metadata.dose_fraction,
            "field_strength_t": math.nan if metadata.field_strength_t is None else metadata.field_strength_t,
        }
    return records


def _budgets(settings: StudySettings) -> str:
    """The training budgets in words."""
    core = f"{settings.iterations} iterations ({settings.num_epochs} x {settings.iterations_per_epoch})"
    if settings.epochs_of("ablation") == settings.num_epochs:
        return core
    shorter = settings.epochs_of("ablation") * settings.iterations_per_epoch
    return f"{core} for ours and the baselines, {shorter} for the ablations and ours at the ablation budget"


def _schedule(settings: StudySettings) -> str:
    """The shared optimisation settings in words."""
    if settings.initial_learning_rate is None and settings.oversample_fraction is None:
        return "the configuration's training recipe (training.md, convergence.md)"
    peak = "the recipe's" if settings.initial_learning_rate is None else f"{settings.initial_learning_rate:g}"
    share = (
        "the recipe's share of"
        if settings.oversample_fraction is None
        else f"{settings.oversample_fraction:.0%}"
    )
    return f"Adam, peak lr {peak} with cosine decay, {share} enhancement-centred patches"


def _settings_lines(settings: StudySettings, command_line: str, seconds: float) -> list[str]:
    simulation = simulation_settings(settings)
    return [
        f"Command: `{command_line}`",
        "",
        f"Preset `{settings.name}`: {settings.num_training} simulated training cases (models trained on fold "
        f"{settings.fold} of the 5-fold split, the final checkpoint is used; the validation cases are only monitored), "
        f"{settings.num_test} held-out test cases, {settings.spacing_mm:g} mm, seed {settings.seed}; "
        f"field strengths {'/'.join(f'{b:g}' for b in simulation.field_strengths_t)} T, "
        f"{len(simulation.agents)} agents, low dose {simulation.dose_fraction_range[0]:.0%}-"
        f"{simulation.dose_fraction_range[1]:.0%} of the standard dose.",
        f"Every method: configuration `{settings.configuration}`, {_budgets(settings)}, {_schedule(settings)}, "
        f"device {settings.device}, mirroring TTA "
        f"{'off' if settings.disable_tta else 'on'}. Nothing was tuned on the test cases.",
        f"Runtime: {seconds / 60:.0f} min in total on {platform.machine()} "
        f"({torch.get_num_threads()} torch threads), torch {torch.__version__}.",
    ]


def results_markdown(
    record: Mapping[str, Any],
    methods: Sequence[StudyMethod],
    command_line: str,
    notes: str = "",
    embedding_link: str | None = None,
) -> str:
    """The whole ``results.md`` text from a study record (``study.json``); ``embedding_link`` is the
    embedding figure's path relative to the Markdown file."""
    settings = StudySettings.from_json_dict(record["settings"])
    summaries = {key: read_json(Path(path)) for key, path in record["summaries"].items()}
    rows = study_rows(summaries, methods)
    parts = ["# Reproduction study: ours vs direct regression, and ablations", ""]
    parts += _settings_lines(settings, command_line, record["seconds_total"])
    parts += ["", "## All methods (test cases)", "", markdown_table(rows), ""]
    if (baseline := best_baseline(summaries)) is not None:
        parts += [
            f"## Ours (x_SD) against the best baseline ({baseline.label}), paired t-tests", "",
            significance_table(summaries[OURS.key], summaries[baseline.key]), "",
        ]  # fmt: skip
    if (ablations := ablation_table(summaries, methods)) is not None:
        parts += [
            f"## Ablations (x_SD) against {ABLATION_REFERENCE.label}, paired t-tests", "",
            "Mean difference ablation - reference over the test cases (PSNR_B, MAE_CE) or the lesions "
            "(PSNR_L, c_bar), two-sided p in brackets; one training run per row.", "",
            ablations, "",
        ]  # fmt: skip
    groups = strata(held_out_case_metadata(Path(record["metadata_folder"])), DOSE_EDGE)
    for group, cases in groups.items():
        parts += [f"## Stratum: {group} ({len(cases)} test cases)", "", markdown_table(rows, cases), ""]
    if embedding_link:
        parts += [
            "## Condition embedding of ours (training cases; paper Fig. 8)", "",
            f"![PCA and t-SNE of the condition embeddings]({embedding_link})", "",
        ]  # fmt: skip
    if notes:
        parts += ["## Notes", "", notes, ""]
    return "\n".join(parts)
