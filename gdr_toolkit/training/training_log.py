"""The per-fold training log: ``training_log.jsonl`` (one JSON record per epoch) and ``progress.png``.

Both files are rewritten atomically after every epoch, so a killed run leaves complete files. A resumed
run drops the records of epochs after its checkpoint (they will be trained again).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)

from gdr_toolkit.file_io import atomic_path  # noqa: E402

logger = logging.getLogger(__name__)
LOG_FILE = "training_log.jsonl"
PLOT_FILE = "progress.png"
RECORD_FIELDS = (
    "epoch",
    "iteration",
    "train_loss",
    "validation_loss",
    "validation_psnr_db",
    "validation_mae_enhancing",
    "learning_rate",
    "epoch_seconds",
)


class TrainingLog:
    """Epoch records of one fold, kept in memory and mirrored to ``folder``.

    Args:
        folder: the fold folder; an existing ``training_log.jsonl`` there is read.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.records: list[dict[str, Any]] = []
        path = self.folder / LOG_FILE
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            try:
                self.records = [json.loads(line) for line in lines if line.strip()]
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: not a JSON-lines training log ({error})") from error

    def truncate(self, epochs: int) -> None:
        """Keep the records of epochs 0 .. ``epochs`` - 1 only (used when resuming)."""
        self.records = [record for record in self.records if record["epoch"] < epochs]

    def append(self, record: dict[str, Any]) -> None:
        """Add one epoch's record (keys :data:`RECORD_FIELDS`) and rewrite both files."""
        missing = set(RECORD_FIELDS) - set(record)
        if missing:
            raise ValueError(f"training log record lacks {sorted(missing)}")
        self.records.append(record)
        self.write()

    def write(self) -> None:
        with atomic_path(self.folder / LOG_FILE) as temporary:
            text = "".join(json.dumps(record) + "\n" for record in self.records)
            temporary.write_text(text, encoding="utf-8")
        plot_progress(self.records, self.folder / PLOT_FILE)


def _series(records: list[dict[str, Any]], key: str) -> list[float]:
    return [math.nan if record.get(key) is None else record[key] for record in records]


def plot_progress(records: list[dict[str, Any]], path: Path) -> None:
    """Four panels over epochs: losses, validation PSNR and MAE, learning rate, epoch time."""
    epochs = [record["epoch"] for record in records]
    figure, axes = plt.subplots(4, 1, figsize=(8, 12), sharex=True)
    try:
        axes[0].plot(epochs, _series(records, "train_loss"), label="train loss")
        axes[0].plot(epochs, _series(records, "validation_loss"), label="validation loss")
        axes[0].set_yscale("log")
        axes[0].set_ylabel("loss")
        axes[0].legend()
        axes[1].plot(epochs, _series(records, "validation_psnr_db"), color="tab:green", label="PSNR_B (dB)")
        axes[1].set_ylabel("PSNR in brain (dB)")
        mae_axis = axes[1].twinx()
        mae_axis.plot(epochs, _series(records, "validation_mae_enhancing"), color="tab:red")
        mae_axis.set_ylabel("MAE enhancing", color="tab:red")
        axes[2].plot(epochs, _series(records, "learning_rate"))
        axes[2].set_yscale("log")
        axes[2].set_ylabel("learning rate")
        axes[3].plot(epochs, _series(records, "epoch_seconds"))
        axes[3].set_ylabel("epoch time (s)")
        axes[3].set_xlabel("epoch")
        figure.tight_layout()
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", dpi=80)
    finally:
        plt.close(figure)
