"""The JSON-lines training log and the progress plot."""

from __future__ import annotations

import json

import pytest

from gdr_toolkit.training.training_log import LOG_FILE, PLOT_FILE, TrainingLog


def record(epoch: int) -> dict:
    return {
        "epoch": epoch, "iteration": 10 * (epoch + 1), "train_loss": 1.0 / (epoch + 1), "validation_loss": 0.5,
        "validation_psnr_db": 30.0, "validation_mae_enhancing": None, "learning_rate": 1e-4, "epoch_seconds": 2.0,
    }  # fmt: skip


def test_every_epoch_rewrites_log_and_plot(tmp_path):
    log = TrainingLog(tmp_path)
    for epoch in range(3):
        log.append(record(epoch))
    lines = (tmp_path / LOG_FILE).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1, 2]
    assert (tmp_path / PLOT_FILE).read_bytes()[:4] == b"\x89PNG"


def test_resumed_log_drops_epochs_after_the_checkpoint(tmp_path):
    log = TrainingLog(tmp_path)
    for epoch in range(3):
        log.append(record(epoch))
    reopened = TrainingLog(tmp_path)
    reopened.truncate(2)
    reopened.append(record(2))
    assert [r["epoch"] for r in TrainingLog(tmp_path).records] == [0, 1, 2]


def test_incomplete_record_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="validation_loss"):
        TrainingLog(tmp_path).append({"epoch": 0})
