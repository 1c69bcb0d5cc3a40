"""Reading each acquisition from its COGs onto the output grid, into a resumable cache.

odc-stac builds one lazy dask array per acquisition (only the COG windows over the grid are read, at the
overview level that fits); :func:`dask.array.store` writes it block by block into a tiled GeoTIFF in the
cache folder, so memory stays at a few blocks whatever the area. A cache file appears under its name only
once complete (written to a temporary name, then renamed), so an interrupted fetch resumes where it
stopped. Backscatter is resampled bilinearly; a mask asset (for example layover/shadow) by nearest
neighbour, and pixels it flags become no data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from backend.catalogue.grouping import Acquisition
from backend.catalogue.search import RETRIES, TOKEN_ENV, token_headers
from backend.errors import UserError

CHUNK = 1024  # px; dask block side: one block of both polarizations is 8 MiB of float32
CACHE_DIR = ".fetch-cache"
STATE = "state.json"


@dataclass(frozen=True)
class Grid:
    """The output grid: CRS, bounds snapped to whole pixels, pixel size."""

    crs: str
    bounds: tuple[float, float, float, float]
    pixel_size: float

    @property
    def width(self) -> int:
        return int(round((self.bounds[2] - self.bounds[0]) / self.pixel_size))

    @property
    def height(self) -> int:
        return int(round((self.bounds[3] - self.bounds[1]) / self.pixel_size))

    def geobox(self) -> Any:
        from odc.geo.geobox import GeoBox

        return GeoBox.from_bbox(self.bounds, crs=self.crs, resolution=self.pixel_size)

    def transform(self) -> Any:
        from rasterio.transform import from_origin

        return from_origin(self.bounds[0], self.bounds[3], self.pixel_size, self.pixel_size)


class Cache:
    """``<out>/.fetch-cache``: one GeoTIFF per acquisition and polarization, and the query they belong to."""

    def __init__(self, out_dir: Path, signature: dict) -> None:
        self.folder = Path(out_dir) / CACHE_DIR
        self.signature = json.loads(json.dumps(signature, default=str))  # as it reads back from disk

    def open(self) -> list[str]:
        """Create the folder; drop files of a different query. Returns the keys already complete."""
        self.folder.mkdir(parents=True, exist_ok=True)
        state = self.folder / STATE
        if state.exists() and json.loads(state.read_text()) != self.signature:
            for path in self.folder.glob("*.tif"):
                path.unlink()
        state.write_text(json.dumps(self.signature, indent=1))
        for partial in self.folder.glob(".*.tif"):
            partial.unlink()  # left by an interrupted write
        return sorted({p.stem.rsplit("_", 1)[0] for p in self.folder.glob("*.tif")})

    def path(self, key: str, pol: str) -> Path:
        return self.folder / f"{key}_{pol}.tif"

    def complete(self, acquisition: Acquisition, pols: list[str]) -> bool:
        return all(self.path(acquisition.key, pol).exists() for pol in pols)

    def remove(self) -> None:
        for path in self.folder.glob("*"):
            path.unlink()
        self.folder.rmdir()


class _BandTarget:
    """A dask store target writing (rows, cols) blocks into band 1 of an open rasterio dataset."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __setitem__(self, index: tuple[slice, slice], block: np.ndarray) -> None:
        from rasterio.windows import Window

        rows, cols = index
        window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        self.dataset.write(np.asarray(block, dtype=np.float32), 1, window=window)


def gdal_options() -> dict[str, Any]:
    """GDAL HTTP settings: retries with backoff, the bearer token, no directory listing of asset hosts."""
    options: dict[str, Any] = {"GDAL_HTTP_MAX_RETRY": RETRIES, "GDAL_HTTP_RETRY_DELAY": 0.5,
                               "GDAL_HTTP_TIMEOUT": 60, "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
                               "GDAL_HTTP_MULTIRANGE": "YES", "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES"}
    header = token_headers().get("Authorization")
    if header:
        options["GDAL_HTTP_HEADERS"] = f"Authorization: {header}"
    return options


def check_assets(acquisitions: list[Acquisition], assets: dict[str, str]) -> tuple[list[Acquisition], list[str]]:
    """Drop items that lack a required asset; stop when none has them.

    Raises:
        UserError: no item has every asset named by ``assets`` (lists the names the items do have).
    """
    wanted = [assets[role] for role in assets]
    problems, kept = [], []
    seen_keys: set[str] = set()
    for acquisition in acquisitions:
        usable = [i for i in acquisition.items if all(k in i.assets for k in wanted)]
        for item in acquisition.items:
            seen_keys |= set(item.assets)
            if item not in usable:
                missing = [k for k in wanted if k not in item.assets]
                problems.append(f"item {item.id} has no asset {', '.join(missing)}; skipped")
        if usable:
            acquisition.items = usable
            kept.append(acquisition)
    if not kept:
        raise UserError(f"no item has the assets {', '.join(wanted)} (they have: {', '.join(sorted(seen_keys))}); "
                        "name the right ones with {param:assets} VV=<key>,VH=<key>", param="assets")
    return kept, problems


def download(acquisition: Acquisition, grid: Grid, assets: dict[str, str], cache: Cache,
             patch_url: Callable[[str], str] | None) -> int:
    """Read one acquisition onto ``grid`` into the cache; returns the bytes written.

    Raises:
        UserError: an asset cannot be read (token, missing file, host unreachable), naming the item.
    """
    import odc.stac

    pols = [p for p in ("VV", "VH") if p in assets]
    bands = [assets[p] for p in pols] + ([assets["MASK"]] if "MASK" in assets else [])
    resampling = {assets[p]: "bilinear" for p in pols}
    if "MASK" in assets:
        resampling[assets["MASK"]] = "nearest"
    odc.stac.configure_rio(cloud_defaults=True, **gdal_options())
    try:
        cube = odc.stac.load(acquisition.items, bands=bands, geobox=grid.geobox(), groupby=_one_group,
                             resampling=resampling, chunks={"x": CHUNK, "y": CHUNK}, patch_url=patch_url,
                             fail_on_error=True, dtype="float32")
        mask = cube[assets["MASK"]].isel(time=0) if "MASK" in assets else None
        written = 0
        for pol in pols:
            layer = cube[assets[pol]].isel(time=0)
            nodata = layer.attrs.get("nodata")
            layer = layer.where(np.isfinite(layer) & (layer != nodata if nodata is not None else True))
            if mask is not None:
                layer = layer.where(mask == 0)
            written += _store(layer.data, cache.path(acquisition.key, pol), grid)
        return written
    except UserError:
        raise
    except Exception as exc:  # rasterio/GDAL/odc errors while reading remote COGs
        raise UserError(_read_message(acquisition, exc), param="stac_url") from exc


def _one_group(item: Any, parsed: Any, index: int) -> int:
    """odc-stac ``groupby``: every item of one acquisition goes into one time slice (mosaic, first valid)."""
    return 0


def _store(array: Any, target: Path, grid: Grid) -> int:
    import dask.array
    import rasterio

    partial = target.with_name(f".{target.name}")
    profile = {"driver": "GTiff", "dtype": "float32", "count": 1, "width": grid.width, "height": grid.height,
               "crs": grid.crs, "transform": grid.transform(), "nodata": float("nan"), "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate", "predictor": 3, "BIGTIFF": "IF_SAFER"}
    with rasterio.open(partial, "w", **profile) as dst:
        dask.array.store(array, _BandTarget(dst), lock=True, scheduler="threads")
    os.replace(partial, target)
    return target.stat().st_size


def _read_message(acquisition: Acquisition, exc: Exception) -> str:
    text = str(exc)
    ids = ", ".join(i.id for i in acquisition.items)
    if any(code in text for code in ("401", "403")):
        return (f"reading the assets of {ids} was refused ({text[:160]}): the token is missing or expired; set a "
                f"valid one in {TOKEN_ENV} (Planetary Computer signs automatically: just run again) and rerun; "
                "dates already fetched are kept")
    if "404" in text:
        return f"an asset of {ids} does not exist on its server ({text[:160]}); the catalogue may be out of date"
    return (f"reading the assets of {ids} failed after {RETRIES} retries ({text[:200]}); check the connection "
            "and run again: dates already fetched are kept")


def estimate_bytes(grid: Grid, n_acquisitions: int, n_pols: int) -> int:
    """Upper bound of the disk a fetch needs: the cache plus the final stacks, uncompressed float32."""
    return 2 * grid.width * grid.height * 4 * n_acquisitions * n_pols


def check_free_space(folder: Path, needed: int) -> int:
    """Free bytes at ``folder`` (or its nearest existing parent).

    Raises:
        UserError: less free space than ``needed``.
    """
    import shutil

    probe = Path(folder).resolve()
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise UserError(f"the fetch needs up to {needed / 1e9:.1f} GB but {probe} has {free / 1e9:.1f} GB free; "
                        "choose a smaller area or season, a coarser {param:pixel_size}, or an {param:out} on a larger disk",
                        param="out")
    return free
