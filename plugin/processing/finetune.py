"""``s1ricemapper:finetune``: labelled polygons or points + a VV/VH series -> a new named model.

Runs ``python -m backend finetune`` (transfer learning from a pretrained model; see docs/training.md);
its parameters, defaults and ranges are the backend's contract. Per-epoch loss and validation F1 arrive
as JSON events and are shown in the log.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingOutputFolder,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterField,
    QgsProcessingParameterVectorLayer,
)

from ..contract_view import cli_args, label, tooltip
from .base import BackendAlgorithm, tr
from .checks import field_problem
from .contract_params import add_parameters, name_of, values
from .runner import run_backend

VERB = "finetune"
# the scalar options of `finetune` offered in Processing (labels, class field, vv/vh are layers)
FINETUNE_KEYS = ("rice_values", "season", "base_model", "mode", "epochs", "name", "out", "overwrite", "time_shift",
                 "lr", "patch", "batch", "seed", "max_patches", "l2sp", "early_season", "threads")
MODE_HELP = ("FTE: fine-tune the encoder, decoder frozen (best in the transfer-learning paper); FT: fine-tune "
             "everything; FTD: decoder only; RI: train from random initialisation")


class FineTuneAlgorithm(BackendAlgorithm):
    NAME = "finetune"
    VERB = VERB
    KEYS = FINETUNE_KEYS
    DISPLAY = "Fine-tune a rice model"
    HELP = ("Turns labelled polygons or points (a class field with rice and non-rice values) and a VV/VH "
            "time series into a new named model by transfer learning from a pretrained model. "
            + MODE_HELP + ". The new model is saved in your models folder (or OUTPUT_FOLDER) and can be "
            "used by name in 'Map rice'. Validation uses whole polygons (or spatial blocks of points) held "
            "out from training. Every default and range is the backend's.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        labels = QgsProcessingParameterVectorLayer("LABELS", tr(label(VERB, "labels")),
                                                   [QgsProcessing.SourceType.TypeVectorPolygon, QgsProcessing.SourceType.TypeVectorPoint])
        labels.setHelp(tooltip(VERB, "labels"))
        self.addParameter(labels)
        field = QgsProcessingParameterField("CLASS_FIELD", tr(label(VERB, "class_field")),
                                            parentLayerParameterName="LABELS", optional=True)
        field.setHelp(tooltip(VERB, "class_field"))
        self.addParameter(field)
        add_parameters(self, VERB, ("vv", "vh", *FINETUNE_KEYS))
        self.addOutput(QgsProcessingOutputFolder("MODEL_FOLDER", tr("New model folder")))
        self.addOutput(QgsProcessingOutputString("MODEL_NAME", tr("New model name")))
        self.addOutput(QgsProcessingOutputNumber("VAL_F1", tr("Validation F1")))

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        labels = self.parameterAsVectorLayer(parameters, "LABELS", context)
        if labels is None:
            return [tr("LABELS: cannot open the labels layer; check the path or choose a loaded layer.")]
        problem = field_problem(labels, self.parameterAsString(parameters, "CLASS_FIELD", context), "CLASS_FIELD")
        return [problem] if problem else super().problems(parameters, context)

    def backend_args(self, parameters: dict, context: QgsProcessingContext) -> list:
        """``finetune``'s arguments: series, labels and class field, and every scalar option given."""
        args = [*self.series_args(parameters, context), "--labels", self.reference_path(parameters, "LABELS", context)]
        field = self.parameterAsString(parameters, "CLASS_FIELD", context)
        return args + (["--class-field", field] if field else []) + cli_args(
            VERB, values(self, VERB, FINETUNE_KEYS, parameters, context))

    def process(self, parameters: dict, context: QgsProcessingContext, feedback) -> dict:
        result = run_backend(VERB, self.backend_args(parameters, context), feedback, name_of=name_of(VERB))
        validation = result.get("validation") or {}
        feedback.pushInfo(tr("Model '{}' saved in {} (best epoch {}, validation F1 {}).").format(
            result.get("model"), result.get("path"), result.get("best_epoch"), validation.get("f1")))
        return {"MODEL_FOLDER": result.get("path"), "MODEL_NAME": result.get("model"), "VAL_F1": validation.get("f1")}
