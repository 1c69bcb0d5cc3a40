"""``seasons``: rice crop cycles found from the data, cropping intensity and transplanting dates."""

from __future__ import annotations

import argparse

from backend.commands._args import season_value
from backend.errors import UserError
from backend.progress import Reporter


def check(args: argparse.Namespace, reporter: Reporter) -> dict:
    """``--check-only``: the model, the series and whether it is long enough to show a crop cycle."""
    from backend.inference.loader import check_model  # lazy: keeps --help free of numpy
    from backend.raster.options import series_from_args  # lazy: keeps --help free of rasterio
    from backend.raster.plausibility import check_series  # lazy: keeps --help free of numpy
    from backend.seasons.scan import check_length, series_dates  # lazy: keeps --help free of numpy

    model = check_model(args.model, args.engine, args.device)
    with series_from_args(args, require=model.pols) as reader:
        check_series(reader)
        dates = series_dates(reader)
        check_length(dates)
        return {"model": model.name, "series": [dates[0].isoformat(), dates[-1].isoformat()], "n_dates": len(dates)}


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.inference.loader import load_model  # lazy: keeps --help free of numpy
    from backend.raster.options import series_from_args  # lazy: keeps --help free of rasterio
    from backend.raster.plausibility import check_series  # lazy: keeps --help free of numpy
    from backend.seasons.outputs import run_seasons  # lazy: keeps --help free of numpy

    if not args.out:
        raise UserError("{param:out} is required: the folder for the cropping intensity, the per-cycle rasters and "
                        "the seasons report", param="out")
    period = season_value(args.period)
    model = load_model(args.model, args.engine, args.device, args.threads, heatmap=False)
    with series_from_args(args, require=model.pols) as reader:
        for warning in check_series(reader):
            reporter.log(f"warning: {warning['message']}")
        result = run_seasons(reader, model, args.out, args.overwrite, period, reporter)
    for note in result["notes"]:
        reporter.log(f"note: {note}")
    return result
