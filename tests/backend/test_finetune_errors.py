"""Every bad fine-tuning input gives a UserError that says what to do, and nothing under the model's name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import shapely
import torch
from test_finetune_fixtures import PATCH, SEASON, polygons_subset, save_tiny_models, synth_scene, write_layer

from backend.errors import UserError
from backend.progress import Reporter
from backend.raster import open_series
from backend.training.finetune_job import FinetuneOptions, SceneInput, run_finetune


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("finetune-errors")
    return {"scene": synth_scene(root / "scene"), "models": save_tiny_models(root / "base"), "root": root}


def _scene(world, labels: Path) -> SceneInput:
    scene = world["scene"]
    season = tuple(dt.date.fromisoformat(d) for d in SEASON)
    return SceneInput(lambda pols: open_series(vv=[str(scene / "VV.tif")], vh=[str(scene / "VH.tif")], require=pols),
                      str(labels), season)


def _options(world, out: Path, **changes) -> FinetuneOptions:
    base = {"name": "local", "out": out, "base_model": world["models"]["tiny-simta"], "epochs": 1, "patch": PATCH,
            "batch": 4, "max_patches": 8, "class_field": "class"}
    return FinetuneOptions(**{**base, **changes})


def _fails(world, tmp_path: Path, labels: Path, match: str, **changes) -> None:
    out = tmp_path / "models"
    with pytest.raises(UserError, match=match):
        run_finetune([_scene(world, labels)], _options(world, out, **changes), Reporter("none"))
    assert not (out / changes.get("name", "local")).exists()
    assert not out.exists() or not any(out.iterdir()), "a failed run left files behind"


def test_labels_outside_the_rasters(world, tmp_path):
    moved = polygons_subset(world["scene"], tmp_path / "far.gpkg", lambda c: np.ones(len(c), bool),
                            transform_fn=lambda xy: xy + 1e6)
    _fails(world, tmp_path, moved, "no label lies on the rasters")


def test_only_one_class(world, tmp_path):
    rice_only = polygons_subset(world["scene"], tmp_path / "rice.gpkg", lambda c: c == "rice")
    _fails(world, tmp_path, rice_only, "every label on the rasters is rice.*add non-rice examples")


def test_fewer_labels_than_a_split_needs(world, tmp_path):
    def one_each(classes):
        keep = np.zeros(len(classes), bool)
        keep[np.flatnonzero(classes == "rice")[0]] = keep[np.flatnonzero(classes != "rice")[0]] = True
        return keep

    two = polygons_subset(world["scene"], tmp_path / "two.gpkg", one_each)
    _fails(world, tmp_path, two, "at least 2 per class")


def test_missing_class_field(world, tmp_path):
    _fails(world, tmp_path, world["scene"] / "labels.gpkg", "--class-field crop is not a field", class_field="crop")


def test_invalid_geometries(world, tmp_path):
    scene_bounds = polygons_subset(world["scene"], tmp_path / "ok.gpkg", lambda c: np.ones(len(c), bool))
    import pyogrio.raw

    meta, _, wkb, fields = pyogrio.raw.read(str(scene_bounds))
    geoms = list(shapely.from_wkb(wkb))
    x0, y0 = geoms[0].representative_point().coords[0]
    geoms[0] = shapely.MultiPolygon([shapely.Polygon([(x0, y0), (x0 + 50, y0 + 50), (x0 + 50, y0), (x0, y0 + 50)])])
    bowtie = write_layer(tmp_path / "bowtie.gpkg", geoms, fields[0], meta["crs"])
    _fails(world, tmp_path, bowtie, "invalid geometr.*Fix geometries")


def test_existing_and_bundled_names(world, tmp_path):
    from backend.modelstore import BUNDLED_DIR

    out = tmp_path / "models"
    (out / "local").mkdir(parents=True)
    (out / "local" / "card.json").write_text("{}")
    with pytest.raises(UserError, match="already exists.*--overwrite"):
        run_finetune([_scene(world, world["scene"] / "labels.gpkg")], _options(world, out), Reporter("none"))
    assert (out / "local" / "card.json").read_text() == "{}"
    with pytest.raises(UserError, match="bundled"):
        run_finetune([], _options(world, BUNDLED_DIR, name="any-new-name"), Reporter("none"))
    bundled = next((p.name for p in BUNDLED_DIR.iterdir() if p.is_dir() and not p.name.startswith(".")), None)
    if bundled:
        with pytest.raises(UserError, match="bundled model has that name"):
            run_finetune([], _options(world, out, name=bundled, overwrite=True), Reporter("none"))


def test_bad_options(world, tmp_path):
    labels = world["scene"] / "labels.gpkg"
    _fails(world, tmp_path, labels, "--mode XYZ", mode="XYZ")
    _fails(world, tmp_path, labels, "--patch 30.*multiples of 4", patch=30)
    _fails(world, tmp_path, labels, "--name", name="../escape")
    _fails(world, tmp_path, labels, "--add-vv adapts a VH-only model", add_vv=True)
    _fails(world, tmp_path, labels, "--time-shift -1", time_shift=-1)
    _fails(world, tmp_path, labels, "--l2sp -0.5", l2sp=-0.5)


def test_labels_in_another_crs_are_reprojected(world, tmp_path):
    from rasterio.crs import CRS
    from rasterio.warp import transform as warp

    source = CRS.from_string("EPSG:32648")

    def to_wgs84(xy):
        lon, lat = warp(source, CRS.from_epsg(4326), xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    wgs84 = polygons_subset(world["scene"], tmp_path / "wgs84.gpkg", lambda c: np.ones(len(c), bool),
                            transform_fn=to_wgs84, crs="EPSG:4326")
    out = tmp_path / "models"
    result = run_finetune([_scene(world, wgs84)], _options(world, out), Reporter("none"))
    assert (out / "local" / "card.json").is_file()
    native = polygons_subset(world["scene"], tmp_path / "native.gpkg", lambda c: np.ones(len(c), bool))
    again = run_finetune([_scene(world, native)], _options(world, out, name="native"), Reporter("none"))
    for split in ("train", "val"):
        got, want = result["patches"][split], again["patches"][split]
        assert got["patches"] == want["patches"], "reprojected labels must cut the same patches"
        assert got["rice_pixels"] == pytest.approx(want["rice_pixels"], rel=0.02)


def test_label_raster_is_grouped_by_blocks(world, tmp_path):
    out = tmp_path / "models"
    result = run_finetune([_scene(world, world["scene"] / "truth.tif")],
                          _options(world, out, class_field=None, rice_values=["1"], block=16), Reporter("none"))
    card_labels = result["patches"]
    assert card_labels["train"]["rice_pixels"] > 0 and card_labels["val"]["other_pixels"] > 0
    assert (out / "local" / "model.onnx").is_file()
