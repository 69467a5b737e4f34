"""``gdr_extract_fingerprint``: writes the file into $gdr_preprocessed and reports errors with exit 1."""

from __future__ import annotations

import shutil

from gdr_toolkit.cli.extract_fingerprint import main
from gdr_toolkit.file_io import read_json
from gdr_toolkit.simulation import SimulationSettings, write_simulated_dataset


def test_cli_writes_the_fingerprint_into_preprocessed(tmp_path, monkeypatch, capsys):
    raw, preprocessed = tmp_path / "raw", tmp_path / "preprocessed"
    write_simulated_dataset(raw / "Dataset104_Cli", SimulationSettings.tiny(), num_training=1, seed=4)
    monkeypatch.setenv("gdr_raw", str(raw))
    monkeypatch.setenv("gdr_preprocessed", str(preprocessed))
    assert main(["-d", "104", "-np", "1"]) == 0
    record = read_json(preprocessed / "Dataset104_Cli" / "dataset_fingerprint.json")
    assert record["dataset_name"] == "Dataset104_Cli" and len(record["cases"]) == 1
    assert "1 case(s), median spacing 4 x 4 x 4 mm" in capsys.readouterr().err


def test_cli_names_a_broken_case_and_exits_1(tmp_path, monkeypatch, capsys):
    raw = tmp_path / "raw"
    dataset = raw / "Dataset105_Broken"
    write_simulated_dataset(dataset, SimulationSettings.tiny(), num_training=1, seed=5)
    shutil.copy(dataset / "imagesTr" / "phantom_000_0001.nii.gz", dataset / "imagesTr" / "bad_0001.nii.gz")
    (dataset / "imagesTr" / "bad_0000.nii.gz").write_bytes(b"garbage")
    (dataset / "imagesTr" / "phantom_000_0000.nii.gz").unlink()  # nothing heavy runs: both cases fail
    monkeypatch.setenv("gdr_raw", str(raw))
    monkeypatch.setenv("gdr_preprocessed", str(tmp_path / "preprocessed"))
    assert main(["-d", "105", "-np", "1"]) == 1
    message = capsys.readouterr().err
    assert "bad_0000.nii.gz" in message and "phantom_000_0000.nii.gz" in message


def test_cli_unknown_dataset_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    monkeypatch.setenv("gdr_preprocessed", str(tmp_path))
    assert main(["-d", "9"]) == 1
    assert "Dataset009_" in capsys.readouterr().err
