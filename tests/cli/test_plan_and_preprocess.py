"""``gdr_plan_and_preprocess`` end to end on a tiny simulated dataset (4 mm), and its sub-commands."""

from __future__ import annotations

import json

import pytest

from gdr_toolkit.cli import plan_and_preprocess, preprocess
from gdr_toolkit.cli.plan_and_preprocess import main
from gdr_toolkit.cli.plan_experiment import main as plan_main
from gdr_toolkit.cli.preprocess import main as preprocess_main
from gdr_toolkit.fingerprint import FingerprintExtractionError
from gdr_toolkit.planning.plans import load_plans
from gdr_toolkit.preprocessing.preprocessor import PreprocessingError
from gdr_toolkit.simulation import SimulationSettings
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("gdr")
    write_simulated_dataset(root / "raw" / "Dataset021_Tiny", SimulationSettings.tiny(), 5, 0, seed=8)
    return root


@pytest.fixture
def environment(folders, monkeypatch):
    monkeypatch.setenv("gdr_raw", str(folders / "raw"))
    monkeypatch.setenv("gdr_preprocessed", str(folders / "pre"))
    return folders / "pre" / "Dataset021_Tiny"


def test_plan_and_preprocess_writes_plans_splits_and_cases(environment, capsys):
    assert main(["-d", "21", "-np", "1", "--verify_dataset_integrity"]) == 0
    plans = load_plans(environment / "gdrPlans.json")
    assert set(plans.configurations) == {"3d_fullres", "3d_cpu"}
    assert plans.configuration("3d_fullres").spacing_mm == pytest.approx(4.0)
    folds = json.loads((environment / "splits_final.json").read_text())
    assert len(folds) == 5
    data = environment / plans.configuration("3d_cpu").data_identifier
    assert len(list(data.glob("*.b2nd"))) == 5
    assert (data / "dataset_statistics.json").is_file()
    assert "shares gdrPlans_4mm" in capsys.readouterr().err


def test_rerun_reuses_everything(environment, capsys):
    assert main(["-d", "21", "-np", "1"]) == 0
    assert "0 case(s) preprocessed, 5 already complete" in capsys.readouterr().err


def test_plan_variant_with_its_own_name_and_overrides(environment):
    arguments = ["-d", "21", "-pl", "ExperimentPlanner_NoNoiseNorm", "-overwrite_plans_name", "noNN"]
    assert plan_main([*arguments, "-overwrite_target_spacing", "5"]) == 0
    plans = load_plans(environment / "noNN.json")
    assert plans.planner == "ExperimentPlanner_NoNoiseNorm"
    assert all(
        not plan.noise_normalisation and plan.spacing_mm == 5.0 for plan in plans.configurations.values()
    )
    assert preprocess_main(["-d", "21", "-p", "noNN", "-c", "3d_cpu", "-np", "1"]) == 0
    assert len(list((environment / "noNN_5mm").glob("*.json"))) == 6  # 5 cases + dataset_statistics.json


def test_unknown_planner_and_configuration_fail_clearly(environment, capsys):
    assert plan_main(["-d", "21", "-pl", "Nope"]) == 1
    assert "available" in capsys.readouterr().err
    assert preprocess_main(["-d", "21", "-c", "3d_lowres"]) == 1
    assert "3d_lowres" in capsys.readouterr().err


def _failing(error: Exception):
    def raise_error(*args, **kwargs):
        raise error

    return raise_error


def _assert_one_error_line(stderr: str, text: str) -> None:
    assert "Traceback" not in stderr
    assert len([line for line in stderr.splitlines() if text in line]) == 1, stderr


@pytest.mark.parametrize(
    "command", [preprocess_main, main], ids=["gdr_preprocess", "gdr_plan_and_preprocess"]
)
def test_failed_cases_give_one_error_line_and_exit_1(environment, capsys, monkeypatch, command):
    failure = PreprocessingError({"case_003": "the low_dose registration is poor"})
    monkeypatch.setattr(preprocess, "preprocess", _failing(failure))
    assert command(["-d", "21", "-np", "1"]) == 1
    _assert_one_error_line(capsys.readouterr().err, "1 case(s) failed")


def test_a_failed_fingerprint_gives_one_error_line_and_exit_1(environment, capsys, monkeypatch):
    failure = FingerprintExtractionError("Dataset021_Tiny", {"case_001": "unreadable"})
    monkeypatch.setattr(plan_and_preprocess, "load_or_extract_fingerprint", _failing(failure))
    assert main(["-d", "21", "-np", "1"]) == 1
    _assert_one_error_line(capsys.readouterr().err, "could not be fingerprinted")
