"""benchmarks/gpu_check.py --tiny runs on the CPU and writes its JSON and markdown table."""

from __future__ import annotations

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
