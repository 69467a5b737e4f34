"""Real-pair metrics on volumes with known structures and known signal."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.evaluation.real_pair_metrics import enhancing_structures, image_metrics, low_dose_sigma

SHAPE = (30, 32, 34)


def _pair():
    rng = np.random.default_rng(0)
    z, y, x = np.indices(SHAPE)
    brain = ((z - 15) / 13) ** 2 + ((y - 16) / 14) ** 2 + ((x - 17) / 15) ** 2 < 1
    pre = np.where(brain, 1000.0, 0.0)
    enhancement = np.zeros(SHAPE)
    enhancement[((z - 10) ** 2 + (y - 16) ** 2 + (x - 10) ** 2) <= 9] = 500.0  # 123-voxel ball
    enhancement[((z - 20) ** 2 + (y - 16) ** 2 + (x - 24) ** 2) <= 4] = 300.0  # 33-voxel ball
    enhancement[15, 5, 17] = 500.0  # a single voxel: below the 10-voxel minimum
    reference = np.where(brain, pre + enhancement + rng.normal(0, 10, SHAPE), 0.0)
    return pre, reference, brain, enhancement, rng


def test_structures_are_the_components_above_four_sigma_with_ten_voxels():
    pre, reference, brain, enhancement, _ = _pair()
    structures = enhancing_structures(reference - pre, brain, 10.0)
    assert structures.max() == 2
    assert (structures == 1).sum() == 123 and (structures == 2).sum() == 33  # numbered by size
    assert structures[15, 5, 17] == 0


def test_metrics_of_a_known_fraction_of_the_enhancement():
    pre, reference, brain, enhancement, rng = _pair()
    structures = enhancing_structures(reference - pre, brain, 10.0)
    low = np.where(brain, pre + 0.25 * enhancement + 3.0 + rng.normal(0, 20, SHAPE), 0.0)
    assert low_dose_sigma(low - 3.0 * brain, pre, brain) == pytest.approx(20.0, rel=0.05)
    sigma = 20.0
    metrics = image_metrics(low, pre, reference, brain, structures, sigma, voxel_ml=0.001)
    assert metrics.pooled_recovery == pytest.approx(0.25 + 3.0 / 444.0, abs=0.02)  # 3 / mean enhancement
    assert metrics.c_bar_median == pytest.approx(0.26, abs=0.03)
    assert metrics.median_signal_outside_sigma == pytest.approx(3.0 / 20.0, abs=0.05)
    assert metrics.outside_brain_ml == 0.0
    perfect = image_metrics(reference, pre, reference, brain, structures, sigma, voxel_ml=0.001)
    assert perfect.pooled_recovery == 1.0 and perfect.psnr_brain_db == np.inf
