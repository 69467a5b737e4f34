"""Checkpoints: weights_only loading, self-describing fields, RNG round trip, atomic writes."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from tiny_trainer import TinyTestTrainer

from gdr_toolkit.model.checkpoint import (
    CHECKPOINT_KEYS,
    capture_rng_state,
    checkpoint_path,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from gdr_toolkit.planning.plans import load_plans


@pytest.fixture(scope="module")
def trained_folder(phantom_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fold_0")
    trainer = TinyTestTrainer(
        load_plans(phantom_dataset / "gdrPlans.json"), "3d_cpu", 0, phantom_dataset, folder
    )
    trainer.recipe = trainer.recipe.replace(num_epochs=1, iterations_per_epoch=2)
    trainer.run_training()
    return folder


@pytest.mark.parametrize("kind", ["latest", "best", "final"])
def test_checkpoints_load_with_weights_only(trained_folder, kind):
    checkpoint = torch.load(checkpoint_path(trained_folder, kind), weights_only=True)
    assert set(CHECKPOINT_KEYS) <= set(checkpoint)


def test_checkpoint_describes_the_model(trained_folder):
    checkpoint = load_checkpoint(checkpoint_path(trained_folder, "final"))
    assert checkpoint["trainer_name"] == "TinyTestTrainer"
    assert checkpoint["configuration"] == "3d_cpu" and checkpoint["fold"] == 0
    assert checkpoint["plans"]["configurations"]["3d_cpu"]["patch_size"] == [16, 16, 16]
    assert checkpoint["condition_keys"] == ["dose_fraction", "noise_sigma_ld"]
    assert checkpoint["condition_normalisation"]["keys"] == ["dose_fraction", "noise_sigma_ld"]
    assert checkpoint["gamma"] == pytest.approx(1.25)
    assert checkpoint["network_config"]["widths"] == [4, 8]
    assert checkpoint["init_args"] == {
        "configuration": "3d_cpu",
        "fold": 0,
        "device": "cpu",
        "precision": "fp32",
    }
    assert checkpoint["trainer_settings"]["num_epochs"] == 1
    assert (checkpoint["epoch"], checkpoint["iteration"]) == (1, 2)
    assert not list(trained_folder.glob(".tmp-*"))


def test_rng_states_round_trip():
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_incomplete_checkpoint_is_refused(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        save_checkpoint({"format_version": 1}, tmp_path / "checkpoint_latest.pth")
    assert not list(tmp_path.iterdir())


def test_foreign_file_is_reported_by_name(tmp_path):
    path = tmp_path / "checkpoint_latest.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint_latest.pth"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_checkpoint(tmp_path / "missing.pth")
