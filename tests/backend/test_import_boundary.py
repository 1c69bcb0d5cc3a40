"""The architecture is enforced by tests.

- plugin/ never imports the heavy stack, backend/ never QGIS;
- the backend is in layers (core < pipelines < experiments < commands) and no module imports from a
  higher layer, at module top or inside a function;
- there are no import cycles between backend packages;
- a backend module imported inside a function says why (``# lazy: <reason>``): internal imports belong at
  the top, and only the heavy third-party stack (torch, onnxruntime, rasterio ...) may be put off.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "onnxruntime", "onnx", "rasterio", "sklearn", "safetensors", "numpy_financial", "pyogrio", "openvino"}
QGIS_SIDE = {"qgis", "PyQt5", "PyQt6", "processing"}

#: The backend's layers, lowest first; a module may import from its own layer or a lower one.
#: A package is the first name under ``backend`` (``backend.raster.series`` is in ``raster``);
#: ``""`` is ``backend/__init__.py`` (the version). See docs/architecture.md.
LAYERS: dict[str, set[str]] = {
    "core": {"", "errors", "contract", "progress", "atomic", "doc_markers", "raster", "timeseries", "tiles", "writers", "nets",
             "modelstore", "synthetic", "baselines"},
    "pipelines": {"inference", "evaluation", "training", "seasons", "catalogue", "distributed"},
    "experiments": {"experiments"},
    "commands": {"commands", "cli", "cli_args", "__main__"},
}
RANK = {package: rank for rank, packages in enumerate(LAYERS.values()) for package in packages}
LAYER_OF = {package: layer for layer, packages in LAYERS.items() for package in packages}
LAZY_MARK = "# lazy:"


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def python_files(folder: str) -> list[Path]:
    files = sorted((REPO / folder).rglob("*.py"))
    assert files, f"no Python files under {folder}/"
    return files


@dataclass(frozen=True)
class Edge:
    """One import of a backend module by a backend module."""

    source: str  # importing module, dotted (backend.raster.series)
    target: str  # imported module or package, dotted (backend.raster, backend.errors)
    line: int
    local: bool  # inside a function (not at module level)
    lazy_reason: str  # the text after "# lazy:" on the statement, "" when there is none


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """``backend.raster.series`` -> ``raster``; ``backend`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")[: len(module.split(".")) - (node.level - 1) - (0 if is_package else 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = _absolute(node, module, is_package)
    if node.module is None or base == "backend":  # "from backend import modelstore": the names may be packages
        return [f"{base}.{alias.name}" for alias in node.names]
    return [base]


def _lazy_reason(lines: list[str], node: ast.stmt) -> str:
    for number in range(node.lineno - 1, (node.end_lineno or node.lineno) + 1):  # the line above to the last
        text = lines[number - 1] if 0 < number <= len(lines) else ""
        if LAZY_MARK in text:
            return text.split(LAZY_MARK, 1)[1].strip()
    return ""


def backend_edges(path: Path, root: Path) -> list[Edge]:
    """Every import of a ``backend`` module in ``path``, at module level or inside a function."""
    source = path.read_text()
    lines = source.splitlines()
    module, is_package = module_name(path, root), path.name == "__init__.py"
    edges: list[Edge] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                reason = _lazy_reason(lines, child)
                for target in _targets(child, module, is_package):
                    if target.split(".")[0] == "backend":
                        if target.count(".") == 1 and target.split(".")[1] not in RANK:
                            target = "backend"  # "from backend import __version__": an attribute of backend/
                        edges.append(Edge(module, target, child.lineno, inside, reason))
            visit(child, inside)

    visit(ast.parse(source, filename=str(path)), False)
    return edges


def all_edges(root: Path) -> list[Edge]:
    return [edge for path in sorted((root / "backend").rglob("*.py")) for edge in backend_edges(path, root)]


def upward_imports(edges: list[Edge]) -> list[str]:
    return [f"{e.source}:{e.line} ({LAYER_OF[package_of(e.source)]}) imports {e.target} "
            f"({LAYER_OF[package_of(e.target)]})"
            for e in edges if RANK[package_of(e.target)] > RANK[package_of(e.source)]]


def package_cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        a, b = package_of(e.source), package_of(e.target)
        graph.setdefault(a, set())
        graph.setdefault(b, set())
        if a != b:
            graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def cycle_witnesses(edges: list[Edge], group: list[str]) -> list[str]:
    return sorted({f"{e.source} -> {e.target}" for e in edges
                   if package_of(e.source) in group and package_of(e.target) in group
                   and package_of(e.source) != package_of(e.target)})


def unexplained_lazy(edges: list[Edge]) -> list[str]:
    return [f"{e.source}:{e.line} imports {e.target} inside a function" for e in edges
            if e.local and not e.lazy_reason]


EDGES = all_edges(REPO)


@pytest.mark.parametrize("path", python_files("plugin"), ids=lambda p: str(p.relative_to(REPO)))
def test_plugin_never_imports_heavy_stack(path):
    assert not imported_roots(path) & HEAVY, f"{path} imports {imported_roots(path) & HEAVY}"


@pytest.mark.parametrize("path", python_files("backend"), ids=lambda p: str(p.relative_to(REPO)))
def test_backend_never_imports_qgis(path):
    assert not imported_roots(path) & QGIS_SIDE, f"{path} imports {imported_roots(path) & QGIS_SIDE}"


def test_checker_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom torch import nn\n")
    assert "torch" in imported_roots(bad)


def test_every_backend_package_has_a_layer():
    found = {package_of(module_name(p, REPO)) for p in python_files("backend")}
    assert found - set(RANK) == set(), f"add {sorted(found - set(RANK))} to LAYERS (and docs/architecture.md)"
    assert set(RANK) - found == set(), f"LAYERS names packages that do not exist: {sorted(set(RANK) - found)}"


def test_no_backend_module_imports_from_a_higher_layer():
    assert upward_imports(EDGES) == []


def test_no_import_cycles_between_backend_packages():
    groups = package_cycles(EDGES)
    assert groups == [], "\n".join(f"{group}: {cycle_witnesses(EDGES, group)}" for group in groups)


def test_function_local_backend_imports_say_why():
    assert unexplained_lazy(EDGES) == [], f"move these to the top, or add '{LAZY_MARK} <reason>'"


def _fake_backend(tmp_path: Path, files: dict[str, str]) -> list[Edge]:
    for name, text in files.items():
        path = tmp_path / "backend" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return all_edges(tmp_path)


def test_layer_checks_catch_each_kind_of_violation(tmp_path):
    edges = _fake_backend(tmp_path, {
        "__init__.py": "",
        "raster/__init__.py": "",
        "raster/series.py": "def f():\n    from backend.inference import mapping  # lazy: numpy\n",
        "inference/__init__.py": "",
        "inference/mapping.py": "from backend.raster import series\n\ndef g():\n    from ..seasons import choice\n",
        "seasons/__init__.py": "",
        "seasons/choice.py": "from backend import inference\nfrom backend import __version__\n",
    })
    assert upward_imports(edges) == ["backend.raster.series:2 (core) imports backend.inference (pipelines)"]
    assert package_cycles(edges) == [["inference", "raster", "seasons"]]  # one strongly connected group
    assert unexplained_lazy(edges) == ["backend.inference.mapping:4 imports backend.seasons inside a function"]
    assert any(e.target == "backend" for e in edges)  # the version, an attribute of the root package
