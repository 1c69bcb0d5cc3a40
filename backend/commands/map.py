"""``map``: rice map of a Sentinel-1 VV/VH series (or of every row of a manifest) with one model."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from backend.contract import cli_args
from backend.contract.verbs.map import VERB as CONTRACT
from backend.errors import UserError
from backend.progress import Reporter

HELP = CONTRACT.help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli_args.add_arguments(parser, CONTRACT)


def _season(values: list[str] | None, option: str = "--season") -> tuple[dt.date, dt.date] | None:
    from backend.inference.manifest import parse_date

    return (parse_date(values[0], option), parse_date(values[1], option)) if values else None


def _options(args: argparse.Namespace, season: tuple[dt.date, dt.date] | None) -> Any:
    from backend.inference.mapping import MapOptions

    from backend.inference.manifest import parse_date

    return MapOptions(season=season, as_of=parse_date(args.as_of, "--as-of") if args.as_of else None,
                      tile=args.tile, overlap=args.overlap, batch=args.batch, heatmap=args.heatmap)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import rasterio

    from backend.inference.geotiff import GDAL_CACHE_BYTES

    # GDAL's block cache defaults to 5 % of RAM and would grow with the scene; cap it so memory stays bounded
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
        return _run(args, reporter)


def _run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.inference.loader import load_model

    if args.manifest:
        if args.vv or args.vh or args.stack or args.out:
            raise UserError("--manifest lists inputs and outputs itself; drop --vv/--vh/--stack/--out")
        from backend.inference.manifest import read_manifest

        rows = read_manifest(args.manifest, required=("out",))
    elif not args.out:
        raise UserError("--out DIR is required: the folder for rice.tif, probability.tif, heatmap.tif, run.json")
    if getattr(args, "cluster", None):
        return _map_on_cluster(args, reporter)
    model = load_model(args.model, args.engine, args.device, args.threads, heatmap=args.heatmap)
    if args.manifest:
        return _run_manifest(rows, model, args, reporter)
    return _map_one(args, model, args.out, _season(args.season), reporter)


def _map_on_cluster(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.distributed.mapping import map_on_cluster

    if args.manifest:
        raise UserError("{param:cluster} maps one scene at a time; drop {param:manifest} or run each row with "
                        "{param:cluster}", param="cluster")
    return map_on_cluster(args, _options(args, _season(args.season)), args.out, reporter, args.block)


def _map_one(args: argparse.Namespace, model: Any, out: str, season: Any, reporter: Reporter) -> dict:
    from backend.inference.mapping import map_series
    from backend.raster.options import series_from_args

    with series_from_args(args, require=model.pols) as reader:
        return map_series(reader, model, _options(args, season), out, args.overwrite, reporter)


def _run_manifest(rows: list, model: Any, args: argparse.Namespace, reporter: Reporter) -> dict:
    results, failed = [], []
    manifest_dir = Path(args.manifest).parent
    for row in rows:
        row_args = argparse.Namespace(**{**vars(args), "vv": row.vv or None, "vh": row.vh or None,
                                         "stack": None, "paths": []})
        out = str(manifest_dir / row.cells["out"])
        reporter.log(f"manifest line {row.line}: mapping into {out}")
        try:
            run = _map_one(row_args, model, out, row.season or _season(args.season), reporter)
            entry = {"line": row.line, "out": out, "status": "ok", "run": run}
        except UserError as err:
            entry = {"line": row.line, "out": out, "status": "error", "message": str(err)}
            failed.append(entry)
        results.append(entry)
        reporter.event("manifest_row", **{k: v for k, v in entry.items() if k != "run"})
    if failed:
        details = "; ".join(f"line {e['line']}: {e['message']}" for e in failed)
        raise UserError(f"{len(failed)} of {len(rows)} manifest rows failed (the others were written): {details}")
    return {"model": model.describe(), "rows": results}
