"""The layout: a dozen top-level modules in the package at most, and no import circle anywhere in the
tree (the package, ``benchmarks/``, ``experiments/``, the tests' helpers and the start-up hook), neither
between modules nor between folders. Imports are read from the source (``ast``): lazy ones inside
functions included, and ``"module:function"`` strings that a module imports by name (the hook's)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pyserini_milco

PACKAGE_DIR = Path(pyserini_milco.__file__).parent
REPO = PACKAGE_DIR.parent
TESTS_DIR = REPO / "tests"
MAX_TOP_LEVEL_MODULES = 12
# What the tree's code imports, by the folder on ``sys.path`` it is imported from: the repository root
# (the package, the benchmarks, the experiments, the start-up hook) and ``tests/`` (pytest puts it on
# ``sys.path``, so its helpers are imported as ``tiny``, ``conftest``, ``baselines.conftest``...).
TREE = {REPO: ("pyserini_milco", "benchmarks", "experiments", "_pyserini_milco_hook.py"), TESTS_DIR: (".",)}


def module_files(package_dir: Path, root: Path | None = None) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module under ``package_dir`` (packages by their ``__init__``),
    named as imported from ``root`` (default: the folder that holds ``package_dir``)."""
    root = package_dir.parent if root is None else root
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def tree_files(tree: dict[Path, tuple[str, ...]] = TREE) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the tree (folders or single files per root)."""
    modules: dict[str, Path] = {}
    for root, entries in tree.items():
        for entry in entries:
            path = root / entry
            if path.is_file():
                modules[path.stem] = path
            elif path.is_dir():
                modules |= module_files(path, root)
    return modules


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from`` import names (relative ones resolved from ``module``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _named_in_string(node: ast.AST) -> str | None:
    """The module of a ``"module:function"`` string constant (imported by name at run time), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.count(":") == 1:
        return node.value.partition(":")[0]
    return None


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The ``known`` modules that ``module`` imports anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, path.name == "__init__.py", node)
            found |= {f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target
                      for alias in node.names}
        elif named := _named_in_string(node):
            found.add(named)
    return {name for name in found if name in known and name != module}


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """``{module: the modules of files that it imports}``, for ``files`` as :func:`module_files` gives."""
    return {module: imports_of(module, path, set(files)) for module, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as ``[a, b, ..., a]``, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def folder_of(module: str) -> str:
    """The top-level module or the first-level folder that ``module`` belongs to."""
    return ".".join(module.split(".")[:2])


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The import graph between folders (and top-level modules)."""
    folders: dict[str, set[str]] = {}
    for module, targets in graph.items():
        here = folder_of(module)
        folders.setdefault(here, set()).update(folder_of(t) for t in targets if folder_of(t) != here)
    return folders


def test_at_most_a_dozen_top_level_modules():
    top = sorted(p.stem for p in PACKAGE_DIR.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_the_tree_holds_the_package_the_benchmarks_the_hook_and_the_test_helpers():
    modules = tree_files()
    assert {"pyserini_milco.evaluation.metrics", "benchmarks.common", "experiments.query_pruning",
            "_pyserini_milco_hook", "tiny", "baselines.conftest"} <= set(modules)
    assert "pyserini_milco.integration.java" in import_graph(modules)["_pyserini_milco_hook"]


def test_no_import_circle_between_modules():
    cycle = find_cycle(import_graph(tree_files()))
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_import_circle_between_folders():
    cycle = find_cycle(folder_graph(import_graph(tree_files())))
    assert cycle is None, "import circle between folders: " + " -> ".join(cycle)


def test_importing_the_package_stays_cheap():
    """``pyserini_milco/__init__`` imports only the Java set-up before anything is asked of it."""
    tree = ast.parse((PACKAGE_DIR / "__init__.py").read_text(encoding="utf-8"))
    eager = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert eager <= {"__future__", "integration.java"}


@pytest.mark.parametrize("lazy", [False, True])
def test_a_circle_is_found_lazy_imports_included(tmp_path, lazy):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    body = "def f():\n    from .. import a\n" if lazy else "from ..a import x\n"
    (package / "sub" / "b.py").write_text(body)
    graph = import_graph(module_files(package))
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    assert find_cycle(folder_graph(graph)) == ["pkg.a", "pkg.sub", "pkg.a"]


def test_a_module_named_in_a_string_counts_as_imported(tmp_path):
    (tmp_path / "hook.py").write_text('TARGETS = ("pkg.a:install",)\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("import hook\n")
    graph = import_graph(tree_files({tmp_path: ("pkg", "hook.py")}))
    assert find_cycle(graph) == ["hook", "pkg.a", "hook"]
