"""The algorithms inside a graphical-modeler model (maprice -> evaluate -> riceareastats), saved as a
.model3 file, reloaded, and run over two scenes one after the other, as a batch run does."""

from __future__ import annotations

import json

import processing
from qgis.core import (
    QgsProcessing,
    QgsProcessingFeedback,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelParameter,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsVectorLayer,
)
from test_processing_fixtures import SEASON, final_names, provider, scene, scenes, tiny_model  # noqa: F401

Source = QgsProcessingModelChildParameterSource


def _child(algorithm_id: str, child_id: str, sources: dict) -> QgsProcessingModelChildAlgorithm:
    child = QgsProcessingModelChildAlgorithm(algorithm_id)
    child.setChildId(child_id)
    for name, source in sources.items():
        child.addParameterSources(name, [source])
    return child


def rice_model(model_folder: str) -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm("Map, evaluate, zone stats", "tests")
    inputs = [QgsProcessingParameterMultipleLayers("vv", "VV", QgsProcessing.TypeRaster),
              QgsProcessingParameterMultipleLayers("vh", "VH", QgsProcessing.TypeRaster),
              QgsProcessingParameterRasterLayer("truth", "Truth"),
              QgsProcessingParameterVectorLayer("zones", "Zones", [QgsProcessing.TypeVectorPolygon]),
              QgsProcessingParameterFile("out", "Output folder", behavior=QgsProcessingParameterFile.Folder),
              QgsProcessingParameterString("stats", "Zone statistics file")]
    for parameter in inputs:
        model.addModelParameter(parameter, QgsProcessingModelParameter(parameter.name()))
    static, param = Source.fromStaticValue, Source.fromModelParameter
    model.addChildAlgorithm(_child("s1ricemapper:maprice", "map", {
        "VV": param("vv"), "VH": param("vh"), "SEASON_START": static(SEASON[0]), "SEASON_END": static(SEASON[1]),
        "MODEL": static(model_folder), "TILE": static(32), "OVERLAP": static(8), "WITH_HEATMAP": static(False),
        "OUTPUT_FOLDER": param("out")}))
    model.addChildAlgorithm(_child("s1ricemapper:evaluate", "evaluate", {
        "PREDICTION": Source.fromChildOutput("map", "RICE"), "REFERENCE": param("truth"),
        "OUTPUT_FOLDER": param("out"), "METRICS": static(QgsProcessing.TEMPORARY_OUTPUT)}))
    model.addChildAlgorithm(_child("s1ricemapper:riceareastats", "stats", {
        "RICE": Source.fromChildOutput("map", "RICE"), "ZONES": param("zones"), "OUTPUT": param("stats")}))
    return model


def test_model_runs_over_two_scenes(provider, scenes, tiny_model, tmp_path):  # noqa: F811
    saved = tmp_path / "rice.model3"
    assert rice_model(str(tiny_model)).toFile(str(saved))
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(saved))
    assert [model.childAlgorithm(c).algorithmId() for c in ("map", "evaluate", "stats")] == [
        "s1ricemapper:maprice", "s1ricemapper:evaluate", "s1ricemapper:riceareastats"]
    for index, folder in enumerate(scenes):
        out = tmp_path / f"run{index}"
        stats = tmp_path / f"stats{index}.gpkg"
        processing.run(model, {"vv": [str(folder / "VV.tif")], "vh": [str(folder / "VH.tif")],
                               "truth": str(folder / "truth.tif"), "zones": str(folder / "labels.gpkg"),
                               "out": str(out), "stats": str(stats)})
        assert {"rice.tif", "probability.tif", "error.tif", "metrics.json"} <= set(final_names(out))
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["inputs"]["pred"] == str(out / "rice.tif")
        assert metrics["pixels"]["evaluated"] == 64 * 64
        zones = QgsVectorLayer(str(stats), "stats", "ogr")
        assert zones.featureCount() == QgsVectorLayer(str(folder / "labels.gpkg"), "l", "ogr").featureCount()
        assert all(f["rice_pct"] is not None for f in zones.getFeatures())


class ErrorFeedback(QgsProcessingFeedback):
    """Collects the errors an algorithm reports, as the batch dialog's log shows them."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802,N803
        self.errors.append(error)


def test_batch_style_run_checks_parameters_before_work(provider, scenes, tiny_model, tmp_path):  # noqa: F811
    """The batch dialog and model steps call algorithm.run() without checkParameterValues: the same checks
    still stop a wrong row before the backend starts."""
    from qgis.core import QgsApplication, QgsProcessingContext
    from test_processing_fixtures import map_parameters

    algorithm = QgsApplication.processingRegistry().algorithmById("s1ricemapper:maprice")
    rows = [map_parameters(scenes[0], tiny_model, tmp_path / "row0", SEASON_START="2021-01-01",
                           SEASON_END="2021-03-01"),
            map_parameters(scenes[1], "no-such-model", tmp_path / "row1")]
    messages = []
    for row in rows:
        feedback = ErrorFeedback()
        results, ok = algorithm.run(row, QgsProcessingContext(), feedback)
        assert not ok and not results
        messages.append("\n".join(feedback.errors))
    assert "SEASON_START/SEASON_END 2021-01-01 2021-03-01 holds no acquisition" in messages[0]
    assert "no-such-model" in messages[1]
    assert final_names(tmp_path / "row0") == [] and final_names(tmp_path / "row1") == []
