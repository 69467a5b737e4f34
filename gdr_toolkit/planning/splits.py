"""Five-fold cross-validation splits (``splits_final.json``), seeded, or the user's own."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gdr_toolkit.file_io import read_json, write_json_atomic

logger = logging.getLogger(__name__)
SPLITS_FILE = "splits_final.json"
SPLIT_SEED = 12345


def make_splits(
    case_ids: list[str], num_folds: int = 5, seed: int = SPLIT_SEED
) -> list[dict[str, list[str]]]:
    """Shuffle the sorted ids with ``seed`` and deal them into ``num_folds`` validation sets.

    A dataset with fewer cases than folds gets one fold per case (leave-one-out) and a warning.

    Returns:
        One ``{"train": [...], "val": [...]}`` per fold; every case is validated exactly once.
    """
    if len(case_ids) < 2:
        raise ValueError(f"cross-validation needs >= 2 training cases, got {len(case_ids)}.")
    if len(case_ids) < num_folds:
        logger.warning(
            "%d cases: %d folds (leave-one-out) instead of %d", len(case_ids), len(case_ids), num_folds
        )
        num_folds = len(case_ids)
    order = sorted(case_ids)
    np.random.default_rng(seed).shuffle(order)
    folds = []
    for fold in range(num_folds):
        validation = sorted(order[fold::num_folds])
        folds.append({"train": sorted(set(order) - set(validation)), "val": validation})
    return folds


def _check_splits(splits: object, case_ids: list[str], source: Path) -> list[dict[str, list[str]]]:
    if not isinstance(splits, list) or not all(
        isinstance(f, dict) and {"train", "val"} <= set(f) for f in splits
    ):
        raise ValueError(f"{source}: expected a list of {{'train': [...], 'val': [...]}} objects.")
    unknown = sorted({case for fold in splits for case in fold["train"] + fold["val"]} - set(case_ids))
    if unknown:
        raise ValueError(f"{source}: unknown case ids {unknown[:5]}{' ...' if len(unknown) > 5 else ''}.")
    return splits


def load_or_create_splits(
    preprocessed_dataset_folder: Path, raw_dataset_folder: Path, case_ids: list[str]
) -> list[dict[str, list[str]]]:
    """The splits in ``preprocessed/splits_final.json``; created from a user file in the raw folder
    (``raw/splits_final.json``, respected as given) or else seeded 5-fold splits."""
    target = Path(preprocessed_dataset_folder) / SPLITS_FILE
    if target.is_file():
        return _check_splits(read_json(target), case_ids, target)
    user_file = Path(raw_dataset_folder) / SPLITS_FILE
    if user_file.is_file():
        splits = _check_splits(read_json(user_file), case_ids, user_file)
        logger.info("using the user's splits from %s", user_file)
    else:
        splits = make_splits(case_ids)
    write_json_atomic(splits, target)
    return splits


def fold_case_ids(
    preprocessed_dataset_folder: Path, fold: int | str, validation_cases_fold_all: int
) -> tuple[list[str], list[str]]:
    """(training, validation) case ids of ``fold`` from ``splits_final.json``, each sorted.

    ``fold="all"`` trains on every case and validates on the first ``validation_cases_fold_all``.

    Raises:
        ValueError: the fold does not exist in the file (names the file and the folds it has).
    """
    path = Path(preprocessed_dataset_folder) / SPLITS_FILE
    splits = read_json(path)
    if fold == "all":
        cases = sorted({case for split in splits for case in split["train"] + split["val"]})
        return cases, cases[:validation_cases_fold_all]
    if not isinstance(fold, int) or fold >= len(splits):
        raise ValueError(f"fold {fold} does not exist: {path} has {len(splits)} folds (0..{len(splits) - 1})")
    return sorted(splits[fold]["train"]), sorted(splits[fold]["val"])
