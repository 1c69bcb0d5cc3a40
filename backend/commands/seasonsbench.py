"""``seasonsbench``: the seasons measurements (multi-crop synthetic, window robustness, real An Giang) as JSON."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from backend.atomic import AtomicOutputs
from backend.progress import Reporter

HELP = ("measure seasons: cropping intensity, transplanting dates and per-season F1 on held-out synthetic "
        "double/triple rice, map F1 against the window given (synthetic and real An Giang); writes seasons.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for seasons.json and seasons_table.md")
    parser.add_argument("--model", metavar="NAME|PATH", help="model (default: the bundled default)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102], help="synthetic scene seeds")
    parser.add_argument("--size", type=int, default=128, help="synthetic scene side in pixels (default 128)")
    parser.add_argument("--data", metavar="DIR", help="folder with train_cubes.npz (default ../shared/data/ey2023-angiang)")
    parser.add_argument("--no-real", action="store_true", help="skip the real An Giang part")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    parser.add_argument("--docs", action="store_true",
                        help="also write docs/results/seasons.json and regenerate the tables of docs/seasons.md")


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.inference.loader import load_model
    from backend.seasons.bench import run_bench
    from backend.seasons.report_table import markdown, write_docs

    model = load_model(args.model, "onnx", "cpu", args.threads, heatmap=False)
    result = run_bench(model, tuple(args.seeds), args.size, Path(args.data) if args.data else None,
                       not args.no_real, reporter.log)
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    with AtomicOutputs(args.out, args.overwrite) as out:
        out.path("seasons.json").write_text(json.dumps(result, indent=2))
        out.path("seasons_table.md").write_text(markdown(result), encoding="utf-8")
        out.commit()
    if args.docs:
        for path in write_docs(result, Path(__file__).resolve().parents[2]):
            reporter.log(f"wrote {path}")
    return result
