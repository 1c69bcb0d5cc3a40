"""``s1ricemapper:seasons``: the backend's ``seasons`` verb (rice crop cycles found from the data, cropping
intensity, transplanting dates) as a Processing algorithm, parameters from its contract."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingOutputFile,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputString,
    QgsProcessingParameterFolderDestination,
)

from ..contract_view import cli_args, label, output_name
from .base import BackendAlgorithm, tr
from .contract_params import add_parameters, name_of, values
from .runner import run_backend

VERB = "seasons"
SEASONS_KEYS = ("model", "period", "engine", "device", "threads", "overwrite")
CYCLE_KINDS = ("rice", "probability", "transplanting_doy")  # styles of the per-cycle rasters


class SeasonsAlgorithm(BackendAlgorithm):
    NAME = "seasons"
    VERB = VERB
    KEYS = SEASONS_KEYS
    DISPLAY = "Find rice seasons"
    HELP = ("Finds the rice crop cycles in a Sentinel-1 VV/VH series of any length (one year or more, at least "
            "120 days): a flooding minimum of VH followed by VH growth. Maps each cycle with the model and writes "
            "the cropping intensity (rice crops per pixel) and, per cycle, the rice map, the rice probability and "
            "the transplanting day of year, each styled, plus the seasons report (JSON and text). The period "
            "(optional) limits the crops counted in the intensity. Every default and range is the backend's.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        add_parameters(self, VERB, ("vv", "vh"))
        add_parameters(self, VERB, SEASONS_KEYS[:-1])
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", tr(label(VERB, "out"))))
        add_parameters(self, VERB, SEASONS_KEYS[-1:])
        self.addOutput(QgsProcessingOutputRasterLayer("INTENSITY", tr("Cropping intensity (rice crops per pixel)")))
        self.addOutput(QgsProcessingOutputFile("SEASONS_JSON", tr("Seasons report (JSON)")))
        self.addOutput(QgsProcessingOutputString("REPORT", tr("Seasons found (text)")))
        self.addOutput(QgsProcessingOutputString("MAIN_SEASON", tr("Main season (START END)")))

    def backend_args(self, parameters: dict, context: QgsProcessingContext) -> list:
        """``seasons``'s arguments: the series, the output folder, and every scalar option given."""
        return [*self.series_args(parameters, context),
                "--out", self.parameterAsString(parameters, "OUTPUT_FOLDER", context),
                *cli_args(VERB, values(self, VERB, SEASONS_KEYS, parameters, context))]

    def process(self, parameters: dict, context: QgsProcessingContext, feedback) -> dict:
        out_dir = self.output_folder(parameters, "OUTPUT_FOLDER", context)
        self.warn_if_swapped(parameters, context, feedback)
        result = run_backend(VERB, self.backend_args(parameters, context), feedback, name_of=name_of(VERB))
        feedback.pushInfo(result.get("text", ""))
        return self._outputs(result, out_dir, context)

    def _outputs(self, result: dict, out_dir: str, context: QgsProcessingContext) -> dict:
        folder = Path(out_dir)
        main = result.get("main") or {}
        outputs = {"SEASONS_JSON": str(folder / output_name(VERB, "seasons", "json")),
                   "REPORT": result.get("text", ""), "MAIN_SEASON": " ".join(main.get("window") or []),
                   "INTENSITY": str(folder / output_name(VERB, "intensity", "tif"))}
        self.load_styled(context, outputs["INTENSITY"], tr("Rice crops per pixel"), "INTENSITY", "intensity")
        for cycle in result.get("cycles") or []:
            start, end = cycle["window"]
            for kind in CYCLE_KINDS:
                path = folder / cycle["files"][kind]
                if path.exists():
                    self.load_styled(context, str(path), f"{kind} {start} – {end}", f"{kind}_{start}", kind)
        return outputs
