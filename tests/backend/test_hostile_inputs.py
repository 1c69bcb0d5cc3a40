"""Hostile inputs through the real CLI: every bad input is refused clearly, every odd-but-legal one is right.

Each row of :data:`CASES` builds its inputs in its own folder, runs ``python -m backend ...`` as a
subprocess and asserts, whatever the verb:

* the exit code (2 for a user error, 0 for a legitimate input);
* that stderr names the file or parameter (``says``);
* that no traceback is printed;
* that nothing is left under a final name (refusals) and no hidden ``.partial`` file stays behind.

Legitimate inputs also run ``check``, which asserts the result is correct (e.g. the same rice area as
the clean scene). Add a case by appending a :class:`Case`; the world (scene, map, model copy) is built
once per module. Interruption cases (SIGKILL at random moments) are separate tests below the table.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

REPO = Path(__file__).resolve().parents[2]
SEASON = ["--season", "2022-04-01", "2022-08-31"]
FAST = ["--no-heatmap", "--threads", "1"]
#: CLI runs at once: each mostly waits on start-up imports and file I/O
WORKERS = min(4, max(2, os.cpu_count() or 2))


# --- the world: one synthetic scene, its map, a copy of a model ----------------------------------------
@dataclass
class World:
    root: Path
    scene: Path  # VV.tif, VH.tif (linear gamma0), truth.tif, labels.gpkg
    pred: Path  # rice.tif of the clean scene
    baseline: dict  # run.json of the clean scene
    models: Path  # S1RM_MODEL_DIR with a copy of the tiny model "own"
    env: dict
    secret: Path  # a file outside every model folder

    def vv(self) -> str:
        return str(self.scene / "VV.tif")

    def vh(self) -> str:
        return str(self.scene / "VH.tif")


def backend(*args: str, env: dict, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=env, **kwargs)


def read_bands(path: str | Path) -> tuple[np.ndarray, dict, list[str]]:
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, list(ds.descriptions)


def write_like(path: Path, data: np.ndarray, profile: dict, descriptions: list[str], unit: str | None = None,
               **overrides) -> Path:  # descriptions: one per band of ``data`` (extra ones are ignored)
    """Write ``data`` with the profile of a scene raster, changed by ``overrides`` (dtype, crs, ...)."""
    profile = {**profile, "count": data.shape[0], "height": data.shape[1], "width": data.shape[2],
               "dtype": str(data.dtype), **overrides}
    if profile.get("nodata") is not None and np.issubdtype(data.dtype, np.integer):
        profile["nodata"] = None
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for band, text in enumerate(descriptions[:data.shape[0]], start=1):
            dst.set_band_description(band, text)
            if unit:
                dst.set_band_unit(band, unit)
    return path


def variant(world: World, folder: Path, pol: str, change: Callable[[np.ndarray], np.ndarray],
            unit: str | None = None, name: str | None = None, bands: slice = slice(None), **overrides) -> str:
    """A copy of the scene's ``pol`` raster (only ``bands``), its values passed through ``change``."""
    data, profile, descriptions = read_bands(world.scene / f"{pol}.tif")
    return str(write_like(folder / (name or f"{pol}.tif"), change(data[bands]), profile, descriptions[bands], unit,
                          **overrides))


def map_cmd(vv: str, vh: str, out: Path, *extra: str) -> list[str]:
    return ["map", "--vv", vv, "--vh", vh, *SEASON, *FAST, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("hostile")
    models = root / "models"
    models.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"), "S1RM_MODEL_DIR": str(models)}
    result = backend("synth", "--region", "mekong", "--size", "32", "--seed", "3", "--layout", "a",
                     "--out", root / "scene", env=env)
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(Path(__file__).parent))
    from test_map_fixtures import save_tiny_model

    save_tiny_model(root / "tinies")
    shutil.copytree(root / "tinies" / "tiny-unet", models / "own")
    mapped = backend(*map_cmd(str(root / "scene" / "VV.tif"), str(root / "scene" / "VH.tif"), root / "map"), env=env)
    assert mapped.returncode == 0, mapped.stderr
    secret = root / "secret.bin"
    secret.write_bytes(b"not a model file\n")
    return World(root, root / "scene", root / "map" / "rice.tif", json.loads((root / "map" / "run.json").read_text()),
                 models, env, secret)


# --- the table ---------------------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    argv: Callable[[World, Path], list]  # builds inputs under the case folder, returns the CLI arguments
    code: int = 2
    says: tuple[str, ...] = ()  # each must appear in stderr (case-insensitive): the file or the parameter
    check: Callable[[World, Path, subprocess.CompletedProcess], None] | None = None
    xfail: str | None = None
    limit_kb: int | None = None  # file-size limit for the run (a full disk)
    keep: tuple[str, ...] = ()  # final names that existed before the run (must survive unchanged)
    marks: list = field(default_factory=list)


def _text(folder: Path, name: str, content: bytes | str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def _truncated(world: World, d: Path) -> str:
    return _text(d, "VV_cut.tif", (world.scene / "VV.tif").read_bytes()[:1500])


def _loop(world: World, d: Path) -> str:
    d.mkdir(parents=True, exist_ok=True)
    (d / "loop.tif").symlink_to(d / "loop.tif")
    return str(d / "loop.tif")


def _run_json(d: Path) -> dict:
    return json.loads((d / "out" / "run.json").read_text())


def same_rice_as_clean(tolerance: float = 0.0) -> Callable:
    def check(world: World, d: Path, result: subprocess.CompletedProcess) -> None:
        run = _run_json(d)
        clean = world.baseline["rice_pixels"]
        assert abs(run["rice_pixels"] - clean) <= tolerance * clean, (run["rice_pixels"], clean)
        assert run["valid_pixels"] == world.baseline["valid_pixels"]
    return check


def unit_corrected(world: World, d: Path, result: subprocess.CompletedProcess) -> None:
    same_rice_as_clean(0.01)(world, d, result)
    notes = [c for c in _run_json(d)["input_checks"] if c["check"] == "units"]
    assert notes and "band units say" in notes[0]["message"], _run_json(d)["input_checks"]
    assert "band units say" in result.stderr


def warns(text: str) -> Callable:
    def check(world: World, d: Path, result: subprocess.CompletedProcess) -> None:
        assert any(text.lower() in line.lower() for line in result.stderr.splitlines()
                   if line.startswith("warning: ")), result.stderr
        assert text.lower() in json.dumps(_run_json(d)["input_checks"]).lower()
    return check


def _db(data: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (10 * np.log10(data)).astype(np.float32)


def _pixel(size: float) -> Callable:
    return lambda world, d: map_cmd(
        variant(world, d, "VV", lambda a: a, transform=from_origin(560000, 1160000, size, size)),
        variant(world, d, "VH", lambda a: a, transform=from_origin(560000, 1160000, size, size)), d / "out")


def _one_date(world: World, d: Path) -> list:
    vv = variant(world, d, "VV", lambda a: a, bands=slice(20, 21))
    vh = variant(world, d, "VH", lambda a: a, bands=slice(20, 21))
    return map_cmd(vv, vh, d / "out")


def _same_date(world: World, d: Path) -> list:
    n = read_bands(world.vv())[0].shape[0]
    return map_cmd(world.vv(), world.vh(), d / "out", "--dates", ",".join(["2022-05-01"] * n))


def _band_counts(world: World, d: Path) -> list:
    return map_cmd(world.vv(), variant(world, d, "VH", lambda a: a, bands=slice(0, -3)), d / "out")


def _geographic(world: World, d: Path) -> list:
    transform = from_origin(105.1, 10.5, 0.0001, 0.0001)
    return ["info", variant(world, d, "VV", lambda a: a, crs="EPSG:4326", transform=transform),
            variant(world, d, "VH", lambda a: a, crs="EPSG:4326", transform=transform)]


def _geographic_ok(world: World, d: Path, result: subprocess.CompletedProcess) -> None:
    info = json.loads(result.stdout)
    assert not [f for f in info["findings"] if f["check"] == "pixel_size"], info["findings"]


def _strip(world: World, d: Path) -> list:
    def strip(a: np.ndarray) -> np.ndarray:
        return np.tile(a[:, 10:13, :], (1, 1, 94))[:, :, :3000]
    transform = from_origin(560000, 1160000, 10, 10)
    return map_cmd(variant(world, d, "VV", strip, transform=transform),
                   variant(world, d, "VH", strip, transform=transform), d / "out")


def _strip_ok(world: World, d: Path, result: subprocess.CompletedProcess) -> None:
    run = _run_json(d)
    assert run["n_tiles"] <= 3 and run["valid_pixels"] == 9000, (run["n_tiles"], run["valid_pixels"])


def _complex(world: World, d: Path) -> list:
    vv = variant(world, d, "VV", lambda a: a.astype(np.complex64), nodata=None)
    return map_cmd(vv, world.vh(), d / "out")


def _no_crs(world: World, d: Path) -> list:
    return map_cmd(variant(world, d, "VV", lambda a: a, crs=None), variant(world, d, "VH", lambda a: a, crs=None),
                   d / "out")


def _half_nan(world: World, d: Path) -> list:
    def first_dates_nan(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        a[:3] = np.nan
        return a
    return map_cmd(variant(world, d, "VV", first_dates_nan), variant(world, d, "VH", first_dates_nan), d / "out")


def _existing(world: World, d: Path) -> list:
    (d / "out").mkdir(parents=True)
    (d / "out" / "rice.tif").write_bytes(b"old result")
    return map_cmd(world.vv(), world.vh(), d / "out")


def _keep_old(world: World, d: Path, result: subprocess.CompletedProcess) -> None:
    assert (d / "out" / "rice.tif").read_bytes() == b"old result"


# models ---------------------------------------------------------------------------------------------------
def _model_copy(world: World, d: Path, name: str) -> Path:
    folder = d / "models" / name
    shutil.copytree(world.models / "own", folder)
    return folder


def _card(folder: Path) -> dict:
    return json.loads((folder / "card.json").read_text())


def _save_card(folder: Path, card: dict) -> None:
    (folder / "card.json").write_text(json.dumps(card))


def _rehash(folder: Path, name: str) -> None:
    card = _card(folder)
    data = (folder / name).read_bytes()
    card["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    _save_card(folder, card)


def _tampered(kind: str) -> Callable:
    def argv(world: World, d: Path) -> list:
        folder = _model_copy(world, d, f"m-{kind}")
        onnx = folder / "model.onnx"
        data = bytearray(onnx.read_bytes())
        if kind == "truncated":
            data = data[:-100]
        else:
            data[len(data) // 2] ^= 0xFF
        onnx.write_bytes(bytes(data))
        return map_cmd(world.vv(), world.vh(), d / "out", "--model", folder)
    return argv


def _traversal(entry: str, verb: str = "map") -> Callable:
    def argv(world: World, d: Path) -> list:
        folder = _model_copy(world, d, "m-trav")
        card = _card(folder)
        data = world.secret.read_bytes()
        card["files"][entry.replace("SECRET", str(world.secret))] = {
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        _save_card(folder, card)
        if verb == "verify":
            return ["models", folder, "--verify"]
        return map_cmd(world.vv(), world.vh(), d / "out", "--model", folder)
    return argv


def _escaping_link(world: World, d: Path) -> list:
    folder = _model_copy(world, d, "m-link")
    onnx = folder / "model.onnx"
    shutil.copy(onnx, world.root / f"outside-{d.name}.onnx")
    onnx.unlink()
    onnx.symlink_to(world.root / f"outside-{d.name}.onnx")
    return ["models", folder, "--verify"]


def _pickle_weights(world: World, d: Path) -> list:
    folder = _model_copy(world, d, "m-pickle")
    marker = d / "PWNED"
    payload = ("import pickle, os\nclass P:\n    def __reduce__(self):\n"
               f"        return (os.system, ('touch {marker}',))\n"
               f"open('{folder / 'weights.safetensors'}', 'wb').write(pickle.dumps(P()))\n")
    subprocess.run([sys.executable, "-c", payload], check=True)
    _rehash(folder, "weights.safetensors")
    return ["export", folder, "--out", d / "out" / "copy"]


def _no_marker(world: World, d: Path, result: subprocess.CompletedProcess) -> None:
    assert not (d / "PWNED").exists(), "a pickle payload was executed"


def _onnx_graph(world: World, d: Path, kind: str) -> list:
    import onnx
    from onnx import TensorProto, helper

    folder = _model_copy(world, d, f"m-{kind}")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    y = helper.make_tensor_value_info("probability", TensorProto.FLOAT, None)
    if kind == "unknown-op":
        graph = helper.make_graph([helper.make_node("Pwn", ["x"], ["probability"], domain="evil.ops")], "g", [x], [y])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("evil.ops", 1)])
    else:
        weight = helper.make_tensor("w", TensorProto.FLOAT, [4], [0.0] * 4)
        weight.data_location = TensorProto.EXTERNAL
        weight.ClearField("float_data")
        for key, value in (("location", f"../../{world.secret.name}"), ("offset", "0"), ("length", "16")):
            entry = weight.external_data.add()
            entry.key, entry.value = key, value
        graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["probability"])], "g", [x], [y], [weight])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    _rehash(folder, "model.onnx")
    return map_cmd(world.vv(), world.vh(), d / "out", "--model", folder, "--engine", "onnx")


def _card_edit(edit: Callable[[Path], None]) -> Callable:
    def argv(world: World, d: Path) -> list:
        folder = _model_copy(world, d, "m-card")
        edit(folder)
        return map_cmd(world.vv(), world.vh(), d / "out", "--model", folder)
    return argv


# labels and references ------------------------------------------------------------------------------------
def _write_layer(path: Path, geometries: list, classes: list, crs: str) -> str:
    import pyogrio.raw
    import shapely

    path.parent.mkdir(parents=True, exist_ok=True)
    wkb = np.array([shapely.to_wkb(g) for g in geometries], dtype=object)
    kinds = {g.geom_type for g in geometries}
    pyogrio.raw.write(str(path), wkb, [np.array(classes, dtype=object)], ["class"], crs=crs, driver="GPKG",
                      geometry_type=kinds.pop() if len(kinds) == 1 else "Unknown")
    return str(path)


def _gpkg(d: Path, geoms: list, classes: list, crs: str = "EPSG:32648", name: str = "ref.gpkg") -> str:
    import shapely

    return _write_layer(d / name, [shapely.from_wkt(g) for g in geoms], classes, crs)


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def _scene_box(world: World) -> tuple[float, float, float, float]:
    with rasterio.open(world.pred) as ds:
        return tuple(ds.bounds)


def _evaluate(world: World, d: Path, reference: str, *extra: str) -> list:
    return ["evaluate", "--pred", world.pred, "--reference", reference, "--out", d / "out", *extra]


def _far_raster(world: World, d: Path) -> list:
    data, profile, desc = read_bands(world.scene / "truth.tif")
    moved = write_like(d / "truth_far.tif", data, profile, desc, transform=from_origin(1560000, 1160000, 10, 10))
    return _evaluate(world, d, str(moved))


def _half_raster(world: World, d: Path) -> list:
    data, profile, desc = read_bands(world.scene / "truth.tif")
    half = write_like(d / "truth_left.tif", data[:, :, :16], profile, desc, nodata=None)
    return _evaluate(world, d, str(half))


def _half_ok(world: World, d: Path, result: subprocess.CompletedProcess) -> None:
    metrics = json.loads((d / "out" / "metrics.json").read_text())
    assert metrics["pixels"]["evaluated"] == 32 * 16, metrics["pixels"]


def _vector_far(world: World, d: Path) -> list:
    return _evaluate(world, d, _gpkg(d, [_box(0, 0, 100, 100)], ["rice"]))


def _bowtie(world: World, d: Path) -> list:
    x0, y0, x1, y1 = _scene_box(world)
    bowtie = f"POLYGON(({x0} {y0}, {x1} {y1}, {x1} {y0}, {x0} {y1}, {x0} {y0}))"
    return _evaluate(world, d, _gpkg(d, [bowtie, _box(x0, y0, x1, y1)], ["rice", "other"]))


def _other_crs(world: World, d: Path) -> list:
    import pyogrio.raw
    import shapely
    from rasterio.warp import transform as warp

    meta, _, wkb, fields = pyogrio.raw.read(world.scene / "labels.gpkg")
    names = list(meta["fields"])

    def to_lonlat(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(warp(meta["crs"], "EPSG:4326", xy[:, 0], xy[:, 1]))

    geometries = shapely.transform(shapely.from_wkb(wkb), to_lonlat)
    field = names.index("class")
    return _evaluate(world, d, _write_layer(d / "labels_4326.gpkg", list(geometries),
                                            [str(v) for v in fields[field]], "EPSG:4326"))


def _same_metrics_as_native(world: World, d: Path, result: subprocess.CompletedProcess) -> None:
    native = backend(*_evaluate(world, d / "native", str(world.scene / "labels.gpkg")), env=world.env)
    assert native.returncode == 0, native.stderr
    a = json.loads((d / "out" / "metrics.json").read_text())
    b = json.loads((d / "native" / "out" / "metrics.json").read_text())
    assert abs(a["pixels"]["evaluated"] - b["pixels"]["evaluated"]) <= 0.05 * b["pixels"]["evaluated"]
    assert abs(a["f1"] - b["f1"]) < 0.05, (a["f1"], b["f1"])


def _finetune(world: World, d: Path, labels: str, *extra: str) -> list:
    return ["finetune", "--vv", world.vv(), "--vh", world.vh(), *SEASON, "--labels", labels,
            "--base-model", "own", "--name", "ft", "--out", d / "out", "--epochs", "1", *extra]


def _labels_case(kind: str) -> Callable:
    def argv(world: World, d: Path) -> list:
        x0, y0, x1, y1 = _scene_box(world)
        mid = (x0 + x1) / 2
        if kind == "text":
            return _finetune(world, d, _text(d, "labels.tif", "rice,1\n"))
        if kind == "empty":
            import shapely

            return _finetune(world, d, _write_layer(d / "empty.gpkg", [shapely.Polygon()], ["rice"], "EPSG:32648"))
        if kind == "no-rice":
            return _finetune(world, d, _gpkg(d, [_box(x0, y0, mid, y1), _box(mid, y0, x1, y1)], ["other", "other"]))
        if kind == "outside":
            return _finetune(world, d, _gpkg(d, [_box(0, 0, 50, 50), _box(60, 60, 90, 90)], ["rice", "other"]))
        if kind == "lines":
            return _finetune(world, d, _gpkg(d, [f"LINESTRING({x0} {y0}, {x1} {y1})"], ["rice"]))
        if kind == "field":
            return _finetune(world, d, str(world.scene / "labels.gpkg"), "--class-field", "nosuchfield")
        raise ValueError(kind)
    return argv


def _info_head(world: World, d: Path) -> list:
    return ["info", world.vv(), world.vh()]


CASES = [
    # files
    Case("missing-file", lambda w, d: map_cmd(str(d / "nope_VV.tif"), w.vh(), d / "out"), says=("nope_VV.tif",)),
    Case("empty-file", lambda w, d: map_cmd(_text(d, "empty_VV.tif", b""), w.vh(), d / "out"), says=("empty_VV.tif",)),
    Case("truncated-tiff", lambda w, d: map_cmd(_truncated(w, d), w.vh(), d / "out"), says=("VV_cut.tif",)),
    Case("text-as-tiff", lambda w, d: map_cmd(_text(d, "notes_VV.tif", "hello\n"), w.vh(), d / "out"),
         says=("notes_VV.tif",)),
    Case("folder-as-file", lambda w, d: map_cmd(str(w.scene), w.vh(), d / "out"), says=("is a folder",)),
    Case("symlink-loop", lambda w, d: map_cmd(_loop(w, d), w.vh(), d / "out"), says=("loop.tif",)),
    Case("out-is-a-file", lambda w, d: map_cmd(w.vv(), w.vh(), Path(_text(d, "out", "x"))), says=("--out",)),
    Case("out-unwritable", lambda w, d: map_cmd(w.vv(), w.vh(), Path("/proc/s1rm-hostile")), says=("--out",)),
    Case("disk-full", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out"), says=("disk",), limit_kb=3),
    Case("out-name-too-long", lambda w, d: map_cmd(w.vv(), w.vh(), d / ("o" * 300)), says=("--out", "too long")),
    Case("vv-empty-name", lambda w, d: map_cmd("", w.vh(), d / "out"), says=("--vv", "empty")),
    Case("manifest-binary", lambda w, d: ["map", "--manifest", _text(d, "m.csv", bytes(range(128, 256)) * 2)],
         says=("--manifest", "m.csv", "UTF-8")),
    Case("synth-disk-full", lambda w, d: ["synth", "--region", "mekong", "--size", "64", "--out", d / "out"],
         says=("disk is full",), limit_kb=40),
    Case("export-name-traversal", lambda w, d: ["export", w.models / "own", "--out", d / "out" / "copy", "--name",
                                                "../../x"], says=("--name", "../../x")),
    Case("export-disk-full", lambda w, d: ["export", w.models / "own", "--out", d / "out" / "copy"],
         says=("disk is full",), limit_kb=16),
    Case("old-results-kept", _existing, says=("--overwrite",), check=_keep_old, keep=("rice.tif",)),
    Case("manifest-missing", lambda w, d: ["map", "--manifest", d / "none.csv"], says=("--manifest",)),
    Case("manifest-no-out-column", lambda w, d: ["map", "--manifest", _text(d, "m.csv", f"vv,vh\n{w.vv()},{w.vh()}\n")],
         says=("--manifest", "out")),
    Case("dates-file-garbage", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--dates", _text(d, "d.txt", "soon\n")),
         says=("--dates",)),
    Case("info-missing", lambda w, d: ["info", d / "ghost_VV.tif"], says=("ghost_VV.tif",)),
    Case("evaluate-pred-float", lambda w, d: ["evaluate", "--pred", w.vv(), "--reference", w.scene / "truth.tif",
                                              "--out", d / "out"], says=("--pred",)),
    Case("evaluate-reference-missing", lambda w, d: _evaluate(w, d, str(d / "ghost.gpkg")), says=("--reference",)),
    # rasters: units, grids, dates, values, dtypes, sizes
    Case("db-declared-linear", lambda w, d: map_cmd(variant(w, d, "VV", _db, "linear"), variant(w, d, "VH", _db, "linear"),
                                                    d / "out"), code=0, check=unit_corrected),
    Case("linear-declared-db", lambda w, d: map_cmd(variant(w, d, "VV", lambda a: a, "dB"),
                                                    variant(w, d, "VH", lambda a: a, "dB"), d / "out"),
         code=0, check=unit_corrected),
    Case("db-undeclared", lambda w, d: map_cmd(variant(w, d, "VV", _db), variant(w, d, "VH", _db), d / "out"),
         code=0, check=same_rice_as_clean(0.01)),
    Case("negated-linear", lambda w, d: map_cmd(variant(w, d, "VV", lambda a: -a), variant(w, d, "VH", lambda a: -a),
                                                d / "out"), says=("VV.tif", "sign")),
    Case("amplitude-dn", lambda w, d: map_cmd(variant(w, d, "VV", lambda a: (np.nan_to_num(np.sqrt(a)) * 5000).astype(np.uint16)),
                                              variant(w, d, "VH", lambda a: (np.nan_to_num(np.sqrt(a)) * 5000).astype(np.uint16)),
                                              d / "out"), says=("VV.tif",)),
    Case("db-far-too-low", lambda w, d: map_cmd(variant(w, d, "VV", lambda a: _db(a) - 30, "dB"),
                                                variant(w, d, "VH", lambda a: _db(a) - 30, "dB"), d / "out"),
         says=("VV.tif", "median")),
    Case("pixel-1000km", _pixel(1_000_000.0), says=("VV.tif", "pixels are")),
    Case("pixel-1m", _pixel(1.0), says=("VV.tif", "gdalwarp")),
    Case("pixel-20m", _pixel(20.0), code=0,
         check=lambda w, d, r: pytest.approx(_run_json(d)["valid_area_ha"]) == w.baseline["valid_area_ha"] * 4),
    Case("geographic-11m", _geographic, code=0, check=_geographic_ok),
    Case("one-date", _one_date, says=("VV.tif", "distinct", "--season")),
    Case("all-bands-same-date", _same_date, says=("distinct", "at least")),
    Case("band-counts-differ", _band_counts, says=("bands", "VH")),
    Case("vv-vh-swapped", lambda w, d: map_cmd(w.vh(), w.vv(), d / "out"), code=2, says=("VH.tif", "--vh")),
    Case("vv-vh-swapped-unlabelled", lambda w, d: map_cmd(variant(w, d, "VH", lambda a: a, name="a.tif"),
                                                          variant(w, d, "VV", lambda a: a, name="b.tif"), d / "out"),
         code=0, check=warns("look swapped")),
    Case("same-data-twice", lambda w, d: map_cmd(w.vv(), variant(w, d, "VV", lambda a: a, name="copy.tif"), d / "out"),
         code=0, check=warns("same median")),
    Case("all-nan", lambda w, d: map_cmd(variant(w, d, "VV", lambda a: a * np.nan), w.vh(), d / "out"),
         says=("VV.tif", "nodata")),
    Case("all-zero-no-nodata", lambda w, d: map_cmd(variant(w, d, "VV", lambda a: a * 0, nodata=None),
                                                    variant(w, d, "VH", lambda a: a * 0, nodata=None), d / "out"),
         says=("nodata",)),
    Case("nodata-everywhere", lambda w, d: map_cmd(variant(w, d, "VV", lambda a: a * 0 - 9999, nodata=-9999), w.vh(),
                                                   d / "out"), says=("VV.tif", "nodata")),
    Case("first-dates-nan", _half_nan, code=0, check=lambda w, d, r: _run_json(d)["valid_pixels"] == 1024),
    Case("float64", lambda w, d: map_cmd(variant(w, d, "VV", lambda a: a.astype(np.float64)),
                                         variant(w, d, "VH", lambda a: a.astype(np.float64)), d / "out"),
         code=0, check=same_rice_as_clean(0.0)),
    Case("complex-dtype", _complex, says=("VV.tif",)),
    Case("no-crs", _no_crs, says=("VV.tif", "coordinate reference")),
    Case("grid-shifted", lambda w, d: map_cmd(w.vv(), variant(w, d, "VH", lambda a: a,
                                                               transform=from_origin(560100, 1160000, 10, 10)),
                                              d / "out"), says=("VH.tif", "--align")),
    Case("vh-labelled-as-vv", lambda w, d: map_cmd(w.vh(), w.vh(), d / "out"), says=("given more than once",)),
    Case("thin-strip-3x3000", _strip, code=0, check=_strip_ok),
    # options
    Case("threads-zero", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--threads", "0"), says=("--threads",)),
    Case("threads-negative", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--threads", "-3"), says=("--threads",)),
    Case("tile-huge", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--tile", "1000000"),
         says=("--tile",), check=lambda w, d, r: "1000000," not in r.stderr and "1000000)" not in r.stderr),
    Case("tile-not-multiple", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--tile", "30"), says=("--tile 30",)),
    Case("overlap-too-big", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--tile", "64", "--overlap", "40"),
         says=("--overlap",)),
    Case("batch-zero", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--batch", "0"), says=("--batch",)),
    Case("season-reversed", lambda w, d: ["map", "--vv", w.vv(), "--vh", w.vh(), "--season", "2022-08-31",
                                          "2022-04-01", *FAST, "--out", d / "out"], says=("--season",)),
    Case("season-outside-data", lambda w, d: ["map", "--vv", w.vv(), "--vh", w.vh(), "--season", "2030-04-01",
                                              "2030-08-31", *FAST, "--out", d / "out"], says=("--season",)),
    Case("season-not-a-date", lambda w, d: ["map", "--vv", w.vv(), "--vh", w.vh(), "--season", "2022-13-01",
                                            "2022-08-31", *FAST, "--out", d / "out"], says=("--season",)),
    Case("as-of-too-early", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--as-of", "2022-04-02"),
         says=("--as-of", "distinct")),
    Case("as-of-outside-season", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--as-of", "2021-01-01"),
         says=("--as-of",)),
    Case("device-unknown", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--device", "tpu"), says=("--device",)),
    Case("engine-torch-baseline", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--model", "phenology-rules",
                                                       "--engine", "torch"), code=0,
         check=lambda w, d, r: _run_json(d)["model"]["name"] == "phenology-rules"),
    Case("model-unknown", lambda w, d: map_cmd(w.vv(), w.vh(), d / "out", "--model", "no-such-model"),
         says=("no-such-model",)),
    Case("info-into-closed-pipe", _info_head, code=0),
    Case("stac-url-not-a-url", lambda w, d: ["fetch", "--stac-url", "not a url", "--collection", "s1", "--bbox", "105",
                                             "10", "105.1", "10.1", *SEASON, "--catalogue-only", "--out", d / "out"],
         says=("--stac-url", "http")),
    Case("seasons-pixel-1000km", lambda w, d: ["seasons", *_pixel(1_000_000.0)(w, d)[1:5], "--out", d / "out"],
         says=("VV.tif", "pixels are")),
    # models
    Case("model-truncated", _tampered("truncated"), says=("model.onnx", "bytes")),
    Case("model-tampered", _tampered("flipped"), says=("model.onnx", "SHA-256")),
    Case("card-traversal-map", _traversal("../../secret.bin"), says=("card.json", "plain file name")),
    Case("card-traversal-verify", _traversal("../../secret.bin", "verify"), says=("card.json", "plain file name")),
    Case("card-absolute-path", _traversal("SECRET", "verify"), says=("card.json", "plain file name")),
    Case("card-backslash", _traversal("..\\..\\secret.bin", "verify"), says=("card.json", "plain file name")),
    Case("card-drive-letter", _traversal("C:\\secret.bin", "verify"), says=("card.json", "plain file name")),
    Case("symlink-out-of-folder", _escaping_link, says=("model.onnx", "outside")),
    Case("pickle-payload", _pickle_weights, says=("weights.safetensors",), check=_no_marker),
    Case("onnx-unknown-op", lambda w, d: _onnx_graph(w, d, "unknown-op"), says=("model.onnx",)),
    Case("onnx-external-data", lambda w, d: _onnx_graph(w, d, "external"), says=("model.onnx", "external")),
    Case("card-threshold-outside-0-1", _card_edit(lambda f: _save_card(f, {**_card(f), "threshold": 2.0})),
         says=("card.json", "threshold")),
    Case("card-not-json", _card_edit(lambda f: (f / "card.json").write_text("{nope")), says=("card.json",)),
    Case("card-missing-fields", _card_edit(lambda f: _save_card(f, {"name": "x"})), says=("card.json", "lacks")),
    # labels and references
    Case("reference-raster-far", _far_raster, says=("--reference", "truth_far.tif", "overlap")),
    Case("reference-raster-half", _half_raster, code=0, check=_half_ok),
    Case("reference-vector-far", _vector_far, says=("--reference", "ref.gpkg")),
    Case("reference-self-intersecting", _bowtie, says=("--reference", "invalid geometr")),
    Case("reference-other-crs", _other_crs, code=0, check=_same_metrics_as_native),
    Case("reference-rice-value-absent", lambda w, d: _evaluate(w, d, str(w.scene / "truth.tif"), "--rice-value", "7"),
         says=("--reference", "--rice-value", "undefined")),
    Case("pred-values-not-0-1", lambda w, d: ["evaluate", "--pred", write_like(
        d / "p.tif", (np.arange(1024).reshape(1, 32, 32) % 6).astype(np.uint8), read_bands(w.pred)[1], []),
        "--reference", w.scene / "truth.tif", "--out", d / "out"], says=("--pred", "p.tif", "neither 0")),
    Case("labels-metres-declared-degrees", lambda w, d: _finetune(w, d, _gpkg(
        d, [_box(*_scene_box(w))], ["rice"], crs="EPSG:4326")), says=("ref.gpkg", "CRS is probably wrong")),
    Case("zones-float-raster-as-rice", lambda w, d: ["riceareastats", "--rice", w.vv(), "--zones",
                                                     _gpkg(d, [_box(*_scene_box(w))], ["z"]), "--out", d / "out"],
         says=("--rice", "VV.tif", "uint8")),
    Case("zones-points", lambda w, d: ["riceareastats", "--rice", w.pred, "--zones",
                                       _gpkg(d, ["POINT(560050 1159950)"], ["z"]), "--out", d / "out"],
         says=("--zones", "ref.gpkg", "no polygon")),
    Case("reference-wrong-field", lambda w, d: _evaluate(w, d, str(w.scene / "labels.gpkg"), "--class-field", "nope"),
         says=("--class-field", "nope")),
    Case("labels-text-file", _labels_case("text"), says=("--labels", "labels.tif", "give a")),
    Case("labels-empty", _labels_case("empty"), says=("--labels", "empty.gpkg")),
    Case("labels-no-rice", _labels_case("no-rice"), says=("--labels", "rice")),
    Case("labels-outside", _labels_case("outside"), says=("--labels", "no label lies")),
    Case("labels-lines", _labels_case("lines"), says=("--labels", "line")),
    Case("labels-wrong-field", _labels_case("field"), says=("--class-field", "nosuchfield")),
    Case("bench-check-out-is-a-file", lambda w, d: ["bench", "--out", _text(d, "bench_out", "x"), "--check-only"],
         says=("--out", "bench_out", "not a folder")),
]


def _leftovers(folder: Path) -> list[str]:
    """Hidden temporaries anywhere under ``folder``."""
    return sorted(str(p) for p in folder.rglob("*") if ".partial" in p.name) if folder.exists() else []


def _finals(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def _run(case: Case, argv: list, env: dict) -> subprocess.CompletedProcess:
    if case.id == "info-into-closed-pipe":
        return _into_closed_pipe(argv, env)
    command = [sys.executable, "-m", "backend", *map(str, argv)]
    if case.limit_kb:  # a file-size limit, set by a shell (preexec_fn is unsafe with threads)
        command = ["bash", "-c", f'trap "" XFSZ; ulimit -f {case.limit_kb}; exec "$0" "$@"', *command]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def outcomes(world: World, tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Every case run once: inputs built one after the other, the CLI runs in parallel (they mostly wait)."""
    folders = {c.id: tmp_path_factory.mktemp(c.id) for c in CASES}
    argvs = {c.id: c.argv(world, folders[c.id]) for c in CASES}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {c.id: pool.submit(_run, c, argvs[c.id], world.env) for c in CASES}
        return {key: (folders[key], future.result()) for key, future in futures.items()}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.xfail, strict=True)]
                                               if c.xfail else []) for c in CASES])
def test_hostile_input(world: World, outcomes: dict, case: Case) -> None:
    folder, result = outcomes[case.id]
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-3000:]
    assert result.returncode == case.code, (result.returncode, result.stderr[-2000:])
    for text in case.says:
        assert text.lower() in result.stderr.lower(), (text, result.stderr[-2000:])
    out = folder / "out"
    if case.code != 0:
        assert _finals(out) == sorted(case.keep), _finals(out)
    assert _leftovers(folder) == []
    if case.check is not None:
        assert case.check(world, folder, result) is not False


def _into_closed_pipe(argv: list, env: dict) -> subprocess.CompletedProcess:
    """``backend info ... | head -c 10``: the reader goes away before the JSON is written."""
    proc = subprocess.Popen([sys.executable, "-m", "backend", *map(str, argv)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.read(10)
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.wait(timeout=60)
    return subprocess.CompletedProcess(argv, proc.returncode, "", stderr)


def test_the_table_is_large_and_distinct() -> None:
    """The issue asks for at least 60 distinct cases across files, rasters, options, models and labels."""
    assert len({c.id for c in CASES}) == len(CASES) >= 60


# --- interruption -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bigger(world: World) -> dict:
    """A 96 x 96 scene mapped in 16 tiles, and the bytes of an uninterrupted run."""
    folder = world.root / "s96"
    result = backend("synth", "--region", "mekong", "--size", "96", "--seed", "4", "--layout", "a", "--out", folder,
                     env=world.env)
    assert result.returncode == 0, result.stderr
    args = ["map", "--vv", folder / "VV.tif", "--vh", folder / "VH.tif", *SEASON, *FAST, "--tile", "32",
            "--overlap", "8"]
    clean = backend(*args, "--out", world.root / "s96map", env=world.env)
    assert clean.returncode == 0, clean.stderr
    return {"args": args, "bytes": {n: (world.root / "s96map" / n).read_bytes() for n in ("rice.tif", "probability.tif")}}


def _kill_after(args: list, env: dict, seconds: float) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "backend", *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=60)


def _kill_mid_work(args: list, env: dict) -> int:
    """SIGKILL a run at its first progress event between two tiles: mid-work, never during the final renames
    (a timed kill can land there on an idle machine, where the renames of several files cannot be one step)."""
    proc = subprocess.Popen([sys.executable, "-m", "backend", *map(str, args), "--progress", "json"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "progress" and 0 < (event.get("done") or 0) < (event.get("total") or 0):
            proc.send_signal(signal.SIGKILL)
            break
    proc.stdout.close()
    return proc.wait(timeout=60)


def _wait_for_no_leftovers(folder: Path, timeout: float = 10.0) -> list[str]:
    """The watcher removes a killed run's temporaries within moments; wait for it."""
    deadline = time.monotonic() + timeout
    while _leftovers(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _leftovers(folder)


def test_sigkill_at_random_moments_leaves_nothing_and_a_rerun_is_identical(world, bigger, tmp_path) -> None:
    rng = random.Random(14)
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        code = _kill_after([*bigger["args"], "--out", out], world.env, rng.uniform(0.3, 3.0))
        assert _wait_for_no_leftovers(tmp_path) == []  # the watcher also finishes a commit the kill cut short
        if code != 0 and _finals(out):  # killed before its commit: nothing; during it: rolled forward, whole
            assert _finals(out) == _finals(world.root / "s96map"), _finals(out)
            assert all((out / n).read_bytes() == data for n, data in bigger["bytes"].items())
    rerun = backend(*bigger["args"], "--out", tmp_path / "out0", "--overwrite", env=world.env)
    assert rerun.returncode == 0, rerun.stderr
    for name, data in bigger["bytes"].items():
        assert (tmp_path / "out0" / name).read_bytes() == data, name


def test_sigkill_during_overwrite_keeps_the_old_results(world, bigger, tmp_path) -> None:
    out = tmp_path / "out"
    assert backend(*bigger["args"], "--out", out, env=world.env).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code = _kill_mid_work([*bigger["args"], "--out", out, "--overwrite"], world.env)
    assert code == -signal.SIGKILL
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")} == before
    assert _wait_for_no_leftovers(tmp_path) == []


def test_output_folder_deleted_mid_run_is_a_user_error(world, bigger, tmp_path) -> None:
    """The folder goes away between two tiles (deleted, unmounted): a clear message, no traceback."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "backend", *map(str, bigger["args"]), "--out", out, "--progress",
                             "json"], cwd=REPO, env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "progress" and 0 < (event.get("done") or 0) < (event.get("total") or 0):
            shutil.rmtree(out)
            break
    rest, stderr = proc.communicate(timeout=120)
    error = next(json.loads(x) for x in rest.splitlines() if x.startswith('{"event": "error"'))
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr[-2000:]
    assert "disappeared" in error["message"] and str(out) in error["message"], error
    assert not out.exists()


def test_sigterm_cancels_cleanly(world, bigger, tmp_path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "backend", *map(str, bigger["args"]), "--out", out, "--progress",
                             "json"], cwd=REPO, env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # at the first progress event (a fixed delay can land before the handlers exist)
        if line.startswith('{"event": "progress"'):
            break
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr
    if proc.returncode != 0:
        assert proc.returncode == 130, stderr
        assert _finals(out) == []
    assert _leftovers(tmp_path) == []
