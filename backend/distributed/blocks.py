"""Split a scene's tile grid into blocks that each reproduce the single-process blend for their pixels.

A block *core* is a rectangle of output pixels (a multiple of the GeoTIFF block size, so assembly writes
whole blocks). Its *tiles* are every tile of the scene's :class:`~backend.tiles.tiling.TileGrid` that
touches the core, and its *extent* is the union of those tiles clipped to the scene: the halo. Running
:func:`~backend.tiles.pipeline.stream_scene` over the extent with :class:`SubGrid` adds, for each core
pixel, the same tile values with the same weights in the same order as the whole-scene run, so the
blended probabilities are bit-identical (with ``batch=1``; a different batch grouping may change the model
output in the last bits). Tiles on a core border are computed by both neighbouring blocks: that is the
price of bit-identical results, about ``tile / core`` extra tiles per axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from backend.tiles.pipeline import WindowSource
from backend.tiles.tiling import TileGrid, Window
from backend.writers.geotiff import BLOCK

#: default core side: 2048 px (41.9 km² at 10 m); a 256-px tile adds ~12 % recomputed halo tiles per axis
DEFAULT_BLOCK_PX = 2048


@dataclass(frozen=True)
class SubGrid(TileGrid):
    """A :class:`TileGrid` restricted to given tile origins, in the coordinates of a block's extent."""

    rows: tuple[int, ...] = ()
    cols: tuple[int, ...] = ()

    @property
    def row_origins(self) -> list[int]:
        return list(self.rows)

    @property
    def col_origins(self) -> list[int]:
        return list(self.cols)


@dataclass(frozen=True)
class Block:
    """One task: core pixels ``[row0, row1) x [col0, col1)`` and the extent its tiles cover."""

    index: int
    row0: int
    row1: int
    col0: int
    col1: int
    extent: tuple[int, int, int, int]  # row_off, col_off, height, width (scene pixels)
    rows: tuple[int, ...]  # tile row origins (scene coordinates)
    cols: tuple[int, ...]

    @property
    def key(self) -> str:
        return f"r{self.row0:07d}_c{self.col0:07d}"

    @property
    def n_tiles(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def pixels(self) -> int:
        return (self.row1 - self.row0) * (self.col1 - self.col0)

    def subgrid(self, grid: TileGrid) -> SubGrid:
        """The block's tiles relative to its extent (what the worker streams)."""
        r, c, h, w = self.extent
        return SubGrid(h, w, grid.tile, grid.overlap, tile_w=grid.tile_w, rows=tuple(o - r for o in self.rows),
                       cols=tuple(o - c for o in self.cols))

    def core_in_extent(self) -> tuple[slice, slice]:
        """Where the core lies inside the extent's arrays."""
        r, c, _, _ = self.extent
        return slice(self.row0 - r, self.row1 - r), slice(self.col0 - c, self.col1 - c)


def _touching(origins: list[int], tile: int, lo: int, hi: int) -> tuple[int, ...]:
    return tuple(o for o in origins if o < hi and o + tile > lo)


def _cuts(length: int, block_px: int) -> list[tuple[int, int]]:
    return [(s, min(s + block_px, length)) for s in range(0, length, block_px)]


def plan_blocks(grid: TileGrid, block_px: int = DEFAULT_BLOCK_PX) -> list[Block]:
    """Blocks covering the scene, row-major.

    Args:
        grid: the whole-scene tile grid (as the single-process run builds it).
        block_px: core side in pixels, rounded up to a multiple of the GeoTIFF block (256).

    Returns:
        Blocks whose cores partition the scene.
    """
    block_px = max(BLOCK, -(-int(block_px) // BLOCK) * BLOCK)
    rows, cols = grid.row_origins, grid.col_origins
    tile_h, tile_w = grid.shape
    blocks = []
    for row0, row1 in _cuts(grid.height, block_px):
        r_tiles = _touching(rows, tile_h, row0, row1)
        for col0, col1 in _cuts(grid.width, block_px):
            c_tiles = _touching(cols, tile_w, col0, col1)
            top, left = max(r_tiles[0], 0), max(c_tiles[0], 0)
            bottom = min(r_tiles[-1] + tile_h, grid.height)
            right = min(c_tiles[-1] + tile_w, grid.width)
            blocks.append(Block(len(blocks), row0, row1, col0, col1, (top, left, bottom - top, right - left),
                                r_tiles, c_tiles))
    return blocks


class OffsetSource:
    """A window source restricted to a block's extent: windows are shifted into scene coordinates."""

    def __init__(self, source: WindowSource, extent: tuple[int, int, int, int]) -> None:
        self.source = source
        self.row_off, self.col_off, self.height, self.width = extent

    def read(self, window: Window, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        shifted = Window(window.row_off + self.row_off, window.col_off + self.col_off, window.height,
                         window.width, window.pad)
        return self.source.read(shifted, out=out)


def block_rows(blocks: list[Block]) -> Iterator[list[Block]]:
    """Blocks grouped by row of cores, top to bottom (the order assembly writes them)."""
    row: list[Block] = []
    for block in blocks:
        if row and block.row0 != row[0].row0:
            yield row
            row = []
        row.append(block)
    if row:
        yield row
