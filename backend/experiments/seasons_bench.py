"""``seasonsbench``: the measurements of issue 13, as JSON (docs/results/seasons.json, docs/seasons.md).

* Synthetic ``delta`` region (double and triple rice; never used in training): cropping-intensity
  accuracy, transplanting-date error and per-season rice F1 of the ``seasons`` outputs.
* Window robustness on synthetic scenes (``mekong`` and ``delta``, 2022 series): rice F1 of ``map`` with
  the true season, +-30 days, the whole year, a 90-day window and no season, each as given (the previous
  behaviour, ``--exact-season``) and snapped to the detected cycles (the new default).
* Real An Giang cubes (all 2022 dates), zero-shot with the default model: the same windows. The cycles
  are detected on the VH of all 600 cubes pooled into one mosaic raster; the labels are read only to
  score the maps.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from backend.evaluation.metrics import binary_metrics, confusion_matrix
from backend.experiments import angiang
from backend.progress import Reporter
from backend.seasons import detect
from backend.seasons.choice import resolve_map_season, resolve_season, window_days
from backend.seasons.cycles_map import cycle_probabilities, windows_probability
from backend.seasons.outputs import per_pixel
from backend.seasons.scan import scan
from backend.synthetic.cropping import crop_truth
from backend.synthetic.scene import generate_scene
from backend.synthetic.writer import write_scene
from backend.timeseries import select_pols
from backend.timeseries.compositing import composite

YEAR = (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
TRUE_SEASON = (dt.date(2022, 4, 1), dt.date(2022, 8, 31))  # the reference window (main Summer-Autumn crop)
SHIFT_DAYS = 30
ALL_SEASONS = "no season, --all-seasons"
EARLY_TARGET = 0.85
EARLY_DAYS = (0, 15, 30, 45, 60, 75, 90, 105)  # days after the main cycle's flooding peak
MULTI_SERIES = (dt.date(2021, 10, 1), dt.date(2023, 3, 31))  # every 2022 crop complete inside it


def window_cases() -> dict[str, tuple[dt.date, dt.date] | None]:
    """The windows of issue 13: none, the true season, the whole year, 90 days, and each shifted +-30 days."""
    shift = dt.timedelta(days=SHIFT_DAYS)
    ninety = (dt.date(2022, 4, 15), dt.date(2022, 4, 15) + dt.timedelta(days=89))
    cases: dict[str, tuple[dt.date, dt.date] | None] = {"no season": None, ALL_SEASONS: None}
    for name, (a, b) in (("true season", TRUE_SEASON), ("whole year", YEAR), ("90 days", ninety)):
        cases[name] = (a, b)
        cases[f"{name} -30 d"] = (a - shift, b - shift)
        cases[f"{name} +30 d"] = (a + shift, b + shift)
    return cases


def case_windows(reader: Any, model: Any, name: str, window: tuple[dt.date, dt.date] | None,
                 exact: bool) -> list[tuple[dt.date, dt.date]]:
    """The windows ``map`` composites for a case: 'exact' is the previous behaviour (the window as given,
    or the model's season length ending at the last acquisition), 'snapped' the new default."""
    if name == ALL_SEASONS:
        return resolve_map_season(reader, model, None, all_seasons=True).windows
    if window is None and exact:
        return [resolve_season(reader, model, None, None)]
    return resolve_map_season(reader, model, window, exact=exact).windows


def _f1(pred: np.ndarray, truth: np.ndarray) -> float:
    return round(float(binary_metrics(confusion_matrix(pred, truth))["f1"] or 0.0), 4)


def _write_scene(scene: Any, folder: Path) -> tuple[str, str]:
    write_scene(scene, folder, "a")
    return str(folder / "VV.tif"), str(folder / "VH.tif")


def multicrop_scene(model: Any, seed: int, size: int, tmp: Path) -> dict:
    """Intensity accuracy, transplanting MAE and per-season F1 on one held-out ``delta`` scene."""
    from backend.raster import open_series  # lazy: rasterio (via backend.raster.grid)

    scene = generate_scene("delta", size, seed, start=MULTI_SERIES[0], end=MULTI_SERIES[1])
    count, _ = crop_truth(scene, YEAR, min_growth_days=0)
    _, sowings = crop_truth(scene, MULTI_SERIES, min_growth_days=0, max_crops=8)
    vv, vh = _write_scene(scene, tmp / f"multi{seed}")
    with open_series(vv=[vv], vh=[vh]) as reader:
        found = scan(reader, window_days(model), full=True)
        prob, valid = cycle_probabilities(reader, model, found.cycles, Reporter("none"))
    pixels = per_pixel(found, prob, valid, model.threshold, YEAR)
    errors, seasons = [], []
    for k, cycle in enumerate(found.cycles):
        peak = cycle.flood.toordinal()
        near = np.where(np.abs(sowings - peak) <= detect.MATCH_DAYS + 5, sowings, 0).max(axis=0)
        truth_k = near > 0
        both = pixels["rice"][k] & truth_k
        errors.append((pixels["date"][k][both] - near[both]).astype(float))
        if YEAR[0] <= cycle.flood <= YEAR[1]:
            seasons.append({"window": cycle.record()["window"], "f1": _f1(pixels["rice"][k], truth_k),
                            "truth_share": round(float(truth_k.mean()), 4)})
    err = np.concatenate(errors) if errors else np.zeros(0)
    ok = pixels["valid"]
    return {"seed": seed, "size": size, "cycles": [c.record() for c in found.cycles],
            "intensity_accuracy": round(float(np.mean(np.minimum(pixels["intensity"], 3)[ok] == count[ok])), 4),
            "intensity_confusion": np.bincount(4 * count[ok].astype(int) + np.minimum(pixels["intensity"][ok], 3),
                                               minlength=16).reshape(4, 4).tolist(),
            "transplanting_mae_days": round(float(np.abs(err).mean()), 2) if err.size else None,
            "transplanting_bias_days": round(float(err.mean()), 2) if err.size else None,
            "transplanting_pixels": int(err.size), "seasons": seasons,
            "season_f1_mean": round(float(np.mean([s["f1"] for s in seasons])), 4) if seasons else None}


def window_scene(model: Any, region: str, seed: int, size: int, tmp: Path) -> dict:
    """Rice F1 of ``map`` on one synthetic 2022 scene for every window case, exact and snapped."""
    from backend.raster import open_series  # lazy: rasterio (via backend.raster.grid)

    scene = generate_scene(region, size, seed, start=dt.date(2022, 1, 1), end=dt.date(2022, 12, 31))
    vv, vh = _write_scene(scene, tmp / f"{region}{seed}")
    out = {}
    with open_series(vv=[vv], vh=[vh]) as reader:
        for name, window in window_cases().items():
            row = {}
            for mode, exact in (("exact", True), ("snapped", False)):
                windows = case_windows(reader, model, name, window, exact)
                prob, valid = windows_probability(reader, model, windows, Reporter("none"))
                row[mode] = _f1((prob >= model.threshold) & valid, scene.truth == 1)
                row[f"{mode}_windows"] = [[a.isoformat(), b.isoformat()] for a, b in windows]
            out[name] = row
        early = early_season(reader, model, scene.truth == 1)
    return {"region": region, "seed": seed, "size": size, "cases": out, "early_season": early}


def early_season(reader: Any, model: Any, truth: np.ndarray) -> dict:
    """F1 of the main detected cycle's map as of each of :data:`EARLY_DAYS` after its flooding peak."""
    main = scan(reader, window_days(model), full=False).main
    if main is None:
        return {}
    curve = {}
    for days in EARLY_DAYS:
        as_of = min(main.flood + dt.timedelta(days=days), main.window[1])
        prob, valid = windows_probability(reader, model, [main.window], Reporter("none"), as_of)
        curve[str(days)] = _f1((prob >= model.threshold) & valid, truth)
    return {"window": [d.isoformat() for d in main.window], "flood_peak": main.flood.isoformat(), "f1": curve}


def _mosaic(cubes: dict[str, np.ndarray], folder: Path) -> tuple[str, str, int]:
    """All cubes side by side in one raster per polarization (layout a, linear power); cubes per row."""
    import rasterio
    from rasterio.transform import from_origin

    x = cubes["vv_vh"]  # (N, T, 2, 10, 10)
    n, t, _, h, w = x.shape
    per_row = int(np.ceil(np.sqrt(n)))
    rows = -(-n // per_row)
    mosaic = np.full((2, t, rows * h, per_row * w), np.nan, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, per_row)
        mosaic[:, :, r * h:(r + 1) * h, c * w:(c + 1) * w] = np.moveaxis(x[i], 1, 0)
    dates = [str(d) for d in cubes["dates"][0]]
    paths = []
    for p, pol in enumerate(("VV", "VH")):
        path = folder / f"mosaic_{pol}.tif"
        profile = {"driver": "GTiff", "dtype": "float32", "count": t, "height": mosaic.shape[2],
                   "width": mosaic.shape[3], "crs": "EPSG:32648", "transform": from_origin(500000, 1150000, 10, 10),
                   "nodata": float("nan")}
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(mosaic[p])
            for b, date in enumerate(dates, start=1):
                dst.set_band_description(b, date)
        paths.append(str(path))
    return paths[0], paths[1], per_row


def _predict_cubes(full: np.ndarray, n: int, per_row: int, model: Any, angiang: Any) -> np.ndarray:
    """Centre probability of each 10 x 10 cube cut from a (T, 2, H, W) composite of the mosaic."""
    x = np.stack([full[:, :, (i // per_row) * 10:(i // per_row + 1) * 10, (i % per_row) * 10:(i % per_row + 1) * 10]
                  for i in range(n)])
    padded, crop = angiang.pad_to_multiple(select_pols(x, model.pols), model.size_multiple)
    prob = np.concatenate([model.engine.predict(padded[i:i + 64]) for i in range(0, n, 64)])
    return angiang.centre_probability(prob[:, crop, crop])


def real_angiang(model: Any, data_dir: Path | None, tmp: Path, log: Any = None) -> dict:
    """Zero-shot F1 on the real An Giang cubes for every window case, exact and snapped."""
    from backend.raster import open_series  # lazy: rasterio (via backend.raster.grid)

    cubes = angiang.load_cubes(data_dir or angiang.DATA_DIR)
    vv, vh, per_row = _mosaic(cubes, tmp)
    n = len(cubes["label"])
    cache: dict[tuple[dt.date, dt.date], np.ndarray] = {}

    def centre_prob(window: tuple[dt.date, dt.date], reader: Any) -> np.ndarray:
        if window not in cache:
            pols = [composite(reader.read(p), reader.dates[p], *window, model.steps)[0] for p in ("VV", "VH")]
            cache[window] = _predict_cubes(np.stack(pols, axis=1), n, per_row, model, angiang)
        return cache[window]

    out = {}
    with open_series(vv=[vv], vh=[vh]) as reader:
        found = scan(reader, window_days(model), full=False)
        for name, window in window_cases().items():
            if name.startswith("90 days"):
                continue  # not one of the real-data targets
            row = {}
            for mode, exact in (("exact", True), ("snapped", False)):
                windows = case_windows(reader, model, name, window, exact)
                prob = np.max([centre_prob(w, reader) for w in windows], axis=0)
                row[mode] = _f1(prob >= model.threshold, cubes["label"] == 1)
                row[f"{mode}_windows"] = [[a.isoformat(), b.isoformat()] for a, b in windows]
            out[name] = row
            if log:
                log(f"An Giang {name}: exact {row['exact']}, snapped {row['snapped']}")
        main = found.main
        if main is None:
            raise ValueError("no rice cycle found in the An Giang cubes")
        early = {}
        for days in EARLY_DAYS:
            as_of = min(main.flood + dt.timedelta(days=days), main.window[1])
            key = (main.window, as_of)
            if key not in cache:
                start, end = main.window
                pols = [composite(reader.read(p), reader.dates[p], start, end, model.steps, as_of)[0]
                        for p in ("VV", "VH")]
                cache[key] = _predict_cubes(np.stack(pols, axis=1), n, per_row, model, angiang)
            early[str(days)] = _f1(cache[key] >= model.threshold, cubes["label"] == 1)
    return {"n_cubes": n, "detected": found.record(), "cases": out,
            "early_season": {"window": [d.isoformat() for d in main.window], "flood_peak": main.flood.isoformat(),
                             "f1": early},
            "how": "cycles detected on the VH of all cubes pooled into one mosaic raster (labels never read); "
                   "each cube composited over the chosen window(s), predicted alone (reflect-padded), label "
                   "compared with the mean probability of the 2 x 2 centre pixels, the maximum over windows"}


def choice_timing(model: Any, size: int, tmp: Path, repeats: int = 3) -> dict:
    """Seconds ``map`` spends choosing its season on a synthetic Mekong scene (seed 1, 2022), best of
    ``repeats``: with no season (detection and the model's rice share per complete cycle) and with the
    true season given (detection and snapping only). The scene's mapping itself is not timed here.
    """
    from backend.raster import open_series  # lazy: rasterio (via backend.raster.grid)

    scene = generate_scene("mekong", size, 1, start=YEAR[0], end=YEAR[1])
    vv, vh = _write_scene(scene, tmp / "timing")
    del scene
    out: dict[str, Any] = {"scene": f"synth --region mekong --size {size} --seed 1", "repeats": repeats}
    with open_series(vv=[vv], vh=[vh]) as reader:
        for name, season in (("no season", None), ("true season", TRUE_SEASON)):
            times, choice = [], None
            for _ in range(repeats):
                start = time.perf_counter()
                choice = resolve_map_season(reader, model, season)
                times.append(time.perf_counter() - start)
            out[name] = {"seconds": round(min(times), 3), "all_seconds": [round(t, 3) for t in times],
                         "windows": [[a.isoformat(), b.isoformat()] for a, b in choice.windows] if choice else []}
    out["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return out


def run_bench(model: Any, seeds: tuple[int, ...] = (101, 102), size: int = 128, data_dir: Path | None = None,
              real: bool = True, log: Any = None, timing_size: int = 1024) -> dict:
    """Every measurement of the seasons benchmark.

    Args:
        model: the loaded model (default: simta-feature-cga).
        seeds: synthetic scene seeds (the same for each region).
        size: synthetic scene side in pixels.
        data_dir: folder of the An Giang cubes (default: ../shared/data/ey2023-angiang).
        real: include the real-data part.
        log: optional line logger.
        timing_size: side of the scene :func:`choice_timing` runs on (0: not measured).

    Returns:
        JSON-able results with per-scene values and means.
    """
    with tempfile.TemporaryDirectory(prefix="seasonsbench-") as folder:
        tmp = Path(folder)
        multi = [multicrop_scene(model, s, size, tmp) for s in seeds]
        if log:
            log("multi-crop (intensity accuracy, transplanting MAE, season F1): "
                f"{[(m['intensity_accuracy'], m['transplanting_mae_days'], m['season_f1_mean']) for m in multi]}")
        windows = [window_scene(model, r, s, size, tmp) for r in ("mekong", "delta") for s in seeds]
        result = {"model": model.name, "multicrop": multi, "window_robustness": windows,
                  "summary": summarize(multi, windows)}
        if real:
            result["angiang"] = real_angiang(model, data_dir, tmp, log)
        if timing_size:
            result["choice_timing"] = choice_timing(model, timing_size, tmp)
            if log:
                log(f"season choice on {timing_size}^2 px: {result['choice_timing']}")
    return result


def summarize(multi: list[dict], windows: list[dict]) -> dict:
    """Means over scenes and the F1 losses against the true season."""
    def mean(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 4) if values else None

    cases = list(windows[0]["cases"]) if windows else []
    f1 = {mode: {c: mean([w["cases"][c][mode] for w in windows]) for c in cases} for mode in ("exact", "snapped")}
    loss = {mode: {c: round(f1[mode]["true season"] - v, 4) for c, v in f1[mode].items() if v is not None}
            for mode in f1} if cases else {}
    curves = [w["early_season"]["f1"] for w in windows if w.get("early_season")]
    early = {d: mean([c[d] for c in curves]) for d in (curves[0] if curves else {})}
    first = next((int(d) for d, v in early.items() if v is not None and v >= EARLY_TARGET), None)
    return {"intensity_accuracy": mean([m["intensity_accuracy"] for m in multi]),
            "early_season_f1": early, "early_season_first_day_f1_085": first,
            "transplanting_mae_days": mean([m["transplanting_mae_days"] for m in multi]),
            "season_f1": mean([m["season_f1_mean"] for m in multi]),
            "window_f1": f1, "window_f1_loss_vs_true_season": loss}
