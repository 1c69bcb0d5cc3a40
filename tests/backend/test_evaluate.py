"""Metrics against hand-computed confusion matrices, and the `evaluate` verb on real small files."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from backend.evaluation.metrics import binary_metrics, confusion_matrix, error_codes

REPO = Path(__file__).resolve().parents[2]
TRANSFORM = from_origin(500000, 1200000, 10, 10)  # 10 m pixels: 0.01 ha each


def write_raster(path: Path, data: np.ndarray, nodata, crs="EPSG:32648", transform=TRANSFORM) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype=data.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data, 1)
    return path


def run_backend(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_metrics_match_a_hand_computed_case():
    predicted = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)   # TP TP TP FP FN FN TN TN TN TN
    reference = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0], bool)
    matrix = confusion_matrix(predicted, reference)
    assert matrix.tolist() == [[4, 1], [2, 3]]
    m = binary_metrics(matrix)
    assert m["oa"] == pytest.approx(0.7)
    assert m["precision"] == pytest.approx(0.75) and m["recall"] == pytest.approx(0.6)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["iou_rice"] == pytest.approx(0.5) and m["iou_other"] == pytest.approx(4 / 7)
    assert m["miou"] == pytest.approx((0.5 + 4 / 7) / 2)
    assert m["kappa"] == pytest.approx(0.4)  # po 0.7, pe (4*5 + 6*5) / 100 = 0.5
    codes = error_codes(predicted, reference, np.array([True] * 9 + [False]))
    assert codes.tolist() == [1, 1, 1, 2, 3, 3, 4, 4, 4, 0]


def test_degenerate_matrix_gives_none_not_a_crash():
    m = binary_metrics(np.array([[5, 0], [0, 0]]))
    assert m["oa"] == 1.0 and m["precision"] is None and m["f1"] is None and m["kappa"] is None
    assert m["miou"] == 1.0


@pytest.fixture()
def prediction(tmp_path):
    pred = np.zeros((40, 50), np.uint8)
    pred[:, :25] = 1             # left half predicted rice
    pred[:, -5:] = 255           # nodata strip on the right
    return write_raster(tmp_path / "rice.tif", pred, 255)


def test_evaluate_raster_reference(tmp_path, prediction):
    truth = np.zeros((40, 50), np.uint8)
    truth[:20, :] = 1            # top half rice
    truth[-4:, :] = 255          # unlabelled bottom rows
    reference = write_raster(tmp_path / "truth.tif", truth, 255)
    result = run_backend("evaluate", "--pred", str(prediction), "--reference", str(reference),
                         "--out", str(tmp_path / "eval"))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    tp, fp, fn = 20 * 25, 16 * 25, 20 * 20
    tn = 16 * 20
    assert metrics["pixels"] == {**metrics["pixels"], "tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert metrics["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert metrics["area_ha"]["predicted_rice"] == pytest.approx(40 * 25 * 0.01)
    assert metrics["area_ha"]["reference_rice"] == pytest.approx(20 * 50 * 0.01)
    with rasterio.open(tmp_path / "eval" / "error.tif") as ds:
        codes = ds.read(1)
        assert ds.nodata == 0 and ds.transform == TRANSFORM and ds.overviews(1)
    assert codes[0, 0] == 1 and codes[30, 0] == 2 and codes[0, 30] == 3 and codes[30, 30] == 4
    assert (codes[:, -5:] == 0).all() and (codes[-4:] == 0).all()
    palette = ET.parse(tmp_path / "eval" / "error.qml").getroot().find(".//rasterrenderer")
    assert palette.get("type") == "paletted"
    again = run_backend("evaluate", "--pred", str(prediction), "--reference", str(reference),
                        "--out", str(tmp_path / "eval"))
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_evaluate_vector_reference_in_another_crs(tmp_path, prediction):
    import pyogrio.raw
    import shapely
    from rasterio.warp import transform_geom

    # two polygons drawn in UTM, stored in WGS84: rice over rows 0-9, other over rows 10-19 (all columns)
    boxes = [shapely.box(500000, 1200000 - 100, 500500, 1200000), shapely.box(500000, 1200000 - 200, 500500,
                                                                               1200000 - 100)]
    geographic = [shapely.geometry.shape(transform_geom("EPSG:32648", "EPSG:4326", shapely.geometry.mapping(b)))
                  for b in boxes]
    path = tmp_path / "labels.gpkg"
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(geographic)), [np.array(["rice", "other"], object)],
                      fields=["class"], geometry_type="Polygon", crs="EPSG:4326", driver="GPKG")
    out = tmp_path / "eval"
    result = run_backend("evaluate", "--pred", str(prediction), "--reference", str(path),
                         "--class-field", "class", "--rice-value", "rice", "--out", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    counts = metrics["pixels"]
    # 45 predicted columns (5 are nodata); reprojection may shift polygon edges by at most one pixel
    assert counts["evaluated"] == pytest.approx(20 * 45, abs=2 * 45)
    assert counts["tp"] == pytest.approx(10 * 25, abs=25) and counts["fn"] == pytest.approx(10 * 20, abs=20)
    bad_field = run_backend("evaluate", "--pred", str(prediction), "--reference", str(path),
                            "--class-field", "crop", "--out", str(tmp_path / "bad"))
    assert bad_field.returncode == 2 and "--class-field crop" in bad_field.stderr
    assert not (tmp_path / "bad").exists()


def test_class_field_is_guessed_in_order_of_preference():
    from backend.errors import UserError
    from backend.evaluation.reference import VectorReference

    assert VectorReference.class_field_of("labels.gpkg", ["landcover", "Class", "kind"], None) == "Class"
    with pytest.raises(UserError, match="--class-field"):
        VectorReference.class_field_of("labels.gpkg", ["kind", "sowing"], None)
