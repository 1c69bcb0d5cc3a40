"""``learningcurve``: F1 on held-out real sites against the number of labels, for RF, RI, FT and FTE."""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.errors import UserError
from backend.training.augment import DEFAULT_TIME_SHIFT
from backend.progress import Reporter

HELP = ("real-data learning curve on the An Giang cubes: F1 on held-out sites vs. number of labelled points for "
        "Random Forest, RI, FT and FTE (transfer-learning paper, Table 1 design)")


def _size(text: str) -> int | None:
    if text.lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"--sizes {text!r}: give whole numbers of points or 'all'") from None
    if value < 4:
        raise UserError(f"--sizes {value}: give at least 4 points (two per class, one of each kept for validation)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="folder with train_cubes.npz (default: ../shared/data/ey2023-angiang)")
    parser.add_argument("--base-model", metavar="NAME|PATH", help="pretrained model (default: the bundled default)")
    parser.add_argument("--sizes", nargs="+", default=["10", "20", "50", "100", "all"],
                        help="numbers of labelled training points (default 10 20 50 100 all)")
    parser.add_argument("--methods", nargs="+", type=str.upper, default=["RF", "RI", "FT", "FTE"],
                        choices=["RF", "RI", "FT", "FTE", "FTD"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="repeats (sample and initialisation seeds)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per network run (default 10)")
    parser.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    parser.add_argument("--time-shift", type=int, default=DEFAULT_TIME_SHIFT, metavar="STEPS",
                        help="augmentation: shift each series by up to this many composite steps (default "
                             f"{DEFAULT_TIME_SHIFT}, as in finetune; 0 = off)")
    parser.add_argument("--l2sp", type=float, default=0.0, metavar="STRENGTH",
                        help="pull fine-tuned weights back towards the pretrained ones (L2-SP; default 0 = off)")
    parser.add_argument("--workers", type=int, default=1, help="processes: 2 runs the two folds in parallel")
    parser.add_argument("--out", metavar="JSON", help="write the result to this JSON file")
    parser.add_argument("--cache", metavar="NPY", help="keep the composited cubes in this .npy file between runs "
                        "(outside the repository: the data must not be copied into it)")


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import torch

    from backend.benchmarks import angiang
    from backend.training.learning_curve import CurveConfig, learning_curve, markdown_table

    if args.epochs < 1 or args.batch < 1 or args.workers < 1:
        raise UserError("--epochs, --batch and --workers must be at least 1")
    if args.time_shift < 0 or args.l2sp < 0:
        raise UserError("--time-shift and --l2sp must be 0 (off) or positive")
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist; create it or choose another path")
    torch.set_num_threads(1)
    cubes = angiang.load_cubes(Path(args.data) if args.data else angiang.DATA_DIR)
    cfg = CurveConfig(sizes=tuple(_size(s) for s in args.sizes), methods=tuple(args.methods), seeds=tuple(args.seeds),
                      epochs=args.epochs, batch=args.batch, lr=args.lr, time_shift=args.time_shift, l2sp=args.l2sp)
    result = learning_curve(cubes, args.base_model, cfg, workers=args.workers, log=reporter.log,
                            cache=Path(args.cache) if args.cache else None)
    result["table_markdown"] = markdown_table(result)
    if out is not None:
        from backend.modelstore.card import write_json_atomic

        write_json_atomic(out, result)
    return result
