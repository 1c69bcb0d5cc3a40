"""``python -m backend synth`` as a real subprocess: three layouts, georeferencing, labels, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

REPO = Path(__file__).resolve().parents[2]
BASE = ["--region", "mekong", "--size", "48", "--seed", "3", "--start", "2022-04-01", "--end", "2022-08-31"]


def synth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", "synth", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    outs = {}
    for layout in ("a", "b", "c"):
        outs[layout] = root / layout
        done = synth(*BASE, "--layout", layout, "--out", str(outs[layout]))
        assert done.returncode == 0, done.stderr
    return outs


def _check_grid(path: Path, scene: dict) -> None:
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32648
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert tuple(src.transform)[:6] == tuple(scene["transform"])
        assert src.width == src.height == 48


def test_layout_a_bands_are_dates(written: dict[str, Path]) -> None:
    scene = json.loads((written["a"] / "scene.json").read_text())
    for pol in ("VV", "VH"):
        _check_grid(written["a"] / f"{pol}.tif", scene)
        with rasterio.open(written["a"] / f"{pol}.tif") as src:
            assert list(src.descriptions) == scene["dates"]
            assert np.nanmax(src.read(1)) < 5.0 and np.nanmin(src.read(1)) > 0  # linear power


def test_layout_b_one_file_per_date_and_polarization(written: dict[str, Path]) -> None:
    scene = json.loads((written["b"] / "scene.json").read_text())
    names = sorted(p.name for p in written["b"].glob("S1_*.tif"))
    expected = sorted(f"S1_{pol}_{d}.tif" for d in scene["dates"] for pol in ("VV", "VH"))
    assert names == expected
    _check_grid(written["b"] / expected[0], scene)


def test_layout_c_interleaved_stack(written: dict[str, Path]) -> None:
    scene = json.loads((written["c"] / "scene.json").read_text())
    _check_grid(written["c"] / "stack.tif", scene)
    with rasterio.open(written["c"] / "stack.tif") as src:
        first = scene["dates"][0].replace("-", "")
        assert src.descriptions[:2] == (f"VV_{first}", f"VH_{first}")
        assert src.count == 2 * len(scene["dates"])


def test_same_seed_same_rasters_across_layouts(written: dict[str, Path]) -> None:
    with rasterio.open(written["a"] / "VH.tif") as a, rasterio.open(written["c"] / "stack.tif") as c:
        np.testing.assert_array_equal(a.read(1), c.read(2))


def test_scene_json_describes_the_scene(written: dict[str, Path]) -> None:
    scene = json.loads((written["a"] / "scene.json").read_text())
    assert scene["region"] == "mekong" and scene["seed"] == 3 and scene["crs"] == "EPSG:32648"
    assert scene["units"] == "linear" and scene["layout"] == "a"
    assert 0 < scene["rice_share"] < 1
    assert abs(sum(scene["landcover_shares"].values()) - 1) < 1e-3
    assert "rice_systems" in scene["calendar"]


def test_labels_gpkg_rasterizes_to_truth(written: dict[str, Path]) -> None:
    from pyogrio.raw import read
    from rasterio.features import rasterize
    from shapely import from_wkb

    meta, _, geometry, field_data = read(written["a"] / "labels.gpkg")
    fields = list(meta["fields"])
    classes = field_data[fields.index("class")]
    class_ids = field_data[fields.index("class_id")]
    assert set(classes) <= {"rice", "other"}
    assert all((c == "rice") == (i == 1) for c, i in zip(classes, class_ids))
    assert "32648" in meta["crs"]
    with rasterio.open(written["a"] / "truth.tif") as src:
        truth = src.read(1)
        assert src.dtypes[0] == "uint8" and src.crs.to_epsg() == 32648
        shapes = [(g, 1) for g, c in zip(from_wkb(geometry), classes) if c == "rice"]
        burned = rasterize(shapes, out_shape=truth.shape, transform=src.transform, fill=0, dtype="uint8")
    assert truth.sum() > 0
    assert (burned == truth).mean() > 0.99


def test_db_units_option(tmp_path: Path) -> None:
    out = tmp_path / "db"
    done = synth(*BASE, "--layout", "a", "--units", "db", "--out", str(out))
    assert done.returncode == 0, done.stderr
    with rasterio.open(out / "VV.tif") as src:
        values = src.read()
    assert -35 < float(np.nanmedian(values)) < -3


def test_json_progress_ends_with_a_result(tmp_path: Path) -> None:
    done = synth(*BASE, "--layout", "c", "--progress", "json", "--out", str(tmp_path / "p"))
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[-1]["event"] == "result" and events[-1]["layout"] == "c"
    assert any(e["event"] == "progress" for e in events)


@pytest.mark.parametrize("args, fragment", [
    (["--region", "mars", "--size", "32"], "korea"),
    (["--region", "korea", "--size", "4"], "--size"),
    (["--region", "korea", "--size", "99999"], "--size"),
    (["--region", "korea", "--start", "2022-08-01", "--end", "2022-05-01"], "--end"),
    (["--region", "korea", "--start", "2022-13-01"], "YYYY-MM-DD"),
    (["--region", "korea", "--looks", "0"], "--looks"),
])
def test_bad_parameters_exit_2_and_write_nothing(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "out"
    done = synth(*args, "--seed", "1", "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert fragment in done.stderr
    assert not out.exists() or not any(out.iterdir())


def test_contract_lists_every_region() -> None:
    from backend.contract.verbs.synth import MAX_SIZE, MIN_SIZE
    from backend.contract.verbs.synth import REGIONS as CONTRACT_REGIONS
    from backend.synthetic import REGIONS, scene

    assert set(CONTRACT_REGIONS) == set(REGIONS)
    assert (MIN_SIZE, MAX_SIZE) == (scene.MIN_SIZE, scene.MAX_SIZE)


def test_non_empty_out_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    done = synth("--region", "korea", "--size", "32", "--out", str(out))
    assert done.returncode == 2 and "--overwrite" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    again = synth("--region", "korea", "--size", "32", "--out", str(out), "--overwrite")
    assert again.returncode == 0, again.stderr
    assert (out / "VV.tif").exists() and (out / "notes.txt").read_text() == "keep me"
