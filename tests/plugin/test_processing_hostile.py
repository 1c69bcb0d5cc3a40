"""Hostile inputs through Processing (``processing.run`` in a real QGIS): refused with a clear message, or right.

The Processing counterpart of tests/backend/test_hostile_inputs.py, with fewer cases: each builds its
inputs with the backend's own Python, runs ``s1ricemapper:maprice`` (or ``evaluate``) and asserts that a
refusal raises QgsProcessingException naming the file or parameter, without a traceback, leaving nothing
under a final name; a legitimate input must give the same rice area as the clean scene. Below the table,
failures after the checks passed (the backend killed, the output folder deleted, a full tmpfs, an interpreter
that cannot start) must reach Processing and qgis_process as a plain message, never a Python traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import processing
import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback
from test_processing_contract import QGIS_PROCESS, checkout_profile  # noqa: F401
from test_processing_fixtures import backend, final_names, map_parameters, provider, scene, tiny_model  # noqa: F401

# variants of a scene raster, made by the backend environment (rasterio is not in QGIS's Python)
VARIANT_CODE = """
import sys, numpy as np, rasterio
from rasterio.transform import from_origin
src, dst, kind = sys.argv[1:4]
with rasterio.open(src) as ds:
    data, profile, desc = ds.read(), ds.profile, ds.descriptions
unit = None
if kind == "db-declared-linear":
    data, unit = (10 * np.log10(data)).astype("float32"), "linear"
elif kind == "negated":
    data = -data
elif kind == "pixel-1000km":
    profile["transform"] = from_origin(560000, 1160000, 1e6, 1e6)
elif kind == "one-date":
    data, desc = data[10:11], desc[10:11]
profile.update(count=data.shape[0])
with rasterio.open(dst, "w", **profile) as out:
    out.write(data)
    for band, text in enumerate(desc, start=1):
        out.set_band_description(band, text)
        if unit:
            out.set_band_unit(band, unit)
"""


def variant(scene: Path, folder: Path, pol: str, kind: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{pol}.tif"
    backend("-c", VARIANT_CODE, str(scene / f"{pol}.tif"), str(target), kind)
    return str(target)


def both(kind: str) -> Callable:
    def params(scene: Path, model: Path, d: Path) -> dict:
        return {"VV": [variant(scene, d / "in", "VV", kind)], "VH": [variant(scene, d / "in", "VH", kind)]}
    return params


def traversal_model(scene: Path, model: Path, d: Path) -> dict:
    folder = d / "m-trav"
    shutil.copytree(model, folder)
    secret = d / "secret.bin"
    secret.write_bytes(b"outside\n")
    card = json.loads((folder / "card.json").read_text())
    card["files"]["../secret.bin"] = {"sha256": hashlib.sha256(secret.read_bytes()).hexdigest(), "bytes": 8}
    (folder / "card.json").write_text(json.dumps(card))
    return {"MODEL": str(folder)}


def out_is_file(scene: Path, model: Path, d: Path) -> dict:
    d.mkdir(parents=True, exist_ok=True)
    (d / "out").write_text("not a folder")
    return {}


def refusal(algorithm: str, parameters: dict) -> str:
    """The message of the QgsProcessingException that ``algorithm`` must raise.

    Only the text leaves this function: a kept exception (as pytest.raises keeps it) holds frames with
    QGIS objects, and QGIS then crashes when it exits.
    """
    try:
        processing.run(algorithm, parameters)
    except QgsProcessingException as exc:
        return str(exc)
    pytest.fail(f"{algorithm} accepted {parameters}")


@dataclass
class Case:
    id: str
    params: Callable[[Path, Path, Path], dict]
    says: tuple[str, ...] = ()  # empty: a legitimate input
    xfail: str | None = None


CASES = [
    Case("missing-vv", lambda s, m, d: {"VV": [str(d / "gone_VV.tif")]}, says=("gone_VV.tif",)),
    Case("negated-linear", both("negated"), says=("VV.tif", "sign")),
    Case("pixel-1000km", both("pixel-1000km"), says=("pixels are", "gdalwarp")),
    Case("one-date", both("one-date"), says=("distinct",)),
    Case("card-traversal", traversal_model, says=("card.json", "plain file name")),
    Case("out-is-a-file", out_is_file, says=("out",)),
    Case("tile-zero", lambda s, m, d: {"TILE": 0}, says=("TILE",)),
    Case("db-declared-linear", both("db-declared-linear")),
]


_CLEAN: dict[str, float] = {}


@pytest.fixture
def clean_area(provider, scene, tiny_model, tmp_path_factory) -> float:  # noqa: F811
    """Rice area of the clean scene (mapped once; the provider is registered per test)."""
    if "area" not in _CLEAN:
        out = tmp_path_factory.mktemp("clean") / "out"
        _CLEAN["area"] = processing.run("s1ricemapper:maprice", map_parameters(
            scene, tiny_model, out, WITH_HEATMAP=False))["RICE_AREA_HA"]
    return _CLEAN["area"]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.xfail, strict=True)]
                                               if c.xfail else []) for c in CASES])
def test_processing_hostile_input(provider, scene, tiny_model, clean_area, tmp_path, case):  # noqa: F811
    out = tmp_path / "out"
    parameters = map_parameters(scene, tiny_model, out, WITH_HEATMAP=False, **case.params(scene, tiny_model, tmp_path))
    if not case.says:
        results = processing.run("s1ricemapper:maprice", parameters)
        assert results["RICE_AREA_HA"] == pytest.approx(clean_area, rel=0.01)
        assert not [p for p in out.iterdir() if ".partial" in p.name]
        return
    message = refusal("s1ricemapper:maprice", parameters)
    assert "Traceback" not in message
    for text in case.says:
        assert text.lower() in message.lower(), message
    if out.is_dir():
        assert final_names(out) == [] and not [p for p in out.iterdir() if ".partial" in p.name]


def test_evaluate_refuses_a_reference_that_does_not_overlap(provider, scene, tmp_path):  # noqa: F811
    moved = tmp_path / "truth_far.tif"
    backend("-c", "import sys, rasterio\nfrom rasterio.transform import from_origin\n"
            "with rasterio.open(sys.argv[1]) as s: d, p = s.read(), s.profile\n"
            "p['transform'] = from_origin(1560000, 1160000, 10, 10)\n"
            "with rasterio.open(sys.argv[2], 'w', **p) as o: o.write(d)\n", str(scene / "truth.tif"), str(moved))
    message = refusal("s1ricemapper:evaluate", {"PREDICTION": str(scene / "truth.tif"), "REFERENCE": str(moved),
                                                "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert "overlap" in message and "truth_far.tif" in message
    assert final_names(tmp_path / "out") == []


# --- failures after the checks passed: a clear QgsProcessingException, never a traceback -----------------------
class LogFeedback(QgsProcessingFeedback):
    """A feedback that keeps what the algorithm logged (the backend's stderr tail goes there)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802
        self.lines.append(info)

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802, N803
        self.lines.append(error)


def _backend_children() -> list[int]:
    """This process's backend children that do the work (not the ``--check-only`` ones)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"backend" in cmdline and b"--check-only" not in cmdline:
            found.append(int(stat.parent.name))
    return found


def kill_the_backend(out: Path, stop: threading.Event) -> None:
    while not stop.wait(0.02):
        for pid in _backend_children():
            os.kill(pid, signal.SIGKILL)
            return


def delete_the_output_folder(out: Path, stop: threading.Event) -> None:
    while not stop.wait(0.02):
        if out.exists() and any(p.name.startswith(".") for p in out.iterdir()):
            shutil.rmtree(out, ignore_errors=True)
            return


@pytest.fixture
def full_disk(tmp_path) -> Path:
    """A 24 kB tmpfs: the checks pass (the folder is writable), the rasters do not fit."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def run_interfered(parameters: dict, during: Callable | None = None) -> tuple[str, list[str]]:
    """``maprice`` with ``during(out, stop)`` running beside it; returns the error message and the log."""
    feedback, stop = LogFeedback(), threading.Event()
    helper = threading.Thread(target=during, args=(Path(parameters["OUTPUT_FOLDER"]), stop)) if during else None
    if helper:
        helper.start()
    try:
        processing.run("s1ricemapper:maprice", parameters, feedback=feedback)
        message = ""
    except QgsProcessingException as exc:
        message = str(exc)
    finally:
        stop.set()
        if helper:
            helper.join()
    return message, feedback.lines


@pytest.mark.parametrize("interference, says", [
    ("killed", "stopped unexpectedly"),
    ("folder-deleted", "output folder"),
    ("disk-full", "disk is full"),
])
def test_a_failure_after_the_checks_is_a_clear_processing_error(provider, scene, tiny_model, tmp_path, request,
                                                                interference, says):  # noqa: F811
    out = (request.getfixturevalue("full_disk") if interference == "disk-full" else tmp_path) / "out"
    during = {"killed": kill_the_backend, "folder-deleted": delete_the_output_folder}.get(interference)
    message, log = run_interfered(map_parameters(scene, tiny_model, out, WITH_HEATMAP=False), during)
    assert says in message, (message, log[-10:])
    assert "Traceback" not in message and "Traceback" not in "\n".join(log), (message, log[-10:])
    assert final_names(out) == [] and not (out.exists() and [p for p in out.iterdir() if ".partial" in p.name])


def test_a_backend_interpreter_that_cannot_start_is_a_clear_processing_error(provider, scene, tiny_model,
                                                                             tmp_path):  # noqa: F811
    from conftest import backend_setting

    fake = tmp_path / "python"
    fake.write_bytes(b"\x7fELF not a program")
    fake.chmod(0o755)
    with backend_setting(fake):
        message = refusal("s1ricemapper:maprice", map_parameters(scene, tiny_model, tmp_path / "out"))
    assert "cannot be started" in message and str(fake) in message and "Traceback" not in message, message


def test_qgis_process_reports_a_full_disk_without_a_traceback(checkout_profile, scene, full_disk):  # noqa: F811
    run = subprocess.run([str(QGIS_PROCESS), "run", "s1ricemapper:maprice", "--", f"VV={scene / 'VV.tif'}",
                          f"VH={scene / 'VH.tif'}", "WITH_HEATMAP=false", f"OUTPUT_FOLDER={full_disk / 'out'}"],
                         env=checkout_profile, capture_output=True, text=True, timeout=300)
    text = run.stdout + run.stderr
    assert run.returncode != 0 and "disk is full" in text and "Traceback" not in text, text[-3000:]
    assert final_names(full_disk / "out") == []


def test_rice_area_refuses_point_zones(provider, scene, tmp_path):  # noqa: F811
    """A file path skips the parameter's polygon filter (qgis_process, models): points are refused in words."""
    points = tmp_path / "wells.geojson"
    points.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"zone": "a"}, "geometry": {"type": "Point", "coordinates": [105.5, 10.5]}}]}))
    message = refusal("s1ricemapper:riceareastats", {"RICE": str(scene / "truth.tif"), "ZONES": str(points),
                                                     "OUTPUT": str(tmp_path / "stats.gpkg")})
    assert "not polygons" in message and "Traceback" not in message, message
    assert not (tmp_path / "stats.gpkg").exists()
