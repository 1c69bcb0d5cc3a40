"""The contract package is pure standard library, describes real verbs, and drives the CLI's checks."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from backend.cli import build_parser
from backend.cli_args import validate
from backend.contract import VERBS, param_token, render
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
    assert render(err.value.template, lambda key: f"<{key}>").startswith("<tile> must be at least 16")


def test_render_replaces_every_token():
    assert render(f"{param_token('season')} and {param_token('as_of')}", str.upper) == "SEASON and AS_OF"


# --- every verb is built from the contract ----------------------------------------------------------------

COMMANDS_DIR = REPO / "backend" / "commands"


def _parse(verb: str, *argv: str):
    return build_parser().parse_args([verb, *argv])


def test_every_cli_verb_has_a_contract():
    cli_verbs = set(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001
    assert cli_verbs == set(VERBS)


@pytest.mark.parametrize("path", [*sorted(COMMANDS_DIR.glob("*.py")), REPO / "backend" / "raster" / "options.py"],
                         ids=lambda p: p.name)
def test_no_hand_written_arguments(path):
    assert "add_argument(" not in path.read_text(), f"{path}: options belong in backend/contract/verbs/"


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_parser_default_is_the_contract_default(verb):
    args = vars(_parse(verb))
    for opt in VERBS[verb].options:
        expected = list(opt.default) if isinstance(opt.default, tuple) else opt.default
        given = args[opt.key]
        if opt.positional and given == [] and expected is None:  # argparse's "none given" for nargs='*'
            given = None
        assert given == expected, f"{verb} {opt.key}"


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """String literals of a module that are not docstrings (f-string parts included)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_output_names_are_spelled_only_in_the_contract():
    """A literal used as a file name ('rice.tif', '/run.json' in an f-string) outside backend/contract fails."""
    names = {name for v in VERBS.values() for name in v.outputs}
    offenders = []
    for path in [*(REPO / "backend").rglob("*.py"), *(REPO / "plugin").rglob("*.py")]:
        if CONTRACT_DIR in path.parents:
            continue
        for line, text in _string_constants(path):
            if any(text == n or text.endswith("/" + n) for n in names):
                offenders.append(f"{path.relative_to(REPO)}:{line}: {text!r}")
    assert not offenders, "output names spelled outside backend/contract: " + "; ".join(offenders)


def test_backend_messages_name_parameters_by_token_not_by_flag():
    """UserError messages outside the CLI name parameters with {param:KEY}, never with a CLI flag."""
    flags = {f for v in VERBS.values() for o in v.options if not o.positional for f in (o.flag, *o.aliases)}
    offenders = []
    for path in (REPO / "backend").rglob("*.py"):
        if CONTRACT_DIR in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "UserError":
                texts = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
                named = {f for t in texts for f in flags if f in t.split() or f + " " in t or t.startswith(f)}
                if named:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {sorted(named)}")
    assert not offenders, "; ".join(offenders)


def test_user_error_keeps_the_template_and_prints_cli_flags():
    err = UserError(f"{param_token('as_of')} is late", param="as_of")
    assert err.template == "{param:as_of} is late" and str(err) == "--as-of is late"


def test_checks_across_options_name_their_parameter():
    problems = VERBS["map"].problems({"tile": 64, "overlap": 40})
    assert problems and problems[0][0] == "overlap"
    assert "more than half" in render(problems[0][1], str.upper) and "TILE" in render(problems[0][1], str.upper)


# --- the CLI: ranges, --check-only, closed pipes ----------------------------------------------------------

def _backend(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *argv], cwd=REPO, capture_output=True, text=True,
                          **kwargs)


def test_threads_zero_is_refused_with_the_valid_range():
    done = _backend("map", "--threads", "0", "--out", "o", "--progress", "json")
    error = json.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 2 and error["param"] == "threads"
    assert error["template"].startswith("{param:threads} must be at least 1") and "1–256" in error["message"]
    assert error["message"].startswith("--threads")


def test_huge_tile_is_refused_without_suggesting_it():
    done = _backend("map", "--tile", "1000000", "--out", "o")
    assert done.returncode == 2
    assert "at most 2048" in done.stderr and "example" not in done.stderr and "Traceback" not in done.stderr


def test_tile_examples_stay_inside_the_valid_range():
    from backend.tiles.tiling import check_tile

    with pytest.raises(UserError) as err:
        check_tile(2047, 32, 16)
    examples = str(err.value).split("for example ")[1].split(")")[0]
    assert max(int(x) for x in examples.split(", ")) <= 2048


def test_closed_stdout_ends_quietly():
    """`python -m backend describe | head -1`: no BrokenPipeError traceback, exit 0."""
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    done = subprocess.run([sys.executable, "-m", "backend", "describe"], cwd=REPO, stdout=reader.stdin,
                          stderr=subprocess.PIPE, text=True)
    reader.stdin.close()
    reader.wait()
    assert done.returncode == 0 and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("scene")
    subprocess.run([sys.executable, "-m", "backend", "synth", "--region", "mekong", "--size", "32", "--seed", "3",
                    "--out", str(out), "--overwrite"], cwd=REPO, check=True, capture_output=True)
    return out


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_check_only_maps_nothing_and_says_what_it_checked(small_scene, tmp_path):
    out = tmp_path / "never"
    done = _backend("map", "--vv", str(small_scene / "VV.tif"), "--vh", str(small_scene / "VH.tif"), "--out",
                    str(out), "--check-only", "--progress", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["ok"] is True and result["checked"] == ["options", "inputs"]
    assert len(result["details"]["season"]) == 2 and result["details"]["model"]
    assert not out.exists()


@pytest.mark.parametrize(("argv", "param"), [
    (["--season", "2030-01-01", "2030-06-30"], "season"),
    (["--model", "no-such-model"], None),
    (["--tile", "100"], "tile"),
    (["--dates", "not-a-date"], "dates"),
])
def test_check_only_refuses_what_the_run_would_refuse(small_scene, tmp_path, argv, param):
    done = _backend("map", "--vv", str(small_scene / "VV.tif"), "--vh", str(small_scene / "VH.tif"), "--out",
                    str(tmp_path / "o"), *argv, "--check-only", "--progress", "json")
    error = json.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 2 and error["event"] == "error", done.stderr
    if param:
        assert error["param"] == param
    assert _listing(tmp_path) == []


def test_check_only_sees_results_in_the_way(small_scene, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / VERBS["map"].output("rice", "tif")).write_text("old")
    done = _backend("map", "--vv", str(small_scene / "VV.tif"), "--vh", str(small_scene / "VH.tif"), "--out",
                    str(out), "--check-only", "--progress", "json")
    error = json.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 2 and error["param"] == "overwrite"
    assert _listing(out) == [VERBS["map"].output("rice", "tif")]


def test_check_only_of_evaluate_opens_both_inputs(small_scene, tmp_path):
    done = _backend("evaluate", "--pred", str(small_scene / "truth.tif"), "--reference",
                    str(small_scene / "labels.gpkg"), "--class-field", "nope", "--out", str(tmp_path / "e"),
                    "--check-only", "--progress", "json")
    error = json.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 2 and error["param"] == "class_field" and "nope" in error["message"]
    assert not (tmp_path / "e").exists()


def test_default_model_rule_is_the_contracts():
    from backend.contract.verbs.models import default_model_name
    from backend.inference.loader import find_default_model

    assert default_model_name({"default": "a"}, [("b", {"default": True})]) == "a"
    assert default_model_name(None, [("b", {}), ("c", {"default": True})]) == "c"
    assert default_model_name(None, [("b", {})]) is None
    listing = json.loads(_backend("models").stdout)
    assert listing["default"] == find_default_model()


def test_events_have_the_contracts_shape(tmp_path):
    """Every JSON line of a real run is a declared event with only its declared fields."""
    from backend.contract.schema import COMMON_EVENTS

    fields = {e.name: set(e.fields) for e in COMMON_EVENTS}
    done = _backend("synth", "--region", "korea", "--size", "32", "--out", str(tmp_path / "s"), "--progress", "json")
    failed = _backend("map", "--vv", str(tmp_path / "s" / "VV.tif"), "--vh", str(tmp_path / "s" / "VH.tif"),
                      "--season", "2030-01-01", "2030-06-01", "--out", str(tmp_path / "m"), "--progress", "json")
    events = [json.loads(line) for line in (done.stdout + failed.stdout).splitlines()]
    assert {e["event"] for e in events} >= {"progress", "result", "error"}
    for event in events:
        name = event.pop("event")
        allowed = set(VERBS["synth"].result_keys) if name == "result" else fields[name]
        assert set(event) <= allowed, (name, set(event) - allowed)
