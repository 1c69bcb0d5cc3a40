"""The files analysts already export: Earth Engine, ASF HyP3 RTC, OPERA RTC-S1, SNAP, openEO / Sentinel Hub.

Most of them the general reader handles through names alone (dates and ``VV``/``VH`` anywhere in a band
description, tag or file name, see :mod:`backend.raster.names`). This module adds what is specific to a
product (docs/catalogues.md cites where each scheme is documented):

* products given as a **zip or folder** (HyP3 RTC, OPERA RTC-S1 granules, BEAM-DIMAP ``.dim``/``.data``)
  are expanded into their VV/VH rasters (:func:`expand_inputs`); the other layers (DEM, layover mask,
  incidence angle, RGB preview) are left out;
* the **unit a name declares**: HyP3's scale letter (power, decibel, amplitude), SNAP's ``_db`` suffix;
* BEAM-DIMAP bands without a date (``Gamma0_VH.img``) take the product's start time from the ``.dim``;
* auxiliary bands of an Earth Engine ``toBands()`` stack (``..._angle``) are not backscatter;
* :data:`SCHEMES` and :func:`schemes_hint` list what is supported when no date is found.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from affine import Affine

from backend.raster import names, vrt

AMPLITUDE = "amplitude"


@dataclass(frozen=True)
class Scheme:
    """One naming scheme: who writes it and an example of the name the date is taken from."""

    source: str
    example: str


SCHEMES = (
    Scheme("plain dates", "VH_2022-01-04.tif, VH_20220104, S1_VV_2022_01_04.tif"),
    Scheme("ESA product names / Earth Engine COPERNICUS/S1_GRD toBands()",
           "S1A_IW_GRDH_1SDV_20220104T224606_20220104T224631_041286_04E8C2_5F0A_VV (values in dB)"),
    Scheme("ASF HyP3 RTC (zip or folder)", "S1A_IW_20220104T224606_DVP_RTC10_G_gpuned_5F0A_VV.tif"),
    Scheme("OPERA RTC-S1", "OPERA_L2_RTC-S1_T069-147170-IW1_20220104T224606Z_20220105T101010Z_S1A_30_v1.0_VV.tif"),
    Scheme("SNAP GeoTIFF / BEAM-DIMAP band names", "Sigma0_VV_db_04Jan2022, Gamma0_VH_slv1_16Jan2022; undated "
           "Gamma0_VH.img takes PRODUCT_SCENE_RASTER_START_TIME from its .dim"),
    Scheme("openEO / Sentinel Hub", "openEO_2022-01-04Z.tif with bands VV, VH; or a band tag such as "
           "DATETIME=2022-01-04T22:46:06Z"),
)

_POL_FILE = re.compile(r"[_-](VV|VH)$", re.IGNORECASE)  # HyP3 / OPERA: ..._VV.tif
_SNAP_BAND = re.compile(r"^(Sigma0|Gamma0|Beta0)_(VV|VH)(?![A-Za-z])", re.IGNORECASE)
# HyP3 RTC: S1x_yy_aaaaaaaaTbbbbbb_ppo_RTCzz_u_defklm_ssss (d: gamma0/sigma0, e: power/decibel/amplitude)
_HYP3 = re.compile(r"S1[A-D]_[A-Z0-9]{2}_\d{8}T\d{6}_[DS][VH][PRO]_RTC\d+_[GS]_[gs]([pda])[a-z]{4}_[0-9A-F]{4}")
_HYP3_SCALE = {"p": "linear", "d": "dB", "a": AMPLITUDE}
_AUXILIARY = re.compile(r"(^|_)(angle|incidence|inc_map|ls_map|mask|area|dem|rgb)$", re.IGNORECASE)
_DIMAP_START = re.compile(r"<PRODUCT_SCENE_RASTER_START_TIME>\s*([^<]+?)\s*</PRODUCT_SCENE_RASTER_START_TIME>")
_RASTER_SUFFIXES = (".tif", ".tiff", ".img")
_EE_TILE = re.compile(r"^(?P<prefix>.+)-\d{10}-\d{10}$")  # Earth Engine splits big exports into tiles
_DATE_LIKE = re.compile(r"\d{1,4}[-_./]\d{1,2}[-_./]\d{1,4}|\d{1,2}[-_]?[A-Za-z]{3}[-_]?\d{2,4}|(?<!\d)\d{6,8}(?!\d)")


def expand_inputs(paths: list[str], pol: str | None = None) -> list[str]:
    """Zips, folders and ``.dim`` products replaced by their VV/VH rasters (only ``pol``'s when given).

    Plain raster paths pass unchanged, so the reader's own messages still name what the user gave.
    """
    expanded: list[str] = []
    for path in paths:
        file = Path(path)
        if file.suffix.lower() == ".json":  # a fetch.json: stream the catalogue's COGs (docs/catalogues.md)
            expanded += _fetch_record(path, pol)
            continue
        if file.suffix.lower() == ".zip" and file.is_file():
            found = _zip_members(file)
        elif file.suffix.lower() == ".dim" and file.is_file():
            found = _dimap_bands(file.with_suffix(".data"))
        elif file.is_dir():
            found = _folder_rasters(file)
        else:
            expanded.append(path)
            continue
        if pol:
            found = [p for p in found if names.find_polarization(_band_name(p)) == pol]
        expanded += found or [path]  # nothing found: the reader says what is wrong with the path
    return _mosaic_ee_tiles(expanded)


def _fetch_record(path: str, pol: str | None) -> list[str]:
    from backend.raster.streaming import (  # lazy: rasterio (via backend.raster.streaming)
        is_fetch_record,
        series_from_record,
    )

    if not is_fetch_record(path):
        return [path]  # the reader says it is not a raster
    return series_from_record(path, (pol,) if pol else ("VV", "VH"))


def _mosaic_ee_tiles(paths: list[str]) -> list[str]:
    """Earth Engine's ``<name>-0000000000-0000023296.tif`` tiles of one export become one mosaic (a VRT).

    Other paths pass unchanged and in order (a path given twice stays twice, for the reader to refuse).
    """
    tiles: dict[str, list[str]] = {}
    for path in paths:
        match = _EE_TILE.match(Path(path).stem)
        if match:
            tiles.setdefault(match.group("prefix"), []).append(path)
    result, done = [], set()
    for path in paths:
        match = _EE_TILE.match(Path(path).stem)
        group = tiles.get(match.group("prefix"), []) if match else []
        if len(group) < 2:
            result.append(path)
        elif match.group("prefix") not in done:
            done.add(match.group("prefix"))
            result.append(_ee_mosaic(match.group("prefix"), group))
    return result


def _ee_mosaic(prefix: str, tiles: list[str]) -> str:
    import rasterio

    with rasterio.open(tiles[0]) as first:
        crs, count, descriptions = first.crs, first.count, first.descriptions
        res_x, res_y = first.transform.a, first.transform.e
    sources, bounds = [], []
    for tile in sorted(tiles):
        with rasterio.open(tile) as dataset:
            sources.append((tile, dataset.transform, dataset.width, dataset.height, dataset.nodata))
            bounds.append(dataset.bounds)
    left, top = min(b.left for b in bounds), max(b.top for b in bounds)
    transform = Affine(res_x, 0, left, 0, res_y, top)
    width = round((max(b.right for b in bounds) - left) / res_x)
    height = round((min(b.bottom for b in bounds) - top) / res_y)
    bands = [vrt.Band(descriptions[b - 1] or "", [vrt.Source(path, b, t, w, h, nd) for path, t, w, h, nd in sources])
             for b in range(1, count + 1)]
    xml = vrt.mosaic_xml(crs.to_wkt(), transform, width, height, bands, resampling="nearest")
    return vrt.memory_vrt(xml, f"{Path(prefix).name}.vrt")


def _band_name(path: str) -> str:
    return Path(path).stem


def _is_backscatter_raster(name: str) -> bool:
    stem, suffix = Path(name).stem, Path(name).suffix.lower()
    return suffix in _RASTER_SUFFIXES and bool(_POL_FILE.search(stem) or _SNAP_BAND.match(stem))


def _zip_members(file: Path) -> list[str]:
    with zipfile.ZipFile(file) as archive:
        members = sorted(m for m in archive.namelist() if _is_backscatter_raster(m))
    return [f"/vsizip/{file.resolve()}/{member}" for member in members]


def _folder_rasters(folder: Path) -> list[str]:
    if folder.suffix.lower() == ".data":
        return _dimap_bands(folder)
    dims = sorted(folder.glob("*.dim"))
    if dims:
        return [p for dim in dims for p in _dimap_bands(dim.with_suffix(".data"))]
    return sorted(str(p) for p in folder.iterdir() if p.is_file() and _is_backscatter_raster(p.name))


def _dimap_bands(data_folder: Path) -> list[str]:
    if not data_folder.is_dir():
        return []
    return sorted(str(p) for p in data_folder.glob("*.img") if _SNAP_BAND.match(p.stem))


def unit_from_name(path: str, labels: list[str]) -> str | None:
    """The unit a product name declares: HyP3's scale letter, SNAP's ``_db`` band suffix; else None."""
    hyp3 = _HYP3.search(Path(path).name) or _HYP3.search(path)
    if hyp3:
        return _HYP3_SCALE[hyp3.group(1)]
    snap = [label for label in labels + [Path(path).stem] if _SNAP_BAND.match(label or "")]
    if snap:
        return "dB" if all(re.search(r"_db(?![A-Za-z])", s, re.IGNORECASE) for s in snap) else None
    return None


def dimap_date(path: str) -> dt.date | None:
    """Start date of the BEAM-DIMAP product a ``.data/*.img`` band belongs to (from its ``.dim``)."""
    file = Path(path)
    if file.parent.suffix.lower() != ".data":
        return None
    dim = file.parent.with_suffix(".dim")
    if not dim.is_file():
        return None
    match = _DIMAP_START.search(dim.read_text(errors="replace"))
    return names.find_date(match.group(1)) if match else None


def is_auxiliary_band(label: str) -> bool:
    """An Earth Engine ``..._angle`` band or another non-backscatter layer of an export."""
    return bool(label) and names.find_polarization(label) is None and bool(_AUXILIARY.search(label))


def schemes_hint(texts: list[str]) -> str:
    """What was found that looks like a date but matches no scheme, and the schemes supported."""
    candidates = sorted({m.group(0) for text in texts for m in _DATE_LIKE.finditer(text or "")})
    found = f"{', '.join(repr(c) for c in candidates)} matches none of the supported schemes; " if candidates else ""
    listed = "; ".join(f"{s.source}: {s.example}" for s in SCHEMES)
    return f"{found}supported: {listed}"
