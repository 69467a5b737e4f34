"""Paired t-tests between two evaluated methods (the p-values of the paper's tables).

Values are paired by key: the case id for case metrics (psnr_i, psnr_b, ssim, mae_ce) and
``CASE/LABEL`` for lesion metrics (psnr_l, c_bar, c_hat). Only keys present in both sets with finite
values in both enter the test (:func:`scipy.stats.ttest_rel`, two-sided).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from gdr_toolkit.evaluation.summary import CASE_METRICS, LESION_METRICS


@dataclass(frozen=True)
class PairedTestResult:
    """Result of a two-sided paired t-test of ``a - b``.

    Attributes:
        mean_difference: mean of ``a - b`` over the pairs (the metric's units).
        t_statistic: t (NaN when the differences are all equal).
        p_value: two-sided p (NaN when the differences are all equal).
        n: number of pairs used.
        n_unpaired: keys left out (missing in one set, or non-finite in either).
    """

    mean_difference: float
    t_statistic: float
    p_value: float
    n: int
    n_unpaired: int


def paired_t_test(
    values_a: Mapping[str, float | None], values_b: Mapping[str, float | None]
) -> PairedTestResult:
    """Paired t-test of ``values_a[key] - values_b[key]`` over the keys both hold with finite values.

    Raises:
        ValueError: fewer than two pairs.
    """
    keys = sorted(set(values_a) | set(values_b))
    pairs = [
        (values_a[key], values_b[key])
        for key in keys
        if _finite(values_a.get(key)) and _finite(values_b.get(key))
    ]
    if len(pairs) < 2:
        raise ValueError(f"a paired t-test needs at least 2 pairs with finite values, got {len(pairs)}.")
    a, b = (np.array(column, dtype=np.float64) for column in zip(*pairs, strict=True))
    difference = a - b
    if np.all(difference == difference[0]):
        t_statistic = p_value = math.nan  # zero variance: the t statistic is undefined
    else:
        result = stats.ttest_rel(a, b)
        t_statistic, p_value = float(result.statistic), float(result.pvalue)
    return PairedTestResult(
        float(difference.mean()), t_statistic, p_value, len(pairs), len(keys) - len(pairs)
    )


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def summary_values(summary: Mapping[str, Any], method: str, metric: str) -> dict[str, float | None]:
    """Per-key values of ``metric`` for ``method`` from a ``summary.json`` dict (None where null).

    Raises:
        KeyError: the method is not in the summary.
        ValueError: unknown metric.
    """
    methods = summary.get("methods", {})
    if method not in methods:
        raise KeyError(f"method {method!r} is not in the summary; it has {sorted(methods)}.")
    cases = methods[method]["cases"]
    if metric in CASE_METRICS:
        return {case: record[metric] for case, record in cases.items()}
    if metric in LESION_METRICS:
        return {
            f"{case}/{label}": lesion[metric]
            for case, record in cases.items()
            for label, lesion in record["lesions"].items()
        }
    raise ValueError(f"metric must be one of {CASE_METRICS + LESION_METRICS}, got {metric!r}.")


def compare_summaries(
    summary_a: Mapping[str, Any], method_a: str, summary_b: Mapping[str, Any], method_b: str
) -> dict[str, PairedTestResult | None]:
    """Paired t-test per metric of ``method_a`` in ``summary_a`` against ``method_b`` in ``summary_b``.

    Returns:
        ``{metric: result}``; None for a metric with fewer than two finite pairs.
    """
    results: dict[str, PairedTestResult | None] = {}
    for metric in CASE_METRICS + LESION_METRICS:
        try:
            results[metric] = paired_t_test(
                summary_values(summary_a, method_a, metric), summary_values(summary_b, method_b, metric)
            )
        except ValueError:
            results[metric] = None
    return results
