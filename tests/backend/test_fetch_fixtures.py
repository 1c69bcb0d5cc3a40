"""Helpers for the fetch tests: a real STAC API (``rustac serve``) and a real HTTP server with Range support,
both on 127.0.0.1, serving Planetary-Computer-shaped ``sentinel-1-rtc`` items whose COG assets are cut from a
synthetic scene. Test modules import them; this module holds no tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
COLLECTION = "sentinel-1-rtc"
PC_NODATA = -32768.0  # what Planetary Computer's RTC COGs declare
OVERLAP_ROWS = 8  # two frames per acquisition overlap by this many rows, as adjacent S1 slices do


def run_backend(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with HTTP Range requests (what GDAL's /vsicurl/ needs to read COG windows).

    ``server.token`` (when set) must come as ``Authorization: Bearer <token>``, else 401;
    ``server.bytes_served`` counts payload bytes, so tests can tell a resumed run read nothing again.
    """

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _authorised(self) -> bool:
        token = getattr(self.server, "token", None)
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            self.send_error(HTTPStatus.UNAUTHORIZED, "missing or expired token")
            return False
        return True

    def do_HEAD(self) -> None:
        if self._authorised():
            super().do_HEAD()

    def do_GET(self) -> None:
        if not self._authorised():
            return
        spec = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not spec or not path.is_file():
            return super().do_GET()
        size = path.stat().st_size
        first, _, last = spec.removeprefix("bytes=").partition("-")
        start = int(first) if first else max(size - int(last), 0)
        end = min(int(last), size - 1) if first and last else size - 1
        if start >= size:
            self.send_error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            return
        with path.open("rb") as handle:
            handle.seek(start)
            payload = handle.read(end - start + 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        with self.server.lock:
            self.server.bytes_served += len(payload)


class StatusHandler(SimpleHTTPRequestHandler):
    """Answers every request with ``server.status`` (e.g. 503), like a catalogue that is down."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests += 1
        self.send_error(self.server.status, "service unavailable")

    do_POST = do_GET


@contextlib.contextmanager
def http_server(root: Path, handler=RangeHandler, **attributes) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    server.lock = threading.Lock()
    server.bytes_served = 0
    server.requests = 0
    for key, value in attributes.items():
        setattr(server, key, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def server_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@contextlib.contextmanager
def stac_api(items: list[dict], folder: Path) -> Iterator[str]:
    """``rustac serve`` (in-memory backend) loaded with one collection and ``items``; yields the API URL."""
    rustac = next(p for p in (Path(sys.executable).with_name("rustac"), REPO / ".venv" / "bin" / "rustac",
                              Path(shutil.which("rustac") or "rustac")) if p.exists())
    folder.mkdir(parents=True, exist_ok=True)
    collection = _collection(items)
    (folder / "collection.json").write_text(json.dumps(collection))
    (folder / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([rustac, "serve", "--addr", f"127.0.0.1:{port}", str(folder / "collection.json"),
                             str(folder / "items.json")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rustac serve exited: {proc.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(f"{url}/collections/{COLLECTION}/items?limit=1", timeout=2) as response:
                if json.load(response)["features"]:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"rustac serve did not answer at {url}")


def _collection(items: list[dict]) -> dict:
    times = sorted(i["properties"]["datetime"] for i in items) or ["2022-01-01T00:00:00Z"]
    lons = [c for i in items for c in (i["bbox"][0], i["bbox"][2])] or [0, 1]
    lats = [c for i in items for c in (i["bbox"][1], i["bbox"][3])] or [0, 1]
    return {"type": "Collection", "stac_version": "1.0.0", "id": COLLECTION, "license": "CC-BY-4.0",
            "description": "synthetic Sentinel-1 RTC for tests", "links": [],
            "extent": {"spatial": {"bbox": [[min(lons), min(lats), max(lons), max(lats)]]},
                       "temporal": {"interval": [[times[0], times[-1]]]}}}


# -- a catalogue cut from a synthetic scene ------------------------------------------------------------
def synth_scene(folder: Path, size: int = 64, seed: int = 5) -> Path:
    """A Mekong-like synthetic scene in layout b (one linear file per date and polarization)."""
    proc = run_backend("synth", "--region", "mekong", "--size", str(size), "--seed", str(seed), "--layout", "b",
                       "--out", str(folder))
    assert proc.returncode == 0, proc.stderr
    return folder


def scene_acquisitions(scene: Path) -> list[dict]:
    return [a for a in json.loads((scene / "scene.json").read_text())["acquisitions"] if not a["missing"]]


MASKED_COLUMNS = 4  # the mask asset (when built) flags the scene's first columns, like a layover strip


def write_cog(source: Path, target: Path, rows: slice, nodata: float = PC_NODATA, as_mask: bool = False) -> dict:
    """Rows ``rows`` of a synthetic file as a float32 COG with nodata -32768 (NaN replaced), as PC serves.

    ``as_mask``: instead, a mask of the same frame, 1 in the first :data:`MASKED_COLUMNS` columns, else 0.
    Returns the frame's proj:* fields.
    """
    import numpy as np
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.windows import Window
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    with rasterio.open(source) as src:
        window = Window(0, rows.start, src.width, rows.stop - rows.start)
        data = src.read(1, window=window)
        transform = src.window_transform(window)
        profile = {"driver": "GTiff", "dtype": "float32", "count": 1, "width": src.width,
                   "height": window.height, "crs": src.crs, "transform": transform, "nodata": nodata}
        epsg = src.crs.to_epsg()
    data = np.where(np.isfinite(data), data, nodata).astype(np.float32)
    if as_mask:
        data = np.zeros_like(data)
        data[:, :MASKED_COLUMNS] = 1
    target.parent.mkdir(parents=True, exist_ok=True)
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(data, 1)
        with memory.open() as src:
            cog_translate(src, str(target), {**cog_profiles.get("deflate"), "blockxsize": 256, "blockysize": 256},
                          quiet=True, in_memory=True)
    height, width = data.shape
    return {"proj:epsg": epsg, "proj:shape": [height, width], "proj:transform": list(transform)[:6] + [0, 0, 1],
            "proj:bbox": [transform.c, transform.f + transform.e * height, transform.c + transform.a * width,
                          transform.f]}


def rtc_item(item_id: str, when: dt.datetime, orbit: str, proj: dict, base_url: str,
             assets: tuple[str, str] = ("vv", "vh")) -> dict:
    """An item with the JSON shape of Planetary Computer's sentinel-1-rtc items (see the recorded fixture)."""
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(proj["proj:epsg"], 4326, always_xy=True)
    west, south, east, north = proj["proj:bbox"]
    ring = [to_lonlat.transform(x, y) for x, y in ((west, south), (east, south), (east, north), (west, north))]
    ring.append(ring[0])
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    band = {"nodata": PC_NODATA, "data_type": "float32", "spatial_resolution": 10.0}
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": COLLECTION,
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        "links": [{"rel": "license", "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"}],
        "stac_extensions": ["https://stac-extensions.github.io/sar/v1.0.0/schema.json",
                            "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
                            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                            "https://stac-extensions.github.io/raster/v1.1.0/schema.json"],
        "properties": {
            "datetime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "platform": "SENTINEL-1A",
            "constellation": "Sentinel-1", "sar:instrument_mode": "IW", "sar:polarizations": ["VV", "VH"],
            "sar:frequency_band": "C", "sar:product_type": "GRD", "sar:looks_equivalent_number": 4.4,
            "sat:orbit_state": orbit, "sat:relative_orbit": 18 if orbit == "ascending" else 91,
            **proj,
        },
        "assets": {key: {"href": f"{base_url}/{item_id}/{key}.tif",
                         "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"],
                         "title": key.upper(), "raster:bands": [band]} for key in assets},
    }


def build_catalogue(scene: Path, cogs: Path, base_url: str, first: str, last: str,
                    assets: tuple[str, str] = ("vv", "vh"), mask: bool = False) -> list[dict]:
    """Two adjacent, overlapping frames per acquisition of ``scene`` between ``first`` and ``last``.

    ``mask``: items also get a ``mask`` asset (see :func:`write_cog`).
    """
    height = _height(scene)
    half = height // 2
    frames = (("N", slice(0, half + OVERLAP_ROWS // 2)), ("S", slice(half - OVERLAP_ROWS // 2, height)))
    items = []
    for acquisition in scene_acquisitions(scene):
        if not first <= acquisition["date"] <= last:
            continue
        day = dt.datetime.fromisoformat(acquisition["date"])
        start = day + (dt.timedelta(hours=11) if acquisition["orbit"] == "ascending" else dt.timedelta(hours=22, minutes=50))
        for number, (frame, rows) in enumerate(frames):
            when = start + dt.timedelta(seconds=25 * number)
            item_id = f"S1A_IW_GRDH_1SDV_{when:%Y%m%dT%H%M%S}_{frame}_rtc"
            for key, pol in zip(assets, ("VV", "VH")):
                proj = write_cog(scene / f"S1_{pol}_{acquisition['date']}.tif", cogs / item_id / f"{key}.tif", rows)
            if mask:
                write_cog(scene / f"S1_VV_{acquisition['date']}.tif", cogs / item_id / "mask.tif", rows, as_mask=True)
            items.append(rtc_item(item_id, when, acquisition["orbit"], proj, base_url,
                                  (*assets, "mask") if mask else assets))
    return items


def _height(scene: Path) -> int:
    import rasterio

    first = sorted(scene.glob("S1_VV_*.tif"))[0]
    with rasterio.open(first) as src:
        return src.height


def scene_bounds(scene: Path) -> tuple[list[str], str]:
    """``--bbox`` values and ``--bbox-crs`` of the scene's own grid."""
    import rasterio

    with rasterio.open(sorted(scene.glob("S1_VV_*.tif"))[0]) as src:
        bounds = src.bounds
        return [repr(float(v)) for v in bounds], str(src.crs.to_epsg())


if __name__ == "__main__":  # for the plugin tests, which run in QGIS's Python: build a catalogue here
    root, base_url, first, last = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    scene = synth_scene(root / "scene", size=48)
    (root / "cogs").mkdir(parents=True, exist_ok=True)
    items = build_catalogue(scene, root / "cogs", base_url, first, last)
    bbox, epsg = scene_bounds(scene)
    print(json.dumps({"scene": str(scene), "items": items, "bbox": bbox, "epsg": epsg,
                      "dates": sorted({a["date"] for a in scene_acquisitions(scene) if first <= a["date"] <= last})}))
