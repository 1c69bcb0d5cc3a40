"""``fetch``: Sentinel-1 for an area and a season from a STAC API (see docs/catalogues.md)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from backend.atomic import check_outputs
from backend.catalogue import area as areas
from backend.catalogue.presets import get_preset
from backend.contract import param_token
from backend.contract.verbs.fetch import RECORD_FILE
from backend.contract.verbs.fetch import VERB as CONTRACT
from backend.errors import UserError
from backend.progress import Reporter


def _request(args: argparse.Namespace) -> Any:
    """The parsed request (area read, preset filled in); everything checkable without the network."""
    from backend.catalogue.fetch import request_from  # lazy: keeps --help free of rasterio

    if not args.out:
        raise UserError(f"{param_token('out')} DIR is required: the folder for the series and {RECORD_FILE}",
                        param="out")
    if bool(args.bbox) == bool(args.area):
        raise UserError(f"give the area either with {param_token('bbox')} or with {param_token('area')} "
                        "(exactly one)", param="bbox")
    area = areas.area_from_bbox(args.bbox, args.bbox_crs) if args.bbox else areas.area_from_file(args.area)
    preset = get_preset(args.preset or ("planetary-computer" if not args.stac_url else "custom"))
    season = tuple(dt.date.fromisoformat(v) for v in args.season)
    return request_from(preset, args.stac_url, args.collection, area, season, args.orbit, args.pixel_size,
                        args.crs, args.out, args.assets, args.overwrite, args.catalogue_only)


def check(args: argparse.Namespace, reporter: Reporter) -> dict:
    """``--check-only``: the area, the preset and asset map, the output folder; no request is made."""
    request = _request(args)
    check_outputs(args.out, (RECORD_FILE,) if args.catalogue_only else CONTRACT.outputs, args.overwrite)
    return {"url": request.url, "collection": request.collection, "area_bounds": list(request.area.bounds)}


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    try:
        import odc.stac  # noqa: F401
        import pystac_client  # noqa: F401
        import rio_cogeo  # noqa: F401
    except ImportError as exc:  # the lean mapping environment has no catalogue libraries
        raise UserError(f"fetch needs the catalogue libraries ({exc.name} is missing): add the 'catalogue' extra to "
                        "the backend environment (Settings > Backend environment, or plugin/backend_setup.py "
                        "--extras catalogue; from a checkout: pip install -r requirements/catalogue.txt)") from exc
    from backend.catalogue.fetch import fetch  # lazy: keeps --help free of rasterio

    return fetch(_request(args), reporter)
