"""Plugin tests run in QGIS's own Python with pytest-qgis (a real, headless QGIS).

The repository root is the plugin folder. Whatever the clone is called, it is imported as the
package ``s1ricemapper`` (the installed plugin's folder name) through a symlink in a temp folder.
"""

import importlib
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
PACKAGE = "s1ricemapper"

_link_dir = Path(tempfile.mkdtemp(prefix="s1rm-plugin-"))
(_link_dir / PACKAGE).symlink_to(REPO, target_is_directory=True)
sys.path.insert(0, str(_link_dir))
sys.path.insert(0, "/usr/share/qgis/python/plugins")  # QGIS's `processing` package


def plugin_package():
    """The plugin imported as QGIS would import it."""
    return importlib.import_module(PACKAGE)


# --- shared fixtures for the plugin tests ---------------------------------------------------------
import contextlib  # noqa: E402

import pytest  # noqa: E402

REPO_BACKEND_PYTHON = REPO / ".venv" / "bin" / "python"
ARTIFACTS = REPO / "test_artifacts"


def wait_until(predicate, timeout_s: float = 60.0) -> bool:
    """Process Qt events until ``predicate()`` holds; True if it did before the timeout."""
    import time

    from qgis.PyQt.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        QCoreApplication.processEvents(QEventLoop.AllEvents, 50)
        time.sleep(0.02)
    return bool(predicate())


@contextlib.contextmanager
def backend_setting(value):
    """Set the plugin's backend interpreter for the duration of a test, then restore it."""
    from qgis.core import QgsSettings

    key = "s1ricemapper/backend_python"
    before = QgsSettings().value(key, None)
    QgsSettings().setValue(key, str(value))
    try:
        yield value
    finally:
        if before is None:
            QgsSettings().remove(key)
        else:
            QgsSettings().setValue(key, before)


@pytest.fixture
def backend_python_setting():
    """Point the plugin at the repository's real backend interpreter."""
    if not REPO_BACKEND_PYTHON.exists():
        pytest.skip(f"backend environment {REPO_BACKEND_PYTHON} is missing; run scripts/setup.sh backend")
    with backend_setting(REPO_BACKEND_PYTHON) as python:
        yield python


@pytest.fixture
def broken_backend_python(tmp_path):
    """A configured interpreter that exists but cannot run the backend (as after a failed install)."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named torch' >&2\nexit 1\n")
    fake.chmod(0o755)
    with backend_setting(fake) as python:
        yield python


@pytest.fixture
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


DATES = ["2022-04-05", "2022-04-17", "2022-04-29", "2022-05-11", "2022-05-23", "2022-06-04"]


def write_series(path, level_db: float, size: int = 32, dates=DATES, linear: bool = True, seed: int = 0):
    """A small multi-band GeoTIFF (one band per date, the date in each band's description), UTM 48N."""
    import random

    from osgeo import gdal, osr

    rng = random.Random(seed)
    driver = gdal.GetDriverByName("GTiff")
    dataset = driver.Create(str(path), size, size, len(dates), gdal.GDT_Float32)
    dataset.SetGeoTransform((580000.0, 10.0, 0.0, 1150000.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    dataset.SetProjection(srs.ExportToWkt())
    for band_index, date in enumerate(dates, start=1):
        values = []
        for _ in range(size * size):
            db = level_db + rng.gauss(0.0, 1.5)
            values.append(10 ** (db / 10) if linear else db)
        band = dataset.GetRasterBand(band_index)
        band.WriteRaster(0, 0, size, size, _float32_bytes(values))
        band.SetDescription(date)
    dataset.FlushCache()
    dataset = None
    return path


def _float32_bytes(values) -> bytes:
    import struct

    return struct.pack(f"<{len(values)}f", *values)


def run_backend(*args: str, timeout: int = 180):
    """Run the real backend CLI in the repository's backend interpreter (like the plugin does)."""
    import subprocess

    if not REPO_BACKEND_PYTHON.exists():
        pytest.skip(f"backend environment {REPO_BACKEND_PYTHON} is missing; run scripts/setup.sh backend")
    return subprocess.run([str(REPO_BACKEND_PYTHON), "-m", "backend", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


TINY_MODEL_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from pathlib import Path
from backend.modelstore import save_model
from backend.nets import build_model
torch.manual_seed(0)
net = build_model("unet", polarizations=["VV", "VH"], steps=4, width=4, depth=2)
save_model(net, {"name": "tiny-unet"}, Path(sys.argv[1]) / "tiny-unet")
"""


@pytest.fixture(scope="session")
def user_models(tmp_path_factory):
    """A private user model folder (S1RM_MODEL_DIR) holding a tiny random-init U-Net, made by the backend."""
    import subprocess

    if not REPO_BACKEND_PYTHON.exists():
        pytest.skip(f"backend environment {REPO_BACKEND_PYTHON} is missing; run scripts/setup.sh backend")
    folder = tmp_path_factory.mktemp("user_models")
    done = subprocess.run([str(REPO_BACKEND_PYTHON), "-c", TINY_MODEL_SCRIPT, str(folder)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before = os.environ.get("S1RM_MODEL_DIR")
    os.environ["S1RM_MODEL_DIR"] = str(folder)  # inherited by every backend process the plugin starts
    yield folder
    if before is None:
        os.environ.pop("S1RM_MODEL_DIR", None)
    else:
        os.environ["S1RM_MODEL_DIR"] = before


@pytest.fixture(scope="session")
def synthetic_scene(tmp_path_factory):
    """A 64 px synthetic Mekong scene written by `backend synth` (VV.tif, VH.tif, truth.tif, labels.gpkg)."""
    folder = tmp_path_factory.mktemp("synth") / "scene"
    done = run_backend("synth", "--region", "mekong", "--size", "64", "--seed", "1", "--out", str(folder))
    assert done.returncode == 0, done.stderr
    return folder


def render_map(layers, path, size: int = 420) -> None:
    """Render layers (first on top) offscreen to a PNG, as QGIS's canvas would draw them."""
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(layers[0].crs())
    settings.setExtent(layers[0].extent())
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    assert job.renderedImage().save(str(path))


@pytest.fixture(autouse=True)
def no_task_left_running(qgis_app):
    """After each test, cancel whatever still runs, so no backend process outlives its test."""
    yield
    from qgis.core import QgsApplication

    manager = QgsApplication.taskManager()
    if manager.countActiveTasks():
        manager.cancelAll()
        wait_until(lambda: manager.countActiveTasks() == 0, 30)
