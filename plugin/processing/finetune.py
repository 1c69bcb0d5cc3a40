"""``s1ricemapper:finetune``: labelled polygons or points + a VV/VH series -> a new named model.

Runs ``python -m backend finetune`` (transfer learning from a pretrained model; see docs/training.md).
Per-epoch loss and validation F1 arrive as JSON events and are shown in the log.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (QgsProcessing, QgsProcessingContext, QgsProcessingOutputFolder, QgsProcessingOutputNumber,
                       QgsProcessingOutputString, QgsProcessingParameterDefinition, QgsProcessingParameterEnum,
                       QgsProcessingParameterField, QgsProcessingParameterFile, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber, QgsProcessingParameterString,
                       QgsProcessingParameterVectorLayer)

from ..settings import PLUGIN_DIR
from .base import BackendAlgorithm, split_values, tr
from .checks import field_problem, model_problem, series_problems
from .runner import run_backend

MODES = ["FTE", "FT", "FTD", "RI"]
MODE_HELP = ("FTE: fine-tune the encoder, decoder frozen (best in the transfer-learning paper); FT: fine-tune "
             "everything; FTD: decoder only; RI: train from random initialisation")


def finetune_available() -> bool:
    """The backend gained its ``finetune`` verb after this provider; older backends lack it."""
    return (PLUGIN_DIR / "backend" / "commands" / "finetune.py").exists()


class FineTuneAlgorithm(BackendAlgorithm):
    NAME = "finetune"
    DISPLAY = "Fine-tune a rice model"
    HELP = ("Turns labelled polygons or points (a class field with rice and non-rice values) and a VV/VH "
            "time series into a new named model by transfer learning from a pretrained model. "
            + MODE_HELP + ". The new model is saved in your models folder (or OUTPUT_FOLDER) and can be "
            "used by name in 'Map rice'. Validation uses whole polygons (or spatial blocks of points) held "
            "out from training.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterVectorLayer(
            "LABELS", tr("Labels (polygons or points)"),
            [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField("CLASS_FIELD", tr("Class field"), parentLayerParameterName="LABELS"))
        self.addParameter(QgsProcessingParameterString("RICE_VALUES", tr("Value(s) meaning rice, comma-separated"),
                                                       defaultValue="rice"))
        for pol in ("VV", "VH"):
            self.addParameter(QgsProcessingParameterMultipleLayers(
                pol, tr("{} time series (one multi-band raster, or one raster per date)").format(pol),
                QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterString("SEASON_START", tr("Season start (YYYY-MM-DD)"), optional=True))
        self.addParameter(QgsProcessingParameterString("SEASON_END", tr("Season end (YYYY-MM-DD)"), optional=True))
        self.addParameter(QgsProcessingParameterString("BASE_MODEL", tr("Base model (empty: bundled default)"),
                                                       optional=True))
        self.addParameter(QgsProcessingParameterEnum("MODE", tr("Mode"), MODES, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber("EPOCHS", tr("Epochs"), defaultValue=20, minValue=1,
                                                       maxValue=1000))
        time_shift = QgsProcessingParameterNumber(
            "TIME_SHIFT", tr("Time shift augmentation, composite steps (empty: the backend's default; 0: off)"),
            optional=True, minValue=0, maxValue=12)
        time_shift.setFlags(time_shift.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(time_shift)
        self.addParameter(QgsProcessingParameterString("NAME", tr("New model name")))
        self.addParameter(QgsProcessingParameterFile(
            "OUTPUT_FOLDER", tr("Parent folder for the new model (empty: your models folder)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addOutput(QgsProcessingOutputFolder("MODEL_FOLDER", tr("New model folder")))
        self.addOutput(QgsProcessingOutputString("MODEL_NAME", tr("New model name")))
        self.addOutput(QgsProcessingOutputNumber("VAL_F1", tr("Validation F1")))

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        if not finetune_available():
            return [tr("This backend has no 'finetune' command yet; update the plugin.")]
        start, end = (self.parameterAsString(parameters, n, context).strip() for n in ("SEASON_START", "SEASON_END"))
        problems = self._label_problems(parameters, context)
        problems += series_problems(self, parameters, context, start, end, "")
        problem = model_problem(self.parameterAsString(parameters, "BASE_MODEL", context).strip())
        problems += [problem.replace("MODEL:", "BASE_MODEL:", 1)] if problem else []
        return problems + self._name_problems(parameters, context)

    def _name_problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """Fine-tuning never replaces a model: the name must be new where the model will be written."""
        name = self.parameterAsString(parameters, "NAME", context).strip()
        folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        if not name or Path(name).name != name:
            return [tr("NAME: give the new model a plain name (letters, digits, '-' or '_'), not a path.")]
        taken = (Path(folder) / name).exists() if folder else not model_problem(name)
        return [tr("NAME: a model called '{}' already exists; choose another name.").format(name)] if taken else []

    def _label_problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        labels = self.parameterAsVectorLayer(parameters, "LABELS", context)
        if labels is None:
            return [tr("LABELS: cannot open the labels layer; check the path or choose a loaded layer.")]
        problems = [field_problem(labels, self.parameterAsString(parameters, "CLASS_FIELD", context), "CLASS_FIELD")]
        if not split_values(self.parameterAsString(parameters, "RICE_VALUES", context)):
            problems.append(tr("RICE_VALUES: give the class value(s) meaning rice."))
        return [p for p in problems if p]

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext, feedback):  # noqa: N802
        args = ["--vv", *self.raster_paths(parameters, "VV", context),
                "--vh", *self.raster_paths(parameters, "VH", context),
                "--labels", self.reference_path(parameters, "LABELS", context),
                "--class-field", self.parameterAsString(parameters, "CLASS_FIELD", context),
                "--rice-values", *split_values(self.parameterAsString(parameters, "RICE_VALUES", context)),
                "--mode", MODES[self.parameterAsEnum(parameters, "MODE", context)],
                "--epochs", self.parameterAsInt(parameters, "EPOCHS", context),
                "--name", self.parameterAsString(parameters, "NAME", context).strip()]
        if parameters.get("TIME_SHIFT") not in (None, ""):
            args += ["--time-shift", self.parameterAsInt(parameters, "TIME_SHIFT", context)]
        start, end = (self.parameterAsString(parameters, n, context).strip() for n in ("SEASON_START", "SEASON_END"))
        if start and end:
            args += ["--season", start, end]
        base = self.parameterAsString(parameters, "BASE_MODEL", context).strip()
        if base:
            args += ["--base-model", base]
        out = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        if out:
            args += ["--out", out]
        result = run_backend("finetune", args, feedback)
        validation = result.get("validation") or {}
        feedback.pushInfo(tr("Model '{}' saved in {} (best epoch {}, validation F1 {}).").format(
            result.get("model"), result.get("path"), result.get("best_epoch"), validation.get("f1")))
        return {"MODEL_FOLDER": result.get("path"), "MODEL_NAME": result.get("model"), "VAL_F1": validation.get("f1")}
