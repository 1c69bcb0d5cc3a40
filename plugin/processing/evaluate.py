"""``s1ricemapper:evaluate``: a rice map against a reference -> error raster and a metrics table."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterRasterLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..contract_view import cli_args, label, output_name, tooltip
from .base import BackendAlgorithm, tr
from .checks import field_problem
from .contract_params import add_parameters, name_of, output_folder_parameter, values
from .runner import run_backend

VERB = "evaluate"

METRIC_OUTPUTS = {"F1": "f1", "IOU_RICE": "iou_rice", "OA": "oa", "KAPPA": "kappa"}
TABLE_METRICS = ["oa", "precision", "recall", "f1", "iou_rice", "iou_other", "miou", "kappa"]


def add_reference_parameters(algorithm: BackendAlgorithm, optional: bool) -> None:
    """REFERENCE (raster or polygons), CLASS_FIELD, RICE_VALUES: shared by maprice and evaluate."""
    reference = QgsProcessingParameterMapLayer(
        "REFERENCE", tr("{} (truth raster, or polygons with a class field)").format(label(VERB, "reference")),
        optional=optional, types=[QgsProcessing.SourceType.TypeRaster, QgsProcessing.SourceType.TypeVectorPolygon])
    reference.setHelp(tooltip(VERB, "reference"))
    algorithm.addParameter(reference)
    add_parameters(algorithm, VERB, ("class_field", "rice_values"))


def add_metric_outputs(algorithm: BackendAlgorithm) -> None:
    algorithm.addOutput(QgsProcessingOutputRasterLayer("ERROR", tr("Error map (TP/FP/FN/TN)")))
    algorithm.addOutput(QgsProcessingOutputFile("METRICS_JSON", tr("Metrics (JSON)")))
    for name in METRIC_OUTPUTS:
        algorithm.addOutput(QgsProcessingOutputNumber(name, name.replace("_", " ").title()))


def reference_problems(algorithm: BackendAlgorithm, parameters: dict, context: QgsProcessingContext) -> list[str]:
    layer = algorithm.parameterAsLayer(parameters, "REFERENCE", context)
    field = algorithm.parameterAsString(parameters, "CLASS_FIELD", context)
    problem = field_problem(layer, field, "CLASS_FIELD")
    return [problem] if problem else []


def evaluation_args(algorithm: BackendAlgorithm, parameters: dict, context: QgsProcessingContext,
                    prediction: str, reference: str, out_dir: str, overwrite: bool) -> list[str]:
    given = values(algorithm, VERB, ("class_field", "rice_values"), parameters, context)
    return cli_args(VERB, {"pred": prediction, "reference": reference, "out": out_dir, **given,
                           "overwrite": overwrite})


def metric_results(result: dict, out_dir: str, context: QgsProcessingContext) -> dict:
    """Processing outputs of an evaluate result; the error raster is loaded styled."""
    error_path = str(Path(out_dir) / output_name(VERB, "error", "tif"))
    BackendAlgorithm.load_styled(context, error_path, "error", "ERROR", "error")
    outputs = {"ERROR": error_path, "METRICS_JSON": str(Path(out_dir) / output_name(VERB, "metrics"))}
    outputs.update({name: result.get(key) for name, key in METRIC_OUTPUTS.items()})
    return outputs


def metric_rows(result: dict) -> list[tuple[str, float | None]]:
    rows = [(name, result.get(name)) for name in TABLE_METRICS]
    rows += [(name, result.get("pixels", {}).get(name)) for name in ("tp", "fp", "fn", "tn")]
    areas = result.get("area_ha", {})
    rows += [(f"{name}_ha", areas.get(name)) for name in ("predicted_rice", "reference_rice")]
    return rows


class EvaluateAlgorithm(BackendAlgorithm):
    NAME = "evaluate"
    VERB = VERB
    KEYS = ("class_field", "rice_values", "overwrite")
    DISPLAY = "Evaluate rice map"
    HELP = ("Compares a rice map (from 'Map rice') with a reference: a truth raster, or polygons "
            "with a class field. Writes an error map (true/false positives and negatives, styled) and "
            "the metrics, and returns the metrics as a table and as numbers (F1, rice IoU, overall "
            "accuracy, kappa) for use in models.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        prediction = QgsProcessingParameterRasterLayer("PREDICTION", tr(label(VERB, "pred")))
        prediction.setHelp(tooltip(VERB, "pred"))
        self.addParameter(prediction)
        add_reference_parameters(self, optional=False)
        self.addParameter(output_folder_parameter(VERB))
        add_parameters(self, VERB, ("overwrite",))
        self.addParameter(QgsProcessingParameterFeatureSink("METRICS", tr("Metrics table"),
                                                            QgsProcessing.SourceType.TypeVector, optional=True,
                                                            createByDefault=True))
        add_metric_outputs(self)

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        return reference_problems(self, parameters, context) or super().problems(parameters, context)

    def backend_args(self, parameters: dict, context: QgsProcessingContext) -> list:
        return evaluation_args(self, parameters, context, self.raster_path(parameters, "PREDICTION", context),
                               self.reference_path(parameters, "REFERENCE", context),
                               self.parameterAsString(parameters, "OUTPUT_FOLDER", context),
                               self.parameterAsBoolean(parameters, "OVERWRITE", context))

    def process(self, parameters: dict, context: QgsProcessingContext, feedback) -> dict:
        prediction = self.raster_path(parameters, "PREDICTION", context)
        reference = self.reference_path(parameters, "REFERENCE", context)
        out_dir = self.output_folder(parameters, "OUTPUT_FOLDER", context)
        overwrite = self.parameterAsBoolean(parameters, "OVERWRITE", context)
        result = run_backend(VERB, evaluation_args(self, parameters, context, prediction, reference,
                                                   out_dir, overwrite), feedback, name_of=name_of(VERB))
        outputs = metric_results(result, out_dir, context)
        table = self._write_table(parameters, context, result)
        if table:
            outputs["METRICS"] = table
        feedback.pushInfo(tr("F1 {}, rice IoU {}, overall accuracy {}").format(
            *(_fmt(result.get(k)) for k in ("f1", "iou_rice", "oa"))))
        return outputs

    def _write_table(self, parameters: dict, context: QgsProcessingContext, result: dict) -> str | None:
        """The metrics as a geometry-less table; None when the optional output was switched off."""
        fields = QgsFields()
        fields.append(QgsField("metric", QVariant.String))
        fields.append(QgsField("value", QVariant.Double))
        sink, dest_id = self.parameterAsSink(parameters, "METRICS", context, fields, QgsWkbTypes.Type.NoGeometry)
        if sink is None:
            return None
        for name, value in metric_rows(result):
            feature = QgsFeature(fields)
            feature.setAttributes([name, None if value is None else float(value)])
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
        return dest_id


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
