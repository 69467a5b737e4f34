"""Network classes by name, so a checkpoint can be rebuilt from its ``network_architecture`` and
``network_config`` keys alone (an explicit table, no package scan).

Every listed class takes one config dataclass with ``to_json_dict``/``from_json_dict`` and is called as
``network(image (B, C, D, H, W), condition (B, K))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from gdr_toolkit.network.slice_stack_unet import SliceStackConfig, SliceStackUNet
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig

#: What checkpoints without a ``network_architecture`` key hold.
DEFAULT_ARCHITECTURE = "ConditionalUNet"
ARCHITECTURES: dict[str, tuple[Callable[[Any], nn.Module], Callable[[dict[str, Any]], Any]]] = {
    "ConditionalUNet": (ConditionalUNet, NetworkConfig.from_json_dict),
    "SliceStackUNet": (SliceStackUNet, SliceStackConfig.from_json_dict),
}


def _entry(architecture: str) -> tuple[Callable[[Any], nn.Module], Callable[[dict[str, Any]], Any]]:
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown network architecture {architecture!r}; known: {sorted(ARCHITECTURES)}. Inference rebuilds "
            "a network from its checkpoint alone: a new network class needs an entry in ARCHITECTURES "
            "(gdr_toolkit/network/architectures.py)."
        )
    return ARCHITECTURES[architecture]


def parse_network_config(architecture: str, config_record: dict[str, Any]) -> Any:
    """The config dataclass of ``architecture`` from its JSON record.

    Raises:
        ValueError: unknown architecture (the message lists the known ones) or an invalid config.
    """
    return _entry(architecture)[1](config_record)


def build_network_from_record(architecture: str, config_record: dict[str, Any]) -> nn.Module:
    """A fresh (untrained) network of class ``architecture`` from its JSON config (errors: as above)."""
    return _entry(architecture)[0](parse_network_config(architecture, config_record))
