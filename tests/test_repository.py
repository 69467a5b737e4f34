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


# The layer order of documentation/development.md ("Layering rules"), lowest first: a module imports only
# its own package and packages of lower layers; packages of one layer do not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("external_code", "file_io", "paths", "process_memory"),
    ("dataset", "network"),
    ("atlas",),
    ("preprocessing",),
    ("evaluation", "fingerprint", "simulation"),
    ("planning",),
    ("model",),
    ("inference", "model_sharing", "training"),
    ("analysis",),
    ("pipeline",),
    ("reproduction",),
    ("cli",),
)
LAYER_OF = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def _package_of(path: Path) -> str:
    """The top-level package (or module, e.g. ``file_io``) of ``gdr_toolkit`` that holds ``path``."""
    first = path.relative_to(ROOT / "gdr_toolkit").parts[0]
    return first.removesuffix(".py")


def _toolkit_imports(path: Path, root: Path) -> list[tuple[int, str, str]]:
    """(line, imported module, its top-level package) of every import of package ``root`` in ``path``.

    Every import statement counts, wherever it is (module level, inside functions, under
    ``if TYPE_CHECKING:``): an import a function runs is an import at run time. A name of the root
    package itself (``from gdr_toolkit import __version__``) has the package ``"gdr_toolkit"``.
    """
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the module's own package
                package = path.relative_to(root.parent).with_suffix("").parts[: -node.level]
                module = ".".join([*package, *([module] if module else [])])
            # ``from gdr_toolkit import cli`` imports the package gdr_toolkit.cli
            names = (
                [f"{module}.{alias.name}" for alias in node.names] if module == "gdr_toolkit" else [module]
            )
        for name in names:
            if name.startswith("gdr_toolkit."):
                first = name.split(".")[1]
                is_package = (root / first).is_dir() or (root / f"{first}.py").is_file()
                found.append((node.lineno, name, first if is_package else "gdr_toolkit"))
    return found


def _layering_violations(root: Path) -> list[str]:
    """One line per import of ``root``'s modules that breaks the layer order (file, line, import, rule)."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent)
        if path.parent == root and path.name == "__init__.py":
            allowed: set[str] = set()  # gdr_toolkit/__init__.py: imported by every module, imports none
            source, level = "gdr_toolkit", -1
        else:
            source = path.relative_to(root).parts[0].removesuffix(".py")
            if source not in LAYER_OF:
                problems.append(f"{relative}: package {source!r} has no layer; add it to the table")
                continue
            level = LAYER_OF[source]
            allowed = {source, "gdr_toolkit"} | {
                package for package, other in LAYER_OF.items() if other < level
            }
        for line, name, target in _toolkit_imports(path, root):
            if target not in allowed:
                where = f"layer {LAYER_OF[target]}" if target in LAYER_OF else "no layer"
                problems.append(
                    f"{relative}:{line} imports {name}: {source} (layer {level}) may import only its own "
                    f"package and lower layers; {target} is {where}"
                )
    return problems


def _package_graph(root: Path) -> dict[str, set[str]]:
    """Top-level package -> the other top-level packages its modules import."""
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        if path.parent == root and path.name == "__init__.py":
            continue
        source = path.relative_to(root).parts[0].removesuffix(".py")
        imports = _toolkit_imports(path, root)
        targets = {target for _, _, target in imports if target not in (source, "gdr_toolkit")}
        graph.setdefault(source, set()).update(targets)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of ``graph``, each once as the path that closes it (depth-first search)."""
    cycles, state = [], dict.fromkeys(graph, "new")
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target, "new") == "open":
                cycles.append([*stack[stack.index(target) :], target])
            elif state.get(target, "new") == "new":
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if state[node] == "new":
            visit(node)
    return cycles


def test_every_import_follows_the_layer_order():
    problems = _layering_violations(ROOT / "gdr_toolkit")
    assert not problems, "imports against the layer order (documentation/development.md):\n" + "\n".join(
        problems
    )


def test_the_package_import_graph_has_no_cycle():
    cycles = _cycles(_package_graph(ROOT / "gdr_toolkit"))
    assert not cycles, f"package import cycles: {[' -> '.join(cycle) for cycle in cycles]}"


def test_the_layer_table_of_the_documentation_is_the_one_enforced():
    page = (ROOT / "documentation" / "development.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", page, flags=re.MULTILINE)
    documented = [(int(level), tuple(sorted(re.findall(r"`(\w+)`", packages)))) for level, packages in rows]
    assert documented == [(level, tuple(sorted(packages))) for level, packages in enumerate(LAYERS)]


def test_the_layer_check_finds_an_upward_import_inside_a_function_and_a_cycle(tmp_path):
    root = tmp_path / "gdr_toolkit"
    (root / "model").mkdir(parents=True)
    (root / "model" / "loader.py").write_text(
        "def load():\n    from gdr_toolkit.training.trainer import GDRTrainer\n    return GDRTrainer\n"
    )
    (root / "training").mkdir()
    (root / "training" / "trainer.py").write_text("from gdr_toolkit.model import loader\n")
    (root / "newpackage.py").write_text("from . import file_io\n")
    problems = _layering_violations(root)
    assert problems[0].startswith("gdr_toolkit/model/loader.py:2 imports gdr_toolkit.training.trainer")
    assert (
        "model (layer 6) may import only its own package and lower layers; training is layer 7" in problems[0]
    )
    assert problems[1] == "gdr_toolkit/newpackage.py: package 'newpackage' has no layer; add it to the table"
    assert _cycles(_package_graph(root)) == [["model", "training", "model"]]


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


MAX_MODULE_LINES = 400  # documentation/development.md, "Layering rules"
LINE_LIMITED_FOLDERS = ("gdr_toolkit", "benchmarks", "tests", "tools")


def _long_modules(root: Path, allowed: frozenset[str] = frozenset()) -> list[str]:
    """``path: N lines`` for every .py file under the limited folders of ``root`` above the limit (and not
    allowed), plus every allowed file that no longer is (the allowance must then go)."""
    lengths = {
        path.relative_to(root).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for folder in LINE_LIMITED_FOLDERS
        for path in sorted((root / folder).rglob("*.py"))
    }
    problems = [
        f"{name}: {count} lines"
        for name, count in lengths.items()
        if count > MAX_MODULE_LINES and name not in allowed
    ]
    problems += [
        f"{name}: {lengths.get(name, 0)} lines, allowed above {MAX_MODULE_LINES}: drop its allowance"
        for name in sorted(allowed)
        if lengths.get(name, 0) <= MAX_MODULE_LINES
    ]
    return problems


def test_no_python_file_is_longer_than_400_lines():
    problems = _long_modules(ROOT)
    assert not problems, (
        f"split by job (one module, one job) every file above {MAX_MODULE_LINES} lines:\n"
        + "\n".join(problems)
    )


def test_line_limit_check_names_every_long_file_and_every_stale_allowance(tmp_path):
    (tmp_path / "gdr_toolkit" / "stage").mkdir(parents=True)
    (tmp_path / "tools").mkdir()
    (tmp_path / "gdr_toolkit" / "stage" / "long.py").write_text("x = 1\n" * 401, encoding="utf-8")
    (tmp_path / "gdr_toolkit" / "short.py").write_text("x = 1\n" * 400, encoding="utf-8")
    (tmp_path / "tools" / "long.py").write_text("x = 1\n" * 500, encoding="utf-8")
    (tmp_path / "documentation").mkdir()
    (tmp_path / "documentation" / "long.py").write_text("x = 1\n" * 900, encoding="utf-8")  # not limited
    assert _long_modules(tmp_path) == ["gdr_toolkit/stage/long.py: 401 lines", "tools/long.py: 500 lines"]
    allowed = frozenset({"tools/long.py", "gdr_toolkit/short.py"})
    assert _long_modules(tmp_path, allowed) == [
        "gdr_toolkit/stage/long.py: 401 lines",
        "gdr_toolkit/short.py: 400 lines, allowed above 400: drop its allowance",
    ]
