"""The architecture is enforced by a test: plugin/ never imports the heavy stack, backend/ never QGIS."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "onnxruntime", "onnx", "rasterio", "sklearn", "safetensors", "numpy_financial", "pyogrio"}
QGIS_SIDE = {"qgis", "PyQt5", "PyQt6", "processing"}


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
