"""A short fingerprint of a trained model, for the provenance of what it writes (documentation/dicom.md).

fingerprint = first 12 hex digits of SHA-256 over, per fold in the model's order, the fold name and the
SHA-256 of its checkpoint file: the same checkpoints give the same fingerprint wherever they are
installed; retraining (or another fold selection) gives another.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from gdr_toolkit.dataset.dicom_derived_series import Provenance
from gdr_toolkit.inference.model_loader import TrainedModel

FINGERPRINT_DIGITS = 12
CHUNK_BYTES = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def model_fingerprint(model: TrainedModel) -> str:
    """The model's fingerprint (module docstring); a fold without a checkpoint file adds its name only."""
    digest = hashlib.sha256()
    for fold in model.folds:
        checkpoint = Path(fold.checkpoint) if fold.checkpoint is not None else None
        content = file_sha256(checkpoint) if checkpoint is not None and checkpoint.is_file() else ""
        digest.update(f"fold_{fold.fold}:{content};".encode())
    return digest.hexdigest()[:FINGERPRINT_DIGITS]


def model_provenance(model: TrainedModel) -> Provenance:
    """Provenance of the series a model writes: its folder name (``Trainer__plans__configuration``) as
    ManufacturerModelName and its fingerprint."""
    return Provenance(model_name=Path(model.folder).name, model_fingerprint=model_fingerprint(model))
