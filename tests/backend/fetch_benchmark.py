"""Time one fetch of a synthetic catalogue (two frames per pass) from rustac serve + the Range server.

Run: ``nice .venv/bin/python tests/backend/fetch_benchmark.py [SIZE]`` (default 1024 px). Prints JSON:
wall time, dates, items, grid, bytes the COG server sent, bytes cached, load average. Not a test.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from test_fetch_fixtures import (
    build_catalogue,
    http_server,
    run_backend,
    scene_bounds,
    server_url,
    stac_api,
    synth_scene,
)

SEASON = ("2022-04-01", "2022-05-31")


def main(size: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="fetch-bench-"))
    try:
        scene = synth_scene(root / "scene", size=size)
        (root / "cogs").mkdir()
        with http_server(root / "cogs") as cogs:
            items = build_catalogue(scene, root / "cogs", server_url(cogs), *SEASON)
            with stac_api(items, root / "api") as url:
                bbox, epsg = scene_bounds(scene)
                started = time.monotonic()
                proc = run_backend("fetch", "--stac-url", url, "--collection", "sentinel-1-rtc", "--bbox", *bbox,
                                   "--bbox-crs", epsg, "--season", *SEASON, "--orbit", "both", "--out",
                                   str(root / "out"), "--progress", "json")
                wall = time.monotonic() - started
        result = json.loads(proc.stdout.splitlines()[-1])
        return {"returncode": proc.returncode, "wall_s": round(wall, 1), "dates": result.get("dates"),
                "items": result.get("items"), "width": result.get("width"), "height": result.get("height"),
                "bytes_served": cogs.bytes_served, "bytes_cached": result.get("bytes_downloaded_to_cache"),
                "load_average": [round(v, 2) for v in os.getloadavg()]}
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)))
