"""The hallucination guard's parameters (``hallucination_guard``'s module docstring defines the symbols)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gdr_toolkit.inference.guard_noise import NoiseModelOptions


@dataclass(frozen=True)
class GuardOptions:
    """Parameters of the guard (symbols: ``hallucination_guard``'s module docstring).

    Attributes:
        signal_sigmas: t, predicted enhancement is q > t sigma (4: where eq. 2's CE mask reaches 0.99).
        fdr: Benjamini-Hochberg false discovery rate over a case's judged regions (0.05).
        min_power_sigmas: judge a region only when S_r >= this (3: a hallucination lies 3 noise stds below
            H0, flagged alone with probability ~0.9 at p < 0.05).
        dose_response_margin: rho_low = margin x d (0.5: room for misregistration, partial volume and
            magnitude errors of a correct prediction).
        dose_response_range: (min, max) of the estimated dose response k^.
        min_data_coverage: share of a region's predicted signal inside the LD's data needed to judge it.
        exclusion_mm: predicted support (q > 1 sigma) dilated by this is left out of the noise voxels.
        min_null_placements: a region whose template fits fewer times on noise voxels in its
            neighbourhood is not judged (100).
        misregistration_voxels: registration tolerance between LD and PC in voxels (0.5): H0 allows the
            LD's signal to be displaced by this in any direction (``RegionTest.expected_displaced``).
        noise: :class:`~gdr_toolkit.inference.guard_noise.NoiseModelOptions`.
    """

    signal_sigmas: float = 4.0
    fdr: float = 0.05
    min_power_sigmas: float = 3.0
    dose_response_margin: float = 0.5
    dose_response_range: tuple[float, float] = (0.05, 1.0)
    min_data_coverage: float = 0.5
    exclusion_mm: float = 4.0
    min_null_placements: int = 100
    misregistration_voxels: float = 0.5
    noise: NoiseModelOptions = field(default_factory=NoiseModelOptions)

    def __post_init__(self) -> None:
        for name in ("signal_sigmas", "min_power_sigmas", "exclusion_mm", "misregistration_voxels"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"GuardOptions.{name} must be a finite number >= 0, got {value}.")
        for name in ("fdr", "dose_response_margin", "min_data_coverage"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"GuardOptions.{name} must lie in (0, 1], got {value}.")
        low, high = self.dose_response_range
        if not 0 < low <= high <= 1:
            raise ValueError(f"dose_response_range must satisfy 0 < min <= max <= 1, got {(low, high)}.")
