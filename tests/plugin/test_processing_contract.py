"""Processing takes defaults, ranges, choices and help from the backend's contract, checks with the backend,
and never shows a CLI flag; the dialog's helper (contract_view) reads the same contract."""

from __future__ import annotations

import importlib
import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, REPO_BACKEND_PYTHON, plugin_package
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingParameterNumber
from test_processing_fixtures import map_parameters, provider, scene, tiny_model  # noqa: F401

QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")  # Debian's qgis_process wrapper adds an option it rejects
ALGORITHMS = {"maprice": "map", "finetune": "finetune", "evaluate": "evaluate"}


def _module(name: str):
    plugin_package()
    return importlib.import_module(f"s1ricemapper.{name}")


def _algorithm(name: str):
    return QgsApplication.processingRegistry().algorithmById(f"s1ricemapper:{name}")


def _contract_parameters(algorithm_name: str):
    """(Processing parameter, contract option) for every parameter built from the contract."""
    params = _module("plugin.processing.contract_params")
    verb = params.VERBS[ALGORITHMS[algorithm_name]]
    by_name = {name: opt for opt in verb.options for name in params.processing_names(verb.name, opt.key)}
    algorithm = _algorithm(algorithm_name)
    return [(d, by_name[d.name()]) for d in algorithm.parameterDefinitions() if d.name() in by_name]


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_processing_default_range_and_choice_is_the_backends(provider, name):  # noqa: F811
    pairs = _contract_parameters(name)
    assert len(pairs) >= 3
    for definition, opt in pairs:
        if opt.kind in ("int", "float"):
            assert definition.defaultValue() == opt.default, definition.name()
            low = definition.minimum() if opt.minimum is not None else None
            high = definition.maximum() if opt.maximum is not None else None
            assert (low, high) == (opt.minimum, opt.maximum), definition.name()
            integer = definition.dataType() == QgsProcessingParameterNumber.Integer
            assert integer == (opt.kind == "int"), definition.name()
        elif opt.kind == "choice":
            assert definition.options() == list(opt.choices), definition.name()
            assert opt.choices[definition.defaultValue()] == opt.default, definition.name()
        elif opt.kind == "bool":
            assert definition.defaultValue() == opt.default, definition.name()
        assert definition.help() and opt.help[:20].lower() in definition.help().lower(), definition.name()


def test_maprice_overlap_defaults_to_the_measured_16(provider):  # noqa: F811
    overlap = _algorithm("maprice").parameterDefinition("OVERLAP")
    assert overlap.defaultValue() == _module("backend.contract").VERBS["map"].default("overlap") == 16


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_processing_lets_through_exactly_what_the_backend_accepts(provider, name):  # noqa: F811
    """At and around every bound, QGIS's own check and the contract agree (none is let through and refused)."""
    for definition, opt in _contract_parameters(name):
        if opt.kind == "choice":
            for index in (-1, 0, len(opt.choices) - 1, len(opt.choices)):
                qgis_ok = definition.checkValueIsAcceptable(index)
                value = opt.choices[index] if 0 <= index < len(opt.choices) else "?"
                assert qgis_ok == (opt.problem(value) is None), (definition.name(), index)
            continue
        if opt.kind not in ("int", "float"):
            continue
        step = 1 if opt.kind == "int" else 1e-6
        probes = [b + d for b in (opt.minimum, opt.maximum) if b is not None for d in (-step, 0, step)]
        for value in probes + ([opt.default] if opt.default is not None else []):
            value = int(value) if opt.kind == "int" else value
            assert definition.checkValueIsAcceptable(value) == (opt.problem(value) is None), (definition.name(), value)


def _problems(name: str, parameters: dict) -> str:
    ok, message = _algorithm(name).checkParameterValues(parameters, QgsProcessingContext())
    assert not ok
    return message


def test_backend_messages_name_processing_parameters(provider, scene, tiny_model, tmp_path):  # noqa: F811
    """Failing algorithms: every message names the Processing parameter, none a CLI flag."""
    cases = [
        ("maprice", map_parameters(scene, tiny_model, tmp_path / "a", TILE=0), "TILE must be at least 16"),
        ("maprice", map_parameters(scene, tiny_model, tmp_path / "a", TILE=42), "TILE 42: this model takes"),
        ("maprice", map_parameters(scene, tiny_model, tmp_path / "a", TILE=64, OVERLAP=40),
         "OVERLAP 40 is more than half of TILE 64"),
        ("evaluate", {"PREDICTION": str(scene / "VV.tif"), "REFERENCE": str(scene / "truth.tif"),
                      "OUTPUT_FOLDER": str(tmp_path / "e")}, "PREDICTION "),
        ("finetune", {"LABELS": str(scene / "labels.gpkg"), "CLASS_FIELD": "class", "VV": [str(scene / "VV.tif")],
                      "VH": [str(scene / "VH.tif")], "BASE_MODEL": str(tiny_model), "NAME": "bad name!",
                      "OUTPUT_FOLDER": str(tmp_path)}, "NAME 'bad name!'"),
    ]
    for name, parameters, expected in cases:
        message = _problems(name, parameters)
        assert expected in message, (name, message)
        assert "--" not in message, (name, message)
    assert not (tmp_path / "a").exists() and not (tmp_path / "e").exists()


def test_contract_view_gives_the_dialog_the_backends_values():
    view = _module("plugin.contract_view")
    assert view.default("map", "overlap") == 16 and view.value_range("map", "tile") == (16, 2048)
    assert view.choices("finetune", "mode") == ("RI", "FT", "FTE", "FTD") and view.default("finetune", "mode") == "FTE"
    assert "16–2048" in view.tooltip("map", "tile")
    assert view.output_name("map", "rice") == "rice.tif"
    text = view.render_message("{param:season} is after {param:as_of}", "map")
    assert text == "'Season' is after 'Early-season map as of'"
    assert view.render_message("{param:tile} is odd", "map", {"tile": "Tile size"}) == "Tile size is odd"
    assert view.field_keys("{param:season} and {param:tile}") == ["season", "tile"]
    args = view.cli_args("map", {"tile": 64, "heatmap": False, "overwrite": True, "align": False,
                                 "season": ["2022-04-01", "2022-08-31"], "model": None})
    assert args == ["--tile", "64", "--no-heatmap", "--overwrite", "--season", "2022-04-01", "2022-08-31"]
    problems = view.problems("map", {"tile": 8, "overlap": 32})
    assert problems == [("tile", "'Tile size (pixels)' must be at least 16, got 8 (valid range 16–2048)")]


@pytest.fixture(scope="module")
def checkout_profile(tmp_path_factory) -> dict:
    """qgis_process with this checkout on QGIS_PLUGINPATH, enabled in a throw-away profile."""
    if not QGIS_PROCESS.exists():
        pytest.skip(f"{QGIS_PROCESS} is missing; run scripts/setup.sh system")
    base = tmp_path_factory.mktemp("qgis_process")
    (base / "plugins").mkdir()
    (base / "plugins" / "s1ricemapper").symlink_to(REPO, target_is_directory=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_PLUGINPATH": str(base / "plugins"),
           "QGIS_CUSTOM_CONFIG_PATH": str(base / "profile"), "XDG_RUNTIME_DIR": str(base)}
    enable = subprocess.run([str(QGIS_PROCESS), "plugins", "enable", "s1ricemapper"], env=env, capture_output=True,
                            text=True, timeout=180)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    ini = base / "profile" / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    with ini.open("a") as settings:
        settings.write(f"\n[s1ricemapper]\nbackend_python={REPO_BACKEND_PYTHON}\n")
    return env


def test_qgis_process_tile_zero_gives_the_valid_range(checkout_profile, scene, tmp_path):  # noqa: F811
    run = subprocess.run([str(QGIS_PROCESS), "run", "s1ricemapper:maprice", "--", f"VV={scene / 'VV.tif'}",
                          f"VH={scene / 'VH.tif'}", "TILE=0", f"OUTPUT_FOLDER={tmp_path / 'out'}"],
                         env=checkout_profile, capture_output=True, text=True, timeout=180)
    text = run.stdout + run.stderr
    assert run.returncode != 0 and "TILE must be at least 16, got 0 (valid range 16–2048)" in text, text[-2000:]
    assert "--tile" not in text and not (tmp_path / "out").exists()


def _snake(name: str) -> str:
    """``timeShiftSpin`` -> ``time_shift``: dialog widgets are named after the contract key."""
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Spin")).lower()


def _spin_values(spin):
    """Every value a spin box lets through (sampled along its steps), without its 'special value'."""
    low = spin.minimum() + (spin.singleStep() if spin.specialValueText() else 0)
    values, value = [], low
    while value <= spin.maximum() and len(values) < 400:
        values.append(value)
        value += spin.singleStep()
    return values + [spin.maximum()]


def test_dialog_widgets_let_through_only_what_the_backend_accepts(qgis_iface, backend_python_setting):
    from qgis.PyQt.QtWidgets import QDoubleSpinBox, QSpinBox
    from test_map_dialog import make_dialog

    view = _module("plugin.contract_view")
    from s1ricemapper.plugin.finetune_dock import FineTuneDock

    dock = FineTuneDock(qgis_iface)
    checked = []
    try:
        for verb, widget in (("map", make_dialog(qgis_iface)), ("finetune", dock)):
            for spin in widget.findChildren((QSpinBox, QDoubleSpinBox)):
                key = _snake(spin.objectName())
                try:
                    opt = view.option(verb, key)
                except KeyError:
                    continue
                refused = [v for v in _spin_values(spin) if opt.problem(v) is not None]
                assert not refused, f"{verb} {spin.objectName()} lets through {refused[:3]}, refused by the backend"
                checked.append(f"{verb}.{key}")
    finally:
        dock.shutdown()
        dock.deleteLater()
    assert {"map.tile", "map.overlap"} <= set(checked), checked
