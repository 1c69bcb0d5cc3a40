"""Large test scenes written block by block (cheap, compressible), and the peak memory of `map` on them."""

from __future__ import annotations

import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.inference.timings import peak_rss_mb

FIELD_PX = 32
BLOCK = 256
REPO = Path(__file__).resolve().parents[2]


def bench_dates(count: int = 13, start: dt.date = dt.date(2022, 4, 3), step_days: int = 12) -> list[dt.date]:
    return [start + dt.timedelta(days=step_days * k) for k in range(count)]


def _field_curves(dates: list[dt.date]) -> dict[str, np.ndarray]:
    """(2, T) dB per class: rice dips when flooded then rises with growth; other stays flat."""
    t = np.linspace(0, 1, len(dates))
    rice_vh = -22 + 9 * np.clip((t - 0.15) / 0.5, 0, 1)
    rice_vv = -15 + 7 * np.clip((t - 0.15) / 0.5, 0, 1)
    return {"rice": np.stack([rice_vv, rice_vh]), "other": np.stack([np.full_like(t, -10), np.full_like(t, -16.5)])}


def _block(row: int, col: int, height: int, width: int, curves: dict[str, np.ndarray]) -> np.ndarray:
    """(2, T, h, w) dB for one block: 32-px fields, rice where a hash of the field index says so."""
    rows = (np.arange(row, row + height) // FIELD_PX)[:, None]
    cols = (np.arange(col, col + width) // FIELD_PX)[None, :]
    rice = ((rows * 7919 + cols * 104729) % 5) < 2
    return np.where(rice[None, None], curves["rice"][..., None, None], curves["other"][..., None, None])


def write_bench_scene(folder: Path, size: int, dates: list[dt.date], height: int | None = None) -> tuple[Path, Path]:
    """VV.tif and VH.tif, ``size`` px wide and ``height`` (default ``size``) tall, one band per date, written
    256 x 256 blocks at a time so the writer itself needs little memory; piecewise-constant fields compress
    to a small file. A wide, short scene has the streaming buffers of a square one of its width (they follow
    the width), at a fraction of the model time."""
    height = height or size
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    folder.mkdir(parents=True, exist_ok=True)
    curves = _field_curves(dates)
    profile = {"driver": "GTiff", "width": size, "height": height, "count": len(dates), "dtype": "float32",
               "crs": "EPSG:32648", "transform": from_origin(560000.0, 1160000.0, 10.0, 10.0), "nodata": np.nan,
               "tiled": True, "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate",
               "interleave": "band", "BIGTIFF": "IF_SAFER"}
    paths = (folder / "VV.tif", folder / "VH.tif")
    datasets = [rasterio.open(p, "w", **profile) for p in paths]
    try:
        for dataset, pol in zip(datasets, ("VV", "VH")):
            for band, date in enumerate(dates, start=1):
                dataset.set_band_description(band, f"{pol} {date.isoformat()}")
                dataset.set_band_unit(band, "dB")
        for row in range(0, height, BLOCK):
            for col in range(0, size, BLOCK):
                h, w = min(BLOCK, height - row), min(BLOCK, size - col)
                values = _block(row, col, h, w, curves).astype(np.float32)
                for pol_index, dataset in enumerate(datasets):
                    dataset.write(values[pol_index], window=Window(col, row, w, h))
    finally:
        for dataset in datasets:
            dataset.close()
    return paths


@dataclass(frozen=True)
class WatchedRun:
    """What :func:`run_watching_memory` saw of a child process."""

    returncode: int
    seconds: float
    peak_mb: float
    output: str
    errors: str
    cpu_seconds: float = 0.0  # user + system CPU of the child (and any children it waited for)


def run_watching_memory(args: list[str], timeout: float, cwd: Path, env: dict | None = None) -> WatchedRun:
    """Run ``args`` to completion (terminated after ``timeout`` s), polling its VmHWM every 0.1 s.

    The wall time ends when the child exits (a wait with a 0.1 s timeout between polls, not a sleep, which
    added up to 0.1 s to every run: 2-5 % of a 2-4 s run).

    Output goes to temporary files, not pipes, so a chatty child never blocks on a full pipe. Its CPU time
    is the growth of this process's children's CPU time across the run (one child at a time runs here), so
    a benchmark can say whether both sides of a comparison kept every core busy.
    """
    start, peak = time.perf_counter(), 0.0
    cpu_before = _children_cpu_seconds()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(args, stdout=stdout, stderr=stderr, env=env, cwd=cwd)
        while True:
            peak = max(peak, peak_rss_mb(proc.pid) or 0.0)
            try:
                proc.wait(timeout=0.1)  # returns at the child's exit, so the wall time is not rounded up
                break
            except subprocess.TimeoutExpired:
                if time.perf_counter() - start > timeout:
                    proc.terminate()
        stdout.seek(0)
        stderr.seek(0)
        return WatchedRun(proc.returncode, time.perf_counter() - start, peak, stdout.read(), stderr.read(),
                          _children_cpu_seconds() - cpu_before)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_map_run(vv: Path, vh: Path, out: Path, model: str, extra: list[str], timeout: float) -> dict:
    """Run `python -m backend map` in a child process and follow its peak resident memory.

    The peak is the child's own VmHWM, polled every 0.1 s (it only grows, so the last reading before exit is
    the peak up to the final 0.1 s); getrusage() of children would also count the pages of this (large)
    parent process that the child shared between fork and exec.
    """
    args = [sys.executable, "-m", "backend", "map", "--vv", str(vv), "--vh", str(vh), "--model", model,
            "--out", str(out), "--overwrite", "--progress", "none", *extra]
    watched = run_watching_memory(args, timeout, cwd=REPO)
    record = {"exit_code": watched.returncode, "seconds": round(watched.seconds, 3),
              "cpu_seconds": round(watched.cpu_seconds, 2), "peak_rss_mb": round(watched.peak_mb, 1)}
    if watched.returncode == 0:
        run = json.loads(watched.output)
        record.update(tiles=run["n_tiles"], km2_per_minute=run["km2_per_minute"], engine=run["engine"],
                      heatmap=run["heatmap"] is not None, timings=run.get("timings"))
    else:
        record["error"] = (watched.errors.strip().splitlines() or ["timed out"])[-1][:300]
    return record
