"""Predictor: geometry of the outputs, intensity round trip, fold ensembling, conditions."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from inference_fixtures import anisotropic, oblique_permuted_direction, simulated_pair, tiny_plans

from gdr_toolkit.dataset.metadata import parse_case_metadata
from gdr_toolkit.inference.model_loader import FoldModel, TrainedModel, load_trained_model
from gdr_toolkit.inference.predictor import CPU_TILE_EDGE, Predictor, condition_vector, ensemble
from gdr_toolkit.model.conditions import ConditionNormalisation
from gdr_toolkit.simulation import SimulationSettings


def assert_same_geometry(image: sitk.Image, reference: sitk.Image) -> None:
    assert image.GetSize() == reference.GetSize()
    np.testing.assert_allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(image.GetDirection(), reference.GetDirection(), atol=1e-12)


def outputs(prediction):
    return [prediction.sd, prediction.sdplus, prediction.contrast_signal, prediction.uncertainty]


def test_outputs_have_pc_geometry_and_are_finite(
    identity_case, preprocessed_identity_case, two_fold_model_folder
):
    pre_contrast = identity_case[0]
    predictor = Predictor(load_trained_model(two_fold_model_folder), use_mirroring=False)
    prediction = predictor.predict_preprocessed(preprocessed_identity_case, pre_contrast, "case_a")
    for image in outputs(prediction):
        assert_same_geometry(image, pre_contrast)
        assert np.isfinite(sitk.GetArrayViewFromImage(image)).all()
    contrast = sitk.GetArrayFromImage(prediction.contrast_signal)
    assert contrast.min() >= 0 and contrast.max() > 0
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(prediction.sd) - sitk.GetArrayFromImage(prediction.pre_contrast),
        contrast,
        atol=1e-2,
    )


def test_oblique_permuted_anisotropic_case_keeps_its_geometry(two_fold_model_folder):
    settings = SimulationSettings.tiny(direction=oblique_permuted_direction())
    pre_contrast, low_dose, record = simulated_pair(seed=9, settings=settings)
    pre_contrast = anisotropic(pre_contrast, (4.0, 5.0, 6.5))
    predictor = Predictor(load_trained_model(two_fold_model_folder, folds=[0]), use_mirroring=False)
    prediction = predictor.predict_case(pre_contrast, low_dose, parse_case_metadata(record), "oblique")
    assert prediction.uncertainty is None
    for image in outputs(prediction)[:3]:
        assert_same_geometry(image, pre_contrast)
        assert np.isfinite(sitk.GetArrayViewFromImage(image)).all()
    assert sitk.GetArrayViewFromImage(prediction.contrast_signal).max() > 0


def test_zero_prediction_gives_back_pc_and_the_matched_low_dose(
    identity_case, preprocessed_identity_case, zero_model_folder
):
    pre_contrast = identity_case[0]
    predictor = Predictor(load_trained_model(zero_model_folder), use_mirroring=False)
    prediction = predictor.predict_preprocessed(preprocessed_identity_case, pre_contrast, "zero")
    scale = preprocessed_identity_case.properties.intensity_scales["pre_contrast"]
    raw_pc = sitk.GetArrayFromImage(pre_contrast).astype(np.float32)
    np.testing.assert_allclose(sitk.GetArrayFromImage(prediction.sd), raw_pc, rtol=1e-5, atol=1e-3)
    matched_ld = preprocessed_identity_case.arrays["x_ld"] * scale
    np.testing.assert_allclose(sitk.GetArrayFromImage(prediction.sdplus), matched_ld, rtol=1e-5, atol=1e-3)
    assert not sitk.GetArrayViewFromImage(prediction.contrast_signal).any()


def test_enhancement_factor_scales_the_contrast(
    identity_case, preprocessed_identity_case, two_fold_model_folder
):
    model = load_trained_model(two_fold_model_folder, folds=[1])
    contrasts = [
        sitk.GetArrayFromImage(
            Predictor(model, use_mirroring=False, enhancement_factor=factor)
            .predict_preprocessed(preprocessed_identity_case, identity_case[0], "k")
            .contrast_signal
        )
        for factor in (1.0, 2.5)
    ]
    np.testing.assert_allclose(contrasts[1], 2.5 * contrasts[0], rtol=1e-5, atol=1e-6)


class ConstantNetwork(torch.nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return torch.full((image.shape[0], 1, *image.shape[2:]), self.value)


def test_folds_are_averaged_and_their_spread_is_the_uncertainty(identity_case, preprocessed_identity_case):
    pre_contrast = identity_case[0]
    plans = tiny_plans(4.0, noise_normalisation=False)  # PC's own spacing: no resampling; y~ = yhat
    normalisation = ConditionNormalisation(("dose_fraction", "noise_sigma_ld"), (0.0, 0.0), (1.0, 1.0))
    folds = tuple(
        FoldModel(fold, None, ConstantNetwork(value), normalisation, 1.0)
        for fold, value in ((0, 0.2), (1, 0.6))
    )
    model = TrainedModel(None, "GDRTrainer", plans, "3d_cpu", folds)
    prediction = Predictor(model, use_mirroring=False).predict_preprocessed(
        preprocessed_identity_case, pre_contrast, "ensemble"
    )
    scale = preprocessed_identity_case.properties.intensity_scales["pre_contrast"]
    contrast = sitk.GetArrayFromImage(prediction.contrast_signal)
    uncertainty = sitk.GetArrayFromImage(prediction.uncertainty)
    inside = contrast > 0
    assert inside.mean() > 0.3  # the head box
    np.testing.assert_allclose(contrast[inside], 0.4 * scale, rtol=1e-5)
    np.testing.assert_allclose(uncertainty[inside], 0.2 * scale, rtol=1e-5)


def test_ensemble_of_two_arrays():
    mean, spread = ensemble([np.full((2, 2, 2), 1.0), np.full((2, 2, 2), 4.0)])
    assert mean.dtype == np.float32 and np.all(mean == 2.5) and np.all(spread == 1.5)
    assert ensemble([np.ones((2, 2, 2))])[1] is None


def test_missing_metadata_key_names_the_case_and_the_key(
    identity_case, two_fold_model_folder, preprocessed_identity_case
):
    predictor = Predictor(load_trained_model(two_fold_model_folder, folds=[0]))
    with pytest.raises(ValueError, match=r"case 'patient_7'.*dose_fraction"):
        predictor.predict_case(identity_case[0], identity_case[1], None, "patient_7")
    properties = preprocessed_identity_case.properties
    normalisation = ConditionNormalisation(("relaxivity",), (4.0,), (1.0,))
    without = type(properties)(**{**properties.__dict__, "condition": {}})
    with pytest.raises(ValueError, match=r"case 'patient_8'.*relaxivity"):
        condition_vector(without, normalisation, "patient_8")
    assert condition_vector(properties, normalisation, "p").shape == (1,)


def test_tile_grows_to_the_volume_on_cpu_and_stays_the_patch_when_asked(
    identity_case, preprocessed_identity_case, two_fold_model_folder, monkeypatch
):
    model = load_trained_model(two_fold_model_folder, folds=[0])
    patch = model.configuration.patch_size
    automatic, fixed = (
        Predictor(model, use_mirroring=False),
        Predictor(model, use_mirroring=False, tile_edge=None),
    )
    assert automatic.tile_edge == CPU_TILE_EDGE and fixed.tile_edge is None
    shape = tuple(4 * size + 3 for size in patch)
    divisor = 2 ** (len(model.configuration.network["widths"]) - 1)
    tile = automatic.window_for(shape).patch_size
    assert all(
        size >= extent and size % divisor == 0 and size - extent < divisor
        for size, extent in zip(tile, shape, strict=True)
    )
    assert fixed.window_for(shape).patch_size == patch
    with pytest.raises(ValueError, match="tile_edge"):
        Predictor(model, tile_edge=0)
    # the prediction runs with the tile of its network-grid volume
    from gdr_toolkit.inference import predictor as predictor_module

    used = []
    real = predictor_module.sliding_window_inference

    def recording(network, volume, condition, options, device):
        used.append((tuple(volume.shape[1:]), options.patch_size))
        return real(network, volume, condition, options, device)

    monkeypatch.setattr(predictor_module, "sliding_window_inference", recording)
    pre_contrast = identity_case[0]
    predictions = [
        predictor.predict_preprocessed(preprocessed_identity_case, pre_contrast, "case_a")
        for predictor in (automatic, fixed)
    ]
    signals = [sitk.GetArrayFromImage(prediction.contrast_signal) for prediction in predictions]
    (volume, automatic_tile), (_, fixed_tile) = used
    assert automatic_tile == automatic.window_for(volume).patch_size and fixed_tile == patch
    assert [prediction.summary["sliding_window_tile"] for prediction in predictions] == [
        list(automatic_tile),
        list(patch),
    ]
    assert all(np.isfinite(signal).all() for signal in signals)
    assert signals[0].shape == signals[1].shape
