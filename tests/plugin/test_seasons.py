"""Seasons in a real QGIS: the ``s1ricemapper:seasons`` algorithm and the "Find seasons" panel, both driving
the real backend on a small synthetic year of Sentinel-1 data."""

from __future__ import annotations

import json
from pathlib import Path

import processing
import pytest
from conftest import plugin_package, wait_until
from qgis.core import QgsProcessingException, QgsProject
from test_processing_fixtures import backend, provider  # noqa: F401


def synth(folder: Path, size: int, start: str, end: str) -> Path:
    backend("-m", "backend", "synth", "--region", "mekong", "--size", str(size), "--seed", "4", "--start", start,
            "--end", end, "--out", str(folder), "--progress", "none")
    return folder


@pytest.fixture(scope="module")
def year_scene(tmp_path_factory) -> Path:
    """A 48 px Mekong-like scene with every 2022 acquisition (three rice crops)."""
    return synth(tmp_path_factory.mktemp("seasons") / "year", 48, "2022-01-01", "2022-12-31")


@pytest.fixture(scope="module")
def short_scene(tmp_path_factory) -> Path:
    """Two months: shorter than one crop cycle."""
    return synth(tmp_path_factory.mktemp("seasons") / "short", 24, "2022-04-01", "2022-06-01")


def panel_module():
    return __import__(f"{plugin_package().__name__}.plugin.seasons_panel", fromlist=["SeasonsPanel"])


def test_seasons_algorithm_writes_and_loads_styled_layers(provider, year_scene, tmp_path,  # noqa: F811
                                                          qgis_new_project):
    out = tmp_path / "seasons"
    results = processing.runAndLoadResults("s1ricemapper:seasons", {
        "VV": [str(year_scene / "VV.tif")], "VH": [str(year_scene / "VH.tif")], "OUTPUT_FOLDER": str(out)})
    report = json.loads((out / "seasons.json").read_text())
    assert results["REPORT"] == report["text"] and results["MAIN_SEASON"] == " ".join(report["main"]["window"])
    assert results["INTENSITY"] == str(out / "intensity.tif")
    layers = {layer.name(): layer for layer in QgsProject.instance().mapLayers().values()}
    assert layers["Rice crops per pixel"].renderer().type() == "paletted"
    first = report["cycles"][0]
    start, end = first["window"]
    assert layers[f"transplanting_doy {start} – {end}"].renderer().type() == "singlebandpseudocolor"
    assert layers[f"rice {start} – {end}"].source() == str(out / first["files"]["rice"])
    assert len([n for n in layers if n.startswith("rice ")]) == len(report["cycles"]) >= 2


def test_seasons_algorithm_refuses_a_series_shorter_than_a_cycle(provider, short_scene, tmp_path):  # noqa: F811
    with pytest.raises(QgsProcessingException, match="at least 120 days"):
        processing.run("s1ricemapper:seasons", {"VV": [str(short_scene / "VV.tif")],
                                                "VH": [str(short_scene / "VH.tif")],
                                                "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert not (tmp_path / "out" / "seasons.json").exists()


def test_seasons_algorithm_checks_the_period(provider, year_scene, tmp_path):  # noqa: F811
    with pytest.raises(QgsProcessingException, match="PERIOD_START"):
        processing.run("s1ricemapper:seasons", {"VV": [str(year_scene / "VV.tif")],
                                                "VH": [str(year_scene / "VH.tif")], "PERIOD_START": "2022-13-01",
                                                "PERIOD_END": "2022-12-31", "OUTPUT_FOLDER": str(tmp_path / "o")})


def test_panel_finds_seasons_and_emits_the_chosen_one(backend_python_setting, year_scene, qgis_app):
    module = panel_module()
    panel = module.SeasonsPanel()
    assert not panel.button.isEnabled()  # no inputs yet
    panel.set_inputs([str(year_scene / "VV.tif")], [str(year_scene / "VH.tif")])
    assert panel.button.isEnabled()
    chosen = []
    panel.seasonChosen.connect(lambda start, end: chosen.append((start, end)))
    panel.button.click()
    assert wait_until(lambda: panel.run is None and bool(panel.result), 240), panel.text.toPlainText()
    assert panel.cycles.count() == len(panel.result["cycles"]) >= 2
    assert panel.text.toPlainText() == panel.result["text"]
    panel.use_button.click()
    main = tuple(panel.result["main"]["window"])
    assert chosen == [main] and module.last_choice() == main  # the selected item starts at the main season
    panel.set_inputs([str(year_scene / "VH.tif")], [str(year_scene / "VH.tif")])  # new inputs clear the result
    assert panel.cycles.count() == 0 and not panel.use_button.isEnabled()


def test_panel_shows_why_a_short_series_has_no_season(backend_python_setting, short_scene, qgis_app):
    panel = panel_module().SeasonsPanel()
    panel.set_inputs([str(short_scene / "VV.tif")], [str(short_scene / "VH.tif")])
    panel.button.click()
    assert wait_until(lambda: panel.run is None and bool(panel.text.toPlainText()), 120)
    assert "at least 120 days" in panel.text.toPlainText() and panel.cycles.count() == 0
