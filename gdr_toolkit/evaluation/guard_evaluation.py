"""The hallucination guard (``CASE_unsupported``, three states) measured against the true standard dose.

The guard map holds per predicted region 0 not judged, 1 supported, 2 unsupported (documentation/
inference.md, "Hallucination guard"). Per case, with the evaluation frame's contrast-enhancing (CE) mask
``brain & (x_SD - x_PC > k sigma_SD)`` (k = ``ce_threshold_sigmas``, 3) as the truth of real enhancement:

    judged region         26-connected component of map == 1 or of map == 2
    truly hallucinated    a judged region with less than ``real_overlap`` (0.5) of its voxels in the CE
                          mask dilated by one voxel (registration tolerance)
    judged_regions, flagged_regions (map == 2), flagged_hallucinated_regions (true positives),
    flagged_real_regions (false regions), hallucinated_judged_regions (what the guard could catch)
    precision             flagged_hallucinated / flagged regions (null without flags)
    recall                flagged_hallucinated / hallucinated_judged regions: recall inside the
                          assessable set (null if none)
    flagged_ml, flagged_real_ml   volume of map == 2, and of it inside the CE mask
    hallucinated_ml       predicted enhancement that truly does not enhance, judged or not:
                          brain & (x - x_PC > k sigma_SD) & not CE, x the prediction (``CASE_sd``)

Pooled over cases: sums of the counts, then the ratios; ``false_regions_per_case``; 95 % percentile
bootstrap intervals over cases (``BOOTSTRAP_RESAMPLES`` resamples, fixed seed). A case without a judged
region is "nothing assessable" (``assessed`` false), distinct from a case judged without flags.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from gdr_toolkit.evaluation.case_evaluation import EvaluationFrame

GUARD_SUFFIX = "_unsupported"
SUPPORTED, UNSUPPORTED = 1, 2
BOOTSTRAP_RESAMPLES = 2000
CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class GuardMetrics:
    """Region counts and volumes (ml) of one case (module docstring); the ratios follow from them."""

    judged_regions: int
    flagged_regions: int
    flagged_hallucinated_regions: int
    hallucinated_judged_regions: int
    flagged_ml: float
    flagged_real_ml: float
    hallucinated_ml: float

    @property
    def flagged_real_regions(self) -> int:
        return self.flagged_regions - self.flagged_hallucinated_regions

    @property
    def assessed(self) -> bool:
        return self.judged_regions > 0

    @property
    def precision(self) -> float:
        return _ratio(self.flagged_hallucinated_regions, self.flagged_regions)

    @property
    def recall(self) -> float:
        return _ratio(self.flagged_hallucinated_regions, self.hallucinated_judged_regions)

    def to_json_dict(self) -> dict[str, Any]:
        ratios = {"precision": self.precision, "recall": self.recall}
        return {
            **asdict(self), "flagged_real_regions": self.flagged_real_regions, "assessed": self.assessed,
            **{key: None if math.isnan(value) else value for key, value in ratios.items()},
        }  # fmt: skip


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _judged_regions(states: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(state, bool mask) per 26-connected component of each judged state."""
    regions = []
    for state in (SUPPORTED, UNSUPPORTED):
        labels, count = ndimage.label(states == state, structure=CONNECTIVITY)
        for box_index, box in enumerate(ndimage.find_objects(labels), start=1):
            mask = np.zeros(states.shape, dtype=bool)
            mask[box] = labels[box] == box_index
            regions.append((state, mask))
    return regions


def evaluate_guard(
    unsupported: np.ndarray,
    prediction: np.ndarray,
    frame: EvaluationFrame,
    voxel_volume_ml: float,
    ce_threshold_sigmas: float = 3.0,
    real_overlap: float = 0.5,
) -> GuardMetrics:
    """The guard's region counts and volumes of one case against the truth (module docstring).

    Args:
        unsupported: ``(z, y, x)`` three-state guard map on the reference grid (0/1/2).
        prediction: raw predicted x_SD ``(z, y, x)`` (``CASE_sd``), x_PC's units.
        frame: the case's frame; needs x_PC (``frame.ce_mask`` not None).
        voxel_volume_ml: volume of one voxel in ml.
        ce_threshold_sigmas: k of the CE rule (``MetricOptions.ce_threshold_sigmas``).
        real_overlap: a judged region with at least this share of voxels in the dilated CE mask is real.

    Raises:
        ValueError: the frame has no pre-contrast scan (no CE mask), or the shapes differ.
    """
    if frame.ce_mask is None or frame.pre_contrast is None or frame.noise_sigma is None:
        raise ValueError("the guard evaluation needs the pre-contrast folder (-pc): no CE mask without x_PC.")
    if np.shape(unsupported) != frame.ce_mask.shape or np.shape(prediction) != frame.ce_mask.shape:
        raise ValueError(
            f"guard map {np.shape(unsupported)} and prediction {np.shape(prediction)} must have the "
            f"reference's shape {frame.ce_mask.shape}."
        )
    states = np.asarray(unsupported)
    real = ndimage.binary_dilation(frame.ce_mask, structure=CONNECTIVITY)
    regions = [(state, float(real[mask].mean()) < real_overlap) for state, mask in _judged_regions(states)]
    enhancement = np.asarray(prediction, dtype=np.float64) / frame.scale - frame.pre_contrast
    hallucinated = frame.brain_mask & (enhancement > ce_threshold_sigmas * frame.noise_sigma) & ~frame.ce_mask
    flagged = states == UNSUPPORTED
    return GuardMetrics(
        judged_regions=len(regions),
        flagged_regions=sum(state == UNSUPPORTED for state, _ in regions),
        flagged_hallucinated_regions=sum(state == UNSUPPORTED and fake for state, fake in regions),
        hallucinated_judged_regions=sum(fake for _, fake in regions),
        flagged_ml=float(flagged.sum() * voxel_volume_ml),
        flagged_real_ml=float((flagged & frame.ce_mask).sum() * voxel_volume_ml),
        hallucinated_ml=float(hallucinated.sum() * voxel_volume_ml),
    )


def _pooled(counts: np.ndarray) -> dict[str, float]:
    """Pooled figures of a (cases, 4) array of judged, flagged, flagged-hallucinated, hallucinated-judged."""
    judged, flagged, hits, fakes = counts.sum(axis=0)
    return {
        "precision": _ratio(hits, flagged), "recall": _ratio(hits, fakes),
        "false_regions_per_case": float(flagged - hits) / len(counts),
        "flagged_regions_per_case": float(flagged) / len(counts),
    }  # fmt: skip


def bootstrap_intervals(
    counts: np.ndarray, level: float = 0.95, seed: int = 0
) -> dict[str, list[float] | None]:
    """Percentile bootstrap over cases of :func:`_pooled`'s figures: ``[low, high]`` or None (undefined in
    more than half of the resamples, e.g. no flag at all)."""
    rng = np.random.default_rng(seed)
    draws = [_pooled(counts[rng.integers(0, len(counts), len(counts))]) for _ in range(BOOTSTRAP_RESAMPLES)]
    intervals: dict[str, list[float] | None] = {}
    for name in draws[0]:
        values = np.array([draw[name] for draw in draws])
        values = values[np.isfinite(values)]
        if values.size < BOOTSTRAP_RESAMPLES / 2:
            intervals[name] = None
            continue
        tail = 50.0 * (1.0 - level)
        intervals[name] = [float(v) for v in np.percentile(values, [tail, 100.0 - tail])]
    return intervals


def guard_json(cases: dict[str, GuardMetrics]) -> dict[str, Any]:
    """The ``hallucination_guard`` block of ``summary.json``: per case, pooled and the intervals."""
    names = (
        "judged_regions",
        "flagged_regions",
        "flagged_hallucinated_regions",
        "hallucinated_judged_regions",
    )
    counts = np.array([[getattr(metrics, name) for name in names] for metrics in cases.values()], dtype=float)
    pooled: dict[str, Any] = {"n_cases": len(cases), "n_assessed": sum(m.assessed for m in cases.values())}
    for name in (*names, "flagged_ml", "flagged_real_ml", "hallucinated_ml"):
        pooled[name] = sum(getattr(metrics, name) for metrics in cases.values())
    if cases:
        figures = _pooled(counts)
        pooled.update({key: None if math.isnan(value) else value for key, value in figures.items()})
        pooled["intervals_95"] = bootstrap_intervals(counts)
    return {"cases": {case: metrics.to_json_dict() for case, metrics in cases.items()}, "pooled": pooled}


def guard_text(pooled: dict[str, Any]) -> str:
    """One line for the log: flags, precision and recall with intervals, or that nothing was assessable."""
    if not pooled.get("n_assessed"):
        return f"hallucination guard ({pooled['n_cases']} cases): nothing assessable, no region was judged"
    intervals = pooled.get("intervals_95", {})

    def figure(name: str) -> str:
        value, interval = pooled.get(name), intervals.get(name)
        text = "undefined" if value is None else f"{value:.3g}"
        return text + ("" if interval is None else f" [{interval[0]:.3g}, {interval[1]:.3g}]")

    flags = (
        "nothing flagged"
        if not pooled["flagged_regions"]
        else f"{pooled['flagged_regions']:.0f} regions flagged"
    )
    return (
        f"hallucination guard ({pooled['n_cases']} cases, {pooled['n_assessed']} assessed, "
        f"{pooled['judged_regions']:.0f} regions judged): {flags}; precision {figure('precision')}, "
        f"recall {figure('recall')}, false regions per case {figure('false_regions_per_case')} (95 % bootstrap)"
    )
