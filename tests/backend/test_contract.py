"""The contract package is pure standard library, describes real verbs, and drives the CLI's checks."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from backend.cli import build_parser
from backend.contract import VERBS, param_token, render
from backend.contract.cli_args import validate
from backend.errors import UserError

REPO = Path(__file__).resolve().parents[2]
CONTRACT_DIR = REPO / "backend" / "contract"


def _absolute_imports(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(CONTRACT_DIR.rglob("*.py")), ids=lambda p: p.name)
def test_contract_imports_only_the_standard_library(path):
    outside = {r for r in _absolute_imports(path) if r not in sys.stdlib_module_names and r != "__future__"}
    assert not outside, f"{path} imports {outside}; the plugin imports this package in QGIS's Python"


def test_every_contract_verb_is_a_cli_verb():
    cli_verbs = set(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001
    assert set(VERBS) <= cli_verbs


def test_describe_prints_the_contract_as_json():
    out = subprocess.run([sys.executable, "-m", "backend", "describe"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    data = json.loads(out)
    tile = next(o for o in data["verbs"]["map"]["options"] if o["key"] == "tile")
    assert (tile["default"], tile["minimum"]) == (256, 16)
    assert "rice.tif" in data["verbs"]["map"]["outputs"]


def test_parser_defaults_are_the_contract_defaults():
    args = build_parser().parse_args(["map", "--out", "o"])
    for opt in VERBS["map"].options:
        if opt.key != "out":
            assert getattr(args, opt.key) == opt.default, opt.key


def test_out_of_range_value_names_its_parameter():
    with pytest.raises(UserError) as err:
        validate(VERBS["map"], {"tile": 0})
    assert err.value.param == "tile"
    assert render(str(err.value), lambda key: f"<{key}>").startswith("<tile> must be at least 16")


def test_render_replaces_every_token():
    assert render(f"{param_token('season')} and {param_token('as_of')}", str.upper) == "SEASON and AS_OF"
