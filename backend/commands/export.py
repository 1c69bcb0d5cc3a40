"""``export``: rebuild a PyTorch model's folder (fresh ONNX with parity check, embedded card, checksums).

Use it to copy a model under a new name (for example a bundled one into the user model folder before
fine-tuning), or to regenerate ``model.onnx`` after upgrading PyTorch or ONNX Runtime.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.errors import UserError
from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.modelstore import load_torch, save_model  # lazy: keeps --help free of torch
    from backend.training.finetune_job import NAME_PATTERN  # lazy: keeps --help free of torch

    if args.name is not None and not NAME_PATTERN.match(args.name):  # the name is looked up as a folder later
        raise UserError(f"{{param:name}} {args.name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                        "letter or digit (models are found by name as folders)", param="name")
    reporter.stage("export", 2)
    net, card = load_torch(args.model)
    reporter.advance(1, "loaded and verified")
    kept = {k: v for k, v in card.items() if k not in ("created", "files", "size_bytes")}
    out = Path(args.out)
    saved = save_model(net, {**kept, "name": args.name or out.name}, out, overwrite=args.overwrite)
    reporter.advance(1, "exported")
    return {"path": str(out), "card": saved}
