"""Simulated cases for the hallucination guard: real lesions correctly predicted, hallucinations inserted.

Cheap (no registration, no network) and close to what the guard meets in the pipeline: the preprocessed
case is built with the pipeline's own noise step (:func:`~gdr_toolkit.preprocessing.noise.process_subtraction`,
eq. 1 on or off) and valid-data fill, so that the guard is run exactly as the predictor runs it.

A case (``GuardScenario``): a head-shaped ellipsoid of tissue classes (WM 1.0, GM 0.75, CSF 0.3, edges
smoothed over a voxel: partial volume), PC = anatomy + noise, LD = anatomy + dose_response x lesions +
noise, the subtraction's noise std ``noise_sigma`` (each scan sigma / sqrt 2). Options:

    correlated_noise_voxels  each scan's noise is white noise smoothed by a Gaussian of this std (voxels)
    misregistration_voxels   LD is shifted by this (random direction, linear interpolation) against PC
    offset_sigmas            a slow multiplicative LD/PC mismatch whose amplitude in the subtraction is
                             this many noise stds (bias-field or radiometric residue)
    skull_stripped           both scans 0 outside the brain; the case's brain mask is 3 voxels larger
                             (an atlas mask that overshoots the stripped brain)
    cropped                  LD covers only the lower ``1 - cropped_fraction`` of the z axis (a slab):
                             outside, its valid mask is 0 and its arrays are filled as the pipeline does

Real lesions are balls with a partial-volume edge, amplitude (SD contrast) drawn in
``real_amplitude_sigmas`` noise stds; the prediction holds them exactly, the LD holds dose_response x them
(dose_response = d: the lower bound of the SPGR signal model, the hardest case for false flags).
Hallucinations are predicted balls without any LD signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gdr_toolkit.preprocessing.case_preprocessing import CaseProperties, PreprocessedCase
from gdr_toolkit.preprocessing.noise import NoiseOptions, process_subtraction
from gdr_toolkit.preprocessing.valid_fill import fill_outside_valid


@dataclass(frozen=True)
class GuardScenario:
    """One family of simulated guard cases (module docstring); lengths in mm, amplitudes in noise stds."""

    shape: tuple[int, int, int] = (48, 48, 48)
    spacing_mm: float = 2.0
    dose: float = 0.25
    noise_sigma: float = 0.03
    real_radii_mm: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 7.5)
    real_amplitude_sigmas: tuple[float, float] = (5.0, 30.0)
    hallucination_radii_mm: tuple[float, ...] = ()
    hallucination_amplitude_sigmas: float = 10.0
    noise_normalised: bool = True
    correlated_noise_voxels: float = 0.0
    misregistration_voxels: float = 0.5
    offset_sigmas: float = 0.5
    skull_stripped: bool = False
    cropped: bool = False
    cropped_fraction: float = 0.3


@dataclass(frozen=True, eq=False)
class GuardScenarioCase:
    """A simulated case: the preprocessed case, the prediction y~ and the truth.

    Attributes:
        case: the preprocessed case (arrays ``x_pc``, ``x_ld``, ``z_ld``, ``s_ld``, ``brain_mask``,
            ``valid_mask``; condition with ``dose_fraction``).
        prediction: y~, float64 ``(z, y, x)``: real lesions and hallucinations.
        hallucinations: bool ``(n, z, y, x)``, one mask per inserted hallucination.
        real: bool ``(z, y, x)``, the real lesions.
    """

    case: PreprocessedCase
    prediction: np.ndarray
    hallucinations: np.ndarray
    real: np.ndarray


def _anatomy(scenario: GuardScenario, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tissue intensities (float64) and the brain (bool): an ellipsoid filling ~80 % of the field."""
    grid = np.indices(scenario.shape, dtype=np.float64)
    centre = [(size - 1) / 2 for size in scenario.shape]
    radii = [0.42 * size for size in scenario.shape]
    brain = sum(((axis - c) / r) ** 2 for axis, c, r in zip(grid, centre, radii, strict=True)) <= 1.0
    field = ndimage.gaussian_filter(rng.normal(size=scenario.shape), 4.0 / scenario.spacing_mm * 2)
    field /= field.std()
    tissue = np.where(field > 0.3, 1.0, np.where(field > -0.9, 0.75, 0.3))
    tissue = ndimage.gaussian_filter(np.where(brain, tissue, 0.15), 0.7)
    return tissue, brain


def _ball(shape: tuple[int, ...], centre: np.ndarray, radius_voxels: float) -> np.ndarray:
    """A ball with a linear partial-volume edge one voxel wide (float64 in [0, 1]), computed in its box."""
    ball = np.zeros(shape)
    low = [max(0, int(np.floor(c - radius_voxels - 1))) for c in centre]
    high = [min(n, int(np.ceil(c + radius_voxels + 2))) for c, n in zip(centre, shape, strict=True)]
    grid = np.ogrid[tuple(slice(a, b) for a, b in zip(low, high, strict=True))]
    distance = np.sqrt(sum((axis - c) ** 2 for axis, c in zip(grid, centre, strict=True)))
    ball[tuple(slice(a, b) for a, b in zip(low, high, strict=True))] = np.clip(
        radius_voxels - distance + 0.5, 0.0, 1.0
    )
    return ball


def _place(brain: np.ndarray, radii_voxels: list[float], rng: np.random.Generator) -> list[np.ndarray]:
    """Non-overlapping ball profiles inside the brain (a gap of 3 voxels), placed largest first, returned
    in the order of ``radii_voxels``."""
    inner = ndimage.distance_transform_edt(brain)
    taken = np.zeros(brain.shape, dtype=bool)
    balls: dict[int, np.ndarray] = {}
    for index in sorted(range(len(radii_voxels)), key=lambda i: -radii_voxels[i]):
        radius = radii_voxels[index]
        for _ in range(200):
            candidates = np.argwhere((inner > radius + 2) & ~taken)
            centre = candidates[rng.integers(len(candidates))].astype(np.float64)
            ball = _ball(brain.shape, centre, radius)
            grown = _ball(brain.shape, centre, radius + 3.0) > 0
            if not (grown & taken).any():
                taken |= ball > 0
                balls[index] = ball
                break
        else:
            raise ValueError(f"no room for a ball of radius {radius} voxels; use fewer or smaller lesions.")
    return [balls[index] for index in range(len(radii_voxels))]


def _noise(scenario: GuardScenario, rng: np.random.Generator) -> np.ndarray:
    """One scan's noise: std noise_sigma / sqrt 2 after smoothing by ``correlated_noise_voxels``."""
    white = rng.normal(size=scenario.shape)
    if scenario.correlated_noise_voxels > 0:
        white = ndimage.gaussian_filter(white, scenario.correlated_noise_voxels)
        white /= white.std()
    return white * scenario.noise_sigma / math.sqrt(2.0)


def _shift(volume: np.ndarray, voxels: float, rng: np.random.Generator) -> np.ndarray:
    if voxels <= 0:
        return volume
    direction = rng.normal(size=3)
    return ndimage.shift(volume, voxels * direction / np.linalg.norm(direction), order=1, mode="nearest")


def _lesions(
    scenario: GuardScenario, brain: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(real lesions' SD signal, the prediction, bool (n, z, y, x) hallucination masks)."""
    radii = [r / scenario.spacing_mm for r in (*scenario.real_radii_mm, *scenario.hallucination_radii_mm)]
    profiles = _place(brain, radii, rng)
    count = len(scenario.real_radii_mm)
    low, high = scenario.real_amplitude_sigmas
    amplitudes = [rng.uniform(low, high) for _ in range(count)]
    amplitudes += [scenario.hallucination_amplitude_sigmas] * len(scenario.hallucination_radii_mm)
    lesions = [scenario.noise_sigma * a * p for a, p in zip(amplitudes, profiles, strict=True)]
    real = np.sum(lesions[:count], axis=0) if count else np.zeros(scenario.shape)
    prediction = np.sum(lesions, axis=0) if lesions else np.zeros(scenario.shape)
    hallucinations = np.zeros((len(profiles) - count, *scenario.shape), dtype=bool)
    for index, profile in enumerate(profiles[count:]):
        hallucinations[index] = profile > 0
    return real, prediction, hallucinations


def simulate_guard_case(scenario: GuardScenario, seed: int) -> GuardScenarioCase:
    """One case of ``scenario`` (module docstring); ``seed`` fixes everything."""
    rng = np.random.default_rng(seed)
    anatomy, brain = _anatomy(scenario, rng)
    real, prediction, hallucinations = _lesions(scenario, brain, rng)
    offset = ndimage.gaussian_filter(rng.normal(size=scenario.shape), 12.0 / scenario.spacing_mm)
    offset *= scenario.offset_sigmas * scenario.noise_sigma / max(float(np.abs(offset).max()), 1e-12)
    pre_contrast = anatomy + _noise(scenario, rng)
    low_dose = _shift(anatomy * (1.0 + offset) + scenario.dose * real + _noise(scenario, rng),
                      scenario.misregistration_voxels, rng)  # fmt: skip
    stripped = brain if scenario.skull_stripped else np.ones(scenario.shape, dtype=bool)
    pre_contrast, low_dose = np.where(stripped, pre_contrast, 0.0), np.where(stripped, low_dose, 0.0)
    mask = ndimage.binary_dilation(brain, iterations=3) if scenario.skull_stripped else brain
    valid = np.ones(scenario.shape, dtype=bool)
    if scenario.cropped:
        valid[int(round((1.0 - scenario.cropped_fraction) * scenario.shape[0])) :] = False
    case = _preprocessed(scenario, pre_contrast, low_dose, mask, valid)
    return GuardScenarioCase(case, prediction, hallucinations, real > 0)


def _preprocessed(
    scenario: GuardScenario,
    pre_contrast: np.ndarray,
    low_dose: np.ndarray,
    brain: np.ndarray,
    valid: np.ndarray,
) -> PreprocessedCase:
    """The pipeline's noise step and valid-data fill on the two scans (no registration)."""
    spacing = (scenario.spacing_mm,) * 3
    low_dose = np.where(valid, low_dose, 0.0)
    region = brain & valid
    result = process_subtraction(
        low_dose, pre_contrast, region, spacing, None, NoiseOptions(normalise=scenario.noise_normalised)
    )
    x_ld, z_ld, s_ld = fill_outside_valid(
        low_dose, pre_contrast, result.subtraction, result.local_statistics.std, valid, region
    )
    arrays = {
        "x_pc": pre_contrast.astype(np.float32), "x_ld": x_ld, "z_ld": z_ld, "s_ld": s_ld,
        "brain_mask": brain.astype(np.uint8), "valid_mask": valid.astype(np.uint8),
    }  # fmt: skip
    size = [float(value) for value in reversed(scenario.shape)]
    properties = CaseProperties(
        geometry={"size": size, "spacing_mm": list(spacing), "origin_mm": [0.0] * 3,
                  "direction": [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]},
        intensity_scales={"pre_contrast": 1.0, "low_dose": 1.0}, radiometric_scales={"low_dose": 1.0},
        noise_sigma_ld=float(result.noise_sigma), noise_sigma_sd=None, gamma_statistic=None,
        noise_normalised=scenario.noise_normalised,
        brain_volume_ml=float(brain.sum() * scenario.spacing_mm**3 / 1000.0),
        condition={"dose_fraction": scenario.dose}, transforms={}, step_seconds={},
    )  # fmt: skip
    return PreprocessedCase(arrays, properties, {})


@dataclass(frozen=True)
class GuardScore:
    """Per-region outcome of one guarded case against its truth.

    Attributes:
        false_regions: connected unsupported regions (state 2) that touch no hallucination.
        hallucinations: inserted hallucinations.   flagged: of those, touched by state 2.
        judged: of those, touched by state 1 or 2.
    """

    false_regions: int
    hallucinations: int
    flagged: int
    judged: int


def score_guard(states: np.ndarray, simulated: GuardScenarioCase) -> GuardScore:
    """Compare a three-state guard map (0/1/2) with the inserted hallucinations."""
    labels, count = ndimage.label(states == 2, structure=np.ones((3, 3, 3), dtype=bool))
    touched = set(np.unique(labels[simulated.hallucinations.any(axis=0)]).tolist()) - {0}
    flagged = sum(bool((states[mask] == 2).any()) for mask in simulated.hallucinations)
    judged = sum(bool((states[mask] > 0).any()) for mask in simulated.hallucinations)
    return GuardScore(count - len(touched), len(simulated.hallucinations), flagged, judged)
