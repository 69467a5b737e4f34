"""Run a probe in a fresh Python interpreter: for process-wide settings (glibc's malloc, the CPU's
floating-point mode) that a test must not leave in the test process and that must be set before threads
start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_probe(code: str, argument: str, variable: str, value: str | None = None) -> dict[str, Any]:
    """``code`` run as ``python -c code argument`` with ``$variable`` set to ``value`` (removed for None);
    the JSON object its last line of standard output prints."""
    environment = {key: setting for key, setting in os.environ.items() if key != variable}
    if value is not None:
        environment[variable] = value
    result = subprocess.run(
        [sys.executable, "-c", code, argument], capture_output=True, text=True, env=environment, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])
