"""``seasons``: rice crop cycles found from the data, cropping intensity and transplanting dates."""

from __future__ import annotations

import argparse
import datetime as dt

from backend.contract import cli_args
from backend.contract.verbs.seasons import VERB as CONTRACT
from backend.errors import UserError
from backend.progress import Reporter

HELP = CONTRACT.help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli_args.add_arguments(parser, CONTRACT)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.inference.loader import load_model
    from backend.raster.options import series_from_args
    from backend.seasons.outputs import run_seasons

    if not args.out:
        raise UserError("{param:out} is required: the folder for intensity.tif, the per-cycle rasters and "
                        "seasons.json", param="out")
    period = (dt.date.fromisoformat(args.period[0]), dt.date.fromisoformat(args.period[1])) if args.period else None
    model = load_model(args.model, args.engine, args.device, args.threads, heatmap=False)
    with series_from_args(args, require=model.pols) as reader:
        result = run_seasons(reader, model, args.out, args.overwrite, period, reporter)
    for note in result["notes"]:
        reporter.log(f"note: {note}")
    return result
