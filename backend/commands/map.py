"""``map``: rice map of a Sentinel-1 VV/VH series (or of every row of a manifest) with one model."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path
from typing import Any

from backend.errors import UserError
from backend.progress import Reporter

HELP = ("map rice over whole scenes: tiled streaming inference, writes rice.tif, probability.tif, heatmap.tif, "
        "their QML styles and run.json")

MANIFEST_COLUMNS = ("vv", "vh", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from backend.inference.mapping import DEFAULT_OVERLAP, DEFAULT_TILE
    from backend.raster.options import add_series_arguments

    add_series_arguments(parser)
    group = parser.add_argument_group("mapping")
    group.add_argument("--season", nargs=2, metavar=("START", "END"),
                       help="season to composite, YYYY-MM-DD YYYY-MM-DD (default: the model's season length "
                            "ending at the last acquisition)")
    group.add_argument("--as-of", metavar="DATE", help="early-season map: ignore acquisitions after DATE")
    group.add_argument("--model", metavar="NAME|PATH", help="model name or folder (default: the bundled default)")
    group.add_argument("--engine", choices=["auto", "onnx", "torch"], default="auto",
                       help="auto: PyTorch on a CUDA GPU when present, else ONNX Runtime on the CPU")
    group.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    group.add_argument("--tile", type=int, default=DEFAULT_TILE, help=f"tile size in pixels (default {DEFAULT_TILE})")
    group.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP,
                       help=f"overlap between tiles in pixels (default {DEFAULT_OVERLAP})")
    group.add_argument("--batch", type=int, default=1, help="tiles per model call (default 1)")
    group.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    group.add_argument("--no-heatmap", action="store_true", help="skip heatmap.tif (Grad-CAM costs a backward pass)")
    group.add_argument("--out", metavar="DIR", help="output folder")
    group.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    group.add_argument("--manifest", metavar="CSV",
                       help="batch run: CSV with columns vv, vh, out[, season_start, season_end]; several files "
                            "in one cell are separated by ';'; relative paths are relative to the CSV")


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date; write it as YYYY-MM-DD") from None


def _season(values: list[str] | None, option: str = "--season") -> tuple[dt.date, dt.date] | None:
    return (_date(values[0], option), _date(values[1], option)) if values else None


def _options(args: argparse.Namespace, season: tuple[dt.date, dt.date] | None) -> Any:
    from backend.inference.mapping import MapOptions

    return MapOptions(season=season, as_of=_date(args.as_of, "--as-of") if args.as_of else None,
                      tile=args.tile, overlap=args.overlap, batch=args.batch, heatmap=not args.no_heatmap)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.inference.loader import load_model

    if args.manifest:
        if args.vv or args.vh or args.stack or args.out:
            raise UserError("--manifest lists inputs and outputs itself; drop --vv/--vh/--stack/--out")
        rows = read_manifest(args.manifest)
    elif not args.out:
        raise UserError("--out DIR is required: the folder for rice.tif, probability.tif, heatmap.tif, run.json")
    model = load_model(args.model, args.engine, args.device, args.threads, heatmap=not args.no_heatmap)
    if args.manifest:
        return _run_manifest(rows, model, args, reporter)
    return _map_one(args, model, args.out, _season(args.season), reporter)


def _map_one(args: argparse.Namespace, model: Any, out: str, season: Any, reporter: Reporter) -> dict:
    from backend.inference.mapping import map_series
    from backend.raster.options import series_from_args

    with series_from_args(args, require=model.pols) as reader:
        return map_series(reader, model, _options(args, season), out, args.overwrite, reporter)


def read_manifest(path: str) -> list[dict]:
    """Rows of a manifest CSV with paths made absolute; UserError naming the row for any problem."""
    manifest = Path(path)
    if not manifest.is_file():
        raise UserError(f"--manifest {path} does not exist; give a CSV with columns vv, vh, out")
    with manifest.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in MANIFEST_COLUMNS if c not in columns]
        if missing:
            raise UserError(f"--manifest {path} lacks column(s) {', '.join(missing)}; "
                            "the header must be vv,vh,out[,season_start,season_end]")
        rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    if not rows:
        raise UserError(f"--manifest {path} has no rows; add one line per scene")
    return [_manifest_row(row, number, manifest) for number, row in enumerate(rows, start=2)]


def _manifest_row(row: dict, line: int, manifest: Path) -> dict:
    def paths(cell: str) -> list[str]:
        return [str((manifest.parent / p.strip()).resolve()) for p in cell.split(";") if p.strip()]

    where = f"--manifest {manifest} line {line}"
    if not row.get("out") or not (row.get("vv") or row.get("vh")):
        raise UserError(f"{where}: give out and at least one of vv, vh")
    season = None
    if row.get("season_start") or row.get("season_end"):
        if not (row.get("season_start") and row.get("season_end")):
            raise UserError(f"{where}: give both season_start and season_end, or neither")
        season = (_date(row["season_start"], f"{where} season_start"), _date(row["season_end"], f"{where} season_end"))
    return {"line": line, "vv": paths(row.get("vv", "")), "vh": paths(row.get("vh", "")),
            "out": str(manifest.parent / row["out"]), "season": season}


def _run_manifest(rows: list[dict], model: Any, args: argparse.Namespace, reporter: Reporter) -> dict:
    results, failed = [], []
    for row in rows:
        row_args = argparse.Namespace(**{**vars(args), "vv": row["vv"] or None, "vh": row["vh"] or None,
                                         "stack": None, "paths": []})
        reporter.log(f"manifest line {row['line']}: mapping into {row['out']}")
        try:
            run = _map_one(row_args, model, row["out"], row["season"] or _season(args.season), reporter)
            entry = {"line": row["line"], "out": row["out"], "status": "ok", "run": run}
        except UserError as err:
            entry = {"line": row["line"], "out": row["out"], "status": "error", "message": str(err)}
            failed.append(entry)
        results.append(entry)
        reporter.event("manifest_row", **{k: v for k, v in entry.items() if k != "run"})
    if failed:
        details = "; ".join(f"line {e['line']}: {e['message']}" for e in failed)
        raise UserError(f"{len(failed)} of {len(rows)} manifest rows failed (the others were written): {details}")
    return {"model": model.describe(), "rows": results}
