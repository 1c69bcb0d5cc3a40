"""Opening one raster file and learning what its bands hold (polarization, date, unit, valid data)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from backend.errors import UserError
from backend.raster import exports, names, units

SAMPLE_SIZE = 64
_GRID = 4
_PATCH = SAMPLE_SIZE // _GRID


@dataclass(frozen=True)
class BandRef:
    """One acquisition of one polarization: which band of which file."""

    path: str
    band: int  # 1-based, as in GDAL
    pol: str
    date: dt.date | None
    description: str


def open_raster(path: str) -> DatasetReader:
    """Open ``path`` for reading or stop with a message saying what is wrong with it."""
    file = Path(path)
    # GDAL virtual file systems (/vsizip/ inside a zip product, /vsicurl/, /vsis3/) and URLs: GDAL checks them
    remote = path.startswith("/vsi") or "://" in path
    if not path.strip():
        raise UserError("an input file name is empty; give the path of a GeoTIFF to {param:vv} and {param:vh} "
                        "(or {param:stack})")
    if not remote and not file.exists():
        raise UserError(f"{path}: file not found; check the path (and that the disk is mounted)")
    if not remote and file.is_dir():
        raise UserError(f"{path}: is a folder, not a raster; give the GeoTIFF files inside it")
    try:
        dataset = rasterio.open(path)
    except RasterioIOError as exc:
        raise UserError(f"{path}: not a readable raster ({exc}); give a GeoTIFF or another GDAL raster") from exc
    if dataset.count == 0 or dataset.width == 0 or dataset.height == 0:
        dataset.close()
        raise UserError(f"{path}: the raster is empty (no bands or no pixels); re-export it")
    if any(np.dtype(t).kind == "c" for t in dataset.dtypes):
        dataset.close()
        raise UserError(f"{path}: holds complex values (single-look complex data?); give calibrated backscatter "
                        "intensity (sigma0 or gamma0, linear power or dB), e.g. a GRD or RTC product")
    return dataset


def band_label(dataset: DatasetReader, band: int) -> str:
    """Description of a band, for messages and for finding pol and date."""
    return dataset.descriptions[band - 1] or ""


def band_polarization(dataset: DatasetReader, band: int) -> str | None:
    """Polarization written in a band's description or metadata tags."""
    return (names.find_polarization(band_label(dataset, band))
            or names.polarization_from_tags(dataset.tags(band)))


def band_date(dataset: DatasetReader, band: int, path: str) -> dt.date | None:
    """Date from the band description, its tags, or (single-band files) the file name."""
    found = names.find_date(band_label(dataset, band)) or names.date_from_tags(dataset.tags(band))
    if found is None and _one_date_per_file(dataset):
        found = (names.date_from_filename(path) or names.date_from_tags(dataset.tags())
                 or exports.dimap_date(path))
    return found


def _one_date_per_file(dataset: DatasetReader) -> bool:
    """One band, or one band per polarization (openEO writes one VV+VH file per date)."""
    pols = [band_polarization(dataset, b) for b in range(1, dataset.count + 1)]
    return dataset.count == 1 or (None not in pols and len(set(pols)) == dataset.count)


def file_polarization(dataset: DatasetReader, path: str) -> str | None:
    """The single polarization a whole file holds: from its bands if they agree, else its name."""
    band_pols = {band_polarization(dataset, b) for b in range(1, dataset.count + 1)}
    band_pols.discard(None)
    if len(band_pols) == 1:
        return band_pols.pop()
    if len(band_pols) > 1:
        return None
    return names.polarization_from_filename(path) or names.polarization_from_tags(dataset.tags())


def sample_windows(height: int, width: int) -> list[Window]:
    """A 4x4 grid of small windows spread over the raster (the whole raster when it is small).

    Small windows touch few tiles/strips, so opening a large series stays cheap, unlike a
    decimated read, which touches every block.
    """
    if height * width <= SAMPLE_SIZE ** 2:
        return [Window(0, 0, width, height)]
    side_h, side_w = min(_PATCH, height), min(_PATCH, width)
    rows = np.linspace(0, height - side_h, _GRID).astype(int)
    cols = np.linspace(0, width - side_w, _GRID).astype(int)
    return [Window(int(c), int(r), side_w, side_h) for r in rows for c in cols]


_NODATA_MASKS = {MaskFlags.all_valid, MaskFlags.nodata}


def read_with_nan(reader: Any, bands: list[int], window: Window | None, dtype: Any = np.float32,
                  out: np.ndarray | None = None) -> np.ndarray:
    """(bands, h, w) values as ``dtype`` with NaN at masked pixels: ``read(masked=True)`` filled with NaN.

    When the bands' masks come only from their nodata value (the usual case), the plain read is compared
    with it instead: a masked read also reads a mask band and builds a masked array, about 5x the cost of
    the read itself for a strip of a cached file.

    Args:
        reader: an open rasterio dataset or WarpedVRT.
        bands: 1-based band indexes.
        window: the window to read (None: the whole raster).
        dtype: a floating dtype for the result.
        out: optional (bands, h, w) array of ``dtype`` to read into (used when it fits the fast path).

    Returns:
        The values, ``out`` itself when given.
    """
    flags = reader.mask_flag_enums
    if not all(set(flags[b - 1]) <= _NODATA_MASKS for b in bands):  # a mask band or alpha: let GDAL apply it
        values = np.ma.filled(reader.read(bands, window=window, masked=True).astype(dtype), np.nan)
        if out is None:
            return values
        out[...] = values
        return out
    native = np.dtype(reader.dtypes[bands[0] - 1])
    same_type = native == np.dtype(dtype) and all(np.dtype(reader.dtypes[b - 1]) == native for b in bands)
    data = reader.read(bands, window=window, out=out if same_type else None)
    values = data if same_type else data.astype(dtype)
    if out is not None and values is not out:
        out[...] = values
        values = out
    for k, band in enumerate(bands):
        nodata = reader.nodatavals[band - 1]
        if nodata is not None and not math.isnan(nodata):  # a NaN nodata is already NaN
            values[k][data[k] == nodata] = np.nan
    return values


def sample_band(dataset: DatasetReader, band: int) -> np.ndarray:
    """Valid values (finite, not nodata) of :func:`sample_windows`, as float64."""
    return sample_bands(dataset, [band])[0]


def sample_bands(dataset: DatasetReader, bands: list[int]) -> list[np.ndarray]:
    """:func:`sample_band` of each of ``bands``, reading each sample window once for all of them."""
    if not bands:
        return []
    parts = [read_with_nan(dataset, bands, w, np.float64).reshape(len(bands), -1)
             for w in sample_windows(dataset.height, dataset.width)]
    values = np.concatenate(parts, axis=1)
    return [row[np.isfinite(row)] for row in values]


#: Pixels :func:`scan_valid_values` reads at most: an all-nodata 200000² file must not be read whole to say so.
MAX_SCAN_PIXELS = 2 ** 26


def scan_valid_values(dataset: DatasetReader, band: int, enough: int = SAMPLE_SIZE ** 2) -> np.ndarray:
    """Valid values found block by block until ``enough`` (or :data:`MAX_SCAN_PIXELS` were read); for
    sparse data the sample windows missed."""
    found: list[np.ndarray] = []
    total = scanned = 0
    for _, window in dataset.block_windows(band):
        scanned += window.width * window.height
        if scanned > MAX_SCAN_PIXELS:
            break
        values = np.ma.compressed(dataset.read(band, window=window, masked=True)).astype(np.float64)
        values = values[np.isfinite(values)]
        found.append(values)
        total += values.size
        if total >= enough:
            break
    return np.concatenate(found) if found else np.empty(0)


def file_unit(dataset: DatasetReader, path: str, samples: list[np.ndarray]) -> tuple[str, float, str | None]:
    """Unit of a file, the sampled fraction of exact zeros, and a note when the values overrule its metadata.

    The unit declared on the bands is checked against the values (:func:`units.reconcile`); undeclared
    units are guessed. Exact zeros are left out: they are usually undeclared fill around the swath, and
    a dB scene with much zero fill would otherwise look like linear power.
    """
    pooled = np.concatenate(samples) if samples else np.empty(0)
    zeros = pooled == 0
    zero_fraction = float(zeros.mean()) if pooled.size else 0.0
    declared = {units.declared_unit(u) for u in dataset.units}
    declared.discard(None)
    informative = pooled[~zeros] if (~zeros).any() else pooled
    # a unit in the export's own naming scheme counts as declared, and is checked against the values like one
    stated = declared.pop() if len(declared) == 1 else exports.unit_from_name(
        path, [band_label(dataset, b) for b in range(1, dataset.count + 1)])
    unit, note = units.reconcile(stated, informative, Path(path).name)
    return unit, zero_fraction, note


def nodata_label(value: float | None) -> float | str | None:
    """Nodata as JSON can carry it (NaN is not valid JSON)."""
    if value is not None and math.isnan(value):
        return "nan"
    return value
