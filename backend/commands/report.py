"""``report``: the reproduction table of every bundled model (held-out synthetic region and real data)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from backend.contract.verbs.report import VERB as CONTRACT
from backend.modelstore import BUNDLED_DIR
from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.experiments import angiang, reproduction  # lazy: keeps --help free of numpy, shapely

    cubes = angiang.load_cubes() if args.real else None
    rows = reproduction.model_rows(Path(args.models) if args.models else BUNDLED_DIR, cubes, log=reporter.log)
    table = reproduction.markdown_table(rows)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONTRACT.output("report", "json")).write_text(json.dumps(rows, indent=2) + "\n")
        (out / CONTRACT.output("report", "md")).write_text(table)
    reporter.log("\n" + table)
    return {"models": rows, "markdown": table}
