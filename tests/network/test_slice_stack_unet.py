"""SliceStackUNet (2.5D baseline) and its 2D U-Net: shapes, 7-slice receptive field, orientation averaging."""

from __future__ import annotations

import json

import pytest
import torch

from gdr_toolkit.network.architectures import build_network_from_record
from gdr_toolkit.network.slice_stack_unet import SliceStackConfig, SliceStackUNet
from gdr_toolkit.network.unet_2d import UNet2d

TINY = SliceStackConfig(widths=(4, 8, 16))


def _network(config: SliceStackConfig = TINY, seed: int = 0) -> SliceStackUNet:
    torch.manual_seed(seed)
    return SliceStackUNet(config).eval()


def test_unet_2d_keeps_odd_sizes():
    assert UNet2d(14, 1, (4, 8, 16, 32))(torch.randn(3, 14, 13, 10)).shape == (3, 1, 13, 10)


def test_slice_stack_output_shape_equals_the_patch():
    output = _network()(torch.randn(2, 2, 9, 12, 10), torch.zeros(2, 0))
    assert output.shape == (2, 1, 9, 12, 10)


def test_first_layer_sees_seven_slices_of_both_channels():
    assert _network().unet.encoder[0][0].in_channels == 14


@pytest.mark.parametrize("perturbed", [0, 2, 6, 11])
def test_each_output_slice_depends_on_seven_neighbouring_slices_only(perturbed):
    network, depth = _network(), 12
    image = torch.randn(1, 2, depth, 8, 8)
    changed = image.clone()
    changed[:, :, perturbed] += 1.0
    with torch.no_grad():
        difference = (network(changed) - network(image)).abs().amax(dim=(0, 1, 3, 4))
    expected = [abs(slice_index - perturbed) <= 3 for slice_index in range(depth)]
    assert (difference > 0).tolist() == expected


def test_edge_slices_are_replicate_padded():
    network = _network()
    image = torch.randn(1, 2, 1, 8, 8)
    repeated = image.expand(1, 2, 7, 8, 8)
    with torch.no_grad():
        single, stacked = network(image), network(repeated)
    torch.testing.assert_close(single[:, :, 0], stacked[:, :, 3])


def test_orientation_averaging_averages_three_slicing_axes_at_inference():
    network = _network(SliceStackConfig(widths=(4, 8), average_orientations=True))
    image = torch.randn(1, 2, 8, 6, 10)
    with torch.no_grad():
        singles = [network._slice_along(image, axis) for axis in (2, 3, 4)]
        averaged = network(image)
    assert averaged.shape == (1, 1, 8, 6, 10)
    torch.testing.assert_close(averaged, torch.stack(singles).mean(dim=0))
    assert not torch.allclose(singles[0], singles[1])


def test_orientation_averaging_trains_on_one_random_slicing_axis_per_pass():
    network = _network(SliceStackConfig(widths=(4, 8), average_orientations=True)).train()
    image = torch.randn(1, 2, 8, 6, 10)
    with torch.no_grad():
        singles = [network._slice_along(image, axis) for axis in (2, 3, 4)]
        drawn = [network(image) for _ in range(12)]
    matches = {next(axis for axis, single in enumerate(singles) if torch.equal(out, single)) for out in drawn}
    assert len(matches) > 1


def test_config_json_round_trip_rebuilds_the_network():
    record = json.loads(json.dumps(TINY.to_json_dict()))
    assert SliceStackConfig.from_json_dict(record) == TINY
    assert isinstance(build_network_from_record("SliceStackUNet", record), SliceStackUNet)


@pytest.mark.parametrize(
    ("field", "value"), [("slices", 6), ("slices", 0), ("widths", ()), ("input_channels", 0)]
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SliceStackConfig(**{field: value})


def test_unknown_architecture_lists_the_known_ones():
    with pytest.raises(ValueError, match="ConditionalUNet"):
        build_network_from_record("Nope", {})
