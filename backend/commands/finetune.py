"""``finetune``: turn digitized rice / non-rice labels into a new local model (transfer learning)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.errors import UserError
from backend.training.augment import DEFAULT_TIME_SHIFT
from backend.inference.manifest import parse_date
from backend.progress import Reporter

HELP = ("fine-tune a pretrained rice model on local labels (polygons, points or a label raster) and save it "
        "as a new model (modes RI, FT, FTE, FTD)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from backend.raster.options import add_series_arguments

    add_series_arguments(parser)
    labels = parser.add_argument_group("labels")
    labels.add_argument("--labels", metavar="FILE", help="labels: polygons or points (.gpkg, .shp) or a label raster")
    labels.add_argument("--class-field", metavar="F", help="field holding the class (default: a field named "
                        "class, label, rice, ...)")
    labels.add_argument("--rice-values", "--rice-value", nargs="+", metavar="V",
                        help="values of the class field that mean rice (default: 1 rice); every other labelled "
                             "feature is non-rice")
    labels.add_argument("--season", nargs=2, metavar=("START", "END"),
                        help="season to composite, YYYY-MM-DD YYYY-MM-DD (default: the base model's season length "
                             "ending at the last acquisition)")
    labels.add_argument("--manifest", metavar="CSV",
                        help="labels spread over several scenes: CSV with columns vv, vh, labels[, season_start, "
                             "season_end]; ';' separates several files in a cell; paths relative to the CSV")
    model = parser.add_argument_group("training")
    model.add_argument("--base-model", metavar="NAME|PATH", help="model to start from (default: the bundled default)")
    model.add_argument("--mode", default="FTE", type=str.upper, choices=["RI", "FT", "FTE", "FTD"],
                       help="RI random init, FT all weights, FTE encoder only (decoder frozen, default), "
                            "FTD decoder only")
    model.add_argument("--epochs", type=int, default=20,
                       help="most epochs (early stopping on validation F1; default 20)")
    model.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    model.add_argument("--patch", type=int, default=32,
                       help="patch size in pixels (default 32, the pretraining crop size)")
    model.add_argument("--batch", type=int, default=16, help="patches per step (default 16)")
    model.add_argument("--seed", type=int, default=0, help="random seed (split, patches, initialisation)")
    model.add_argument("--block", type=int, help="spatial block in pixels that groups points for the validation "
                       "split (default: the patch size)")
    model.add_argument("--max-patches", type=int, default=256, help="most training patches (default 256)")
    model.add_argument("--add-vv", action="store_true",
                       help="VV adaptation: train a VH-only base model with VH and VV input (paper Eq. 3)")
    model.add_argument("--early-season", action="store_true",
                       help="chronologically ordered early-season batches, so the model also maps mid-season")
    model.add_argument("--time-shift", type=int, default=DEFAULT_TIME_SHIFT, metavar="STEPS",
                       help="augmentation: shift each patch's series by up to this many composite steps, so the "
                            f"model does not learn one sowing calendar (default {DEFAULT_TIME_SHIFT}; 0 = off)")
    model.add_argument("--l2sp", type=float, default=0.0, metavar="STRENGTH",
                       help="pull the weights back towards the base model's during training (L2-SP; default 0 = off)")
    model.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: PyTorch's choice)")
    output = parser.add_argument_group("output")
    output.add_argument("--name", help="name of the new model (a folder of that name is written into --out)")
    output.add_argument("--out", metavar="DIR", help="folder for the new model (default: the user model folder)")
    output.add_argument("--overwrite", action="store_true", help="replace an earlier fine-tuned model of that name")


def _scene_from_args(args: argparse.Namespace):
    from backend.raster.options import series_from_args
    from backend.training.finetune_job import SceneInput

    if not args.labels:
        raise UserError("--labels FILE is required (or --manifest CSV with a labels column)")
    if not (args.vv or args.vh or args.stack):
        raise UserError("give the scene with --vv/--vh or --stack (or several scenes with --manifest CSV)")
    return SceneInput(lambda pols: series_from_args(args, require=pols), args.labels, _season(args))


def _season(args: argparse.Namespace):
    return (parse_date(args.season[0], "--season"), parse_date(args.season[1], "--season")) if args.season else None


def scenes_from_manifest(path: str, default_season) -> list:
    """One scene per manifest row (shared CSV format of backend.inference.manifest, plus a labels column)."""
    from backend.inference.manifest import read_manifest
    from backend.raster import open_series
    from backend.training.finetune_job import SceneInput

    scenes = []
    for row in read_manifest(path, ("labels",)):
        labels = str((Path(path).parent / row.cells["labels"]).resolve())

        def opener(pols, vv=row.vv or None, vh=row.vh or None):
            return open_series(vv=vv, vh=vh, require=pols)

        scenes.append(SceneInput(opener, labels, row.season or default_season))
    return scenes


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import torch

    from backend.modelstore import user_model_dir
    from backend.training.finetune_job import FinetuneOptions, run_finetune

    if not args.name:
        raise UserError("--name NAME is required: the new model is saved under that name")
    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads {args.threads}: give at least 1")
        torch.set_num_threads(args.threads)
    if args.manifest:
        if args.vv or args.vh or args.stack or args.labels:
            raise UserError("--manifest lists scenes and labels itself; drop --vv/--vh/--stack/--labels")
        scenes = scenes_from_manifest(args.manifest, _season(args))
    else:
        scenes = [_scene_from_args(args)]
    opts = FinetuneOptions(
        name=args.name, out=Path(args.out) if args.out else user_model_dir(), base_model=args.base_model,
        mode=args.mode, epochs=args.epochs, lr=args.lr, patch=args.patch, batch=args.batch, seed=args.seed,
        add_vv=args.add_vv, early_season=args.early_season, time_shift=args.time_shift, l2sp=args.l2sp,
        class_field=args.class_field,
        rice_values=args.rice_values, block=args.block, max_patches=args.max_patches, overwrite=args.overwrite,
        command="python -m backend " + " ".join(sys.argv[1:]))
    return run_finetune(scenes, opts, reporter)
