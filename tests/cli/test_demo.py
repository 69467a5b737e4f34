"""``gdr_demo`` runs the whole pipeline: a small form in CI, the default form behind the slow marker."""

from __future__ import annotations

import json
import os

import pytest

from gdr_toolkit.cli.demo import main
from gdr_toolkit.cli.train import main as train_main

SMALL = ["-n", "5", "--test", "1", "--spacing", "4", "-np", "1", "-tr", "GDRTrainer_1epoch_10iters"]


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch):
    for variable in ("gdr_raw", "gdr_preprocessed", "gdr_results"):
        monkeypatch.setenv(variable, os.environ.get(variable, ""))


def test_demo_small_form_runs_every_step_and_prints_the_table(tmp_path, capsys):
    assert main(["-o", str(tmp_path), *SMALL, "--iterations_per_epoch", "2"]) == 0
    printed = capsys.readouterr().out
    for label in ("x_LD (baseline)", "synthesised SD", "SD+ (LD + signal)"):
        assert label in printed
    predictions = tmp_path / "predictions"
    summary = json.loads((predictions / "summary.json").read_text())
    assert set(summary["methods"]) == {"low_dose", "sd", "sdplus"}
    assert len(list(predictions.glob("*_qc.png"))) == 1
    fold = next((tmp_path / "gdr_results" / "Dataset001_Phantom").glob("*__3d_cpu")) / "fold_0"
    assert (fold / "checkpoint_final.pth").is_file()
    validation = json.loads((fold / "validation" / "summary.json").read_text())  # training-end validation
    assert set(validation["methods"]) == {"low_dose", "sd", "sdplus"}
    (fold / "validation" / "summary.json").unlink()
    trainer = ["1", "0", "-c", "3d_cpu", "-tr", "GDRTrainer_1epoch_10iters"]
    assert train_main([*trainer, "--val"]) == 0
    assert (fold / "validation" / "summary.json").is_file()
    assert (
        train_main(["1", "1", "-c", "3d_cpu", "-tr", "GDRTrainer_1epoch_10iters", "--val"]) == 1
    )  # not trained
    assert main(["-o", str(tmp_path), *SMALL, "--iterations_per_epoch", "2"]) == 0  # rerun reuses every step


@pytest.mark.slow
def test_demo_default_form(tmp_path):
    assert main(["-o", str(tmp_path)]) == 0
