"""``pretrain``: train the bundled models on synthetic scenes (what `make pretrain` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.errors import UserError
from backend.modelstore import BUNDLED_DIR
from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import torch

    from backend.training.pretrain import Pretrainer  # lazy: keeps --help free of torch
    from backend.training.recipes import RECIPES  # lazy: keeps --help free of numpy, shapely

    known = [r.name for r in RECIPES]
    unknown = sorted(set(args.only or []) - set(known))
    if unknown:
        raise UserError(f"{{param:only}}: unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(known)}",
                        param="only")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else BUNDLED_DIR
    if args.reexport:
        return {"out": str(out), "reexported": _reexport(out, args.only, reporter)}
    out.mkdir(parents=True, exist_ok=True)
    summaries = Pretrainer(out, reporter, quick=args.quick, seed=args.seed).run(args.only)
    return {"out": str(out), "models": summaries}


def _reexport(out: Path, only: list[str] | None, reporter: Reporter) -> list[str]:
    """Re-save every PyTorch model folder in ``out`` (or those named in ``only``) from its own weights."""
    from backend.modelstore import load_card, load_torch, save_model  # lazy: keeps --help free of torch
    from backend.nets import ARCHITECTURES  # lazy: keeps --help free of torch

    if not out.is_dir():
        raise UserError(f"{{param:out}} {out}: no such folder", param="out")
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
