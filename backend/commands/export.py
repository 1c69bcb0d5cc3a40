"""``export``: rebuild a PyTorch model's folder (fresh ONNX with parity check, embedded card, checksums).

Use it to copy a model under a new name (for example a bundled one into the user model folder before
fine-tuning), or to regenerate ``model.onnx`` after upgrading PyTorch or ONNX Runtime.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.progress import Reporter

HELP = "re-export a PyTorch model (weights -> ONNX with parity check, card, checksums) into a new folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="NAME|PATH", help="installed model name or model folder to export")
    parser.add_argument("--out", required=True, type=Path,
                        help="new model folder; its last component is the model name unless --name is given")
    parser.add_argument("--name", help="name written into the new card (default: the --out folder name)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out if it exists (never a bundled model)")


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.modelstore import load_torch, save_model

    reporter.stage("export", 2)
    net, card = load_torch(args.model)
    reporter.advance(1, "loaded and verified")
    kept = {k: v for k, v in card.items() if k not in ("created", "files", "size_bytes")}
    saved = save_model(net, {**kept, "name": args.name or args.out.name}, args.out, overwrite=args.overwrite)
    reporter.advance(1, "exported")
    return {"path": str(args.out), "card": saved}
