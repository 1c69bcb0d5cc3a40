"""GeoTIFF output written row strip by row strip: internally tiled 256x256, DEFLATE, with overviews.

Rows arrive in strips of arbitrary height; :class:`StripWriter` buffers them up to whole rows of
256-pixel blocks before writing, so GDAL never has to re-compress a half-filled block and memory stays
at one block row per raster whatever the scene size.
"""

from __future__ import annotations

import errno
import math
from pathlib import Path
from typing import Any

import numpy as np

from backend.errors import UserError

BLOCK = 256
#: GDAL block cache for a whole run: enough for one row of 256-px blocks of a 13-date VV+VH series
#: 10 000 px wide (40 blocks x 26 bands x 256 KB), so overlapping tiles rarely re-read a block.
GDAL_CACHE_BYTES = 256 * 2**20


def creation_profile(grid: Any, dtype: str, nodata: float) -> dict:
    """rasterio profile for one band on ``grid`` (an object with crs, transform, width, height)."""
    return {
        "driver": "GTiff", "width": grid.width, "height": grid.height, "count": 1, "dtype": dtype,
        "crs": grid.crs, "transform": grid.transform, "nodata": nodata,
        "tiled": True, "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate",
        "predictor": 3 if dtype.startswith("float") else 2, "BIGTIFF": "IF_SAFER",
    }


def overview_factors(width: int, height: int) -> list[int]:
    """Power-of-two overview levels down to about one block (at least one level, so QGIS never lacks one)."""
    factors = [2]
    while math.ceil(max(width, height) / (factors[-1] * 2)) >= BLOCK // 2:
        factors.append(factors[-1] * 2)
    return factors


def _storage_is_short(path: str | Path) -> bool:
    """True when the folder has little free space left or a file-size limit is in force."""
    import resource
    import shutil

    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 0
    return free < 64 * 2**20 or resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY


def disk_full_error(path: str | Path, exc: BaseException) -> UserError | None:
    """A UserError for a full disk (or file-size limit), or None when ``exc`` is something else.

    GDAL reports a failed write without the system's errno, so a write failure counts as "disk full"
    when the output folder is short of space at that moment.
    """
    codes = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
    text = str(exc).lower() + " " + str(exc.__cause__ or "").lower()
    full = getattr(exc, "errno", None) in codes or "no space left" in text or "file too large" in text
    if full or (("write failed" in text or "write error" in text) and _storage_is_short(path)):
        return UserError(f"could not write to {path}: the disk is full (or a file-size limit was hit); "
                         "free some space or choose another {param:out} folder, then run again", param="out")
    return None


def read_back(path: Path) -> None:
    """Read every block of a written GeoTIFF once: libtiff reports some failed writes (a full disk, a
    file-size limit) only as messages, and the file must not reach its final name incomplete.

    Raises:
        OSError: The file cannot be read back completely (``disk_full_error`` turns it into a UserError).
    """
    import rasterio

    try:
        with rasterio.open(path) as dataset:
            for band in range(1, dataset.count + 1):
                dataset.checksum(band)
    except rasterio.errors.RasterioError as exc:
        raise OSError(errno.EIO, f"write failed: {path} cannot be read back ({exc})") from exc


class StripWriter:
    """Write consecutive row strips of one band; ``close()`` flushes and adds overviews."""

    def __init__(self, path: str | Path, grid: Any, dtype: str, nodata: float, resampling: str) -> None:
        import rasterio

        self.path, self.grid, self.dtype, self.resampling = Path(path), grid, dtype, resampling
        self._dataset = rasterio.open(self.path, "w", **creation_profile(grid, dtype, nodata))
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._next_row = 0

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (n, width) below what was written before."""
        self._pending.append(rows.astype(self.dtype, copy=False))
        self._pending_rows += rows.shape[0]
        if self._pending_rows >= BLOCK:
            self._flush(whole_blocks_only=True)

    def _flush(self, whole_blocks_only: bool) -> None:
        from rasterio.windows import Window

        if not self._pending_rows:
            return
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending, axis=0)
        n = data.shape[0] // BLOCK * BLOCK if whole_blocks_only else data.shape[0]
        if n:
            window = Window(0, self._next_row, self.grid.width, n)
            self._dataset.write(data[:n], 1, window=window)
            self._next_row += n
        rest = data[n:]
        self._pending = [rest] if rest.shape[0] else []
        self._pending_rows = rest.shape[0]

    def close(self) -> None:
        """Write the last rows, close the file, then build compressed internal overviews."""
        import rasterio
        from rasterio.enums import Resampling

        self._flush(whole_blocks_only=False)
        self._dataset.close()
        if self._next_row != self.grid.height:
            raise RuntimeError(f"{self.path}: wrote {self._next_row} of {self.grid.height} rows")
        with rasterio.Env(COMPRESS_OVERVIEW="DEFLATE", GDAL_TIFF_OVR_BLOCKSIZE=str(BLOCK)):
            with rasterio.open(self.path, "r+") as dataset:
                dataset.build_overviews(overview_factors(self.grid.width, self.grid.height),
                                        Resampling[self.resampling])
        read_back(self.path)

    def abort(self) -> None:
        if not self._dataset.closed:
            self._dataset.close()
