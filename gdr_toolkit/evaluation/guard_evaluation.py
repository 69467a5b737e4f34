"""The hallucination guard (``CASE_unsupported``) measured against the true standard dose.

Per case, with the evaluation frame's contrast-enhancing (CE) mask, ``brain & (x_SD - x_PC > k sigma_SD)``
(k = ``ce_threshold_sigmas``, 3; ``case_evaluation``), as the truth of "real enhancement":

    flagged_ml            volume of CASE_unsupported > 0
    flagged_real_ml       flagged voxels that truly enhance (flagged & CE): the guard's false alarms
    flagged_real_fraction flagged_real_ml / flagged_ml ("how much flagged signal was real"; null if none)
    precision             1 - flagged_real_fraction: the flagged volume that truly does not enhance
    hallucinated_ml       predicted enhancement that truly does not enhance: brain & (x - x_PC > k sigma_SD)
                          & not CE, x the prediction (``CASE_sd``) in the frame's units
    recall                flagged & hallucinated / hallucinated (null if nothing is hallucinated)

Pooled over cases by volume (sums of the volumes, then the ratios), so large flagged regions weigh more.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gdr_toolkit.evaluation.case_evaluation import EvaluationFrame

GUARD_SUFFIX = "_unsupported"


@dataclass(frozen=True)
class GuardMetrics:
    """Volumes (ml) of one case (module docstring); the ratios follow from them."""

    flagged_ml: float
    flagged_real_ml: float
    hallucinated_ml: float
    hallucinated_flagged_ml: float

    @property
    def flagged_real_fraction(self) -> float:
        return self.flagged_real_ml / self.flagged_ml if self.flagged_ml > 0 else math.nan

    @property
    def precision(self) -> float:
        return 1.0 - self.flagged_real_fraction

    @property
    def recall(self) -> float:
        return self.hallucinated_flagged_ml / self.hallucinated_ml if self.hallucinated_ml > 0 else math.nan

    def to_json_dict(self) -> dict[str, float | None]:
        ratios = {"flagged_real_fraction": self.flagged_real_fraction, "precision": self.precision}
        ratios["recall"] = self.recall
        return {
            **asdict(self),
            **{key: None if math.isnan(value) else value for key, value in ratios.items()},
        }


def evaluate_guard(
    unsupported: np.ndarray,
    prediction: np.ndarray,
    frame: EvaluationFrame,
    voxel_volume_ml: float,
    ce_threshold_sigmas: float = 3.0,
) -> GuardMetrics:
    """The guard's volumes of one case against the truth (module docstring).

    Args:
        unsupported: ``(z, y, x)`` guard map on the reference grid, non-zero = flagged.
        prediction: raw predicted x_SD ``(z, y, x)`` (``CASE_sd``), x_PC's units.
        frame: the case's frame; needs x_PC (``frame.ce_mask`` not None).
        voxel_volume_ml: volume of one voxel in ml.
        ce_threshold_sigmas: k of the CE rule (``MetricOptions.ce_threshold_sigmas``).

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
    flagged = np.asarray(unsupported) > 0
    enhancement = np.asarray(prediction, dtype=np.float64) / frame.scale - frame.pre_contrast
    predicted = frame.brain_mask & (enhancement > ce_threshold_sigmas * frame.noise_sigma)
    hallucinated = predicted & ~frame.ce_mask
    return GuardMetrics(
        flagged_ml=float(flagged.sum() * voxel_volume_ml),
        flagged_real_ml=float((flagged & frame.ce_mask).sum() * voxel_volume_ml),
        hallucinated_ml=float(hallucinated.sum() * voxel_volume_ml),
        hallucinated_flagged_ml=float((hallucinated & flagged).sum() * voxel_volume_ml),
    )


def guard_json(cases: dict[str, GuardMetrics]) -> dict[str, Any]:
    """The ``hallucination_guard`` block of ``summary.json``: per case and pooled by volume."""
    pooled = GuardMetrics(
        *(
            sum(getattr(metrics, name) for metrics in cases.values())
            for name in GuardMetrics.__dataclass_fields__
        )
    )
    return {
        "cases": {case: metrics.to_json_dict() for case, metrics in cases.items()},
        "pooled": {**pooled.to_json_dict(), "n_cases": len(cases)},
    }
