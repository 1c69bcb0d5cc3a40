"""``finetune``: turn digitized rice / non-rice labels into a new local model (transfer learning)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.commands._args import season_value
from backend.errors import UserError
from backend.inference.manifest import read_manifest
from backend.modelstore import user_model_dir
from backend.progress import Reporter


def _scene_from_args(args: argparse.Namespace):
    from backend.raster.options import series_from_args  # lazy: keeps --help free of rasterio
    from backend.training.finetune_job import SceneInput  # lazy: keeps --help free of rasterio, torch

    if not args.labels:
        raise UserError("{param:labels} is required (or a {param:manifest} with a labels column)", param="labels")
    if not (args.vv or args.vh or args.stack):
        raise UserError("give the scene in {param:vv}/{param:vh} or {param:stack} (or several scenes in a "
                        "{param:manifest})", param="vv")
    return SceneInput(lambda pols: series_from_args(args, require=pols), args.labels, season_value(args.season))


def scenes_from_manifest(path: str, default_season) -> list:
    """One scene per manifest row (shared CSV format of backend.inference.manifest, plus a labels column)."""
    from backend.raster import open_series  # lazy: keeps --help free of rasterio
    from backend.training.finetune_job import SceneInput  # lazy: keeps --help free of rasterio, torch

    scenes = []
    for row in read_manifest(path, ("labels",)):
        labels = str((Path(path).parent / row.cells["labels"]).resolve())

        def opener(pols, vv=row.vv or None, vh=row.vh or None):
            return open_series(vv=vv, vh=vh, require=pols)

        scenes.append(SceneInput(opener, labels, row.season or default_season))
    return scenes


def _scenes(args: argparse.Namespace) -> list:
    if args.manifest:
        if args.vv or args.vh or args.stack or args.labels:
            raise UserError("{param:manifest} lists scenes and labels itself; leave {param:vv}, {param:vh}, "
                            "{param:stack} and {param:labels} empty", param="manifest")
        return scenes_from_manifest(args.manifest, season_value(args.season))
    return [_scene_from_args(args)]


def _finetune_options(args: argparse.Namespace):  # noqa: ANN202 (FinetuneOptions imports torch-side modules)
    from backend.training.finetune_job import FinetuneOptions  # lazy: keeps --help free of rasterio, torch

    return FinetuneOptions(
        name=args.name, out=Path(args.out) if args.out else user_model_dir(), base_model=args.base_model,
        mode=args.mode, epochs=args.epochs, lr=args.lr, patch=args.patch, batch=args.batch, seed=args.seed,
        add_vv=args.add_vv, early_season=args.early_season, time_shift=args.time_shift, l2sp=args.l2sp,
        class_field=args.class_field,
        rice_values=args.rice_values, block=args.block, max_patches=args.max_patches, overwrite=args.overwrite,
        command="python -m backend " + " ".join(sys.argv[1:]))


def check(args: argparse.Namespace, reporter: Reporter) -> dict:
    """``--check-only``: options, the new model's folder, the base model's card, series, season and labels."""
    from backend.training.finetune_job import check_finetune  # lazy: keeps --help free of rasterio, torch

    return check_finetune(_scenes(args), _finetune_options(args), reporter)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import torch

    from backend.training.finetune_job import run_finetune  # lazy: keeps --help free of rasterio, torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return run_finetune(_scenes(args), _finetune_options(args), reporter)
