"""Model input read window by window: each polarization composited onto the model's steps.

It is what every tiled run (``map``, its Dask workers, fine-tuning patches, the seasons' multi-window
engine) reads, so it sits with the compositing rather than with any one of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from backend.errors import UserError
from backend.raster.threads import map_each, threads_allowed
from backend.timeseries.compositing import composite_series


def separate_files(reader: Any, pols: list[str]) -> bool:
    """True when no file holds bands of two of ``pols``, so each polarization can be read on its own thread.

    A rasterio dataset must not be used by two threads at once; VV and VH in their own files (layouts a and
    b) never share one, an interleaved stack (layout c) always does.
    """
    files = getattr(reader, "files", None)
    if not files or len(pols) < 2:
        return False
    seen: set[str] = set()
    for pol in pols:
        paths = set(files.get(pol, ()))
        if paths & seen:
            return False
        seen |= paths
    return True


class SeriesSource:
    """Model input for a window: each polarization composited onto the model's steps, stacked (T, C, h, w).

    VV and VH in separate files are read and composited on two threads at once (GDAL's decoding and NumPy's
    compositing release the GIL), with identical results; both raw windows are in memory at once (a few MB).
    Reading a 1024² scene's 16 tiles alone took 1.58-1.75 s instead of 1.73-2.18 s; between model calls, with
    ONNX Runtime's threads no longer spinning there, 1.54-1.66 s instead of 1.78-1.95 s
    (``python -m backend.experiments.read_check``; docs/mapping.md, "Issue 15, fifth pass"). Only when more than one thread is allowed (:func:`~backend.raster.threads.threads_allowed`); ``parallel``
    turns it off.
    """

    def __init__(self, reader: Any, pols: list[str], season: tuple[dt.date, dt.date], steps: int,
                 as_of: dt.date | None) -> None:
        self.reader, self.pols, self.season, self.steps, self.as_of = reader, pols, season, steps, as_of
        self.height, self.width = reader.grid.height, reader.grid.width
        self.parallel = separate_files(reader, pols) and threads_allowed()

    def read(self, window: Any, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The (T, C, h, w) cube of ``window`` (a :class:`backend.tiles.tiling.Window`) and where it is valid.

        Each polarization's composite is written into its channel of ``out`` (allocated when None) by the
        thread that made it.
        """
        from rasterio.windows import Window as RioWindow

        rio_window = RioWindow(window.col_off, window.row_off, window.width, window.height)
        if out is None:
            out = np.empty((self.steps, len(self.pols), window.height, window.width), np.float32)

        def one(channel: int) -> np.ndarray:
            cube, count = composite_series(self.reader, self.pols[channel], *self.season, self.steps,
                                           window=rio_window, as_of=self.as_of)
            out[:, channel] = cube
            return count > 0

        return out, np.logical_and.reduce(map_each(one, range(len(self.pols)), self.parallel))


def check_dates_match(reader: Any, pols: list[str]) -> None:
    """The model's polarizations must share acquisition dates (one series, not two)."""
    if len(pols) < 2:
        return
    first = pols[0]
    for pol in pols[1:]:
        if reader.dates[pol] != reader.dates[first]:
            only_a = sorted(set(reader.dates[first]) - set(reader.dates[pol]))
            only_b = sorted(set(reader.dates[pol]) - set(reader.dates[first]))
            counts = len(reader.dates[first]), len(reader.dates[pol])
            what = (f"{first} has {counts[0]} bands but {pol} has {counts[1]}, so their dates differ" if
                    counts[0] != counts[1] else f"{first} and {pol} have different dates")
            raise UserError(f"{what} (only {first}: {', '.join(map(str, only_a[:4])) or 'none'}; only {pol}: "
                            f"{', '.join(map(str, only_b[:4])) or 'none'}); this model reads both "
                            "polarizations of the same acquisitions: give one band per date in each")
