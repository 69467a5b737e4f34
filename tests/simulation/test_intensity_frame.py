"""The SD -> PC intensity frame: a known scale and shading field are recovered despite enhancing voxels."""

from __future__ import annotations

import numpy as np

from gdr_toolkit.simulation.intensity_frame import apply_intensity_frame, fit_intensity_frame

SHAPE = (40, 48, 44)
SPACING = np.array([2.0, 2.0, 2.0])


def _pair(rng: np.random.Generator):
    z, y, x = np.indices(SHAPE)
    tissue = np.where((x // 6 + y // 7 + z // 5) % 2 == 0, 800.0, 1100.0)
    brain = (((z - 20) / 17) ** 2 + ((y - 24) / 21) ** 2 + ((x - 22) / 19) ** 2) < 1
    shading = np.exp(0.15 * (x - 22) * 2.0 / 100 - 0.1 * ((y - 24) * 2.0 / 100) ** 2)  # exp(P), P of degree 2
    lesion = (((z - 20) ** 2 + (y - 30) ** 2 + (x - 15) ** 2) < 16) * 900.0
    pre = tissue + rng.normal(0, 10, SHAPE)
    standard = (tissue + lesion) * shading / 0.8 + rng.normal(0, 10, SHAPE)
    return pre, standard, brain, shading, lesion > 0


def test_scale_and_shading_are_recovered():
    rng = np.random.default_rng(0)
    pre, standard, brain, shading, lesion = _pair(rng)
    frame = fit_intensity_frame(pre, standard, brain, SPACING)
    framed, field = apply_intensity_frame(standard, frame, SPACING)
    true_field = shading / 0.8 * frame.scale  # the fitted B absorbs what the scalar leaves
    quiet = brain & ~lesion
    np.testing.assert_allclose(field[brain], true_field[brain], rtol=0.01)
    residual = framed[quiet] - pre[quiet]
    assert abs(float(np.median(residual))) < 2.0  # noise std of the difference ~14
    assert float(np.median(framed[lesion] - pre[lesion])) > 800  # the enhancement survives the fit


def test_scalar_only_frame_has_a_flat_field():
    rng = np.random.default_rng(1)
    pre, standard, brain, _, _ = _pair(rng)
    frame = fit_intensity_frame(pre, standard, brain, SPACING, degree=0)
    _, field = apply_intensity_frame(standard, frame, SPACING)
    assert np.all(field == 1.0)
