"""Mapping straight from a catalogue: a ``fetch.json`` read as a VV/VH series of remote COG windows.

``fetch --catalogue-only`` writes ``fetch.json`` (items, grouping, grid) without downloading. Given to
``info``/``map`` in place of rasters (``--vv fetch.json --vh fetch.json``), each polarization becomes an
in-memory VRT on the fetch grid: one band per date, each band the mosaic of that date's items
(``/vsicurl/`` COGs; the first valid pixel wins). The reader then reads only the windows the tiles need,
through GDAL's HTTP range requests, under the same memory bound as local files. Planetary Computer assets
are signed when the series is opened; a bearer token (``S1RM_STAC_TOKEN``) is passed to GDAL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from affine import Affine
from rasterio.crs import CRS
from rasterio.transform import from_origin

from backend.errors import UserError
from backend.raster import vrt

TOKEN_ENV = "S1RM_STAC_TOKEN"  # bearer token for private catalogues (sent to the API and the asset hosts)


def token_headers() -> dict[str, str]:
    """``Authorization`` header from :data:`TOKEN_ENV`, when set."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


RECORD_KEYS = ("query", "grid", "grouping", "items")


def is_fetch_record(path: str) -> bool:
    """True for a ``fetch.json`` written by ``fetch`` (a JSON file with its keys)."""
    file = Path(path)
    if file.suffix.lower() != ".json" or not file.is_file():
        return False
    try:
        record = json.loads(file.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and all(k in record for k in RECORD_KEYS)


def series_from_record(path: str, pols: tuple[str, ...] = ("VV", "VH")) -> list[str]:
    """One in-memory VRT per polarization of ``pols`` found in the record.

    Raises:
        UserError: items in another CRS than the grid, or without the position (``proj:*``) of their assets.
    """
    record = json.loads(Path(path).read_text())
    grid = record["grid"]
    crs = CRS.from_user_input(grid["crs"])
    transform = from_origin(grid["bounds"][0], grid["bounds"][3], grid["pixel_size"], grid["pixel_size"])
    items = {item["id"]: item for item in record["items"]}
    sign = _signer(record.get("preset"))
    _pass_token()
    paths = []
    for pol in pols:
        if pol not in record["assets"]:
            continue
        bands = [vrt.Band(f"{pol}_{group['date']}",
                          [_source(items[i], pol, crs, path, sign) for i in group["items"]],
                          {"date": group["date"], "polarization": pol, "units": "linear"})
                 for group in record["grouping"]["dates"]]
        xml = vrt.mosaic_xml(crs.to_wkt(), transform, grid["width"], grid["height"], bands)
        paths.append(vrt.memory_vrt(xml, f"{pol}.vrt"))
    return paths


def _source(item: dict, pol: str, crs: CRS, record_path: str, sign) -> vrt.Source:
    proj = item.get("proj") or {}
    if not proj.get("transform") or not proj.get("shape"):
        raise UserError(f"{record_path}: item {item['id']} has no proj:transform/proj:shape, so its windows cannot "
                        "be placed; map the files `fetch` writes instead (run fetch without the catalogue-only "
                        "option)")
    if proj.get("epsg") and CRS.from_epsg(proj["epsg"]) != crs:
        raise UserError(f"{record_path}: item {item['id']} is in EPSG:{proj['epsg']} but the grid is {crs}; "
                        "mapping straight from the catalogue needs one CRS: run fetch without the catalogue-only "
                        "option (it reprojects), or again with the output CRS EPSG:{0}".format(proj["epsg"]))
    height, width = proj["shape"]
    href = sign(item["assets"][pol])
    return vrt.Source(f"/vsicurl/{href}", 1, Affine(*proj["transform"][:6]), width, height,
                      item.get("nodata", {}).get(pol))


def _signer(preset: str | None):
    if preset != "planetary-computer":
        return lambda href: href
    import planetary_computer

    return planetary_computer.sign


def _pass_token() -> None:
    header = token_headers().get("Authorization")
    if header:
        os.environ["GDAL_HTTP_HEADERS"] = f"Authorization: {header}"  # GDAL reads config from the environment
    os.environ.setdefault("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
