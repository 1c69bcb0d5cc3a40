"""Rice area per administrative unit, block by block: ``riceareastats`` at national scale.

The rice map is read in blocks of ``block_px`` pixels; in each block only the zones whose bounds touch it
are rasterized (pixel-centre rule, as QGIS's zonal histogram), and per-zone sums of rice and mapped area
are added up. Memory holds one block and the zones' geometries, whatever the raster size and the number of
zones; with a Dask client each block is one task returning only the sums of the zones it touches.
Zones are assumed not to overlap (administrative units): a pixel in two zones counts for the later one.
In a geographic CRS each pixel row gets its own spherical area, so areas stay right across a country.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.atomic import AtomicOutputs
from backend.contract.verbs.riceareastats import VERB as STATS_VERB
from backend.distributed.blocks import DEFAULT_BLOCK_PX
from backend.errors import UserError
from backend.evaluation.reference import VectorReference
from backend.progress import Reporter
from backend.raster.pixel_area import EARTH_RADIUS_M, pixel_area_m2

AREA_FIELD, SHARE_FIELD, MAPPED_FIELD = "rice_ha", "rice_pct", "mapped_ha"
OUTPUT_NAMES = (STATS_VERB.output("zones_rice", "gpkg"), STATS_VERB.output("zones_rice", "csv"))
RICE, OTHER = 1, 0


@dataclass(frozen=True)
class ZoneBlock:
    """One task: a window of the rice map and the zones (WKB in the map's CRS, ids from 1) touching it."""

    rice: str
    row0: int
    col0: int
    height: int
    width: int
    ids: np.ndarray
    wkb: list[bytes]


def row_areas_m2(grid: Any, row0: int, n: int) -> np.ndarray:
    """Area (m²) of one pixel in each of rows ``row0 .. row0+n-1``: per-row on a geographic grid."""
    if grid.crs is None or not grid.crs.is_geographic:
        return np.full(n, pixel_area_m2(grid))
    t = grid.transform
    lat = np.radians(t.f + t.e * (row0 + np.arange(n) + 0.5))
    return (math.radians(abs(t.a)) * EARTH_RADIUS_M * np.cos(lat)) * (math.radians(abs(t.e)) * EARTH_RADIUS_M)


def block_sums(block: ZoneBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(zone ids, rice m², mapped m²) of the zones in ``block`` (runs on a worker or here).

    Args:
        block: the window and the zones touching it.

    Returns:
        Three arrays of the same length, one entry per zone id in the block.
    """
    import rasterio
    import shapely
    from rasterio.features import rasterize
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    window = Window(block.col0, block.row0, block.width, block.height)
    with rasterio.open(block.rice) as dataset:
        values = dataset.read(1, window=window)
        shapes = zip(shapely.from_wkb(block.wkb), block.ids.tolist())
        zone = rasterize(shapes, out_shape=values.shape, transform=window_transform(window, dataset.transform),
                         fill=0, dtype="int32")
        areas = row_areas_m2(dataset, block.row0, block.height)[:, None]
    n = int(block.ids.max()) + 1
    mapped = (values == RICE) | (values == OTHER)
    weights = np.broadcast_to(areas, values.shape)
    rice_m2 = np.bincount(zone.ravel(), (weights * (values == RICE)).ravel(), n)
    mapped_m2 = np.bincount(zone.ravel(), (weights * mapped).ravel(), n)
    return block.ids, rice_m2[block.ids], mapped_m2[block.ids]


class Zones:
    """The zone layer: attributes, original geometries (for the output) and geometries in the map's CRS."""

    def __init__(self, path: str, grid: Any) -> None:
        import pyogrio.raw
        import shapely

        try:
            self.meta, _, self.wkb, self.values = pyogrio.raw.read(path)
        except Exception as exc:
            raise UserError(f"{{param:zones}} {path}: cannot be read as a vector layer ({exc}); give a GeoPackage or "
                            "shapefile of polygons", param="zones") from exc
        self.names = list(self.meta["fields"])
        clashes = [f for f in (AREA_FIELD, SHARE_FIELD, MAPPED_FIELD) if f in self.names]
        if clashes:
            raise UserError(f"{{param:zones}} {path} already has field(s) {', '.join(clashes)}; rename or delete them",
                            param="zones")
        geometries = shapely.from_wkb(self.wkb)
        polygonal = np.isin(shapely.get_type_id(geometries), (3, 6)) & ~shapely.is_empty(geometries)
        if not len(geometries) or not polygonal.any():
            raise UserError(f"{{param:zones}} {path} holds no polygon; give a layer of administrative units",
                            param="zones")
        self.in_grid = VectorReference.to_grid_crs(path, self.meta.get("crs"), geometries, grid)
        self.tree = shapely.STRtree(self.in_grid)

    def __len__(self) -> int:
        return len(self.in_grid)

    def touching(self, bounds: tuple[float, float, float, float]) -> np.ndarray:
        import shapely

        return np.sort(self.tree.query(shapely.box(*bounds)))


def _blocks(rice: str, dataset: Any, zones: Zones, block_px: int) -> list[ZoneBlock]:
    import shapely
    from rasterio.windows import Window, bounds

    blocks = []
    for row0 in range(0, dataset.height, block_px):
        for col0 in range(0, dataset.width, block_px):
            h, w = min(block_px, dataset.height - row0), min(block_px, dataset.width - col0)
            hits = zones.touching(bounds(Window(col0, row0, w, h), dataset.transform))
            if len(hits):
                blocks.append(ZoneBlock(rice, row0, col0, h, w, hits + 1,
                                        list(shapely.to_wkb(zones.in_grid[hits]))))
    return blocks


def open_inputs(rice: str, zones_path: str) -> tuple[Any, Zones]:
    """The open rice map (a rasterio dataset, to close) and the zones in its CRS.

    Raises:
        UserError: either cannot be read, naming it.
    """
    import rasterio

    try:
        dataset = rasterio.open(rice)
    except rasterio.errors.RasterioIOError as exc:
        raise UserError(f"{{param:rice}} {rice}: cannot open it ({exc}); give rice.tif from `map`",
                        param="rice") from None
    if dataset.count != 1 or dataset.dtypes[0] != "uint8":  # a float raster would be summed as nonsense
        dataset.close()
        raise UserError(f"{{param:rice}} {rice} must be a one-band uint8 rice map (1 rice, 0 other, 255 nodata) "
                        "such as the rice.tif written by `map`", param="rice")
    try:
        return dataset, Zones(zones_path, dataset)
    except BaseException:
        dataset.close()
        raise


def zonal_rice(rice: str, zones_path: str, out_dir: str, overwrite: bool = False, client: Any = None,
               block_px: int = DEFAULT_BLOCK_PX, reporter: Reporter | None = None) -> dict:
    """Write ``zones_rice.gpkg`` and ``zones_rice.csv``: each zone with rice_ha, rice_pct and mapped_ha.

    Args:
        rice: rice.tif (1 rice, 0 other, 255 no data).
        zones_path: polygon layer, any CRS.
        out_dir: output folder.
        overwrite: replace earlier outputs.
        client: a ``distributed.Client`` to run the blocks on, or None to run them here.
        block_px: block side in pixels.
        reporter: one step per block.

    Returns:
        Totals and output paths.
    """
    reporter = reporter or Reporter("none")
    dataset, zones = open_inputs(rice, zones_path)
    with dataset:
        blocks = _blocks(str(rice), dataset, zones, block_px)
    rice_m2, mapped_m2 = np.zeros(len(zones) + 1), np.zeros(len(zones) + 1)
    reporter.stage("zones", len(blocks), f"{len(zones)} zones over {len(blocks)} blocks")
    results = client.map(block_sums, blocks, pure=False) if client is not None else map(block_sums, blocks)
    for result in (_as_completed(results) if client is not None else results):
        ids, rice_part, mapped_part = result
        rice_m2[ids] += rice_part
        mapped_m2[ids] += mapped_part
        reporter.advance(1)
    return _write(zones, rice_m2[1:], mapped_m2[1:], out_dir, overwrite)


def _as_completed(futures: list) -> Any:
    from distributed import as_completed

    for future in as_completed(futures):
        yield future.result()
        future.release()


def _write(zones: Zones, rice_m2: np.ndarray, mapped_m2: np.ndarray, out_dir: str, overwrite: bool) -> dict:
    import pyogrio.raw

    rice_ha, mapped_ha = rice_m2 / 1e4, mapped_m2 / 1e4
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(mapped_m2 > 0, 100 * rice_m2 / mapped_m2, np.nan)
    names = zones.names + [AREA_FIELD, SHARE_FIELD, MAPPED_FIELD]
    with AtomicOutputs(out_dir, overwrite) as outputs:
        gpkg, table = outputs.path(OUTPUT_NAMES[0]), outputs.path(OUTPUT_NAMES[1])
        pyogrio.raw.write(gpkg, zones.wkb, list(zones.values) + [rice_ha, share, mapped_ha], names,
                          driver="GPKG", geometry_type=zones.meta.get("geometry_type"), crs=zones.meta.get("crs"),
                          layer="zones_rice")
        with Path(table).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            for row in zip(*zones.values, np.round(rice_ha, 4), np.round(share, 3), np.round(mapped_ha, 4)):
                writer.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in row])
        outputs.commit()
    return {"zones": len(zones), "rice_ha": round(float(rice_ha.sum()), 4),
            "mapped_ha": round(float(mapped_ha.sum()), 4),
            "outputs": {name: str(Path(out_dir) / name) for name in OUTPUT_NAMES}}
