"""The methods a reproduction study compares: ours, the direct-regression baselines, and the ablations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_PLANS = "gdrPlans"
NO_NOISE_NORM_PLANS = "gdrPlansNoNoiseNorm"
NO_NOISE_NORM_PLANNER = "ExperimentPlanner_NoNoiseNorm"


@dataclass(frozen=True)
class StudyMethod:
    """One trained model of the study.

    Attributes:
        key: short identifier (folder names, table rows).
        label: row label in the report.
        trainer: registered trainer class.
        plans: plans identifier (the no-noise-normalisation ablation has its own preprocessed data).
        role: ``core`` (ours and the baselines, equal budget) or ``ablation``.
        writes_sdplus: the model predicts a contrast signal, so LD + signal (SD+) exists.
    """

    key: str
    label: str
    trainer: str
    plans: str = DEFAULT_PLANS
    role: Literal["core", "ablation"] = "core"
    writes_sdplus: bool = True


OURS = StudyMethod("ours", "ours", "GDRTrainer")
# ours again at the ablations' (shorter) budget: the row the ablations are compared with
ABLATION_REFERENCE = StudyMethod(
    "ours_ablation_budget", "ours at the ablation budget", "GDRTrainer_Reference", role="ablation"
)
METHODS: tuple[StudyMethod, ...] = (
    OURS,
    StudyMethod("direct_2p5d", "direct 2.5D U-Net (L1+SSIM)", "GDRTrainer_DirectSD2p5D", writes_sdplus=False),
    StudyMethod("direct_3d", "direct 3D U-Net (L2)", "GDRTrainer_DirectSD3D", writes_sdplus=False),
    ABLATION_REFERENCE,
    StudyMethod("no_condition", "ours without conditioning", "GDRTrainer_NoCondition", role="ablation"),
    StudyMethod(
        "no_noise_norm", "ours without noise normalisation", "GDRTrainer", NO_NOISE_NORM_PLANS, "ablation"
    ),
    StudyMethod("concat_skips", "ours, concatenated skips", "GDRTrainer_ConcatSkips", role="ablation"),
    StudyMethod("strided_down", "ours, strided downsampling", "GDRTrainer_StridedDown", role="ablation"),
    StudyMethod(
        "uniform_weights", "ours, uniform loss weights", "GDRTrainer_UniformWeights", role="ablation"
    ),
)
BASELINES = tuple(method for method in METHODS if method.role == "core" and not method.writes_sdplus)


def select_methods(keys: list[str] | None) -> tuple[StudyMethod, ...]:
    """The methods named by ``keys`` (all when None), in the study's order; ours is always included."""
    if keys is None:
        return METHODS
    known = {method.key for method in METHODS}
    if unknown := set(keys) - known:
        raise ValueError(f"unknown study method(s) {sorted(unknown)}; known: {sorted(known)}")
    return tuple(method for method in METHODS if method.key in set(keys) | {OURS.key})
