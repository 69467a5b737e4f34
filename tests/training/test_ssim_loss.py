"""L1 + SSIM loss of the 2.5D baseline: zero for a perfect prediction, SSIM as scikit-image computes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gdr_toolkit.training.ssim_loss import L1SSIMLoss, gaussian_window_2d, ssim_map_2d


def test_perfect_prediction_has_zero_loss():
    target = torch.rand(2, 1, 12, 16, 16) * 2
    loss = L1SSIMLoss(border_voxels=2)(target.clone(), target, torch.ones_like(target))
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_worse_prediction_has_higher_loss():
    torch.manual_seed(0)
    target = torch.rand(1, 1, 12, 16, 16)
    loss = L1SSIMLoss(border_voxels=2)
    ones = torch.ones_like(target)
    slightly = loss(target + 0.05 * torch.randn_like(target), target, ones)
    strongly = loss(target + 0.5 * torch.randn_like(target), target, ones)
    assert 0 < float(slightly) < float(strongly)


def test_ssim_map_matches_scikit_image_away_from_the_border():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    target = rng.random((1, 1, 1, 32, 32)).astype(np.float32)
    prediction = (target + 0.2 * rng.standard_normal(target.shape)).astype(np.float32)
    ours = ssim_map_2d(
        torch.from_numpy(prediction), torch.from_numpy(target), torch.tensor([1.0]), gaussian_window_2d()
    )[0, 0, 0].numpy()
    _, reference = metrics.structural_similarity(
        prediction[0, 0, 0], target[0, 0, 0], data_range=1.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, full=True,
    )  # fmt: skip
    np.testing.assert_allclose(ours[5:-5, 5:-5], reference[5:-5, 5:-5], atol=1e-4)


def test_garbage_where_the_scans_have_no_data_changes_nothing():
    generator = torch.Generator().manual_seed(0)
    shape = (1, 1, 12, 16, 16)
    prediction, target = torch.rand(shape, generator=generator), torch.rand(shape, generator=generator)
    valid = torch.ones(shape, dtype=torch.bool)
    valid[..., 10:, :] = False
    loss = L1SSIMLoss(border_voxels=2)
    clean = loss(prediction, target, torch.ones(shape), valid)
    prediction[~valid], target[~valid] = 50.0, -3.0
    assert float(loss(prediction, target, torch.ones(shape), valid)) == pytest.approx(float(clean), abs=1e-6)
