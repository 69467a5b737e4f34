"""Standard-dose (direct-regression) models at inference: loading, SD in PC's grid and units, no SD+."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from inference_fixtures import CONFIGURATION, tiny_plans, write_model_folder

from gdr_toolkit.dataset.image_io import read_image
from gdr_toolkit.inference.export import ExportOptions, is_case_complete, write_prediction
from gdr_toolkit.inference.model_loader import FoldModel, TrainedModel, load_trained_model
from gdr_toolkit.inference.predictor import Predictor
from gdr_toolkit.model.checkpoint import CHECKPOINT_KEYS, load_checkpoint, save_checkpoint
from gdr_toolkit.model.conditions import ConditionNormalisation
from gdr_toolkit.model.prediction_spec import PredictionSpec
from gdr_toolkit.network.slice_stack_unet import SliceStackUNet
from gdr_toolkit.training.variants.direct_regression import GDRTrainer_DirectSD2p5D

STANDARD_DOSE = PredictionSpec("standard_dose", ("x_pc", "x_ld"))


class ScaledPreContrast(torch.nn.Module):
    """Predicts ``factor`` times the first input channel (x_PC for the baselines)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.factor * image[:, :1]


def stub_model(factor: float, spacing_mm: float = 4.0) -> TrainedModel:
    plans = tiny_plans(spacing_mm, condition_keys=())
    fold = FoldModel(0, None, ScaledPreContrast(factor), ConditionNormalisation((), (), ()), 1.0)
    return TrainedModel(None, "GDRTrainer_DirectSD3D", plans, CONFIGURATION, (fold,), STANDARD_DOSE)


def predict(model: TrainedModel, case, pre_contrast: sitk.Image):
    return Predictor(model, use_mirroring=False).predict_preprocessed(case, pre_contrast, "baseline")


def assert_same_geometry(image: sitk.Image, reference: sitk.Image) -> None:
    assert image.GetSize() == reference.GetSize()
    np.testing.assert_allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(image.GetDirection(), reference.GetDirection(), atol=1e-12)


def test_predicting_pc_gives_back_pc_without_sdplus(identity_case, preprocessed_identity_case, tmp_path):
    pre_contrast = identity_case[0]
    prediction = predict(stub_model(1.0), preprocessed_identity_case, pre_contrast)
    assert prediction.sdplus is None
    written = write_prediction(prediction, tmp_path, ExportOptions(save_contrast_signal=True))
    # CASE_valid_mask is written only where LD misses some voxel (here at most the volume's edge)
    assert sorted(path.name for path in written if not path.name.endswith("_valid_mask.nii.gz")) == [
        "baseline_contrast.nii.gz",
        "baseline_qc.png",
        "baseline_report.html",
        "baseline_sd.nii.gz",
        "baseline_summary.json",
        "baseline_unsupported.nii.gz",
    ]
    assert is_case_complete(tmp_path, "baseline", ExportOptions(save_contrast_signal=True), has_sdplus=False)
    standard_dose = read_image(tmp_path / "baseline_sd.nii.gz")
    assert_same_geometry(standard_dose, pre_contrast)
    raw_pc = sitk.GetArrayFromImage(pre_contrast).astype(np.float32)
    np.testing.assert_allclose(sitk.GetArrayFromImage(standard_dose), raw_pc, rtol=1e-5, atol=1e-3)
    contrast = sitk.GetArrayFromImage(read_image(tmp_path / "baseline_contrast.nii.gz"))
    assert np.abs(contrast).max() <= 1e-3 * np.abs(raw_pc).max()


def test_prediction_is_registered_radiometrically_to_pc(identity_case, preprocessed_identity_case):
    pre_contrast = identity_case[0]
    prediction = predict(stub_model(1.3), preprocessed_identity_case, pre_contrast)
    brain = preprocessed_identity_case.arrays["brain_mask"] > 0
    raw_pc = sitk.GetArrayFromImage(pre_contrast).astype(np.float32)
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(prediction.sd)[brain], raw_pc[brain], rtol=1e-4, atol=1e-3
    )


def test_resampled_prediction_keeps_pc_geometry(identity_case, preprocessed_identity_case):
    pre_contrast = identity_case[0]
    prediction = predict(stub_model(1.0, spacing_mm=5.0), preprocessed_identity_case, pre_contrast)
    for image in (prediction.sd, prediction.contrast_signal):
        assert_same_geometry(image, pre_contrast)
        assert np.isfinite(sitk.GetArrayViewFromImage(image)).all()


def _write_baseline_checkpoint(path: Path, trainer_name: str) -> None:
    plans = tiny_plans(5.0, condition_keys=())
    trainer = GDRTrainer_DirectSD2p5D(plans, CONFIGURATION, 0, Path(), path.parent)
    network = trainer.build_network()
    checkpoint = dict.fromkeys(CHECKPOINT_KEYS) | {
        "format_version": 1, "trainer_name": trainer_name, "plans": plans.to_json_dict(),
        "configuration": CONFIGURATION, "fold": 0, "network_architecture": "SliceStackUNet",
        "network_config": network.config.to_json_dict(), **trainer.prediction_spec.to_json_dict(),
        "condition_normalisation": ConditionNormalisation((), (), ()).to_json_dict(), "gamma": 1.0,
        "network_state": network.state_dict(),
    }  # fmt: skip
    save_checkpoint(checkpoint, path)


@pytest.mark.parametrize("trainer_name", ["GDRTrainer_DirectSD2p5D", "UnregisteredExternalTrainer"])
def test_baseline_checkpoint_rebuilds_its_network_and_target(trainer_name, tmp_path):
    _write_baseline_checkpoint(tmp_path / "model" / "fold_0" / "checkpoint_final.pth", trainer_name)
    model = load_trained_model(tmp_path / "model")
    assert isinstance(model.folds[0].network, SliceStackUNet)
    assert model.prediction == STANDARD_DOSE and not model.produces_sdplus


def test_checkpoint_without_the_new_keys_reads_as_a_contrast_signal_model(tmp_path):
    folder = write_model_folder(tmp_path, tiny_plans(5.0))
    path = folder / "fold_0" / "checkpoint_final.pth"
    checkpoint = load_checkpoint(path)
    for key in ("network_architecture", "prediction_target", "input_channel_names"):
        checkpoint.pop(key, None)
    torch.save(checkpoint, path)
    model = load_trained_model(folder)
    assert model.prediction == PredictionSpec() and model.produces_sdplus
    assert model.prediction.input_channel_names == ("z_ld", "x_ld", "s_ld")
