"""``map``: rice map of a Sentinel-1 VV/VH series (or of every row of a manifest) with one model."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from backend.atomic import check_outputs
from backend.commands._args import date_value, season_value
from backend.contract.verbs.map import VERB as CONTRACT
from backend.distributed import require_dask
from backend.distributed.cluster import parse_cluster
from backend.errors import UserError
from backend.inference.manifest import read_manifest
from backend.inference.timings import StageTimes, process_age
from backend.progress import Reporter


def _options(args: argparse.Namespace, season: tuple[dt.date, dt.date] | None) -> Any:
    from backend.inference.mapping import MapOptions  # lazy: keeps --help free of rasterio

    return MapOptions(season=season, as_of=date_value(args.as_of), tile=args.tile, overlap=args.overlap,
                      batch=args.batch, heatmap=args.heatmap, all_seasons=args.all_seasons,
                      exact_season=args.exact_season)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import rasterio

    from backend.writers.geotiff import GDAL_CACHE_BYTES  # lazy: keeps --help free of numpy

    # GDAL's block cache defaults to 5 % of RAM and would grow with the scene; cap it so memory stays bounded.
    # GDAL decompresses the blocks of one read (and compresses the outputs' blocks) on as many threads as the
    # model uses: reading runs between model calls, so those cores are free then (1.5x faster reads on 2 cores).
    threads = str(args.threads) if args.threads else "ALL_CPUS"
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES, GDAL_NUM_THREADS=threads):
        return _run(args, reporter)


def _rows(args: argparse.Namespace) -> list | None:
    """The manifest's rows, or None for a single scene; the input and output options that must be given."""
    if args.manifest:
        if args.vv or args.vh or args.stack or args.out:
            raise UserError("{param:manifest} lists inputs and outputs itself; leave {param:vv}, {param:vh}, "
                            "{param:stack} and {param:out} empty", param="manifest")
        return read_manifest(args.manifest, required=("out",))
    if not args.out:
        raise UserError("{param:out} is required: the folder for " + ", ".join(CONTRACT.outputs), param="out")
    return None


def _run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.inference.loader import load_model  # lazy: keeps --help free of numpy

    timings = StageTimes()
    timings.add("startup", process_age() or 0.0)
    rows = _rows(args)
    if args.cluster:
        return _map_on_cluster(args, rows, reporter)
    with timings.stage("load"):
        model = load_model(args.model, args.engine, args.device, args.threads, heatmap=args.heatmap,
                           precision=args.precision)
    if rows is not None:
        return _run_manifest(rows, model, args, reporter)
    return _map_one(args, model, args.out, season_value(args.season), reporter, timings)


def check(args: argparse.Namespace, reporter: Reporter) -> dict:
    """``--check-only``: the model, the series, its dates against the season, the tiles; nothing is written."""
    from backend.inference.loader import check_model  # lazy: keeps --help free of numpy
    from backend.inference.mapping import check_choice  # lazy: keeps --help free of rasterio
    from backend.raster.options import series_from_args  # lazy: keeps --help free of rasterio

    rows = _rows(args)
    if args.cluster:
        parse_cluster(args.cluster)
    model = check_model(args.model, args.engine, args.device, precision=args.precision)
    if rows is not None:
        return {"model": model.name, "rows": len(rows)}
    with series_from_args(args, require=model.pols) as reader:
        choice = check_choice(reader, model, _options(args, season_value(args.season)))
        check_outputs(args.out, CONTRACT.outputs, args.overwrite)
        return {"model": model.name, "season": [d.isoformat() for d in choice.span],
                "season_choice": choice.record(), "series": reader.info()}


def _map_on_cluster(args: argparse.Namespace, rows: list | None, reporter: Reporter) -> dict:
    require_dask()
    from backend.distributed.mapping import map_on_cluster  # lazy: keeps --help free of distributed, rasterio

    if rows is not None:
        raise UserError("{param:cluster} maps one scene at a time; drop {param:manifest} or run each row with "
                        "{param:cluster}", param="cluster")
    return map_on_cluster(args, _options(args, season_value(args.season)), args.out, reporter, args.block)


def _map_one(args: argparse.Namespace, model: Any, out: str, season: Any, reporter: Reporter,
             timings: StageTimes | None = None) -> dict:
    from backend.inference.mapping import map_series  # lazy: keeps --help free of rasterio
    from backend.raster.options import series_from_args  # lazy: keeps --help free of rasterio

    timings = timings or StageTimes()  # a manifest row: its own stages, no start-up
    with timings.stage("open"):
        reader = series_from_args(args, require=model.pols)
    with reader:
        return map_series(reader, model, _options(args, season), out, args.overwrite, reporter, timings)


def _run_manifest(rows: list, model: Any, args: argparse.Namespace, reporter: Reporter) -> dict:
    results, failed = [], []
    manifest_dir = Path(args.manifest).parent
    for row in rows:
        row_args = argparse.Namespace(**{**vars(args), "vv": row.vv or None, "vh": row.vh or None,
                                         "stack": None, "paths": []})
        out = str(manifest_dir / row.cells["out"])
        reporter.log(f"manifest line {row.line}: mapping into {out}")
        try:
            run = _map_one(row_args, model, out, row.season or season_value(args.season), reporter)
            entry = {"line": row.line, "out": out, "status": "ok", "run": run}
        except UserError as err:
            entry = {"line": row.line, "out": out, "status": "error", "message": err.template}
            failed.append(entry)
        results.append(entry)
        reporter.event("manifest_row", **{k: v for k, v in entry.items() if k != "run"})
    if failed:
        details = "; ".join(f"line {e['line']}: {e['message']}" for e in failed)
        raise UserError(f"{len(failed)} of {len(rows)} manifest rows failed (the others were written): {details}",
                        param="manifest")
    return {"model": model.describe(), "rows": results}
