"""Real-data learning curve: F1 on held-out sites against the number of labelled points.

The transfer-learning paper's Table 1 design (RF, RI, FT, FTE with growing label counts), on the real
An Giang cubes through the product's real chain (:func:`backend.experiments.angiang.composite_cubes`).
For each of the two site-grouped folds of :data:`~backend.experiments.angiang.FOLDS`, ``n`` points are
sampled, stratified by class, from the sites that fold does *not* hold out; the held-out sites are only
ever predicted. Predictions of both folds together cover every point once and are scored pooled.

Networks see each 10 x 10 cube symmetric-padded to 16 x 16 (the zero-shot check uses 32; same F1) with the
2 x 2 centre pixels labelled (the point); 20 % of the sampled points (at least one per class) are kept
aside for early stopping and the rest are trained on. They are held out point by point, not by spatial
block: they only pick the best epoch and are never scored; every reported number is on held-out sites.
The Random Forest uses the features of ``random_forest_grouped_cv`` on the same sampled points.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from backend.experiments.angiang import (
    FOLDS,
    SEASON,
    centre_features,
    centre_probability,
    composite_cubes,
    pad_to_multiple,
    scores,
)
from backend.inference.loader import default_model_name
from backend.timeseries import select_pols
from backend.training.augment import DEFAULT_TIME_SHIFT, shift_time
from backend.training.patches import IGNORE, band_statistics

METHODS = ("RF", "RI", "FT", "FTE")
SIZES: tuple[int | None, ...] = (10, 20, 50, 100, None)  # None = every point of the training sites
PAD_TO = 16  # the smallest window the default model takes; zero-shot F1 is the same as at 32 px


@dataclass(frozen=True)
class CurveConfig:
    sizes: tuple[int | None, ...] = SIZES
    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = (0,)
    epochs: int = 10
    batch: int = 8
    lr: float = 1e-3
    val_share: float = 0.2
    time_shift: int = DEFAULT_TIME_SHIFT
    l2sp: float = 0.0
    rf_trees: int = 300


@dataclass
class Prepared:
    """Everything a fold's runs need, computed once."""

    x: np.ndarray  # (N, T, C, 32, 32) dB in the model's polarization order
    y: np.ndarray  # (N, 32, 32) labels at the centre 2 x 2, 255 elsewhere
    features: np.ndarray  # (N, F) Random Forest features
    series: np.ndarray  # (N, T, 2, 10, 10) [VV, VH] composites, for time-shifted Random Forest features
    label: np.ndarray
    site: np.ndarray
    crop: slice
    base: Any  # the base network
    base_name: str


def stratified_sample(labels: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` points, half per class as far as each class allows (all points for ``None``)."""
    if n is None or n >= len(labels):
        return rng.permutation(len(labels))
    picks = []
    for cls, share in ((1, n // 2), (0, n - n // 2)):
        members = np.flatnonzero(labels == cls)
        picks.append(rng.choice(members, min(share, len(members)), replace=False))
    return rng.permutation(np.concatenate(picks))


def holdout(labels: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positions (train, val) within ``labels``: ``share`` of each class to val, at least one each."""
    val = []
    for cls in (0, 1):
        members = np.flatnonzero(labels == cls)
        k = min(len(members) - 1, max(1, round(share * len(members))))
        val.extend(rng.choice(members, k, replace=False).tolist())
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, np.asarray(sorted(val))


def composites(cubes: dict[str, np.ndarray], steps: int, cache: Path | None, log: Callable[[str], None]) -> np.ndarray:
    """The cubes through reader + compositing, kept in ``cache`` (an .npy outside the repository) if given."""
    if cache is not None and cache.is_file():
        x = np.load(cache)
        if x.shape[:2] == (len(cubes["label"]), steps):
            return x
    x = composite_cubes(cubes, steps, log=log)
    if cache is not None:
        np.save(cache, x)
    return x


def prepare(cubes: dict[str, np.ndarray], base_model: str | None, log: Callable[[str], None],
            cache: Path | None = None) -> Prepared:
    from backend.modelstore import load_torch  # lazy: torch (via backend.modelstore.torch_io)

    base, card = load_torch(base_model or default_model_name())
    x = composites(cubes, base.steps, cache, log)
    padded, crop = pad_to_multiple(select_pols(x, base.polarizations),
                                   base.size_multiple, minimum=PAD_TO)
    y = np.full((len(x),) + padded.shape[-2:], IGNORE, np.uint8)
    centre = crop.start + x.shape[-1] // 2
    y[:, centre - 1:centre + 1, centre - 1:centre + 1] = cubes["label"][:, None, None]
    return Prepared(padded.astype(np.float32), y, centre_features(x), x, cubes["label"].astype(int),
                    cubes["site"].astype(int), crop, base, card["name"])


def _forest(data: Prepared, train: np.ndarray, test: np.ndarray, seed: int, trees: int,
            time_shift: int = 0) -> np.ndarray:
    """Random Forest predictions; with ``time_shift`` it also trains on every shifted copy of its points
    (shifts -K..K, vacated steps missing), the augmentation the networks get."""
    from sklearn.ensemble import RandomForestClassifier

    features, labels = data.features[train], data.label[train]
    if time_shift > 0:
        shifts = [k for k in range(-time_shift, time_shift + 1) if k]
        features = np.concatenate([features] + [
            centre_features(shift_time(data.series[train], np.full(len(train), k))) for k in shifts])
        labels = np.tile(labels, len(shifts) + 1)
    forest = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1)
    forest.fit(features, labels)
    return forest.predict(data.features[test]) == 1


def _network(data: Prepared, method: str, train: np.ndarray, test: np.ndarray, seed: int,
             cfg: CurveConfig) -> tuple[np.ndarray, int]:
    from backend.training.finetune import fine_tune, initial_network  # lazy: torch (via backend.nets.blocks)
    from backend.training.loop import TrainConfig, predict  # lazy: torch (via backend.training.loop)

    rng = np.random.default_rng(seed)
    fit, val = holdout(data.label[train], cfg.val_share, rng)
    fit, val = train[fit], train[val]
    stats = band_statistics(data.x[fit], data.base.polarizations)
    net = initial_network(copy.deepcopy(data.base), method, False, stats, seed)
    train_cfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch, lr=cfg.lr, seed=seed, patience=cfg.epochs,
                            early_season=False, augment=True, time_shift=cfg.time_shift,
                            l2sp=cfg.l2sp if method != "RI" else 0.0)
    result = fine_tune(net, method, data.x[fit], data.y[fit], data.x[val], data.y[val], train_cfg)
    prob = predict(net, data.x[test], 64)
    return centre_probability(prob[:, data.crop, data.crop]) >= 0.5, result.best_epoch


def zero_shot(data: Prepared) -> dict:
    """The base model on every point, never trained on them (the reference the curve starts from)."""
    from backend.training.loop import predict  # lazy: torch (via backend.training.loop)

    prob = predict(data.base, data.x, 64)
    return scores(centre_probability(prob[:, data.crop, data.crop]) >= 0.5, data.label)


def run_fold(data: Prepared, fold: int, cfg: CurveConfig, threads: int = 1) -> list[dict]:
    """Every (method, n, seed) of one fold: predictions on the fold's held-out sites."""
    import torch


    torch.set_num_threads(threads)
    rice_site, other_sites = FOLDS[fold]
    test = np.flatnonzero(np.isin(data.site, (rice_site, *other_sites)))
    pool = np.flatnonzero(~np.isin(data.site, (rice_site, *other_sites)))
    runs = []
    for seed in cfg.seeds:
        for n in cfg.sizes:
            chosen = pool[stratified_sample(data.label[pool], n, np.random.default_rng(1000 * seed + (n or 0)))]
            for method in cfg.methods:
                t0 = time.monotonic()
                best_epoch = None
                if method == "RF":
                    pred = _forest(data, chosen, test, seed, cfg.rf_trees, cfg.time_shift)
                else:
                    pred, best_epoch = _network(data, method, chosen, test, seed, cfg)
                runs.append({"method": method, "n": n or "all", "n_points": int(len(chosen)), "seed": seed,
                             "fold": fold, "test": test.tolist(), "pred": pred.astype(int).tolist(),
                             "best_epoch": best_epoch, "seconds": round(time.monotonic() - t0, 1)})
    return runs


def pooled_scores(runs: list[dict], label: np.ndarray) -> dict:
    """F1 (and OA) of both folds' predictions together, per method and size, over seeds."""
    table: dict[str, dict[str, Any]] = {}
    keys = sorted({(r["method"], str(r["n"]), r["seed"]) for r in runs})
    per_seed: dict[tuple[str, str], list[dict]] = {}
    for method, n, seed in keys:
        parts = [r for r in runs if (r["method"], str(r["n"]), r["seed"]) == (method, n, seed)]
        test = np.concatenate([r["test"] for r in parts]).astype(int)
        pred = np.concatenate([r["pred"] for r in parts]).astype(bool)
        per_seed.setdefault((method, n), []).append(scores(pred, label[test]))
    for (method, n), results in per_seed.items():
        f1 = [r["f1"] for r in results]
        table.setdefault(method, {})[n] = {"f1_mean": round(float(np.mean(f1)), 4),
                                           "f1_std": round(float(np.std(f1)), 4),
                                           "f1_per_seed": [round(v, 4) for v in f1],
                                           "oa_mean": round(float(np.mean([r["oa"] for r in results])), 4),
                                           "n_test": results[0]["n"]}
    return table


def learning_curve(cubes: dict[str, np.ndarray], base_model: str | None, cfg: CurveConfig, workers: int = 1,
                   log: Callable[[str], None] = print, cache: Path | None = None) -> dict:
    """The whole curve; ``workers`` > 1 runs the two folds in parallel processes (one thread each).

    The result records when it was measured and the load average before and after, so the committed JSON
    (docs/results/learning_curve*.json) says under what conditions its seconds were taken.
    """
    t0 = time.monotonic()
    load_before = os.getloadavg()
    data = prepare(cubes, base_model, log, cache)
    log(f"composited {len(data.label)} cubes; training {len(cfg.methods)} methods x {len(cfg.sizes)} sizes")
    folds = range(len(FOLDS))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(FOLDS)), mp_context=get_context("spawn")) as pool:
            runs = [r for part in pool.map(run_fold, [data] * len(FOLDS), folds, [cfg] * len(FOLDS)) for r in part]
    else:
        runs = [r for fold in folds for r in run_fold(data, fold, cfg)]
    return {"base_model": data.base_name, "season": [str(d) for d in SEASON], "steps": data.base.steps,
            "zero_shot": zero_shot(data),
            "pad_to": int(data.x.shape[-1]), "config": asdict(cfg),
            "folds": [{"held_out_sites": [r, *o]} for r, o in FOLDS],
            "pooled": pooled_scores(runs, data.label),
            "runs": [{k: v for k, v in r.items() if k not in ("test", "pred")} for r in runs],
            "seconds": round(time.monotonic() - t0, 1),
            "measured": {"date": dt.date.today().isoformat(), "cpu_count": os.cpu_count(),
                         "load_average_before": [round(v, 2) for v in load_before],
                         "load_average_after": [round(v, 2) for v in os.getloadavg()]}}


def markdown_table(result: dict, sizes: Sequence[str] | None = None) -> str:
    """The pooled F1 table (mean ± std over seeds) as Markdown."""
    pooled = result["pooled"]
    sizes = sizes or [str(s or "all") for s in result["config"]["sizes"]]
    lines = ["| method | " + " | ".join(f"n = {s}" for s in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for method in result["config"]["methods"]:
        cells = []
        for s in sizes:
            cell = pooled.get(method, {}).get(s)
            cells.append("" if cell is None else f"{cell['f1_mean']:.3f}" + (
                f" ± {cell['f1_std']:.3f}" if len(cell["f1_per_seed"]) > 1 else ""))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
