"""``synth``: write a synthetic Sentinel-1 VV/VH scene with rice truth (see docs/synthetic.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.commands._args import date_value
from backend.errors import UserError
from backend.progress import Reporter


def _check_out(out: Path, overwrite: bool) -> None:
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{{param:out}} {out} is not empty; choose an empty or new folder, or turn on "
                        "{param:overwrite}", param="out")


def check(args: argparse.Namespace, reporter: Reporter) -> None:
    """The output folder (the generator's own checks need the region preset and run with the work)."""
    _check_out(Path(args.out), args.overwrite)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.synthetic import generate_scene  # lazy: keeps --help free of numpy, shapely
    from backend.synthetic.writer import write_scene  # lazy: keeps --help free of numpy, shapely

    out = Path(args.out)
    _check_out(out, args.overwrite)
    reporter.stage("generate", 1, f"{args.region} {args.size}x{args.size} seed {args.seed}")
    scene = generate_scene(args.region, args.size, args.seed, start=date_value(args.start), end=date_value(args.end),
                           looks=args.looks,
                           pixel_size=args.pixel_size, revisit_days=args.revisit_days,
                           missing_rate=args.missing_rate, calendar_shift_days=args.calendar_shift)
    reporter.advance(1, "scene generated")
    summary = write_scene(scene, out, args.layout, units=args.units, overwrite=args.overwrite, reporter=reporter)
    return {"out": str(out.resolve()), "layout": args.layout, "units": args.units, "region": args.region,
            "dates": len(summary["dates"]), "rice_share": summary["rice_share"], "files": summary["files"]}
