"""Field geometry: blocks between canals and roads, split into parcels, plus rivers and patches.

Everything is built in pixel coordinates (x right, y down, 1 unit = 1 pixel) in a frame rotated by
the scene's canal direction, clipped to the scene and rasterized into an object-id map. Rivers and
patches (forest, villages, ponds) are placed first and cut out of the parcels, so every pixel belongs
to exactly one object and the polygons agree with the rasterized truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from backend.synthetic import landcover as lc
from backend.synthetic.regions import Layout

MIN_OBJECT_AREA_PX = 1.0


@dataclass
class SceneObject:
    """One polygon of the scene (pixel coordinates) with its land cover and the block it belongs to."""

    polygon: Polygon
    code: int
    block: int  # parcels of a block share dominant class and calendar; -1 for lines/patches
    kind: str  # "parcel", "canal", "road", "bank", "river", "patch"


class _Frame:
    """Maps the rotated (u along canals, v across) frame to pixel coordinates."""

    def __init__(self, size: int, angle_deg: float) -> None:
        self.centre = size / 2.0
        a = np.deg2rad(angle_deg)
        self.cos, self.sin = float(np.cos(a)), float(np.sin(a))
        self.half = size * 0.75 + 2  # covers the rotated square
        self.scene = box(0, 0, size, size)

    def rect(self, u0: float, u1: float, v0: float, v1: float) -> Polygon:
        corners = [(u0, v0), (u1, v0), (u1, v1), (u0, v1)]
        pts = [(self.centre + u * self.cos - v * self.sin, self.centre + u * self.sin + v * self.cos)
               for u, v in corners]
        return Polygon(pts)


def _draw(rng: np.random.Generator, bounds: tuple[float, float], pixel: float) -> float:
    return float(rng.uniform(*bounds)) / pixel


def _pick(rng: np.random.Generator, shares: dict[int, float]) -> int:
    codes = list(shares)
    p = np.asarray([shares[c] for c in codes], dtype=np.float64)
    return int(codes[rng.choice(len(codes), p=p / p.sum())])


def _cuts(rng: np.random.Generator, start: float, stop: float, step: tuple[float, float],
          pixel: float) -> list[float]:
    cuts, pos = [start], start
    while pos < stop:
        pos += _draw(rng, step, pixel)
        cuts.append(pos)
    return cuts


def _blob(rng: np.random.Generator, cx: float, cy: float, radius: float) -> Polygon:
    """A star-shaped irregular patch (forest stand, village, pond)."""
    n = 16
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.6, 1.3, n)
    return Polygon(np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])).buffer(0)


def _reserved_areas(rng: np.random.Generator, layout: Layout, frame: _Frame, size: int,
                    pixel: float) -> list[SceneObject]:
    objects = []
    if rng.random() < layout.river_prob:
        width = _draw(rng, layout.river_width, pixel)
        v = rng.uniform(-size / 3, size / 3)
        objects.append(SceneObject(frame.rect(-frame.half, frame.half, v, v + width), lc.WATER_OPEN, -1, "river"))
    area_km2 = (size * pixel / 1000.0) ** 2
    for code, rate in layout.patches_per_km2.items():
        for _ in range(rng.poisson(rate * area_km2)):
            cx, cy = rng.uniform(0, size, 2)
            objects.append(SceneObject(_blob(rng, cx, cy, _draw(rng, layout.patch_radius, pixel)),
                                       code, -1, "patch"))
    return objects


def _block_parcels(rng: np.random.Generator, layout: Layout, frame: _Frame, shares: dict[int, float],
                   u0: float, u1: float, v0: float, v1: float, block: int,
                   pixel: float) -> list[SceneObject]:
    objects = []
    if layout.bank_classes and rng.random() < layout.bank_prob:
        depth = min(_draw(rng, layout.bank_depth, pixel), (v1 - v0) / 2)
        objects.append(SceneObject(frame.rect(u0, u1, v0, v0 + depth), _pick(rng, layout.bank_classes),
                                   -1, "bank"))
        v0 += depth
    dominant = _pick(rng, shares)
    cuts = _cuts(rng, u0, u1, layout.field_width, pixel)
    for a, b in zip(cuts[:-1], cuts[1:]):
        b = min(b, u1)
        if b - a < 0.5:
            continue
        code = dominant if rng.random() < layout.block_coherence else _pick(rng, shares)
        objects.append(SceneObject(frame.rect(a, b, v0, v1), code, block, "parcel"))
    return objects


def build_layout(rng: np.random.Generator, layout: Layout, shares: dict[int, float], size: int,
                 pixel: float) -> list[SceneObject]:
    """All objects of a scene, clipped to the scene and to each other (reserved areas win)."""
    frame = _Frame(size, rng.uniform(*layout.rotation_deg))
    reserved = _reserved_areas(rng, layout, frame, size, pixel)
    lines, parcels = [], []
    v_cuts = _cuts(rng, -frame.half, frame.half, layout.block_depth, pixel)
    canal = rng.random(len(v_cuts)) < layout.canal_fraction
    widths = [_draw(rng, layout.canal_width if c else layout.road_width, pixel) for c in canal]
    for v, w, c in zip(v_cuts, widths, canal):
        lines.append(SceneObject(frame.rect(-frame.half, frame.half, v - w / 2, v + w / 2),
                                 lc.WATER_CALM if c else lc.ROAD, -1, "canal" if c else "road"))
    block = 0
    for i in range(len(v_cuts) - 1):
        v0, v1 = v_cuts[i] + widths[i] / 2, v_cuts[i + 1] - widths[i + 1] / 2
        u_cuts = _cuts(rng, -frame.half, frame.half, layout.cross_spacing, pixel)
        roads = [_draw(rng, layout.road_width, pixel) for _ in u_cuts]
        for u, r in zip(u_cuts, roads):
            lines.append(SceneObject(frame.rect(u - r / 2, u + r / 2, v0, v1), lc.ROAD, -1, "road"))
        for j in range(len(u_cuts) - 1):
            parcels += _block_parcels(rng, layout, frame, shares, u_cuts[j] + roads[j] / 2,
                                      u_cuts[j + 1] - roads[j + 1] / 2, v0, v1, block, pixel)
            block += 1
    return _clip_all(reserved, lines + parcels, frame.scene)


def _clip_all(reserved: list[SceneObject], others: list[SceneObject], scene: Polygon) -> list[SceneObject]:
    """Clip to the scene; reserved objects are made disjoint (later wins) and cut out of the others."""
    for i, obj in enumerate(reserved):
        obj.polygon = obj.polygon.intersection(scene)
        later = [o.polygon for o in reserved[i + 1:]]
        if later:
            obj.polygon = obj.polygon.difference(shapely.union_all(later))
    taken = shapely.union_all([o.polygon for o in reserved]) if reserved else Polygon()
    for obj in others:
        obj.polygon = obj.polygon.intersection(scene)
        if not obj.polygon.is_empty and not taken.is_empty and obj.polygon.intersects(taken):
            obj.polygon = obj.polygon.difference(taken)
    return [o for o in reserved + others if o.polygon.area >= MIN_OBJECT_AREA_PX]


def rasterize_objects(objects: list[SceneObject], size: int) -> np.ndarray:
    """(H, W) int32 map of object index (-1 where no object covers a pixel centre)."""
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    shapes = ((o.polygon, i) for i, o in enumerate(objects))
    return rasterize(shapes, out_shape=(size, size), transform=Affine.identity(), fill=-1,
                     dtype="int32")
