"""``finetune``: turn digitized rice / non-rice labels into a new local model (transfer learning)."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

from backend.errors import UserError
from backend.progress import Reporter

HELP = ("fine-tune a pretrained rice model on local labels (polygons, points or a label raster) and save it "
        "as a new model (modes RI, FT, FTE, FTD)")
MANIFEST_COLUMNS = ("vv", "vh", "labels")


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
    model.add_argument("--epochs", type=int, default=20, help="most epochs (early stopping on validation F1; default 20)")
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
    model.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: PyTorch's choice)")
    output = parser.add_argument_group("output")
    output.add_argument("--name", help="name of the new model (a folder of that name is written into --out)")
    output.add_argument("--out", metavar="DIR", help="folder for the new model (default: the user model folder)")
    output.add_argument("--overwrite", action="store_true", help="replace an earlier fine-tuned model of that name")


def parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date; write it as YYYY-MM-DD") from None


def _scene_from_args(args: argparse.Namespace):
    from backend.raster.options import series_from_args
    from backend.training.finetune_job import SceneInput

    if not args.labels:
        raise UserError("--labels FILE is required (or --manifest CSV with a labels column)")
    if not (args.vv or args.vh or args.stack):
        raise UserError("give the scene with --vv/--vh or --stack (or several scenes with --manifest CSV)")
    season = (parse_date(args.season[0], "--season"), parse_date(args.season[1], "--season")) if args.season else None
    return SceneInput(lambda pols: series_from_args(args, require=pols), args.labels, season)


def read_manifest(path: str, default_season):
    """Scenes of a manifest CSV (paths relative to the CSV); UserError naming the line for any problem."""
    from backend.raster import open_series
    from backend.training.finetune_job import SceneInput

    manifest = Path(path)
    if not manifest.is_file():
        raise UserError(f"--manifest {path} does not exist; give a CSV with columns vv, vh, labels")
    with manifest.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in MANIFEST_COLUMNS if c not in columns]
        if missing:
            raise UserError(f"--manifest {path} lacks column(s) {', '.join(missing)}; the header must be "
                            "vv,vh,labels[,season_start,season_end]")
        rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    if not rows:
        raise UserError(f"--manifest {path} has no rows; add one line per scene")
    scenes = []
    for line, row in enumerate(rows, start=2):
        where = f"--manifest {path} line {line}"

        def files(cell: str) -> list[str] | None:
            return [str((manifest.parent / p.strip()).resolve()) for p in cell.split(";") if p.strip()] or None

        if not row.get("labels") or not (row.get("vv") or row.get("vh")):
            raise UserError(f"{where}: give labels and at least one of vv, vh")
        season = default_season
        if row.get("season_start") or row.get("season_end"):
            if not (row.get("season_start") and row.get("season_end")):
                raise UserError(f"{where}: give both season_start and season_end, or neither")
            season = (parse_date(row["season_start"], f"{where} season_start"),
                      parse_date(row["season_end"], f"{where} season_end"))
        vv, vh = files(row.get("vv", "")), files(row.get("vh", ""))
        scenes.append(SceneInput(lambda pols, vv=vv, vh=vh: open_series(vv=vv, vh=vh, require=pols),
                                 str(manifest.parent / row["labels"]), season))
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
        default = (parse_date(args.season[0], "--season"), parse_date(args.season[1], "--season")) \
            if args.season else None
        scenes = read_manifest(args.manifest, default)
    else:
        scenes = [_scene_from_args(args)]
    opts = FinetuneOptions(
        name=args.name, out=Path(args.out) if args.out else user_model_dir(), base_model=args.base_model,
        mode=args.mode, epochs=args.epochs, lr=args.lr, patch=args.patch, batch=args.batch, seed=args.seed,
        add_vv=args.add_vv, early_season=args.early_season, class_field=args.class_field,
        rice_values=args.rice_values, block=args.block, max_patches=args.max_patches, overwrite=args.overwrite,
        command="python -m backend " + " ".join(sys.argv[1:]))
    return run_finetune(scenes, opts, reporter)
