"""``info``: what a Sentinel-1 series holds (layout, polarizations, dates, units, grid, problems)."""

from __future__ import annotations

import argparse

from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.raster.options import series_from_args

    with series_from_args(args) as series:
        return series.info()
