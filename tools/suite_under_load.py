"""Run README's test command several times while a CPU-bound process runs beside it (issue 25, item 5).

A flaky test is one that passes on an idle machine and fails when the cores are busy (a join with a
timeout, a worker that answers late). This script starts one busy-looping process per ``--burners`` (at
normal priority, so it competes with the tests for the cores), runs ``python -m pytest -m "not slow" -q``
``--runs`` times in a row from the repository root, and prints one line per run (exit status, passed /
failed counts, wall seconds) and the count of green runs. Exit status 0 only when every run passed.

Usage (from the repository root; documentation/development.md):
    python tools/suite_under_load.py --runs 5 --burners 1 --log-folder /tmp/suite_logs
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import subprocess
import sys
import time
from pathlib import Path

TEST_COMMAND = (sys.executable, "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider")
SUMMARY = re.compile(r"^=* ?(?P<summary>.*\d+ (passed|failed).*) in [\d.]+s", re.MULTILINE)


def busy_loop() -> None:
    """Burn one core until terminated."""
    value = 0
    while True:
        value = (value * 1103515245 + 12345) % 2147483648


def run_suite(log_file: Path) -> tuple[int, str, float]:
    """Run the README test command once; returns (exit status, pytest's summary line, wall seconds)."""
    start = time.perf_counter()
    with log_file.open("w") as log:
        status = subprocess.call(TEST_COMMAND, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    summary = SUMMARY.search(log_file.read_text())
    return status, summary.group("summary") if summary else "(no summary line)", seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="test-suite runs in a row (default 5)")
    parser.add_argument("--burners", type=int, default=1, help="busy-looping processes beside it (default 1)")
    parser.add_argument("--log-folder", type=Path, default=Path("suite_under_load_logs"))
    args = parser.parse_args(argv)
    args.log_folder.mkdir(parents=True, exist_ok=True)
    burners = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(args.burners)]
    for burner in burners:
        burner.start()
    green = 0
    try:
        for run in range(1, args.runs + 1):
            status, summary, seconds = run_suite(args.log_folder / f"run_{run}.log")
            green += status == 0
            print(f"run {run}/{args.runs}: exit {status}, {summary}, {seconds:.0f} s wall", flush=True)
    finally:
        for burner in burners:
            burner.terminate()
            burner.join()
    print(f"{green}/{args.runs} runs green with {args.burners} CPU-bound process(es) beside the suite")
    return 0 if green == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
