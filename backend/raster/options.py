"""Command-line options for the input series, shared by every verb that reads Sentinel-1 data.

A verb calls :func:`add_series_arguments` in its ``add_arguments`` and :func:`series_from_args` in
``run``; positional PATHs are detected (:func:`~backend.raster.detect`), ``--vv/--vh/--stack`` are
taken as given (:func:`~backend.raster.open_series`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Sequence

from backend.errors import UserError

from backend.raster.names import parse_dates_option

if TYPE_CHECKING:
    from backend.raster.series import SeriesReader


def add_series_arguments(parser: argparse.ArgumentParser, positional: bool = False) -> None:
    """Add ``--vv``, ``--vh``, ``--stack``, ``--dates``, ``--align`` (and optional PATHs)."""
    if positional:
        parser.add_argument("paths", nargs="*", metavar="PATH",
                            help="raster files; their layout and polarization are detected")
    group = parser.add_argument_group("input series")
    group.add_argument("--vv", nargs="+", metavar="FILE",
                       help="VV: one multi-band file (one band per date) or one file per date")
    group.add_argument("--vh", nargs="+", metavar="FILE",
                       help="VH: one multi-band file (one band per date) or one file per date")
    group.add_argument("--stack", metavar="FILE",
                       help="one interleaved stack with band descriptions like VV_20220109, VH_20220109")
    group.add_argument("--dates", metavar="FILE|DATES",
                       help="acquisition dates when the files carry none: a file with one date per line or "
                            "a comma-separated list, one per band of each polarization, in band order")
    group.add_argument("--align", action="store_true",
                       help="resample layers whose grid differs onto the first layer's grid (bilinear)")


def series_from_args(args: argparse.Namespace, require: Sequence[str] = ()) -> "SeriesReader":
    """Open the series named on the command line; PATHs and --vv/--vh/--stack exclude each other."""
    from backend.raster.series import detect, open_series  # rasterio only when a verb runs

    dates = parse_dates_option(args.dates) if getattr(args, "dates", None) else None
    paths = getattr(args, "paths", None) or []
    if paths and (args.vv or args.vh or args.stack):
        raise UserError("give input files either as PATHs or with --vv/--vh/--stack, not both")
    if paths:
        return detect(paths, dates=dates, align=args.align, require=require)
    return open_series(vv=args.vv, vh=args.vh, stack=args.stack, dates=dates, align=args.align,
                       require=require)
