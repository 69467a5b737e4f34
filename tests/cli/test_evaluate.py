from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from gdr_toolkit.cli.evaluate import compare_main, main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from evaluation_data import SHAPE, write, write_dataset  # noqa: E402


def _reference_prediction_and_pc(folders: dict[str, Path]) -> list[str]:
    return ["-ref", str(folders["targets"]), "-pred", str(folders["pred"]), "-pc", str(folders["images"])]


def test_evaluate_then_compare(tmp_path, capsys):
    folders = write_dataset(tmp_path)
    summary = tmp_path / "out" / "summary.json"
    arguments = _reference_prediction_and_pc(folders)
    arguments += ["-lesions", str(folders["lesions"]), "-brain", str(folders["brain"]), "-o", str(summary)]
    assert main([*arguments, "--suffix", "_sd", "_sdplus", "--low-dose"]) == 0
    record = json.loads(summary.read_text())
    assert set(record["methods"]) == {"sd", "sdplus", "low_dose"}
    assert "psnr_b" in capsys.readouterr().err

    tests = tmp_path / "tests.json"
    assert (
        compare_main(["-a", str(summary), "--method-a", "sd", "--method-b", "low_dose", "-o", str(tests)])
        == 0
    )
    result = json.loads(tests.read_text())["tests"]
    assert result["psnr_l"]["n"] == 6 and result["psnr_l"]["mean_difference"] > 0


def test_evaluate_reports_missing_folder(tmp_path, capsys):
    assert (
        main(["-ref", str(tmp_path / "nothing"), "-pred", str(tmp_path), "-o", str(tmp_path / "s.json")]) == 1
    )
    assert "nothing" in capsys.readouterr().err


def test_compare_reports_unknown_method(tmp_path, capsys):
    (tmp_path / "s.json").write_text(json.dumps({"methods": {}}))
    assert compare_main(["-a", str(tmp_path / "s.json")]) == 1
    assert "'sd'" in capsys.readouterr().err


def test_valid_mask_flags_reach_the_summary(tmp_path):
    folders = write_dataset(tmp_path)
    valid = np.ones(SHAPE, np.uint8)
    valid[15:] = 0
    write(valid, tmp_path / "valid" / "case_a.nii.gz")
    write(valid, folders["pred"] / "case_b_valid_mask.nii.gz")
    base = ["-ref", str(folders["targets"]), "-pred", str(folders["pred"]), "-brain", str(folders["brain"])]
    summary = tmp_path / "summary.json"
    assert main([*base, "-valid", str(tmp_path / "valid"), "-o", str(summary)]) == 0
    cases = json.loads(summary.read_text())["cases"]
    assert cases["case_a"]["valid_mask"] == "case_a.nii.gz"
    assert (
        cases["case_b"]["valid_mask"] == "case_b_valid_mask.nii.gz" and cases["case_c"]["valid_mask"] is None
    )
    assert main([*base, "--ignore-valid-masks", "-o", str(summary)]) == 0
    assert json.loads(summary.read_text())["cases"]["case_b"]["valid_mask"] is None


def test_cache_flag_stores_the_derived_masks_and_reuses_them(tmp_path):
    folders = write_dataset(tmp_path)
    cache, summary = tmp_path / "cache", tmp_path / "summary.json"
    arguments = _reference_prediction_and_pc(folders)
    arguments += ["--brain-mask-rule", "head_threshold", "--cache", str(cache), "-o", str(summary)]
    assert main(arguments) == 0
    entries = sorted(cache.glob("brain_mask_*.npz"))
    assert len(entries) == 3  # one mask per case
    first = json.loads(summary.read_text())
    stamps = [entry.stat().st_mtime_ns for entry in entries]
    assert main(arguments) == 0
    assert [
        entry.stat().st_mtime_ns for entry in sorted(cache.glob("*.npz"))
    ] == stamps  # read, not rewritten
    assert json.loads(summary.read_text()) == first
