"""Loading a model folder: fold discovery, checkpoint choice, rebuilt networks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from inference_fixtures import CONFIGURATION, tiny_plans, write_model_folder

from gdr_toolkit.inference.model_loader import available_folds, load_trained_model
from gdr_toolkit.model.checkpoint import (
    CHECKPOINT_FORMAT_VERSION,
    CHECKPOINT_KEYS,
    load_checkpoint,
    save_checkpoint,
)
from gdr_toolkit.model.conditions import ConditionNormalisation
from gdr_toolkit.network.architectures import ARCHITECTURES
from gdr_toolkit.training.registry import BUILTIN_TRAINERS


def test_all_folds_with_the_checkpoint_are_loaded(two_fold_model_folder):
    model = load_trained_model(two_fold_model_folder)
    assert [fold.fold for fold in model.folds] == [0, 1]
    assert [fold.gamma for fold in model.folds] == pytest.approx([1.2, 1.3])
    assert model.condition_keys == ("dose_fraction", "noise_sigma_ld")
    assert model.noise_normalised and model.configuration.spacing_mm == 5.0
    stored = load_checkpoint(two_fold_model_folder / "fold_1" / "checkpoint_final.pth")["network_state"]
    for name, value in model.folds[1].network.state_dict().items():
        torch.testing.assert_close(value, stored[name])
    assert not model.folds[0].network.training


def test_folds_can_be_chosen(two_fold_model_folder):
    assert [fold.fold for fold in load_trained_model(two_fold_model_folder, folds=["1"]).folds] == [1]


def test_missing_checkpoint_names_the_alternatives(tmp_path):
    folder = write_model_folder(tmp_path, tiny_plans(), folds=(0,))
    final = folder / "fold_0" / "checkpoint_final.pth"
    shutil.copyfile(final, folder / "fold_0" / "checkpoint_latest.pth")
    final.unlink()
    assert available_folds(folder) == []
    with pytest.raises(FileNotFoundError, match="checkpoint_latest.pth"):
        load_trained_model(folder)
    with pytest.raises(FileNotFoundError, match="-chk checkpoint_latest.pth"):
        load_trained_model(folder, folds=[0])
    assert len(load_trained_model(folder, checkpoint_name="checkpoint_latest.pth").folds) == 1
    with pytest.raises(FileNotFoundError, match="fold_3"):
        load_trained_model(folder, folds=[3], checkpoint_name="checkpoint_latest.pth")


def test_missing_model_folder_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="gdr_train"):
        load_trained_model(tmp_path / "nope")


def _write_variant_checkpoint(trainer_class: type, folder: Path) -> torch.nn.Module:
    """A checkpoint of ``trainer_class``'s network with random (non-initial) weights; returns that network."""
    plans = tiny_plans(5.0)
    trainer = trainer_class(plans, CONFIGURATION, 0, Path(), folder / "fold_0")
    trainer.recipe = trainer.recipe.replace(
        noise_unit=0.25
    )  # the unit a noise-units model measured (no training data here)
    torch.manual_seed(3)
    network = trainer.build_network()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.normal_(0.0, 0.2)  # away from the initialisation (zeroed convolutions included)
    keys = trainer.condition_keys
    checkpoint = dict.fromkeys(CHECKPOINT_KEYS)
    checkpoint |= {
        "format_version": CHECKPOINT_FORMAT_VERSION, "trainer_name": trainer_class.__name__,
        "plans": plans.to_json_dict(), "configuration": CONFIGURATION, "fold": 0,
        "network_architecture": type(network).__name__, "network_config": network.config.to_json_dict(),
        **trainer.prediction_spec.to_json_dict(), "condition_keys": list(keys),
        "condition_normalisation": ConditionNormalisation(keys, (0.0,) * len(keys), (1.0,) * len(keys)).to_json_dict(),
        "gamma": 1.0, "network_state": network.state_dict(),
    }  # fmt: skip
    save_checkpoint(checkpoint, folder / "fold_0" / "checkpoint_final.pth")
    return network.eval()


@pytest.mark.parametrize("trainer_name", sorted(BUILTIN_TRAINERS))
def test_every_builtin_variant_is_rebuilt_from_its_checkpoint_alone(trainer_name, tmp_path):
    trained = _write_variant_checkpoint(BUILTIN_TRAINERS[trainer_name], tmp_path)
    loaded = load_trained_model(tmp_path).folds[0].network
    assert type(loaded) is type(trained) and loaded.config == trained.config
    generator = torch.Generator().manual_seed(5)
    image = torch.randn(1, trained.config.input_channels, 16, 16, 16, generator=generator)
    condition = torch.randn(1, getattr(trained.config, "condition_features", 0), generator=generator)
    with torch.no_grad():
        expected, received = trained(image, condition), loaded(image, condition)
    assert expected.abs().max() > 0  # a network that outputs something, so equality means something
    torch.testing.assert_close(received, expected, rtol=0, atol=0)


def test_the_variants_cover_every_registered_architecture_and_their_configurations_differ(tmp_path):
    networks = {
        name: _write_variant_checkpoint(trainer, tmp_path / name)
        for name, trainer in BUILTIN_TRAINERS.items()
    }
    assert {type(network).__name__ for network in networks.values()} == set(ARCHITECTURES)
    assert networks["GDRTrainer_ConcatSkips"].config.fusion == "concatenate"
    assert networks["GDRTrainer_NoiseUnits"].config.output_scale == 0.25


def test_loading_a_model_imports_no_trainer(two_fold_model_folder):
    script = (
        "import sys\n"
        "from gdr_toolkit.inference.model_loader import load_trained_model\n"
        f"load_trained_model({str(two_fold_model_folder)!r})\n"
        "print(sorted(name for name in sys.modules if name.startswith('gdr_toolkit.training')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
