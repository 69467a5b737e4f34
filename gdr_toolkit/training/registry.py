"""Trainer classes by name: an explicit table of the built-in ones plus opt-in external folders.

External trainers: set the environment variable ``gdr_trainer_paths`` to one or more folders (separated
by ``os.pathsep``, ``:`` on Linux). Every ``*.py`` file directly in those folders (no recursion) is
imported; the ``GDRTrainer`` subclasses it defines become available by class name (``-tr NAME``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import logging
import os
from pathlib import Path

from gdr_toolkit.training.trainer import GDRTrainer
from gdr_toolkit.training.variants.conditioning import GDRTrainer_NoCondition
from gdr_toolkit.training.variants.direct_regression import GDRTrainer_DirectSD2p5D, GDRTrainer_DirectSD3D
from gdr_toolkit.training.variants.loss_variants import GDRTrainer_L2, GDRTrainer_UniformWeights
from gdr_toolkit.training.variants.network_variants import GDRTrainer_ConcatSkips, GDRTrainer_StridedDown
from gdr_toolkit.training.variants.schedules import (
    GDRTrainer_1epoch_10iters,
    GDRTrainer_5epochs,
    GDRTrainer_5epochs_50iters,
    GDRTrainer_CPUDemo,
    GDRTrainer_NoiseUnits,
    GDRTrainer_Reference,
)

logger = logging.getLogger(__name__)
TRAINER_PATHS_VARIABLE = "gdr_trainer_paths"
BUILTIN_TRAINERS: dict[str, type[GDRTrainer]] = {
    trainer.__name__: trainer
    for trainer in (
        GDRTrainer,
        GDRTrainer_NoCondition,
        GDRTrainer_L2,
        GDRTrainer_UniformWeights,
        GDRTrainer_ConcatSkips,
        GDRTrainer_StridedDown,
        GDRTrainer_5epochs,
        GDRTrainer_1epoch_10iters,
        GDRTrainer_5epochs_50iters,
        GDRTrainer_CPUDemo,
        GDRTrainer_Reference,
        GDRTrainer_NoiseUnits,
        GDRTrainer_DirectSD3D,
        GDRTrainer_DirectSD2p5D,
    )
}


def _import_file(path: Path) -> list[type[GDRTrainer]]:
    """Import one file under a unique module name; return the GDRTrainer subclasses it defines."""
    module_name = f"gdr_external_trainers.{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    specification = importlib.util.spec_from_file_location(module_name, path)
    if specification is None or specification.loader is None:
        raise ImportError(f"cannot import trainer file {path}")
    module = importlib.util.module_from_spec(specification)
    try:
        specification.loader.exec_module(module)
    except Exception as error:
        raise ImportError(
            f"trainer file {path} (from ${TRAINER_PATHS_VARIABLE}) failed to import: {error}"
        ) from error
    return [
        member
        for _, member in inspect.getmembers(module, inspect.isclass)
        if issubclass(member, GDRTrainer) and member.__module__ == module_name
    ]


def external_trainers() -> dict[str, type[GDRTrainer]]:
    """Trainers defined in the folders of ``$gdr_trainer_paths`` (empty when it is unset)."""
    found: dict[str, type[GDRTrainer]] = {}
    for folder in filter(None, os.environ.get(TRAINER_PATHS_VARIABLE, "").split(os.pathsep)):
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"${TRAINER_PATHS_VARIABLE} names {folder}, which is not a folder")
        for path in sorted(Path(folder).glob("*.py")):
            for trainer in _import_file(path):
                if trainer.__name__ in BUILTIN_TRAINERS or trainer.__name__ in found:
                    raise ValueError(
                        f"{path}: trainer name {trainer.__name__} is already taken; rename the class"
                    )
                found[trainer.__name__] = trainer
    return found


def available_trainers() -> dict[str, type[GDRTrainer]]:
    """Built-in and external trainers by name."""
    return BUILTIN_TRAINERS | external_trainers()


def get_trainer_class(name: str) -> type[GDRTrainer]:
    """The trainer class called ``name``.

    Raises:
        ValueError: no such trainer (the message lists the available ones).
    """
    trainers = available_trainers()
    if name not in trainers:
        raise ValueError(
            f"unknown trainer {name!r}; available: {', '.join(sorted(trainers))}. External trainers are "
            f"found in the folders of ${TRAINER_PATHS_VARIABLE}."
        )
    return trainers[name]
