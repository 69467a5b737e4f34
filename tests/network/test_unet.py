from __future__ import annotations

import json

import pytest
import torch

from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig, minimum_divisor

TINY = NetworkConfig(widths=(4, 8, 16), embedding_features=8)


def _perturbed(config: NetworkConfig, seed: int = 0) -> ConditionalUNet:
    """A network whose zero-initialised last convs of every CRB are made non-zero."""
    torch.manual_seed(seed)
    model = ConditionalUNet(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "conv_out" in name:
                parameter.normal_(0.0, 0.1)
    return model


def test_unet_output_shape():
    output = ConditionalUNet(TINY)(torch.randn(2, 3, 16, 16, 8), torch.randn(2, 4))
    assert output.shape == (2, 1, 16, 16, 8)


@pytest.mark.parametrize("fusion", ["gated", "concatenate"])
@pytest.mark.parametrize("downsampling", ["blur_pool", "strided"])
def test_unet_ablation_variants_keep_the_output_shape(fusion, downsampling):
    config = NetworkConfig(widths=(4, 8), embedding_features=8, fusion=fusion, downsampling=downsampling)
    assert ConditionalUNet(config)(torch.randn(1, 3, 8, 8, 8), torch.randn(1, 4)).shape == (1, 1, 8, 8, 8)


def test_unet_output_is_non_negative_with_relu():
    model = _perturbed(TINY)
    with torch.no_grad():
        model.head[1].bias.fill_(-0.05)
    output = model(torch.randn(2, 3, 16, 16, 16), torch.randn(2, 4))
    assert output.min() >= 0 and (output == 0).any()


def test_unet_identity_output_can_be_negative():
    model = _perturbed(NetworkConfig(widths=(4, 8, 16), embedding_features=8, output_activation="identity"))
    with torch.no_grad():
        model.head[1].bias.fill_(-10.0)
    assert model(torch.randn(1, 3, 16, 16, 16), torch.randn(1, 4)).min() < 0


def test_unet_conditioning_changes_the_output():
    model = _perturbed(NetworkConfig(widths=(4, 8, 16), embedding_features=8, output_activation="identity"))
    image = torch.randn(1, 3, 16, 16, 16).expand(2, -1, -1, -1, -1)
    output = model(image, torch.tensor([[0.1, 1.5, 4.6, 0.05], [0.3, 3.0, 4.5, 0.2]]))
    assert not torch.allclose(output[0], output[1])


def test_unet_without_condition_gives_equal_outputs_for_equal_images():
    model = _perturbed(NetworkConfig(widths=(4, 8, 16), embedding_features=8, condition_features=0))
    image = torch.randn(1, 3, 16, 16, 16).expand(3, -1, -1, -1, -1)
    output = model(image, torch.zeros(3, 0))
    assert torch.equal(output[0], output[1]) and torch.equal(output[0], output[2])


def test_unet_feeds_downscaled_inputs_into_every_coarser_scale():
    model = ConditionalUNet(TINY)
    assert [stack[0].conv_in.in_channels for stack in model.encoder] == [4, 4 + 3, 8 + 3]


def test_unet_size_not_divisible_raises():
    with pytest.raises(ValueError, match="divisible by 4"):
        ConditionalUNet(TINY)(torch.randn(1, 3, 16, 18, 16), torch.randn(1, 4))


def test_unet_wrong_channel_count_raises():
    with pytest.raises(ValueError, match=r"\(B, 3, D, H, W\)"):
        ConditionalUNet(TINY)(torch.randn(1, 2, 16, 16, 16), torch.randn(1, 4))


def test_unet_condition_batch_mismatch_raises():
    with pytest.raises(ValueError, match="batch size"):
        ConditionalUNet(TINY)(torch.randn(2, 3, 16, 16, 16), torch.randn(1, 4))


def test_minimum_divisor_is_two_to_the_scales_minus_one():
    assert minimum_divisor(TINY) == 4 and minimum_divisor(NetworkConfig()) == 8


def test_network_config_json_round_trip():
    config = NetworkConfig(
        widths=(8, 16), condition_features=0, fusion="concatenate", output_activation="identity"
    )
    assert NetworkConfig.from_json_dict(json.loads(json.dumps(config.to_json_dict()))) == config


def test_network_config_defaults_are_the_paper_network():
    config = NetworkConfig()
    assert (config.widths, config.embedding_features, config.input_channels) == ((32, 64, 128, 256), 128, 3)
    assert (config.fusion, config.downsampling, config.output_activation) == ("gated", "blur_pool", "relu")


def test_network_config_unknown_field_raises():
    with pytest.raises(ValueError, match="depth"):
        NetworkConfig.from_json_dict({"depth": 4})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("widths", ()),
        ("widths", (8, 0)),
        ("blocks_per_scale", 0),
        ("condition_features", -1),
        ("fusion", "add"),
    ],
)
def test_network_config_invalid_value_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"NetworkConfig.{field}"):
        NetworkConfig(**{field: value})


def test_input_and_output_scales_equal_scaling_outside_the_network():
    scaled_config = NetworkConfig(
        widths=(4, 8, 16), embedding_features=8, input_scales=(20.0, 1.0, 25.0), output_scale=0.04
    )
    plain, scaled = _perturbed(TINY, seed=3), _perturbed(scaled_config, seed=3)
    image, condition = torch.rand(1, 3, 16, 16, 8), torch.randn(1, 4)
    factors = torch.tensor([20.0, 1.0, 25.0]).view(1, 3, 1, 1, 1)
    expected = plain(image * factors, condition) * 0.04
    torch.testing.assert_close(scaled(image, condition), expected)
    assert "input_scales" not in scaled.state_dict()  # derived from the configuration, old checkpoints load
    plain.load_state_dict(scaled.state_dict())


def test_scaled_network_config_round_trips_through_json():
    config = NetworkConfig(input_scales=(2.0, 1.0, 3.0), output_scale=0.5)
    assert NetworkConfig.from_json_dict(json.loads(json.dumps(config.to_json_dict()))) == config


@pytest.mark.parametrize(
    "values", [{"input_scales": (1.0, 2.0)}, {"input_scales": (1.0, 0.0, 1.0)}, {"output_scale": 0.0}]
)
def test_bad_scales_are_refused(values):
    with pytest.raises(ValueError, match="scale"):
        NetworkConfig(**values)
