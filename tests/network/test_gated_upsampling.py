from __future__ import annotations

import pytest
import torch
from torch import nn

from gdr_toolkit.network.gated_upsampling import GatedUpsampling


@pytest.mark.parametrize("method", ["gated", "concatenate"])
def test_fusion_shape_follows_the_skip(method):
    fusion = GatedUpsampling(8, 4, 4, method)
    output = fusion(torch.randn(2, 8, 3, 4, 5), torch.randn(2, 4, 6, 8, 10))
    assert output.shape == (2, 4, 6, 8, 10)


def _saturate(gate: nn.Conv3d, open_gate: bool) -> None:
    nn.init.zeros_(gate.weight)
    nn.init.constant_(gate.bias, 1e4 if open_gate else -1e4)


def _upsampled(coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    return nn.functional.interpolate(coarse, size=skip.shape[2:], mode="trilinear", align_corners=False)


@torch.no_grad()
def test_gated_fusion_can_select_the_upsampled_features():
    fusion = GatedUpsampling(8, 4, 4)
    _saturate(fusion.upsampled_gate, open_gate=True)
    _saturate(fusion.skip_gate, open_gate=False)
    coarse, skip = torch.randn(1, 8, 2, 2, 2), torch.randn(1, 4, 4, 4, 4)
    expected = fusion.upsampled_projection(_upsampled(coarse, skip))
    assert torch.allclose(fusion(coarse, skip), expected)


@torch.no_grad()
def test_gated_fusion_can_select_the_skip_features():
    fusion = GatedUpsampling(8, 4, 4)
    _saturate(fusion.upsampled_gate, open_gate=False)
    _saturate(fusion.skip_gate, open_gate=True)
    coarse, skip = torch.randn(1, 8, 2, 2, 2), torch.randn(1, 4, 4, 4, 4)
    assert torch.allclose(fusion(coarse, skip), fusion.skip_projection(skip))


def test_upsampling_is_trilinear_and_keeps_a_constant_constant():
    fusion = GatedUpsampling(1, 1, 1, "concatenate")
    with torch.no_grad():
        fusion.fusion.weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1, 1))
        fusion.fusion.bias.zero_()
    output = fusion(torch.full((1, 1, 2, 2, 2), 2.0), torch.randn(1, 1, 4, 4, 4))
    assert torch.allclose(output, torch.full_like(output, 2.0))


def test_unknown_fusion_method_raises():
    with pytest.raises(ValueError, match="'sum'"):
        GatedUpsampling(8, 4, 4, "sum")


@pytest.mark.parametrize("sizes", [((3, 4, 5), (6, 8, 10)), ((3, 4, 5), (5, 8, 9))])
def test_gated_fusion_equals_the_papers_formula_on_the_upsampled_features(sizes):
    """Projections applied before upsampling (the implementation) = the formula applied after it."""
    torch.manual_seed(2)
    fusion = GatedUpsampling(8, 4, 6)
    coarse, skip = torch.randn(2, 8, *sizes[0]), torch.randn(2, 4, *sizes[1])
    upsampled = _upsampled(coarse, skip)
    joint = torch.cat([upsampled, skip], dim=1)
    expected = torch.sigmoid(fusion.upsampled_gate(joint)) * fusion.upsampled_projection(upsampled)
    expected = expected + torch.sigmoid(fusion.skip_gate(joint)) * fusion.skip_projection(skip)
    torch.testing.assert_close(fusion(coarse, skip), expected, atol=1e-5, rtol=1e-5)
