"""``gdr_demo`` runs end to end: a small form in CI, the default form behind the slow marker."""

from __future__ import annotations

import os
import re

import pytest

from gdr_toolkit.cli.demo import main


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch):
    for variable in ("gdr_raw", "gdr_preprocessed", "gdr_results"):
        monkeypatch.setenv(variable, os.environ.get(variable, ""))


def test_demo_small_form(tmp_path, capsys):
    assert main(["-o", str(tmp_path), "-n", "2", "--test", "1", "--spacing", "3"]) == 0
    log = capsys.readouterr().err
    error_mm = float(re.search(r"LD motion recovered to ([0-9.]+) mm", log).group(1))
    assert error_mm < 1.5  # 3 mm voxels
    assert (tmp_path / "gdr_raw" / "Dataset001_Phantom" / "dataset.json").is_file()
    assert main(["-o", str(tmp_path), "-n", "2", "--test", "1", "--spacing", "3"]) == 0  # rerun reuses cases


@pytest.mark.slow
def test_demo_default_form(tmp_path):
    assert main(["-o", str(tmp_path)]) == 0
