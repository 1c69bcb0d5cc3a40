"""``s1ricemapper:seasons``: rice crop cycles found from the data, cropping intensity, transplanting dates."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (QgsProcessing, QgsProcessingContext, QgsProcessingOutputFile, QgsProcessingOutputRasterLayer,
                       QgsProcessingOutputString, QgsProcessingParameterBoolean,
                       QgsProcessingParameterFolderDestination, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterString)

from ..layer_inputs import swap_warning
from .base import BackendAlgorithm, parse_date, tr
from .checks import model_problem
from .runner import run_backend

CYCLE_KINDS = (("rice", "rice"), ("probability", "probability"), ("transplanting_doy", "transplanting_doy"))


class SeasonsAlgorithm(BackendAlgorithm):
    NAME = "seasons"
    DISPLAY = "Find rice seasons"
    HELP = ("Finds the rice crop cycles in a Sentinel-1 VV/VH series of any length (one year or more): a flooding "
            "minimum of VH followed by VH growth, then maps each cycle with the model. Writes intensity.tif (rice "
            "crops per pixel), and per cycle rice_START_END.tif, probability_START_END.tif and "
            "transplanting_doy_START_END.tif (day of year of the end of the flooding), each with its style, plus "
            "seasons.json and seasons.txt. The series must span at least 120 days. PERIOD_START/PERIOD_END "
            "(optional) limit the crops counted in the intensity.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        for pol in ("VV", "VH"):
            self.addParameter(QgsProcessingParameterMultipleLayers(
                pol, tr("{} time series (one multi-band raster, or one raster per date)").format(pol),
                QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterString(
            "MODEL", tr("Model name or folder (empty: bundled default)"), optional=True))
        for name, label in (("PERIOD_START", "Cropping-intensity period start (YYYY-MM-DD, empty: series start)"),
                            ("PERIOD_END", "Cropping-intensity period end (YYYY-MM-DD, empty: series end)")):
            self.addParameter(QgsProcessingParameterString(name, tr(label), optional=True))
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", tr("Output folder")))
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", tr("Replace results already in the folder"),
                                                        defaultValue=False))
        self.addOutput(QgsProcessingOutputRasterLayer("INTENSITY", tr("Cropping intensity (rice crops per pixel)")))
        self.addOutput(QgsProcessingOutputFile("SEASONS_JSON", tr("Seasons report (seasons.json)")))
        self.addOutput(QgsProcessingOutputString("REPORT", tr("Seasons found (text)")))
        self.addOutput(QgsProcessingOutputString("MAIN_SEASON", tr("Main season (START END)")))

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        problems = []
        text = {n: self.parameterAsString(parameters, n, context).strip() for n in ("PERIOD_START", "PERIOD_END")}
        for name, value in text.items():
            if value and parse_date(value) is None:
                problems.append(tr("{} '{}' is not a date; write it as YYYY-MM-DD.").format(name, value))
        if bool(text["PERIOD_START"]) != bool(text["PERIOD_END"]):
            problems.append(tr("Give both PERIOD_START and PERIOD_END, or neither (the whole series)."))
        problem = model_problem(self.parameterAsString(parameters, "MODEL", context).strip())
        return problems + ([problem] if problem else [])

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext, feedback):  # noqa: N802
        out_dir = self.output_folder(parameters, "OUTPUT_FOLDER", context)
        vv = self.parameterAsLayerList(parameters, "VV", context)
        vh = self.parameterAsLayerList(parameters, "VH", context)
        warning = swap_warning(vv[0] if vv else None, vh[0] if vh else None)
        if warning:
            feedback.reportError(warning, fatalError=False)
        result = run_backend("seasons", self._args(parameters, context, out_dir), feedback)
        feedback.pushInfo(result.get("text", ""))
        return self._outputs(result, out_dir, context)

    def _args(self, parameters: dict, context: QgsProcessingContext, out_dir: str) -> list:
        args = ["--vv", *self.raster_paths(parameters, "VV", context),
                "--vh", *self.raster_paths(parameters, "VH", context), "--out", out_dir]
        model = self.parameterAsString(parameters, "MODEL", context).strip()
        start = self.parameterAsString(parameters, "PERIOD_START", context).strip()
        end = self.parameterAsString(parameters, "PERIOD_END", context).strip()
        if model:
            args += ["--model", model]
        if start and end:
            args += ["--period", start, end]
        return args + (["--overwrite"] if self.parameterAsBoolean(parameters, "OVERWRITE", context) else [])

    def _outputs(self, result: dict, out_dir: str, context: QgsProcessingContext) -> dict:
        folder = Path(out_dir)
        main = result.get("main") or {}
        outputs = {"SEASONS_JSON": str(folder / "seasons.json"), "REPORT": result.get("text", ""),
                   "MAIN_SEASON": " ".join(main.get("window") or []), "INTENSITY": str(folder / "intensity.tif")}
        self.load_styled(context, outputs["INTENSITY"], tr("Rice crops per pixel"), "INTENSITY", "intensity")
        for cycle in result.get("cycles") or []:
            start, end = cycle["window"]
            for kind, style in CYCLE_KINDS:
                path = folder / cycle["files"][kind]
                if path.exists():
                    self.load_styled(context, str(path), f"{kind} {start} – {end}", f"{kind}_{start}", style)
        return outputs
