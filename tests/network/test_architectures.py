"""The architecture registry: names checkpoints store, registration of external classes, clashes."""

from __future__ import annotations

import pytest
from torch import nn

from gdr_toolkit.network import architectures
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig


class Doubling(nn.Module):
    def __init__(self, config: dict) -> None:
        super().__init__()
        self.config = config

    def forward(self, image, condition):
        return 2 * image


@pytest.fixture(autouse=True)
def builtin_only(monkeypatch):
    monkeypatch.setattr(architectures, "ARCHITECTURES", dict(architectures.ARCHITECTURES))


def test_a_registered_class_is_built_from_its_record_and_named_by_its_registration():
    architectures.register_architecture("Doubler", Doubling, dict)
    network = architectures.build_network_from_record("Doubler", {"factor": 2})
    assert type(network) is Doubling and network.config == {"factor": 2}
    assert architectures.architecture_name(network) == "Doubler"
    assert architectures.architecture_name(ConditionalUNet(NetworkConfig(widths=(4,)))) == "ConditionalUNet"


def test_a_taken_name_is_refused_naming_the_class_that_holds_it():
    with pytest.raises(
        ValueError, match="'ConditionalUNet' is taken by gdr_toolkit.network.unet.ConditionalUNet"
    ):
        architectures.register_architecture("ConditionalUNet", Doubling, dict)
    assert architectures.ARCHITECTURES["ConditionalUNet"].network_class is ConditionalUNet


def test_a_class_registered_twice_and_a_non_module_are_refused():
    architectures.register_architecture("Doubler", Doubling, dict)
    with pytest.raises(ValueError, match="registered already, as 'Doubler'"):
        architectures.register_architecture("Doubler2", Doubling, dict)
    with pytest.raises(ValueError, match="expected an nn.Module subclass"):
        architectures.register_architecture("Function", print, dict)  # type: ignore[arg-type]


def test_an_unknown_architecture_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown network architecture 'Nope'.*SliceStackUNet.*register_architecture"
    ):
        architectures.build_network_from_record("Nope", {})
