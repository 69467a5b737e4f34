"""Trainer registry: built-ins, external folders from gdr_trainer_paths, unknown names."""

from __future__ import annotations

import pytest

from gdr_toolkit.training.registry import BUILTIN_TRAINERS, get_trainer_class
from gdr_toolkit.training.trainer import GDRTrainer


def test_builtin_trainers_are_found(monkeypatch):
    monkeypatch.delenv("gdr_trainer_paths", raising=False)
    for name in ("GDRTrainer", "GDRTrainer_NoCondition", "GDRTrainer_L2", "GDRTrainer_1epoch_10iters"):
        assert get_trainer_class(name).__name__ == name
    assert all(issubclass(trainer, GDRTrainer) for trainer in BUILTIN_TRAINERS.values())


def test_external_trainer_folder_is_searched(trainer_folder, monkeypatch):
    monkeypatch.setenv("gdr_trainer_paths", str(trainer_folder))
    trainer = get_trainer_class("TinyTestTrainer")
    assert issubclass(trainer, GDRTrainer) and trainer.recipe_changes["iterations_per_epoch"] == 4


def test_unknown_trainer_lists_the_available_ones(monkeypatch):
    monkeypatch.delenv("gdr_trainer_paths", raising=False)
    with pytest.raises(ValueError, match="unknown trainer 'Nope'.*GDRTrainer_L2"):
        get_trainer_class("Nope")


def test_external_trainer_may_not_shadow_a_builtin(tmp_path, monkeypatch):
    source = (
        "from gdr_toolkit.training.trainer import GDRTrainer\n\nclass GDRTrainer_L2(GDRTrainer):\n    pass\n"
    )
    (tmp_path / "clash.py").write_text(source)
    monkeypatch.setenv("gdr_trainer_paths", str(tmp_path))
    with pytest.raises(ValueError, match="clash.py.*GDRTrainer_L2"):
        get_trainer_class("GDRTrainer")


def test_missing_trainer_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("gdr_trainer_paths", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="absent"):
        get_trainer_class("GDRTrainer")
