"""Training labels from the user (polygons, points or a label raster) on a scene's pixel grid.

Every labelled feature becomes a :class:`LabelFeature` in the scene's CRS with its class and a *group*:
the unit the validation split keeps whole. A polygon is its own group (a field is never cut between
training and validation). Points and label-raster pixels are grouped by square spatial blocks, because
neighbouring points are near-duplicates of each other and would make validation look better than it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from backend.errors import UserError
from backend.evaluation.reference import (
    DEFAULT_RICE_VALUES,
    VECTOR_SUFFIXES,
    RasterReference,
    VectorReference,
    check_geometries,
    is_rice,
)

POLYGON_TYPES = ("Polygon", "MultiPolygon")
POINT_TYPES = ("Point", "MultiPoint")


@dataclass
class LabelFeature:
    """One labelled polygon, point or raster patch, in the scene CRS."""

    geometry: Any  # shapely geometry
    rice: bool
    group: int
    source_id: int  # position in the labels file (for messages)
    kind: str  # polygon | point | raster


@dataclass
class LabelSet:
    """The usable labels of one file on one scene grid, and what was left out."""

    path: str
    features: list[LabelFeature]
    class_field: str | None = None
    outside: int = 0
    unclassified: int = 0
    notes: list[str] = field(default_factory=list)
    values_found: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        kinds = sorted({f.kind for f in self.features})
        return {"file": self.path, "class_field": self.class_field, "kinds": kinds,
                "rice_features": sum(f.rice for f in self.features),
                "other_features": sum(not f.rice for f in self.features),
                "groups": len({f.group for f in self.features}),
                "outside_scene": self.outside, "unclassified": self.unclassified}


def read_labels(path: str, grid: Any, class_field: str | None, rice_values: Sequence[str] | None,
                block_px: int, log: Callable[[str], None] = print) -> LabelSet:
    """Labels of ``path`` (vector layer or label raster) reprojected onto ``grid``.

    ``block_px`` is the side of the spatial blocks that group points and raster labels.
    """
    if not Path(path).exists():
        raise UserError(f"{{param:labels}} {path} does not exist; give a polygon/point layer (.gpkg, .shp) or a "
                        "label raster (.tif)", param="labels")
    rice_values = [str(v) for v in (rice_values or DEFAULT_RICE_VALUES)]
    if Path(path).suffix.lower() in VECTOR_SUFFIXES:
        labels = _read_vector(path, grid, class_field, rice_values, block_px)
    else:
        labels = _read_raster(path, grid, rice_values, block_px)
    for note in labels.notes:
        log(note)
    return labels


# --- vector layers -----------------------------------------------------------------------------------
def _read_vector(path: str, grid: Any, class_field: str | None, rice_values: list[str],
                 block_px: int) -> LabelSet:
    import pyogrio.raw
    import shapely

    try:
        meta, _, wkb, columns = pyogrio.raw.read(path)
    except Exception as exc:  # pyogrio raises several driver-specific types
        raise UserError(f"{{param:labels}} {path}: cannot be read as a vector layer ({exc}); export it as "
                        "GeoPackage or shapefile", param="labels") from exc
    names = list(meta["fields"])
    chosen = VectorReference.class_field_of(path, names, class_field)
    values = np.asarray(columns[names.index(chosen)], dtype=object)
    geometries = shapely.from_wkb(wkb)
    present = ~shapely.is_missing(geometries) & ~shapely.is_empty(geometries)
    if not present.any():
        raise UserError(f"{{param:labels}} {path} holds no geometry; digitize rice and non-rice polygons or points",
                        param="labels")
    check_geometries("labels", path, geometries, present)
    classified = present & np.array([not _is_null(v) for v in values])
    notes = []
    if not meta.get("crs"):
        notes.append(f"{{param:labels}} {path} has no CRS; assuming the raster's ({grid.crs_label()})")
    in_grid = VectorReference.to_grid_crs(path, meta.get("crs"), geometries[classified], grid)
    rice = is_rice(values[classified], rice_values)
    source_ids = np.flatnonzero(classified)
    inside = shapely.intersects(in_grid, scene_box(grid))
    if not inside.any():
        raise UserError(_outside_message(path, in_grid, grid))
    features = _vector_features(in_grid[inside], rice[inside], source_ids[inside], grid, block_px)
    labels = LabelSet(path, features, chosen, outside=int((~inside).sum()),
                      unclassified=int(present.sum() - classified.sum()), notes=notes)
    if labels.outside:
        notes.append(f"{{param:labels}} {path}: {labels.outside} feature(s) lie outside the rasters and are ignored")
    if labels.unclassified:
        notes.append(f"{{param:labels}} {path}: {labels.unclassified} feature(s) have no value in field {chosen!r} "
                     "and are ignored")
    labels.values_found = sorted({str(v) for v in values[classified]})
    return labels


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def scene_box(grid: Any) -> Any:
    import shapely

    left, bottom, right, top = grid.info()["bounds"]
    return shapely.box(left, bottom, right, top)


def _outside_message(path: str, geometries: np.ndarray, grid: Any) -> str:
    import shapely

    left, bottom, right, top = shapely.total_bounds(geometries)
    box = grid.info()["bounds"]
    return (f"{{param:labels}} {path}: no label lies on the rasters (labels span {left:.0f}, {bottom:.0f}, {right:.0f}, "
            f"{top:.0f}; the rasters {box[0]:.0f}, {box[1]:.0f}, {box[2]:.0f}, {box[3]:.0f} in "
            f"{grid.crs_label()}); check that the labels belong to this scene and carry the right CRS")


def _vector_features(geometries: np.ndarray, rice: np.ndarray, source_ids: np.ndarray, grid: Any,
                     block_px: int) -> list[LabelFeature]:
    import shapely

    features = []
    for geom, rice_flag, source_id in zip(geometries, rice, source_ids):
        if geom.geom_type in POINT_TYPES:
            for point in shapely.get_parts(geom):
                features.append(LabelFeature(point, bool(rice_flag), block_group(point.x, point.y, grid, block_px),
                                             int(source_id), "point"))
        else:
            features.append(LabelFeature(geom, bool(rice_flag), -1 - int(source_id), int(source_id), "polygon"))
    return features


def block_group(x: float, y: float, grid: Any, block_px: int) -> int:
    """Non-negative id of the ``block_px`` square block holding map coordinate ``(x, y)``."""
    col, row = ~grid.transform @ (x, y)
    blocks_per_row = grid.width // block_px + 2
    return int(max(row, 0) // block_px) * blocks_per_row + int(max(col, 0) // block_px)


def check_both_classes(label_sets: Sequence[LabelSet], rice_values: Sequence[str] | None) -> None:
    """UserError unless the labels (of all scenes together) hold rice and non-rice features."""
    features = [f for labels in label_sets for f in labels.features]
    n_rice = sum(f.rice for f in features)
    if 0 < n_rice < len(features):
        return
    files = ", ".join(labels.path for labels in label_sets)
    fields = ", ".join(sorted({str(labels.class_field) for labels in label_sets if labels.class_field}))
    distinct = sorted({v for labels in label_sets for v in labels.values_found})
    found = f"; values found: {', '.join(distinct[:10])}{' ...' if len(distinct) > 10 else ''}" if distinct else ""
    missing = "non-rice" if n_rice else "rice"
    raise UserError(f"{{param:labels}} {files}: every label on the rasters is {'rice' if n_rice else 'non-rice'} "
                    f"(class field {fields or 'raster value'}, rice values "
                    f"{', '.join(rice_values or DEFAULT_RICE_VALUES)}{found}); add {missing} examples, or fix "
                    "{param:class_field} / {param:rice_values}", param="labels")


# --- label rasters --------------------------------------------------------------------------------------
def _read_raster(path: str, grid: Any, rice_values: list[str], block_px: int) -> LabelSet:
    import rasterio


    try:
        with rasterio.open(path):
            pass
    except rasterio.errors.RasterioIOError as exc:
        raise UserError(f"{{param:labels}} {path}: cannot be opened as a raster or vector file ({exc}); give a "
                        "polygon/point layer (.gpkg, .shp) with a class field, or a label raster (GeoTIFF: "
                        "1 rice, other values non-rice, nodata unlabelled)", param="labels") from exc
    reference = RasterReference(path, grid, rice_values, param="labels")
    try:
        features = _raster_features(reference, grid, block_px)
    finally:
        reference.close()
    if not features:
        raise UserError(f"{{param:labels}} {path}: no labelled pixel lies on the rasters; check that the label raster "
                        "covers this scene and has a nodata value for unlabelled pixels", param="labels")
    return LabelSet(path, features, None)


def _raster_features(reference: Any, grid: Any, block_px: int) -> list[LabelFeature]:
    """One feature per class region inside each spatial block (polygonized, so patches rasterize them)."""
    import shapely.geometry
    from rasterio.features import shapes
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    features = []
    for row in range(0, grid.height, block_px):
        for col in range(0, grid.width, block_px):
            window = Window(col, row, min(block_px, grid.width - col), min(block_px, grid.height - row))
            labels = reference.read(window)
            if not (labels != 255).any():
                continue
            x, y = grid.transform @ (col + window.width / 2, row + window.height / 2)
            group = block_group(x, y, grid, block_px)
            for geom, value in shapes(labels, mask=labels != 255, transform=window_transform(window, grid.transform)):
                features.append(LabelFeature(shapely.geometry.shape(geom), int(value) == 1, group, len(features),
                                             "raster"))
    return features
