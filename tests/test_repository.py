"""The repository's promises about itself: CI runs README's test command; every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [
        line.strip()
        for block in re.findall(r"```(?:bash)?\n(.*?)```", setup, re.S)
        for line in block.splitlines()
        if line.strip()
    ]


def test_readme_has_exactly_two_setup_commands():
    assert len(_readme_commands()) == 2


def test_ci_runs_readme_test_command():
    test_command = _readme_commands()[1]
    assert "pytest" in test_command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_every_console_script_has_a_documentation_page():
    setup_text = (ROOT / "setup.py").read_text()
    commands = re.findall(r'"(gdr_[a-z_]+)": "gdr_toolkit', setup_text)
    assert commands
    documented = " ".join(path.read_text() for path in (ROOT / "documentation").glob("*.md"))
    missing = [command for command in commands if f"`{command}" not in documented]
    assert not missing, f"commands without documentation: {missing}"
