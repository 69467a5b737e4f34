"""Tests of the robust radiometric scale (gdr_toolkit.preprocessing.radiometric)."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.preprocessing.radiometric import (
    RadiometricOptions,
    estimate_radiometric_scale,
    robust_weights,
)

TRUE_SCALE = 0.8


@pytest.fixture(scope="module")
def phantom() -> dict[str, np.ndarray]:
    """PC and CE scans with CE = (PC + bright lesions) / TRUE_SCALE plus noise; lesions ~4 % of brain."""
    rng = np.random.default_rng(3)
    size = 48
    z, y, x = np.meshgrid(*[np.arange(size) - size / 2 + 0.5] * 3, indexing="ij")
    brain = np.sqrt(z**2 + y**2 + x**2) < 20
    pre_contrast = np.where(brain, 0.6 + 0.25 * np.sin(x / 5) * np.cos(y / 7), 0.05)
    lesions = np.zeros(brain.shape, dtype=bool)
    for centre in rng.uniform(-12, 12, size=(8, 3)):
        lesions |= (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 < 3.3**2
    lesions &= brain
    contrast_enhanced = (pre_contrast + 0.8 * lesions) / TRUE_SCALE
    noise = 0.03
    return {
        "pre_contrast": (pre_contrast + noise * rng.standard_normal(brain.shape)).astype(np.float32),
        "contrast_enhanced": (contrast_enhanced + noise * rng.standard_normal(brain.shape)).astype(
            np.float32
        ),
        "brain": brain,
        "lesions": lesions,
    }


def test_phantom_has_a_few_percent_enhancement(phantom) -> None:
    fraction = phantom["lesions"].sum() / phantom["brain"].sum()
    assert 0.02 < fraction < 0.08


@pytest.mark.parametrize("loss", ["tukey", "huber", "cauchy"])
def test_known_scale_is_recovered_within_two_percent(phantom, loss: str) -> None:
    result = estimate_radiometric_scale(
        phantom["contrast_enhanced"], phantom["pre_contrast"], phantom["brain"], RadiometricOptions(loss=loss)
    )
    assert result.converged
    assert result.iterations < 30
    assert abs(result.scale / TRUE_SCALE - 1) < 0.02


def test_least_squares_is_biased_where_the_robust_fit_is_not(phantom) -> None:
    brain = phantom["brain"]
    ce, pc = phantom["contrast_enhanced"][brain].astype(float), phantom["pre_contrast"][brain].astype(float)
    least_squares = float(np.sum(ce * pc) / np.sum(ce * ce))
    robust = estimate_radiometric_scale(phantom["contrast_enhanced"], phantom["pre_contrast"], brain).scale
    least_squares_error = abs(least_squares / TRUE_SCALE - 1)
    robust_error = abs(robust / TRUE_SCALE - 1)
    assert least_squares_error > 0.05  # enhancement pulls least squares down by > 5 %
    assert robust_error < 0.005
    assert least_squares_error > 10 * robust_error


def test_inlier_fraction_excludes_the_lesions(phantom) -> None:
    result = estimate_radiometric_scale(
        phantom["contrast_enhanced"], phantom["pre_contrast"], phantom["brain"]
    )
    lesion_fraction = phantom["lesions"].sum() / phantom["brain"].sum()
    assert result.inlier_fraction == pytest.approx(1 - lesion_fraction, abs=0.01)
    assert result.residual_scale == pytest.approx(
        0.03 * np.sqrt(1 + TRUE_SCALE**2), rel=0.1
    )  # noise of a x_CE - x_PC


def test_exact_scale_without_noise_converges() -> None:
    rng = np.random.default_rng(0)
    pre_contrast = rng.uniform(0.2, 1.0, size=(10, 10, 10))
    result = estimate_radiometric_scale(pre_contrast / 1.3, pre_contrast, np.ones(pre_contrast.shape, bool))
    assert result.converged
    assert result.scale == pytest.approx(1.3, rel=1e-9)


def test_iteration_cap_reports_non_convergence(phantom) -> None:
    options = RadiometricOptions(max_iterations=1, relative_tolerance=1e-15)
    result = estimate_radiometric_scale(
        phantom["contrast_enhanced"], phantom["pre_contrast"], phantom["brain"], options
    )
    assert result.iterations == 1
    assert not result.converged


def test_weights_are_one_at_zero_and_bounded() -> None:
    residuals = np.array([0.0, 1.0, 3.0, 10.0])
    for loss in ("tukey", "huber", "cauchy"):
        weights = robust_weights(residuals, loss, 4.0)
        assert weights[0] == 1.0
        assert np.all((weights >= 0) & (weights <= 1))
        assert np.all(np.diff(weights) <= 0)
    assert robust_weights(residuals, "tukey", 4.0)[-1] == 0.0


def test_non_finite_input_is_refused(phantom) -> None:
    ce = phantom["contrast_enhanced"].copy()
    ce[5, 5, 5] = np.nan
    with pytest.raises(ValueError, match="contrast_enhanced holds 1 NaN"):
        estimate_radiometric_scale(ce, phantom["pre_contrast"], phantom["brain"])


def test_empty_mask_is_refused(phantom) -> None:
    with pytest.raises(ValueError, match="brain_mask is empty"):
        estimate_radiometric_scale(
            phantom["contrast_enhanced"], phantom["pre_contrast"], np.zeros(phantom["brain"].shape, bool)
        )


def test_non_positive_contrast_enhanced_scan_is_refused(phantom) -> None:
    with pytest.raises(ValueError, match="contrast_enhanced has no positive value inside brain_mask"):
        estimate_radiometric_scale(
            -np.abs(phantom["contrast_enhanced"]), phantom["pre_contrast"], phantom["brain"]
        )


def test_shape_mismatch_is_refused(phantom) -> None:
    with pytest.raises(ValueError, match="pre_contrast has shape"):
        estimate_radiometric_scale(
            phantom["contrast_enhanced"], phantom["pre_contrast"][1:], phantom["brain"]
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "l2"}, "loss must be one of"),
        ({"tuning_constant": 0.0}, "tuning_constant must be > 0"),
        ({"max_iterations": 0}, "max_iterations must be >= 1"),
        ({"relative_tolerance": -1.0}, "relative_tolerance must be > 0"),
    ],
)
def test_invalid_options_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RadiometricOptions(**kwargs)
