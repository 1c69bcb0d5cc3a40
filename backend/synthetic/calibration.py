"""Compare the Mekong-like generator with real Sentinel-1 cubes from An Giang (2022).

Statistic: for every point, the mean dB over the acquisitions of each month of a 4 x 4 pixel window
(mean of dB values) at the point; then, per month and class, the mean and the spread (standard
deviation across points) of VV, VH and VH-VV. Real points are the centres of the 600 labelled cubes;
synthetic points are windows lying wholly inside one land cover of Mekong scenes acquired on the real
dates, with the nominal calendar (``calendar_shift_days=0``).

The real rice points come from two sites (150 points each) that follow the two farming systems of
the Mekong preset (dike-protected triple crop; crops with flood-season inundation), so the synthetic
rice sample takes equal numbers of points from each system.

The real non-rice points fall into two groups (per-site means): three sites of trees/orchards/
settlements (VV about -6, VH about -12.5 dB, 200 points) and two sites of open water (VV about -18,
VH about -23 dB, 100 points). The synthetic non-rice sample mimics that mix: two thirds orchard
pixels, one third open-water pixels.

Run ``python -m backend.synthetic.calibration [--write-docs]`` to print the table (and refresh it in
``docs/synthetic.md``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from backend.doc_markers import replace_between
from backend.synthetic import landcover as lc
from backend.synthetic.regions import REGIONS
from backend.synthetic.scene import generate_scene

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO.parent / "shared" / "data" / "ey2023-angiang"
CUBES = "train_cubes.npz"
WINDOW = 4
QUANTITIES = ("VV", "VH", "VH-VV")
NON_RICE_MIX = {lc.ORCHARD: 2 / 3, lc.WATER_OPEN: 1 / 3}
TABLE = "calibration-table"  # blocks of docs/synthetic.md (backend.doc_markers)
CURVES = "curve-tables"

# tolerances checked by tests/backend/test_calibration.py
RICE_MEAN_TOL_DB = 1.5  # VV and VH, every month
RICE_RATIO_MEAN_TOL_DB = 2.0  # VH-VV
NON_RICE_MEAN_TOL_DB = 2.0  # VV, VH and VH-VV
SPREAD_RATIO_RANGE = (0.5, 2.0)


@dataclass
class Points:
    """Per-point time series (N, T, 2) in dB [VV, VH] with their dates."""

    values: np.ndarray
    dates: list[date]


def real_points(data_dir: Path = DATA_DIR) -> dict[str, Points]:
    """Centre-window dB series of the real An Giang cubes, split into ``rice`` and ``non_rice``."""
    data = np.load(data_dir / CUBES)
    cubes = data["vv_vh"].astype(np.float64)  # (N, T, 2, 10, 10) linear power
    lo = (cubes.shape[-1] - WINDOW) // 2
    window = 10 * np.log10(np.maximum(cubes[..., lo:lo + WINDOW, lo:lo + WINDOW], 1e-10))
    values = window.mean(axis=(3, 4))
    dates = [date.fromisoformat(str(d)) for d in data["dates"][0]]
    labels = data["label"]
    return {"rice": Points(values[labels == 1], dates), "non_rice": Points(values[labels == 0], dates)}


def _window_means(cube: np.ndarray, centres: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(N, T) mean dB over the WINDOW x WINDOW window at each centre (top-left = centre - WINDOW//2)."""
    rows, cols = centres
    out = np.zeros((len(rows), cube.shape[0]))
    for dr in range(WINDOW):
        for dc in range(WINDOW):
            out += cube[:, rows + dr, cols + dc].T
    return out / WINDOW ** 2


def _pure_windows(inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of every window that lies wholly inside the boolean mask ``inside``."""
    inside = inside.astype(np.int32)
    summed = np.lib.stride_tricks.sliding_window_view(inside, (WINDOW, WINDOW)).sum(axis=(2, 3))
    return np.nonzero(summed == WINDOW * WINDOW)


def _sample(rng: np.random.Generator, scene, inside: np.ndarray, count: int) -> np.ndarray:
    rows, cols = _pure_windows(inside)
    if len(rows) == 0 or count <= 0:
        return np.zeros((0, len(scene.dates), 2))
    pick = rng.choice(len(rows), size=min(count, len(rows)), replace=False)
    centres = rows[pick], cols[pick]
    return np.stack([_window_means(scene.vv_db, centres), _window_means(scene.vh_db, centres)], axis=2)


def synthetic_points(dates: list[date], scenes: int = 12, size: int = 96, seed: int = 2022,
                     per_scene: int = 60) -> dict[str, Points]:
    """Rice and mixed non-rice window series from ``scenes`` Mekong scenes acquired on ``dates``."""
    rng = np.random.default_rng(seed)
    rice, non_rice = [], []
    for k in range(scenes):
        scene = generate_scene("mekong", size, seed=seed + k, acquisition_dates=dates,
                               calendar_shift_days=0.0, missing_rate=0.0, edge_rate=0.0)
        systems = _system_masks(scene)
        rice += [_sample(rng, scene, mask, per_scene // len(systems)) for mask in systems.values()]
        non_rice += [_sample(rng, scene, scene.landcover == code, int(round(per_scene * share)))
                     for code, share in NON_RICE_MIX.items()]
    return {"rice": _balance(rng, rice, dates), "non_rice": _mix(rng, non_rice, dates)}


def _system_masks(scene) -> dict[str, np.ndarray]:
    """Rice pixels of each farming system (the real sample holds one rice site per system)."""
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    masks = {}
    for system in REGIONS["mekong"].rice_systems:
        polys = [f.polygon for f in scene.fields if f.is_rice and f.system == system.name and not f.polygon.is_empty]
        burned = np.zeros(scene.truth.shape, dtype=np.uint8)
        if polys:
            burned = rasterize(((p, 1) for p in polys), out_shape=scene.truth.shape,
                               transform=Affine(*scene.transform), fill=0, dtype="uint8")
        masks[system.name] = (burned == 1) & (scene.truth == 1)
    return masks


def _balance(rng: np.random.Generator, parts: list[np.ndarray], dates: list[date]) -> Points:
    """Equal numbers of rice points from each farming system (parts alternate system by system)."""
    n_systems = len(REGIONS["mekong"].rice_systems)
    pools = [np.concatenate(parts[i::n_systems]) for i in range(n_systems)]
    count = min(len(p) for p in pools)
    return Points(np.concatenate([p[rng.permutation(len(p))[:count]] for p in pools]), dates)


def _mix(rng: np.random.Generator, parts: list[np.ndarray], dates: list[date]) -> Points:
    """Concatenate per-class samples, then subsample so the NON_RICE_MIX shares hold exactly."""
    by_code: dict[int, list[np.ndarray]] = {code: [] for code in NON_RICE_MIX}
    for i, part in enumerate(parts):
        by_code[list(NON_RICE_MIX)[i % len(NON_RICE_MIX)]].append(part)
    pools = {code: np.concatenate(p) for code, p in by_code.items()}
    total = min(len(pools[c]) / s for c, s in NON_RICE_MIX.items())
    chosen = [pools[c][rng.permutation(len(pools[c]))[:int(total * s)]] for c, s in NON_RICE_MIX.items()]
    return Points(np.concatenate(chosen), dates)


def monthly_stats(points: Points) -> dict[int, dict[str, tuple[float, float]]]:
    """{month: {quantity: (mean, spread)}}; spread = std across points of the per-point monthly mean."""
    months = np.asarray([d.month for d in points.dates])
    series = {"VV": points.values[..., 0], "VH": points.values[..., 1],
              "VH-VV": points.values[..., 1] - points.values[..., 0]}
    stats = {}
    for month in sorted(set(months.tolist())):
        per_point = {q: np.nanmean(v[:, months == month], axis=1) for q, v in series.items()}
        stats[month] = {q: (float(np.mean(p)), float(np.std(p))) for q, p in per_point.items()}
    return stats


def compare(real: dict[str, Points], synth: dict[str, Points]) -> list[dict]:
    """One row per class, month and quantity with real/synthetic mean and spread."""
    rows = []
    for cls in ("rice", "non_rice"):
        r, s = monthly_stats(real[cls]), monthly_stats(synth[cls])
        for month in sorted(set(r) & set(s)):
            for q in QUANTITIES:
                rows.append({"class": cls, "month": month, "quantity": q,
                             "real_mean": r[month][q][0], "synth_mean": s[month][q][0],
                             "real_spread": r[month][q][1], "synth_spread": s[month][q][1]})
    return rows


def tolerance(row: dict) -> float:
    """Allowed |real - synthetic| mean difference (dB) for a comparison row."""
    if row["class"] == "rice":
        return RICE_RATIO_MEAN_TOL_DB if row["quantity"] == "VH-VV" else RICE_MEAN_TOL_DB
    return NON_RICE_MEAN_TOL_DB


def failures(rows: list[dict]) -> list[str]:
    """Human-readable list of rows outside the tolerances (empty when calibrated)."""
    bad = []
    for row in rows:
        diff = row["synth_mean"] - row["real_mean"]
        ratio = row["synth_spread"] / max(row["real_spread"], 1e-6)
        where = f"{row['class']} month {row['month']:02d} {row['quantity']}"
        if abs(diff) > tolerance(row):
            bad.append(f"{where}: mean differs by {diff:+.2f} dB (tolerance {tolerance(row)})")
        if not SPREAD_RATIO_RANGE[0] <= ratio <= SPREAD_RATIO_RANGE[1]:
            bad.append(f"{where}: spread ratio {ratio:.2f} outside {SPREAD_RATIO_RANGE}")
    return bad


def markdown_table(rows: list[dict]) -> str:
    lines = ["| class | month | quantity | real mean | synth mean | diff | real spread | synth spread |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['class']} | {r['month']:02d} | {r['quantity']} | {r['real_mean']:.1f} | "
                     f"{r['synth_mean']:.1f} | {r['synth_mean'] - r['real_mean']:+.1f} | "
                     f"{r['real_spread']:.1f} | {r['synth_spread']:.1f} |")
    return "\n".join(lines)


def curve_tables() -> str:
    """Markdown of every crop template and stable cover, rendered from the code (no copy to drift)."""
    templates = {"rice, Mekong (wet-seeded, tuned on An Giang)": lc.RICE_MEKONG,
                 "rice, transplanted (Korea)": lc.RICE_TRANSPLANTED,
                 "rice, dry-seeded delayed flood (Arkansas)": lc.RICE_DRY_SEEDED,
                 "rice, water-seeded (Sacramento)": lc.RICE_WATER_SEEDED,
                 **{lc.LANDCOVER_NAMES[c]: t for c, t in lc.CROP_TEMPLATES.items()}}
    out = []
    for name, t in templates.items():
        out += [f"**{name}** (day 0 = sowing/transplanting; fallow VV {t.fallow_vv}, VH {t.fallow_vh})", "",
                "| day | " + " | ".join(f"{d:g}" for d in t.days) + " |",
                "|---|" + "---|" * len(t.days),
                "| VV dB | " + " | ".join(f"{v:g}" for v in t.vv) + " |",
                "| VH dB | " + " | ".join(f"{v:g}" for v in t.vh) + " |", ""]
    out += ["| stable cover | VV dB | VH dB | seasonal amplitude VV/VH | object sd | pixel sd | wetness gain | wind gain |",
            "|---|---|---|---|---|---|---|---|"]
    for code, c in lc.STABLE_COVERS.items():
        out.append(f"| {lc.LANDCOVER_NAMES[code]} | {c.vv} | {c.vh} | {c.seasonal_vv}/{c.seasonal_vh} | "
                   f"{c.object_sd} | {c.pixel_sd} | {c.moisture_gain} | {c.wind_gain} |")
    return "\n".join(out)


def _write_docs(table: str, summary: str) -> Path:
    doc = REPO / "docs" / "synthetic.md"
    text = doc.read_text(encoding="utf-8")
    text = replace_between(text, TABLE, f"{summary}\n\n{table}")
    doc.write_text(replace_between(text, CURVES, curve_tables()), encoding="utf-8")
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true", help="refresh the table in docs/synthetic.md")
    args = parser.parse_args(argv)
    if not (DATA_DIR / CUBES).exists():
        print(f"real cubes not found at {DATA_DIR / CUBES}; nothing to compare")
        return 2
    real = real_points()
    rows = compare(real, synthetic_points(real["rice"].dates))
    bad = failures(rows)
    summary = (f"Generated by `python -m backend.synthetic.calibration --write-docs`: "
               f"{len(rows)} comparisons, {len(bad)} outside tolerance.")
    table = markdown_table(rows)
    print(summary)
    print(table)
    for line in bad:
        print("OUT OF TOLERANCE:", line)
    if args.write_docs:
        print(f"wrote {_write_docs(table, summary)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
