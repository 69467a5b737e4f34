"""Broken image files through every command that reads images: exit code 1, one line naming the file on
stderr, no traceback, nothing already written lost."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from gdr_toolkit.cli.extract_fingerprint import main as extract_fingerprint_main
from gdr_toolkit.cli.plan_and_preprocess import main as plan_and_preprocess_main
from gdr_toolkit.cli.predict import main_from_modelfolder as predict_main
from gdr_toolkit.cli.verify_dataset import main as verify_main
from gdr_toolkit.dataset.raw_layout import case_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dataset"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from inference_fixtures import DATASET, tiny_plans, write_model_folder, write_test_cases  # noqa: E402
from test_verify import make_tiny_dataset  # noqa: E402


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


BREAKAGES = {"truncated": truncate, "empty": empty}


def assert_one_line_names(path: Path, stderr: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if str(path) in line]
    assert len(lines) == 1, stderr


@pytest.fixture
def raw(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("gdr_raw", str(tmp_path / "raw"))
    monkeypatch.setenv("gdr_preprocessed", str(tmp_path / "pre"))
    return make_tiny_dataset(tmp_path / "raw" / "Dataset005_Tiny", num_cases=1)


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_verify_names_a_broken_file(raw, capsys, breakage):
    broken = case_files(raw, "case_000", "Tr", ".nii.gz").pre_contrast
    BREAKAGES[breakage](broken)
    assert verify_main(["-d", "5"]) == 1
    assert_one_line_names(broken, capsys.readouterr().err)


@pytest.mark.parametrize(
    ("name", "content"),
    [("case_000_0002.nii.gz", "image"), ("notes.txt", "text")],
)
def test_verify_names_an_entry_that_matches_no_channel(raw, capsys, name, content):
    stray = raw / "imagesTr" / name
    if content == "image":
        sitk.WriteImage(sitk.GetImageFromArray(np.random.default_rng(0).random((8, 8, 8))), str(stray))
    else:
        stray.write_text("scanner notes")
    assert verify_main(["-d", "5"]) == 1
    assert_one_line_names(stray, capsys.readouterr().err)


def test_verify_names_an_all_zero_image(raw, capsys):
    target = case_files(raw, "case_000", "Tr", ".nii.gz").standard_dose
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((8, 8, 8), np.float32)), str(target))
    assert verify_main(["-d", "5"]) == 1
    stderr = capsys.readouterr().err
    assert_one_line_names(target, stderr)
    assert "constant" in stderr


@pytest.mark.parametrize("breakage", BREAKAGES)
@pytest.mark.parametrize("command", [extract_fingerprint_main, plan_and_preprocess_main])
def test_fingerprinting_commands_name_a_broken_file(raw, capsys, breakage, command):
    broken = case_files(raw, "case_000", "Tr", ".nii.gz").low_dose
    BREAKAGES[breakage](broken)
    assert command(["-d", "5", "-np", "1"]) == 1
    assert_one_line_names(broken, capsys.readouterr().err)


@pytest.fixture(scope="module")
def prediction_input(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken_predict")
    write_test_cases(root / "raw", ("case_a",))
    model = write_model_folder(root / "results" / DATASET, tiny_plans(5.0), folds=(0,))
    return root, model


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_predict_names_a_broken_file_and_keeps_earlier_outputs(prediction_input, tmp_path, capsys, breakage):
    root, model = prediction_input
    inputs = tmp_path / "imagesTs"
    inputs.mkdir()
    for path in (root / "raw" / "imagesTs").iterdir():
        (inputs / path.name).write_bytes(path.read_bytes())
    BREAKAGES[breakage](inputs / "case_a_0000.nii.gz")
    output = tmp_path / "out"
    output.mkdir()
    (output / "case_a_sd.nii.gz").write_bytes(b"earlier output")
    arguments = ["-m", str(model), "-i", str(inputs), "-o", str(output), "--dose", "0.25"]
    assert predict_main([*arguments, "--field-strength", "3", "--agent", "gadobutrol"]) == 1
    assert_one_line_names(inputs / "case_a_0000.nii.gz", capsys.readouterr().err)
    assert (output / "case_a_sd.nii.gz").read_bytes() == b"earlier output"
