"""``s1ricemapper:riceareastats``: rice area (ha) and rice share (%) per zone, computed inside QGIS.

A zonal histogram (QGIS's own ``native:zonalhistogram``, pixels whose centre falls inside a zone)
counts rice (1) and other (0) pixels; no-data (255) is neither, so the share is over mapped pixels.
Area uses the raster's pixel size in metres, or, for a geographic CRS, the ellipsoidal area of one
pixel at the zone's centre.
"""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDistanceArea,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsRasterLayer,
    QgsRectangle,
    QgsUnitTypes,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from .base import BackendAlgorithm, tr

PREFIX = "s1rm_px_"
AREA_FIELD, SHARE_FIELD = "rice_ha", "rice_pct"
M2_PER_HA = 10_000.0


class RiceAreaStatsAlgorithm(BackendAlgorithm):
    NAME = "riceareastats"
    DISPLAY = "Rice area per zone"
    HELP = ("Adds two fields to a copy of a polygon layer (districts, communes, farms): rice_ha, the rice "
            "area in hectares, and rice_pct, the share of the zone's mapped pixels that are rice. Pixels "
            "count when their centre lies inside the zone; no-data pixels are left out of the share.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("RICE", tr("Rice map (rice.tif: 1 rice, 0 other)")))
        self.addParameter(QgsProcessingParameterFeatureSource("ZONES", tr("Zones"),
                                                              [QgsProcessing.SourceType.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", tr("Zones with rice area"),
                                                            QgsProcessing.SourceType.TypeVectorPolygon))

    def problems(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        problems = []
        rice = self.parameterAsRasterLayer(parameters, "RICE", context)
        if rice is None:
            problems.append(tr("RICE: cannot open the rice map; choose rice.tif from 'Map rice'."))
        elif rice.bandCount() != 1:
            problems.append(tr("RICE: '{}' has {} bands; choose the one-band rice.tif written by "
                               "'Map rice'.").format(rice.name(), rice.bandCount()))
        source = self.parameterAsSource(parameters, "ZONES", context)
        if source is None:
            problems.append(tr("ZONES: cannot open the zones layer; check the path or choose a loaded layer."))
        else:
            clashes = [f for f in (AREA_FIELD, SHARE_FIELD) if f in source.fields().names()]
            if QgsWkbTypes.geometryType(source.wkbType()) != QgsWkbTypes.GeometryType.PolygonGeometry:
                problems.append(tr("ZONES holds {} geometries, not polygons; give a polygon layer of zones "
                                   "(districts, provinces).").format(QgsWkbTypes.displayString(source.wkbType())))
            if clashes:
                problems.append(tr("ZONES already has field(s) {}; rename or delete them first.").format(
                    ", ".join(clashes)))
        return problems

    def process(self, parameters: dict, context: QgsProcessingContext, feedback) -> dict:
        import processing

        rice = self.parameterAsRasterLayer(parameters, "RICE", context)
        source = self.parameterAsSource(parameters, "ZONES", context)
        steps = QgsProcessingMultiStepFeedback(2, feedback)
        counted = processing.run("native:zonalhistogram", {
            "INPUT_RASTER": rice, "RASTER_BAND": 1, "INPUT_VECTOR": parameters["ZONES"],
            "COLUMN_PREFIX": PREFIX, "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT},
            context=context, feedback=steps, is_child_algorithm=True)["OUTPUT"]
        if steps.isCanceled():
            return {}
        steps.setCurrentStep(1)
        histogram = QgsProcessingUtils.mapLayerFromString(counted, context)
        fields = QgsFields(source.fields())
        fields.append(QgsField(AREA_FIELD, QVariant.Double, "double", 20, 4))
        fields.append(QgsField(SHARE_FIELD, QVariant.Double, "double", 20, 2))
        sink, dest_id = self.parameterAsSink(parameters, "OUTPUT", context, fields, source.wkbType(),
                                             source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, "OUTPUT"))
        pixel_area = PixelArea(rice, source.sourceCrs(), context)
        total = max(1, source.featureCount())
        for index, (zone, counts) in enumerate(zip(source.getFeatures(), histogram.getFeatures())):
            if steps.isCanceled():
                return {}
            sink.addFeature(_with_stats(zone, counts, fields, pixel_area), QgsFeatureSink.Flag.FastInsert)
            steps.setProgress(100.0 * (index + 1) / total)
        return {"OUTPUT": dest_id}


def _with_stats(zone: QgsFeature, counts: QgsFeature, fields: QgsFields, pixel_area: PixelArea) -> QgsFeature:
    """``zone`` (the zonal histogram keeps the source's feature order) plus rice area and share."""
    names = counts.fields().names()
    rice = _count(counts, names, f"{PREFIX}1")
    other = _count(counts, names, f"{PREFIX}0")
    feature = QgsFeature(fields)
    feature.setGeometry(zone.geometry())
    area_ha = rice * pixel_area.at(zone.geometry()) / M2_PER_HA
    share = 100.0 * rice / (rice + other) if rice + other else None
    feature.setAttributes(zone.attributes() + [area_ha, share])
    return feature


def _count(zone: QgsFeature, names: list[str], field: str) -> int:
    return int(zone[field] or 0) if field in names else 0


class PixelArea:
    """Square metres of one pixel of ``raster``; geographic rasters are measured on the ellipsoid."""

    def __init__(self, raster: QgsRasterLayer, zones_crs: QgsCoordinateReferenceSystem,
                 context: QgsProcessingContext) -> None:
        self.width = raster.rasterUnitsPerPixelX()
        self.height = raster.rasterUnitsPerPixelY()
        crs = raster.crs()
        self.geographic = crs.isGeographic()
        factor = QgsUnitTypes.fromUnitToUnitFactor(crs.mapUnits(), QgsUnitTypes.DistanceUnit.DistanceMeters)
        self.projected_m2 = self.width * self.height * factor * factor
        self.to_raster = QgsCoordinateTransform(zones_crs, crs, context.transformContext())
        self.measure = QgsDistanceArea()
        self.measure.setSourceCrs(crs, context.transformContext())
        self.measure.setEllipsoid(context.ellipsoid() or "EPSG:7030")

    def at(self, zone_geometry: QgsGeometry) -> float:
        if not self.geographic:
            return self.projected_m2
        centre = self.to_raster.transform(zone_geometry.centroid().asPoint())
        cell = QgsRectangle(QgsPointXY(centre.x(), centre.y()),
                            QgsPointXY(centre.x() + self.width, centre.y() + self.height))
        return self.measure.measureArea(QgsGeometry.fromRect(cell))
