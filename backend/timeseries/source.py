"""Model input read window by window: each polarization composited onto the model's steps.

It is what every tiled run (``map``, its Dask workers, fine-tuning patches, the seasons' multi-window
engine) reads, so it sits with the compositing rather than with any one of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from backend.errors import UserError
from backend.timeseries.compositing import composite_series


class SeriesSource:
    """Model input for a window: each polarization composited onto the model's steps, stacked (T, C, h, w)."""

    def __init__(self, reader: Any, pols: list[str], season: tuple[dt.date, dt.date], steps: int,
                 as_of: dt.date | None) -> None:
        self.reader, self.pols, self.season, self.steps, self.as_of = reader, pols, season, steps, as_of
        self.height, self.width = reader.grid.height, reader.grid.width

    def read(self, window: Any) -> tuple[np.ndarray, np.ndarray]:
        """The (T, C, h, w) cube of ``window`` (a :class:`backend.tiles.tiling.Window`) and where it is valid."""
        from rasterio.windows import Window as RioWindow

        rio_window = RioWindow(window.col_off, window.row_off, window.width, window.height)
        cubes, counts = [], []
        for pol in self.pols:
            cube, count = composite_series(self.reader, pol, *self.season, self.steps, window=rio_window,
                                           as_of=self.as_of)
            cubes.append(cube)
            counts.append(count > 0)
        return np.stack(cubes, axis=1), np.logical_and.reduce(counts)


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
