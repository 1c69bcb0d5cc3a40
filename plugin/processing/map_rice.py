"""``s1ricemapper:maprice``: the backend's ``map`` verb as a Processing algorithm, parameters from its contract."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
)

from ..contract_view import cli_args, output_name
from .base import BackendAlgorithm, tr
from .contract_params import add_parameters, name_of, output_folder_parameter, values
from .evaluate import add_metric_outputs, add_reference_parameters, evaluation_args, metric_results, reference_problems
from .runner import run_backend

VERB = "map"
# the scalar options of `map` offered in Processing, in the dialog's order (vv/vh and out are files)
MAP_KEYS = ("season", "as_of", "model", "engine", "device", "tile", "overlap", "batch", "threads", "heatmap",
            "cluster", "block", "overwrite")
MAP_OUTPUTS = {"RICE": "rice", "PROBABILITY": "probability", "HEATMAP": "heatmap"}


class MapRiceAlgorithm(BackendAlgorithm):
    NAME = "maprice"
    VERB = VERB
    KEYS = MAP_KEYS
    DISPLAY = "Map rice"
    HELP = ("Maps paddy rice from a Sentinel-1 VV and VH time series. VV and VH are one multi-band raster "
            "each (one band per date, dates in the band descriptions) or one raster per date. The season "
            "(YYYY-MM-DD) defaults to the main rice season found in the data, and a season given is snapped to "
            "the crop cycle(s) it covers (see 'Find rice seasons'); 'as of' "
            "makes an early-season map from the acquisitions up to that date. MODEL is an installed model's "
            "name or a model folder (empty: the default model). Writes the rice map, the rice probability and "
            "the heat map with their styles into the output folder; with a reference it also writes the error "
            "map and the metrics and returns F1 and rice IoU. Every default and range is the backend's.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        add_parameters(self, VERB, ("vv", "vh"))
        add_parameters(self, VERB, MAP_KEYS[:-1])
        add_reference_parameters(self, optional=True)
        self.addParameter(output_folder_parameter(VERB))
        add_parameters(self, VERB, MAP_KEYS[-1:])
        self.addOutput(QgsProcessingOutputRasterLayer("RICE", tr("Rice map")))
        self.addOutput(QgsProcessingOutputRasterLayer("PROBABILITY", tr("Rice probability")))
        self.addOutput(QgsProcessingOutputRasterLayer("HEATMAP", tr("Heat map (Grad-CAM)")))
        self.addOutput(QgsProcessingOutputNumber("RICE_AREA_HA", tr("Rice area (ha)")))
        self.addOutput(QgsProcessingOutputFile("RUN_JSON", tr("Run record")))
        add_metric_outputs(self)

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        return super().problems(parameters, context) + reference_problems(self, parameters, context)

    def backend_args(self, parameters: dict, context: QgsProcessingContext) -> list:
        """``map``'s arguments: the series, the output folder, and every scalar option given."""
        return [*self.series_args(parameters, context),
                "--out", self.parameterAsString(parameters, "OUTPUT_FOLDER", context),
                *cli_args(VERB, values(self, VERB, MAP_KEYS, parameters, context))]

    def process(self, parameters: dict, context: QgsProcessingContext, feedback) -> dict:
        reference = self.reference_path(parameters, "REFERENCE", context)
        steps = QgsProcessingMultiStepFeedback(2 if reference else 1, feedback)
        out_dir = self.output_folder(parameters, "OUTPUT_FOLDER", context)
        overwrite = self.parameterAsBoolean(parameters, "OVERWRITE", context)
        self.warn_if_swapped(parameters, context, feedback)
        result = run_backend(VERB, self.backend_args(parameters, context), steps, name_of=name_of(VERB))
        outputs = self._map_outputs(result, out_dir, context)
        feedback.pushInfo(tr("Rice area {} ha; model {} ({}, {} s).").format(
            result.get("rice_area_ha"), (result.get("model") or {}).get("name"), result.get("engine"),
            result.get("seconds")))
        if reference:
            steps.setCurrentStep(1)
            evaluation = run_backend("evaluate", evaluation_args(
                self, parameters, context, outputs["RICE"], reference, out_dir, overwrite), steps,
                name_of=name_of("evaluate"))
            outputs.update(metric_results(evaluation, out_dir, context))
            feedback.pushInfo(tr("F1 {:.3f}, rice IoU {:.3f}").format(evaluation.get("f1") or 0.0,
                                                                      evaluation.get("iou_rice") or 0.0))
        return outputs

    def _map_outputs(self, result: dict, out_dir: str, context: QgsProcessingContext) -> dict:
        outputs = {"RICE_AREA_HA": result.get("rice_area_ha"),
                   "RUN_JSON": str(Path(out_dir) / output_name(VERB, "run"))}
        for output, name in MAP_OUTPUTS.items():
            path = Path(out_dir) / output_name(VERB, name, "tif")
            if path.exists():
                outputs[output] = str(path)
                self.load_styled(context, str(path), name, output, name)
        return outputs

