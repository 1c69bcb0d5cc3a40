"""Hostile inputs through Processing (``processing.run`` in a real QGIS): refused with a clear message, or right.

The Processing counterpart of tests/backend/test_hostile_inputs.py, with fewer cases: each builds its
inputs with the backend's own Python, runs ``s1ricemapper:maprice`` (or ``evaluate``) and asserts that a
refusal raises QgsProcessingException naming the file or parameter, without a traceback, leaving nothing
under a final name; a legitimate input must give the same rice area as the clean scene.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import processing
import pytest
from qgis.core import QgsProcessingException
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
