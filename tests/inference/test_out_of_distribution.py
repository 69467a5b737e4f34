"""Out-of-distribution warnings end to end: a case with sigma_LD 5x below the training range and a case at
a field strength the model never saw are named in the log, ``CASE_summary.json``, the report and
``prediction_run.json``; ``strict`` refuses them; a fold ensemble uses the union of its folds' ranges.

The tiny model's training ranges are those of the simulated identity case itself (what training on it
would store), so that case lies inside them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from inference_fixtures import CONFIGURATION, tiny_plans, write_model_folder

from gdr_toolkit.dataset.image_io import image_from_array, write_image_atomic
from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.inference.distribution_check import check_distribution
from gdr_toolkit.inference.export import ExportOptions, write_prediction
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.inference.prediction_cases import find_cases
from gdr_toolkit.inference.prediction_run import RunOptions, run_prediction
from gdr_toolkit.inference.predictor import Predictor
from gdr_toolkit.inference.run_summary import RUN_SUMMARY_FILE
from gdr_toolkit.model.training_ranges import TrainingRanges, write_training_ranges
from gdr_toolkit.preprocessing.network_noise import on_network_grid_noise
from gdr_toolkit.preprocessing.preprocessor import options_from_plan
from gdr_toolkit.simulation import SimulationSettings
from gdr_toolkit.simulation.case_simulator import simulate_case

SPACING_MM = 5.0
UNSEEN_FIELD_T = 1.5  # the identity case is at 3 T


@pytest.fixture(scope="module")
def identity_ranges(preprocessed_identity_case, identity_case) -> TrainingRanges:
    """The ranges of a model trained on the identity case alone (its quantities as the predictor sees them)."""
    estimator = options_from_plan(tiny_plans(SPACING_MM).configuration(CONFIGURATION)).noise.estimator
    on_grid = on_network_grid_noise(preprocessed_identity_case, identity_case[0], SPACING_MM, estimator)
    check = check_distribution(on_grid, None, "identity")
    assert not check.checked and check.quantities["noise_sigma_ld"] > 0
    return TrainingRanges.from_cases([check.quantities])


@pytest.fixture(scope="module")
def ranged_model_folder(tmp_path_factory, identity_ranges) -> Path:
    folder = write_model_folder(tmp_path_factory.mktemp("ranged"), tiny_plans(SPACING_MM), folds=(0,))
    write_training_ranges(identity_ranges, folder / "fold_0")
    return folder


def test_the_training_case_itself_is_in_distribution(
    ranged_model_folder, preprocessed_identity_case, identity_case
):
    predictor = Predictor(load_trained_model(ranged_model_folder), step_size=1.0, use_mirroring=False)
    prediction = predictor.predict_preprocessed(preprocessed_identity_case, identity_case[0], "typical")
    assert prediction.distribution is not None and prediction.distribution.checked
    assert prediction.distribution.findings == ()
    assert prediction.summary["out_of_distribution"] == []


@pytest.mark.parametrize(
    ("changed", "quantity"),
    [("noise", "noise_sigma_ld"), ("field", "field_strength_t")],
)
def test_an_out_of_range_case_is_named_in_the_log_the_summary_and_the_report(
    changed,
    quantity,
    ranged_model_folder,
    preprocessed_identity_case,
    identity_case,
    identity_ranges,
    tmp_path,
    caplog,
):
    properties = preprocessed_identity_case.properties
    if changed == "noise":  # sigma_LD 5x below the training range
        properties = dataclasses.replace(properties, noise_sigma_ld=properties.noise_sigma_ld / 5)
    else:
        properties = dataclasses.replace(
            properties, condition={**properties.condition, "field_strength_t": UNSEEN_FIELD_T}
        )
    case = dataclasses.replace(preprocessed_identity_case, properties=properties)
    predictor = Predictor(load_trained_model(ranged_model_folder), step_size=1.0, use_mirroring=False)
    with caplog.at_level(logging.WARNING, logger="gdr_toolkit.inference.distribution_check"):
        prediction = predictor.predict_preprocessed(case, identity_case[0], "odd")
    check_records = [r for r in caplog.records if r.name == "gdr_toolkit.inference.distribution_check"]
    assert [r.getMessage() for r in check_records] == [f.message for f in prediction.distribution.findings]
    assert any("case odd" in r.getMessage() and quantity in r.getMessage() for r in check_records)
    write_prediction(prediction, tmp_path, ExportOptions())
    summary = json.loads((tmp_path / "odd_summary.json").read_text())
    records = {record["quantity"]: record for record in summary["out_of_distribution"]}
    training = identity_ranges.quantities[quantity]
    assert (records[quantity]["training_minimum"], records[quantity]["training_maximum"]) == (
        training.minimum,
        training.maximum,
    )
    if changed == "noise":
        assert records[quantity]["value"] == pytest.approx(training.minimum / 5, rel=1e-6)
    else:
        assert records[quantity]["value"] == UNSEEN_FIELD_T
    report = (tmp_path / "odd_report.html").read_text()
    section = report.split('<section id="out-of-distribution">')[1].split("</section>")[0]
    assert "case odd lies outside the data the model was trained on" in section and quantity in section


def test_a_model_without_training_ranges_is_predicted_unchecked(
    two_fold_model_folder, preprocessed_identity_case, identity_case, tmp_path
):
    predictor = Predictor(
        load_trained_model(two_fold_model_folder, folds=[0]), step_size=1.0, use_mirroring=False
    )
    prediction = predictor.predict_preprocessed(preprocessed_identity_case, identity_case[0], "old")
    assert prediction.summary["out_of_distribution_checked"] is False
    write_prediction(prediction, tmp_path, ExportOptions())
    assert "Not checked" in (tmp_path / "old_report.html").read_text()


def test_a_fold_ensemble_uses_the_union_of_its_folds_ranges(tmp_path, caplog):
    folder = write_model_folder(tmp_path, tiny_plans(SPACING_MM), folds=(0, 1, 2))
    write_training_ranges(
        TrainingRanges.from_cases([{"noise_sigma_ld": 0.02}, {"noise_sigma_ld": 0.03}]), folder / "fold_0"
    )
    write_training_ranges(
        TrainingRanges.from_cases([{"noise_sigma_ld": 0.05, "field_strength_t": 3.0}]), folder / "fold_1"
    )
    with caplog.at_level(logging.INFO, logger="gdr_toolkit.inference.model_loader"):
        model = load_trained_model(folder)
    union = model.training_ranges.quantities
    assert (union["noise_sigma_ld"].minimum, union["noise_sigma_ld"].maximum) == (0.02, 0.05)
    assert union["field_strength_t"].values == (3.0,)
    assert any("['2']" in record.getMessage() for record in caplog.records)  # fold 2 has none
    assert load_trained_model(folder, folds=[2]).training_ranges is None


def quiet_case(seed: int = 5, factor: float = 5.0) -> tuple[sitk.Image, sitk.Image]:
    """The identity case with its noise divided by ``factor`` (PC and LD: noiseless + noise / factor)."""
    case = simulate_case(SimulationSettings.tiny(), seed, 0)
    images = []
    for name in ("pre_contrast", "low_dose"):
        noisy = sitk.GetArrayFromImage(getattr(case, name)).astype(np.float64)
        noiseless = sitk.GetArrayFromImage(case.noiseless[name]).astype(np.float64)
        images.append(
            image_from_array(
                (noiseless + (noisy - noiseless) / factor).astype(np.float32), getattr(case, name)
            )
        )
    return images[0], images[1]


@pytest.mark.slow
def test_a_run_names_and_strict_refuses_cases_out_of_distribution(
    ranged_model_folder, identity_case, tmp_path
):
    pre_contrast, low_dose, _ = identity_case
    record = simulate_case(SimulationSettings.tiny(), 5, 0).metadata
    inputs = tmp_path / "imagesTs"
    quiet = quiet_case()
    for case_id, images, field in (
        ("typical", (pre_contrast, low_dose), 3.0),
        ("field", (pre_contrast, low_dose), UNSEEN_FIELD_T),
        ("quiet", quiet, 3.0),
    ):
        for channel, image in enumerate(images):
            write_image_atomic(image, inputs / f"{case_id}_000{channel}.nii.gz")
        write_json_atomic({**record, "field_strength_t": field}, tmp_path / "metadataTs" / f"{case_id}.json")
    predictor = Predictor(load_trained_model(ranged_model_folder), step_size=1.0, use_mirroring=False)
    output = tmp_path / "out"

    strict = run_prediction(
        find_cases(inputs), predictor, output, RunOptions(strict=True, continue_prediction=True)
    )
    assert strict.written == ("typical",) and strict.refused == ("field", "quiet")
    assert "refused by --strict" in strict.failures["quiet"] and "noise_sigma_ld" in strict.failures["quiet"]
    assert not (output / "quiet_sd.nii.gz").exists() and not (output / "field_summary.json").exists()
    run_record = json.loads((output / RUN_SUMMARY_FILE).read_text())
    assert run_record["strict"] is True and run_record["refused"] == ["field", "quiet"]
    assert set(run_record["out_of_distribution"]) == {"field", "quiet"}

    again = run_prediction(find_cases(inputs), predictor, output, RunOptions(continue_prediction=True))
    assert again.skipped == ("typical",) and set(again.written) == {"field", "quiet"} and not again.failures
    run_record = json.loads((output / RUN_SUMMARY_FILE).read_text())
    assert run_record["refused"] == [] and set(run_record["out_of_distribution"]) == {"field", "quiet"}
    quiet_records = {r["quantity"]: r for r in run_record["out_of_distribution"]["quiet"]}
    sigma = quiet_records["noise_sigma_ld"]
    assert sigma["value"] < sigma["allowed_minimum"] < sigma["training_minimum"]
    assert sigma["value"] < sigma["training_minimum"] / 3  # measured: the noise was divided by 5
    assert {r["quantity"] for r in run_record["out_of_distribution"]["field"]} >= {"field_strength_t"}
    summary = json.loads((output / "quiet_summary.json").read_text())
    assert summary["out_of_distribution"] == run_record["out_of_distribution"]["quiet"]
    assert "noise_sigma_ld" in (output / "quiet_report.html").read_text().split("Out of distribution")[1]
    assert "field_strength_t" in (output / "field_report.html").read_text().split("Out of distribution")[1]
