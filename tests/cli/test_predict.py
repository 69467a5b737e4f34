"""``gdr_predict`` and ``gdr_predict_from_modelfolder`` end to end on a simulated case and a tiny model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).parents[1] / "inference"))  # shared builders of the inference tests
from inference_fixtures import DATASET, tiny_plans, write_model_folder, write_test_cases  # noqa: E402

from gdr_toolkit.cli.predict import main, main_from_modelfolder  # noqa: E402
from gdr_toolkit.model.training_ranges import TrainingRanges, write_training_ranges  # noqa: E402


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    write_test_cases(root / "raw", ("case_a",))
    model = write_model_folder(root / "results" / DATASET, tiny_plans(5.0), folds=(0, 1))
    return root, model


def test_model_folder_command_writes_sd_sdplus_and_qc(folders):
    root, model = folders
    output = root / "out"
    arguments = ["-m", str(model), "-i", str(root / "raw" / "imagesTs"), "-o", str(output)]
    assert (
        main_from_modelfolder(
            [*arguments, "--disable_tta", "-step_size", "1", "--save_contrast_signal", "-f", "0", "1"]
        )
        == 0
    )
    for name in ("case_a_sd.nii.gz", "case_a_sdplus.nii.gz", "case_a_qc.png", "case_a_contrast.nii.gz"):
        assert (output / name).is_file(), name
    assert not (output / "case_a_uncertainty.nii.gz").exists()


def test_continue_prediction_skips_written_cases(folders, capsys):
    root, model = folders
    output = root / "out_continue"
    arguments = [
        "-m",
        str(model),
        "-i",
        str(root / "raw" / "imagesTs"),
        "-o",
        str(output),
        "--disable_tta",
        "-step_size",
        "1",
        "-f",
        "0",
    ]
    assert main_from_modelfolder(arguments) == 0
    written = (output / "case_a_sd.nii.gz").stat().st_mtime_ns
    capsys.readouterr()
    assert main_from_modelfolder([*arguments, "--continue_prediction"]) == 0
    assert "0 case(s) written, 1 skipped" in capsys.readouterr().err
    assert (output / "case_a_sd.nii.gz").stat().st_mtime_ns == written


def test_dataset_command_with_metadata_flags_reports_broken_cases(folders, monkeypatch, capsys, tmp_path):
    root, _ = folders
    monkeypatch.setenv("gdr_results", str(root / "results"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for channel in ("0000", "0001"):  # no metadata next to these: the flags give it
        source = root / "raw" / "imagesTs" / f"case_a_{channel}.nii.gz"
        (inputs / f"flagged_{channel}.nii.gz").write_bytes(source.read_bytes())
        (inputs / f"broken_{channel}.nii.gz").write_bytes(b"not an image")
    arguments = ["-d", "77", "-c", "3d_cpu", "-i", str(inputs), "-o", str(tmp_path / "out"), "--disable_tta"]
    metadata = ["--dose", "0.2", "--field-strength", "3", "--agent", "gadobutrol", "--save_uncertainty"]
    assert main([*arguments, *metadata, "-step_size", "1"]) == 1
    error = capsys.readouterr().err
    assert "1 case(s) failed" in error and "broken_0000.nii.gz" in error
    assert (tmp_path / "out" / "flagged_sd.nii.gz").is_file()
    assert (tmp_path / "out" / "flagged_uncertainty.nii.gz").is_file()


def test_bad_arguments_fail_clearly(folders, monkeypatch, capsys, tmp_path):
    root, model = folders
    monkeypatch.setenv("gdr_results", str(root / "results"))
    inputs = ["-i", str(root / "raw" / "imagesTs"), "-o", str(tmp_path)]
    assert main(["-d", "77", "-c", "3d_fullres", *inputs]) == 1
    assert "does not exist" in capsys.readouterr().err
    metadata = ["--dose", "2", "--field-strength", "3", "--agent", "gadobutrol"]
    assert main_from_modelfolder(["-m", str(model), *inputs, *metadata]) == 1
    assert "dose_fraction" in capsys.readouterr().err
    assert main_from_modelfolder(["-m", str(model), *inputs, "-chk", "checkpoint_best.pth"]) == 1
    assert "checkpoint_best.pth" in capsys.readouterr().err


@pytest.mark.slow
def test_dicom_series_in_and_out(folders, tmp_path):
    """(~2 min: registration and network on CPU; fast form in tests/inference/test_export.py) PC and LD given as DICOM series folders; SD and SD+ come back as series in PC's geometry."""
    from gdr_toolkit.dataset.dicom_io import DerivedSeries, read_dicom_series, write_dicom_series
    from gdr_toolkit.dataset.image_io import read_image

    root, model = folders
    inputs = tmp_path / "imagesTs"
    patient = {
        "0010|0020": "PID-7",
        "0020|000d": "1.2.826.0.1.3680043.99.1",
        "0020|0052": "1.2.826.0.1.3680043.99.2",
    }
    for channel in ("0000", "0001"):
        image = read_image(root / "raw" / "imagesTs" / f"case_a_{channel}.nii.gz")
        write_dicom_series(image, inputs / f"case_a_{channel}", DerivedSeries(f"T1 {channel}"), patient)
    output = tmp_path / "out"
    arguments = ["-m", str(model), "-i", str(inputs), "-o", str(output), "--disable_tta", "-f", "0"]
    assert (
        main_from_modelfolder(
            [*arguments, "--output_format", "dicom", "--metadata", str(root / "raw" / "metadataTs")]
        )
        == 0
    )
    pre_contrast = read_dicom_series(inputs / "case_a_0000")
    for kind in ("sd", "sdplus"):
        series = read_dicom_series(output / f"case_a_{kind}")
        assert series.GetSize() == pre_contrast.GetSize()
        assert series.GetOrigin() == pytest.approx(pre_contrast.GetOrigin(), abs=1e-4)
        assert series.GetDirection() == pytest.approx(pre_contrast.GetDirection(), abs=1e-6)
        assert series.GetMetaData("0010|0020") == "PID-7"
        assert series.GetMetaData("0020|000d") == patient["0020|000d"]
        assert series.GetMetaData("0020|000e") != pre_contrast.GetMetaData("0020|000e")
    assert (output / "case_a_qc.png").is_file()


def _without_seconds(summary: Any) -> Any:
    if isinstance(summary, dict):
        return {key: _without_seconds(value) for key, value in summary.items() if key != "seconds"}
    return summary


def _assert_same_outputs(whole: Path, parts: Path) -> None:
    """The same file names; equal image arrays and CASE_summary.json (wall times aside). The run records
    differ by design (``prediction_run.json`` against one ``prediction_run_part*.json`` per part)."""
    expected_files, received_files = (
        sorted(path for path in folder.iterdir() if not path.name.startswith("prediction_run"))
        for folder in (whole, parts)
    )
    assert [path.name for path in received_files] == [path.name for path in expected_files]
    for expected, received in zip(expected_files, received_files, strict=True):
        if expected.name.endswith(".nii.gz"):
            np.testing.assert_array_equal(
                sitk.GetArrayFromImage(sitk.ReadImage(str(received))),
                sitk.GetArrayFromImage(sitk.ReadImage(str(expected))),
                err_msg=expected.name,
            )
        elif expected.name.endswith("_summary.json"):
            assert _without_seconds(json.loads(received.read_text())) == _without_seconds(
                json.loads(expected.read_text())
            ), expected.name


def test_one_part_of_a_sharded_prediction_writes_what_an_unsharded_run_writes(folders, tmp_path):
    """Small form: part 1 of 2 over (case_a, case_b) predicts case_b alone, as an unsharded run on case_b."""
    _, model = folders
    write_test_cases(tmp_path / "both", ("case_a", "case_b"))
    write_test_cases(tmp_path / "alone", ("case_b",))
    arguments = ["--disable_tta", "-step_size", "1", "-f", "0", "-m", str(model)]
    assert (
        main_from_modelfolder(
            [*arguments, "-i", str(tmp_path / "alone" / "imagesTs"), "-o", str(tmp_path / "whole")]
        )
        == 0
    )
    sharded = [
        "-i",
        str(tmp_path / "both" / "imagesTs"),
        "-o",
        str(tmp_path / "parts"),
        "-num_parts",
        "2",
        "-part_id",
        "1",
    ]
    assert main_from_modelfolder([*arguments, *sharded]) == 0
    assert (tmp_path / "parts" / "case_b_sd.nii.gz").is_file()
    _assert_same_outputs(tmp_path / "whole", tmp_path / "parts")


@pytest.mark.slow
def test_sharded_prediction_writes_the_same_files_as_unsharded(folders, tmp_path):
    """Full form (issue 14): parts 0 and 1 of 2 into one folder equal one unsharded run, file for file."""
    _, model = folders
    inputs = tmp_path / "raw"
    for seed, case_id in enumerate(("case_b", "case_c"), start=6):  # different scans: a mix-up would show
        write_test_cases(inputs, (case_id,), seed=seed)
    arguments = [
        "-m",
        str(model),
        "-i",
        str(inputs / "imagesTs"),
        "--disable_tta",
        "-step_size",
        "1",
        "-f",
        "0",
    ]
    assert main_from_modelfolder([*arguments, "-o", str(tmp_path / "whole")]) == 0
    for part in ("0", "1"):
        assert (
            main_from_modelfolder(
                [*arguments, "-o", str(tmp_path / "parts"), "-num_parts", "2", "-part_id", part]
            )
            == 0
        )
    assert {"case_b_sd.nii.gz", "case_c_sd.nii.gz"} <= {path.name for path in (tmp_path / "whole").iterdir()}
    _assert_same_outputs(tmp_path / "whole", tmp_path / "parts")


def test_tile_edge_flag_takes_auto_patch_or_voxels():
    import argparse

    from gdr_toolkit.cli.predict import tile_edge_argument

    assert tile_edge_argument("auto") == "auto"
    assert tile_edge_argument("patch") is None
    assert tile_edge_argument("96") == 96
    for bad in ("0", "-8", "big"):
        with pytest.raises(argparse.ArgumentTypeError, match="auto, patch"):
            tile_edge_argument(bad)


def test_strict_refuses_a_case_outside_the_training_ranges(folders, tmp_path, capsys):
    root, _ = folders
    model = write_model_folder(tmp_path / "model", tiny_plans(5.0), folds=(0,))
    ranges = TrainingRanges.from_cases(
        [{"noise_sigma_ld": 1.0}, {"noise_sigma_ld": 2.0}]
    )  # far above case_a's
    write_training_ranges(ranges, model / "fold_0")
    arguments = ["-m", str(model), "-i", str(root / "raw" / "imagesTs"), "--disable_tta", "-step_size", "1"]
    assert main_from_modelfolder([*arguments, "-o", str(tmp_path / "strict"), "--strict"]) == 1
    assert not (tmp_path / "strict" / "case_a_sd.nii.gz").exists()
    record = json.loads((tmp_path / "strict" / "prediction_run.json").read_text())
    assert record["refused"] == ["case_a"] and "refused by --strict" in record["failed"]["case_a"]
    assert record["out_of_distribution"]["case_a"][0]["quantity"] == "noise_sigma_ld"
    error = capsys.readouterr().err
    assert "case case_a: out of distribution: noise_sigma_ld" in error
    assert "case_a: refused by --strict" in error
