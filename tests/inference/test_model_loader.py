"""Loading a model folder: fold discovery, checkpoint choice, rebuilt networks."""

from __future__ import annotations

import shutil

import pytest
import torch
from inference_fixtures import tiny_plans, write_model_folder

from gdr_toolkit.inference.model_loader import available_folds, load_trained_model
from gdr_toolkit.training.checkpoint import load_checkpoint


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
