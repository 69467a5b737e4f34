"""Where the agent goes: enhancing compartments and their gadolinium concentration at standard dose.

Four enhancing compartments, each with its own tissue fraction and concentration (mmol/L of tissue) at
the standard dose of 0.1 mmol/kg (other agents and doses scale it linearly, see :func:`dose_scale`):

- lesions (metastasis-like): 1-5 ellipsoids inside the brain, 3-20 mm; solid (C = c0 (1 - 0.3 rho^2))
  or ring-enhancing (rim C = c0 exp(-((rho - 0.8) / 0.18)^2) around a necrotic core at 0.1 c0), with
  rho the normalised ellipsoid radius; c0 in 0.2-0.6 mmol/L, faint lesions (25 %) at 15-35 % of that;
- vessels (blood, 0.4-0.7 mmol/L): a superior-sagittal-sinus-like tube above the brain midline and a
  few random smooth curves (cortical-vein-like) near the brain surface;
- choroid-plexus-like blobs in deep CSF (0.3-0.5 mmol/L);
- dura: the thin shell just outside the brain from :mod:`anatomy` (0.1-0.25 mmol/L).

Everything else has C = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdr_toolkit.simulation.anatomy import BrainMaps
from gdr_toolkit.simulation.settings import SimulationSettings

REFERENCE_DOSE_MMOL_PER_KG = 0.1
SINUS_RADIUS_MM = (3.0, 4.5)
VEIN_RADIUS_MM = (0.8, 1.6)
VEIN_COUNT = (3, 6)
VEIN_LENGTH_MM = (30.0, 80.0)
PLEXUS_COUNT = (2, 4)
PLEXUS_RADIUS_MM = (2.5, 4.5)
BLOOD_CONCENTRATION = (0.4, 0.7)
PLEXUS_CONCENTRATION = (0.3, 0.5)
DURA_CONCENTRATION = (0.1, 0.25)
LESION_CONCENTRATION = (0.2, 0.6)
FAINT_PROBABILITY = 0.25
FAINT_FACTOR = (0.15, 0.35)


@dataclass(frozen=True)
class Lesion:
    """One lesion in the atlas frame.

    Attributes:
        center_mm: centre, physical mm (LPS, atlas frame).
        radii_mm: ellipsoid semi-axes along x, y, z in mm.
        kind: "solid" or "ring".
        peak_concentration_mmol_per_l: c0 at the reference dose (0.1 mmol/kg).
    """

    center_mm: tuple[float, float, float]
    radii_mm: tuple[float, float, float]
    kind: str
    peak_concentration_mmol_per_l: float

    @property
    def diameter_mm(self) -> float:
        return float(2.0 * np.cbrt(np.prod(self.radii_mm)))


@dataclass(frozen=True)
class EnhancementMaps:
    """Enhancing compartments on the working grid (arrays (z, y, x), float32).

    Attributes:
        fractions: tissue fraction per compartment ("lesion", "blood", "choroid_plexus", "dura").
        concentrations: concentration per compartment at the reference dose, mmol/L (array or scalar).
        lesion_labels: uint16, lesion k (1-based) where its rho <= 1, else 0.
        lesions: the lesions, label k = index + 1.
    """

    fractions: dict[str, np.ndarray]
    concentrations: dict[str, np.ndarray | float]
    lesion_labels: np.ndarray
    lesions: tuple[Lesion, ...]

    def mean_concentration(self) -> np.ndarray:
        """Voxel-average concentration sum_k f_k C_k at the reference dose, mmol/L."""
        total = np.zeros(self.lesion_labels.shape, dtype=np.float32)
        for name, fraction in self.fractions.items():
            total += fraction * self.concentrations[name]
        return total


def dose_scale(dose_fraction: float, standard_dose_mmol_per_kg: float) -> float:
    """Factor from the reference-dose concentration to the given dose: linear in the injected amount."""
    return dose_fraction * standard_dose_mmol_per_kg / REFERENCE_DOSE_MMOL_PER_KG


def _index_of(maps: BrainMaps, point_mm: np.ndarray) -> np.ndarray:
    """Continuous (z, y, x) index of a physical point on the (identity-direction) working grid."""
    origin, spacing = np.array(maps.grid.GetOrigin()), np.array(maps.grid.GetSpacing())
    return ((np.asarray(point_mm) - origin) / spacing)[::-1]


def _box(maps: BrainMaps, center_mm: np.ndarray, reach_mm: float):
    """Slices of the grid around a point and the physical offsets (dz, dy, dx arrays) within them."""
    spacing = maps.grid.GetSpacing()[::-1]
    center = _index_of(maps, center_mm)
    shape = maps.brain.shape
    slices, offsets = [], []
    for axis in range(3):
        low = max(int(np.floor(center[axis] - reach_mm / spacing[axis])), 0)
        high = min(int(np.ceil(center[axis] + reach_mm / spacing[axis])) + 1, shape[axis])
        slices.append(slice(low, max(high, low)))
        offset = (np.arange(low, max(high, low)) - center[axis]) * spacing[axis]
        offsets.append(offset.reshape([-1 if k == axis else 1 for k in range(3)]))
    return tuple(slices), offsets


def _paint_ball(target: np.ndarray, maps: BrainMaps, center_mm: np.ndarray, radius_mm: float) -> None:
    """target = max(target, soft ball fraction) in place (edge ramp one voxel wide)."""
    width = float(min(maps.grid.GetSpacing()))
    slices, (dz, dy, dx) = _box(maps, center_mm, radius_mm + width)
    distance = np.sqrt(dz**2 + dy**2 + dx**2)
    ball = np.clip((radius_mm - distance) / width + 0.5, 0.0, 1.0)
    np.maximum(target[slices], ball, out=target[slices])


def _paint_tube(target: np.ndarray, maps: BrainMaps, points_mm: np.ndarray, radius_mm: float) -> None:
    step = 0.5 * float(min(maps.grid.GetSpacing()))
    for start, end in zip(points_mm[:-1], points_mm[1:], strict=True):
        count = max(int(np.ceil(np.linalg.norm(end - start) / step)), 1)
        for fraction in np.arange(count) / count:
            _paint_ball(target, maps, start + fraction * (end - start), radius_mm)


def _random_point(maps: BrainMaps, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    flat = candidates[rng.integers(len(candidates))]
    index = np.array(np.unravel_index(flat, maps.brain.shape)[::-1], dtype=float)
    return np.array(maps.grid.TransformContinuousIndexToPhysicalPoint(index.tolist()))


def draw_lesions(
    maps: BrainMaps,
    rng: np.random.Generator,
    count_range: tuple[int, int],
    diameter_range_mm: tuple[float, float],
) -> tuple[Lesion, ...]:
    """Draw non-overlapping lesions inside the brain (centres >= radius + 2 mm deep in brain tissue)."""
    count = int(rng.integers(count_range[0], count_range[1] + 1))
    tissue = (maps.grey_matter + maps.white_matter) > 0.5
    lesions: list[Lesion] = []
    for _ in range(count):
        diameter = float(np.exp(rng.uniform(*np.log(diameter_range_mm))))
        radii = 0.5 * diameter * rng.uniform(0.8, 1.25, size=3)
        candidates = np.flatnonzero(tissue & (maps.depth_inside_mm >= radii.max() + 2.0))
        kind = "ring" if diameter > 8.0 and rng.random() < 0.6 else "solid"
        peak = rng.uniform(*LESION_CONCENTRATION)
        if rng.random() < FAINT_PROBABILITY:
            peak *= rng.uniform(*FAINT_FACTOR)
        for _attempt in range(50):
            center = _random_point(maps, candidates, rng)
            if all(
                np.linalg.norm(center - other.center_mm) > radii.max() + max(other.radii_mm) + 2.0
                for other in lesions
            ):
                break
        lesions.append(Lesion(tuple(center.tolist()), tuple(radii.tolist()), kind, float(peak)))
    return tuple(lesions)


def paint_lesions(maps: BrainMaps, lesions: tuple[Lesion, ...]):
    """Fraction, concentration (reference dose, mmol/L) and labels of the lesions on the working grid."""
    fraction = np.zeros(maps.brain.shape, dtype=np.float32)
    concentration = np.zeros(maps.brain.shape, dtype=np.float32)
    labels = np.zeros(maps.brain.shape, dtype=np.uint16)
    width = float(min(maps.grid.GetSpacing()))
    for label, lesion in enumerate(lesions, start=1):
        radii = np.array(lesion.radii_mm)
        slices, (dz, dy, dx) = _box(maps, np.array(lesion.center_mm), radii.max() + width)
        rho = np.sqrt((dx / radii[0]) ** 2 + (dy / radii[1]) ** 2 + (dz / radii[2]) ** 2)
        soft = np.clip((1.0 - rho) * radii.mean() / width + 0.5, 0.0, 1.0)
        if lesion.kind == "ring":
            profile = np.exp(-(((rho - 0.8) / 0.18) ** 2)) + 0.1 * (rho < 0.8)
        else:
            profile = 1.0 - 0.3 * np.minimum(rho, 1.0) ** 2
        inside = soft > fraction[slices]
        concentration[slices] = np.where(
            inside, lesion.peak_concentration_mmol_per_l * profile, concentration[slices]
        )
        fraction[slices] = np.maximum(fraction[slices], soft)
        labels[slices] = np.where(rho <= 1.0, label, labels[slices])
    return fraction, concentration, labels


def sinus_centerline(maps: BrainMaps, radius_mm: float) -> np.ndarray:
    """Superior-sagittal-sinus-like curve: above the top of the brain in the midsagittal plane, (N, 3) mm."""
    x_index = int(round(_index_of(maps, np.zeros(3))[2]))
    midline = maps.brain[:, :, x_index] > 0.5  # (z, y)
    columns = np.flatnonzero(midline.any(axis=0))
    top = np.array([np.flatnonzero(midline[:, column]).max() for column in columns], dtype=float)
    top = np.convolve(np.pad(top, 3, mode="edge"), np.ones(7) / 7.0, mode="valid")
    spacing = np.array(maps.grid.GetSpacing())
    origin = np.array(maps.grid.GetOrigin())
    points = np.stack(
        [
            np.zeros_like(top),
            origin[1] + spacing[1] * columns,
            origin[2] + spacing[2] * top + radius_mm + 1.0,
        ],
        axis=1,
    )
    keep = points[:, 2] > points[:, 2].max() - 60.0  # the superior arc only
    return points[keep][:: max(int(round(4.0 / spacing[1])), 1)]


def vein_centerline(maps: BrainMaps, rng: np.random.Generator) -> np.ndarray:
    """A smooth random curve starting near the brain surface, (N, 3) mm (points 2 mm apart)."""
    candidates = np.flatnonzero((maps.depth_inside_mm > 1.0) & (maps.depth_inside_mm < 8.0))
    point = _random_point(maps, candidates, rng)
    direction = rng.standard_normal(3)
    points = [point]
    for _ in range(int(rng.uniform(*VEIN_LENGTH_MM) / 2.0)):
        direction = direction / np.linalg.norm(direction) + 0.25 * rng.standard_normal(3)
        point = point + 2.0 * direction / np.linalg.norm(direction)
        index = np.round(_index_of(maps, point)).astype(int)
        if (
            np.any(index < 0)
            or np.any(index >= maps.brain.shape)
            or maps.distance_outside_mm[tuple(index)] > 2.0
        ):
            break  # veins stay in or on the brain
        points.append(point)
    return np.array(points)


def simulate_enhancement(
    maps: BrainMaps, dura_fraction: np.ndarray, rng: np.random.Generator, settings: SimulationSettings
) -> EnhancementMaps:
    """Draw and paint all enhancing compartments at the reference dose.

    Args:
        maps: the atlas on the working grid.
        dura_fraction: the dura layer from :func:`anatomy.head_fractions`, float32 (z, y, x).
        rng: random generator (consumed).
        settings: :class:`SimulationSettings` (lesion count and diameter ranges).
    """
    lesions = draw_lesions(maps, rng, settings.lesion_count_range, settings.lesion_diameter_range_mm)
    lesion_fraction, lesion_concentration, labels = paint_lesions(maps, lesions)
    blood = np.zeros(maps.brain.shape, dtype=np.float32)
    sinus_radius = rng.uniform(*SINUS_RADIUS_MM)
    _paint_tube(blood, maps, sinus_centerline(maps, sinus_radius), sinus_radius)
    for _ in range(int(rng.integers(VEIN_COUNT[0], VEIN_COUNT[1] + 1))):
        _paint_tube(blood, maps, vein_centerline(maps, rng), rng.uniform(*VEIN_RADIUS_MM))
    plexus = np.zeros(maps.brain.shape, dtype=np.float32)
    deep_csf = np.flatnonzero((maps.csf > 0.8) & (maps.depth_inside_mm > 15.0))
    for _ in range(int(rng.integers(PLEXUS_COUNT[0], PLEXUS_COUNT[1] + 1))):
        _paint_ball(plexus, maps, _random_point(maps, deep_csf, rng), rng.uniform(*PLEXUS_RADIUS_MM))
    plexus *= maps.csf  # plexus grows into the ventricle only
    return EnhancementMaps(
        fractions={
            "lesion": lesion_fraction,
            "blood": blood,
            "choroid_plexus": plexus,
            "dura": dura_fraction,
        },
        concentrations={
            "lesion": lesion_concentration,
            "blood": float(rng.uniform(*BLOOD_CONCENTRATION)),
            "choroid_plexus": float(rng.uniform(*PLEXUS_CONCENTRATION)),
            "dura": float(rng.uniform(*DURA_CONCENTRATION)),
        },
        lesion_labels=labels,
        lesions=lesions,
    )
