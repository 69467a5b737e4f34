"""Every reference in the repository points inside it: the method page, the shared folder, relative links."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE_METHOD_PAGE = re.compile(r"(?<!documentation/)\bmethod\.md")
OUTSIDE_FOLDER = re.compile(r"\.\./shared/")


def _reference_problems(path: Path, relative: Path) -> list[str]:
    """Citations of files outside the repository in one file (``relative``: its path in the repository):
    a Python file citing the method page without its ``documentation/`` folder, any file but the tests'
    naming the ``../shared/`` folder beside the repository."""
    text = path.read_text(encoding="utf-8")
    problems = []
    if path.suffix == ".py":
        problems += [f"{relative}: bare {match.group()}" for match in BARE_METHOD_PAGE.finditer(text)]
    if relative.parts[0] != "tests":
        problems += [f"{relative}: {match.group()}" for match in OUTSIDE_FOLDER.finditer(text)]
    return problems


def test_every_reference_points_inside_the_repository():
    files = [
        path
        for folder in ("gdr_toolkit", "tests", "benchmarks", "tools", "documentation")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".md")
    ] + [ROOT / "README.md"]
    problems = [problem for path in files for problem in _reference_problems(path, path.relative_to(ROOT))]
    assert not problems, "references outside the repository:\n" + "\n".join(problems)


def test_reference_check_finds_a_bare_method_page_and_the_shared_folder(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        '"""Eq. 1 (method' + ".md section 1); data in ../sha" + 'red/real."""\n', encoding="utf-8"
    )
    assert len(_reference_problems(module, Path("gdr_toolkit/module.py"))) == 2
    assert len(_reference_problems(module, Path("tests/module.py"))) == 1  # tests may read ../shared
    module.write_text('"""Eq. 1 (documentation/method' + '.md section 1)."""\n', encoding="utf-8")
    assert _reference_problems(module, Path("gdr_toolkit/module.py")) == []
    page = tmp_path / "page.md"
    page.write_text(
        "Eq. 1 ([method" + ".md](method" + ".md) section 1), data in ../sha" + "red/real.\n", encoding="utf-8"
    )
    assert _reference_problems(page, Path("documentation/page.md")) == ["documentation/page.md: ../shared/"]


MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCED_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)


def _broken_relative_links(page: Path) -> list[str]:
    """Relative links of a Markdown page (outside fenced code) whose file does not exist; anchors are
    ignored, web and mail addresses are not checked."""
    text = FENCED_BLOCK.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in MARKDOWN_LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        if not (page.parent / target.split("#", 1)[0]).exists():
            broken.append(f"{page.name}: {target}")
    return broken


def test_every_relative_link_in_the_documentation_points_to_an_existing_file():
    pages = sorted((ROOT / "documentation").rglob("*.md")) + [ROOT / "README.md"]
    broken = [link for page in pages for link in _broken_relative_links(page)]
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_link_check_finds_a_missing_file_and_skips_code_and_addresses(tmp_path):
    (tmp_path / "measurements").mkdir()
    (tmp_path / "measurements" / "topic.md").write_text("[back](../page.md#a-section)\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](measurements/topic.md#x) [web](https://example.org/a.md) [here](#top) [gone](missing.md)\n"
        "```\n[in code](not_checked.md)\n```\n",
        encoding="utf-8",
    )
    assert _broken_relative_links(page) == ["page.md: missing.md"]
    assert _broken_relative_links(tmp_path / "measurements" / "topic.md") == []
