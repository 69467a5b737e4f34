"""The repository's promises about itself: CI runs README's test command; every command is documented."""

from __future__ import annotations

import ast
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
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert test_command in ci_lines


def test_every_console_script_has_a_documentation_page():
    setup_text = (ROOT / "setup.py").read_text(encoding="utf-8")
    commands = re.findall(r'"(gdr_[a-z_]+)": "gdr_toolkit', setup_text)
    assert commands
    documented = " ".join(path.read_text(encoding="utf-8") for path in (ROOT / "documentation").glob("*.md"))
    missing = [command for command in commands if f"`{command}" not in documented]
    assert not missing, f"commands without documentation: {missing}"


def _imported_modules(path: Path) -> set[str]:
    """Absolute module names that ``path`` imports (``import a.b``, ``from a.b import c`` -> a.b, a.b.c)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif _is_find_spec_call(node):  # a package used for its data files only (nilearn's atlas)
            modules.add(node.args[0].value)
    return modules


def _is_find_spec_call(node: ast.AST) -> bool:
    """``importlib.util.find_spec("name")`` with a literal name."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "find_spec"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _package_modules(folder: str) -> list[Path]:
    return sorted((ROOT / "gdr_toolkit" / folder).rglob("*.py"))


def test_the_library_never_imports_the_command_layer():
    offenders = [
        str(path.relative_to(ROOT))
        for path in _package_modules("")
        if "cli" not in path.relative_to(ROOT / "gdr_toolkit").parts[:1]
        and any(
            name == "gdr_toolkit.cli" or name.startswith("gdr_toolkit.cli.")
            for name in _imported_modules(path)
        )
    ]
    assert not offenders, f"modules outside gdr_toolkit/cli/ importing gdr_toolkit.cli: {offenders}"


def test_evaluation_imports_nothing_from_training():
    offenders = [
        str(path.relative_to(ROOT))
        for path in _package_modules("evaluation")
        if any(name.startswith("gdr_toolkit.training") for name in _imported_modules(path))
    ]
    assert not offenders, f"evaluation modules importing gdr_toolkit.training: {offenders}"


def test_import_scan_sees_from_imports(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "from gdr_toolkit import cli\nimport os.path\nfrom .sibling import x\nimportlib.util.find_spec('nilearn')\n"
    )
    assert _imported_modules(module) == {"gdr_toolkit", "gdr_toolkit.cli", "os.path", "nilearn"}


# Distribution name in setup.py -> the name it is imported under.
IMPORT_NAMES = {"itk-elastix": "itk", "acvl-utils": "acvl_utils", "scikit-learn": "sklearn"}
# Requirements no module imports, each with the reason it stays (none today).
NOT_IMPORTED_ALLOWED: dict[str, str] = {}


def _install_requires() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return [
                re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
                for requirement in ast.literal_eval(node.value)
            ]
    raise AssertionError("setup.py has no install_requires")


def test_every_requirement_is_imported_by_the_library_or_the_tests():
    imported = {
        name.split(".")[0]
        for folder in ("gdr_toolkit", "tests")
        for path in (ROOT / folder).rglob("*.py")
        for name in _imported_modules(path)
    }
    requirements = _install_requires()
    assert "torch" in requirements
    unused = [
        name
        for name in requirements
        if IMPORT_NAMES.get(name, name) not in imported and name not in NOT_IMPORTED_ALLOWED
    ]
    assert not unused, f"setup.py requires {unused}, but neither gdr_toolkit/ nor tests/ imports them"


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
