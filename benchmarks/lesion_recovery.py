"""Which lesions an evaluation's c_bar is made of: per-lesion contrast recovery against visibility and size.

Reads a ``summary.json`` of ``gdr_evaluate`` (per-lesion ``voxels``, ``c_bar`` and ``cnr``, the lesion's
standard-dose enhancement over the noise of x_SD - x_PC) and prints, for every image set in it:

- the mean c_bar over lesions by visibility on the standard dose (cnr below / at least ``--cnr``), on
  the low dose (``ld_cnr`` = cnr x c_bar of x_LD, the low dose's own enhancement over the same noise, below
  / at least ``--ld-cnr``; needs the ``low_dose`` image set) and by size (fewer / at least ``--voxels``
  voxels), with the number of lesions;
- with ``--lesions``, one row per lesion (case, label, voxels, cnr, dose from ``--metadata``, c_bar of
  every image set), ordered by cnr.

A lesion whose enhancement is at the noise level on the standard dose itself cannot be recovered from any
low dose; its c_bar is a ratio of two noisy sums. The pooled c_bar of a small test split moves with a few
such lesions, which is what this table shows.

Usage:
    python benchmarks/lesion_recovery.py STUDY/predictions/ours/summary.json [--cnr 3] [--voxels 46]
        [--ld-cnr 1.5] [--lesions] [--metadata RAW/metadataTs]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

LOW_DOSE = "low_dose"  # the image set of x_LD in summary.json


def lesion_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per lesion: ``case``, ``label``, ``voxels``, ``cnr``, ``c_bar`` per image set and
    ``ld_cnr`` (cnr x c_bar of x_LD; None without both)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for method, record in summary["methods"].items():
        for case, case_record in record["cases"].items():
            for label, lesion in case_record["lesions"].items():
                row = rows.setdefault(
                    (case, label),
                    {"case": case, "label": label, "voxels": lesion["voxels"], "cnr": lesion.get("cnr")},
                )
                row[method] = lesion["c_bar"]
    for row in rows.values():
        low_dose = row.get(LOW_DOSE)
        row["ld_cnr"] = row["cnr"] * low_dose if _finite(row["cnr"]) and _finite(low_dose) else None
    return [rows[key] for key in sorted(rows)]


def group_means(
    rows: list[dict[str, Any]], methods: list[str], thresholds: dict[str, float]
) -> list[tuple[str, int, dict[str, float]]]:
    """``(group, lesions, {method: mean c_bar})`` for all lesions and below / at least each threshold of
    ``thresholds`` (e.g. ``{"cnr": 3, "ld_cnr": 1.5, "voxels": 46}``); finite values only: a lesion
    without the quantity is in neither of its groups."""
    groups = {"all": rows}
    for quantity, threshold in thresholds.items():
        known = [row for row in rows if _finite(row.get(quantity))]
        groups[f"{quantity} < {threshold:g}"] = [row for row in known if row[quantity] < threshold]
        groups[f"{quantity} >= {threshold:g}"] = [row for row in known if row[quantity] >= threshold]
    result = []
    for name, members in groups.items():
        means = {}
        for method in methods:
            values = [row[method] for row in members if _finite(row.get(method))]
            means[method] = statistics.fmean(values) if values else math.nan
        result.append((name, len(members), means))
    return result


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _dose(metadata: Path | None, case: str) -> str:
    if metadata is None or not (metadata / f"{case}.json").is_file():
        return "-"
    return f"{json.loads((metadata / f'{case}.json').read_text())['dose_fraction']:.2f}"


def _number(value: Any) -> str:
    return f"{value:.3f}" if _finite(value) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path, help="summary.json of gdr_evaluate")
    parser.add_argument("--cnr", type=float, default=3.0, help="visibility threshold (3)")
    parser.add_argument("--ld-cnr", type=float, default=1.5, help="low-dose visibility threshold (1.5)")
    parser.add_argument("--voxels", type=int, default=46, help="size threshold, voxels (46)")
    parser.add_argument("--lesions", action="store_true", help="also one row per lesion")
    parser.add_argument("--metadata", type=Path, default=None, help="metadata folder (dose per case)")
    args = parser.parse_args()
    summary = json.loads(args.summary.read_text())
    methods = list(summary["methods"])
    rows = lesion_rows(summary)
    print(f"mean c_bar per group ({args.summary})\n")
    print("| lesions | n | " + " | ".join(methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    thresholds = {"cnr": args.cnr, "ld_cnr": args.ld_cnr, "voxels": args.voxels}
    for name, count, means in group_means(rows, methods, thresholds):
        print(f"| {name} | {count} | " + " | ".join(_number(means[method]) for method in methods) + " |")
    if args.lesions:
        print("\n| case | label | voxels | cnr | ld_cnr | dose | " + " | ".join(methods) + " |")
        print("|---|---|---|---|---|---|" + "---|" * len(methods))
        for row in sorted(rows, key=lambda row: row["cnr"] if _finite(row["cnr"]) else math.inf):
            cells = [
                row["case"],
                row["label"],
                str(row["voxels"]),
                _number(row["cnr"]),
                _number(row["ld_cnr"]),
            ]
            cells += [_dose(args.metadata, row["case"]), *(_number(row.get(method)) for method in methods)]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
