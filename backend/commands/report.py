"""``report``: the reproduction table of every bundled model (held-out synthetic region and real data)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.progress import Reporter

HELP = "reproduction report: bundled models on the held-out synthetic region and the real An Giang cubes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "models"),
                        help="folder of model folders (default: the bundled models/)")
    parser.add_argument("--no-real", action="store_true", help="skip the real-data columns")
    parser.add_argument("--out", default=None, help="write report.json and report.md into this folder")


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.benchmarks import angiang, reproduction

    cubes = None if args.no_real else angiang.load_cubes()
    rows = reproduction.model_rows(Path(args.models), cubes, log=reporter.log)
    table = reproduction.markdown_table(rows)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(rows, indent=2) + "\n")
        (out / "report.md").write_text(table)
    reporter.log("\n" + table)
    return {"models": rows, "markdown": table}
