"""Training crops from synthetic scenes, composited exactly as a user's scene would be.

Each scene gets its own season window, placed around one of its region's rice sowing dates with random
lead time and length, so a model sees rice cycles at many phases of the window and never one fixed
calendar. Crops are cached on disk (``.cache/pretrain``) keyed by the recipe, so re-running a recipe
or training several models on the same data costs the generation once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from backend.synthetic import generate_scene
from backend.synthetic.regions import REGIONS
from backend.timeseries import composite

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "pretrain"


@dataclass(frozen=True)
class DataRecipe:
    regions: tuple[str, ...]
    scenes_per_region: int
    scene_size: int = 128
    crop: int = 32
    steps: int = 13
    season_days: tuple[int, int] = (120, 190)
    lead_days: tuple[int, int] = (-20, 45)  # season start this many days before a sowing date
    looks: tuple[float, float] = (3.0, 8.0)
    year: int = 2022
    seed: int = 0

    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def sample_season(rng: np.random.Generator, region: str, recipe: DataRecipe) -> tuple[dt.date, dt.date]:
    """A season window that holds (most of) one rice cycle of ``region``, at a random phase."""
    spec = REGIONS[region]
    sowings = [d for system in spec.rice_systems for d in system.sowing_doys]
    sowing = dt.date(recipe.year, 1, 1) + dt.timedelta(days=int(rng.choice(sowings)) - 1)
    start = sowing - dt.timedelta(days=int(rng.integers(*recipe.lead_days)))
    end = start + dt.timedelta(days=int(rng.integers(*recipe.season_days)))
    return start, end


def scene_crops(region: str, seed: int, recipe: DataRecipe) -> tuple[np.ndarray, np.ndarray]:
    """Composited crops ``x (n, T, 2, crop, crop)`` dB ([VV, VH]) and labels ``y (n, crop, crop)``."""
    rng = np.random.default_rng(seed)
    start, end = sample_season(rng, region, recipe)
    scene = generate_scene(region, recipe.scene_size, seed, start - dt.timedelta(days=6),
                           end + dt.timedelta(days=6), looks=float(rng.uniform(*recipe.looks)))
    pols = [composite(cube, scene.dates, start, end, recipe.steps)[0] for cube in (scene.vv_db, scene.vh_db)]
    cube = np.stack(pols, axis=1)  # (T, 2, H, W)
    n = recipe.scene_size // recipe.crop
    xs, ys = [], []
    for i in range(n):
        for j in range(n):
            sl = (slice(i * recipe.crop, (i + 1) * recipe.crop), slice(j * recipe.crop, (j + 1) * recipe.crop))
            xs.append(cube[(slice(None), slice(None)) + sl])
            ys.append(scene.truth[sl])
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.uint8)


def build_dataset(recipe: DataRecipe, cache: bool = True, log=print) -> dict[str, np.ndarray]:
    """All crops of a recipe: ``x``, ``y`` and ``region`` / ``scene`` indices (for grouped splits)."""
    path = CACHE_DIR / f"{recipe.key()}.npz"
    if cache and path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    xs, ys, regions, scenes = [], [], [], []
    for r_index, region in enumerate(recipe.regions):
        for k in range(recipe.scenes_per_region):
            seed = recipe.seed * 100_003 + r_index * 10_007 + k
            x, y = scene_crops(region, seed, recipe)
            xs.append(x)
            ys.append(y)
            regions += [r_index] * len(x)
            scenes += [r_index * 100_000 + k] * len(x)
        log(f"synthetic data: {region} done ({recipe.scenes_per_region} scenes)")
    data = {"x": np.concatenate(xs), "y": np.concatenate(ys), "region": np.asarray(regions, np.int16),
            "scene": np.asarray(scenes, np.int32)}
    if cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial.npz")
        np.savez(tmp, **data)
        tmp.replace(path)
    return data
