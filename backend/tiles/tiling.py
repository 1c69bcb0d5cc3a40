"""All tiling arithmetic of whole-scene inference, in one place.

A scene of ``height x width`` pixels is covered by square tiles of ``tile`` pixels that overlap by at
least ``overlap`` pixels. The grid starts ``overlap // 2`` pixels *outside* the scene (a halo filled by
reflect padding), so scene-edge pixels sit inside a tile rather than on its border, where a network with
zero padding is least reliable. Probabilities (never labels) of overlapping tiles are averaged with a
smooth pyramid window that is never zero, then thresholded once, which removes seams
(Huang et al. 2018, "Tiling and stitching segmentation output for remote sensing").

The :class:`StripBlender` keeps only one strip of ``tile`` rows of accumulators in memory: finished rows
are popped as soon as no later tile can touch them, so memory does not grow with the scene height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from backend.contract.verbs.map import MAX_TILE
from backend.errors import UserError

WEIGHT_FLOOR = 1e-4
#: ONNX Runtime's peak activation memory per model pixel of the default model (13 dates, two 8-channel
#: encoders) with the memory pattern off, measured at 256² and 384² tiles (docs/mapping.md, "Tile policy");
#: 5230 and 5085 B since the packed first level (session 12), 4320 and 4240 B for the graph before.
ACTIVATION_BYTES_PER_PIXEL = 5300
#: The same with ONNX Runtime's memory pattern on (the setting before issue 15): the budget below is what a
#: 256² tile cost then, so the policy never needs more memory than the previous default did.
PATTERN_BYTES_PER_PIXEL = 7400
BASE_TILE = 256
#: Strip buffers per scene-width pixel and tile row: the composited input (13 dates x 2 polarizations float32)
#: and the blender's float64 sums and weights.
STRIP_BYTES_PER_PIXEL = 13 * 2 * 4 + 3 * 8
#: Extra model time per pixel of tiles above 256²: ONNX Runtime's CPU time per pixel of the default model
#: was 3.93 us at 256², 4.34 us at 288² and 4.24 us at 384² (one thread, best of 3, docs/mapping.md).
LARGER_TILE_COST = 0.10
#: A tile grows by at most this fraction of the requested one: enough for 256 -> 288 at overlap 32 and
#: 256 -> 272 at the default 16 (16 instead of 25 tiles on a 1024² scene), and small requested tiles (tests,
#: thin memory) stay about what was asked.
TILE_GROWTH = 0.125


def snap_up(n: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``n`` (and >= ``multiple``)."""
    return max(multiple, math.ceil(n / multiple) * multiple)


def check_tile(tile: int, overlap: int, multiple: int) -> None:
    """Refuse a tile/overlap the model cannot take, naming sizes that work."""
    if tile < multiple or tile > MAX_TILE or tile % multiple:
        largest = MAX_TILE // multiple * multiple
        lower = min(largest, max(multiple, tile // multiple * multiple))
        examples = sorted({lower, min(largest, snap_up(tile, multiple)), 128 if 128 % multiple == 0 else lower,
                           256 if 256 % multiple == 0 else lower})
        raise UserError(f"{{param:tile}} {tile}: this model takes square tiles that are multiples of {multiple} "
                        f"pixels, from {multiple} to {largest} (for example {', '.join(map(str, examples))}); "
                        "choose one of those", param="tile")
    if overlap < 0 or overlap > tile // 2:
        raise UserError(f"{{param:overlap}} {overlap}: must be between 0 and half the tile ({tile // 2} for "
                        f"{{param:tile}} {tile})", param="overlap")


def model_pixels(height: int, width: int, tile: int, overlap: int) -> int:
    """Pixels the model sees when ``tile``² tiles with ``overlap`` (and the halo) cover the scene."""
    return len(axis_origins(height, tile, overlap)) * len(axis_origins(width, tile, overlap)) * tile * tile


def tile_memory_bytes(tile: int, width: int, per_pixel: int = ACTIVATION_BYTES_PER_PIXEL) -> int:
    """Estimated memory that grows with the tile: the model's activations plus one strip of ``tile`` rows."""
    return per_pixel * tile * tile + STRIP_BYTES_PER_PIXEL * tile * width


def memory_cap_tile(width: int, multiple: int) -> int:
    """Largest tile (a multiple of ``multiple``) whose memory stays within what a 256² tile needed before.

    The budget is :func:`tile_memory_bytes` of a :data:`BASE_TILE` tile at the memory-pattern cost, so a
    larger tile is only taken where switching the memory pattern off paid for it; on a 10 240 px wide scene
    this allows 304², on a 1024² one 320².
    """
    budget = tile_memory_bytes(BASE_TILE, width, PATTERN_BYTES_PER_PIXEL)
    tile = multiple
    while tile + multiple <= MAX_TILE and tile_memory_bytes(tile + multiple, width) <= budget:
        tile += multiple
    return tile


def choose_tile(height: int, width: int, tile: int, overlap: int, multiple: int) -> int:
    """The tile for a scene: the least model time among tiles from ``tile`` to ``tile * (1 + TILE_GROWTH)``
    and the memory cap.

    Tiles, overlaps and the reflect-padded halo make the model see more pixels than the scene has (25 tiles
    of 256² = 1.64 M pixels for a 1024² scene, 16 of 288² = 1.33 M). The tile never shrinks below the one
    asked for; among equal pixel counts the smaller tile wins (less memory). A requested tile above the cap
    is kept as asked. A larger tile costs :data:`LARGER_TILE_COST` more per pixel, so it is taken only when
    it saves more than that share of the pixels: at overlap 32, 1024² (19 % fewer with 288²) and 512² (44 %)
    grow, 10 240² (4 %) does not; at the default overlap 16, 1024² and 512² take 272².

    Args:
        height, width: scene size in pixels.
        tile: the requested tile (already a valid size for the model).
        overlap: the overlap between tiles.
        multiple: the model's size multiple (every candidate is a multiple of it).

    Returns:
        The tile to use.
    """
    grown = int(tile * (1 + TILE_GROWTH)) // multiple * multiple
    cap = max(tile, min(grown, memory_cap_tile(width, multiple)))

    def cost(size: int) -> tuple[float, int]:
        pixels = model_pixels(height, width, size, overlap)
        return pixels * (1 + LARGER_TILE_COST if size > max(tile, BASE_TILE) else 1.0), size

    return min(range(tile, cap + 1, multiple), key=cost)


def axis_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Tile start positions along one axis, evenly spread so neighbours overlap by >= ``overlap``.

    The first tile starts ``overlap // 2`` before pixel 0 and the last ends ``overlap // 2`` after the
    last pixel (reflect-padded halo); a single tile is used when it covers the whole axis.
    """
    halo = overlap // 2
    first, last = -halo, length + halo - tile
    if last <= first:
        return [first]
    stride = tile - overlap
    steps = math.ceil((last - first) / stride)
    return [first + round(i * (last - first) / steps) for i in range(steps + 1)]


@dataclass(frozen=True)
class TileGrid:
    """Tiles of ``tile`` rows by ``tile_w`` columns (square unless the scene is thin) over a scene."""

    height: int
    width: int
    tile: int
    overlap: int
    tile_w: int | None = None  # None: square tiles of ``tile``

    @classmethod
    def for_scene(cls, height: int, width: int, tile: int, overlap: int, multiple: int) -> TileGrid:
        """Tiles for a scene: the requested square, shrunk to the scene plus halo where it is smaller.

        A thin scene (e.g. 3 x 10000 px) gets tiles as thin as the scene plus halo and correspondingly
        longer (up to :data:`MAX_TILE`), keeping about ``tile``² pixels per tile: the networks are fully
        convolutional (dynamic height and width), and square tiles would spend almost all their work on
        reflect padding (45 tiles of 256² for that strip, against 7 of 40 x 1632).
        """
        check_tile(tile, overlap, multiple)
        halo = 2 * (overlap // 2)
        rows = min(tile, snap_up(height + halo, multiple))
        cols = min(tile, snap_up(width + halo, multiple))
        if rows < tile and cols >= tile:
            cols = _longer_side(width + halo, rows, tile, multiple)
        elif cols < tile and rows >= tile:
            rows = _longer_side(height + halo, cols, tile, multiple)
        elif rows < tile and cols < tile:  # small scene: one square tile, as before
            rows = cols = max(rows, cols)
        return cls(height, width, rows, overlap, None if rows == cols else cols)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of every tile."""
        return self.tile, self.tile_w or self.tile

    @property
    def row_origins(self) -> list[int]:
        return axis_origins(self.height, self.shape[0], self.overlap)

    @property
    def col_origins(self) -> list[int]:
        return axis_origins(self.width, self.shape[1], self.overlap)

    @property
    def n_tiles(self) -> int:
        return len(self.row_origins) * len(self.col_origins)

    def tile_rows(self) -> Iterator[tuple[int, list[int]]]:
        """(row origin, column origins) for each row of tiles, top to bottom."""
        cols = self.col_origins
        for r0 in self.row_origins:
            yield r0, cols


def _longer_side(length: int, short: int, tile: int, multiple: int) -> int:
    """The long side of a thin tile: about ``tile``² / ``short`` pixels, a multiple, at most the need."""
    budget = max(tile, (tile * tile // short) // multiple * multiple)
    return min(snap_up(length, multiple), budget, MAX_TILE // multiple * multiple)


@dataclass(frozen=True)
class Window:
    """The part of a tile inside the scene, and the reflect padding that completes it to the tile."""

    row_off: int
    col_off: int
    height: int
    width: int
    pad: tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


def tile_window(r0: int, c0: int, tile: int | tuple[int, int], height: int, width: int) -> Window:
    """Clip tile ``(r0, c0)`` (side or (rows, columns)) to the scene and say how much padding it needs."""
    rows, cols = (tile, tile) if isinstance(tile, int) else tile
    top, left = max(r0, 0), max(c0, 0)
    bottom, right = min(r0 + rows, height), min(c0 + cols, width)
    pad = ((top - r0, r0 + rows - bottom), (left - c0, c0 + cols - right))
    return Window(top, left, bottom - top, right - left, pad)


def reflect_pad(array: np.ndarray, pad: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Reflect-pad the last two axes (repeating the reflection when the pad exceeds the array)."""
    if not any(pad[0] + pad[1]):
        return array
    widths = [(0, 0)] * (array.ndim - 2) + [pad[0], pad[1]]
    return np.pad(array, widths, mode="reflect")


def blend_window(tile: int | tuple[int, int], overlap: int) -> np.ndarray:
    """(rows, columns) float32 weights, the outer product of 1-D pyramids that are never zero.

    Along each axis, at distance ``d`` from the tile border: :data:`WEIGHT_FLOOR` for the outer quarter
    of the overlap (where zero padding corrupts a network's output most), then a linear ramp reaching 1 at
    ``d = overlap``. Any pixel in an overlap lies at least ``overlap / 2`` inside one of the two tiles, where
    the weight is >= 0.5, so the corrupted border of the other tile contributes at most ~2e-4 of the mix.
    Scene-edge pixels sit ``overlap // 2`` inside their tile (the halo), never at weight ``WEIGHT_FLOOR``.
    """
    rows, cols = (tile, tile) if isinstance(tile, int) else tile
    return np.outer(_pyramid(rows, overlap), _pyramid(cols, overlap)).astype(np.float32)


def _pyramid(length: int, overlap: int) -> np.ndarray:
    if overlap < 2:
        return np.ones(length)
    d = np.minimum(np.arange(length), length - 1 - np.arange(length)) + 0.5
    return np.clip((d - overlap / 4) / (overlap / 2), WEIGHT_FLOOR, 1.0)


class StripBlender:
    """Weighted sums of per-tile values for one strip of rows spanning the scene's width.

    ``add`` takes a tile's values ``(channels, tile, tile)``; ``pop_until(row)`` returns the blended
    rows above ``row`` (which no later tile may touch) and drops them from memory.
    """

    def __init__(self, height: int, width: int, tile: int, channels: int) -> None:
        self.height, self.width, self.rows = height, width, tile
        self.top = 0
        self.sums = np.zeros((channels, tile, width), np.float64)
        self.weights = np.zeros((tile, width), np.float64)

    def add(self, r0: int, c0: int, values: np.ndarray, weight: np.ndarray) -> None:
        win = tile_window(r0, c0, tuple(values.shape[-2:]), self.height, self.width)
        if win.height <= 0 or win.width <= 0:
            return
        b0 = win.row_off - self.top
        if b0 < 0 or b0 + win.height > self.rows:
            raise ValueError(f"tile at row {r0} outside the current strip starting at row {self.top}")
        (pt, _), (pl, _) = win.pad
        src = (slice(pt, pt + win.height), slice(pl, pl + win.width))
        dst = (slice(b0, b0 + win.height), slice(win.col_off, win.col_off + win.width))
        w = weight[src]
        self.sums[(slice(None), *dst)] += values[(slice(None), *src)] * w
        self.weights[dst] += w

    def pop_until(self, row: int) -> tuple[int, np.ndarray]:
        """Blended values ``(channels, n, width)`` for rows ``[top, row)``; returns (first row, values)."""
        row = min(max(row, self.top), self.height, self.top + self.rows)
        n = row - self.top
        first = self.top
        out = np.empty((self.sums.shape[0], n, self.width), np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):  # divided in float64, rounded once into ``out``
            np.divide(self.sums[:, :n], self.weights[:n], out=out, casting="unsafe")
        _shift_up(self.sums, n, axis=1)
        _shift_up(self.weights, n, axis=0)
        self.top = row
        return first, out


def _shift_up(array: np.ndarray, n: int, axis: int) -> None:
    """Move ``array``'s rows along ``axis`` up by ``n`` in place and zero the last ``n`` (``np.roll`` + fill).

    Copies go in slabs of ``n`` rows, top first, so a slab never overlaps its source and no temporary copy
    of the strip is made (``np.roll`` allocated a second strip: 84 MB at 10 240 px wide).
    """
    if n <= 0:
        return
    view = np.moveaxis(array, axis, 0)
    rows = view.shape[0]
    for start in range(0, rows - n, n):
        stop = min(start + n, rows - n)
        view[start:stop] = view[start + n:stop + n]
    view[max(rows - n, 0):] = 0


def threshold(probability: np.ndarray, valid: np.ndarray, cut: float, nodata: int = 255) -> np.ndarray:
    """uint8 labels: 1 where ``probability >= cut``, 0 elsewhere, ``nodata`` where not ``valid``."""
    labels = (probability >= cut).astype(np.uint8)
    labels[~valid] = nodata
    return labels
