"""Storage of one preprocessed case: ``CASE.b2nd`` (blosc2, channels first) and ``CASE.json`` (properties).

The array file holds float32 (C, z, y, x) with the channel names listed in the properties under
``channels``. Chunks suit random patch reads from a memory-mapped file: the full channel stack times
64^3-voxel chunks and 16^3-voxel blocks (blosc2 decompresses only the blocks a slice touches);
LZ4 level 9: a training patch (9 x 96^3 voxels of a 1 mm case) decompresses in ~30 ms of one core against
~43 ms with ZSTD level 3 (what cases were written with before issue 26; blosc2 files describe their codec,
so those still read), for 11 % more disk and the same write time (~0.5 s per 1 mm case); LZ4HC decompresses
in ~26 ms but takes ~4 s to write (documentation/benchmarks.md, "Can CPU workers feed a GPU?").
Both files are written atomically and the properties last, so a case is complete iff its JSON exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import blosc2
import numpy as np

from gdr_toolkit.file_io import TEMPORARY_PREFIX, atomic_path, read_json, write_json_atomic

ARRAY_SUFFIX = ".b2nd"
PROPERTIES_SUFFIX = ".json"
CHUNK_EDGE = 64
BLOCK_EDGE = 16


def case_array_path(folder: Path, case_id: str) -> Path:
    return Path(folder) / f"{case_id}{ARRAY_SUFFIX}"


def case_properties_path(folder: Path, case_id: str) -> Path:
    return Path(folder) / f"{case_id}{PROPERTIES_SUFFIX}"


def is_case_complete(folder: Path, case_id: str) -> bool:
    return case_properties_path(folder, case_id).is_file() and case_array_path(folder, case_id).is_file()


def write_case(folder: Path, case_id: str, arrays: np.ndarray, properties: dict[str, Any]) -> None:
    """Write the (C, z, y, x) float32 stack, then the properties (both atomic)."""
    if arrays.ndim != 4:
        raise ValueError(f"expected a (C, z, y, x) stack for {case_id}, got shape {arrays.shape}.")
    stack = np.ascontiguousarray(arrays, dtype=np.float32)
    chunks = (stack.shape[0], *(min(CHUNK_EDGE, n) for n in stack.shape[1:]))
    blocks = (stack.shape[0], *(min(BLOCK_EDGE, n) for n in stack.shape[1:]))
    with atomic_path(case_array_path(folder, case_id)) as temporary:
        blosc2.asarray(
            stack,
            urlpath=str(temporary),
            mode="w",
            chunks=chunks,
            blocks=blocks,
            cparams={"codec": blosc2.Codec.LZ4, "clevel": 9, "nthreads": 1},
        )
    write_json_atomic(properties, case_properties_path(folder, case_id))


def open_case_arrays(folder: Path, case_id: str) -> blosc2.NDArray:
    """Memory-mapped, read-only view of the stack (slice it to read a patch)."""
    path = case_array_path(folder, case_id)
    if not path.is_file():
        raise FileNotFoundError(f"Preprocessed array {path} does not exist; run gdr_preprocess.")
    return blosc2.open(str(path), mode="r", mmap_mode="r")


def load_case_properties(folder: Path, case_id: str) -> dict[str, Any]:
    return read_json(case_properties_path(folder, case_id))


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary files a killed run left behind; returns how many were removed."""
    stale = list(Path(folder).glob(f"{TEMPORARY_PREFIX}*")) if Path(folder).is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)
