"""Reference labels on the prediction's grid, window by window: 1 rice, 0 other, 255 unlabelled.

A raster reference is read directly when it shares the prediction's grid, else resampled onto it with
nearest neighbour (labels must not be averaged). A vector reference is reprojected to the prediction's
CRS and rasterized (``rasterio.features.rasterize``) strip by strip; pixels outside every polygon are
unlabelled, so they are excluded from the metrics rather than counted as "other".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from backend.errors import UserError

RICE, OTHER, UNLABELLED = 1, 0, 255
VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".kml", ".gml", ".sqlite"}
CLASS_FIELD_GUESSES = ("class", "label", "rice", "is_rice", "landcover", "lc")
DEFAULT_RICE_VALUES = ("1", "rice")
_BURN_OTHER, _BURN_RICE = 1, 2  # rasterize fills 0 outside every polygon
MAX_REASONS = 3
_WHAT_TO_GIVE = ("label raster (GeoTIFF: 1 rice, other values non-rice, nodata unlabelled) or a vector layer "
                 "(.gpkg, .shp) with a class field")


def is_rice(values: np.ndarray, rice_values: Sequence[str]) -> np.ndarray:
    """True where a label equals one of ``rice_values`` (numbers compared as numbers, text case-blind)."""
    wanted = {str(v).strip().lower() for v in rice_values}
    if np.issubdtype(values.dtype, np.number):
        numbers = []
        for v in wanted:
            try:
                numbers.append(float(v))
            except ValueError:
                pass
        return np.isin(values.astype(float), numbers)
    as_text = np.array([str(v).strip().lower() for v in values.ravel()], dtype=object)
    return np.isin(as_text, list(wanted)).reshape(values.shape)


class RasterReference:
    """A label raster, read on the prediction grid."""

    def __init__(self, path: str, grid: Any, rice_values: Sequence[str], param: str = "reference") -> None:
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        try:
            self.dataset = rasterio.open(path)
        except rasterio.errors.RasterioIOError as exc:
            raise UserError(f"{{param:{param}}} {path}: cannot be opened as a raster or vector file ({exc}); give a "
                            f"{_WHAT_TO_GIVE}", param=param) from exc
        if self.dataset.crs is None and grid.crs is not None:
            self.dataset.close()
            raise UserError(f"{{param:{param}}} {path} has no CRS; assign the prediction's CRS to it first",
                            param=param)
        try:
            check_overlap(param, path, _dataset_bounds(self.dataset), self.dataset.crs, grid)
        except UserError:
            self.dataset.close()
            raise
        same = (self.dataset.crs == grid.crs and self.dataset.transform == grid.transform
                and (self.dataset.width, self.dataset.height) == (grid.width, grid.height))
        # outside the reference's extent is unlabelled, not "other": warp with a validity band
        self.source = self.dataset if same else WarpedVRT(
            self.dataset, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height,
            resampling=Resampling.nearest, add_alpha=self.dataset.nodata is None)
        self.rice_values = list(rice_values)
        self.resampled = not same

    def read(self, window: Any) -> np.ndarray:
        data = self.source.read(1, window=window, masked=True)
        labels = np.where(is_rice(np.ma.getdata(data), self.rice_values), RICE, OTHER).astype(np.uint8)
        labels[np.ma.getmaskarray(data)] = UNLABELLED
        if self.source.count > self.dataset.count:  # the alpha band added by the warp
            labels[self.source.read(self.source.count, window=window) == 0] = UNLABELLED
        return labels

    def close(self) -> None:
        if self.source is not self.dataset:
            self.source.close()
        self.dataset.close()


class VectorReference:
    """Polygons with a class field, rasterized on the prediction grid."""

    def __init__(self, path: str, grid: Any, class_field: str | None, rice_values: Sequence[str]) -> None:
        import pyogrio.raw
        import shapely

        try:
            meta, _, wkb, fields = pyogrio.raw.read(path)
        except Exception as exc:
            raise UserError(f"{{param:reference}} {path}: cannot be read as a vector layer ({exc}); give a "
                            f"{_WHAT_TO_GIVE}", param="reference") from exc
        names = list(meta["fields"])
        field = self.class_field_of(path, names, class_field)
        geometries = shapely.from_wkb(wkb)
        keep = ~shapely.is_missing(geometries) & ~shapely.is_empty(geometries)
        if not keep.any():
            raise UserError(f"{{param:reference}} {path} holds no geometry; give a layer with labelled polygons",
                            param="reference")
        check_geometries("reference", path, geometries, keep)
        rice = is_rice(np.asarray(fields[names.index(field)], dtype=object), rice_values)
        geometries = self.to_grid_crs(path, meta.get("crs"), geometries[keep], grid)
        check_overlap("reference", path, tuple(shapely.total_bounds(geometries)), grid.crs, grid)
        self.grid, self.field = grid, field
        self.shapes = list(zip(geometries, np.where(rice[keep], _BURN_RICE, _BURN_OTHER).tolist()))
        self.resampled = False

    @staticmethod
    def class_field_of(path: str, names: list[str], class_field: str | None) -> str:
        if class_field:
            if class_field not in names:
                raise UserError(f"{{param:class_field}} {class_field} is not a field of {path}; "
                                f"its fields are: {', '.join(names) or 'none'}", param="class_field")
            return class_field
        by_name = {n.lower(): n for n in names}
        for guess in CLASS_FIELD_GUESSES:  # in order of preference
            if guess in by_name:
                return by_name[guess]
        raise UserError(f"{path}: say which field holds the class with {{param:class_field}} "
                        f"(fields: {', '.join(names) or 'none'}) and the rice value(s) with {{param:rice_values}}", param="class_field")

    @staticmethod
    def to_grid_crs(path: str, crs_text: str | None, geometries: np.ndarray, grid: Any) -> np.ndarray:
        import shapely
        from rasterio.crs import CRS
        from rasterio.warp import transform as warp_points

        if not crs_text or grid.crs is None:
            return geometries
        source = CRS.from_user_input(crs_text)
        if source == grid.crs:
            return geometries

        def reproject(xy: np.ndarray) -> np.ndarray:
            xs, ys = warp_points(source, grid.crs, xy[:, 0], xy[:, 1])
            return np.column_stack([xs, ys])

        try:
            return shapely.transform(geometries, reproject)
        except Exception as exc:  # PROJ's errors come as rasterio's CPLE_* types: metres in a layer said in degrees
            raise UserError(f"{path}: its coordinates cannot be transformed from {source} to the raster's "
                            f"{grid.crs} ({exc}); the layer's CRS is probably wrong: set the right one (QGIS: "
                            "Layer Properties > Source) and save the layer again") from exc

    def read(self, window: Any) -> np.ndarray:
        from rasterio.features import rasterize
        from rasterio.windows import transform as window_transform

        burned = rasterize(self.shapes, out_shape=(int(window.height), int(window.width)),
                           transform=window_transform(window, self.grid.transform), fill=0, dtype="uint8")
        return np.select([burned == _BURN_RICE, burned == _BURN_OTHER], [RICE, OTHER], UNLABELLED).astype(np.uint8)

    def close(self) -> None:
        pass


def check_geometries(param: str, path: str, geometries: np.ndarray, present: np.ndarray) -> None:
    """The geometry rules every label or reference layer follows (``evaluate`` and ``finetune`` alike).

    Lines cannot label pixels, and an invalid (e.g. self-intersecting) polygon rasterizes differently
    from what was drawn, so both are refused rather than silently burnt.

    Args:
        param: The contract key of the option that named the file (``labels``, ``reference``).
        path: The vector file.
        geometries: Its shapely geometries.
        present: Which of them are neither missing nor empty.

    Raises:
        UserError: A line feature or an invalid geometry, naming the features and how to repair them.
    """
    import shapely

    kinds = shapely.get_type_id(geometries[present])
    if np.isin(kinds, [1, 2, 5]).any():  # LineString, LinearRing, MultiLineString
        raise UserError(f"{{param:{param}}} {path} holds line features; lines cannot label pixels: digitize "
                        "polygons (fields) or points instead", param=param)
    invalid = np.flatnonzero(present & ~shapely.is_valid(geometries))
    if len(invalid):
        reasons = "; ".join(f"feature {i}: {shapely.is_valid_reason(geometries[i])}" for i in invalid[:MAX_REASONS])
        raise UserError(f"{{param:{param}}} {path} has {len(invalid)} invalid "
                        f"geometr{'y' if len(invalid) == 1 else 'ies'} ({reasons}); repair them (QGIS: Processing > "
                        "Fix geometries) and try again", param=param)


def _dataset_bounds(dataset: Any) -> tuple[float, float, float, float]:
    left, bottom, right, top = dataset.bounds
    return min(left, right), min(bottom, top), max(left, right), max(bottom, top)


def check_overlap(param: str, path: str, bounds: tuple[float, ...], crs: Any, grid: Any) -> None:
    """Refuse a reference that does not overlap the prediction at all (it would score nothing).

    Args:
        param: The contract key of the option that named the file.
        path: The reference file.
        bounds: Its (left, bottom, right, top) in ``crs``.
        crs: The CRS of ``bounds`` (None: the grid's).
        grid: The prediction grid.

    Raises:
        UserError: The extents do not intersect.
    """
    from rasterio.warp import transform_bounds

    if crs is not None and grid.crs is not None and crs != grid.crs:
        try:
            bounds = transform_bounds(crs, grid.crs, *bounds)
        except Exception:  # noqa: BLE001 - unprojectable extent: leave it to the pixel count
            return
    left, bottom, right, top = grid.info()["bounds"]
    if bounds[0] < right and bounds[2] > left and bounds[1] < top and bounds[3] > bottom:
        return
    shown = ", ".join(f"{v:.0f}" for v in bounds)
    raise UserError(f"{{param:{param}}} {path} does not overlap the map: it spans {shown} but the map spans "
                    f"{left:.0f}, {bottom:.0f}, {right:.0f}, {top:.0f} ({grid.crs_label()}); give the reference of "
                    "this area, and check both CRSs", param=param)


def open_reference(path: str, grid: Any, class_field: str | None = None,
                   rice_values: Sequence[str] | None = None) -> RasterReference | VectorReference:
    """A reader of reference labels for ``path`` (raster or vector) on ``grid``."""
    if not Path(path).exists():
        raise UserError(f"{{param:reference}} {path} does not exist; give a truth raster or a labelled vector file", param="reference")
    rice_values = list(rice_values or DEFAULT_RICE_VALUES)
    if Path(path).suffix.lower() in VECTOR_SUFFIXES:
        return VectorReference(path, grid, class_field, rice_values)
    return RasterReference(path, grid, rice_values)
