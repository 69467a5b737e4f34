"""Python files a user adds to the toolkit: every ``*.py`` file in the folders of ``$gdr_trainer_paths``.

The environment variable ``gdr_trainer_paths`` names one or more folders (separated by ``os.pathsep``,
``:`` on Linux); every ``*.py`` file directly in them (no recursion) is imported, in sorted order per
folder, each once per process: a second call returns the same module objects, so a file that registers
something when imported (a network architecture, ``network.architectures.register_architecture``)
registers it once. Training reads the trainer classes of these modules (``training/registry.py``);
loading a model imports them when a checkpoint names a network architecture that is not built in
(``model/network_builder.py``). This module knows nothing of what the files define.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

logger = logging.getLogger(__name__)
EXTERNAL_PATHS_VARIABLE = "gdr_trainer_paths"
MODULE_PREFIX = "gdr_external_trainers"
_imported: dict[Path, ModuleType] = {}


def external_folders() -> list[Path]:
    """The folders named by ``$gdr_trainer_paths`` (empty when it is unset or empty).

    Raises:
        FileNotFoundError: a named folder does not exist.
    """
    folders = [Path(part) for part in os.environ.get(EXTERNAL_PATHS_VARIABLE, "").split(os.pathsep) if part]
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"${EXTERNAL_PATHS_VARIABLE} names {folder}, which is not a folder")
    return folders


def import_file(path: Path) -> ModuleType:
    """The module of one Python file, imported once per process under a name unique to its path.

    Raises:
        ImportError: the file cannot be imported (the message names it and the variable; chained to
            the file's own error).
    """
    path = Path(path).resolve()
    if path in _imported:
        return _imported[path]
    module_name = f"{MODULE_PREFIX}.{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    specification = importlib.util.spec_from_file_location(module_name, path)
    if specification is None or specification.loader is None:
        raise ImportError(f"cannot import {path} (from ${EXTERNAL_PATHS_VARIABLE}): not a Python file")
    module = importlib.util.module_from_spec(specification)
    sys.modules[module_name] = module  # dataclasses and pickle look classes up by their module's name
    try:
        specification.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise ImportError(f"{path} (from ${EXTERNAL_PATHS_VARIABLE}) failed to import: {error}") from error
    _imported[path] = module
    logger.debug("imported %s as %s", path, module_name)
    return module


def import_external_files() -> list[tuple[Path, ModuleType]]:
    """(file, module) of every ``*.py`` file in the folders of ``$gdr_trainer_paths``, in order.

    Raises:
        FileNotFoundError: a named folder does not exist.
        ImportError: a file fails to import.
    """
    return [
        (path, import_file(path)) for folder in external_folders() for path in sorted(folder.glob("*.py"))
    ]
