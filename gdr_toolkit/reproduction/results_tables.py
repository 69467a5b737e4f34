"""The study's tables as Markdown (pure functions over ``summary.json`` dicts; documentation/results.md).

Rows: x_LD (the trivial baseline, from our method's evaluation), each method's synthesised SD, and our
SD+ (LD + predicted signal). Cells are mean +- sample std (case metrics over test cases, lesion metrics
over pooled lesions, as the paper's tables). Significance: paired t-tests of our SD against the best
baseline (highest mean PSNR_B), and of each ablation against ours at the ablation budget, pairing cases
or lesions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdr_toolkit.evaluation.statistics import PairedTestResult, compare_summaries, summary_values
from gdr_toolkit.evaluation.summary import LOW_DOSE_METHOD
from gdr_toolkit.reproduction.study_methods import ABLATION_REFERENCE, BASELINES, OURS, StudyMethod

TABLE_METRICS = ("psnr_i", "psnr_b", "psnr_l", "ssim", "mae_ce", "c_bar", "c_hat")
HEADERS = {
    "psnr_i": "PSNR_I (dB)", "psnr_b": "PSNR_B (dB)", "psnr_l": "PSNR_L (dB)", "ssim": "SSIM",
    "mae_ce": "MAE_CE", "c_bar": "c_bar", "c_hat": "c_hat",
}  # fmt: skip
DIGITS = {"psnr_i": 2, "psnr_b": 2, "psnr_l": 2, "ssim": 4, "mae_ce": 4, "c_bar": 3, "c_hat": 3}
Summary = Mapping[str, Any]


@dataclass(frozen=True)
class TableRow:
    """One row: ``label`` is shown; ``method`` names the image set inside ``summary`` (sd, sdplus, low_dose)."""

    label: str
    summary: Summary
    method: str


def metric_values(row: TableRow, metric: str, cases: set[str] | None = None) -> list[float]:
    """Finite values of ``metric`` for the row, restricted to ``cases`` (lesion keys are ``CASE/LABEL``)."""
    values = summary_values(row.summary, row.method, metric)
    return [
        value
        for key, value in values.items()
        if value is not None and math.isfinite(value) and (cases is None or key.split("/")[0] in cases)
    ]


def format_cell(values: Sequence[float], digits: int) -> str:
    """``mean +- std`` (sample std; ``n/a`` without values, no std for one value)."""
    if not values:
        return "n/a"
    mean = float(np.mean(values))
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} +- {float(np.std(values, ddof=1)):.{digits}f}"


def study_rows(summaries: Mapping[str, Summary], methods: Sequence[StudyMethod]) -> list[TableRow]:
    """x_LD, the baselines, ours x_SD and x_SD+, then the ablations (only methods with a summary)."""
    ours = summaries[OURS.key]
    rows = [TableRow("x_LD (low dose)", ours, LOW_DOSE_METHOD)]
    ordered = [m for m in methods if m in BASELINES] + [OURS] + [m for m in methods if m.role == "ablation"]
    for method in ordered:
        if method.key not in summaries:
            continue
        rows.append(TableRow(f"{method.label}: x_SD", summaries[method.key], "sd"))
        if method == OURS:
            rows.append(TableRow(f"{method.label}: x_SD+ (LD + signal)", ours, "sdplus"))
    return rows


def markdown_table(rows: Sequence[TableRow], cases: set[str] | None = None) -> str:
    """The metrics table of ``rows`` (over ``cases`` only when given)."""
    lines = [
        "| method | " + " | ".join(HEADERS[metric] for metric in TABLE_METRICS) + " |",
        "|---|" + "---|" * len(TABLE_METRICS),
    ]
    for row in rows:
        cells = [format_cell(metric_values(row, metric, cases), DIGITS[metric]) for metric in TABLE_METRICS]
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def best_baseline(summaries: Mapping[str, Summary]) -> StudyMethod | None:
    """The baseline with the highest mean PSNR_B (None when no baseline was run)."""
    scored = [
        (float(np.mean(metric_values(TableRow("", summaries[m.key], "sd"), "psnr_b"))), m)
        for m in BASELINES
        if m.key in summaries
    ]
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def significance_table(ours: Summary, baseline: Summary) -> str:
    """Paired t-tests of our x_SD against the baseline's x_SD, per metric."""
    lines = ["| metric | mean difference (ours - baseline) | t | p | pairs |", "|---|---|---|---|---|"]
    for metric, result in compare_summaries(ours, "sd", baseline, "sd").items():
        if metric not in TABLE_METRICS:
            continue
        if result is None:
            lines.append(f"| {HEADERS[metric]} | n/a | n/a | n/a | < 2 |")
            continue
        lines.append(
            f"| {HEADERS[metric]} | {result.mean_difference:+.{DIGITS[metric]}f} | "
            f"{result.t_statistic:.2f} | {result.p_value:.3g} | {result.n} |"
        )
    return "\n".join(lines)


ABLATION_METRICS = ("psnr_b", "psnr_l", "mae_ce", "c_bar")


def ablation_table(summaries: Mapping[str, Summary], methods: Sequence[StudyMethod]) -> str | None:
    """Each ablation's x_SD minus ours at the ablation budget: mean paired difference and its p per metric.

    None when the reference or every ablation lacks a summary.
    """
    reference = summaries.get(ABLATION_REFERENCE.key)
    ablations = [
        m for m in methods if m.role == "ablation" and m != ABLATION_REFERENCE and m.key in summaries
    ]
    if reference is None or not ablations:
        return None
    header = " | ".join(f"{HEADERS[metric]}: difference (p)" for metric in ABLATION_METRICS)
    lines = [f"| ablation | {header} |", "|---|" + "---|" * len(ABLATION_METRICS)]
    for method in ablations:
        results = compare_summaries(summaries[method.key], "sd", reference, "sd")
        cells = [_difference_cell(results[metric], DIGITS[metric]) for metric in ABLATION_METRICS]
        lines.append(f"| {method.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _difference_cell(result: PairedTestResult | None, digits: int) -> str:
    """``+difference (p)``; ``n/a`` without two pairs, p ``n/a`` when the differences have no variance."""
    if result is None:
        return "n/a"
    p_value = "n/a" if math.isnan(result.p_value) else f"{result.p_value:.2g}"
    return f"{result.mean_difference:+.{digits}f} ({p_value})"


def strata(case_metadata: Mapping[str, Mapping[str, float]], dose_edge: float) -> dict[str, set[str]]:
    """Case groups by dose (below / at or above ``dose_edge``) and by field strength (tesla)."""
    groups: dict[str, set[str]] = {}
    for case, values in sorted(case_metadata.items()):
        dose = values["dose_fraction"]
        dose_group = f"dose < {dose_edge:g}" if dose < dose_edge else f"dose >= {dose_edge:g}"
        groups.setdefault(dose_group, set()).add(case)
        groups.setdefault(f"{values['field_strength_t']:g} T", set()).add(case)
    return groups
