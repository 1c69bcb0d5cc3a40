"""What every S1 Rice Mapper Processing algorithm shares: naming, inputs as files, checks, styled loading.

The backend reads files, so layers are turned into paths here (an export only for layers that are not
files). Results are loaded through the Processing context with a post-processor that applies the
backend's ``.qml`` (or the plugin's fallback style), so they load styled in the toolbox, in batch mode
and in the modeler alike.
"""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import (
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingUtils,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..layer_inputs import InputProblem, check_output_folder, raster_file_for, swap_warning, vector_file_for
from ..results import ensure_style
from ..settings import PLUGIN_DIR
from .contract_params import backend_check, contract_problems, missing_season_half, values
from .runner import BackendProcessingError

LAYER_PARAMETER_TYPES = {"multilayer", "raster", "vector", "layer", "source"}
ICON = PLUGIN_DIR / "resources" / "icons" / "icon.svg"


def tr(text: str) -> str:
    return QCoreApplication.translate("S1RiceMapperProcessing", text)


def _log_backend_tail(feedback, error: BackendProcessingError) -> None:
    """The backend's last stderr lines in the Processing log, for a bug report (the message stays short)."""
    if feedback is None or not error.failure.stderr_tail:
        return
    feedback.pushInfo(tr("Backend ({}, exit code {}), last stderr lines:").format(error.failure.kind,
                                                                                 error.failure.exit_code))
    for line in error.failure.stderr_tail:
        feedback.pushInfo(line)


class StyledResult(QgsProcessingLayerPostProcessorInterface):
    """Applies the result's style once Processing has loaded the layer into the project."""

    keep_alive: list[StyledResult] = []  # Processing does not own post-processors

    def __init__(self, style_name: str) -> None:
        super().__init__()
        self.style_name = style_name

    def postProcessLayer(self, layer: QgsMapLayer, context, feedback) -> None:  # noqa: N802
        if not isinstance(layer, QgsRasterLayer):
            return
        try:
            qml = Path(layer.source()).with_suffix(".qml")
            if qml.exists():
                layer.loadNamedStyle(str(qml))
            ensure_style(layer, self.style_name)
            layer.triggerRepaint()
        except Exception as error:  # noqa: BLE001 (a style must not turn a finished run into a traceback)
            if feedback is not None:
                feedback.reportError(tr("Could not style {}: {}").format(layer.source(), error), fatalError=False)

    @classmethod
    def create(cls, style_name: str) -> StyledResult:
        processor = cls(style_name)
        cls.keep_alive.append(processor)
        return processor


class BackendAlgorithm(QgsProcessingAlgorithm):
    """Base class: the subclass sets ``NAME``, ``DISPLAY``, ``HELP`` and defines the parameters.

    An algorithm that runs a backend verb sets ``VERB`` and ``KEYS`` (the contract options it offers as
    scalar parameters, built by :func:`.contract_params.add_parameters`) and implements
    :meth:`backend_args`; its checks are then the contract's and the backend's own (``--check-only``).
    """

    NAME = ""
    DISPLAY = ""
    HELP = ""
    VERB = ""
    KEYS: tuple[str, ...] = ()

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:  # noqa: N802
        return tr(self.DISPLAY)

    def group(self) -> str:
        return ""

    def groupId(self) -> str:  # noqa: N802
        return ""

    def shortHelpString(self) -> str:  # noqa: N802
        return tr(self.HELP)

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def createInstance(self):  # noqa: N802
        return type(self)()

    # --- checks before any work ---------------------------------------------------------------

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext):  # noqa: N802
        """Layers that cannot be opened first (QGIS alone would only say 'Incorrect parameter value'), then
        the contract's checks (which name the valid range), then QGIS's own, then the backend's and the
        subclass's, all in one message."""
        problems = self.missing_layer_problems(parameters, context) or self.contract_problems(parameters, context)
        if problems:
            return False, "\n".join(problems)
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        problems = self.problems(parameters, context)
        return (not problems), "\n".join(problems)

    def prepareAlgorithm(self, parameters: dict, context: QgsProcessingContext, feedback) -> bool:  # noqa: N802
        """The same checks again: batch rows and modeler steps run without checkParameterValues."""
        problems = (self.missing_layer_problems(parameters, context) or self.contract_problems(parameters, context)
                    or self.problems(parameters, context))
        if problems:
            raise QgsProcessingException("\n".join(problems))
        return True

    def contract_problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """What the backend's contract refuses in the scalar parameters (ranges, choices, dates)."""
        if not self.VERB:
            return []
        given = values(self, self.VERB, self.KEYS, parameters, context)
        return missing_season_half(self.VERB, given, parameters) + contract_problems(self.VERB, given)

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """The backend's own checks of the inputs (``--check-only``); subclasses add QGIS-side ones."""
        if not self.VERB:
            return []
        try:
            args = [str(a) for a in self.backend_args(parameters, context)]
        except QgsProcessingException as error:
            return [str(error)]
        problem = backend_check(self.VERB, args, files=[a for a in args if os.path.isfile(a)])
        return [problem] if problem else []

    # --- the run -----------------------------------------------------------------------------------

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext, feedback) -> dict:  # noqa: N802
        """Run :meth:`process`; whatever fails reaches Processing as a QgsProcessingException in plain words.

        QGIS shows only the message of an exception of exactly the class QgsProcessingException; any other
        one, subclasses included, becomes a message holding the whole Python traceback. So a failure after
        the checks passed (a full disk, the output folder deleted mid-run, the backend killed, a bug) is
        raised again here as a plain QgsProcessingException, and the backend's last stderr lines go to the log.
        """
        try:
            return self.process(parameters, context, feedback)
        except BackendProcessingError as error:
            _log_backend_tail(feedback, error)
            raise QgsProcessingException(str(error)) from None
        except QgsProcessingException as error:
            if type(error) is QgsProcessingException:
                raise
            raise QgsProcessingException(str(error)) from None
        except Exception as error:  # noqa: BLE001 (the last line before QGIS would print a traceback)
            if feedback is not None:
                feedback.reportError(f"{type(error).__name__}: {error}", fatalError=False)
            raise QgsProcessingException(tr("{} failed after its checks passed: {} ({}). Check the output folder "
                                            "and free disk space, then run it again.").format(
                self.displayName(), error, type(error).__name__)) from None

    def process(self, parameters: dict, context: QgsProcessingContext, feedback) -> dict:
        """The algorithm's work (subclasses define it); may raise anything, see :meth:`processAlgorithm`."""
        raise NotImplementedError

    def backend_args(self, parameters: dict, context: QgsProcessingContext) -> list:
        """The backend verb's arguments for these parameter values (subclasses of a verb define it)."""
        raise NotImplementedError

    def missing_layer_problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        problems = []
        for definition in self.parameterDefinitions():
            if definition.type() not in LAYER_PARAMETER_TYPES:
                continue
            value = parameters.get(definition.name())
            values = value if isinstance(value, (list, tuple)) else [value]
            problems += [tr("{}: cannot open '{}'; check the path or choose a loaded layer.").format(
                definition.name(), v) for v in values
                if isinstance(v, str) and v and QgsProcessingUtils.mapLayerFromString(v, context) is None]
        return problems

    # --- inputs as files ----------------------------------------------------------------------

    def raster_paths(self, parameters: dict, name: str, context: QgsProcessingContext) -> list[str]:
        layers = self.parameterAsLayerList(parameters, name, context)
        try:
            return [raster_file_for(layer) for layer in layers]
        except InputProblem as problem:
            raise QgsProcessingException(f"{name}: {problem}") from None

    def series_args(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """``--vv``/``--vh`` with the files of the VV and VH layer lists, as every series verb takes them."""
        return ["--vv", *self.raster_paths(parameters, "VV", context),
                "--vh", *self.raster_paths(parameters, "VH", context)]

    def warn_if_swapped(self, parameters: dict, context: QgsProcessingContext, feedback) -> None:
        """Report (not fail on) VV/VH levels that look swapped, before the backend's own check."""
        vv = self.parameterAsLayerList(parameters, "VV", context)
        vh = self.parameterAsLayerList(parameters, "VH", context)
        warning = swap_warning(vv[0] if vv else None, vh[0] if vh else None)
        if warning:
            feedback.reportError(warning, fatalError=False)

    def raster_path(self, parameters: dict, name: str, context: QgsProcessingContext) -> str:
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(tr("{}: choose a raster layer or file.").format(name))
        try:
            return raster_file_for(layer)
        except InputProblem as problem:
            raise QgsProcessingException(f"{name}: {problem}") from None

    def reference_path(self, parameters: dict, name: str, context: QgsProcessingContext) -> str | None:
        """A raster or vector reference as a file path, or None when the optional parameter is empty."""
        layer = self.parameterAsLayer(parameters, name, context)
        if layer is None:
            return None
        try:
            if isinstance(layer, QgsRasterLayer):
                return raster_file_for(layer)
            return vector_file_for(layer)
        except InputProblem as problem:
            raise QgsProcessingException(f"{name}: {problem}") from None

    def output_folder(self, parameters: dict, name: str, context: QgsProcessingContext) -> str:
        folder = self.parameterAsString(parameters, name, context)
        problem = check_output_folder(folder)
        if problem:
            raise QgsProcessingException(problem)
        return folder

    # --- results ------------------------------------------------------------------------------

    @staticmethod
    def load_styled(context: QgsProcessingContext, path: str, layer_name: str, output_name: str,
                    style_name: str) -> None:
        """Ask Processing to load ``path`` when the algorithm finishes, styled like the plugin's results."""
        details = QgsProcessingContext.LayerDetails(layer_name, context.project(), output_name)
        details.setPostProcessor(StyledResult.create(style_name))
        context.addLayerToLoadOnCompletion(path, details)
