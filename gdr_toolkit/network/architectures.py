"""Network classes by name, so a checkpoint can be rebuilt from its ``network_architecture`` and
``network_config`` keys alone (an explicit table, no package scan).

Every registered class takes one config object (a dataclass with ``to_json_dict``) as its only argument,
keeps it as ``network.config`` and is called as ``network(image (B, C, D, H, W), condition (B, K))``.
The built-in classes are listed below; a network class defined outside the toolkit (a file in
``$gdr_trainer_paths``, documentation/training.md) registers itself with :func:`register_architecture`
when its file is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from torch import nn

from gdr_toolkit.network.slice_stack_unet import SliceStackConfig, SliceStackUNet
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig


class Architecture(NamedTuple):
    """A registered network class and the parser of its stored configuration.

    Attributes:
        network_class: called with the parsed config, returns a fresh (untrained) network.
        parse_config: turns the checkpoint's ``network_config`` record (a JSON dict) into the config.
    """

    network_class: type[nn.Module]
    parse_config: Callable[[dict[str, Any]], Any]


#: What checkpoints without a ``network_architecture`` key hold.
DEFAULT_ARCHITECTURE = "ConditionalUNet"
ARCHITECTURES: dict[str, Architecture] = {
    "ConditionalUNet": Architecture(ConditionalUNet, NetworkConfig.from_json_dict),
    "SliceStackUNet": Architecture(SliceStackUNet, SliceStackConfig.from_json_dict),
}


def register_architecture(
    name: str, network_class: type[nn.Module], parse_config: Callable[[dict[str, Any]], Any]
) -> None:
    """Make ``network_class`` rebuildable from checkpoints that store ``network_architecture == name``.

    Args:
        name: the name checkpoints store (by convention the class name).
        network_class: an ``nn.Module`` subclass taking its config as the only argument.
        parse_config: the config from its JSON record (e.g. ``MyConfig.from_json_dict``).

    Raises:
        ValueError: ``name`` or ``network_class`` is registered already (each name means one class, each
            class has one name), or ``network_class`` is not an ``nn.Module`` subclass.
    """
    if not (isinstance(network_class, type) and issubclass(network_class, nn.Module)):
        raise ValueError(
            f"register_architecture({name!r}): expected an nn.Module subclass, got {network_class!r}"
        )
    if name in ARCHITECTURES:
        taken = ARCHITECTURES[name].network_class
        raise ValueError(
            f"network architecture name {name!r} is taken by {taken.__module__}.{taken.__qualname__}; "
            f"register {network_class.__module__}.{network_class.__qualname__} under another name"
        )
    for other, entry in ARCHITECTURES.items():
        if entry.network_class is network_class:
            raise ValueError(f"{network_class.__qualname__} is registered already, as {other!r}")
    ARCHITECTURES[name] = Architecture(network_class, parse_config)


def is_registered(architecture: str) -> bool:
    """Whether checkpoints naming ``architecture`` can be rebuilt in this process."""
    return architecture in ARCHITECTURES


def architecture_name(network: nn.Module) -> str:
    """The registered name of ``network``'s class (what its checkpoint stores).

    Raises:
        ValueError: the class is not registered (its checkpoints could not be loaded for prediction).
    """
    for name, entry in ARCHITECTURES.items():
        if type(network) is entry.network_class:
            return name
    raise ValueError(
        f"network class {type(network).__qualname__} is not a registered architecture (known: "
        f"{sorted(ARCHITECTURES)}): a checkpoint of it could not be loaded for prediction. Register it "
        "with gdr_toolkit.network.architectures.register_architecture (documentation/training.md)."
    )


def _entry(architecture: str) -> Architecture:
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown network architecture {architecture!r}; known: {sorted(ARCHITECTURES)}. Inference rebuilds "
            "a network from its checkpoint alone: a network class needs its entry in ARCHITECTURES "
            "(gdr_toolkit/network/architectures.py, or register_architecture for an external one)."
        )
    return ARCHITECTURES[architecture]


def parse_network_config(architecture: str, config_record: dict[str, Any]) -> Any:
    """The config of ``architecture`` from its JSON record.

    Raises:
        ValueError: unknown architecture (the message lists the known ones) or an invalid config.
    """
    return _entry(architecture).parse_config(config_record)


def build_network_from_record(architecture: str, config_record: dict[str, Any]) -> nn.Module:
    """A fresh (untrained) network of class ``architecture`` from its JSON config (errors: as above)."""
    return _entry(architecture).network_class(parse_network_config(architecture, config_record))
