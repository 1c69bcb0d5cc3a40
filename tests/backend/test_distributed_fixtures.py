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


class RangeServer:
    """A real HTTP server on 127.0.0.1 serving one folder with byte ranges, as object stores do for GDAL's
    /vsicurl/ (Python's own SimpleHTTPRequestHandler ignores Range headers)."""

    def __init__(self, folder: Path) -> None:
        import http.server
        import threading

        root = folder

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                path = root / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                first, last = 0, len(data) - 1
                ranged = self.headers.get("Range", "").startswith("bytes=")
                if ranged:
                    start, _, end = self.headers["Range"][6:].partition("-")
                    first, last = int(start), min(int(end) if end else last, last)
                self.send_response(206 if ranged else 200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(last - first + 1))
                if ranged:
                    self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
                self.end_headers()
                if body:
                    self.wfile.write(data[first:last + 1])

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
