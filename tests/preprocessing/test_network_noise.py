"""sigma_LD and s_LD on the network grid, against injected noise at 0.5, 1 and 3 mm native spacing."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.preprocessing.case_preprocessing import CaseProperties, PreprocessedCase
from gdr_toolkit.preprocessing.contrast_target import gamma_statistic, revert_noise_normalisation
from gdr_toolkit.preprocessing.network_noise import network_grid_noise_factor, on_network_grid_noise
from gdr_toolkit.preprocessing.noise import process_subtraction
from gdr_toolkit.preprocessing.resampling import crop, to_network_grid

FIELD_MM = np.array([72.0, 64.0, 60.0])  # x, y, z
NETWORK_SPACING_MM = 1.0
SIGMA_PC, SIGMA_LD, SIGMA_SD = 0.03, 0.05, 0.03  # per-image noise stds (normalised units)


def _grid(spacing_xyz: tuple[float, float, float]) -> sitk.Image:
    size = [int(round(length / s)) for length, s in zip(FIELD_MM, spacing_xyz, strict=True)]
    image = sitk.Image(size, sitk.sitkFloat32)
    image.SetSpacing(spacing_xyz)
    image.SetOrigin((-30.0, 12.0, 4.0))
    return image


def _physical_zyx(grid: sitk.Image) -> np.ndarray:
    """(3, z, y, x) physical coordinates (mm) of the voxel centres relative to the field's centre."""
    size = grid.GetSize()
    axes = [(np.arange(n) + 0.5) * s - n * s / 2 for n, s in zip(size, grid.GetSpacing(), strict=True)]
    return np.stack(np.meshgrid(axes[2], axes[1], axes[0], indexing="ij"))


def _synthetic_case(spacing_xyz: tuple[float, float, float], seed: int = 0) -> tuple[PreprocessedCase, dict]:
    """A case through the noise steps of preprocess_case, with its injected noise and contrast known."""
    grid = _grid(spacing_xyz)
    z, y, x = _physical_zyx(grid)
    brain = (x / 30) ** 2 + (y / 26) ** 2 + (z / 24) ** 2 <= 1.0
    contrast = 0.6 * np.exp(-((x - 8) ** 2 + (y + 5) ** 2 + z**2) / (2 * 5.0**2))
    tissue = 0.6 + 0.2 * brain + 0.05 * np.sin(x / 7.0)
    rng = np.random.default_rng(seed)
    noise = {name: rng.normal(0, sd, brain.shape) for name, sd in (("pc", SIGMA_PC), ("ld", SIGMA_LD))}
    noise["sd"] = rng.normal(0, SIGMA_SD, brain.shape)
    x_pc = (tissue + noise["pc"]).astype(np.float32)
    x_ld = (tissue + 0.25 * contrast + noise["ld"]).astype(np.float32)
    x_sd = (tissue + contrast + noise["sd"]).astype(np.float32)
    spacing = grid.GetSpacing()
    low = process_subtraction(x_ld, x_pc, brain, spacing)
    standard = process_subtraction(x_sd, x_pc, brain, spacing, low.noise_sigma)
    arrays = {
        "x_pc": x_pc,
        "x_ld": x_ld,
        "z_ld": low.subtraction,
        "s_ld": low.local_statistics.std,
        "z_sd": standard.subtraction,
        "s_sd": standard.local_statistics.std,
        "brain_mask": brain.astype(np.uint8),
    }
    gamma = gamma_statistic(brain, low.local_statistics.std, standard.local_statistics.std)
    properties = CaseProperties(
        geometry={}, intensity_scales={}, radiometric_scales={}, noise_sigma_ld=low.noise_sigma,
        noise_sigma_sd=standard.noise_sigma, gamma_statistic=gamma, noise_normalised=True,
        brain_volume_ml=0.0, condition={}, transforms={}, step_seconds={},
    )  # fmt: skip
    truth = {"noise_ld": (noise["ld"] - noise["pc"]).astype(np.float32), "contrast": contrast}
    return PreprocessedCase(arrays, properties, {}), {**truth, "grid": grid}


def _noise_on_network_grid(truth: dict, case: PreprocessedCase) -> float:
    """std, inside the brain, of the injected LD-subtraction noise after the network-grid resampling."""
    arrays = {
        "x_pc": case.arrays["x_pc"],
        "noise": truth["noise_ld"],
        "brain_mask": case.arrays["brain_mask"],
    }
    on_grid, _, _ = to_network_grid(
        arrays, truth["grid"], NETWORK_SPACING_MM, ("noise", "brain_mask"), frozenset({"brain_mask"})
    )
    return float(on_grid["noise"][on_grid["brain_mask"].astype(bool)].std())


@pytest.mark.parametrize(
    "spacing_xyz", [(0.5, 0.5, 0.5), (1.0, 1.0, 1.0), (1.0, 1.0, 3.0)], ids=["0.5mm", "1mm", "3mm_slices"]
)
def test_sigma_ld_is_the_injected_noise_as_it_is_on_the_network_grid(spacing_xyz):
    case, truth = _synthetic_case(spacing_xyz)
    expected = _noise_on_network_grid(truth, case)
    on_grid = on_network_grid_noise(case, truth["grid"], NETWORK_SPACING_MM)
    assert on_grid.properties.noise_sigma_ld == pytest.approx(expected, rel=0.10)


def test_no_resampling_leaves_the_case_untouched():
    case, truth = _synthetic_case((1.0, 1.0, 1.0))
    assert network_grid_noise_factor(case.arrays, truth["grid"], NETWORK_SPACING_MM) == 1.0
    assert on_network_grid_noise(case, truth["grid"], NETWORK_SPACING_MM) is case


def test_local_std_is_scaled_with_sigma():
    case, truth = _synthetic_case((0.5, 0.5, 0.5))
    on_grid = on_network_grid_noise(case, truth["grid"], NETWORK_SPACING_MM)
    factor = on_grid.properties.noise_sigma_ld / case.properties.noise_sigma_ld
    assert factor < 0.5  # 0.5 mm noise averaged onto 1 mm voxels
    np.testing.assert_allclose(on_grid.arrays["s_ld"], case.arrays["s_ld"] * factor, rtol=1e-6)
    np.testing.assert_array_equal(on_grid.arrays["z_ld"], case.arrays["z_ld"])


@pytest.mark.parametrize("spacing_xyz", [(0.5, 0.5, 0.5), (1.0, 1.0, 3.0)], ids=["0.5mm", "3mm_slices"])
def test_an_ideal_prediction_reverts_to_the_injected_contrast(spacing_xyz):
    """Known contrast -> noise steps -> network grid -> yhat = z_SD -> inverse of eq. 1 -> the contrast."""
    case, truth = _synthetic_case(spacing_xyz, seed=1)
    on_grid_case = on_network_grid_noise(case, truth["grid"], NETWORK_SPACING_MM)
    arrays = {**on_grid_case.arrays, "contrast": truth["contrast"].astype(np.float32)}
    names = ("z_sd", "s_ld", "contrast")
    on_grid, _, box = to_network_grid(arrays, truth["grid"], NETWORK_SPACING_MM, names)
    cropped = {name: crop(on_grid[name], box) for name in names}
    properties = on_grid_case.properties
    reverted = revert_noise_normalisation(
        cropped["z_sd"], cropped["s_ld"], properties.noise_sigma_ld, properties.gamma_statistic
    )
    core = cropped["contrast"] > 0.4
    assert core.sum() > 50
    recovered = float(reverted[core].mean() / cropped["contrast"][core].mean())
    assert recovered == pytest.approx(1.0, abs=0.08)
