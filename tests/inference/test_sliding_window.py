"""Sliding-window inference: coverage, Gaussian weighting, padding, mirroring."""

from __future__ import annotations

import pytest
import torch

from gdr_toolkit.inference import sliding_window
from gdr_toolkit.inference.sliding_window import (
    SlidingWindowOptions,
    gaussian_importance_map,
    inference_tile,
    patch_positions,
    patch_starts,
    sliding_window_inference,
)


def constant_network(value: float):
    def network(image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return torch.full((image.shape[0], 1, *image.shape[2:]), value)

    return network


@pytest.mark.parametrize("step_size", [0.5, 1.0, 0.3])
@pytest.mark.parametrize("shape", [(16, 16, 16), (37, 21, 50), (9, 30, 5)])
def test_constant_network_is_reproduced_everywhere(step_size, shape):
    volume = torch.randn(3, *shape)
    options = SlidingWindowOptions((16, 16, 16), step_size=step_size, use_mirroring=False)
    result = sliding_window_inference(constant_network(2.5), volume, torch.zeros(2), options)
    assert result.shape == (1, *shape)
    torch.testing.assert_close(result, torch.full((1, *shape), 2.5))


def test_patches_cover_the_volume_with_the_requested_overlap():
    assert patch_starts(16, 16, 0.5) == [0]
    assert patch_starts(32, 16, 1.0) == [0, 16]
    assert patch_starts(37, 16, 0.5) == [0, 7, 14, 21]
    starts = patch_starts(100, 16, 0.5)
    assert starts[0] == 0 and starts[-1] == 84
    assert max(b - a for a, b in zip(starts, starts[1:], strict=False)) <= 8
    assert len(patch_positions((37, 16, 32), (16, 16, 16), 1.0)) == 3 * 1 * 2


def test_gaussian_map_peaks_in_the_centre_and_stays_positive():
    weights = gaussian_importance_map((16, 12, 20))
    assert weights.shape == (16, 12, 20)
    assert weights.max() == pytest.approx(1.0, abs=0.01)
    assert weights.min() > 0
    assert weights[8, 6, 10] > weights[0, 0, 0]
    torch.testing.assert_close(weights, weights.flip(0).flip(1).flip(2))


def test_mirroring_of_an_equivariant_network_returns_the_input():
    volume = torch.randn(3, 20, 18, 17)

    def identity_like(image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return image[:, :1] * (1.0 + condition[:, :1, None, None, None])

    options = SlidingWindowOptions((16, 16, 16), use_mirroring=True, batch_size=3)
    result = sliding_window_inference(identity_like, volume, torch.tensor([0.0, 7.0]), options)
    torch.testing.assert_close(result[0], volume[0])


def test_mirroring_averages_the_flips_of_a_non_equivariant_network():
    volume = torch.zeros(1, 16, 16, 16)

    def ramp(image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        axis = torch.arange(16, dtype=torch.float32).reshape(1, 1, 16, 1, 1)
        return axis.expand(image.shape[0], 1, 16, 16, 16).clone()

    plain = sliding_window_inference(
        ramp, volume, torch.zeros(0), SlidingWindowOptions((16, 16, 16), use_mirroring=False)
    )
    mirrored = sliding_window_inference(ramp, volume, torch.zeros(0), SlidingWindowOptions((16, 16, 16)))
    assert plain[0, 0, 0, 0].item() == pytest.approx(0.0) and plain[0, 15, 0, 0].item() == pytest.approx(15.0)
    torch.testing.assert_close(mirrored, torch.full_like(mirrored, 7.5))


def test_batch_size_does_not_change_the_result():
    volume = torch.randn(3, 30, 24, 20)
    network = torch.nn.Conv3d(3, 1, 3, padding=1)

    def conv(image, condition):
        return network(image)

    results = [
        sliding_window_inference(
            conv,
            volume,
            torch.zeros(0),
            SlidingWindowOptions((16, 16, 16), batch_size=size, use_mirroring=False),
        )
        for size in (1, 4)
    ]
    torch.testing.assert_close(results[0], results[1])


def test_options_are_validated():
    with pytest.raises(ValueError, match="step_size"):
        SlidingWindowOptions((16, 16, 16), step_size=0.0)
    with pytest.raises(ValueError, match="patch_size"):
        SlidingWindowOptions((16, 16))


def small_unet():
    from gdr_toolkit.network.conditional_residual_block import ConditionalResidualBlock
    from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig

    torch.manual_seed(0)
    network = ConditionalUNet(NetworkConfig(widths=(4, 8), blocks_per_scale=1, embedding_features=8))
    for module in network.modules():
        if isinstance(module, ConditionalResidualBlock):
            module.conv_out.reset_parameters()  # not the identity-like initialisation
    return network.eval()


@pytest.mark.parametrize("use_mirroring", [False, True])
def test_batched_patches_equal_one_patch_per_pass(use_mirroring):
    network, volume, condition = small_unet(), torch.randn(3, 24, 20, 18), torch.randn(4)
    results = [
        sliding_window_inference(
            network,
            volume,
            condition,
            SlidingWindowOptions((16, 16, 16), batch_size=size, use_mirroring=use_mirroring),
        )
        for size in (1, 3)
    ]
    torch.testing.assert_close(results[1], results[0], rtol=0, atol=1e-5)


def test_mirror_flips_sharing_a_pass_equal_one_flip_per_pass(monkeypatch):
    network, patches, condition = small_unet(), torch.randn(1, 3, 16, 16, 16), torch.randn(1, 4)
    options = SlidingWindowOptions((16, 16, 16), use_mirroring=True)
    results = []
    for images_per_pass in (1, 2, 8):
        monkeypatch.setattr(sliding_window, "MIRRORED_IMAGES_PER_PASS", images_per_pass)
        with torch.inference_mode():
            results.append(sliding_window.predict_patches(network, patches, condition, options))
    for result in results[1:]:
        torch.testing.assert_close(result, results[0], rtol=0, atol=1e-5)


def test_inference_tile_grows_from_the_patch_to_the_volume_up_to_the_limit():
    # a 2 mm head on the network grid fits one tile: its extent rounded up to the divisor
    assert inference_tile((43, 117, 99), (32, 32, 32), 8, 128) == (48, 120, 104)
    # a 1 mm head does not: 128 per axis, tiled with overlap
    assert inference_tile((180, 220, 181), (32, 32, 32), 8, 128) == (128, 128, 128)
    # never below the training patch, never off the divisor
    assert inference_tile((10, 20, 33), (32, 32, 32), 8, 128) == (32, 32, 40)
    assert inference_tile((200, 200, 200), (32, 32, 32), 8, 100) == (96, 96, 96)
    assert inference_tile((200, 200, 200), (128, 128, 128), 16, 64) == (128, 128, 128)
    assert inference_tile((1, 43, 117, 99), (32, 32, 32), 8, 128) == (48, 120, 104)  # (C, D, H, W) too
    with pytest.raises(ValueError, match="divisor"):
        inference_tile((40, 40, 40), (32, 32, 32), 0, 128)


def test_one_large_tile_equals_patch_tiling_for_a_context_free_network():
    """The tiling, padding and cropping of a whole-volume tile and of overlapping patches agree exactly
    where the network's output does not depend on context (a 1x1x1 convolution)."""
    volume = torch.randn(3, 37, 21, 50)
    pointwise = torch.nn.Conv3d(3, 1, 1)

    def network(image, condition):
        return pointwise(image)

    results = []
    for patch in ((16, 16, 16), inference_tile(tuple(volume.shape), (16, 16, 16), 8, 128)):
        options = SlidingWindowOptions(patch, use_mirroring=False, batch_size=2)
        results.append(sliding_window_inference(network, volume, torch.zeros(0), options))
    assert results[1].shape == (1, 37, 21, 50)
    torch.testing.assert_close(results[0], results[1])
