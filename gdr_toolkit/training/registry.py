"""Trainer classes by name: an explicit table of the built-in ones plus opt-in external folders.

External trainers: set the environment variable ``gdr_trainer_paths`` to one or more folders (separated
by ``os.pathsep``, ``:`` on Linux). Every ``*.py`` file directly in those folders (no recursion) is
imported once per process (``gdr_toolkit/external_code.py``); the ``GDRTrainer`` subclasses it defines
become available by class name (``-tr NAME``).
"""

from __future__ import annotations

import inspect
import logging
from types import ModuleType

from gdr_toolkit.external_code import EXTERNAL_PATHS_VARIABLE, import_external_files
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
TRAINER_PATHS_VARIABLE = EXTERNAL_PATHS_VARIABLE
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


def _trainers_of(module: ModuleType) -> list[type[GDRTrainer]]:
    """The GDRTrainer subclasses defined in ``module`` (not those it imports)."""
    return [
        member
        for _, member in inspect.getmembers(module, inspect.isclass)
        if issubclass(member, GDRTrainer) and member.__module__ == module.__name__
    ]


def external_trainers() -> dict[str, type[GDRTrainer]]:
    """Trainers defined in the folders of ``$gdr_trainer_paths`` (empty when it is unset).

    Raises:
        FileNotFoundError: a named folder does not exist.
        ImportError: a file fails to import.
        ValueError: a trainer's name is taken (by a built-in or another external trainer).
    """
    found: dict[str, type[GDRTrainer]] = {}
    for path, module in import_external_files():
        for trainer in _trainers_of(module):
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
