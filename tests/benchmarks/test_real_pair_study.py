"""benchmarks/real_pair_study.py end to end: a tiny simulated pair, a tiny (untrained) model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).parents[1] / "inference"))  # shared builders of the inference tests
from inference_fixtures import tiny_plans, write_model_folder  # noqa: E402

from gdr_toolkit.simulation import SimulationSettings, simulate_case  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "real_pair_study.py"


@pytest.fixture(scope="module")
def study():
    specification = importlib.util.spec_from_file_location("real_pair_study_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(specification)
    sys.modules["real_pair_study_benchmark"] = module
    specification.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_study_writes_the_table_json_and_pictures(study, tmp_path):
    case = simulate_case(SimulationSettings.tiny(lesion_diameter_range_mm=(12.0, 20.0)), seed=6)
    pc, sd = tmp_path / "pc.nii.gz", tmp_path / "sd.nii.gz"
    sitk.WriteImage(case.pre_contrast, str(pc))
    sitk.WriteImage(case.standard_dose, str(sd))
    model = write_model_folder(tmp_path / "models", tiny_plans(5.0))
    output = tmp_path / "out"
    assert (
        study.main(
            [
                "--model",
                str(model),
                "--pc",
                str(pc),
                "--sd",
                str(sd),
                "--doses",
                "0.1",
                "0.33",
                "-o",
                str(output),
            ]
        )
        == 0
    )
    results = json.loads((output / "real_pair_study.json").read_text())
    assert results["structures"] >= 1
    low = {dose: results["doses"][dose]["rows"]["x_LD"]["pooled_recovery"] for dose in ("0.1", "0.33")}
    assert 0.1 <= low["0.1"] < low["0.33"] < 1.0  # concave dose response: above the dose, below the SD
    assert set(results["doses"]["0.33"]["rows"]) == {"x_LD", "synthesised SD", "SD+"}
    assert "| x_LD |" in (output / "real_pair_study.md").read_text()
    assert (output / "real_pair_d033.png").stat().st_size > 1000
