"""Per-case draws that make simulated cases span real scans: anatomy, head size, noise correlation and
skull stripping.

Everything here comes from the case's eighth random stream (the 8th child of the case's SeedSequence;
spawning one more child leaves the first seven, and so every older case, unchanged), in a fixed order
whatever the settings: changing one share or range changes no other draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdr_toolkit.simulation.settings import SimulationSettings


@dataclass(frozen=True)
class CaseVariation:
    """How one case differs from the plain phantom.

    Attributes:
        anatomy: the brain the case is built on (``anatomy_sources.ANATOMIES``).
        head_scale: global linear size of the head relative to that atlas (1: unchanged).
        noise_correlation_voxels: Gaussian std of the noise correlation per grid axis (x, y, z order of
            ``GetSpacing()``) in voxels of each scan's grid, or None for white noise.
        skull_stripped: the scans are stored brain-extracted (zero outside the dilated brain mask).
        skull_strip_dilation_mm: the mask's dilation in mm (meaningful when ``skull_stripped``).
        coregistered: LD and SD are delivered on PC's grid without motion.
    """

    anatomy: str = "mni152"
    head_scale: float = 1.0
    noise_correlation_voxels: tuple[float, float, float] | None = None
    skull_stripped: bool = False
    skull_strip_dilation_mm: float = 0.0
    coregistered: bool = False

    def record(self) -> dict[str, Any]:
        """The JSON ground-truth record (``metadata["simulation"]["variation"]``)."""
        correlation = self.noise_correlation_voxels
        return {
            "anatomy": self.anatomy,
            "head_scale": round(self.head_scale, 6),
            "noise_correlation_voxels": None if correlation is None else [round(v, 6) for v in correlation],
            "skull_stripped": self.skull_stripped,
            "coregistered": self.coregistered,
            "skull_strip_dilation_mm": round(self.skull_strip_dilation_mm, 6)
            if self.skull_stripped
            else None,
        }


def draw_snr(settings: SimulationSettings, rng: np.random.Generator) -> float:
    """The case's SNR from ``settings.snr_range`` (uniform, or log-uniform): one uniform draw either way."""
    low, high = settings.snr_range
    if settings.snr_distribution == "log_uniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def draw_case_variation(settings: SimulationSettings, rng: np.random.Generator) -> CaseVariation:
    """Draw the variation of one case (a fixed sequence of draws, see the module docstring).

    Args:
        settings: anatomies, head-scale range, shares and ranges of correlated noise and skull stripping.
        rng: the case's variation stream.
    """
    anatomy_draw = float(rng.random())
    head_scale = float(rng.uniform(*settings.head_scale_range))
    correlated = rng.random() < settings.correlated_noise_fraction
    correlation = rng.uniform(*settings.noise_correlation_voxels_range, size=3)
    stripped = rng.random() < settings.skull_strip_fraction
    dilation_mm = float(rng.uniform(*settings.skull_strip_dilation_mm_range))
    coregistered = rng.random() < settings.coregistered_fraction
    anatomy = settings.anatomies[
        min(int(anatomy_draw * len(settings.anatomies)), len(settings.anatomies) - 1)
    ]
    return CaseVariation(
        anatomy=anatomy,
        head_scale=head_scale,
        noise_correlation_voxels=(float(correlation[0]), float(correlation[1]), float(correlation[2]))
        if correlated
        else None,
        skull_stripped=bool(stripped),
        skull_strip_dilation_mm=dilation_mm if stripped else 0.0,
        coregistered=bool(coregistered),
    )
