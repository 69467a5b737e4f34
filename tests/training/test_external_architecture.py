"""An external trainer with its own network class: trained, then loaded for prediction by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from gdr_toolkit import external_code
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.network import architectures
from gdr_toolkit.planning.plans import load_plans
from gdr_toolkit.training.registry import get_trainer_class

SOURCE = Path(__file__).with_name("external_network_trainer.py")


def _fresh_process_state(monkeypatch) -> None:
    """Built-in architectures only and no external file imported yet, as in a new process."""
    builtin = {name: entry for name, entry in architectures.ARCHITECTURES.items() if name != "ExternalNet"}
    monkeypatch.setattr(architectures, "ARCHITECTURES", builtin)
    monkeypatch.setattr(external_code, "_imported", {})


@pytest.fixture
def external_model(phantom_dataset, tmp_path, monkeypatch) -> tuple[Path, Path, nn.Module]:
    """(trainer folder, model folder, trained network): ExternalNetTrainer trained 1 epoch on fold 0."""
    trainers = tmp_path / "trainers"
    trainers.mkdir()
    shutil.copyfile(SOURCE, trainers / SOURCE.name)
    _fresh_process_state(monkeypatch)
    monkeypatch.setenv("gdr_trainer_paths", str(trainers))
    trainer_class = get_trainer_class("ExternalNetTrainer")
    model_folder = tmp_path / "ExternalNetTrainer__gdrPlans__3d_cpu"
    plans = load_plans(phantom_dataset / "gdrPlans.json")
    trainer = trainer_class(plans, "3d_cpu", 0, phantom_dataset, model_folder / "fold_0")
    trainer.run_training()
    return trainers, model_folder, trainer.network.eval()


def test_an_external_network_is_rebuilt_from_the_files_of_the_variable(external_model, monkeypatch):
    trainers, model_folder, trained = external_model
    _fresh_process_state(monkeypatch)  # prediction in a new process: nothing registered, nothing imported
    assert not architectures.is_registered("ExternalNet")
    loaded = load_trained_model(model_folder).folds[0].network
    assert type(loaded).__name__ == "ExternalNet" and type(loaded).__module__.startswith("gdr_external")
    assert loaded.config.to_json_dict() == trained.config.to_json_dict()  # classes of two imports of the file
    generator = torch.Generator().manual_seed(7)
    image = torch.randn(2, trained.config.input_channels, 16, 16, 16, generator=generator)
    condition = torch.randn(2, trained.config.condition_features, generator=generator)
    with torch.no_grad():
        expected, received = trained(image, condition), loaded(image, condition)
    assert expected.abs().max() > 0
    torch.testing.assert_close(received, expected, rtol=0, atol=0)


def test_without_the_variable_the_error_names_the_architecture_and_the_variable(external_model, monkeypatch):
    _, model_folder, _ = external_model
    _fresh_process_state(monkeypatch)
    monkeypatch.delenv("gdr_trainer_paths")
    with pytest.raises(ValueError, match=r"checkpoint_final\.pth.*'ExternalNet'.*\$gdr_trainer_paths"):
        load_trained_model(model_folder)


def test_a_network_class_that_is_not_registered_fails_before_training(phantom_dataset, tmp_path, monkeypatch):
    class Unregistered(nn.Conv3d):
        pass

    _fresh_process_state(monkeypatch)
    trainer_class = get_trainer_class("GDRTrainer")
    plans = load_plans(phantom_dataset / "gdrPlans.json")
    trainer = trainer_class(plans, "3d_cpu", 0, phantom_dataset, tmp_path / "fold_0")
    monkeypatch.setattr(trainer, "build_network", lambda: Unregistered(1, 1, 1))
    with pytest.raises(
        ValueError, match="Unregistered is not a registered architecture.*register_architecture"
    ):
        trainer.initialize()
    assert not list((tmp_path / "fold_0").glob("checkpoint_*"))
