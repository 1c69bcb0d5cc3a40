"""The fetched series as ``info``/``map`` read it: ``S1_VV.tif`` and ``S1_VH.tif`` COGs, one band per date.

Bands are described ``VV_2022-04-03`` and carry ``date``/``polarization``/``units`` tags, values are
linear power (float32, NaN = no data, declared). Each stack is assembled from the cache files through a
VRT (no extra copy on disk) and written as a COG by rio-cogeo under a temporary name; all outputs appear
together on commit (:class:`backend.atomic.AtomicOutputs`).
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

from backend.atomic import AtomicOutputs
from backend.catalogue.download import Cache, Grid
from backend.catalogue.grouping import Acquisition
from backend.contract.verbs.fetch import RECORD_FILE, SERIES_FILES


def stack_vrt(cache: Cache, acquisitions: list[Acquisition], pol: str, grid: Grid) -> Path:
    """A VRT that stacks the cache files of ``pol``, one band per acquisition, with dates in descriptions."""
    from rasterio.crs import CRS

    bands = []
    for number, acquisition in enumerate(acquisitions, start=1):
        source = cache.path(acquisition.key, pol)
        bands.append(
            f'<VRTRasterBand dataType="Float32" band="{number}"><NoDataValue>nan</NoDataValue>'
            f"<Description>{pol}_{acquisition.date.isoformat()}</Description>"
            f'<Metadata><MDI key="date">{acquisition.date.isoformat()}</MDI><MDI key="polarization">{pol}</MDI>'
            f'<MDI key="units">linear</MDI><MDI key="orbit">{acquisition.orbit}</MDI></Metadata>'
            f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(source))}</SourceFilename>'
            f"<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>")
    t = grid.transform()
    srs = escape(CRS.from_user_input(grid.crs).to_wkt())
    xml = (f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}"><SRS>{srs}</SRS>'
           f"<GeoTransform>{t.c}, {t.a}, {t.b}, {t.f}, {t.d}, {t.e}</GeoTransform>{''.join(bands)}</VRTDataset>")
    path = cache.folder / f"{pol}.vrt"
    path.write_text(xml)
    return path


def write_cog(vrt: Path, target: Path) -> None:
    """``vrt`` as a deflate COG at ``target`` (band descriptions and tags kept)."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    profile = {**cog_profiles.get("deflate"), "predictor": 3, "BIGTIFF": "IF_SAFER"}
    cog_translate(str(vrt), str(target), profile, quiet=True, in_memory=False, overview_resampling="average",
                  additional_cog_metadata=None)


def publish(out_dir: Path, overwrite: bool, cache: Cache, acquisitions: list[Acquisition], pols: list[str],
            grid: Grid, record: dict) -> list[str]:
    """Write the ``S1_<POL>.tif`` stacks and ``fetch.json`` atomically; returns the final file names."""
    with AtomicOutputs(out_dir, overwrite) as outputs:
        for pol in pols:
            write_cog(stack_vrt(cache, acquisitions, pol, grid), outputs.path(SERIES_FILES[pol]))
        outputs.path(RECORD_FILE).write_text(json.dumps(record, indent=2, default=str))
        done = outputs.commit()
    return [p.name for p in done]
