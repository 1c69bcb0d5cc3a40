"""The input series named by a verb's series options (``backend.contract.shared.SERIES_OPTIONS``).

A verb whose contract includes those options calls :func:`series_from_args` in ``run``; positional PATHs
are detected (:func:`~backend.raster.detect`), ``vv``/``vh``/``stack`` are taken as given
(:func:`~backend.raster.open_series`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Sequence

from backend.errors import UserError
from backend.raster.names import parse_dates_option
from backend.raster.series import detect, open_series  # rasterio only when a verb runs

if TYPE_CHECKING:
    from backend.raster.series import SeriesReader


def series_from_args(args: argparse.Namespace, require: Sequence[str] = ()) -> SeriesReader:
    """Open the series named on the command line; PATHs and --vv/--vh/--stack exclude each other."""
    dates = parse_dates_option(args.dates) if getattr(args, "dates", None) else None
    paths = getattr(args, "paths", None) or []
    if paths and (args.vv or args.vh or args.stack):
        raise UserError("give input files either as PATHs or with {param:vv}/{param:vh}/{param:stack}, not both", param="vv")
    if paths:
        return detect(paths, dates=dates, align=args.align, require=require)
    return open_series(vv=args.vv, vh=args.vh, stack=args.stack, dates=dates, align=args.align,
                       require=require)
