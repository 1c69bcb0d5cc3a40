"""Write a :class:`~backend.synthetic.scene.Scene` to disk in one of the three input layouts.

Layouts (the same ones the reader accepts):

* ``a``: ``VV.tif`` and ``VH.tif``, one band per date, band descriptions ``YYYY-MM-DD``;
* ``b``: one single-band file per date and polarization, ``S1_VV_2022-01-09.tif``;
* ``c``: one interleaved ``stack.tif`` with band descriptions ``VV_20220109``, ``VH_20220109``.

Backscatter is float32 with nodata NaN, in linear power (as distributed by ESA/GEE/Planetary
Computer) unless ``units='db'``. Acquisitions that are missing for the whole scene are not written
(a real product has no band for them); they are listed in ``scene.json``. Every file goes through
:class:`~backend.atomic.AtomicOutputs`, so a failed run leaves nothing under a final name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from backend.atomic import AtomicOutputs
from backend.contract.verbs.synth import VERB as SYNTH
from backend.progress import Reporter
from backend.synthetic.scene import Scene

LAYOUTS = ("a", "b", "c")
UNITS = ("linear", "db")
POLARIZATIONS = ("VV", "VH")


def _profile(scene: Scene, count: int, dtype: str, nodata: float | None) -> dict:
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    height, width = scene.truth.shape
    return {"driver": "GTiff", "height": height, "width": width, "count": count, "dtype": dtype,
            "crs": CRS.from_epsg(scene.crs), "transform": Affine(*scene.transform), "nodata": nodata,
            "compress": "deflate"}


def _bands(scene: Scene, pol: str, keep: np.ndarray, units: str) -> np.ndarray:
    cube = (scene.vv_db if pol == "VV" else scene.vh_db)[keep]
    if units == "db":
        return cube.astype(np.float32)
    return np.power(np.float32(10.0), cube / np.float32(10.0)).astype(np.float32)


def _write_raster(path: Path, scene: Scene, bands: np.ndarray, descriptions: list[str],
                  tags: list[dict[str, str]]) -> None:
    import rasterio

    with rasterio.open(path, "w", **_profile(scene, len(bands), "float32", float("nan"))) as dst:
        dst.write(bands)
        for i, (desc, tag) in enumerate(zip(descriptions, tags), start=1):
            dst.set_band_description(i, desc)
            dst.update_tags(i, **tag)


def _write_backscatter(out: AtomicOutputs, scene: Scene, layout: str, units: str, keep: np.ndarray,
                       reporter: Reporter) -> list[str]:
    dates = [d for d, k in zip(scene.dates, keep) if k]
    cubes = {pol: _bands(scene, pol, keep, units) for pol in POLARIZATIONS}
    names = []
    if layout == "a":
        for pol in POLARIZATIONS:
            _write_raster(out.path(f"{pol}.tif"), scene, cubes[pol], [d.isoformat() for d in dates],
                          [{"date": d.isoformat(), "polarization": pol, "units": units} for d in dates])
            names.append(f"{pol}.tif")
            reporter.advance(1, f"{pol}.tif")
    elif layout == "b":
        for i, d in enumerate(dates):
            for pol in POLARIZATIONS:
                name = f"S1_{pol}_{d.isoformat()}.tif"
                _write_raster(out.path(name), scene, cubes[pol][i:i + 1], [f"{pol} {d.isoformat()}"],
                              [{"date": d.isoformat(), "polarization": pol, "units": units}])
                names.append(name)
            reporter.advance(1, d.isoformat())
    else:
        order = [(d, i, pol) for i, d in enumerate(dates) for pol in POLARIZATIONS]
        stack = np.stack([cubes[pol][i] for _, i, pol in order])
        _write_raster(out.path("stack.tif"), scene, stack, [f"{pol}_{d:%Y%m%d}" for d, _, pol in order],
                      [{"date": d.isoformat(), "polarization": pol, "units": units} for d, _, pol in order])
        names.append("stack.tif")
        reporter.advance(1, "stack.tif")
    return names


def _write_truth(path: Path, scene: Scene) -> None:
    import rasterio

    with rasterio.open(path, "w", **_profile(scene, 1, "uint8", None)) as dst:
        dst.write(scene.truth[None])
        dst.set_band_description(1, "rice (1) / other (0)")


def _as_multipolygon(geom):
    """Valid MultiPolygon of the polygon parts of ``geom`` (clipping can leave lines or collections)."""
    from shapely import make_valid
    from shapely.geometry import MultiPolygon, Polygon

    geom = make_valid(geom)
    parts = [geom] if isinstance(geom, Polygon) else list(getattr(geom, "geoms", []))
    polygons = []
    for part in parts:
        if isinstance(part, Polygon):
            polygons.append(part)
        elif isinstance(part, MultiPolygon):
            polygons.extend(part.geoms)
    return MultiPolygon(polygons)


def _write_labels(path: Path, scene: Scene) -> None:
    """Polygons with ``class`` rice/other and ``class_id`` 1/0, plus land cover and sowing dates."""
    from pyogrio.raw import write
    from shapely import to_wkb

    shaped = [(f, _as_multipolygon(f.polygon)) for f in scene.fields]
    shaped = [(f, g) for f, g in shaped if not g.is_empty]
    fields, geoms = [f for f, _ in shaped], [g for _, g in shaped]
    start, end = scene.dates[0], scene.dates[-1]
    columns = {
        "class": np.asarray(["rice" if f.is_rice else "other" for f in fields], dtype=object),
        "class_id": np.asarray([1 if f.is_rice else 0 for f in fields], dtype=np.int32),
        "landcover": np.asarray([f.name for f in fields], dtype=object),
        "kind": np.asarray([f.kind for f in fields], dtype=object),
        "system": np.asarray([f.system or "" for f in fields], dtype=object),
        "sowing": np.asarray([",".join(d.isoformat() for d in f.sowing_dates if start <= d <= end)
                              for f in fields], dtype=object),
    }
    write(str(path), np.asarray(to_wkb(geoms), dtype=object), list(columns.values()), fields=list(columns),
          layer="labels", driver="GPKG", geometry_type="MultiPolygon", crs=f"EPSG:{scene.crs}")


def scene_summary(scene: Scene, written_dates: list[str], files: list[str], layout: str, units: str) -> dict:
    """What ``scene.json`` holds: provenance, calendar, grid, dates and land-cover shares."""
    return {**scene.meta, "layout": layout, "units": units, "crs": f"EPSG:{scene.crs}",
            "transform": list(scene.transform), "pixel_size": scene.transform[0],
            "dates": written_dates, "rice_share": round(float(scene.truth.mean()), 4),
            "polarizations": list(POLARIZATIONS), "files": files}


def write_scene(scene: Scene, out_dir: Path, layout: str, units: str = "linear", overwrite: bool = False,
                reporter: Reporter | None = None) -> dict:
    """Write all outputs atomically; returns the ``scene.json`` content."""
    reporter = reporter or Reporter("none")
    keep = ~np.asarray([np.isnan(f).all() for f in scene.vv_db])
    steps = {"a": 2, "b": int(keep.sum()), "c": 1}[layout] + 3
    with AtomicOutputs(out_dir, overwrite=overwrite) as out:
        reporter.stage("write", steps)
        files = _write_backscatter(out, scene, layout, units, keep, reporter)
        truth, labels, record = (SYNTH.output(stem) for stem in ("truth", "labels", "scene"))
        _write_truth(out.path(truth), scene)
        reporter.advance(1, truth)
        _write_labels(out.path(labels), scene)
        reporter.advance(1, labels)
        written = [d.isoformat() for d, k in zip(scene.dates, keep) if k]
        summary = scene_summary(scene, written, files + [truth, labels, record], layout, units)
        out.path(record).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        reporter.advance(1, record)
        out.commit()
    return summary
