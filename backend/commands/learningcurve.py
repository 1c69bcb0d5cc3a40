"""``learningcurve``: F1 on held-out real sites against the number of labels, for RF, RI, FT and FTE."""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.errors import UserError
from backend.modelstore.card import write_json_atomic
from backend.progress import Reporter


def _size(text: str) -> int | None:
    if text.lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{{param:sizes}} {text!r}: give whole numbers of points or 'all'", param="sizes") from None
    if value < 4:
        raise UserError(f"{{param:sizes}} {value}: give at least 4 points (two per class, one of each kept for "
                        "validation)", param="sizes")
    return value



def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import torch

    from backend.experiments import angiang  # lazy: keeps --help free of numpy
    from backend.experiments.learning_curve import (  # lazy: keeps --help free of numpy
        CurveConfig,
        learning_curve,
        markdown_table,
    )

    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise UserError(f"{{param:out}} {out}: folder {out.parent} does not exist; create it or choose another "
                        "path", param="out")
    torch.set_num_threads(1)
    cubes = angiang.load_cubes(Path(args.data) if args.data else angiang.DATA_DIR)
    cfg = CurveConfig(sizes=tuple(_size(s) for s in args.sizes), methods=tuple(args.methods), seeds=tuple(args.seeds),
                      epochs=args.epochs, batch=args.batch, lr=args.lr, time_shift=args.time_shift, l2sp=args.l2sp)
    result = learning_curve(cubes, args.base_model, cfg, workers=args.workers, log=reporter.log,
                            cache=Path(args.cache) if args.cache else None)
    result["table_markdown"] = markdown_table(result)
    if out is not None:
        write_json_atomic(out, result)
    return result
