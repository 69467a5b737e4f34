"""The study runner with recording stand-ins for the commands: equal budgets, plans, resume, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from gdr_toolkit.reproduction import study_runner
from gdr_toolkit.reproduction.study_methods import METHODS, select_methods
from gdr_toolkit.reproduction.study_settings import PRESETS, StudySettings, study_settings

SETTINGS = PRESETS["tiny"]


class RecordingCommands:
    """Stand-ins for the CLI mains: record argument lists, write the files the next steps look for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, failing: str | None = None) -> None:
        self.calls: dict[str, list[list[str]]] = {}
        self.failing = failing
        for name in ("plan_and_preprocess", "train", "predict", "evaluate", "plot_embedding"):
            fake = type("Module", (), {"main": staticmethod(self._command(name))})
            monkeypatch.setattr(study_runner, name, fake)
        monkeypatch.setattr(study_runner, "write_simulated_dataset", lambda *args, **kwargs: [])

    def _command(self, name: str):
        def command(arguments: list[str]) -> int:
            self.calls.setdefault(name, []).append(arguments)
            if name == self.failing:
                return 1
            if name == "predict":
                output = Path(arguments[arguments.index("-o") + 1])
                output.mkdir(parents=True, exist_ok=True)
                if not (output / "case_sd.nii.gz").exists():  # --continue_prediction keeps written cases
                    (output / "case_sd.nii.gz").write_bytes(b"x")
            if name == "evaluate":
                Path(arguments[arguments.index("-o") + 1]).write_text("{}")
            return 0

        return command


def _value(arguments: list[str], flag: str) -> str:
    return arguments[arguments.index(flag) + 1]


def test_every_method_trains_with_the_same_budget_and_schedule(tmp_path, monkeypatch):
    commands = RecordingCommands(monkeypatch)
    record = study_runner.run_study(SETTINGS, METHODS, tmp_path)
    trainings = commands.calls["train"]
    assert [_value(call, "-tr") for call in trainings] == [method.trainer for method in METHODS]
    for flag in ("--num_epochs", "--iterations_per_epoch", "-lr", "--oversample_fraction", "-c"):
        assert len({_value(call, flag) for call in trainings}) == 1, flag
    assert float(_value(trainings[0], "-lr")) == SETTINGS.initial_learning_rate
    assert all("--c" in call for call in trainings)  # an interrupted training resumes
    plans = {_value(call, "-tr") + "/" + _value(call, "-p") for call in trainings}
    assert "GDRTrainer/gdrPlansNoNoiseNorm" in plans and "GDRTrainer/gdrPlans" in plans
    planners = [call for call in commands.calls["plan_and_preprocess"] if "-pl" in call]
    assert [_value(call, "-pl") for call in planners] == ["ExperimentPlanner_NoNoiseNorm"]
    assert set(record["summaries"]) == {method.key for method in METHODS}
    assert json.loads((tmp_path / "study.json").read_text())["settings"] == SETTINGS.to_json_dict()


def test_low_dose_and_sdplus_are_evaluated_only_for_ours(tmp_path, monkeypatch):
    commands = RecordingCommands(monkeypatch)
    study_runner.run_study(SETTINGS, select_methods(["direct_3d"]), tmp_path)
    ours, direct = commands.calls["evaluate"]
    assert "--low-dose" in ours and "_sdplus" in ours
    assert "--low-dose" not in direct and "_sdplus" not in direct
    assert not any("-pl" in call for call in commands.calls["plan_and_preprocess"])


def test_up_to_date_evaluations_are_reused(tmp_path, monkeypatch):
    commands = RecordingCommands(monkeypatch)
    study_runner.run_study(SETTINGS, select_methods(["direct_3d"]), tmp_path)
    study_runner.run_study(SETTINGS, select_methods(["direct_3d"]), tmp_path)
    assert len(commands.calls["evaluate"]) == 2  # not 4
    first = json.loads((tmp_path / "study.json").read_text())["seconds_total"]
    assert first > 0


def test_a_failing_step_names_itself(tmp_path, monkeypatch):
    RecordingCommands(monkeypatch, failing="predict")
    with pytest.raises(study_runner.StudyStepError, match="predicting with ours"):
        study_runner.run_study(SETTINGS, METHODS, tmp_path)


def test_a_study_folder_refuses_other_settings(tmp_path, monkeypatch):
    RecordingCommands(monkeypatch)
    study_runner.run_study(SETTINGS, select_methods(["direct_3d"]), tmp_path)
    with pytest.raises(ValueError, match="other settings"):
        study_runner.run_study(replace(SETTINGS, num_epochs=3), select_methods(["direct_3d"]), tmp_path)


def test_presets_and_overrides():
    assert PRESETS["small"].iterations == 1000
    assert study_settings("quick", num_epochs=None).iterations == 500
    assert study_settings("small", device="cuda").device == "cuda"
    with pytest.raises(ValueError, match="preset"):
        study_settings("huge")
    with pytest.raises(ValueError, match="num_test"):
        StudySettings(num_test=1)
