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
    parser.add_argument("--reexport", action="store_true",
                        help="no training: rebuild model.onnx (parity-checked) and the card checksums of the "
                             "PyTorch models in --out from their saved weights, e.g. after a change to the export")


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
    if args.reexport:
        return {"out": args.out, "reexported": _reexport(Path(args.out), args.only, reporter)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = Pretrainer(out, reporter, quick=args.quick, seed=args.seed).run(args.only)
    return {"out": str(out), "models": summaries}


def _reexport(out: Path, only: list[str] | None, reporter: Reporter) -> list[str]:
    """Re-save every PyTorch model folder in ``out`` (or those named in ``only``) from its own weights."""
    from backend.modelstore import load_card, load_torch, save_model
    from backend.nets import ARCHITECTURES

    if not out.is_dir():
        raise UserError(f"--out {out}: no such folder")
    folders = sorted(p.parent for p in out.glob("*/card.json"))
    folders = [f for f in folders if load_card(f)["arch"] in ARCHITECTURES and (not only or f.name in only)]
    reporter.stage("reexport", len(folders))
    done = []
    for folder in folders:
        net, card = load_torch(folder)
        kept = {k: v for k, v in card.items() if k not in ("files", "size_bytes")}
        save_model(net, kept, folder, overwrite=True, replace_bundled=True)
        done.append(card["name"])
        reporter.advance(1, card["name"])
    return done
