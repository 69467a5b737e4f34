"""``gdr_simulate_dataset`` writes into $gdr_raw and refuses to mix datasets."""

from __future__ import annotations

from gdr_toolkit.cli.simulate_dataset import main
from gdr_toolkit.dataset.raw_layout import list_cases


def test_cli_writes_dataset_into_gdr_raw(tmp_path, monkeypatch):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    assert main(["-d", "12", "-n", "1", "--test", "1", "--spacing", "4", "--seed", "3"]) == 0
    folder = tmp_path / "Dataset012_Phantom"
    assert [case.case_id for case in list_cases(folder, "Tr")] == ["phantom_000"]
    assert [case.case_id for case in list_cases(folder, "Ts")] == ["phantom_001"]
    assert main(["-d", "12", "-n", "1", "--test", "1", "--spacing", "4", "--seed", "3"]) == 0  # rerun: no-op


def test_cli_refuses_a_different_dataset_with_the_same_id(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    (tmp_path / "Dataset013_Other").mkdir()
    assert main(["-d", "13", "-n", "1", "--spacing", "4"]) == 1
    assert "Dataset013_Other" in capsys.readouterr().err
    assert not (tmp_path / "Dataset013_Phantom").exists()


def test_cli_refuses_other_settings_in_an_existing_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    assert main(["-d", "14", "-n", "1", "--spacing", "4", "--seed", "1"]) == 0
    assert main(["-d", "14", "-n", "1", "--spacing", "4", "--seed", "2"]) == 1


def test_cli_without_gdr_raw_fails_clearly(monkeypatch, capsys):
    monkeypatch.delenv("gdr_raw", raising=False)
    assert main(["-d", "15", "-n", "1"]) == 1
    assert "gdr_raw" in capsys.readouterr().err
