"""The study runner with recording stand-ins for the commands: equal budgets, plans, resume, errors."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path

import pytest

from gdr_toolkit.inference.prediction_run import PredictionSummary
from gdr_toolkit.reproduction import study_runner
from gdr_toolkit.reproduction.study_methods import METHODS, select_methods
from gdr_toolkit.reproduction.study_settings import PRESETS, StudySettings, study_settings

SETTINGS = PRESETS["tiny"]


class RecordingSteps:
    """Stand-ins for the library steps: record their arguments, write the files the next steps look for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, failing: str | None = None) -> None:
        self.calls: dict[str, list[dict]] = {}
        self.failing = failing
        steps = {
            "plan_and_preprocess": ("dataset", "request", "num_processes", "configurations"),
            "train_fold": ("job",),
            "predict_folder": ("model_folder", "input_folder", "output_folder", "request"),
            "evaluate_predictions": ("reference", "prediction", "pre_contrast", "lesions"),
            "plot_fold_embedding": ("dataset", "model_folder", "request"),
        }
        for name, parameters in steps.items():
            monkeypatch.setattr(study_runner, name, self._step(name, parameters))
        monkeypatch.setattr(study_runner, "write_simulated_dataset", lambda *args, **kwargs: [])

    def _step(self, name: str, parameters: tuple[str, ...]):
        def step(*args, **kwargs):
            call = dict(zip(parameters, args, strict=False)) | kwargs
            self.calls.setdefault(name, []).append(call)
            if name == self.failing:
                raise ValueError(f"{name} failed")
            if name == "predict_folder":
                output = Path(call["output_folder"])
                output.mkdir(parents=True, exist_ok=True)
                if not (output / "case_sd.nii.gz").exists():  # continue_prediction keeps written cases
                    (output / "case_sd.nii.gz").write_bytes(b"x")
                return PredictionSummary(("case",), (), {})
            if name == "evaluate_predictions":
                return type("Summary", (), {"to_json_dict": staticmethod(dict)})()
            return None

        return step


def test_every_method_trains_with_the_same_budget_and_schedule(tmp_path, monkeypatch):
    steps = RecordingSteps(monkeypatch)
    record = study_runner.run_study(SETTINGS, METHODS, tmp_path)
    jobs = [call["job"] for call in steps.calls["train_fold"]]
    assert [job.trainer_name for job in jobs] == [method.trainer for method in METHODS]
    for name in ("num_epochs", "iterations_per_epoch", "initial_learning_rate", "oversample_fraction"):
        assert len({getattr(job, name) for job in jobs}) == 1, name
    assert len({job.configuration for job in jobs}) == 1
    assert jobs[0].initial_learning_rate == SETTINGS.initial_learning_rate
    assert all(job.continue_training for job in jobs)  # an interrupted training resumes
    plans = {f"{job.trainer_name}/{job.plans_name}" for job in jobs}
    assert "GDRTrainer/gdrPlansNoNoiseNorm" in plans and "GDRTrainer/gdrPlans" in plans
    planners = [call["request"].planner for call in steps.calls["plan_and_preprocess"]]
    assert planners == ["ExperimentPlanner", "ExperimentPlanner_NoNoiseNorm"]
    assert set(record["summaries"]) == {method.key for method in METHODS}
    assert json.loads((tmp_path / "study.json").read_text())["settings"] == SETTINGS.to_json_dict()


def test_low_dose_and_sdplus_are_evaluated_only_for_ours(tmp_path, monkeypatch):
    steps = RecordingSteps(monkeypatch)
    study_runner.run_study(SETTINGS, select_methods(["direct_3d"]), tmp_path)
    ours, direct = steps.calls["evaluate_predictions"]
    assert ours["options"].include_low_dose and "_sdplus" in ours["suffix"]
    assert not direct["options"].include_low_dose and "_sdplus" not in direct["suffix"]
    assert len(steps.calls["plan_and_preprocess"]) == 1


def test_up_to_date_evaluations_are_reused(tmp_path, monkeypatch):
    steps = RecordingSteps(monkeypatch)
    study_runner.run_study(SETTINGS, select_methods(["direct_3d"]), tmp_path)
    study_runner.run_study(SETTINGS, select_methods(["direct_3d"]), tmp_path)
    assert len(steps.calls["evaluate_predictions"]) == 2  # not 4
    first = json.loads((tmp_path / "study.json").read_text())["seconds_total"]
    assert first > 0


def test_a_failing_step_names_itself(tmp_path, monkeypatch):
    RecordingSteps(monkeypatch, failing="predict_folder")
    with pytest.raises(study_runner.StudyStepError, match="predicting with ours"):
        study_runner.run_study(SETTINGS, METHODS, tmp_path)


def test_a_study_folder_refuses_other_settings(tmp_path, monkeypatch):
    RecordingSteps(monkeypatch)
    study_runner.run_study(SETTINGS, select_methods(["direct_3d"]), tmp_path)
    with pytest.raises(ValueError, match="other settings"):
        study_runner.run_study(replace(SETTINGS, num_epochs=3), select_methods(["direct_3d"]), tmp_path)


def test_presets_and_overrides():
    assert PRESETS["small"].iterations == 2000  # about 55 min of 2-core training each (convergence.md)
    assert PRESETS["small"].epochs_of("ablation") * PRESETS["small"].iterations_per_epoch == 500
    assert PRESETS["small"].epochs_of("core") == PRESETS["small"].num_epochs
    with pytest.raises(ValueError, match="ablation_num_epochs"):
        StudySettings(num_epochs=5, ablation_num_epochs=6)
    assert study_settings("quick", num_epochs=None).iterations == 500
    assert study_settings("small", device="cuda").device == "cuda"
    with pytest.raises(ValueError, match="preset"):
        study_settings("huge")
    with pytest.raises(ValueError, match="num_test"):
        StudySettings(num_test=1)


def test_ablations_train_with_the_shorter_budget_and_ours_is_trained_at_both(tmp_path, monkeypatch):
    steps = RecordingSteps(monkeypatch)
    settings = dataclasses.replace(SETTINGS, num_epochs=3, ablation_num_epochs=2)
    study_runner.run_study(settings, METHODS, tmp_path)
    epochs = {
        call["job"].trainer_name + "/" + call["job"].plans_name: call["job"].num_epochs
        for call in steps.calls["train_fold"]
    }
    for method in METHODS:
        assert epochs[f"{method.trainer}/{method.plans}"] == (2 if method.role == "ablation" else 3), (
            method.key
        )
    assert epochs["GDRTrainer_Reference/gdrPlans"] == 2 and epochs["GDRTrainer/gdrPlans"] == 3


def test_each_method_is_listed_once():
    keys = [method.key for method in METHODS]
    assert len(keys) == len(set(keys)), keys
    assert [key for key in keys if key == "ours_ablation_budget"] == ["ours_ablation_budget"]
