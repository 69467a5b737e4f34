"""Share trained models as zip files: export from and install into ``$gdr_results``.

Archive members are paths relative to the results folder, e.g.
``Dataset001_Phantom/GDRTrainer__gdrPlans__3d_fullres/fold_0/{checkpoint_final.pth, training_log.jsonl,
progress.png}``. The checkpoints carry everything prediction reads (plans included). The export takes every
regular file at the top of the model folder (none today; ``plans.json`` and ``dataset_statistics.json`` in
folders of older versions, never read) and of each chosen ``fold_K`` folder except checkpoints, plus the
chosen checkpoints (sub-folders and temporary ``.tmp-*`` files are left out).

Installation treats the archive as untrusted: before anything is written every member is checked
(no absolute path, drive letter or backslash, no ``..``, no symlink or other special file, and the first
path part must be a ``DatasetXXX_Name`` folder); everything is then extracted into a temporary folder
inside ``$gdr_results``, every ``.pth`` file must load with ``torch.load(..., weights_only=True)``
(which never runs code from the pickle: custom classes are refused), and only then is each model folder
renamed into place. On any failure the temporary folder is removed and ``$gdr_results`` is unchanged.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import torch

from gdr_toolkit.file_io import TEMPORARY_PREFIX, atomic_path
from gdr_toolkit.paths import resolve_dataset_name, results_folder

logger = logging.getLogger(__name__)

CHECKPOINT_ENDING = ".pth"
_DATASET_FOLDER = re.compile(r"^Dataset\d{3}_[A-Za-z0-9][A-Za-z0-9_\-]*$")
_FOLD_FOLDER = re.compile(r"^fold_(\d+|all)$")


def _checkpoint_file_name(name: str) -> str:
    return name if name.endswith(CHECKPOINT_ENDING) else name + CHECKPOINT_ENDING


def _top_level_files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and not path.is_symlink() and not path.name.startswith(TEMPORARY_PREFIX)
        and not path.name.endswith(CHECKPOINT_ENDING)
    )  # fmt: skip


def _fold_folders(model_folder: Path, folds: Sequence[str] | None) -> list[Path]:
    if folds is None:
        found = sorted(
            path for path in model_folder.iterdir() if path.is_dir() and _FOLD_FOLDER.match(path.name)
        )
        if not found:
            raise FileNotFoundError(f"{model_folder} holds no fold_K folder.")
        return found
    chosen = [model_folder / f"fold_{fold}" for fold in folds]
    for folder in chosen:
        if not folder.is_dir():
            raise FileNotFoundError(f"fold folder {folder} does not exist.")
    return chosen


def collect_model_files(
    model_folder: Path, folds: Sequence[str] | None, checkpoints: Sequence[str]
) -> list[Path]:
    """The files an export of ``model_folder`` holds (module docstring); checkpoints must exist."""
    if not model_folder.is_dir():
        raise FileNotFoundError(f"model folder {model_folder} does not exist.")
    files = _top_level_files(model_folder)
    for fold_folder in _fold_folders(model_folder, folds):
        files += _top_level_files(fold_folder)
        for name in checkpoints:
            checkpoint = fold_folder / _checkpoint_file_name(name)
            if not checkpoint.is_file():
                raise FileNotFoundError(
                    f"checkpoint {checkpoint} does not exist (available: "
                    f"{sorted(p.name for p in fold_folder.glob('*' + CHECKPOINT_ENDING))})."
                )
            files.append(checkpoint)
    return files


def export_model_to_zip(
    dataset: int | str,
    output_zip: Path | str,
    configurations: Sequence[str] = ("3d_fullres",),
    trainer_name: str = "GDRTrainer",
    plans_name: str = "gdrPlans",
    folds: Sequence[str] | None = None,
    checkpoints: Sequence[str] = ("checkpoint_final",),
    results_root: Path | None = None,
) -> list[str]:
    """Zip trained models of ``dataset`` (one per configuration) with paths relative to the results folder.

    Args:
        dataset: dataset id or ``DatasetXXX_Name``.
        output_zip: the zip file to write (atomically).
        configurations: configurations to include.
        trainer_name, plans_name: identify ``<Trainer>__<plans>__<configuration>``.
        folds: fold names (``"0"``, ``"all"``); None takes every ``fold_*`` folder.
        checkpoints: checkpoint names per fold (``checkpoint_final``; ``.pth`` optional).
        results_root: the results folder (default ``$gdr_results``).

    Returns:
        The archive member names written.
    """
    root = Path(results_root) if results_root is not None else results_folder()
    dataset_name = resolve_dataset_name(dataset, [root])
    files = []
    for configuration in configurations:
        model_folder = root / dataset_name / f"{trainer_name}__{plans_name}__{configuration}"
        files += collect_model_files(model_folder, folds, checkpoints)
    members = [path.relative_to(root).as_posix() for path in files]
    with (
        atomic_path(output_zip) as temporary,
        zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for path, member in zip(files, members, strict=True):
            archive.write(path, member)
    logger.info("exported %d file(s) to %s", len(members), output_zip)
    return members


def check_member(info: zipfile.ZipInfo, archive_path: Path) -> PurePosixPath:
    """The member's safe relative path; ValueError naming it if it could escape the results folder."""
    name = info.filename
    path = PurePosixPath(name)
    file_type = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver stored no Unix file type
    problem = None
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        problem = "an absolute path or a backslash"
    elif any(part == ".." for part in path.parts):
        problem = "a '..' component"
    elif file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
        problem = "a symbolic link or special file"
    elif not path.parts or not _DATASET_FOLDER.match(path.parts[0]):
        problem = "no DatasetXXX_Name folder as its first part"
    if problem is not None:
        raise ValueError(
            f"{archive_path}: refusing member {name!r}: it has {problem} (it could write outside the "
            "results folder). Nothing was extracted."
        )
    return path


def verify_checkpoint(path: Path, member: str) -> None:
    """Raise ValueError naming ``member`` unless ``path`` loads with ``torch.load(weights_only=True)``."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(
            f"{member}: not a plain-data checkpoint (torch.load with weights_only=True refused it: "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}). Nothing was installed."
        ) from error


def _extract(
    archive: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, PurePosixPath]], target: Path
) -> None:
    for info, path in members:
        destination = target.joinpath(*path.parts)
        if info.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(destination, "wb") as sink:
            shutil.copyfileobj(source, sink)


def install_model_from_zip(
    zip_path: Path | str, results_root: Path | None = None, overwrite: bool = False
) -> list[Path]:
    """Install a model archive into the results folder (checks: module docstring).

    Args:
        zip_path: the archive.
        results_root: the results folder (default ``$gdr_results``).
        overwrite: replace model folders that already exist (otherwise that is an error).

    Returns:
        The installed model folders (``DatasetXXX_Name/<Trainer>__<plans>__<configuration>``).

    Raises:
        FileNotFoundError: the archive does not exist.
        ValueError: not a zip file, an unsafe member, an unloadable checkpoint, or an existing model folder
            without ``overwrite``.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise FileNotFoundError(f"model archive {zip_path} does not exist.")
    root = Path(results_root) if results_root is not None else results_folder()
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as error:
        raise ValueError(f"{zip_path}: not a zip file ({error}).") from error
    with archive:
        members = [(info, check_member(info, zip_path)) for info in archive.infolist()]
        models = sorted({PurePosixPath(*path.parts[:2]) for _, path in members if len(path.parts) > 2})
        if not models:
            raise ValueError(f"{zip_path}: holds no DatasetXXX_Name/<model folder>/ files.")
        _refuse_existing(root, models, overwrite, zip_path)
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f"{TEMPORARY_PREFIX}install-{uuid.uuid4().hex[:12]}"
        try:
            _extract(archive, members, staging)
            for _, path in members:
                if path.name.endswith(CHECKPOINT_ENDING):
                    verify_checkpoint(staging.joinpath(*path.parts), str(path))
            installed = [_move_into_place(staging, root, model) for model in models]
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("installed %s", ", ".join(str(path) for path in installed))
    return installed


def _refuse_existing(root: Path, models: list[PurePosixPath], overwrite: bool, zip_path: Path) -> None:
    existing = [str(root.joinpath(*model.parts)) for model in models if root.joinpath(*model.parts).exists()]
    if existing and not overwrite:
        raise ValueError(
            f"{zip_path}: model folder(s) {', '.join(existing)} exist already; pass --overwrite to replace them."
        )


def _move_into_place(staging: Path, root: Path, model: PurePosixPath) -> Path:
    source, destination = staging.joinpath(*model.parts), root.joinpath(*model.parts)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():
        backup = destination.with_name(f"{TEMPORARY_PREFIX}old-{uuid.uuid4().hex[:12]}-{destination.name}")
        os.replace(destination, backup)
        os.replace(source, destination)
        shutil.rmtree(backup)
    else:
        os.replace(source, destination)
    return destination
