"""``pretrain``: train the bundled models on synthetic scenes (what `make pretrain` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.errors import UserError
from backend.modelstore import BUNDLED_DIR
from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import torch

    from backend.training.pretrain import Pretrainer, reexport  # lazy: keeps --help free of torch
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
        if not out.is_dir():
            raise UserError(f"{{param:out}} {out}: no such folder", param="out")
        return {"out": str(out), "reexported": reexport(out, args.only, reporter)}
    out.mkdir(parents=True, exist_ok=True)
    summaries = Pretrainer(out, reporter, quick=args.quick, seed=args.seed).run(args.only)
    return {"out": str(out), "models": summaries}
