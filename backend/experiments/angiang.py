"""The real-data check on the An Giang Sentinel-1 cubes (shared/data/ey2023-angiang).

Every cube goes through the product's own chain: written as georeferenced layout-(a) GeoTIFFs (one
multi-band file per polarization, one band per date, linear power as delivered), read back with
:func:`backend.raster.open_series`, composited over the season to the model's steps, then predicted.
The 10 x 10 cube is reflect-padded to the model's size multiple (as `map` does for scenes smaller than
a tile) and the label is compared with the mean probability of the 2 x 2 centre pixels.

The Random Forest reference is trained on the same composites with site-grouped cross-validation:
two folds that each hold out one rice site and a disjoint group of non-rice sites, so no site is ever
both trained on and tested (points of one site are near-duplicates; see the data's README).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np

from backend.baselines.features import composite_features
from backend.errors import UserError
from backend.evaluation.metrics import binary_metrics, confusion_matrix
from backend.inference.loader import load_model
from backend.timeseries import composite_series, select_pols

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "ey2023-angiang"
SEASON = (dt.date(2022, 4, 1), dt.date(2022, 8, 31))
#: site groups held out together: (rice site, non-rice sites)
FOLDS = ((0, (2, 3)), (1, (4, 5, 6)))


def load_cubes(data_dir: Path = DATA_DIR) -> dict[str, np.ndarray]:
    path = Path(data_dir) / "train_cubes.npz"
    if not path.is_file():
        raise UserError(f"{path} not found; the real-data check needs shared/data/ey2023-angiang beside the "
                        "repository (pass {param:data} DIR)", param="data")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def write_cube_rasters(cubes: dict[str, np.ndarray], index: int, folder: Path) -> tuple[Path, Path]:
    """One cube as VV.tif and VH.tif (layout a, linear power, band descriptions = dates)."""
    import rasterio
    from rasterio.transform import from_origin

    vv_vh = cubes["vv_vh"][index]  # (T, 2, 10, 10)
    dates = [str(d) for d in cubes["dates"][index]]
    size = float(cubes["pixel_size"])
    transform = from_origin(float(cubes["x0"][index]), float(cubes["y0"][index]), size, size)
    paths = []
    for p, pol in enumerate(("VV", "VH")):
        path = folder / f"cube{index:03d}_{pol}.tif"
        profile = {"driver": "GTiff", "dtype": "float32", "count": len(dates), "height": vv_vh.shape[2],
                   "width": vv_vh.shape[3], "crs": f"EPSG:{int(cubes['epsg'])}", "transform": transform,
                   "nodata": float("nan")}
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(vv_vh[:, p].astype(np.float32))
            for b, date in enumerate(dates, start=1):
                dst.set_band_description(b, date)
        paths.append(path)
    return paths[0], paths[1]


def composite_cubes(cubes: dict[str, np.ndarray], steps: int, season=SEASON, as_of=None, log=None) -> np.ndarray:
    """All cubes through reader + compositing: ``(N, steps, 2, 10, 10)`` dB, channels [VV, VH]."""
    from backend.raster import open_series  # lazy: rasterio (via backend.raster.grid)

    out = []
    with tempfile.TemporaryDirectory(prefix="angiang-") as tmp:
        for i in range(len(cubes["label"])):
            vv, vh = write_cube_rasters(cubes, i, Path(tmp))
            with open_series(vv=[str(vv)], vh=[str(vh)]) as reader:
                pols = [composite_series(reader, pol, season[0], season[1], steps, as_of=as_of)[0]
                        for pol in ("VV", "VH")]
            out.append(np.stack(pols, axis=1))
            if log and (i + 1) % 100 == 0:
                log(f"composited {i + 1}/{len(cubes['label'])} cubes")
    return np.stack(out).astype(np.float32)


def pad_to_multiple(x: np.ndarray, multiple: int, minimum: int = 32) -> tuple[np.ndarray, slice]:
    """Reflect-pad the spatial axes to a size the model accepts; returns the array and the crop back."""
    size = x.shape[-1]
    target = max(minimum, -(-size // multiple) * multiple)
    before = (target - size) // 2
    after = target - size - before
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(before, after), (before, after)], mode="symmetric")
    return padded, slice(before, before + size)


def centre_probability(prob: np.ndarray) -> np.ndarray:
    """Mean of the 2 x 2 centre pixels of ``(N, 10, 10)`` probabilities."""
    c = prob.shape[-1] // 2
    return prob[:, c - 1:c + 1, c - 1:c + 1].mean(axis=(1, 2))


def scores(pred: np.ndarray, label: np.ndarray) -> dict:
    m = binary_metrics(confusion_matrix(pred, label == 1))
    return {k: m[k] for k in ("oa", "precision", "recall", "f1", "iou_rice", "miou", "kappa")} | {
        "n": int(len(label))}


def zero_shot(model: str | None, cubes: dict[str, np.ndarray], engine: str = "onnx", log=None,
              composites: dict[int, np.ndarray] | None = None) -> dict:
    """The model, never trained on these labels, through the real chain.

    ``composites`` caches :func:`composite_cubes` per number of steps across several models.
    """
    loaded = load_model(model, engine=engine, device="cpu", heatmap=False)
    composites = {} if composites is None else composites
    if loaded.steps not in composites:
        composites[loaded.steps] = composite_cubes(cubes, loaded.steps, log=log)
    x = select_pols(composites[loaded.steps], loaded.pols)
    padded, crop = pad_to_multiple(x, loaded.size_multiple)
    prob = np.concatenate([loaded.engine.predict(padded[i:i + 64]) for i in range(0, len(padded), 64)])
    centre = centre_probability(prob[:, crop, crop])
    label = cubes["label"]
    return {"model": loaded.name, "engine": loaded.engine.name, "season": [str(d) for d in SEASON],
            "steps": loaded.steps, "threshold": loaded.threshold,
            "all": scores(centre >= loaded.threshold, label),
            "per_site_rice_share": {int(s): float(np.mean(centre[cubes["site"] == s] >= loaded.threshold))
                                    for s in np.unique(cubes["site"])}}


def centre_features(x: np.ndarray) -> np.ndarray:
    """Random Forest features of the centre 2 x 2 mean series of ``(N, T, 2, 10, 10)`` [VV, VH] cubes."""
    c = x.shape[-1] // 2
    series = x[:, :, :, c - 1:c + 1, c - 1:c + 1].mean(axis=(3, 4))
    return np.nan_to_num(composite_features(series, ["VV", "VH"]), nan=-30.0)


def random_forest_grouped_cv(cubes: dict[str, np.ndarray], steps: int = 13, seed: int = 0,
                             x: np.ndarray | None = None) -> dict:
    """Random Forest on the centre-pixel composites, site-grouped 2-fold cross-validation."""
    from sklearn.ensemble import RandomForestClassifier

    x = composite_cubes(cubes, steps) if x is None else x
    feats = centre_features(x)
    label, site = cubes["label"], cubes["site"]
    pred = np.zeros(len(label), bool)
    folds = []
    for rice_site, other_sites in FOLDS:
        test = np.isin(site, (rice_site, *other_sites))
        forest = RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=2)
        forest.fit(feats[~test], label[~test])
        pred[test] = forest.predict(feats[test]) == 1
        folds.append({"held_out_sites": [rice_site, *other_sites], **scores(pred[test], label[test])})
    return {"steps": steps, "folds": folds, "pooled": scores(pred, label)}
