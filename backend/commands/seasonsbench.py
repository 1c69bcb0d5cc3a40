"""``seasonsbench``: the seasons measurements (multi-crop synthetic, window robustness, real An Giang) as JSON."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from backend.atomic import AtomicOutputs
from backend.contract.verbs.seasonsbench import VERB as CONTRACT
from backend.experiments.seasons_report import markdown, write_docs
from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.experiments.seasons_bench import run_bench  # lazy: keeps --help free of numpy, shapely
    from backend.inference.loader import load_model  # lazy: keeps --help free of numpy

    model = load_model(args.model, "onnx", "cpu", args.threads or 2, heatmap=False)
    result = run_bench(model, tuple(args.seeds), args.size, Path(args.data) if args.data else None, args.real,
                       reporter.log, args.timing_size)
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    with AtomicOutputs(args.out, args.overwrite) as out:
        out.path(CONTRACT.output("seasons", "json")).write_text(json.dumps(result, indent=2))
        out.path(CONTRACT.output("seasons_table", "md")).write_text(markdown(result), encoding="utf-8")
        out.commit()
    if args.docs:
        for path in write_docs(result, Path(__file__).resolve().parents[2]):
            reporter.log(f"wrote {path}")
    return result
