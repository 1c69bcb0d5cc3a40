"""``s1ricemapper:fetch``: Sentinel-1 VV/VH for an area and a season from a STAC catalogue (backend ``fetch``)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingParameterCrs,
    QgsProcessingParameterExtent,
    QgsProcessingParameterVectorLayer,
)

from ...backend.contract.verbs.fetch import RECORD_FILE, SERIES_FILES
from ...backend.contract.verbs.fetch import VERB as VERB_CONTRACT
from ..contract_view import cli_args
from ..layer_inputs import InputProblem, vector_file_for
from .base import BackendAlgorithm, tr
from .contract_params import add_parameters, name_of, output_folder_parameter, values
from .runner import run_backend

VERB = "fetch"
# the scalar options of `fetch` offered in Processing (the area, CRS and folder are QGIS parameters)
FETCH_KEYS = ("season", "orbit", "pixel_size", "preset", "stac_url", "collection", "assets", "catalogue_only",
              "overwrite")


def bbox_args(extent, crs) -> list[str]:
    """``--bbox XMIN YMIN XMAX YMAX [--bbox-crs AUTHID]`` for a QgsRectangle in ``crs``."""
    args = ["--bbox", *(repr(float(v)) for v in (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(),
                                                   extent.yMaximum()))]
    return args + (["--bbox-crs", crs.authid()] if crs is not None and crs.isValid() else [])


def catalogue_args(preset: str, url: str, collection: str, assets: str) -> list[str]:
    """``--preset``/``--stac-url``/``--collection``/``--assets`` for the values given (the dialog's)."""
    return cli_args(VERB, {"preset": preset or None, "stac_url": url or None, "collection": collection or None,
                           "assets": assets or None})


class FetchAlgorithm(BackendAlgorithm):
    NAME = "fetch"
    VERB = VERB
    KEYS = FETCH_KEYS
    DISPLAY = "Get Sentinel-1 from a STAC catalogue"
    HELP = ("Searches a STAC catalogue (Microsoft Planetary Computer sentinel-1-rtc by default, Copernicus Data "
            "Space, or any STAC API) for Sentinel-1 over an area and a season, mosaics the frames of each pass "
            "into one date on one grid (the UTM zone of the area, 10 m by default) and writes S1_VV.tif and "
            "S1_VH.tif (one band per date, linear power) and fetch.json (items, query, licence). An interrupted run "
            "resumes where it stopped. The layers feed 'Map rice' directly. Every default and range is the "
            "backend's.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterExtent("EXTENT", tr("Area (extent)"), optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            "AREA", tr("Area (polygons; instead of the extent)"), [QgsProcessing.SourceType.TypeVectorPolygon], optional=True))
        add_parameters(self, VERB, FETCH_KEYS[:-1])
        self.addParameter(QgsProcessingParameterCrs("CRS", tr(VERB_CONTRACT.option("crs").label), optional=True))
        self.addParameter(output_folder_parameter(VERB))
        add_parameters(self, VERB, FETCH_KEYS[-1:])
        self.addOutput(QgsProcessingOutputRasterLayer("VV", tr("VV series")))
        self.addOutput(QgsProcessingOutputRasterLayer("VH", tr("VH series")))
        self.addOutput(QgsProcessingOutputFile("FETCH_JSON", tr("Provenance (fetch.json)")))
        self.addOutput(QgsProcessingOutputNumber("DATES", tr("Acquisition dates")))

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """Which of the two area parameters is set (QGIS knows), then the backend's checks."""
        has_extent = bool(parameters.get("EXTENT"))
        has_area = self.parameterAsVectorLayer(parameters, "AREA", context) is not None
        if has_extent == has_area:
            return [tr("Give the area either as EXTENT or as AREA polygons (exactly one).")]
        return super().problems(parameters, context)

    def backend_args(self, parameters: dict, context: QgsProcessingContext) -> list:
        """``fetch``'s arguments: the area, the CRS, the output folder and every scalar option given."""
        args = [*self._area_args(parameters, context),
                "--out", self.parameterAsString(parameters, "OUTPUT_FOLDER", context),
                *cli_args(VERB, values(self, VERB, FETCH_KEYS, parameters, context))]
        crs = self.parameterAsCrs(parameters, "CRS", context)
        return args + (["--crs", crs.authid()] if crs.isValid() else [])

    def process(self, parameters: dict, context: QgsProcessingContext, feedback) -> dict:
        out_dir = self.output_folder(parameters, "OUTPUT_FOLDER", context)
        result = run_backend(VERB, self.backend_args(parameters, context), feedback, name_of=name_of(VERB))
        for problem in result.get("problems", []):
            feedback.pushWarning(problem)
        feedback.pushInfo(tr("{} dates ({} items), orbit {}").format(
            result.get("dates"), result.get("items"), ", ".join(result.get("orbits", []))))
        outputs = {"FETCH_JSON": f"{out_dir}/{RECORD_FILE}", "DATES": result.get("dates")}
        if self.parameterAsBoolean(parameters, "CATALOGUE_ONLY", context):
            return outputs
        for pol, name in SERIES_FILES.items():
            path = f"{out_dir}/{name}"
            context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(pol, context.project(), pol))
            outputs[pol] = path
        return outputs

    def _area_args(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        layer = self.parameterAsVectorLayer(parameters, "AREA", context)
        if layer is not None:
            try:
                return ["--area", vector_file_for(layer)]
            except InputProblem as problem:
                raise QgsProcessingException(f"AREA: {problem}") from None
        return bbox_args(self.parameterAsExtent(parameters, "EXTENT", context),
                         self.parameterAsExtentCrs(parameters, "EXTENT", context))
