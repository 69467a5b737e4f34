"""A model's network, built from its plan (for training) or from its checkpoint (for inference).

Training: :func:`plan_network_config` turns a plan configuration's ``network`` record, the prediction
spec (input channels, output meaning), the number of condition keys and optionally a noise unit into a
:class:`NetworkConfig`; :func:`build_network` makes the ``ConditionalUNet`` of it. Inference:
:func:`network_from_checkpoint` rebuilds the stored ``network_architecture`` (one of
``network.architectures.ARCHITECTURES``; absent in old checkpoints: ``ConditionalUNet``) from the stored
``network_config`` and loads the stored weights. No trainer is constructed or imported: a checkpoint
describes its network completely, including a variant's changes (e.g. ``fusion``, ``SliceStackUNet``)
and the noise unit it was trained with. An architecture that is not built in is looked for in the files
of ``$gdr_trainer_paths`` (``external_code``), which register their networks when imported.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from torch import nn

from gdr_toolkit.external_code import EXTERNAL_PATHS_VARIABLE, import_external_files
from gdr_toolkit.model.prediction_spec import PredictionSpec
from gdr_toolkit.network.architectures import DEFAULT_ARCHITECTURE, build_network_from_record, is_registered
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig
from gdr_toolkit.planning.plans import ConfigurationPlan

logger = logging.getLogger(__name__)
#: Input channels expressed in units of sigma_LD when a model is trained in noise units.
NOISE_UNIT_CHANNELS = frozenset({"z_ld", "s_ld"})


def has_noise_unit_quantities(prediction: PredictionSpec) -> bool:
    """Whether anything the network reads or predicts can be expressed in units of sigma_LD.

    True when an input is z_LD or s_LD or the output is the contrast signal; a direct-regression model of
    images (inputs x_PC, x_LD, output x_SD) has nothing in those units.
    """
    in_noise_units = NOISE_UNIT_CHANNELS & set(prediction.input_channel_names)
    return bool(in_noise_units) or prediction.prediction_target == "contrast_signal"


def plan_network_config(
    configuration: ConfigurationPlan,
    prediction: PredictionSpec,
    condition_count: int,
    noise_unit: float | None = None,
) -> NetworkConfig:
    """The plan's network with the input channels and condition features of one model.

    Args:
        configuration: the plan configuration whose ``network`` record gives widths, blocks, ...
        prediction: the input channels (their count is ``input_channels``) and the output meaning.
        condition_count: K, the number of condition keys (``condition_features``; 0: unconditioned).
        noise_unit: sigma_LD in the normalised intensity units of the inputs, or None. When given (and
            :func:`has_noise_unit_quantities`), the network's fixed input factors divide z_LD and s_LD by it
            and a contrast-signal output is multiplied by it, so the layers work on quantities of order
            one (documentation/convergence.md).

    Raises:
        ValueError: ``noise_unit`` is not finite and positive, or the record is not a valid config.
    """
    record = {**configuration.network, "condition_features": condition_count}
    record["input_channels"] = len(prediction.input_channel_names)
    if noise_unit is not None and has_noise_unit_quantities(prediction):
        if not 0 < noise_unit < float("inf"):
            raise ValueError(f"noise_unit must be finite and > 0 (sigma_LD), got {noise_unit!r}")
        record["input_scales"] = [
            1.0 / noise_unit if name in NOISE_UNIT_CHANNELS else 1.0
            for name in prediction.input_channel_names
        ]
        record["output_scale"] = noise_unit if prediction.prediction_target == "contrast_signal" else 1.0
    return NetworkConfig.from_json_dict(record)


def build_network(config: NetworkConfig) -> ConditionalUNet:
    """A fresh (untrained) ``ConditionalUNet`` of ``config``."""
    return ConditionalUNet(config)


def network_from_checkpoint(checkpoint: Mapping[str, Any], source: str = "checkpoint") -> nn.Module:
    """The checkpoint's network with its weights, in eval mode on the CPU.

    Args:
        checkpoint: a loaded checkpoint (``model.checkpoint.load_checkpoint``): ``network_config``,
            ``network_state`` and, from format version 1 on, optionally ``network_architecture``.
        source: names the checkpoint in error messages (its path).

    Raises:
        ValueError: the architecture is neither built in nor registered by a file of
            ``$gdr_trainer_paths``, such a file fails to import, the configuration is invalid, or the
            weights do not fit the network (each message names ``source``).
        FileNotFoundError: ``$gdr_trainer_paths`` names a folder that does not exist.
    """
    architecture = checkpoint.get("network_architecture") or DEFAULT_ARCHITECTURE
    _register_external(architecture, source)
    try:
        network = build_network_from_record(architecture, checkpoint["network_config"])
        network.load_state_dict(checkpoint["network_state"])
    except (ValueError, TypeError, RuntimeError) as error:  # load_state_dict raises RuntimeError
        raise ValueError(f"{source}: cannot rebuild its {architecture} network ({error})") from error
    logger.debug("%s: rebuilt %s from the stored network_config", source, architecture)
    return network.eval()


def _register_external(architecture: str, source: str) -> None:
    """Import the files of ``$gdr_trainer_paths`` when ``architecture`` is not registered yet (an external
    trainer's network registers itself on import); built-in architectures import nothing."""
    if is_registered(architecture):
        return
    try:
        imported = import_external_files()
    except ImportError as error:
        raise ValueError(f"{source}: looking for network architecture {architecture!r}: {error}") from error
    if not is_registered(architecture):
        searched = [str(path) for path, _ in imported]
        raise ValueError(
            f"{source}: network architecture {architecture!r} is not built in, and no file in "
            f"${EXTERNAL_PATHS_VARIABLE} registers it (files imported: {searched or 'none'}). Set "
            f"${EXTERNAL_PATHS_VARIABLE} to the folder of the trainer file that defines it and calls "
            f"register_architecture({architecture!r}, ...) (documentation/training.md)."
        )
