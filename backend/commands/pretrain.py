"""``pretrain``: train the bundled models on synthetic scenes (what `make pretrain` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.errors import UserError
from backend.progress import Reporter

HELP = "pretrain the bundled models on synthetic scenes (reproducible; see docs/training.md)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "models"),
                        help="folder for the model folders (default: the bundled models/ folder)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="train only these recipes")
    parser.add_argument("--quick", action="store_true", help="tiny data and one epoch (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads")


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import torch

    from backend.training.pretrain import Pretrainer
    from backend.training.recipes import RECIPES

    known = [r.name for r in RECIPES]
    unknown = sorted(set(args.only or []) - set(known))
    if unknown:
        raise UserError(f"--only: unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = Pretrainer(out, reporter, quick=args.quick, seed=args.seed).run(args.only)
    return {"out": str(out), "models": summaries}
