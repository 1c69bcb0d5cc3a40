"""Training and validation patches around the labels, read from the scene exactly as ``map`` reads it.

The split is made on *groups* (whole polygons, spatial blocks of points) before any patch is cut, per
class, so both sides see rice and non-rice. A training patch carries only training labels and a
validation patch only validation labels: every other pixel is 255 (ignored by the loss), so no
validation label ever enters the loss even where the two kinds of patches overlap.
Model input comes from :class:`backend.timeseries.source.SeriesSource` (window read, compositing to the
model's steps over the season), and scene edges are reflect-padded like map tiles.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from backend.errors import UserError
from backend.tiles.tiling import reflect_pad, tile_window
from backend.timeseries.source import SeriesSource
from backend.training.labels import LabelFeature, LabelSet

IGNORE = 255
MAX_PATCHES_PER_FEATURE = 4
GroupKey = tuple[int, int]  # (scene index, group within the scene's labels)


@dataclass
class LabelledScene:
    """One scene's reader, season and labels."""

    reader: Any  # backend.raster.SeriesReader
    season: tuple[dt.date, dt.date]
    labels: LabelSet


@dataclass(frozen=True)
class PatchSpec:
    scene: int
    row: int  # top-left corner in scene pixels (negative = reflect padding)
    col: int
    split: str  # "train" | "val"


@dataclass
class PatchSet:
    x_train: np.ndarray  # (N, T, C, P, P) dB
    y_train: np.ndarray  # (N, P, P) 1 rice, 0 other, 255 ignored
    x_val: np.ndarray
    y_val: np.ndarray

    def summary(self) -> dict:
        def count(y: np.ndarray) -> dict:
            return {"patches": int(len(y)), "rice_pixels": int((y == 1).sum()), "other_pixels": int((y == 0).sum())}

        return {"train": count(self.y_train), "val": count(self.y_val)}


def split_groups(scenes: Sequence[LabelledScene], val_share: float, seed: int) -> set[GroupKey]:
    """Validation groups: about ``val_share`` of each class's groups, at least one, never all."""
    rice_votes: dict[GroupKey, list[bool]] = {}
    for s, scene in enumerate(scenes):
        for f in scene.labels.features:
            rice_votes.setdefault((s, f.group), []).append(f.rice)
    rng = np.random.default_rng(seed)
    val: set[GroupKey] = set()
    for is_rice in (True, False):
        keys = sorted(k for k, votes in rice_votes.items() if (np.mean(votes) >= 0.5) == is_rice)
        if len(keys) < 2:
            name = "rice" if is_rice else "non-rice"
            raise UserError(f"{{param:labels}}: only {len(keys)} separate {name} group(s) (a polygon, or a block of points "
                            "closer than {param:block} pixels); fine-tuning needs at least 2 per class, one to train on "
                            f"and one to validate on: digitize more {name} fields or points further apart", param="labels")
        n_val = min(len(keys) - 1, max(1, round(val_share * len(keys))))
        val.update(keys[i] for i in rng.choice(len(keys), n_val, replace=False))
    return val


def feature_pixels(feature: LabelFeature, grid: Any, limit: int = 256, seed: int = 0) -> np.ndarray:
    """``(k, 2)`` row/col of up to ``limit`` scene pixels the feature labels (empty when it labels none)."""
    from rasterio.features import rasterize
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    inverse = ~grid.transform
    left, bottom, right, top = feature.geometry.bounds
    cols, rows = zip(*(inverse @ (x, y) for x, y in ((left, top), (right, bottom))))
    r0, r1 = max(int(math.floor(min(rows))), 0), min(int(math.floor(max(rows))) + 1, grid.height)
    c0, c1 = max(int(math.floor(min(cols))), 0), min(int(math.floor(max(cols))) + 1, grid.width)
    if r1 <= r0 or c1 <= c0:
        return np.zeros((0, 2), int)
    window = Window(c0, r0, c1 - c0, r1 - r0)
    shape = (r1 - r0, c1 - c0)
    mask = rasterize([(feature.geometry, 1)], out_shape=shape, transform=window_transform(window, grid.transform),
                     fill=0, dtype="uint8")
    if not mask.any():  # a sliver between pixel centres still labels the pixels it touches
        mask = rasterize([(feature.geometry, 1)], out_shape=shape,
                         transform=window_transform(window, grid.transform), fill=0, dtype="uint8", all_touched=True)
    pixels = np.argwhere(mask) + [r0, c0]
    if len(pixels) > limit:
        pixels = pixels[np.random.default_rng(seed).choice(len(pixels), limit, replace=False)]
    return pixels


def _origin(centre: int, size: int, length: int) -> int:
    """Top (or left) of a ``size`` patch around ``centre``; inside the scene when the scene is big enough."""
    if length <= size:
        return -((size - length) // 2)
    return int(np.clip(centre - size // 2, 0, length - size))


def plan_patches(scenes: Sequence[LabelledScene], val_groups: set[GroupKey], patch: int, min_train: int,
                 max_train: int, seed: int) -> list[PatchSpec]:
    """Patch windows: a few jittered ones per training feature, one covering each validation feature."""
    rng = np.random.default_rng(seed)
    train: list[tuple[int, np.ndarray]] = []
    specs: list[PatchSpec] = []
    for s, scene in enumerate(scenes):
        grid, covered = scene.reader.grid, []
        for f in scene.labels.features:
            pixels = feature_pixels(f, grid, seed=seed)
            if not len(pixels):
                continue
            if (s, f.group) in val_groups:
                spec = _val_patch(s, pixels, grid, patch, covered)
                if spec is not None:
                    specs.append(spec)
            else:
                train.append((s, pixels))
    if not train or not specs:
        raise UserError("{param:labels}: the labels cover too few pixels of the rasters to cut training and "
                        "validation patches; digitize larger fields or more points", param="labels")
    specs += _train_patches(scenes, train, patch, min_train, max_train, rng)
    return specs


def _val_patch(s: int, pixels: np.ndarray, grid: Any, patch: int, covered: list[tuple[int, int]]
               ) -> PatchSpec | None:
    """A patch centred on the feature, unless an earlier validation patch already holds its centre."""
    centre = pixels[np.argmin(((pixels - pixels.mean(axis=0)) ** 2).sum(axis=1))]
    margin = patch // 4
    for r0, c0 in covered:
        if r0 + margin <= centre[0] < r0 + patch - margin and c0 + margin <= centre[1] < c0 + patch - margin:
            return None
    r0, c0 = _origin(int(centre[0]), patch, grid.height), _origin(int(centre[1]), patch, grid.width)
    covered.append((r0, c0))
    return PatchSpec(s, r0, c0, "val")


def _train_patches(scenes: Sequence[LabelledScene], train: list[tuple[int, np.ndarray]], patch: int,
                   min_train: int, max_train: int, rng: np.random.Generator) -> list[PatchSpec]:
    """Jittered windows around training pixels: more for large fields, at least ``min_train`` in all."""
    area = patch * patch / 4
    per_feature = [int(np.clip(math.ceil(len(px) / area), 1, MAX_PATCHES_PER_FEATURE)) for _, px in train]
    picks = [i for i, k in enumerate(per_feature) for _ in range(k)]
    while len(picks) < min_train:
        picks.append(int(rng.integers(len(train))))
    if len(picks) > max_train:
        picks = [picks[i] for i in sorted(rng.choice(len(picks), max_train, replace=False))]
    specs = []
    jitter = patch // 4
    for i in picks:
        s, pixels = train[i]
        grid = scenes[s].reader.grid
        r, c = pixels[rng.integers(len(pixels))] + rng.integers(-jitter, jitter + 1, size=2)
        specs.append(PatchSpec(s, _origin(int(r), patch, grid.height), _origin(int(c), patch, grid.width), "train"))
    return specs


class PatchReader:
    """Reads the model input and the split's labels of a :class:`PatchSpec`."""

    def __init__(self, scenes: Sequence[LabelledScene], val_groups: set[GroupKey], pols: list[str], steps: int,
                 patch: int) -> None:
        import shapely


        self.scenes, self.patch = scenes, patch
        self.sources = [SeriesSource(s.reader, pols, s.season, steps, None) for s in scenes]
        self.shapes: dict[tuple[int, str], list[tuple[Any, int]]] = {}
        self.trees: dict[tuple[int, str], Any] = {}
        for s, scene in enumerate(scenes):
            for split in ("train", "val"):
                chosen = [f for f in scene.labels.features if (((s, f.group) in val_groups) == (split == "val"))]
                self.shapes[(s, split)] = [(f.geometry, 2 if f.rice else 1) for f in chosen]
                self.trees[(s, split)] = shapely.STRtree([f.geometry for f in chosen])

    def read(self, spec: PatchSpec) -> tuple[np.ndarray, np.ndarray]:
        """``x (T, C, P, P)`` dB and ``y (P, P)`` uint8 for one patch."""
        grid = self.scenes[spec.scene].reader.grid
        window = tile_window(spec.row, spec.col, self.patch, grid.height, grid.width)
        x, valid = self.sources[spec.scene].read(window)
        x, valid = reflect_pad(x, window.pad), np.pad(valid, window.pad)
        y = self._labels(spec, grid)
        y[~valid] = IGNORE  # nodata and padding carry no label
        return x.astype(np.float32), y

    def _labels(self, spec: PatchSpec, grid: Any) -> np.ndarray:
        import shapely
        from affine import Affine
        from rasterio.features import rasterize

        transform = grid.transform @ Affine.translation(spec.col, spec.row)
        corners = [transform @ (0, 0), transform @ (self.patch, self.patch)]
        (x0, y0), (x1, y1) = corners
        box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        hits = self.trees[(spec.scene, spec.split)].query(box)
        shapes = [self.shapes[(spec.scene, spec.split)][i] for i in sorted(hits)]
        if not shapes:
            return np.full((self.patch, self.patch), IGNORE, np.uint8)
        burned = rasterize(shapes, out_shape=(self.patch, self.patch), transform=transform, fill=0, dtype="uint8")
        return np.select([burned == 2, burned == 1], [1, 0], IGNORE).astype(np.uint8)


def read_patches(reader: PatchReader, specs: Sequence[PatchSpec], reporter: Any) -> PatchSet:
    """Every planned patch; one progress step (and cancel check) per patch."""
    reporter.stage("patches", len(specs), f"reading {len(specs)} patches")
    parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {"train": ([], []), "val": ([], [])}
    for spec in specs:
        x, y = reader.read(spec)
        if (y != IGNORE).any():
            parts[spec.split][0].append(x)
            parts[spec.split][1].append(y)
        reporter.advance(1)
    if not parts["train"][0] or not parts["val"][0]:
        raise UserError("{param:labels}: the labelled pixels hold no valid data in the season (nodata or outside the "
                        "acquisitions); check {param:season} and the rasters' nodata value", param="labels")
    return PatchSet(np.stack(parts["train"][0]), np.stack(parts["train"][1]), np.stack(parts["val"][0]),
                    np.stack(parts["val"][1]))


def band_statistics(x: np.ndarray, pols: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per-polarization dB mean and std of patches ``(N, T, C, H, W)`` (a new input's normalization)."""
    stats = {}
    for i, pol in enumerate(pols):
        values = x[:, :, i]
        mean, std = float(np.nanmean(values)), float(np.nanstd(values))
        stats[pol] = {"mean": mean, "std": std if std > 0 else 1.0}
    return stats
