"""Mosaics of rasters that share a CRS, as GDAL VRTs held in memory (``/vsimem/``).

Used for Earth Engine exports split into tiles and for mapping straight from a ``fetch.json`` (the
sources are then remote COGs read through ``/vsicurl/``, window by window, as the tiles need them). The
reader then opens the VRT like any file, so every check and the windowed reading stay as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from affine import Affine

_KEEP_ALIVE: list = []  # MemoryFiles must outlive the datasets opened on them (one CLI run)


@dataclass(frozen=True)
class Source:
    """One band of one file placed on the mosaic (same CRS as the mosaic)."""

    path: str
    band: int
    transform: Affine
    width: int
    height: int
    nodata: float | None = None


@dataclass
class Band:
    description: str
    sources: list[Source]
    tags: dict[str, str] = field(default_factory=dict)


def mosaic_xml(crs_wkt: str, transform: Affine, width: int, height: int, bands: list[Band],
               resampling: str = "bilinear") -> str:
    """VRT XML: float32 bands, NaN no data, each a mosaic of its sources (the first valid pixel wins)."""
    parts = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{escape(crs_wkt)}</SRS>'
             f"<GeoTransform>{transform.c!r}, {transform.a!r}, {transform.b!r}, {transform.f!r}, "
             f"{transform.d!r}, {transform.e!r}</GeoTransform>"]
    for number, band in enumerate(bands, start=1):
        metadata = "".join(f'<MDI key="{escape(k)}">{escape(str(v))}</MDI>' for k, v in band.tags.items())
        # VRT draws sources in order, later ones on top: list them reversed so the first valid one wins
        sources = "".join(_source_xml(s, transform, resampling) for s in reversed(band.sources))
        parts.append(f'<VRTRasterBand dataType="Float32" band="{number}"><NoDataValue>nan</NoDataValue>'
                     f"<Description>{escape(band.description)}</Description><Metadata>{metadata}</Metadata>"
                     f"{sources}</VRTRasterBand>")
    return "".join(parts) + "</VRTDataset>"


def _source_xml(source: Source, target: Affine, resampling: str) -> str:
    """A ComplexSource placing ``source`` on the target grid (scaled when the pixel sizes differ)."""
    col, row = ~target * (source.transform.c, source.transform.f)
    scale_x = source.transform.a / target.a
    scale_y = source.transform.e / target.e
    nodata = "" if source.nodata is None or math.isnan(source.nodata) else f"<NODATA>{source.nodata!r}</NODATA>"
    return (f'<ComplexSource resampling="{resampling}"><SourceFilename relativeToVRT="0">{escape(source.path)}'
            f"</SourceFilename><SourceBand>{source.band}</SourceBand>"
            f'<SrcRect xOff="0" yOff="0" xSize="{source.width}" ySize="{source.height}"/>'
            f'<DstRect xOff="{col!r}" yOff="{row!r}" xSize="{source.width * scale_x!r}" '
            f'ySize="{source.height * scale_y!r}"/>{nodata}</ComplexSource>')


def memory_vrt(xml: str, name: str) -> str:
    """Put ``xml`` into GDAL's memory file system; returns a path that reads like a file named ``name``."""
    from rasterio.io import MemoryFile

    memory = MemoryFile(xml.encode(), filename=name)
    _KEEP_ALIVE.append(memory)
    return memory.name
