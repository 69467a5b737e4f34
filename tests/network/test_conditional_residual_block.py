from __future__ import annotations

import torch

from gdr_toolkit.network.conditional_residual_block import ConditionalResidualBlock


def test_block_shape_with_channel_change():
    block = ConditionalResidualBlock(3, 8, embedding_features=16)
    output = block(torch.randn(2, 3, 6, 8, 10), torch.randn(2, 16))
    assert output.shape == (2, 8, 6, 8, 10)


def test_block_is_identity_at_init_with_equal_channels():
    block = ConditionalResidualBlock(4, 4, embedding_features=16)
    features = torch.randn(2, 4, 6, 6, 6)
    assert torch.equal(block(features, torch.randn(2, 16)), features)


def test_block_embedding_acts_as_per_channel_bias_of_the_residual():
    torch.manual_seed(0)
    block = ConditionalResidualBlock(4, 4, embedding_features=16)
    torch.nn.init.normal_(block.conv_out.weight)
    features = torch.randn(1, 4, 6, 6, 6)
    assert not torch.allclose(block(features, torch.zeros(1, 16)), block(features, torch.ones(1, 16)))


def test_block_has_no_normalisation_layers():
    block = ConditionalResidualBlock(4, 8, embedding_features=16)
    norms = (torch.nn.GroupNorm, torch.nn.BatchNorm3d, torch.nn.InstanceNorm3d, torch.nn.LayerNorm)
    assert not any(isinstance(module, norms) for module in block.modules())
