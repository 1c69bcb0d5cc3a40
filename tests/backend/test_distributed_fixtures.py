"""Helpers for the `map --cluster` tests: a scene big enough for several blocks, output comparison.

Test modules import them (``from test_distributed_fixtures import ...``); this module holds no tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio

from test_map_fixtures import REPO, SEASON, scene

SIDE = 704  # 3 x 3 blocks of 256 px, the last row and column partial
CLUSTER_ARGS = ("--tile", "32", "--overlap", "8", "--block", "256")


def big_scene(folder: Path) -> list[str]:
    return scene(folder, SIDE, SIDE - 64, seed=3)


def map_cmd(model: str, inputs: list[str], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "backend", "map", *inputs, "--model", model, "--season", *SEASON,
            *CLUSTER_ARGS, "--out", str(out), "--threads", "1", "--engine", "onnx", *extra]


def run(cmd: list[str], env: dict, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def result_of(proc: subprocess.CompletedProcess) -> dict:
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return next(e for e in lines if e["event"] in ("result", "error"))


def read(folder: Path, name: str) -> np.ndarray:
    with rasterio.open(folder / name) as dataset:
        return dataset.read(1)


def assert_same_outputs(reference: Path, other: Path, names=("probability.tif", "heatmap.tif", "rice.tif")) -> None:
    """Bit-identical rasters (NaN where NaN), same overviews, and the styles beside them."""
    for name in names:
        a, b = read(reference, name), read(other, name)
        assert a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=True), f"{name}: max difference {np.nanmax(np.abs(a - b))}"
        with rasterio.open(reference / name) as ra, rasterio.open(other / name) as rb:
            assert rb.overviews(1) == ra.overviews(1) and rb.overviews(1)
            assert rb.profile["tiled"] and rb.profile["blockxsize"] == 256
        assert (other / name.replace(".tif", ".qml")).is_file()


def interrupt_after(cmd: list[str], env: dict, blocks: int) -> tuple[int, list[dict]]:
    """Start ``cmd`` (JSON progress), send SIGINT once ``blocks`` blocks are reported done; exit code, events."""
    proc = subprocess.Popen(cmd + ["--progress", "json"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    events = []
    for line in proc.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "blocks" and event["done"] >= blocks:
            proc.send_signal(signal.SIGINT)
            break
    events += [json.loads(line) for line in proc.stdout if line.startswith("{")]
    return proc.wait(timeout=120), events


def backend_env(cache: Path, **extra: str) -> dict:
    """Environment for a process that imports the backend from this checkout."""
    return {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(REPO), **extra}
