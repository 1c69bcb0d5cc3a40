"""Helpers for the `map` tests: small real GeoTIFF series and a tiny saved model.

Test modules import them (``from test_map_fixtures import ...``); this module holds no tests.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

REPO = Path(__file__).resolve().parents[2]
TRANSFORM = from_origin(560000.0, 1160000.0, 10.0, 10.0)
DATES = [dt.date(2022, 4, 5) + dt.timedelta(days=12 * k) for k in range(6)]
SEASON = ["2022-04-01", "2022-06-10"]


def write_series(path: Path, pol: str, height: int, width: int, dates=DATES, transform=TRANSFORM,
                 seed: int = 0, nodata_rows: int = 0) -> Path:
    """Multi-band dB GeoTIFF, one band per date named '<pol> YYYY-MM-DD'; NaN in the first rows if asked."""
    rng = np.random.default_rng(seed + (pol == "VH"))
    level = -10.0 if pol == "VV" else -17.0
    data = (level + rng.normal(0, 2, (len(dates), height, width))).astype(np.float32)
    data[:, :nodata_rows] = np.nan
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=len(dates), dtype="float32",
                       crs="EPSG:32648", transform=transform, nodata=np.nan, tiled=True) as dst:
        dst.write(data)
        for band, date in enumerate(dates, start=1):
            dst.set_band_description(band, f"{pol} {date.isoformat()}")
            dst.set_band_unit(band, "dB")
    return path


def scene(folder: Path, height: int = 72, width: int = 88, **kwargs) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    vv = write_series(folder / "VV.tif", "VV", height, width, **kwargs)
    vh = write_series(folder / "VH.tif", "VH", height, width, **kwargs)
    return ["--vv", str(vv), "--vh", str(vh)]


def run_backend(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=180, env=env, **kwargs)


def save_tiny_model(parent: Path) -> str:
    """A random-init U-Net (4 steps, width 4, depth 2: size multiple 4) saved with the model store."""
    import torch

    from backend.modelstore import save_model
    from backend.nets import build_model

    torch.manual_seed(0)
    net = build_model("unet", polarizations=["VV", "VH"], steps=4, width=4, depth=2)
    save_model(net, {"name": "tiny-unet"}, parent / "tiny-unet")
    return str(parent / "tiny-unet")


def isolated_env(cache: Path) -> dict:
    """Environment with its own cache folder, so optimized ONNX graphs stay inside the test's tmp."""
    return {**os.environ, "XDG_CACHE_HOME": str(cache)}


def final_names(folder: Path) -> list[str]:
    """Files under their final (non-hidden) names."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def map_args(model: str, inputs: list[str], out: Path, *extra: str) -> list[str]:
    return ["map", *inputs, "--model", model, "--season", *SEASON, "--tile", "32", "--overlap", "8",
            "--out", str(out), "--threads", "1", *extra]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return isolated_env(tmp_path_factory.mktemp("cache"))
