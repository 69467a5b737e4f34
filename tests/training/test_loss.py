"""The weighted Huber loss: hand-computed value, border exclusion, weights."""

from __future__ import annotations

import pytest
import torch

from gdr_toolkit.training.loss import WeightedVoxelLoss, voxel_weights


def test_voxel_weights_follow_brain_and_enhancement():
    brain = torch.tensor([0.0, 1.0, 1.0]).reshape(1, 1, 3, 1, 1)
    enhancement = torch.tensor([0.0, 0.0, 1.0]).reshape(1, 1, 3, 1, 1)
    weights = voxel_weights(brain, enhancement, lambda1=0.01, lambda2=1.0)
    assert weights.flatten().tolist() == pytest.approx([0.01, 1.01, 2.01])


def test_loss_matches_hand_computed_value():
    target = torch.zeros(1, 1, 4, 4, 4)
    prediction = torch.zeros(1, 1, 4, 4, 4)
    weights = torch.full((1, 1, 4, 4, 4), 0.01)
    prediction[0, 0, 1, 1, 1] = 0.05  # quadratic part: 0.5 * 0.05^2 = 0.00125
    prediction[0, 0, 2, 2, 2] = 0.3  # linear part: 0.1 * (0.3 - 0.05) = 0.025
    weights[0, 0, 2, 2, 2] = 2.01  # enhancing brain voxel
    loss = WeightedVoxelLoss("huber", delta=0.1, border_voxels=1)(prediction, target, weights)
    expected = (0.01 * 0.00125 + 2.01 * 0.025) / 8  # mean over the 2^3 interior voxels
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_loss_ignores_the_eight_voxel_margin():
    shape = (2, 1, 18, 18, 18)
    prediction, target, weights = torch.zeros(shape), torch.zeros(shape), torch.ones(shape)
    prediction[..., :8, :, :] = 100.0
    prediction[..., :, :, 10:] = 100.0
    assert float(WeightedVoxelLoss()(prediction, target, weights)) == 0.0
    prediction[..., 8, 8, 9] = 1.0
    assert float(WeightedVoxelLoss()(prediction, target, weights)) > 0.0


def test_enhancing_voxels_count_about_twice_as_much_as_brain():
    loss = WeightedVoxelLoss(border_voxels=0)
    prediction, target = torch.full((1, 1, 2, 2, 2), 0.5), torch.zeros(1, 1, 2, 2, 2)
    brain = torch.ones(1, 1, 2, 2, 2)
    plain = loss(prediction, target, voxel_weights(brain, torch.zeros_like(brain), 0.01, 1.0))
    enhancing = loss(prediction, target, voxel_weights(brain, torch.ones_like(brain), 0.01, 1.0))
    assert float(enhancing / plain) == pytest.approx(2.01 / 1.01)


def test_squared_loss_is_the_weighted_mean_squared_error():
    prediction, target = torch.full((1, 1, 2, 2, 2), 0.5), torch.zeros(1, 1, 2, 2, 2)
    loss = WeightedVoxelLoss("squared", border_voxels=0)(prediction, target, torch.full_like(target, 2.0))
    assert float(loss) == pytest.approx(0.5)


def test_patch_without_interior_is_an_error():
    tensor = torch.zeros(1, 1, 16, 16, 16)
    with pytest.raises(ValueError, match="no interior"):
        WeightedVoxelLoss(border_voxels=8)(tensor, tensor, tensor)


def test_unknown_elementwise_loss_is_an_error():
    with pytest.raises(ValueError, match="elementwise"):
        WeightedVoxelLoss("l1")  # type: ignore[arg-type]
