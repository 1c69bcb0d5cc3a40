"""Turn QGIS layers into files the backend can read, and sanity-check VV/VH inputs.

The backend reads files, not QGIS layers. A layer backed by a GDAL/OGR file is passed by path; any
other layer (memory, virtual, web) is exported to a temporary GeoTIFF / GeoPackage first, keeping band
names so the backend still finds the acquisition dates.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path

from qgis.core import (
    QgsCoordinateTransformContext,
    QgsProject,
    QgsProviderRegistry,
    QgsRasterBandStats,
    QgsRasterFileWriter,
    QgsRasterLayer,
    QgsRasterPipe,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from .diagnostics import tr

DATE_PATTERN = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")
VH_DARKER_THAN_VV_DB = 6.0  # typical VH - VV gap over land (cross-pol is several dB weaker)
SWAP_MARGIN_DB = 1.0


class InputProblem(Exception):
    """A layer cannot be used as given; the message says why and what to do."""


def layer_file(layer) -> str | None:
    """The file behind a GDAL/OGR layer (without sub-layer options), or None for other providers."""
    provider = layer.providerType()
    if provider not in ("gdal", "ogr"):
        return None
    parts = QgsProviderRegistry.instance().decodeUri(provider, layer.source())
    path = parts.get("path") or ""
    if not path or not os.path.isfile(path):
        return None
    if provider == "ogr" and parts.get("layerName") and not path.lower().endswith((".shp", ".geojson")):
        return None  # one layer of a multi-layer file: export so the backend sees exactly this layer
    return path


def export_folder() -> Path:
    folder = Path(tempfile.gettempdir()) / "s1ricemapper_exports"
    folder.mkdir(exist_ok=True)
    return folder


def raster_file_for(layer: QgsRasterLayer) -> str:
    """A GeoTIFF path for ``layer``: its own file, or a temporary export that keeps band names."""
    path = layer_file(layer)
    if path:
        return path
    target = export_folder() / f"{_safe_name(layer.name())}_{abs(hash(layer.id()))}.tif"
    provider = layer.dataProvider()
    pipe = QgsRasterPipe()
    if provider is None or not pipe.set(provider.clone()):
        raise InputProblem(tr("Layer '{}' cannot be read as a raster; save it as a GeoTIFF "
                              "(right-click > Export > Save As) and choose that file.").format(layer.name()))
    writer = QgsRasterFileWriter(str(target))
    error = writer.writeRaster(pipe, provider.xSize(), provider.ySize(), provider.extent(), layer.crs(),
                               QgsCoordinateTransformContext())
    if error != QgsRasterFileWriter.WriterError.NoError:
        raise InputProblem(tr("Layer '{}' is not a file and could not be exported to a temporary GeoTIFF "
                              "(error {}); save it as a GeoTIFF and choose that file.").format(layer.name(), error))
    _copy_band_names(layer, target)
    return str(target)


def _copy_band_names(layer: QgsRasterLayer, target: Path) -> None:
    """Band descriptions carry the dates; QgsRasterFileWriter drops them, so put them back with GDAL."""
    from osgeo import gdal

    dataset = gdal.Open(str(target), gdal.GA_Update)
    if dataset is None:
        return
    for band in range(1, layer.bandCount() + 1):
        dataset.GetRasterBand(band).SetDescription(band_label(layer, band))
    dataset = None


def band_label(layer: QgsRasterLayer, band: int) -> str:
    """The band's description (often the date), without QGIS's 'Band n: ' prefix."""
    name = layer.bandName(band)
    return name.split(": ", 1)[1] if ": " in name else name


def vector_file_for(layer: QgsVectorLayer) -> str:
    """A path the backend can read for a vector layer: its file, or a temporary GeoPackage."""
    path = layer_file(layer)
    if path:
        return path
    target = export_folder() / f"{_safe_name(layer.name())}_{abs(hash(layer.id()))}.gpkg"
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    result = QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(target), QgsProject.instance().transformContext(),
                                                      options)
    if result[0] != QgsVectorFileWriter.WriterError.NoError:
        raise InputProblem(tr("Layer '{}' could not be exported to a temporary GeoPackage ({}); save it "
                              "as a GeoPackage and choose that layer.").format(layer.name(), result[1]))
    return str(target)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:40] or "layer"


def find_date(text: str):
    """First YYYY-MM-DD or YYYYMMDD date in ``text`` as a ``datetime.date``, else None."""
    import datetime as dt

    for match in DATE_PATTERN.finditer(text or ""):
        try:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
    return None


def to_db(value: float, linear: bool) -> float:
    """dB from linear power (non-positive power has no dB value)."""
    if not linear:
        return value
    return 10.0 * math.log10(value) if value > 0 else math.nan


def looks_linear(values: list[float]) -> bool:
    """Linear power is positive and mostly below 1; dB backscatter is mostly negative."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) >= 0 and sorted(finite)[len(finite) // 2] < 1.5


def mean_backscatter_db(layer: QgsRasterLayer, max_bands: int = 4) -> float:
    """Mean backscatter of the first bands in dB, from sampled band statistics (fast on big rasters)."""
    provider = layer.dataProvider()
    means = []
    for band in range(1, min(layer.bandCount(), max_bands) + 1):
        stats = provider.bandStatistics(band, QgsRasterBandStats.Stats.Mean | QgsRasterBandStats.Stats.Min,
                                        provider.extent(), 20000)
        means.append((stats.mean, stats.minimumValue))
    if not means:
        return math.nan
    mean = sum(m for m, _ in means) / len(means)
    linear = min(low for _, low in means) >= 0 and mean < 1.5
    return to_db(mean, linear)


def swap_warning(vv_layer: QgsRasterLayer | None, vh_layer: QgsRasterLayer | None) -> str | None:
    """A warning when the 'VV' input is darker than the 'VH' input (VH is normally ~6 dB darker)."""
    if vv_layer is None or vh_layer is None:
        return None
    vv_db, vh_db = mean_backscatter_db(vv_layer), mean_backscatter_db(vh_layer)
    if not (math.isfinite(vv_db) and math.isfinite(vh_db)):
        return None
    if vh_db > vv_db + SWAP_MARGIN_DB:
        return tr("VV and VH look swapped: the VH input is {:.1f} dB brighter than the VV input, but VH is "
                  "normally about {:.0f} dB darker. Check which layer is which.").format(
            vh_db - vv_db, VH_DARKER_THAN_VV_DB)
    return None


def check_output_folder(folder: str) -> str | None:
    """Why results cannot be written under ``folder``, or None when they can."""
    if not folder:
        return tr("Choose an output folder.")
    path = Path(folder)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return tr("Output folder {}: {} is not a folder; choose another one.").format(folder, existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        return tr("Output folder {}: no permission to write in {}; choose a folder you can write to.").format(
            folder, existing)
    return None


def preselect_by_name(combo, word: str) -> None:
    """Select the first layer of a QgsMapLayerComboBox whose name contains ``word`` (e.g. VV), else none."""
    combo.setLayer(None)
    for index in range(combo.count()):
        layer = combo.layer(index)
        if layer is not None and word in layer.name().upper():
            combo.setLayer(layer)
            return
