from __future__ import annotations

import sys
from pathlib import Path

from gdr_toolkit.cli.verify_dataset import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dataset"))
from test_verify import make_tiny_dataset  # noqa: E402


def test_cli_exit_codes_and_messages(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    dataset = make_tiny_dataset(tmp_path / "Dataset003_Tiny")
    assert main(["-d", "3"]) == 0
    assert "all 3 case(s) passed" in capsys.readouterr().err
    (dataset / "metadataTr" / "case_001.json").unlink()
    assert main(["-d", "Dataset003_Tiny"]) == 1
    assert "case_001.json" in capsys.readouterr().err


def test_cli_unknown_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    assert main(["-d", "9"]) == 1
    assert "Dataset009_" in capsys.readouterr().err
