"""``s1ricemapper:fetch``: Sentinel-1 VV/VH for an area and a season from a STAC catalogue (backend ``fetch``)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from ...backend.contract.verbs.fetch import ORBITS, PRESETS, VERB
from ..layer_inputs import InputProblem, vector_file_for
from .base import BackendAlgorithm, tr
from .runner import run_backend


def bbox_args(extent, crs) -> list[str]:
    """``--bbox XMIN YMIN XMAX YMAX [--bbox-crs AUTHID]`` for a QgsRectangle in ``crs``."""
    args = ["--bbox", *(repr(float(v)) for v in (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(),
                                                   extent.yMaximum()))]
    return args + (["--bbox-crs", crs.authid()] if crs is not None and crs.isValid() else [])


def catalogue_args(preset: str, url: str, collection: str, assets: str) -> list[str]:
    args = ["--preset", preset] if preset else []
    for flag, value in (("--stac-url", url), ("--collection", collection), ("--assets", assets)):
        if value:
            args += [flag, value]
    return args


class FetchAlgorithm(BackendAlgorithm):
    NAME = "fetch"
    DISPLAY = "Get Sentinel-1 from a STAC catalogue"
    HELP = ("Searches a STAC catalogue (Microsoft Planetary Computer sentinel-1-rtc by default, Copernicus Data "
            "Space, or any STAC API) for Sentinel-1 over an area and a season, mosaics the frames of each pass "
            "into one date on one grid (the UTM zone of the area, 10 m by default) and writes VV.tif and VH.tif "
            "(one band per date, linear power) and fetch.json (items, query, licence). An interrupted run "
            "resumes where it stopped. The layers feed 'Map rice' directly.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterExtent("EXTENT", tr("Area (extent)"), optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            "AREA", tr("Area (polygons; instead of the extent)"), [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterString("SEASON_START", tr("Season start (YYYY-MM-DD)")))
        self.addParameter(QgsProcessingParameterString("SEASON_END", tr("Season end (YYYY-MM-DD)")))
        self.addParameter(QgsProcessingParameterEnum("ORBIT", tr(VERB.option("orbit").label), list(ORBITS),
                                                     defaultValue=ORBITS.index(VERB.default("orbit"))))
        pixel = VERB.option("pixel_size")
        self.addParameter(QgsProcessingParameterNumber(
            "PIXEL_SIZE", tr(pixel.label), QgsProcessingParameterNumber.Double, defaultValue=pixel.default,
            minValue=pixel.minimum, maxValue=pixel.maximum))
        self.addParameter(QgsProcessingParameterCrs("CRS", tr("Output CRS (empty: UTM zone of the area)"),
                                                     optional=True))
        self.addParameter(QgsProcessingParameterEnum("PRESET", tr(VERB.option("preset").label), list(PRESETS),
                                                     defaultValue=0))
        self.addParameter(QgsProcessingParameterString("STAC_URL", tr("STAC API URL (empty: the preset's)"),
                                                       optional=True))
        self.addParameter(QgsProcessingParameterString("COLLECTION", tr("Collection (empty: the preset's)"),
                                                       optional=True))
        self.addParameter(QgsProcessingParameterString("ASSETS", tr("Asset names, e.g. VV=vv,VH=vh"),
                                                       optional=True))
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", tr("Output folder")))
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", tr("Replace results already in the folder"),
                                                        defaultValue=False))
        self.addOutput(QgsProcessingOutputRasterLayer("VV", tr("VV series")))
        self.addOutput(QgsProcessingOutputRasterLayer("VH", tr("VH series")))
        self.addOutput(QgsProcessingOutputFile("FETCH_JSON", tr("Provenance (fetch.json)")))
        self.addOutput(QgsProcessingOutputNumber("DATES", tr("Acquisition dates")))

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """Only what QGIS alone knows: which of the two area parameters is set (dates, URL and the rest
        are checked by the backend, which names the parameter)."""
        has_extent = bool(parameters.get("EXTENT"))
        has_area = self.parameterAsVectorLayer(parameters, "AREA", context) is not None
        if has_extent == has_area:
            return [tr("Give the area either as EXTENT or as AREA polygons (exactly one).")]
        return []

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext, feedback):  # noqa: N802
        out_dir = self.output_folder(parameters, "OUTPUT_FOLDER", context)
        args = self._area_args(parameters, context)
        args += catalogue_args(PRESETS[self.parameterAsEnum(parameters, "PRESET", context)],
                               *(self.parameterAsString(parameters, n, context)
                                 for n in ("STAC_URL", "COLLECTION", "ASSETS")))
        args += ["--season", *(self.parameterAsString(parameters, n, context).strip()
                               for n in ("SEASON_START", "SEASON_END")),
                 "--orbit", ORBITS[self.parameterAsEnum(parameters, "ORBIT", context)],
                 "--pixel-size", repr(self.parameterAsDouble(parameters, "PIXEL_SIZE", context)), "--out", out_dir]
        crs = self.parameterAsCrs(parameters, "CRS", context)
        if crs.isValid():
            args += ["--crs", crs.authid()]
        if self.parameterAsBoolean(parameters, "OVERWRITE", context):
            args.append("--overwrite")
        result = run_backend("fetch", args, feedback)
        for problem in result.get("problems", []):
            feedback.pushWarning(problem)
        feedback.pushInfo(tr("{} dates ({} items), orbit {}").format(
            result.get("dates"), result.get("items"), ", ".join(result.get("orbits", []))))
        outputs = {"FETCH_JSON": f"{out_dir}/fetch.json", "DATES": result.get("dates")}
        for pol in ("VV", "VH"):
            path = f"{out_dir}/{pol}.tif"
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
