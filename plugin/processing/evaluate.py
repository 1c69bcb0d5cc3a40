"""``s1ricemapper:evaluate``: a rice map against a reference -> error raster and a metrics table."""

from __future__ import annotations

from qgis.core import (QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsProcessing, QgsProcessingContext,
                       QgsProcessingOutputFile, QgsProcessingOutputNumber, QgsProcessingOutputRasterLayer,
                       QgsProcessingParameterBoolean, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFolderDestination, QgsProcessingParameterMapLayer,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString, QgsWkbTypes)
from qgis.PyQt.QtCore import QVariant

from .base import BackendAlgorithm, split_values, tr
from .checks import field_problem
from .runner import run_backend

METRIC_OUTPUTS = {"F1": "f1", "IOU_RICE": "iou_rice", "OA": "oa", "KAPPA": "kappa"}
TABLE_METRICS = ["oa", "precision", "recall", "f1", "iou_rice", "iou_other", "miou", "kappa"]


def add_reference_parameters(algorithm: BackendAlgorithm, optional: bool) -> None:
    """REFERENCE (raster or polygons), CLASS_FIELD, RICE_VALUES: shared by maprice and evaluate."""
    algorithm.addParameter(QgsProcessingParameterMapLayer(
        "REFERENCE", tr("Reference (truth raster, or polygons with a class field)"), optional=optional,
        types=[QgsProcessing.TypeRaster, QgsProcessing.TypeVectorPolygon]))
    algorithm.addParameter(QgsProcessingParameterString(
        "CLASS_FIELD", tr("Reference class field (polygons only; empty: a field named class/label/rice)"),
        optional=True))
    algorithm.addParameter(QgsProcessingParameterString(
        "RICE_VALUES", tr("Value(s) meaning rice, comma-separated (empty: 1 or 'rice')"), optional=True))


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
    args = ["--pred", prediction, "--reference", reference, "--out", out_dir]
    field = algorithm.parameterAsString(parameters, "CLASS_FIELD", context)
    values = split_values(algorithm.parameterAsString(parameters, "RICE_VALUES", context))
    if field:
        args += ["--class-field", field]
    if values:
        args += ["--rice-value", *values]
    return args + (["--overwrite"] if overwrite else [])


def metric_results(result: dict, out_dir: str, context: QgsProcessingContext) -> dict:
    """Processing outputs of an evaluate result; the error raster is loaded styled."""
    error_path = f"{out_dir}/error.tif"
    BackendAlgorithm.load_styled(context, error_path, "error", "ERROR", "error")
    outputs = {"ERROR": error_path, "METRICS_JSON": f"{out_dir}/metrics.json"}
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
    DISPLAY = "Evaluate rice map"
    HELP = ("Compares a rice map (rice.tif from 'Map rice') with a reference: a truth raster, or polygons "
            "with a class field. Writes error.tif (true/false positives and negatives, styled) and "
            "metrics.json, and returns the metrics as a table and as numbers (F1, rice IoU, overall "
            "accuracy, kappa) for use in models.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("PREDICTION", tr("Rice map (rice.tif)")))
        add_reference_parameters(self, optional=False)
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", tr("Output folder")))
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", tr("Replace results already in the folder"),
                                                        defaultValue=False))
        self.addParameter(QgsProcessingParameterFeatureSink("METRICS", tr("Metrics table"),
                                                            QgsProcessing.TypeVector, optional=True,
                                                            createByDefault=True))
        add_metric_outputs(self)

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        return reference_problems(self, parameters, context)

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext, feedback):  # noqa: N802
        prediction = self.raster_path(parameters, "PREDICTION", context)
        reference = self.reference_path(parameters, "REFERENCE", context)
        out_dir = self.output_folder(parameters, "OUTPUT_FOLDER", context)
        overwrite = self.parameterAsBoolean(parameters, "OVERWRITE", context)
        result = run_backend("evaluate", evaluation_args(self, parameters, context, prediction, reference,
                                                         out_dir, overwrite), feedback)
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
        sink, dest_id = self.parameterAsSink(parameters, "METRICS", context, fields, QgsWkbTypes.NoGeometry)
        if sink is None:
            return None
        for name, value in metric_rows(result):
            feature = QgsFeature(fields)
            feature.setAttributes([name, None if value is None else float(value)])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        return dest_id


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
