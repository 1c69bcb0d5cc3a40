"""Helpers for the Processing tests: tiny synthetic scenes, a tiny saved model, the registered provider.

Test modules import them (``from test_processing_fixtures import ...``); this module holds no tests.
Scenes come from the real backend (``backend synth``), the model from the real model store.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import REPO, REPO_BACKEND_PYTHON, plugin_package

SEASON = ("2022-04-01", "2022-08-31")
SCENE_SIZE = 64
TINY_MODEL_CODE = """
import sys, torch
from backend.modelstore import save_model
from backend.nets import build_model
torch.manual_seed(0)
net = build_model("unet", polarizations=["VV", "VH"], steps=4, width=4, depth=2)
save_model(net, {"name": "tiny-unet"}, sys.argv[1])
"""


def backend(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    if not REPO_BACKEND_PYTHON.exists():
        pytest.skip(f"backend environment {REPO_BACKEND_PYTHON} is missing; run scripts/setup.sh backend")
    result = subprocess.run([str(REPO_BACKEND_PYTHON), *args], cwd=REPO, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def make_scene(folder: Path, seed: int) -> Path:
    """A 64 px Mekong-like scene, March to September 2022 (about 30 dates): VV.tif, VH.tif, truth, labels."""
    backend("-m", "backend", "synth", "--region", "mekong", "--size", str(SCENE_SIZE), "--seed", str(seed),
            "--start", "2022-03-15", "--end", "2022-09-15", "--out", str(folder), "--progress", "none")
    return folder


def make_tiny_model(folder: Path) -> Path:
    """A random-init U-Net (4 steps) saved by the backend's model store: fast, and always present."""
    backend("-c", TINY_MODEL_CODE, str(folder))
    return folder


@pytest.fixture(scope="session")
def scene(tmp_path_factory) -> Path:
    return make_scene(tmp_path_factory.mktemp("scene") / "scene1", seed=1)


@pytest.fixture(scope="session")
def scenes(scene, tmp_path_factory) -> list[Path]:
    """Two different scenes on the same grid, for batch runs."""
    return [scene, make_scene(tmp_path_factory.mktemp("scene") / "scene2", seed=2)]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-unet")


@pytest.fixture
def provider(qgis_processing, backend_python_setting):
    """The plugin's provider registered in QGIS's Processing registry, with the repository's backend."""
    from qgis.core import QgsApplication

    module = __import__(f"{plugin_package().__name__}.plugin.processing.provider", fromlist=["RiceMapperProvider"])
    registry = QgsApplication.processingRegistry()
    instance = module.RiceMapperProvider()
    assert registry.addProvider(instance)
    yield instance
    registry.removeProvider(instance)


def map_parameters(scene: Path, model: Path, out: Path, **extra) -> dict:
    return {"VV": [str(scene / "VV.tif")], "VH": [str(scene / "VH.tif")], "SEASON_START": SEASON[0],
            "SEASON_END": SEASON[1], "MODEL": str(model), "TILE": 32, "OVERLAP": 8, "OUTPUT_FOLDER": str(out),
            **extra}


def final_names(folder: Path) -> list[str]:
    """Files under their final (non-hidden) names."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def read_band(path: Path):
    from osgeo import gdal

    dataset = gdal.Open(str(path))
    return dataset.GetRasterBand(1).ReadAsArray()
