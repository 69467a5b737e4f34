from __future__ import annotations

import pytest
import torch

from gdr_toolkit.network.blur_pool import BlurPool3d, binomial_kernel_3d


def test_binomial_kernel_sums_to_one_and_is_separable():
    kernel = binomial_kernel_3d()
    assert kernel.shape == (5, 5, 5)
    assert torch.isclose(kernel.sum(), torch.tensor(1.0))
    assert torch.isclose(kernel[2, 2, 2], torch.tensor((6 / 16) ** 3))


@pytest.mark.parametrize("method", ["blur_pool", "strided"])
def test_downsampling_shape_is_ceil_of_half(method):
    output = BlurPool3d(3, method)(torch.randn(2, 3, 8, 7, 1))
    assert output.shape == (2, 3, 4, 4, 1)


def test_blur_pool_has_no_trainable_parameters_and_kernel_needs_no_grad():
    module = BlurPool3d(4)
    assert list(module.parameters()) == []
    assert not module.kernel.requires_grad
    assert "kernel" not in module.state_dict()


def test_blur_pool_keeps_a_constant_volume_constant():
    output = BlurPool3d(2)(torch.full((1, 2, 8, 8, 8), 3.5))
    assert torch.allclose(output, torch.full_like(output, 3.5))


def test_strided_method_subsamples_every_second_voxel():
    volume = torch.randn(1, 2, 8, 8, 8)
    assert torch.equal(BlurPool3d(2, "strided")(volume), volume[:, :, ::2, ::2, ::2])


def test_blur_pool_filters_each_channel_separately():
    volume = torch.zeros(1, 2, 8, 8, 8)
    volume[0, 0] = 1.0
    output = BlurPool3d(2)(volume)
    assert torch.allclose(output[0, 0], torch.ones(4, 4, 4)) and torch.equal(
        output[0, 1], torch.zeros(4, 4, 4)
    )


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="'max'"):
        BlurPool3d(2, "max")
