"""The whole fine-tuning run behind ``python -m backend finetune``: labels in, a new model folder out.

Order matters for the user: every check that can fail fast (options, target name, base model, rasters,
labels, split) runs before any patch is read or any epoch is trained, and the model folder is written
atomically by :func:`backend.modelstore.save_model` only after training succeeded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from backend.errors import UserError
from backend.inference.loader import check_model, default_model_name
from backend.modelstore import BUNDLED_DIR, load_torch, save_model
from backend.progress import Reporter
from backend.raster.plausibility import check_for_model
from backend.seasons.choice import resolve_season
from backend.timeseries.source import check_dates_match
from backend.training.augment import DEFAULT_TIME_SHIFT
from backend.training.finetune import DEFAULT_MODE, MIN_STEPS_PER_EPOCH, check_mode, fine_tune, initial_network
from backend.training.labels import check_both_classes, read_labels
from backend.training.loop import TrainConfig, labelled_metrics, predict
from backend.training.patches import (
    LabelledScene,
    PatchReader,
    PatchSet,
    band_statistics,
    plan_patches,
    read_patches,
    split_groups,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
METRIC_KEYS = ("oa", "precision", "recall", "f1", "iou_rice", "miou", "kappa")


@dataclass
class SceneInput:
    """One scene to take labels from: how to open its series, its labels file and its season."""

    open_series: Callable[[Sequence[str]], Any]  # required polarizations -> SeriesReader
    labels: str
    season: tuple[dt.date, dt.date] | None = None


@dataclass
class FinetuneOptions:
    name: str
    out: Path
    base_model: str | None = None
    mode: str = DEFAULT_MODE
    epochs: int = 20
    lr: float = 1e-3
    patch: int = 32
    batch: int = 16
    seed: int = 0
    patience: int = 6
    add_vv: bool = False
    early_season: bool = False
    time_shift: int = DEFAULT_TIME_SHIFT
    l2sp: float = 0.0
    class_field: str | None = None
    rice_values: list[str] | None = None
    block: int | None = None  # spatial block for points / raster labels (default: the patch size)
    val_share: float = 0.25
    max_patches: int = 256
    overwrite: bool = False
    command: str = "python -m backend finetune"


@dataclass
class _SeasonNeeds:
    """What :func:`backend.seasons.choice.resolve_season` asks of a model."""

    pols: list[str]
    steps: int
    season_days: int | None


def check_options(opts: FinetuneOptions) -> None:
    opts.mode = check_mode(opts.mode)
    for option, value, lowest in (("epochs", opts.epochs, 1), ("patch", opts.patch, 8),
                                  ("batch", opts.batch, 1), ("max_patches", opts.max_patches, 2)):
        if value < lowest:
            raise UserError(f"{{param:{option}}} {value}: give at least {lowest}", param=option)
    if not opts.lr > 0:
        raise UserError(f"{{param:lr}} {opts.lr}: the learning rate must be positive (e.g. 1e-3)", param="lr")
    if opts.time_shift < 0:
        raise UserError(f"{{param:time_shift}} {opts.time_shift}: give 0 (off) or a number of composite steps", param="time_shift")
    if opts.l2sp < 0:
        raise UserError(f"{{param:l2sp}} {opts.l2sp}: give 0 (off) or a positive strength", param="l2sp")
    if opts.block is not None and opts.block < 1:
        raise UserError(f"{{param:block}} {opts.block}: give a block size of at least 1 pixel", param="block")


def target_folder(opts: FinetuneOptions) -> Path:
    """The new model's folder; UserError for a bad name, a bundled name or an existing model."""
    if not NAME_PATTERN.match(opts.name or ""):
        raise UserError(f"{{param:name}} {opts.name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                        "or digit (it becomes a folder name)", param="name")
    if (BUNDLED_DIR / opts.name).exists():
        raise UserError(f"{{param:name}} {opts.name}: a bundled model has that name and bundled models are never replaced "
                        "or shadowed; choose another name", param="name")
    out = Path(opts.out).expanduser()
    if out.resolve() == BUNDLED_DIR.resolve():
        raise UserError(f"{{param:out}} {out} is the bundled model folder; fine-tuned models go elsewhere "
                        "(default: the user model folder)", param="out")
    folder = out / opts.name
    if folder.exists() and not opts.overwrite:
        raise UserError(f"model {folder} already exists; pass {{param:overwrite}} to replace it or choose another {{param:name}}", param="overwrite")
    return folder


def _open_scene(scene: SceneInput, pols: list[str], needs: _SeasonNeeds, opts: FinetuneOptions,
                block: int, reporter: Reporter, stack: contextlib.ExitStack) -> LabelledScene:
    reader = stack.enter_context(scene.open_series(pols))
    check_dates_match(reader, pols)
    season = resolve_season(reader, needs, scene.season, None)
    for warning in check_for_model(reader, pols, needs.steps, season):
        reporter.log(f"warning: {warning['message']}")
    labels = read_labels(scene.labels, reader.grid, opts.class_field, opts.rice_values, block, log=reporter.log)
    return LabelledScene(reader, season, labels)


def _training_pols(net: Any, add_vv: bool) -> list[str]:
    return ["VH", "VV"] if add_vv else list(net.polarizations)


def _collect_patches(scenes: list[LabelledScene], pols: list[str], steps: int, opts: FinetuneOptions,
                     reporter: Reporter) -> tuple[PatchSet, dict]:
    check_both_classes([s.labels for s in scenes], opts.rice_values)
    val_groups = split_groups(scenes, opts.val_share, opts.seed)
    specs = plan_patches(scenes, val_groups, opts.patch, min_train=2 * opts.batch, max_train=opts.max_patches,
                         seed=opts.seed)
    patches = read_patches(PatchReader(scenes, val_groups, pols, steps, opts.patch), specs, reporter)
    all_groups = {(i, f.group) for i, s in enumerate(scenes) for f in s.labels.features}
    split = {"validation_groups": len(val_groups), "training_groups": len(all_groups - val_groups),
             "grouping": "whole polygons; points and raster labels by spatial blocks", **patches.summary()}
    return patches, split


def check_finetune(scene_inputs: Sequence[SceneInput], opts: FinetuneOptions, reporter: Reporter) -> dict:
    """The checks :func:`run_finetune` makes before training, without loading weights or writing anything.

    Returns:
        What was checked: the new model's folder, the base model, and per scene its season and labels.

    Raises:
        UserError: the first problem, naming its parameter.
    """
    check_options(opts)
    folder = target_folder(opts)
    base = check_model(opts.base_model, key="base_model")
    multiple = base.size_multiple
    if opts.patch % multiple:
        raise UserError(f"{{param:patch}} {opts.patch}: model {base.name!r} takes sizes that are multiples of "
                        f"{multiple}", param="patch")
    pols = ["VH", "VV"] if opts.add_vv else base.pols
    needs = _SeasonNeeds(pols, base.steps, base.season_days)
    with contextlib.ExitStack() as stack:
        scenes = [_open_scene(s, pols, needs, opts, opts.block or opts.patch, reporter, stack) for s in scene_inputs]
        check_both_classes([s.labels for s in scenes], opts.rice_values)
        return {"model_folder": str(folder), "base_model": base.name,
                "scenes": [{"season": [d.isoformat() for d in s.season], "labels": s.labels.summary()}
                           for s in scenes]}


def run_finetune(scene_inputs: Sequence[SceneInput], opts: FinetuneOptions, reporter: Reporter) -> dict:
    """Fine-tune ``opts.base_model`` on the labels of ``scene_inputs``; returns the saved card's summary."""
    t0 = time.monotonic()
    check_options(opts)
    folder = target_folder(opts)
    base, base_card = load_torch(opts.base_model or default_model_name())
    multiple = base.size_multiple
    if opts.patch % multiple:
        raise UserError(f"{{param:patch}} {opts.patch}: model {base_card['name']!r} takes sizes that are multiples of "
                        f"{multiple}; use e.g. {max(opts.patch // multiple, 1) * multiple} or "
                        f"{(opts.patch // multiple + 1) * multiple}", param="patch")
    pols = _training_pols(base, opts.add_vv)
    needs = _SeasonNeeds(pols, base.steps, base_card["inputs"].get("season_days"))
    with contextlib.ExitStack() as stack:
        scenes = [_open_scene(s, pols, needs, opts, opts.block or opts.patch, reporter, stack) for s in scene_inputs]
        patches, split = _collect_patches(scenes, pols, base.steps, opts, reporter)
        seasons = [s.season for s in scenes]
        label_summaries = [s.labels.summary() for s in scenes]
    net = initial_network(base, opts.mode, opts.add_vv, band_statistics(patches.x_train, pols), opts.seed)
    result, metrics = _train(net, patches, opts, reporter)
    card = _card(opts, base_card, seasons, label_summaries, split, result, metrics, time.monotonic() - t0)

    reporter.stage("save", 1, f"writing {folder}")
    saved = save_model(net, card, folder, overwrite=opts.overwrite)
    reporter.advance(1, "saved")
    return {"model": saved["name"], "path": str(folder), "base_model": base_card["name"], "mode": opts.mode,
            "validation": metrics, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
            "seconds": round(time.monotonic() - t0, 1), "patches": split}


def _train(net: Any, patches: PatchSet, opts: FinetuneOptions, reporter: Reporter) -> tuple[Any, dict]:
    cfg = TrainConfig(epochs=opts.epochs, batch_size=opts.batch, lr=opts.lr, seed=opts.seed, patience=opts.patience,
                      early_season=opts.early_season, augment=True, time_shift=opts.time_shift,
                      l2sp=opts.l2sp if opts.mode != "RI" else 0.0)
    reporter.stage("train", opts.epochs, f"{opts.mode} on {len(patches.x_train)} patches")

    def on_epoch(log: Any) -> None:
        reporter.event("epoch", epoch=log.epoch, loss=round(log.loss, 5), val_loss=round(log.val_loss, 5),
                       val_f1=round(log.val_f1, 4), val_iou=round(log.val_iou, 4), seconds=round(log.seconds, 2))
        reporter.advance(1, f"epoch {log.epoch}: val F1 {log.val_f1:.3f}")

    batches = BatchEvents(reporter, batches_per_epoch(len(patches.x_train), opts.batch), opts.epochs)
    batches.begin_epoch(1)
    result = fine_tune(net, opts.mode, patches.x_train, patches.y_train, patches.x_val, patches.y_val, cfg,
                       on_epoch=batches.wrap_epoch(on_epoch), check_cancel=batches.after_batch)
    scores = labelled_metrics(predict(net, patches.x_val, opts.batch), patches.y_val)
    metrics = {k: (None if scores[k] is None else round(float(scores[k]), 4)) for k in METRIC_KEYS}
    return result, metrics


def batches_per_epoch(samples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch of :func:`fine_tune`, which repeats few samples up to a minimum."""
    if samples <= 0:
        return 0
    return math.ceil(max(samples, batch_size * MIN_STEPS_PER_EPOCH) / batch_size)


class BatchEvents:
    """``batch`` events (``epoch``, ``batch``, ``batches``) from the training loop's per-batch cancel check,
    so a front end shows real progress within an epoch: batch 0 when an epoch starts, then at most one every
    :attr:`INTERVAL_S` plus the epoch's last batch, so a fast run does not flood the JSON stream."""

    INTERVAL_S = 0.5

    def __init__(self, reporter: Reporter, batches: int, epochs: int) -> None:
        self.reporter = reporter
        self.batches = batches
        self.epochs = epochs
        self.epoch = 1
        self.batch = 0
        self._last = -math.inf

    def begin_epoch(self, epoch: int) -> None:
        """Start counting ``epoch``'s batches; a ``batch`` event with batch 0 says how many there will be."""
        self.epoch, self.batch = epoch, 0
        if self.reporter.mode == "json":
            self.reporter.event("batch", epoch=epoch, batch=0, batches=self.batches)

    def after_batch(self) -> None:
        """Called after each optimizer step: report, then honour a cancel request."""
        self.batch += 1
        now = time.monotonic()
        if self.reporter.mode == "json" and (now - self._last >= self.INTERVAL_S or self.batch == self.batches):
            self._last = now
            self.reporter.event("batch", epoch=self.epoch, batch=self.batch, batches=self.batches)
        self.reporter.check_cancel()

    def wrap_epoch(self, on_epoch: Callable[[Any], None]) -> Callable[[Any], None]:
        """``on_epoch`` that also starts counting the next epoch's batches."""
        def wrapped(log: Any) -> None:
            on_epoch(log)
            if log.epoch < self.epochs:  # (an early stop then never starts it: the result follows)
                self.begin_epoch(log.epoch + 1)
        return wrapped


def _card(opts: FinetuneOptions, base_card: dict, seasons: list, labels: list[dict], split: dict, result: Any,
          metrics: dict, seconds: float) -> dict:
    season_days = int(np.mean([(end - start).days + 1 for start, end in seasons]))
    training = {"command": opts.command, "mode": opts.mode, "base_model": base_card["name"],
                "epochs": opts.epochs, "lr": opts.lr, "patch": opts.patch, "batch": opts.batch, "seed": opts.seed,
                "add_vv": opts.add_vv, "early_season": opts.early_season, "time_shift": opts.time_shift,
                "l2sp": opts.l2sp,
                "seasons": [[s.isoformat(), e.isoformat()] for s, e in seasons], "labels": labels, "split": split,
                "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
                "history": [asdict(h) for h in result.history], "seconds": round(seconds, 1)}
    return {"name": opts.name, "description": f"{base_card['name']} fine-tuned ({opts.mode}) on local labels",
            "base_model": base_card["name"], "training": training,
            "metrics": {"validation": {**metrics, "note": "held-out label groups of the fine-tuning scenes"}},
            "inputs": {"season_days": season_days}, "default": False,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}

