"""``fetch``: Sentinel-1 for an area and a season from a STAC API (see docs/catalogues.md)."""

from __future__ import annotations

import argparse
import datetime as dt

from backend.contract import cli_args, param_token
from backend.contract.verbs.fetch import VERB as CONTRACT
from backend.errors import UserError
from backend.progress import Reporter

HELP = CONTRACT.help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli_args.add_arguments(parser, CONTRACT)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.catalogue import area as areas
    from backend.catalogue.fetch import fetch, request_from
    from backend.catalogue.presets import get_preset

    cli_args.validate(CONTRACT, vars(args))
    if not args.out:
        raise UserError(f"{param_token('out')} DIR is required: the folder for VV.tif, VH.tif and fetch.json",
                        param="out")
    if bool(args.bbox) == bool(args.area):
        raise UserError(f"give the area either with {param_token('bbox')} or with {param_token('area')} "
                        "(exactly one)", param="bbox")
    area = areas.area_from_bbox(args.bbox, args.bbox_crs) if args.bbox else areas.area_from_file(args.area)
    preset = get_preset(args.preset or ("planetary-computer" if not args.stac_url else "custom"))
    season = tuple(dt.date.fromisoformat(v) for v in args.season)
    request = request_from(preset, args.stac_url, args.collection, area, season, args.orbit, args.pixel_size,
                           args.crs, args.out, args.assets, args.overwrite, args.catalogue_only)
    return fetch(request, reporter)
