"""Atomic file writing: write to a temporary file in the target folder, then rename over the target.

A reader therefore sees either the old complete file or the new complete file, never a partial one,
also when the writer is killed (kill -9) in the middle.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TEMPORARY_PREFIX = ".tmp-"
_HASH_CHUNK_BYTES = 1 << 20


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same file name ending); rename it to ``path`` on success.

    The temporary name keeps the full file name as suffix (``.tmp-<hex>-CASE.nii.gz``) so that writers
    choosing a format by extension work. On an exception the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}-{path.name}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_json_atomic(data: Any, path: Path | str, indent: int = 2) -> None:
    """Write ``data`` as JSON (sorted keys off, UTF-8) atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=indent) + "\n", encoding="utf-8")


def file_sha256(path: Path | str) -> str:
    """SHA-256 (hex) of a file's bytes: its content, whatever its name or modification time."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_json(path: Path | str) -> Any:
    """Read a JSON file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error}).") from error
