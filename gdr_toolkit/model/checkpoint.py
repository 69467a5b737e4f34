"""Self-describing training checkpoints, written atomically and loadable with ``weights_only=True``.

``fold_K/checkpoint_{latest,best,final}.pth`` hold one dict (keys in :data:`CHECKPOINT_KEYS`):
everything inference needs to rebuild the network (trainer name, plans, configuration, network
architecture and configuration, what the network reads and predicts, condition keys and normalisation,
gamma) and everything a resumed run needs to continue bit-for-bit (epoch, iteration, optimiser,
scheduler and GradScaler states, RNG states). Only tensors, dicts, lists, str, int, float, bool and None
are stored, so ``torch.load(path, weights_only=True)`` (no arbitrary code execution) reads them. Keys added after format version 1 was fixed
(``network_architecture``, ``prediction_target``, ``input_channel_names``, ``precision``) are optional
when reading: older checkpoints mean ``ConditionalUNet``, the contrast-signal defaults and the device's
default precision. ``precision`` is the training policy's name (``"bf16"``, ``"fp16"``, ``"fp32"``,
``network.precision``); inference reuses it. Optional keys, not in :data:`CHECKPOINT_KEYS`:
``training_ranges`` (the ranges of the fold's training cases, ``model/training_ranges.py``; absent in
older checkpoints, whose models are predicted without the out-of-distribution check).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from gdr_toolkit.file_io import atomic_path

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT_VERSION = 1
CheckpointKind = Literal["latest", "best", "final"]
CHECKPOINT_KEYS = (
    "format_version",
    "trainer_name",
    "plans",
    "configuration",
    "fold",
    "init_args",
    "precision",
    "trainer_settings",
    "network_architecture",
    "network_config",
    "prediction_target",
    "input_channel_names",
    "condition_keys",
    "condition_normalisation",
    "gamma",
    "train_case_ids",
    "validation_case_ids",
    "epoch",
    "iteration",
    "best_validation_loss",
    "network_state",
    "optimizer_state",
    "scheduler_state",
    "grad_scaler_state",
    "rng_state",
)


def checkpoint_path(fold_folder: Path, kind: CheckpointKind) -> Path:
    """``fold_folder/checkpoint_<kind>.pth``."""
    return Path(fold_folder) / f"checkpoint_{kind}.pth"


def snapshot_path(fold_folder: Path, iteration: int) -> Path:
    """``fold_folder/checkpoint_iteration_<N>.pth``: a snapshot kept at iteration N (``snapshot_iterations``)."""
    return Path(fold_folder) / f"checkpoint_iteration_{iteration}.pth"


def save_checkpoint(checkpoint: dict[str, Any], path: Path) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temporary file + rename)."""
    missing = set(CHECKPOINT_KEYS) - set(checkpoint)
    if missing:
        raise ValueError(f"checkpoint for {path} lacks {sorted(missing)}")
    with atomic_path(path) as temporary:
        torch.save(checkpoint, temporary)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU with ``weights_only=True``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError ...
        raise ValueError(f"{path}: cannot be read as a gdr_toolkit checkpoint ({error})") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(
            f"{path}: not a gdr_toolkit checkpoint of format version {CHECKPOINT_FORMAT_VERSION}"
        )
    return checkpoint


def load_matching_parameters(network: nn.Module, path: Path, description: str) -> None:
    """Copy into ``network`` the parameters of checkpoint ``path`` whose names and shapes match.

    The others keep their values and are named in a warning (fine-tuning, ``-pretrained_weights``).

    Raises:
        ValueError: no parameter matches (``description`` names the network's trainer in the message).
    """
    stored = load_checkpoint(path)["network_state"]
    own = network.state_dict()
    matching = {key: value for key, value in stored.items() if key in own and own[key].shape == value.shape}
    if not matching:
        raise ValueError(f"{path}: no parameter matches this network ({description})")
    skipped = sorted(set(own) - set(matching))
    if skipped:
        logger.warning("%s: %d parameter(s) keep their initialisation: %s", path, len(skipped), skipped[:5])
    network.load_state_dict(own | matching)


def capture_rng_state() -> dict[str, Any]:
    """The python, numpy, torch (and CUDA) global RNG states as tensors, lists and scalars."""
    python_version, python_state, python_gauss = random.getstate()
    _, numpy_keys, numpy_position, numpy_has_gauss, numpy_gauss = np.random.get_state()
    return {
        "python": [python_version, list(python_state), python_gauss],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(numpy_keys, dtype=np.int64)),
            "position": int(numpy_position),
            "has_gauss": int(numpy_has_gauss),
            "cached_gaussian": float(numpy_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only where CUDA is available)."""
    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))
    numpy = state["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, numpy["position"], numpy["has_gauss"], numpy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
