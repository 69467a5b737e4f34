import pytest
import torch

from gdr_toolkit.network.output_activation import LeakyGradientReLU
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig


def _values_and_gradient(leak: float) -> tuple[torch.Tensor, torch.Tensor]:
    features = torch.tensor([-2.0, -0.5, 0.5, 3.0], requires_grad=True)
    output = LeakyGradientReLU(leak)(features)
    output.backward(torch.full_like(output, 2.0))
    return output.detach(), features.grad


def test_forward_values_are_a_plain_relu():
    values, _ = _values_and_gradient(0.1)
    assert torch.equal(values, torch.tensor([0.0, 0.0, 0.5, 3.0]))


def test_gradient_is_leak_below_zero_and_one_above():
    _, gradient = _values_and_gradient(0.1)
    assert torch.allclose(gradient, torch.tensor([0.2, 0.2, 2.0, 2.0]))


def test_zero_leak_is_the_plain_relu_gradient():
    _, gradient = _values_and_gradient(0.0)
    assert torch.equal(gradient, torch.tensor([0.0, 0.0, 2.0, 2.0]))


@pytest.mark.parametrize("leak", [-0.1, 1.0])
def test_leak_outside_unit_interval_is_rejected(leak):
    with pytest.raises(ValueError, match="leak"):
        LeakyGradientReLU(leak)


def test_dead_output_recovers_only_with_the_leak():
    """A head pushed below zero everywhere predicts 0; with the leak a positive target revives it."""
    config = NetworkConfig(widths=(4, 8), embedding_features=8, condition_features=0)
    inputs, condition = torch.randn(1, 3, 8, 8, 8), torch.zeros(1, 0)
    target = torch.ones(1, 1, 8, 8, 8)
    for leak, expect_gradient in ((0.0, False), (0.1, True)):
        torch.manual_seed(0)
        network = ConditionalUNet(NetworkConfig(**{**config.to_json_dict(), "relu_gradient_leak": leak}))
        with torch.no_grad():
            network.head[-1].bias.fill_(-100.0)
        prediction = network(inputs, condition)
        assert torch.count_nonzero(prediction) == 0
        torch.nn.functional.mse_loss(prediction, target).backward()
        has_gradient = network.head[-1].bias.grad.abs().item() > 0
        assert has_gradient == expect_gradient
