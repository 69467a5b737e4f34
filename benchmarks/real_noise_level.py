"""Noise levels of real scans against the simulator's: what the network's sigma_LD condition has to span.

Real pair (PC + SD of one visit, by default the BraTS 2020 pair of the tests' ``real_pair``
fixture, ``tests/conftest.py``; skull-stripped, so the
brain is the scan's support): both scans divided by their 95th brain percentile (preprocessing's
normalisation) and SD radiometrically scaled to PC, then
- per-image noise: the residual after a Gaussian of 2 voxels, in homogeneous bright tissue (top 30 % of
  the smoothed brain, low gradient): its std and the median local std in 5^3 windows; and the residual's
  neighbour correlation per array axis (z, y, x);
- sigma of z~_SD = x_SD - x_PC with the toolkit's estimator (``estimate_noise_sigma``) on PC's grid and on
  network grids of 1.5, 2 and 3 mm (``network_grid_noise_factor``). This is an upper bound of the noise:
  PC and SD are different sequences, so z~ keeps some anatomy.

Simulated cases (``SimulationSettings()`` and ``SimulationSettings.real_scans()``): sigma of z~_LD as
preprocessing computes it, with the true brain mask and ideal alignment (LD resampled to PC through its
known motion), percentile and radiometric normalisation as in preprocessing. The simulated spacing is the
network spacing here, so this is sigma_LD on the network grid.

Run: ``python benchmarks/real_noise_level.py [--real-folder FOLDER] [-n 12] [--spacing 2]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from gdr_toolkit.preprocessing.intensity import normalise_intensity
from gdr_toolkit.preprocessing.network_noise import network_grid_noise_factor
from gdr_toolkit.preprocessing.noise import estimate_noise_sigma, subtraction_image
from gdr_toolkit.preprocessing.radiometric import estimate_radiometric_scale
from gdr_toolkit.simulation import SimulationSettings, simulate_case

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import REAL_FOLDER  # type: ignore[import-not-found]  # noqa: E402  # where the tests find the pair


def _normalised_pair(pre: np.ndarray, post: np.ndarray, brain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x_pc = normalise_intensity(pre, brain).image
    x_ce = normalise_intensity(post, brain).image
    return x_pc, x_ce * estimate_radiometric_scale(x_ce, x_pc, brain).scale


def per_image_noise(image: np.ndarray, brain: np.ndarray) -> dict[str, object]:
    """Residual std, median local std and neighbour correlation per axis in homogeneous bright tissue."""
    smooth = ndimage.gaussian_filter(image, 2.0)
    residual = image - smooth
    gradient = ndimage.generic_gradient_magnitude(smooth, ndimage.sobel)
    region = brain & (smooth > np.percentile(smooth[brain], 70)) & (gradient < 0.05)
    mean, square = ndimage.uniform_filter(image, 5), ndimage.uniform_filter(image * image, 5)
    local = np.sqrt(np.maximum(square - mean * mean, 0.0))
    correlation = []
    for axis in range(3):
        shifted, pair = np.roll(residual, 1, axis=axis), region & np.roll(region, 1, axis=axis)
        correlation.append(round(float(np.corrcoef(residual[pair], shifted[pair])[0, 1]), 3))
    return {
        "voxels": int(region.sum()),
        "residual_std": round(float(residual[region].std()), 4),
        "median_local_std": round(float(np.median(local[region])), 4),
        "neighbour_correlation_zyx": correlation,
    }


def measure_real_pair(folder: Path) -> None:
    pre_path, post_path = sorted(folder.glob("*_t1.nii.gz")), sorted(folder.glob("*_t1ce.nii.gz"))
    if not pre_path or not post_path:
        print(f"no *_t1.nii.gz / *_t1ce.nii.gz pair in {folder}; skipping the real pair")
        return
    pre_image = sitk.ReadImage(str(pre_path[0]), sitk.sitkFloat32)
    pre = sitk.GetArrayFromImage(pre_image)
    post = sitk.GetArrayFromImage(sitk.ReadImage(str(post_path[0]), sitk.sitkFloat32))
    support = ndimage.binary_fill_holes((pre > 0) & (post > 0))
    brain = ndimage.binary_erosion(support, iterations=3)  # away from the stripped edge
    print(
        f"real pair {pre_path[0].name}: support {support.sum() * np.prod(pre_image.GetSpacing()) / 1e3:.0f} ml"
    )
    x_pc, x_sd = _normalised_pair(pre, post, brain)
    for name, image in (("PC", x_pc), ("SD", x_sd)):
        print(f"  per-image noise {name} (95th percentile = 1): {per_image_noise(image, brain)}")
    sigma = estimate_noise_sigma(subtraction_image(x_sd, x_pc), brain)
    print(f"  sigma(z~_SD) on PC's grid {pre_image.GetSpacing()[0]:g} mm: {sigma:.4f}")
    arrays = {"x_ld": x_sd, "x_pc": x_pc, "brain_mask": brain.astype(np.uint8)}
    for spacing_mm in (1.5, 2.0, 3.0):
        factor = network_grid_noise_factor(arrays, pre_image, spacing_mm)
        print(f"  network grid {spacing_mm:g} mm: factor {factor:.3f}, sigma(z~_SD) {sigma * factor:.4f}")


def simulated_sigma_ld(settings: SimulationSettings, seed: int, index: int) -> tuple[float, float, float]:
    """(sigma of z~_LD, SNR, seconds) of one simulated case, ideal alignment and the true brain mask."""
    start = time.perf_counter()
    case = simulate_case(settings, seed, index)
    seconds = time.perf_counter() - start
    pc = case.pre_contrast
    low_dose = sitk.Resample(case.low_dose, pc, case.motion["low_dose"], sitk.sitkLinear, 0.0)
    brain = sitk.GetArrayFromImage(case.brain_mask) > 0
    valid = sitk.GetArrayFromImage(
        sitk.Resample(case.low_dose * 0 + 1, pc, case.motion["low_dose"], sitk.sitkNearestNeighbor, 0.0)
    )
    region = brain & (valid > 0)
    x_pc, x_ld = _normalised_pair(sitk.GetArrayFromImage(pc), sitk.GetArrayFromImage(low_dose), region)
    sigma = estimate_noise_sigma(subtraction_image(x_ld, x_pc), region)
    variation = case.metadata["simulation"]["variation"]
    print(
        f"  case {index}: sigma_LD {sigma:.4f}, SNR {case.metadata['simulation']['snr']:.0f}, "
        f"{variation['anatomy']}, coregistered {variation['coregistered']}, stripped {variation['skull_stripped']}, "
        f"correlation {variation['noise_correlation_voxels']}, {seconds:.1f} s"
    )
    return sigma, float(case.metadata["simulation"]["snr"]), seconds


def measure_simulated(count: int, spacing_mm: float, include_default: bool) -> None:
    variants = [("real_scans", SimulationSettings.real_scans(spacing_mm=spacing_mm))]
    if include_default:
        variants.insert(0, ("default phantom", SimulationSettings(spacing_mm=spacing_mm)))
    for name, settings in variants:
        rows = [simulated_sigma_ld(settings, 0, index) for index in range(count)]
        sigmas = np.array([row[0] for row in rows])
        snrs = np.array([row[1] for row in rows])
        print(
            f"{name} ({count} cases, {spacing_mm:g} mm): sigma_LD min {sigmas.min():.4f} median "
            f"{np.median(sigmas):.4f} max {sigmas.max():.4f}; SNR {snrs.min():.0f}-{snrs.max():.0f}; "
            f"sigma_LD * SNR median {np.median(sigmas * snrs):.2f}; simulate median "
            f"{np.median([row[2] for row in rows]):.1f} s/case"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real-folder",
        type=Path,
        default=REAL_FOLDER,
        help="PC/SD pair folder (default: the tests' real pair)",
    )
    parser.add_argument("-n", "--num-cases", type=int, default=12)
    parser.add_argument("--spacing", type=float, default=2.0)
    parser.add_argument("--only-real-scans", action="store_true", help="skip the default phantom")
    args = parser.parse_args()
    measure_real_pair(args.real_folder)
    measure_simulated(args.num_cases, args.spacing, not args.only_real_scans)


if __name__ == "__main__":
    main()
