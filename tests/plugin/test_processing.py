"""The Processing algorithms in a real QGIS, each run through ``processing.run`` on tiny synthetic scenes."""

from __future__ import annotations

import json

import processing
import pytest
from conftest import plugin_package
from qgis.core import (
    QgsApplication,
    QgsFeature,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from test_processing_fixtures import final_names, map_parameters, provider, read_band, scene, tiny_model  # noqa: F401

EXPECTED_RENDERERS = {"rice": "paletted", "probability": "singlebandpseudocolor",
                      "heatmap": "singlebandpseudocolor", "error": "paletted"}


class RecordingFeedback(QgsProcessingFeedback):
    """Keeps what an algorithm reported, as the toolbox's log would show it."""

    def __init__(self, cancel_after_first_progress: bool = False) -> None:
        super().__init__()
        self.progress: list[float] = []
        self.texts: list[str] = []
        self.progressChanged.connect(self._on_progress)
        self.cancel_after_first_progress = cancel_after_first_progress

    def setProgressText(self, text: str) -> None:  # noqa: N802 (virtual in QgsProcessingFeedback)
        self.texts.append(text)

    def _on_progress(self, value: float) -> None:
        self.progress.append(value)
        if self.cancel_after_first_progress:
            self.cancel()


def algorithm(name: str):
    return QgsApplication.processingRegistry().algorithmById(f"s1ricemapper:{name}")


def test_provider_has_five_algorithms(provider):  # noqa: F811
    assert provider.id() == "s1ricemapper" and provider.name() == "S1 Rice Mapper"
    assert {a.name() for a in provider.algorithms()} == {"maprice", "finetune", "evaluate", "riceareastats",
                                                         "seasons", "fetch"}


def test_plugin_registers_the_provider_and_removes_it_on_unload(qgis_iface, qgis_processing):
    registry = QgsApplication.processingRegistry()
    plugin = plugin_package().classFactory(qgis_iface)
    plugin.initProcessing()  # what qgis_process calls; initGui calls it too, without a second provider
    plugin.initGui()
    assert registry.providerById("s1ricemapper") is plugin.processing_provider
    assert registry.algorithmById("s1ricemapper:maprice") is not None
    plugin.unload()
    assert registry.providerById("s1ricemapper") is None


def test_maprice_loads_styled_layers_and_evaluates(provider, scene, tiny_model, tmp_path, qgis_new_project):  # noqa: F811
    out = tmp_path / "map"
    feedback = RecordingFeedback()
    results = processing.runAndLoadResults("s1ricemapper:maprice", map_parameters(
        scene, tiny_model, out, REFERENCE=str(scene / "truth.tif")), feedback=feedback)
    assert {"rice.tif", "probability.tif", "heatmap.tif", "error.tif", "metrics.json", "run.json"} <= set(
        final_names(out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert results["F1"] == metrics["f1"] and results["IOU_RICE"] == metrics["iou_rice"]
    assert results["RICE_AREA_HA"] == json.loads((out / "run.json").read_text())["rice_area_ha"]
    assert feedback.progress and max(feedback.progress) == pytest.approx(100.0)
    assert "map" in feedback.texts
    layers = {layer.name(): layer for layer in QgsProject.instance().mapLayers().values()}
    assert {name: layers[name].renderer().type() for name in EXPECTED_RENDERERS} == EXPECTED_RENDERERS
    assert layers["rice"].source() == results["RICE"]


def test_evaluate_against_polygons_gives_table_and_numbers(provider, scene, tmp_path):  # noqa: F811
    """The scene's truth raster as the prediction, its polygons as the reference: errors only at edges."""
    table_path = tmp_path / "metrics.gpkg"
    results = processing.run("s1ricemapper:evaluate", {
        "PREDICTION": str(scene / "truth.tif"), "REFERENCE": str(scene / "labels.gpkg"),
        "CLASS_FIELD": "class", "RICE_VALUES": "rice", "OUTPUT_FOLDER": str(tmp_path / "eval"),
        "METRICS": str(table_path)})
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    table = QgsVectorLayer(str(table_path), "metrics", "ogr")
    rows = {f["metric"]: f["value"] for f in table.getFeatures()}
    assert rows["f1"] == pytest.approx(metrics["f1"]) and rows["oa"] == pytest.approx(metrics["oa"])
    assert rows["tp"] + rows["fp"] + rows["fn"] + rows["tn"] == metrics["pixels"]["evaluated"]
    assert results["OA"] == metrics["oa"] and 0.5 < metrics["f1"] <= 1.0
    error = read_band(tmp_path / "eval" / "error.tif")
    assert set(error[error != 0].ravel().tolist()) <= {1, 2, 3, 4}


def _zones(path, bounds: list[QgsRectangle], crs: str = "EPSG:32648") -> str:
    layer = QgsVectorLayer(f"Polygon?crs={crs}&field=zone:string", "zones", "memory")
    features = []
    for index, rect in enumerate(bounds):
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromRect(rect))
        feature.setAttributes([f"zone{index}"])
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    options = QgsVectorFileWriter.SaveVectorOptions()
    error, message, *_ = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, str(path), QgsProject.instance().transformContext(), options)
    assert error == QgsVectorFileWriter.NoError, message
    return str(path)


def test_rice_area_per_zone_matches_pixel_counts(provider, scene, tmp_path):  # noqa: F811
    """truth.tif stands in for a rice map (1 rice, 0 other): each half's count is known exactly."""
    truth = scene / "truth.tif"
    from osgeo import gdal

    x0, dx, _, y0, _, dy = gdal.Open(str(truth)).GetGeoTransform()
    half = 32
    left = QgsRectangle(x0, y0 + 64 * dy, x0 + half * dx, y0)
    right = QgsRectangle(x0 + half * dx, y0 + 64 * dy, x0 + 64 * dx, y0)
    zones = _zones(tmp_path / "zones.gpkg", [left, right])
    out = tmp_path / "stats.gpkg"
    processing.run("s1ricemapper:riceareastats", {"RICE": str(truth), "ZONES": zones, "OUTPUT": str(out)})
    values = read_band(truth)
    stats = {f["zone"]: (f["rice_ha"], f["rice_pct"]) for f in QgsVectorLayer(str(out), "s", "ogr").getFeatures()}
    pixel_ha = abs(dx * dy) / 10_000
    for zone, part in (("zone0", values[:, :half]), ("zone1", values[:, half:])):
        assert stats[zone][0] == pytest.approx(part.sum() * pixel_ha)
        assert stats[zone][1] == pytest.approx(100.0 * part.mean(), abs=0.01)


def test_rice_area_per_zone_reprojects_zones(provider, scene, tmp_path):  # noqa: F811
    """A WGS 84 zone around a whole UTM rice map (its reprojected extent) counts every pixel of it."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform

    truth = scene / "truth.tif"
    raster = QgsRasterLayer(str(truth), "truth")
    to_wgs84 = QgsCoordinateTransform(raster.crs(), QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance())
    whole = raster.extent()
    zones = _zones(tmp_path / "zones4326.gpkg", [to_wgs84.transformBoundingBox(whole)], crs="EPSG:4326")
    out = tmp_path / "stats4326.gpkg"
    processing.run("s1ricemapper:riceareastats", {"RICE": str(truth), "ZONES": zones, "OUTPUT": str(out)})
    feature = next(QgsVectorLayer(str(out), "s", "ogr").getFeatures())
    values = read_band(truth)
    assert feature["rice_ha"] == pytest.approx(values.sum() * 0.01)
    assert feature["rice_pct"] == pytest.approx(100.0 * values.mean(), abs=0.01)


def test_cancel_after_first_progress_leaves_no_outputs(provider, scene, tiny_model, tmp_path):  # noqa: F811
    out = tmp_path / "cancelled"
    feedback = RecordingFeedback(cancel_after_first_progress=True)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("s1ricemapper:maprice", map_parameters(scene, tiny_model, out), feedback=feedback)
    assert feedback.progress, "the backend reported no progress before the cancel"
    assert final_names(out) == []


def _problems(name: str, parameters: dict) -> str:
    ok, message = algorithm(name).checkParameterValues(parameters, QgsProcessingContext())
    assert not ok
    return message


def test_parameter_errors_are_reported_before_any_work(provider, scene, tiny_model, tmp_path):  # noqa: F811
    message = _problems("maprice", map_parameters(scene, tiny_model, tmp_path / "a", VV=[str(scene / "nope.tif")]))
    assert "VV: cannot open" in message and "nope.tif" in message
    # the contract's checks come first, all at once, in Processing's names
    message = _problems("maprice", map_parameters(scene, tiny_model, tmp_path / "b", AS_OF="yesterday", TILE=8))
    assert "AS_OF must be a date as YYYY-MM-DD, got 'yesterday'" in message
    assert "TILE must be at least 16, got 8 (valid range 16–2048)" in message and "--" not in message
    # then the backend's own (--check-only): the data's dates, the model
    message = _problems("maprice", map_parameters(scene, tiny_model, tmp_path / "b", SEASON_START="2023-05-01",
                                                  SEASON_END="2023-09-30"))
    assert "SEASON_START/SEASON_END 2023-05-01 2023-09-30 holds no acquisition: the data cover 2022-03-" in message
    assert "--" not in message
    message = _problems("maprice", map_parameters(scene, "no-such-model", tmp_path / "b"))
    assert message.startswith("MODEL: model 'no-such-model' not found") and "--" not in message
    assert not (tmp_path / "b").exists()
    message = _problems("evaluate", {"PREDICTION": str(scene / "truth.tif"), "REFERENCE": str(scene / "labels.gpkg"),
                                     "CLASS_FIELD": "crop", "OUTPUT_FOLDER": str(tmp_path / "c")})
    assert "no field 'crop'" in message and "class_id" in message
    with pytest.raises(QgsProcessingException, match="no field 'crop'"):
        processing.run("s1ricemapper:maprice", map_parameters(scene, tiny_model, tmp_path / "d",
                                                              REFERENCE=str(scene / "labels.gpkg"), CLASS_FIELD="crop"))
    assert final_names(tmp_path / "d") == []
