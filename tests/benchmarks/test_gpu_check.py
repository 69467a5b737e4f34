"""benchmarks/gpu_check.py --tiny runs on the CPU and writes its JSON and markdown table."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def test_tiny_check_runs_on_the_cpu(tmp_path):
    command = [sys.executable, str(SCRIPT), "--tiny", "--output", str(tmp_path)]
    result = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["precision"] == "fp32" and report["batch"] == 2
    assert (
        len(report["loss_agreement"]["losses"]["fp32"]) == 5
    )  # bf16 vs fp32: tests/network/test_precision.py
    assert report["paper_schedule_hours"] > 0 and report["inference_seconds"]["with_mirroring"] > 0
    assert "| precision | fp32 |" in (tmp_path / "gpu_check.md").read_text()
    loader = report["loader"]
    assert loader["patches_per_second_per_core"] > 0 and loader["worker_cores_needed"] >= 1


def test_a_loader_slower_than_the_gpu_is_reported_as_starving_it(monkeypatch, caplog):
    specification = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    gpu_check = importlib.util.module_from_spec(specification)
    monkeypatch.setitem(sys.modules, "gpu_check", gpu_check)  # its dataclasses look their module up
    specification.loader.exec_module(gpu_check)
    monkeypatch.setattr(gpu_check, "loader_patches_per_core", lambda setup, batch: 2.0)
    fed = gpu_check.supply_vs_consumption(gpu_check.TINY, 2, seconds_per_iteration=2.0)  # 1 patch/s
    assert fed["worker_cores_needed"] == 1 and not fed["loader_starves_gpu"]
    starved = gpu_check.supply_vs_consumption(gpu_check.TINY, 20, seconds_per_iteration=0.5)  # 40 patches/s
    assert starved["worker_cores_needed"] == 20 and starved["loader_starves_gpu"]
    assert "would starve" in caplog.text
