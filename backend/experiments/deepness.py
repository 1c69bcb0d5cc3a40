"""Side by side with Deepness: our default `map` against Deepness's tiled engine, same model, same scene.

Deepness (PUTvision/qgis-plugin-deepness, GPL) is fetched at a pinned commit into a cache outside the
repository and run headless in QGIS's Python (``scripts/deepness_headless.py``) on a composite raster of
the same season (``T x C`` float32 dB bands), through a wrapper ONNX of the same network that takes
Deepness's ``[N, C, H, W]`` input and carries its metadata keys. Rounds alternate which side runs first;
only ratios taken within one interleaved run mean anything on a shared machine, so each round records
the load average. When the source or a QGIS Python with its packages cannot be had, the comparison is
skipped with a message saying why (``make bench`` still runs everything else).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from backend import modelstore
from backend.contract.verbs.map import VERB as MAP_VERB
from backend.contract.verbs.synth import VERB as SYNTH_VERB
from backend.experiments.bigscene import REPO, measure_map_run, run_watching_memory
from backend.modelstore.card import card_threshold
from backend.tiles.engines import openvino_available
from backend.tiles.openvino_engine import native_bf16
from backend.tiles.tiling import axis_origins
from backend.timeseries import composite_series

DEEPNESS_REPO = "https://github.com/PUTvision/qgis-plugin-deepness"
DEEPNESS_COMMIT = "f450c6342d82a200af32022b2d977231d4f71d3c"
#: What Deepness needs beside QGIS, installed into a venv made from QGIS's Python (never into it).
DEEPNESS_PACKAGES = ("onnxruntime==1.31.1", "opencv-python-headless==5.0.0.93")
QGIS_PYTHON = "/usr/bin/python3"
RUNNER = REPO / "scripts" / "deepness_headless.py"
OPENVINO_SIDE = "ours_openvino"
BF16_SIDE = "ours_openvino_bf16"
#: Our runs in each round and their options beyond the model: the default, without the heat map, OpenVINO.
OUR_SIDES = {"ours": [], "ours_no_heatmap": ["--no-heatmap"], OPENVINO_SIDE: ["--engine", "openvino"],
             BF16_SIDE: ["--engine", "openvino", "--precision", "bf16"]}
#: The optional sides' keys in a scene's summary (``speed_ratio_wall_<key>``, ``<key>_vs_default``, ...).
OPTIONAL_SIDES = {OPENVINO_SIDE: "openvino", BF16_SIDE: "openvino_bf16"}
RICE_CLASS = 2  # Deepness's class map: 1 background, 2 the (only) sigmoid class


def cache_dir() -> Path:
    """``$S1RM_BENCH_CACHE``, else ``~/.cache/s1rm-bench``: outside the repository."""
    return Path(os.environ.get("S1RM_BENCH_CACHE") or Path.home() / ".cache" / "s1rm-bench")


class Unavailable(Exception):
    """The comparison cannot run here; the message says what is missing and how to provide it."""


def deepness_source(repo: str | None = None) -> Path:
    """Deepness's ``src`` folder at :data:`DEEPNESS_COMMIT` in the cache, fetched there if missing.

    Args:
        repo: a git repository (URL or local path) holding that commit; default :data:`DEEPNESS_REPO`.

    Returns:
        The folder to put on ``PYTHONPATH`` (it contains the ``deepness`` package).

    Raises:
        Unavailable: the commit could not be fetched.
    """
    target = cache_dir() / "deepness" / DEEPNESS_COMMIT
    if (target / "src" / "deepness" / "__init__.py").is_file():
        return target / "src"
    repo = repo or DEEPNESS_REPO
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(["git", "clone", "--quiet", "--no-checkout", repo, tmp], check=True, capture_output=True,
                           timeout=600)
            archive = subprocess.run(["git", "-C", tmp, "archive", "--format=tar", DEEPNESS_COMMIT, "src/deepness",
                                      "LICENSE"], check=True, capture_output=True, timeout=600).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            raise Unavailable(f"Deepness source at {DEEPNESS_COMMIT[:12]} could not be fetched from {repo} "
                              f"({detail.decode(errors='replace').strip()[:200] or exc}); pass --deepness-repo "
                              "with a clone that has this commit") from exc
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(partial, filter="data")
    partial.replace(target)
    return target / "src"


def deepness_python() -> Path:
    """A Python with QGIS, onnxruntime and OpenCV: a venv on QGIS's Python in the cache, made if missing.

    Raises:
        Unavailable: no QGIS Python, or the packages could not be installed.
    """
    if not Path(QGIS_PYTHON).exists():
        raise Unavailable(f"{QGIS_PYTHON} (QGIS's Python) is not installed; run `make setup`")
    venv = cache_dir() / "venv-deepness"
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import qgis.core, cv2, onnxruntime"]
    if python.exists() and subprocess.run(check, capture_output=True, env=_qt_env()).returncode == 0:
        return python
    try:
        subprocess.run([QGIS_PYTHON, "-m", "venv", "--system-site-packages", str(venv)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *DEEPNESS_PACKAGES], check=True,
                       capture_output=True, timeout=1800)
        subprocess.run(check, check=True, capture_output=True, env=_qt_env(), timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise Unavailable(f"could not prepare {venv} with {', '.join(DEEPNESS_PACKAGES)} for Deepness "
                          f"({detail.decode(errors='replace').strip()[-200:] or exc})") from exc
    return python


def _qt_env(**extra: str) -> dict:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", **extra}


def export_wrapper(net: Any, card: dict, path: Path, tile: int) -> None:
    """The same network for Deepness: input ``[1, T*C, tile, tile]`` (bands ``t*C + c``), output ``[1, 1, H, W]``.

    Every dimension is static, as our shape-fixed sessions are: Deepness reads its batch size (1) from the
    model, and a free batch dimension would keep ONNX Runtime from folding the graph's reshapes and the
    gates' resize scales (docs/mapping.md, "Issue 15, eleventh pass").

    Deepness divides its input by 255 and standardizes it with the metadata's mean 0 and std 1, so the
    wrapper multiplies by 255 first: the network sees the same dB values as in `map`.
    """
    import onnx
    import torch

    from backend.modelstore.torch_io import OPSET, ProbabilityWrapper  # lazy: torch (via backend.modelstore.torch_io)
    from backend.nets.blocks import inference_form  # lazy: torch (via backend.nets.blocks)

    steps, pols = int(card["inputs"]["steps"]), len(card["inputs"]["polarizations"])

    class DeepnessInput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = ProbabilityWrapper(inference_form(net)).eval()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner((x * 255.0).reshape(-1, steps, pols, tile, tile))

    example = torch.full((1, steps * pols, tile, tile), -15.0 / 255)
    with torch.no_grad():
        torch.onnx.export(DeepnessInput().eval(), (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["output"])
    model = onnx.load(str(path))
    bands = steps * pols
    meta = {"model_type": "Segmentor", "class_names": {"0": "rice"}, "resolution": 1000, "tile_size": tile,
            "tiles_overlap": 0, "seg_thresh": card_threshold(card),
            "standardization_mean": [0.0] * bands, "standardization_std": [1.0] * bands}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(model, str(path))


def write_composite(vv: Path, vh: Path, season: tuple, card: dict, path: Path) -> None:
    """The season composite our `map` computes, as one GeoTIFF of ``T*C`` float32 dB bands (Deepness's input)."""
    import rasterio

    from backend.raster import open_series  # lazy: rasterio (via backend.raster.grid)

    pols, steps = list(card["inputs"]["polarizations"]), int(card["inputs"]["steps"])
    with open_series(vv=[str(vv)], vh=[str(vh)]) as reader:
        start, end = season
        cube = np.stack([composite_series(reader, pol, start, end, steps)[0] for pol in pols], axis=1)
        grid = reader.grid
    t, c, h, w = cube.shape
    profile = {"driver": "GTiff", "width": w, "height": h, "count": t * c, "dtype": "float32", "crs": grid.crs,
               "transform": grid.transform, "nodata": np.nan, "tiled": True, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(cube.reshape(t * c, h, w))


def f1_of(labels: np.ndarray, truth: np.ndarray) -> float | None:
    """F1 of the rice class where the truth is 0 or 1 (other values, e.g. nodata, are left out)."""
    known = (truth == 0) | (truth == 1)
    pred, ref = labels[known], truth[known] == 1
    tp = int((pred & ref).sum())
    denominator = int(pred.sum()) + int(ref.sum())
    return round(2 * tp / denominator, 5) if denominator else None


def seam_excess(labels: np.ndarray, rows: list[int], cols: list[int]) -> dict:
    """Label changes across the given boundaries (between pixel ``b - 1`` and ``b``) over those elsewhere.

    1.0 means tile borders are invisible in the map; a seam shows as a ratio well above 1.
    """
    result = {}
    for axis, lines in ((0, rows), (1, cols)):
        changes = np.diff(labels.astype(np.int16), axis=axis) != 0  # change between i and i+1
        per_line = changes.mean(axis=1 - axis)
        at = [b - 1 for b in lines if 0 < b < labels.shape[axis]]
        rest = np.delete(per_line, at)
        overall = float(rest.mean()) if rest.size else 0.0
        result["rows" if axis == 0 else "cols"] = (round(float(per_line[at].mean()) / overall, 3)
                                                   if at and overall > 0 else None)
    return result


def our_borders(length: int, tile: int, overlap: int) -> list[int]:
    """Middles of our tile overlaps along one axis (where a seam would sit, were blending absent)."""
    origins = axis_origins(length, tile, overlap)
    return [(b + a + tile) // 2 for a, b in zip(origins, origins[1:])]


def deepness_borders(length: int, tile: int, overlap: int) -> list[int]:
    """Where Deepness switches from one tile's result to the next: ``k * stride + overlap / 2``."""
    stride = tile - overlap
    return list(range(stride + overlap // 2, length, stride))


def compile_sources(python: Path, source: Path) -> None:
    """Byte-compile both sides' Python sources before the rounds, as each has them once installed.

    A plugin's modules are compiled on its first run and read from ``__pycache__`` after that, but where
    ``PYTHONDONTWRITEBYTECODE`` is set (as on the machines of these measurements) every run compiled every
    module it imported again: about 0.04 s of our start-up at 512². Each side is compiled by its own Python.
    """
    for interpreter, folder in ((Path(sys.executable), REPO / "backend"), (python, source)):
        subprocess.run([str(interpreter), "-m", "compileall", "-q", str(folder)], capture_output=True,
                       timeout=600, check=False)


def run_deepness(python: Path, source: Path, raster: Path, model: Path, out: Path, tile: int, overlap: int,
                 threshold: float, timeout: float) -> dict:
    """One Deepness round in its own process: wall seconds, Deepness's own ``run()`` seconds, peak memory."""
    args = [str(python), str(RUNNER), "--raster", str(raster), "--model", str(model), "--tile", str(tile),
            "--overlap", str(overlap), "--threshold", str(threshold), "--out", str(out)]
    env = _qt_env(PYTHONPATH=str(source), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", ""))
    if not env["OMP_NUM_THREADS"]:
        del env["OMP_NUM_THREADS"]
    watched = run_watching_memory(args, timeout, cwd=out.parent, env=env)
    output, errors = watched.output, watched.errors
    record = {"exit_code": watched.returncode, "seconds": round(watched.seconds, 3),
              "cpu_seconds": round(watched.cpu_seconds, 2), "peak_rss_mb": round(watched.peak_mb, 1)}
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if watched.returncode == 0 and lines:
        record.update(json.loads(lines[-1]))
    else:
        record["error"] = (errors.strip().splitlines() or ["no output"])[-1][:300]
    return record


def compare(scene: Path, model_name: str, rounds: int, work: Path, repo: str | None = None,
            tile: int = 256, overlap: int = 32, timeout: float = 3600, openvino: bool | None = None) -> dict:
    """Interleaved rounds of our default `map` and Deepness on ``scene`` (a folder with VV/VH/truth.tif).

    Our side is `map` with no mapping options at all (season found from the data, default tile policy,
    heat map on), as a user gets it, plus the same with ``--no-heatmap``, and with ``--engine openvino``
    where OpenVINO is installed (the optional extra; not the default), in f32 and, on CPUs with native bf16,
    with ``--precision bf16``. Deepness gets the composite of the
    season window our first run chose (read from its run.json), so both map the same season.
    Both sides' sources are byte-compiled first (:func:`compile_sources`), and each side runs once untimed
    before the rounds (``warm_up`` in the result): the first process of each side after the bench's own work
    (the wrapper export, the composite written, files still being flushed to disk) had run about 1 s slower on
    both sides (3.2-3.3 s against 2.1-2.4 s for ours at 512², 4.0-4.3 s against 3.2-3.5 s for Deepness).

    Args:
        scene: folder with ``VV.tif``, ``VH.tif`` and ``truth.tif`` (e.g. from ``synth``).
        model_name: the model both sides run.
        rounds: number of timed rounds; even rounds run Deepness first (the untimed first run of ours
            chooses the season).
        work: scratch folder for the composite, the wrapper ONNX and the outputs.
        repo: a git repository with Deepness's pinned commit (default: its public repository).
        tile, overlap: Deepness's tile and overlap (ours are `map`'s defaults).
        timeout: seconds allowed per run.
        openvino: also time ``map --engine openvino`` (and bf16 where the CPU has it); None: where OpenVINO is
            installed.

    Returns:
        Per-round seconds, ratios (Deepness seconds / ours: > 1 means we are faster) with min and median,
        F1 of both against ``truth.tif``, seam statistics, peak memory and the load average of every round;
        or ``{"skipped": reason}`` when Deepness cannot run here.
    """
    try:
        source, python = deepness_source(repo), deepness_python()
    except Unavailable as exc:
        return {"skipped": str(exc)}
    work.mkdir(parents=True, exist_ok=True)
    compile_sources(python, source)
    net, card = modelstore.load_torch(model_name)
    composite, wrapper = work / "composite.tif", work / "deepness_model.onnx"
    export_wrapper(net, card, wrapper, tile)
    threshold = card_threshold(card)

    def theirs() -> dict:
        return run_deepness(python, source, composite, wrapper, work / "deepness.npy", tile, overlap, threshold,
                            timeout)

    warm_up = {"ours": _our_run(scene, work / "ours", model_name, OUR_SIDES["ours"], timeout)}
    windows = _chosen_windows(work / "ours")
    if not windows:
        return {"error": "our first `map` run failed, so no season was chosen", "warm_up": warm_up}
    season = (dt.date.fromisoformat(windows[0][0]), dt.date.fromisoformat(windows[0][1]))
    write_composite(scene / "VV.tif", scene / "VH.tif", season, card, composite)
    warm_up["deepness"] = theirs()
    _settle()
    records: list[dict] = []
    ours_sides = ("ours", "ours_no_heatmap") + (_openvino_sides() if openvino is not False else ())
    for index in range(rounds):
        order = ("deepness", *ours_sides[::-1]) if index % 2 else (*ours_sides, "deepness")
        record = {"round": index + 1, "order": list(order), "load_average": [round(v, 2) for v in os.getloadavg()]}
        for side in order:
            record[side] = (_our_run(scene, work / side, model_name, OUR_SIDES[side], timeout)
                            if side.startswith("ours") else theirs())
        records.append(record)
    return {**_summary(records, scene, work, card, tile, overlap), "season_windows": windows,
            "deepness_season": windows[0], "bytecode_compiled": True, "warm_up": warm_up}


def _settle() -> None:
    """Write what the set-up left in the page cache to disk before the rounds, so it does not happen in one."""
    if hasattr(os, "sync"):
        os.sync()


def _our_run(scene: Path, out: Path, model_name: str, options: list[str], timeout: float) -> dict:
    """One `map` of ours with no mapping options but ``options``, timed, with run.json seconds."""
    ours = measure_map_run(scene / "VV.tif", scene / "VH.tif", out, model_name, options, timeout=timeout)
    if ours["exit_code"] == 0:
        run = json.loads((out / MAP_VERB.output("run")).read_text())
        ours.update(map_seconds=run["seconds"], model_seconds=run["model_seconds"], tile=run["tile"],
                    n_tiles=run["n_tiles"])
    return ours


def _chosen_windows(out: Path) -> list[list[str]]:
    """The season windows our `map` run in ``out`` composited (its run.json), or [] when it has none."""
    path = out / MAP_VERB.output("run")
    if not path.is_file():
        return []
    return list(json.loads(path.read_text())["season_choice"]["windows"])


def _summary(records: list[dict], scene: Path, work: Path, card: dict, tile: int, overlap: int) -> dict:
    """Ratios, F1 and seam statistics of the rounds (the outputs of the last round are scored)."""
    import rasterio

    ok = [r for r in records if all(r[side]["exit_code"] == 0 for side in ("ours", "ours_no_heatmap", "deepness"))]
    wall = [r["deepness"]["seconds"] / r["ours"]["seconds"] for r in ok]
    engine = [r["deepness"]["engine_seconds"] / r["ours"]["map_seconds"] for r in ok]
    heat = [r["ours"]["map_seconds"] / r["ours_no_heatmap"]["map_seconds"] for r in ok]
    cpu = [r["deepness"]["cpu_seconds"] / r["ours"]["cpu_seconds"] for r in ok if r["ours"].get("cpu_seconds")]
    with rasterio.open(scene / SYNTH_VERB.output("truth")) as ds:
        truth = ds.read(1)
    result: dict = {"deepness_commit": DEEPNESS_COMMIT, "model": card["name"], "scene": str(scene),
                    "size": list(truth.shape), "deepness_tile": tile, "deepness_overlap": overlap,
                    "rounds": records}
    if not ok:
        return {**result, "error": "no round where both sides succeeded"}
    with rasterio.open(work / "ours" / MAP_VERB.output("rice")) as ds:
        ours = ds.read(1) == 1
    theirs = np.load(work / "deepness.npy") == RICE_CLASS
    h, w = truth.shape
    run = json.loads((work / "ours" / MAP_VERB.output("run")).read_text())
    result.update({
        "speed_ratio_wall": ratio_stats(wall),
        "speed_ratio_engine": ratio_stats(engine),
        "cpu_ratio": cpu_summary(ok, cpu),
        "heatmap_cost": {**ratio_stats(heat), "note": "our map seconds with the heat map / without it, same round"},
        "f1": {"ours": f1_of(ours, truth), "deepness": f1_of(theirs, truth)},
        "seam_excess": {
            "ours": seam_excess(ours, our_borders(h, run["tile"], run["overlap"]),
                                our_borders(w, run["tile"], run["overlap"])),
            "deepness": seam_excess(theirs, deepness_borders(h, tile, overlap), deepness_borders(w, tile, overlap))},
        **{k: v for side in OPTIONAL_SIDES for k, v in openvino_summary(ok, work, ours, side).items()},
        "ours_options": {"tile": run["tile"], "overlap": run["overlap"], "heatmap": run["heatmap"] is not None,
                         "engine": run["engine"], "threads": run["threads"]},
        "note": "speed_ratio_wall = Deepness wall seconds / our `map` wall seconds, both whole processes "
                "(interpreter start and imports included), in the same round (> 1: we are faster); "
                "speed_ratio_engine = Deepness's MapProcessorSegmentation.run() seconds / our run.json seconds "
                "(map_series: compositing, model, blending, writing). Deepness reads the ready composite; our "
                "`map` reads and composites the raw VV/VH series itself",
    })
    return result


def _openvino_sides() -> tuple[str, ...]:
    """The OpenVINO sides this machine can run: none without OpenVINO, bf16 only with native bf16."""
    if not openvino_available():
        return ()
    import openvino

    return (OPENVINO_SIDE, BF16_SIDE) if native_bf16(openvino.Core()) else (OPENVINO_SIDE,)


def openvino_summary(rounds: list[dict], work: Path, ours: np.ndarray, side: str = OPENVINO_SIDE) -> dict:
    """Deepness / an OpenVINO side per round, its speed against our default, and label agreement."""
    import rasterio

    timed = [r for r in rounds if r.get(side, {}).get("exit_code") == 0]
    if not timed:
        return {}
    with rasterio.open(work / side / MAP_VERB.output("rice")) as ds:
        same = float(np.mean((ds.read(1) == 1) == ours))

    def ratios(numerator: str) -> dict:
        return ratio_stats([r[numerator]["seconds"] / r[side]["seconds"] for r in timed])

    key = OPTIONAL_SIDES[side]
    return {f"speed_ratio_wall_{key}": ratios("deepness"), f"{key}_vs_default": ratios("ours"),
            f"{key}_same_labels": round(same, 6)}


def ratio_stats(values: list[float]) -> dict:
    """Min, median and every round's value of per-round ratios, to 3 decimals (non-empty ``values``)."""
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "per_round": [round(v, 3) for v in values]}


def cpu_summary(rounds: list[dict], ratios: list[float]) -> dict:
    """Deepness's CPU seconds / ours per round, and the cores each side kept busy (CPU / wall seconds).

    On a machine whose cores both sides keep busy, the wall-time ratio cannot exceed the CPU-time ratio by
    much: what one side saves in wall time it must save in work.
    """
    def busy(side: str) -> list[float]:
        return [round(r[side]["cpu_seconds"] / r[side]["seconds"], 2) for r in rounds if r[side].get("seconds")]

    if not ratios:
        return {"note": "no CPU times recorded"}
    return {**ratio_stats(ratios), "cores_busy": {"ours": busy("ours"), "deepness": busy("deepness")},
            "cores": os.cpu_count(), "note": "Deepness CPU seconds / ours (user + system, whole processes)"}
