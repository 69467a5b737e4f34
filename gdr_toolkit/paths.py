"""Folder conventions: the ``gdr_raw``, ``gdr_preprocessed`` and ``gdr_results`` environment variables.

Variables are read lazily (at call time, never at import), so a process can set them after import and
commands that need only one of them do not fail on the others.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

RAW_VARIABLE = "gdr_raw"
PREPROCESSED_VARIABLE = "gdr_preprocessed"
RESULTS_VARIABLE = "gdr_results"

_DATASET_NAME_PATTERN = re.compile(r"^Dataset(\d{3})_([A-Za-z0-9][A-Za-z0-9_\-]*)$")


def _folder_from_variable(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        raise OSError(
            f"The environment variable {variable!r} is not set. Point it at a folder, e.g. "
            f"`export {variable}=/data/{variable}` (see documentation/setting_up_paths.md)."
        )
    return Path(value)


def raw_folder() -> Path:
    """Root of the raw datasets (``$gdr_raw``)."""
    return _folder_from_variable(RAW_VARIABLE)


def preprocessed_folder() -> Path:
    """Root of the preprocessed datasets (``$gdr_preprocessed``)."""
    return _folder_from_variable(PREPROCESSED_VARIABLE)


def results_folder() -> Path:
    """Root of trained models (``$gdr_results``)."""
    return _folder_from_variable(RESULTS_VARIABLE)


def use_output_folders(root: Path) -> None:
    """Point the three variables at ``root/gdr_raw`` etc. in this process and create the folders (used
    by self-contained runs such as ``gdr_demo`` and ``gdr_reproduce``)."""
    for variable in (RAW_VARIABLE, PREPROCESSED_VARIABLE, RESULTS_VARIABLE):
        folder = (root / variable).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[variable] = str(folder)


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """``DatasetXXX_Name`` for an id in 1..999 and a name of letters, digits, ``_`` and ``-``."""
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"Dataset id must be in 1..999, got {dataset_id}.")
    candidate = f"Dataset{dataset_id:03d}_{name}"
    if not _DATASET_NAME_PATTERN.match(candidate):
        raise ValueError(f"Dataset name {name!r} may only hold letters, digits, '_' and '-'.")
    return candidate


def parse_dataset_identifier(identifier: int | str) -> tuple[int | None, str | None]:
    """Split ``1``, ``"1"``, ``"001"`` or ``"Dataset001_Name"`` into (id, full folder name or None)."""
    text = str(identifier).strip()
    if text.isdigit():
        return int(text), None
    match = _DATASET_NAME_PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"Cannot read dataset identifier {identifier!r}: expected an integer id such as 1 or a folder "
            "name such as Dataset001_Phantom."
        )
    return int(match.group(1)), text


def resolve_dataset_name(identifier: int | str, search_roots: list[Path] | None = None) -> str:
    """Return the unique ``DatasetXXX_Name`` folder name for an id or name.

    Args:
        identifier: ``1``, ``"1"`` or ``"Dataset001_Name"``.
        search_roots: folders to search; default: those of ``gdr_raw``, ``gdr_preprocessed`` and
            ``gdr_results`` that are set and exist.

    Raises:
        FileNotFoundError: no folder matches.
        ValueError: several different names share the id.
    """
    dataset_id, full_name = parse_dataset_identifier(identifier)
    if search_roots is None:
        search_roots = [
            Path(os.environ[var])
            for var in (RAW_VARIABLE, PREPROCESSED_VARIABLE, RESULTS_VARIABLE)
            if os.environ.get(var)
        ]
        if not search_roots:
            raise OSError(
                f"None of {RAW_VARIABLE}, {PREPROCESSED_VARIABLE}, {RESULTS_VARIABLE} is set, so dataset "
                f"{identifier!r} cannot be found."
            )
    prefix = f"Dataset{dataset_id:03d}_"
    matches = sorted(
        {
            entry.name
            for root in search_roots
            if root.is_dir()
            for entry in root.iterdir()
            if entry.is_dir() and entry.name.startswith(prefix) and _DATASET_NAME_PATTERN.match(entry.name)
        }
    )
    if full_name is not None:
        matches = [name for name in matches if name == full_name]
    if not matches:
        roots = ", ".join(str(root) for root in search_roots)
        raise FileNotFoundError(
            f"No dataset folder matches {identifier!r} (looked for {prefix}* in {roots})."
        )
    if len(matches) > 1:
        raise ValueError(
            f"Dataset id {dataset_id} is ambiguous: {', '.join(matches)}. Rename one or pass the full name."
        )
    return matches[0]


def raw_dataset_folder(identifier: int | str) -> Path:
    """``$gdr_raw/DatasetXXX_Name`` for an id or name (the dataset must exist in ``gdr_raw``)."""
    root = raw_folder()
    return root / resolve_dataset_name(identifier, [root])
