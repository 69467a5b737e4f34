"""A training dataset synthesised from a pair dataset: layout, metadata, skull-stripped support, command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.cli.synthesize_low_dose import main as synthesize_main
from gdr_toolkit.dataset.raw_layout import (
    PAIR_CHANNEL_NAMES,
    DatasetDescription,
    case_files,
    write_dataset_description,
)
from gdr_toolkit.dataset.verify import verify_dataset
from gdr_toolkit.preprocessing.skull_stripped import check_skull_stripped
from gdr_toolkit.simulation import SimulationSettings, simulate_case
from gdr_toolkit.simulation.low_dose_dataset import synthesise_dataset, synthetic_case_id


@pytest.fixture(scope="module")
def stripped_pair_dataset(tmp_path_factory):
    """One tiny simulated case, skull-stripped (zero outside the true brain), as a pair dataset."""
    case = simulate_case(
        SimulationSettings.tiny(max_rotation_deg=2.0, lesion_diameter_range_mm=(10.0, 20.0)), seed=4
    )
    folder = tmp_path_factory.mktemp("raw") / "Dataset020_Pairs"
    files = case_files(folder, "case_a", "Tr", ".nii.gz")
    brain = sitk.GetArrayFromImage(case.brain_mask) > 0
    for image, path in ((case.pre_contrast, files.pre_contrast), (case.standard_dose, files.standard_dose)):
        on_pc = sitk.Resample(
            image,
            case.pre_contrast,
            case.motion.get("standard_dose", sitk.Transform())
            if image is case.standard_dose
            else sitk.Transform(),
        )
        stripped = sitk.GetImageFromArray(
            np.where(brain, sitk.GetArrayFromImage(on_pc), 0).astype(np.float32)
        )
        stripped.CopyInformation(case.pre_contrast)
        path.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(stripped, str(path))
    files.lesions.parent.mkdir(parents=True)
    sitk.WriteImage(case.lesion_labels, str(files.lesions))
    files.metadata.parent.mkdir(parents=True)
    files.metadata.write_text(json.dumps({"field_strength_t": case.metadata["field_strength_t"]}))
    write_dataset_description(
        folder, DatasetDescription("Pairs", channel_names=dict(PAIR_CHANNEL_NAMES), num_training=1)
    )
    return folder


def test_case_ids_carry_the_dose():
    assert synthetic_case_id("BraTS20_Training_186", 0.33) == "BraTS20_Training_186_d033"
    assert synthetic_case_id("x", 0.1) == "x_d010"


def test_synthesised_dataset_is_a_valid_training_dataset(stripped_pair_dataset, tmp_path):
    assert verify_dataset(stripped_pair_dataset) == []
    target = tmp_path / "Dataset021_PairsSLD"
    written = synthesise_dataset(stripped_pair_dataset, target, [0.1, 0.33], seed=1)
    assert written == ["case_a_d010", "case_a_d033"]
    assert verify_dataset(target) == []
    metadata = json.loads((target / "metadataTr" / "case_a_d033.json").read_text())
    assert metadata["dose_fraction"] == 0.33
    assert "contrast_agent" not in metadata  # what the archive lacks stays absent
    assert metadata["field_strength_t"] > 0  # what it has is kept
    record = metadata["synthetic_low_dose"]
    assert record["skull_stripped"] and record["source_case"] == "case_a"
    assert (target / "lesionsTr" / "case_a_d010.nii.gz").is_file()


def test_zeros_outside_a_skull_stripped_support_stay_zero_and_dose_orders_contrast(
    stripped_pair_dataset, tmp_path
):
    target = tmp_path / "Dataset022_PairsSLD"
    synthesise_dataset(stripped_pair_dataset, target, [0.1, 0.33], seed=2)
    pre_image = sitk.ReadImage(str(target / "imagesTr" / "case_a_d010_0000.nii.gz"))
    pre = sitk.GetArrayFromImage(pre_image)
    assert check_skull_stripped(pre, pre_image.GetSpacing()[::-1]).skull_stripped
    lesions = sitk.GetArrayFromImage(sitk.ReadImage(str(target / "lesionsTr" / "case_a_d010.nii.gz"))) > 0
    enhancement = {}
    for dose in ("010", "033"):
        low = sitk.GetArrayFromImage(sitk.ReadImage(str(target / "imagesTr" / f"case_a_d{dose}_0001.nii.gz")))
        assert np.all(low[pre == 0] == 0)
        enhancement[dose] = float(np.sum(low[lesions] - pre[lesions]))
    assert enhancement["033"] > 2.0 * enhancement["010"] > 0


def test_command_writes_the_next_free_dataset(stripped_pair_dataset, monkeypatch):
    monkeypatch.setenv("gdr_raw", str(stripped_pair_dataset.parent))
    assert synthesize_main(["-d", "20", "--doses", "0.25", "--signal_model", "linear"]) == 0
    target = stripped_pair_dataset.parent / "Dataset001_Pairs-SLD"
    assert (
        json.loads((target / "dataset.json").read_text())["synthetic_low_dose"]["signal_model"]["kind"]
        == "linear"
    )
    assert synthesize_main(["-d", "20", "--doses", "1.5"]) == 1


@pytest.mark.slow
def test_real_pair_is_skull_stripped_and_keeps_its_zeros(real_pair):
    """The BraTS pair: the support is the brain (1,379 ml), nothing is added outside it, and x_LD - x_PC
    carries noise (the default noise target) while its enhancement grows with the dose."""
    from gdr_toolkit.dataset.image_io import read_image
    from gdr_toolkit.preprocessing.noise import estimate_noise_sigma
    from gdr_toolkit.preprocessing.skull_stripped import support_mask
    from gdr_toolkit.simulation.low_dose_dataset import synthesise_case

    pre_contrast = read_image(real_pair.pre_contrast)
    result = synthesise_case(
        pre_contrast, read_image(real_pair.standard_dose), [0.1, 0.33], np.random.default_rng(0)
    )
    assert result.record["skull_stripped"]
    assert result.record["brain_volume_ml"] == pytest.approx(1379, rel=0.01)
    pre = sitk.GetArrayFromImage(pre_contrast).astype(np.float64)
    brain = sitk.GetArrayFromImage(result.brain_mask) > 0
    assert np.array_equal(brain, support_mask(pre))
    sums = {}
    for dose, image in result.low_doses.items():
        low = sitk.GetArrayFromImage(image)
        assert np.all(low[~brain] == 0)
        sigma = estimate_noise_sigma((low - pre).astype(np.float32), brain)
        assert sigma == pytest.approx(result.record["noise_sigma_subtraction"], rel=0.15)
        sums[dose] = float(np.sum(np.maximum(low - pre, 0)[brain]))
    assert sums[0.33] > sums[0.1]
