"""``synth``: write a synthetic Sentinel-1 VV/VH scene with rice truth (see docs/synthetic.md)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from backend.errors import UserError
from backend.progress import Reporter

HELP = "write a synthetic Sentinel-1 VV/VH rice scene (rasters, truth.tif, labels.gpkg, scene.json)"
REGION_NAMES = ("korea", "arkansas", "sacramento", "mekong")  # kept light: no import of the generator here


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write it as YYYY-MM-DD") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", required=True, help=f"region preset: {', '.join(REGION_NAMES)}")
    parser.add_argument("--size", type=int, default=128, help="scene width and height in pixels (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same scene")
    parser.add_argument("--layout", choices=["a", "b", "c"], default="a",
                        help="a: VV.tif/VH.tif with one band per date; b: one file per date and "
                             "polarization; c: one interleaved stack.tif (default a)")
    parser.add_argument("--start", type=_date, help="season start YYYY-MM-DD (default: the region's season in 2022)")
    parser.add_argument("--end", type=_date, help="season end YYYY-MM-DD")
    parser.add_argument("--looks", type=float, default=4.4,
                        help="equivalent number of looks of the speckle (S1 IW GRD about 4.4; default 4.4)")
    parser.add_argument("--units", choices=["linear", "db"], default="linear",
                        help="backscatter units of the written rasters (default linear power)")
    parser.add_argument("--pixel-size", type=float, default=10.0, help="pixel size in metres (default 10)")
    parser.add_argument("--revisit-days", type=int, default=None,
                        help="repeat cycle of each of the two orbits in days (default: the region's, 12)")
    parser.add_argument("--missing-rate", type=float, default=0.04,
                        help="probability that an acquisition is missing (default 0.04)")
    parser.add_argument("--calendar-shift", type=float, default=None,
                        help="shift of the whole crop calendar in days (default: random within the region's range)")
    parser.add_argument("--out", required=True, help="output folder (created; must be empty unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs in a non-empty --out")


def _check_out(out: Path, overwrite: bool) -> None:
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"--out {out} is not empty; choose an empty or new folder, or pass --overwrite")


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.synthetic import generate_scene
    from backend.synthetic.writer import write_scene

    out = Path(args.out)
    _check_out(out, args.overwrite)
    reporter.stage("generate", 1, f"{args.region} {args.size}x{args.size} seed {args.seed}")
    scene = generate_scene(args.region, args.size, args.seed, start=args.start, end=args.end, looks=args.looks,
                           pixel_size=args.pixel_size, revisit_days=args.revisit_days,
                           missing_rate=args.missing_rate, calendar_shift_days=args.calendar_shift)
    reporter.advance(1, "scene generated")
    summary = write_scene(scene, out, args.layout, units=args.units, overwrite=args.overwrite, reporter=reporter)
    return {"out": str(out.resolve()), "layout": args.layout, "units": args.units, "region": args.region,
            "dates": len(summary["dates"]), "rice_share": summary["rice_share"], "files": summary["files"]}
