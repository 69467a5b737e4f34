"""The weighted Huber loss: hand-computed value, border exclusion, weights."""

from __future__ import annotations

import pytest
import torch

from gdr_toolkit.training.loss import WeightedVoxelLoss, counted_voxels, voxel_weights
from gdr_toolkit.training.ssim_loss import L1SSIMLoss


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


def _garbage_case(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shape = (2, 1, 6, 6, 6)
    prediction = torch.rand(shape, generator=generator)
    target, weights = torch.rand(shape, generator=generator), 1 + torch.rand(shape, generator=generator)
    valid = torch.ones(shape, dtype=torch.bool)
    valid[:, :, 3:] = False  # the upper half of every patch lies outside LD's field of view
    return prediction, target, weights, valid


def _loss_and_gradient(prediction, target, weights, valid) -> tuple[float, torch.Tensor]:
    prediction = prediction.clone().requires_grad_(True)
    loss = WeightedVoxelLoss(border_voxels=1)(prediction, target, weights, valid)
    loss.backward()
    return float(loss.detach()), prediction.grad


def test_loss_ignores_garbage_in_invalid_voxels():
    prediction, target, weights, valid = _garbage_case(0)
    clean_loss, clean_gradient = _loss_and_gradient(prediction, target, weights, valid)
    prediction[~valid], target[~valid] = 1e6, float("nan")
    weights[~valid] = float("nan")
    loss, gradient = _loss_and_gradient(prediction, target, weights, valid)
    assert loss == clean_loss
    assert torch.equal(gradient, clean_gradient)
    assert float(gradient[~valid].abs().max()) == 0.0
    assert float(gradient[valid].abs().max()) > 0.0


def test_loss_mean_counts_only_valid_interior_voxels():
    shape = (1, 1, 4, 4, 4)
    prediction, target, weights = torch.zeros(shape), torch.zeros(shape), torch.ones(shape)
    prediction[0, 0, 1, 1, 1] = 0.3  # Huber: 0.1 * (0.3 - 0.05) = 0.025
    valid = torch.zeros(shape, dtype=torch.bool)
    valid[0, 0, 1, 1, :] = True  # 2 of the 8 interior voxels are valid
    loss = WeightedVoxelLoss(border_voxels=1)(prediction, target, weights, valid)
    assert float(loss) == pytest.approx(0.025 / 2, rel=1e-5)


def test_all_valid_mask_gives_the_unmasked_loss():
    prediction, target, weights, _ = _garbage_case(1)
    loss = WeightedVoxelLoss(border_voxels=1)
    everywhere = torch.ones_like(prediction, dtype=torch.bool)
    assert float(loss(prediction, target, weights, everywhere)) == pytest.approx(
        float(loss(prediction, target, weights)), rel=1e-6
    )


def test_loss_without_valid_voxels_is_zero():
    prediction, target, weights, valid = _garbage_case(2)
    nothing = torch.zeros_like(valid)
    assert float(WeightedVoxelLoss(border_voxels=1)(prediction, target, weights, nothing)) == 0.0


def test_weights_reduction_divides_by_the_sum_of_the_weights():
    prediction, target = torch.zeros(1, 1, 3, 1, 1), torch.zeros(1, 1, 3, 1, 1)
    prediction[0, 0, :, 0, 0] = torch.tensor([0.05, 0.3, 0.0])
    weights = torch.tensor([1.0, 3.0, 0.5]).reshape(1, 1, 3, 1, 1)
    huber = torch.tensor([0.5 * 0.05**2, 0.1 * (0.3 - 0.05), 0.0])
    expected = float((weights.flatten() * huber).sum() / 4.5)
    loss = WeightedVoxelLoss(border_voxels=0, reduction="weights")
    assert float(loss(prediction, target, weights)) == pytest.approx(expected, rel=1e-5)
    valid = torch.tensor([True, True, False]).reshape(1, 1, 3, 1, 1)
    expected_valid = float((weights.flatten()[:2] * huber[:2]).sum() / 4.0)
    assert float(loss(prediction, target, weights, valid)) == pytest.approx(expected_valid, rel=1e-5)


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction"):
        WeightedVoxelLoss(reduction="sum")  # type: ignore[arg-type]


def _masked_bordered_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """4^3 patch, 1-voxel border (2^3 = 8 interior voxels), one interior voxel without data: 7 counted.

    Two counted voxels are wrong: |error| 0.5 with weight 2 and |error| 0.25 with weight 1; a border voxel
    (error 7) and the voxel without data (error 100, NaN weight) must not count."""
    shape = (1, 1, 4, 4, 4)
    prediction, target, weights = torch.zeros(shape), torch.zeros(shape), torch.ones(shape)
    prediction[0, 0, 1, 1, 1], weights[0, 0, 1, 1, 1] = 0.5, 2.0
    prediction[0, 0, 1, 1, 2] = -0.25
    prediction[0, 0, 0, 1, 1] = 7.0  # border
    prediction[0, 0, 2, 2, 2], weights[0, 0, 2, 2, 2] = 100.0, float("nan")  # no data
    valid = torch.ones(shape, dtype=torch.bool)
    valid[0, 0, 2, 2, 2] = False
    return prediction, target, weights, valid


def test_counted_voxels_keep_the_valid_interior_and_blank_what_has_no_data():
    prediction, target, weights, valid = _masked_bordered_case()
    voxels = counted_voxels(prediction, target, weights, valid, border_voxels=1)
    assert int(voxels.counted.sum()) == 7
    values = torch.full(prediction.shape, 3.0)
    values[0, 0, 1, 2, 2] = 10.0  # counted
    values[0, 0, 0, 0, 0], values[0, 0, 2, 2, 2] = 1e3, -1e3  # border, no data
    assert float(voxels.mean(values)) == pytest.approx((6 * 3.0 + 10.0) / 7)
    assert float(voxels.prediction[0, 0, 2, 2, 2]) == 0.0 and bool(torch.isfinite(voxels.weights).all())
    assert float(voxels.prediction[0, 0, 0, 1, 1]) == 7.0  # the border keeps its data (SSIM windows read it)


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        (WeightedVoxelLoss("squared", border_voxels=1), (2 * 0.5**2 + 0.25**2) / 7),
        (
            WeightedVoxelLoss("huber", delta=0.1, border_voxels=1),
            (2 * 0.1 * (0.5 - 0.05) + 0.1 * (0.25 - 0.05)) / 7,
        ),
        (L1SSIMLoss(border_voxels=1, l1_weight=1.0), (2 * 0.5 + 0.25) / 7),
    ],
)
def test_both_losses_count_the_valid_interior_with_hand_computed_values(loss, expected):
    assert float(loss(*_masked_bordered_case())) == pytest.approx(expected, rel=1e-5)


def test_an_all_valid_mask_gives_the_unmasked_l1_ssim_loss():
    generator = torch.Generator().manual_seed(3)
    prediction, target = (
        torch.rand(1, 1, 12, 16, 16, generator=generator),
        torch.rand(1, 1, 12, 16, 16, generator=generator),
    )
    loss, weights = L1SSIMLoss(border_voxels=2), torch.ones(1, 1, 12, 16, 16)
    everywhere = torch.ones_like(prediction, dtype=torch.bool)
    assert float(loss(prediction, target, weights, everywhere)) == pytest.approx(
        float(loss(prediction, target, weights))
    )
