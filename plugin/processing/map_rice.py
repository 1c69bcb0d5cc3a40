"""``s1ricemapper:maprice``: the "Map rice" dialog's options as Processing parameters."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (QgsProcessing, QgsProcessingContext, QgsProcessingMultiStepFeedback, QgsProcessingOutputFile, QgsProcessingOutputNumber,
                       QgsProcessingOutputRasterLayer, QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum, QgsProcessingParameterFolderDestination,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..layer_inputs import swap_warning
from .base import BackendAlgorithm, tr
from .checks import model_problem, series_problems
from .evaluate import add_metric_outputs, add_reference_parameters, evaluation_args, metric_results, \
    reference_problems
from .runner import run_backend

ENGINES = ["auto", "onnx", "torch"]
DEVICES = ["auto", "cpu", "cuda"]
MAP_OUTPUTS = {"RICE": "rice", "PROBABILITY": "probability", "HEATMAP": "heatmap"}


class MapRiceAlgorithm(BackendAlgorithm):
    NAME = "maprice"
    DISPLAY = "Map rice"
    HELP = ("Maps paddy rice from a Sentinel-1 VV and VH time series. VV and VH are one multi-band raster "
            "each (one band per date, dates in the band descriptions) or one raster per date. The season "
            "(YYYY-MM-DD) defaults to the model's season length ending at the last acquisition; 'as of' "
            "makes an early-season map from the acquisitions up to that date. MODEL is an installed model's "
            "name or a model folder (empty: the bundled default). Writes rice.tif, probability.tif and "
            "heatmap.tif with their styles into the output folder; with a reference it also writes "
            "error.tif and metrics.json and returns F1 and rice IoU.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        for pol in ("VV", "VH"):
            self.addParameter(QgsProcessingParameterMultipleLayers(
                pol, tr("{} time series (one multi-band raster, or one raster per date)").format(pol),
                QgsProcessing.TypeRaster))
        for name, label in (("SEASON_START", "Season start (YYYY-MM-DD, empty: automatic)"),
                            ("SEASON_END", "Season end (YYYY-MM-DD, empty: automatic)"),
                            ("AS_OF", "Early-season map as of (YYYY-MM-DD, optional)")):
            self.addParameter(QgsProcessingParameterString(name, tr(label), optional=True))
        self.addParameter(QgsProcessingParameterString(
            "MODEL", tr("Model name or folder (empty: bundled default)"), optional=True))
        self.addParameter(QgsProcessingParameterEnum("ENGINE", tr("Engine"), ENGINES, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", tr("Device"), DEVICES, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber("TILE", tr("Tile size (pixels)"), defaultValue=256,
                                                       minValue=16, maxValue=8192))
        self.addParameter(QgsProcessingParameterNumber("OVERLAP", tr("Tile overlap (pixels)"), defaultValue=64,
                                                       minValue=0, maxValue=4096))
        self.addParameter(QgsProcessingParameterBoolean("WITH_HEATMAP", tr("Write the Grad-CAM heat map"),
                                                        defaultValue=True))
        add_reference_parameters(self, optional=True)
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", tr("Output folder")))
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", tr("Replace results already in the folder"),
                                                        defaultValue=False))
        self.addOutput(QgsProcessingOutputRasterLayer("RICE", tr("Rice map")))
        self.addOutput(QgsProcessingOutputRasterLayer("PROBABILITY", tr("Rice probability")))
        self.addOutput(QgsProcessingOutputRasterLayer("HEATMAP", tr("Heat map (Grad-CAM)")))
        self.addOutput(QgsProcessingOutputNumber("RICE_AREA_HA", tr("Rice area (ha)")))
        self.addOutput(QgsProcessingOutputFile("RUN_JSON", tr("Run record (run.json)")))
        add_metric_outputs(self)

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        text = {name: self.parameterAsString(parameters, name, context).strip()
                for name in ("SEASON_START", "SEASON_END", "AS_OF", "MODEL")}
        problems = series_problems(self, parameters, context, text["SEASON_START"], text["SEASON_END"],
                                   text["AS_OF"])
        problems += reference_problems(self, parameters, context)
        if self.parameterAsInt(parameters, "OVERLAP", context) * 2 >= self.parameterAsInt(parameters, "TILE", context):
            problems.append(tr("OVERLAP must be less than half of TILE; lower the overlap or raise the tile size."))
        problem = model_problem(text["MODEL"])
        return problems + ([problem] if problem else [])

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext, feedback):  # noqa: N802
        reference = self.reference_path(parameters, "REFERENCE", context)
        steps = QgsProcessingMultiStepFeedback(2 if reference else 1, feedback)
        out_dir = self.output_folder(parameters, "OUTPUT_FOLDER", context)
        overwrite = self.parameterAsBoolean(parameters, "OVERWRITE", context)
        self._warn_if_swapped(parameters, context, feedback)
        result = run_backend("map", self._map_args(parameters, context, out_dir, overwrite), steps)
        outputs = self._map_outputs(result, out_dir, context)
        feedback.pushInfo(tr("Rice area {} ha; model {} ({}, {} s).").format(
            result.get("rice_area_ha"), (result.get("model") or {}).get("name"), result.get("engine"),
            result.get("seconds")))
        if reference:
            steps.setCurrentStep(1)
            evaluation = run_backend("evaluate", evaluation_args(
                self, parameters, context, outputs["RICE"], reference, out_dir, overwrite), steps)
            outputs.update(metric_results(evaluation, out_dir, context))
            feedback.pushInfo(tr("F1 {:.3f}, rice IoU {:.3f}").format(evaluation.get("f1") or 0.0,
                                                                      evaluation.get("iou_rice") or 0.0))
        return outputs

    def _map_args(self, parameters: dict, context: QgsProcessingContext, out_dir: str, overwrite: bool) -> list:
        text = {name: self.parameterAsString(parameters, name, context).strip()
                for name in ("SEASON_START", "SEASON_END", "AS_OF", "MODEL")}
        args = ["--vv", *self.raster_paths(parameters, "VV", context),
                "--vh", *self.raster_paths(parameters, "VH", context), "--out", out_dir,
                "--engine", ENGINES[self.parameterAsEnum(parameters, "ENGINE", context)],
                "--device", DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
                "--tile", self.parameterAsInt(parameters, "TILE", context),
                "--overlap", self.parameterAsInt(parameters, "OVERLAP", context)]
        if text["SEASON_START"] and text["SEASON_END"]:
            args += ["--season", text["SEASON_START"], text["SEASON_END"]]
        if text["AS_OF"]:
            args += ["--as-of", text["AS_OF"]]
        if text["MODEL"]:
            args += ["--model", text["MODEL"]]
        if not self.parameterAsBoolean(parameters, "WITH_HEATMAP", context):
            args.append("--no-heatmap")
        return args + (["--overwrite"] if overwrite else [])

    def _map_outputs(self, result: dict, out_dir: str, context: QgsProcessingContext) -> dict:
        outputs = {"RICE_AREA_HA": result.get("rice_area_ha"), "RUN_JSON": str(Path(out_dir) / "run.json")}
        for output, name in MAP_OUTPUTS.items():
            path = Path(out_dir) / f"{name}.tif"
            if path.exists():
                outputs[output] = str(path)
                self.load_styled(context, str(path), name, output, name)
        return outputs

    def _warn_if_swapped(self, parameters: dict, context: QgsProcessingContext, feedback) -> None:
        vv = self.parameterAsLayerList(parameters, "VV", context)
        vh = self.parameterAsLayerList(parameters, "VH", context)
        warning = swap_warning(vv[0] if vv else None, vh[0] if vh else None)
        if warning:
            feedback.reportError(warning, fatalError=False)
