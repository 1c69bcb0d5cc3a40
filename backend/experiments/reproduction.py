"""The reproduction report: every bundled model on the held-out synthetic region and on real data.

For each model folder: its card's metrics on the held-out synthetic region (written by pretraining),
zero-shot metrics on the real An Giang cubes (computed here, composites shared between models with the
same number of steps), trainable parameters, and ONNX Runtime CPU time per 256 x 256 tile.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from backend.experiments.angiang import zero_shot
from backend.inference.loader import load_model
from backend.training.recipes import HELDOUT_REGION, RECIPES

TILE = 256


def tile_seconds(loaded, repeats: int = 3) -> float:
    """Median seconds for one 256 x 256 tile (batch 1) with the model's engine, after one warm-up."""
    x = np.random.default_rng(0).normal(-15, 3, (1, loaded.steps, len(loaded.pols), TILE, TILE)).astype(np.float32)
    loaded.engine.predict(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loaded.engine.predict(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def parameters(folder: Path) -> int | None:
    if not (folder / "weights.safetensors").is_file():
        return None
    from backend.modelstore import load_torch  # lazy: torch (via backend.modelstore.torch_io)
    from backend.nets.profile import count_parameters  # lazy: torch (via backend.nets.blocks)

    return count_parameters(load_torch(folder)[0])


def model_rows(models_dir: Path, cubes: dict | None, log=print) -> list[dict]:
    composites: dict[int, np.ndarray] = {}
    rows = []
    for r in RECIPES:
        folder = models_dir / r.name
        if not (folder / "card.json").is_file():
            log(f"{r.name}: not built, skipped")
            continue
        loaded = load_model(str(folder), engine="onnx", device="cpu", heatmap=False)
        card = loaded.card
        row = {"name": r.name, "arch": card["arch"], "fusion": card["fusion"], "steps": loaded.steps,
               "polarizations": loaded.pols, "parameters": parameters(folder),
               "seconds_per_tile": round(tile_seconds(loaded), 4),
               "heldout": card.get("metrics", {}).get(f"synthetic_heldout_{HELDOUT_REGION}"),
               "val": card.get("metrics", {}).get("synthetic_val")}
        if cubes is not None:
            row["real_zero_shot"] = zero_shot(str(folder), cubes, composites=composites, log=log)["all"]
        rows.append(row)
        log(f"{r.name}: done")
    return rows


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def markdown_table(rows: list[dict]) -> str:
    head = ("| model | fusion | params | s / 256² tile | held-out OA | F1 | mIoU | rice IoU | real F1 | real OA |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        h = r.get("heldout") or {}
        real = r.get("real_zero_shot") or {}
        fusion = r["fusion"]["scheme"] + (f" / {r['fusion']['method']}" if r["fusion"].get("method") else "")
        params = f"{r['parameters'] / 1e3:.0f} k" if r["parameters"] else "–"
        lines.append(f"| {r['name']} | {fusion} | {params} | {r['seconds_per_tile']:.3f} | {_fmt(h.get('oa'))} | "
                     f"{_fmt(h.get('f1'))} | {_fmt(h.get('miou'))} | {_fmt(h.get('iou_rice'))} | "
                     f"{_fmt(real.get('f1'))} | {_fmt(real.get('oa'))} |")
    return head + "\n".join(lines) + "\n"
