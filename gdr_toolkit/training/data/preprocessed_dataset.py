"""Lazy access to a folder of preprocessed cases (``CASE.b2nd`` + ``CASE.json``) for patch-wise training."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import blosc2
import numpy as np

from gdr_toolkit.preprocessing import case_storage
from gdr_toolkit.preprocessing.preprocessor import ENHANCING_PROBABILITY
from gdr_toolkit.training.data.patch_sampling import structure_balanced_weights
from gdr_toolkit.training.data.valid_mask import VALID_MASK_CHANNEL, ValidityGrid

PROPERTIES_CACHE_SIZE = 32
P_SD_CHANNEL = "p_sd"


class PreprocessedDataset:
    """The preprocessed cases of one configuration, read patch by patch from memory-mapped blosc2 files.

    Opened arrays are kept per process (a pickled dataset, e.g. in a worker process, reopens them
    lazily), properties are cached (the most recent ``PROPERTIES_CACHE_SIZE``) and the enhancing
    locations of every case once opened are kept as compact int32 arrays.

    Args:
        folder: the configuration's preprocessed folder (``<plans>_<configuration>/``).
        case_ids: the cases to use (e.g. a fold's training cases).

    Raises:
        FileNotFoundError: the folder or any case's array or properties file is missing.
        ValueError: no case ids were given.
    """

    def __init__(self, folder: Path, case_ids: Sequence[str]) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"Preprocessed folder {self.folder} does not exist; run gdr_preprocess.")
        if isinstance(case_ids, str) or len(case_ids) == 0:
            raise ValueError(f"case_ids must be a non-empty sequence of case ids, got {case_ids!r}.")
        self.case_ids: tuple[str, ...] = tuple(case_ids)
        missing = [case for case in self.case_ids if not case_storage.is_case_complete(self.folder, case)]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise FileNotFoundError(
                f"Preprocessed folder {self.folder} lacks the cases {shown} (CASE.b2nd and CASE.json); "
                "rerun gdr_preprocess or check the split."
            )
        self._reset_caches()
        self.channels: tuple[str, ...] = tuple(self.properties(self.case_ids[0])["channels"])

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "case_ids": self.case_ids, "channels": self.channels}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.folder, self.case_ids, self.channels = state["folder"], state["case_ids"], state["channels"]
        self._reset_caches()

    def _reset_caches(self) -> None:
        self._arrays: dict[str, blosc2.NDArray] = {}
        self._locations: dict[str, np.ndarray] = {}
        self._structure_weights: dict[str, np.ndarray | None] = {}
        self._validity: dict[str, ValidityGrid | None] = {}
        self._properties: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.case_ids)

    def properties(self, case_id: str) -> dict[str, Any]:
        """The case's ``CASE.json`` record (cached; treat it as read-only)."""
        cache = self._properties
        if case_id in cache:
            cache.move_to_end(case_id)
            return cache[case_id]
        record = case_storage.load_case_properties(self.folder, case_id)
        cache[case_id] = record
        if len(cache) > PROPERTIES_CACHE_SIZE:
            cache.popitem(last=False)
        return record

    def enhancing_locations(self, case_id: str) -> np.ndarray:
        """Stored voxels with p_SD > 0.5, int32 (N, 3) as (z, y, x); N may be 0."""
        if case_id not in self._locations:
            locations = self.properties(case_id).get("enhancing_locations_zyx", [])
            self._locations[case_id] = np.asarray(locations, dtype=np.int32).reshape(-1, 3)
        return self._locations[case_id]

    def structure_balanced_weights(self, case_id: str) -> np.ndarray | None:
        """Probabilities of ``enhancing_locations`` that draw each connected enhancing structure (p_SD > 0.5,
        at least ``MIN_STRUCTURE_VOXELS``) equally often (``patch_sampling.structure_balanced_weights``),
        float64 (N,), or None (draw uniformly); computed from the case's p_SD channel once, then cached."""
        if case_id not in self._structure_weights:
            enhancing = (
                np.asarray(self._array(case_id)[self.channels.index(P_SD_CHANNEL)]) > ENHANCING_PROBABILITY
            )
            self._structure_weights[case_id] = structure_balanced_weights(
                self.enhancing_locations(case_id), enhancing
            )
        return self._structure_weights[case_id]

    def validity_grid(self, case_id: str) -> ValidityGrid | None:
        """Coarse copy of the case's ``valid_mask`` channel (kept), or None when the case is valid
        everywhere (no invalid voxel, or data without the channel)."""
        if case_id not in self._validity:
            grid = None
            if VALID_MASK_CHANNEL in self.channels:
                mask = np.asarray(self._array(case_id)[self.channels.index(VALID_MASK_CHANNEL)])
                grid = None if (mask > 0.5).all() else ValidityGrid.from_mask(mask)
            self._validity[case_id] = grid
        return self._validity[case_id]

    def shape(self, case_id: str) -> tuple[int, int, int]:
        """Spatial shape (z, y, x) of the case's stored arrays, voxels."""
        return cast("tuple[int, int, int]", tuple(int(edge) for edge in self._array(case_id).shape[1:]))

    def read_patch(
        self, case_id: str, start_zyx: Sequence[int] | np.ndarray, size_zyx: Sequence[int]
    ) -> np.ndarray:
        """Read one region of all channels; only that region is decompressed.

        Args:
            case_id: the case.
            start_zyx: first voxel (z, y, x) of the region; may be negative.
            size_zyx: region edge lengths (z, y, x), voxels; the region may leave the volume.

        Returns:
            float32 (C, *size_zyx); voxels outside the volume are 0 (1 in the ``valid_mask`` channel).
        """
        if len(start_zyx) != 3 or len(size_zyx) != 3:
            raise ValueError(f"start_zyx and size_zyx need 3 entries, got {start_zyx} and {size_zyx}.")
        array = self._array(case_id)
        start = np.asarray(start_zyx, dtype=np.int64)
        size = np.asarray(size_zyx, dtype=np.int64)
        if (size < 1).any():
            raise ValueError(f"size_zyx must be positive, got {tuple(size_zyx)}.")
        shape = np.asarray(array.shape[1:], dtype=np.int64)
        low, high = np.clip(start, 0, shape), np.clip(start + size, 0, shape)
        if (low == start).all() and (high == start + size).all():  # inside: the decompressed region as is
            region = array[(slice(None), *(slice(int(a), int(b)) for a, b in zip(low, high, strict=True)))]
            return np.ascontiguousarray(region, dtype=np.float32)
        patch = np.zeros((array.shape[0], *size.tolist()), dtype=np.float32)
        if VALID_MASK_CHANNEL in self.channels:
            patch[self.channels.index(VALID_MASK_CHANNEL)] = 1.0
        if (high > low).all():
            source = (slice(None), *(slice(int(a), int(b)) for a, b in zip(low, high, strict=True)))
            target = (
                slice(None),
                *(slice(int(a), int(b)) for a, b in zip(low - start, high - start, strict=True)),
            )
            patch[target] = array[source]
        return patch

    def _array(self, case_id: str) -> blosc2.NDArray:
        array = self._arrays.get(case_id)
        if array is None:
            if case_id not in self.case_ids:
                raise KeyError(f"Case {case_id!r} is not part of this dataset ({self.folder}).")
            array = case_storage.open_case_arrays(self.folder, case_id)
            if array.ndim != 4 or array.shape[0] != len(self.channels):
                raise ValueError(
                    f"{case_storage.case_array_path(self.folder, case_id)} has shape {array.shape}; expected "
                    f"({len(self.channels)}, z, y, x) for the channels {self.channels}."
                )
            self._arrays[case_id] = array
        return array
