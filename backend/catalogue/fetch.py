"""``fetch``: Sentinel-1 for an area and a season from a STAC API, as a series ``info`` and ``map`` read."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend import __version__
from backend.atomic import AtomicOutputs
from backend.catalogue import area as areas
from backend.catalogue import download as dl
from backend.catalogue.grouping import PASS_GAP, acquisition_dates, group_by_pass
from backend.catalogue.presets import Preset, parse_asset_map
from backend.catalogue.search import (
    Query,
    choose_orbit,
    nearest_acquisitions,
    no_data_message,
    open_client,
    orbit_of,
    search,
)
from backend.catalogue.writer import publish
from backend.contract.verbs.fetch import RECORD_FILE
from backend.contract.verbs.fetch import VERB as CONTRACT
from backend.errors import UserError
from backend.progress import Reporter


@dataclass(frozen=True)
class FetchRequest:
    """Everything the fetch verb was given (already parsed)."""

    preset: Preset
    url: str
    collection: str
    area: areas.Area
    start: dt.date
    end: dt.date
    orbit: str  # auto | ascending | descending | both
    pixel_size: float
    crs: str | None
    out: Path
    assets: dict[str, str]
    overwrite: bool = False
    catalogue_only: bool = False  # write fetch.json only; map streams the COGs (backend.raster.streaming)


def request_from(preset: Preset, url: str | None, collection: str | None, area: areas.Area, season: tuple,
                 orbit: str, pixel_size: float, crs: str | None, out: str, assets: str | None,
                 overwrite: bool, catalogue_only: bool = False) -> FetchRequest:
    """Fill what the user left out from the preset and check it.

    Raises:
        UserError: no URL/collection, season reversed, pixel size out of range.
    """
    url = (url or preset.url).rstrip("/")
    collection = collection or preset.collection
    if not url or not collection:
        raise UserError("give the catalogue with {param:stac_url} URL and {param:collection} NAME (or {param:preset} "
                        "planetary-computer)", param="stac_url")
    start, end = season
    if start > end:
        raise UserError(f"{{param:season}} {start} {end}: the start is after the end; give START END", param="season")
    return FetchRequest(preset, url, collection, area, start, end, orbit, float(pixel_size), crs, Path(out),
                        parse_asset_map(assets, preset.assets), overwrite, catalogue_only)


def fetch(request: FetchRequest, reporter: Reporter) -> dict:
    """Search, download (resumable) and publish the series; returns the verb's result."""
    _check_outputs(request)
    crs, problems = areas.output_crs(request.area, request.crs)
    grid = dl.Grid(crs, areas.grid_bounds(request.area, crs, request.pixel_size), request.pixel_size)
    query = Query(request.url, request.collection, request.area.bounds, request.area.lonlat.__geo_interface__,
                  request.start, request.end)
    reporter.stage("search", 1, f"{request.collection} at {request.url}")
    client = open_client(request.url)
    items = search(client, query)
    reporter.advance(1, f"{len(items)} items")
    if not items:
        raise UserError(no_data_message(query, nearest_acquisitions(client, query)), param="season")
    orbits, counts = choose_orbit(items, request.orbit, acquisition_dates)
    if request.orbit == "auto":
        reporter.log(f"orbit: {orbits[0]} ({counts}); pass --orbit to choose")
    if len(orbits) > 1:
        problems.append("ascending and descending passes are mixed on one series (--orbit both): their "
                        "incidence angles and backscatter levels differ; prefer one direction")
    kept = [i for i in items if orbit_of(i) in orbits]
    acquisitions = group_by_pass(kept)
    pols = [p for p in ("VV", "VH") if p in request.assets]
    acquisitions, asset_problems = dl.check_assets(acquisitions, request.assets)
    problems += asset_problems
    if request.catalogue_only:
        return _catalogue_only(request, query, grid, orbits, counts, acquisitions, problems)
    needed = dl.estimate_bytes(grid, len(acquisitions), len(pols))
    free = dl.check_free_space(request.out, needed)
    signature = {"query": _query_record(query), "grid": _grid_record(grid), "assets": request.assets,
                 "orbits": orbits}
    cache = dl.Cache(request.out, signature)
    written, reused = _download_all(acquisitions, grid, request, cache, pols, reporter)
    record = _record(request, query, grid, orbits, counts, acquisitions, problems, needed, free, written, reused)
    reporter.stage("write", len(pols), "COG stacks")
    files = publish(request.out, request.overwrite, cache, acquisitions, pols, grid, record)
    reporter.advance(len(pols), "done")
    cache.remove()
    return {"out": str(request.out.resolve()), "files": files, "dates": len(acquisitions),
            "items": sum(len(a.items) for a in acquisitions), "orbits": orbits, "orbit_counts": counts,
            "crs": grid.crs, "width": grid.width, "height": grid.height, "pixel_size": grid.pixel_size,
            "bytes_downloaded_to_cache": written, "dates_resumed": reused, "problems": problems,
            "grouping": [a.describe() for a in acquisitions]}


def _catalogue_only(request: FetchRequest, query: Query, grid: dl.Grid, orbits: list[str], counts: dict,
                    acquisitions: list, problems: list[str]) -> dict:
    """fetch.json alone: what `map --vv fetch.json --vh fetch.json` streams from the catalogue."""
    record = _record(request, query, grid, orbits, counts, acquisitions, problems, 0, 0, 0, 0)
    with AtomicOutputs(request.out, request.overwrite) as outputs:
        outputs.path(RECORD_FILE).write_text(json.dumps(record, indent=2, default=str))
        files = [p.name for p in outputs.commit()]
    return {"out": str(request.out.resolve()), "files": files, "dates": len(acquisitions),
            "items": sum(len(a.items) for a in acquisitions), "orbits": orbits, "orbit_counts": counts,
            "crs": grid.crs, "width": grid.width, "height": grid.height, "pixel_size": grid.pixel_size,
            "bytes_downloaded_to_cache": 0, "dates_resumed": 0, "problems": problems,
            "grouping": [a.describe() for a in acquisitions]}


def _check_outputs(request: FetchRequest) -> None:
    if request.overwrite:
        return
    names = (RECORD_FILE,) if request.catalogue_only else CONTRACT.outputs
    existing = [n for n in names if (request.out / n).exists()]
    if existing:
        raise UserError(f"{request.out / existing[0]} already exists; pass {{param:overwrite}} to replace it or choose "
                        "another {param:out}", param="out")


def _download_all(acquisitions: list, grid: dl.Grid, request: FetchRequest, cache: dl.Cache, pols: list[str],
                  reporter: Reporter) -> tuple[int, int]:
    """Fetch every acquisition not yet in the cache; progress in items and bytes."""
    done_keys = set(cache.open())
    patch_url = _patch_url(request.preset.signer)
    total_items = sum(len(a.items) for a in acquisitions)
    reporter.stage("download", len(acquisitions), f"{len(acquisitions)} dates, {total_items} items")
    items_done = written = reused = 0
    for acquisition in acquisitions:
        started = time.monotonic()
        if acquisition.key in done_keys and cache.complete(acquisition, pols):
            reused += 1
            message = "already fetched"
        else:
            written += dl.download(acquisition, grid, request.assets, cache, patch_url)
            message = f"{time.monotonic() - started:.1f} s"
        items_done += len(acquisition.items)
        reporter.event("fetch_progress", date=acquisition.date.isoformat(), items_done=items_done,
                       items_total=total_items, bytes_written=written, resumed=reused)
        reporter.advance(1, f"{acquisition.date} {items_done}/{total_items} items, {written / 1e6:.1f} MB "
                            f"({message})")
    return written, reused


def _patch_url(signer: str | None) -> Any:
    if signer != "planetary-computer":
        return None
    import planetary_computer

    return planetary_computer.sign


def _query_record(query: Query) -> dict:
    return {"url": query.url, "collection": query.collection, "bbox": list(query.bbox),
            "intersects": query.intersects, "datetime": query.datetime_range()}


def _grid_record(grid: dl.Grid) -> dict:
    return {"crs": grid.crs, "bounds": list(grid.bounds), "pixel_size": grid.pixel_size, "width": grid.width,
            "height": grid.height}


def _record(request: FetchRequest, query: Query, grid: dl.Grid, orbits: list[str], counts: dict,
            acquisitions: list, problems: list[str], needed: int, free: int, written: int, reused: int) -> dict:
    """fetch.json: enough to know where every pixel came from and to rerun the same query."""
    items = [i for a in acquisitions for i in a.items]
    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "software": f"S1 Rice Mapper backend {__version__}",
        "preset": request.preset.name, "query": _query_record(query), "area": request.area.source,
        "season": [request.start.isoformat(), request.end.isoformat()], "orbit_requested": request.orbit,
        "orbits": orbits, "acquisition_dates_per_orbit": counts, "grid": _grid_record(grid),
        "assets": request.assets, "units": "linear", "nodata": "nan",
        "resampling": {"backscatter": "bilinear", "mask": "nearest"},
        "grouping": {"rule": f"items of one orbit direction less than {int(PASS_GAP.total_seconds() // 60)} min "
                             "apart form one pass, dated by the UTC date of its first item; first valid pixel "
                             "wins in overlaps", "dates": [a.describe() for a in acquisitions]},
        "items": [{"id": i.id, "datetime": i.datetime.isoformat() if i.datetime else None,
                   "orbit_state": i.properties.get("sat:orbit_state"),
                   "relative_orbit": i.properties.get("sat:relative_orbit"),
                   "platform": i.properties.get("platform"),
                   "assets": {role: _unsigned(i.assets[key].href) for role, key in request.assets.items()},
                   "nodata": {role: _nodata(i.assets[key]) for role, key in request.assets.items()},
                   "proj": {"epsg": i.properties.get("proj:epsg"), "transform": i.properties.get("proj:transform"),
                            "shape": i.properties.get("proj:shape")}}
                  for i in items],
        "licence": _licence(request, items), "provenance": request.preset.note,
        "disk": {"estimated_bytes": needed, "free_bytes_before": free, "bytes_written_to_cache": written,
                 "dates_resumed": reused},
        "problems": problems,
    }


def _nodata(asset: Any) -> float | None:
    bands = asset.extra_fields.get("raster:bands") or [{}]
    return bands[0].get("nodata")


def _unsigned(href: str) -> str:
    return href.split("?", 1)[0]  # never store a SAS token


def _licence(request: FetchRequest, items: list) -> str:
    found = {str(getattr(i, "collection_id", "") or "") for i in items}
    links = sorted({link.href for i in items for link in i.links if link.rel == "license"})
    return "; ".join(filter(None, [request.preset.licence, *links])) or f"see the licence of {', '.join(found)}"
