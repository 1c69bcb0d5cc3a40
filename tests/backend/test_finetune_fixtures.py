"""Helpers for the fine-tuning tests: a small synthetic scene, label layers written from it, a tiny model.

Test modules import them (``from test_finetune_fixtures import ...``); this module holds no tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SEASON = ("2022-05-01", "2022-08-31")
STEPS = 4
PATCH = 32


def run_backend(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=240, env=env)


def synth_scene(folder: Path, size: int = 64, seed: int = 3) -> Path:
    """A Mekong-like synthetic scene (VV.tif, VH.tif, truth.tif, labels.gpkg) written by the synth verb."""
    proc = run_backend("synth", "--region", "mekong", "--size", str(size), "--seed", str(seed), "--out", str(folder))
    assert proc.returncode == 0, proc.stderr
    return folder


def save_tiny_models(folder: Path) -> dict[str, str]:
    """Tiny random-init SimTA (feature-level CGA) and VH recurrent U-Net, 4 steps, size multiple 4."""
    import torch

    from backend.modelstore import save_model
    from backend.nets import build_model

    torch.manual_seed(0)
    simta = build_model("simta", fusion="feature", fusion_method="cga", steps=STEPS, width=4, depth=2, large_kernel=3)
    rnn = build_model("recurrent_unet", polarizations=["VH"], steps=STEPS, width=4, depth=2)
    paths = {}
    for name, net in (("tiny-simta", simta), ("tiny-rnn-vh", rnn)):
        save_model(net, {"name": name, "inputs": {"season_days": 123}}, folder / name, check_parity=False)
        paths[name] = str(folder / name)
    return paths


def read_layer(path: Path) -> tuple[dict, np.ndarray, list[np.ndarray]]:
    import pyogrio.raw
    import shapely

    meta, _, wkb, fields = pyogrio.raw.read(str(path))
    return meta, shapely.from_wkb(wkb), fields


def write_layer(path: Path, geometries, classes, crs: str, field: str = "class") -> Path:
    """A GeoPackage with one text class field."""
    import shapely
    from pyogrio.raw import write

    geometries = list(geometries)
    kind = shapely.get_type_id(geometries[0])
    geometry_type = {0: "Point", 3: "Polygon", 6: "MultiPolygon"}[int(kind)]
    write(str(path), np.asarray(shapely.to_wkb(geometries), dtype=object), [np.asarray(classes, dtype=object)],
          fields=[field], layer="labels", driver="GPKG", geometry_type=geometry_type, crs=crs)
    return path


def points_from_truth(scene: Path, out: Path, per_class: int = 12, seed: int = 0) -> Path:
    """Point labels at random pixel centres of truth.tif, ``per_class`` rice and non-rice."""
    import rasterio
    import shapely

    with rasterio.open(scene / "truth.tif") as src:
        truth, transform, crs = src.read(1), src.transform, src.crs
    rng = np.random.default_rng(seed)
    points, classes = [], []
    for value, name in ((1, "rice"), (0, "other")):
        rows, cols = np.nonzero(truth == value)
        for i in rng.choice(len(rows), per_class, replace=False):
            x, y = transform @ (cols[i] + 0.5, rows[i] + 0.5)
            points.append(shapely.Point(x, y))
            classes.append(name)
    return write_layer(out, points, classes, crs.to_string())


def polygons_subset(scene: Path, out: Path, keep, transform_fn=None, crs: str | None = None) -> Path:
    """The scene's labels.gpkg polygons selected by ``keep(classes) -> bool mask``, optionally moved."""
    import shapely

    meta, geoms, fields = read_layer(scene / "labels.gpkg")
    classes = np.asarray(fields[list(meta["fields"]).index("class")], dtype=object)
    mask = keep(classes)
    geoms = geoms[mask]
    if transform_fn is not None:
        geoms = shapely.transform(geoms, transform_fn)
    return write_layer(out, geoms, classes[mask], crs or meta["crs"])


def scene_inputs(scene: Path, labels: Path) -> list[str]:
    return ["--vv", str(scene / "VV.tif"), "--vh", str(scene / "VH.tif"), "--labels", str(labels),
            "--season", *SEASON]


def finetune_args(inputs: list[str], model: str, out: Path | None, name: str, *extra: str) -> list[str]:
    """CLI arguments of a quick fine-tuning run (2 epochs, 32 px patches); ``out=None``: the user model folder."""
    return ["finetune", *inputs, "--class-field", "class", "--base-model", model, "--epochs", "2",
            "--patch", str(PATCH), "--batch", "4", "--max-patches", "16", "--threads", "1", "--name", name,
            *(["--out", str(out)] if out else []), *extra]
