"""The "Get Sentinel-1…" dialog and ``s1ricemapper:fetch`` against a real STAC API and COG server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys

import processing
import pytest
from conftest import REPO, REPO_BACKEND_PYTHON, plugin_package, wait_until
from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsProject, QgsRectangle
from qgis.PyQt.QtCore import QDate

sys.path.insert(0, str(REPO / "tests" / "backend"))
from test_fetch_fixtures import http_server, server_url, stac_api  # noqa: E402

SEASON = ("2022-04-01", "2022-05-31")


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """(STAC API URL, catalogue description) built by the backend interpreter, served here."""
    if not REPO_BACKEND_PYTHON.exists():
        pytest.skip(f"backend environment {REPO_BACKEND_PYTHON} is missing; run scripts/setup.sh backend")
    root = tmp_path_factory.mktemp("catalogue")
    (root / "cogs").mkdir()
    with http_server(root / "cogs") as cogs:
        built = subprocess.run([str(REPO_BACKEND_PYTHON), "tests/backend/test_fetch_fixtures.py", str(root),
                                server_url(cogs), *SEASON], cwd=REPO, capture_output=True, text=True, timeout=180)
        assert built.returncode == 0, built.stderr
        description = json.loads(built.stdout)
        with stac_api(description["items"], root / "api") as url:
            yield url, description


@pytest.fixture
def dialog(qgis_iface):
    """A Get Sentinel-1 dialog, deleted after the test (it is a child of QGIS's main window)."""
    from qgis.PyQt.QtCore import QCoreApplication, QEvent

    module = __import__(f"{plugin_package().__name__}.plugin.fetch_dialog", fromlist=["FetchDialog"])
    made = module.FetchDialog(qgis_iface)
    yield made
    made.shutdown()
    made.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def fill(dialog, url, description, out):
    bbox = QgsRectangle(*(float(v) for v in description["bbox"]))
    dialog.extentBox.setOutputCrs(QgsCoordinateReferenceSystem(f"EPSG:{description['epsg']}"))
    dialog.extentBox.setOutputExtentFromUser(bbox, QgsCoordinateReferenceSystem(f"EPSG:{description['epsg']}"))
    dialog.seasonStart.setDate(QDate.fromString(SEASON[0], "yyyy-MM-dd"))
    dialog.seasonEnd.setDate(QDate.fromString(SEASON[1], "yyyy-MM-dd"))
    dialog.orbitCombo.setCurrentIndex(dialog.orbitCombo.findData("both"))
    dialog.presetCombo.setCurrentIndex(dialog.presetCombo.findData("custom"))
    dialog.urlEdit.setText(url)
    dialog.collectionEdit.setText("sentinel-1-rtc")
    dialog.outputFolder.setFilePath(str(out))


def test_dialog_fetches_in_the_background_and_adds_the_series(dialog, qgis_new_project, catalogue,
                                                             backend_python_setting, tmp_path):
    url, description = catalogue
    fill(dialog, url, description, tmp_path / "s1")
    dialog.start_run()
    assert dialog.is_running()  # start_run returned at once: the download runs in a subprocess
    assert wait_until(lambda: not dialog.is_running(), 120), dialog.statusLabel.text()
    assert [layer.name() for layer in dialog.last_layers] == ["VV", "VH"], dialog.statusLabel.text()
    for layer in dialog.last_layers:
        assert layer.isValid() and layer.bandCount() == len(description["dates"])
        assert layer.id() in QgsProject.instance().mapLayers()
    assert f"{len(description['dates'])} dates" in dialog.statusLabel.text()


def test_dialog_refuses_a_custom_catalogue_without_url(dialog, qgis_new_project, tmp_path):
    dialog.presetCombo.setCurrentIndex(dialog.presetCombo.findData("custom"))
    dialog.outputFolder.setFilePath(str(tmp_path / "o"))
    dialog.start_run()
    assert not dialog.is_running() and "STAC API URL" in dialog.statusLabel.text()


def test_fetch_algorithm_runs_and_loads_the_layers(qgis_processing, catalogue, backend_python_setting, tmp_path,
                                                   qgis_new_project):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    module = __import__(f"{plugin_package().__name__}.plugin.processing.provider", fromlist=["RiceMapperProvider"])
    provider = module.RiceMapperProvider()
    registry = QgsApplication.processingRegistry()
    assert registry.addProvider(provider)
    try:
        url, description = catalogue
        minx, miny, maxx, maxy = description["bbox"]
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        result = processing.run("s1ricemapper:fetch", {
            "EXTENT": f"{minx},{maxx},{miny},{maxy} [EPSG:{description['epsg']}]",
            "SEASON_START": SEASON[0], "SEASON_END": SEASON[1], "ORBIT": 3, "PRESET": 2, "STAC_URL": url,
            "COLLECTION": "sentinel-1-rtc", "OUTPUT_FOLDER": str(tmp_path / "alg")},
            context=context, feedback=QgsProcessingFeedback())
        assert result["DATES"] == len(description["dates"])
        assert json.loads((tmp_path / "alg" / "fetch.json").read_text())["orbits"] == ["ascending", "descending"]
        assert set(context.layersToLoadOnCompletion()) == {result["VV"], result["VH"]}
        with pytest.raises(Exception, match="exactly one"):
            processing.run("s1ricemapper:fetch", {"SEASON_START": SEASON[0], "SEASON_END": SEASON[1],
                                                  "OUTPUT_FOLDER": str(tmp_path / "none")})
    finally:
        registry.removeProvider(provider)
