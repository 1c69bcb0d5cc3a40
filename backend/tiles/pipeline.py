"""Stream a scene through a model tile by tile and write blended outputs row strip by row strip.

Memory holds one row of tiles of input (``batch`` tiles at a time), one strip of ``tile`` accumulator rows
and one 256-row block of each output, so it does not grow with the scene size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from backend.progress import Reporter
from backend.tiles.engines import Engine
from backend.tiles.tiling import StripBlender, TileGrid, Window, blend_window, reflect_pad, tile_window


class WindowSource(Protocol):
    """Anything that gives model input for a window of the scene."""

    height: int
    width: int

    def read(self, window: Window, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """((T, C, h, w) float32 dB with NaN, (h, w) bool valid) for ``window`` (padding not applied).

        With ``out`` (a (T, C, h, w) float32 array or view) the cube is written there and ``out`` returned,
        so a caller assembling a larger window saves a copy.
        """


class ArraySource:
    """Model input from an in-memory (T, C, H, W) dB cube; a pixel is valid where any value is finite.

    For benchmarks and tests, and for scenes that already sit in memory (e.g. synthetic ones)."""

    def __init__(self, cube: np.ndarray) -> None:
        self.cube = np.asarray(cube, dtype=np.float32)
        self.height, self.width = self.cube.shape[-2:]

    def read(self, window: Window, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        part = self.cube[..., window.row_off:window.row_off + window.height,
                         window.col_off:window.col_off + window.width]
        if out is not None:
            out[...] = part
            part = out
        return part, np.isfinite(part).any(axis=(0, 1))


@dataclass
class _Held:
    """Model input already read for scene rows ``[row, row + n)`` and columns ``[col, col + m)``."""

    row: int
    col: int
    x: np.ndarray  # (T, C, n, m)
    valid: np.ndarray  # (n, m)

    @property
    def col_end(self) -> int:
        return self.col + self.valid.shape[1]


class CompositeOnce:
    """A :class:`WindowSource` wrapper that reads (and composites) every scene pixel once per run.

    Tiles overlap, so reading each tile's window would composite about ``(tile / (tile - overlap))²`` of
    the pixels (1.31 x at tile 256, overlap 32). Windows come in grid order, row strip by row strip and
    left to right, so the part of a window already read is either in the previous window of the strip
    (its left columns) or in the rows this strip shares with the previous one (kept across the scene's
    width: ``overlap`` rows, about 34 MB for a 10 240 px wide scene of 13 steps x 2 polarizations). Only
    the rest is read from the wrapped source. Compositing is per pixel, so the assembled window equals
    the directly read one exactly. A window out of that order is simply read directly.
    """

    def __init__(self, source: WindowSource, grid: TileGrid) -> None:
        self.source = source
        self.height, self.width = source.height, source.width
        starts = [max(r0, 0) for r0 in grid.row_origins]
        self._next_start = dict(zip(starts, starts[1:]))  # strip's first scene row -> next strip's
        self._strip: tuple[int, int] | None = None
        self._keep_from = 0
        self._halo: _Held | None = None  # rows of this strip read by the previous one (all columns)
        self._keep: _Held | None = None  # rows of this strip the next one will need (filled as we go)
        self._left: _Held | None = None  # the previous window of this strip
        self.pixels_read = 0

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Same as the wrapped source's ``read``, reading only what no earlier window of the run read."""
        a, b = window.row_off, window.row_off + window.height
        c, d = window.col_off, window.col_off + window.width
        if self._strip != (a, b):
            self._start_strip(a, b)
        left = self._left if self._left is not None and self._left.col <= c < self._left.col_end <= d else None
        split = left.col_end if left is not None else c  # columns [c, split) come from the left window
        halo_rows = self._halo.valid.shape[0] if self._halo is not None and self._halo.row == a else 0
        halo_rows = min(halo_rows, b - a)
        fresh = Window(a + halo_rows, split, b - a - halo_rows, d - split, ((0, 0), (0, 0)))
        if left is None and not halo_rows:  # nothing held: the whole window is fresh
            x, valid = self._read(fresh)
        else:
            x, valid = self._assemble(fresh, left, halo_rows, (a, b, c, d), split)
        self._left = _Held(a, c, x, valid)
        self._remember(x, valid, a, c)
        return x, valid

    def _read(self, window: Window, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        self.pixels_read += window.height * window.width
        return self.source.read(window, out=out)

    def _assemble(self, fresh: Window, left: _Held | None, halo_rows: int, box: tuple[int, int, int, int],
                  split: int) -> tuple[np.ndarray, np.ndarray]:
        """The window from the left window's columns, the halo rows and the fresh part read in place."""
        a, b, c, d = box
        held = left if left is not None else self._halo
        x = np.empty(held.x.shape[:2] + (b - a, d - c), np.float32)
        valid = np.empty((b - a, d - c), bool)
        k = split - c
        if left is not None and k:
            x[..., :k] = left.x[..., c - left.col:]
            valid[:, :k] = left.valid[:, c - left.col:]
        if halo_rows:
            x[..., :halo_rows, k:] = self._halo.x[..., :halo_rows, split:d]
            valid[:halo_rows, k:] = self._halo.valid[:halo_rows, split:d]
        if fresh.height > 0 and fresh.width > 0:
            valid[halo_rows:, k:] = self._read(fresh, out=x[..., halo_rows:, k:])[1]
        return x, valid

    def _start_strip(self, a: int, b: int) -> None:
        self._halo, self._keep, self._left = self._keep, None, None
        self._strip = (a, b)
        self._keep_from = self._next_start.get(a, b)

    def _remember(self, x: np.ndarray, valid: np.ndarray, a: int, c: int) -> None:
        """Keep the rows the next strip shares with this one, across the whole width."""
        first = self._keep_from - a
        if first >= valid.shape[0] or first < 0:
            return
        if self._keep is None:
            rows = valid.shape[0] - first
            self._keep = _Held(self._keep_from, 0, np.empty(x.shape[:2] + (rows, self.width), np.float32),
                               np.zeros((rows, self.width), bool))
        self._keep.x[..., c:c + x.shape[-1]] = x[..., first:, :]
        self._keep.valid[:, c:c + x.shape[-1]] = valid[first:]


class ArraySink:
    """Collects blended rows in memory (for scenes small enough to hold): ``probability`` and ``valid``."""

    def __init__(self) -> None:
        self._prob: list[np.ndarray] = []
        self._valid: list[np.ndarray] = []

    def write(self, probability: np.ndarray, heatmap: np.ndarray | None, valid: np.ndarray) -> None:
        self._prob.append(probability)
        self._valid.append(valid)

    @property
    def probability(self) -> np.ndarray:
        return np.concatenate(self._prob)

    @property
    def valid(self) -> np.ndarray:
        return np.concatenate(self._valid)


class BlendedSink(Protocol):
    def write(self, probability: np.ndarray, heatmap: np.ndarray | None, valid: np.ndarray) -> None:
        """Receive the next finished rows (n, width) of the scene, top to bottom."""


@dataclass
class StreamStats:
    """What a streaming pass did, and where its time went (seconds of wall time)."""

    tiles: int
    tiles_inferred: int
    seconds: float
    model_seconds: float
    read_seconds: float = 0.0  # reading and compositing the tiles' input
    blend_write_seconds: float = 0.0  # blending tiles and handing finished rows to the sink (writing)


def _read_tile(source: WindowSource, r0: int, c0: int, tile: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    window = tile_window(r0, c0, tile, source.height, source.width)
    x, valid = source.read(window)
    return reflect_pad(x, window.pad), np.pad(valid, window.pad)


def _run_batch(engine: Engine, tiles: list[tuple[np.ndarray, np.ndarray]], threshold: float,
               with_heatmap: bool) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Probabilities (and heat maps) for tiles that hold any valid pixel; zeros for empty tiles."""
    size = tiles[0][1].shape
    prob = np.zeros((len(tiles), *size), np.float32)
    heat = np.zeros_like(prob) if with_heatmap else None
    todo = [i for i, (_, valid) in enumerate(tiles) if valid.any()]
    if todo:  # one tile is passed as a view (no copy)
        x = np.stack([tiles[i][0] for i in todo]) if len(todo) > 1 else tiles[todo[0]][0][None]
        x = np.ascontiguousarray(x, dtype=np.float32)
        if heat is not None:
            prob[todo], heat[todo] = engine.predict_with_heatmap(x, threshold)
        else:
            prob[todo] = engine.predict(x)
    return prob, heat, len(todo)


def stream_scene(source: WindowSource, engine: Engine, grid: TileGrid, sink: BlendedSink, reporter: Reporter,
                 batch: int = 1, threshold: float = 0.5, with_heatmap: bool = True) -> StreamStats:
    """Tile, infer, blend and hand finished rows to ``sink``; one progress step (and cancel check) per tile.

    Each scene pixel is read from ``source`` once (:class:`CompositeOnce`), however much tiles overlap.
    """
    source = CompositeOnce(source, grid)
    with_heatmap = with_heatmap and engine.predict_with_heatmap is not None
    channels = 3 if with_heatmap else 2  # probability, valid[, heatmap]
    blender = StripBlender(grid.height, grid.width, grid.shape[0], channels)
    weight = blend_window(grid.shape, grid.overlap)
    start, inferred = time.perf_counter(), 0
    spent = {"read": 0.0, "model": 0.0, "blend": 0.0}
    reporter.stage("map", grid.n_tiles, f"{grid.n_tiles} tiles of {' x '.join(map(str, grid.shape))} px")

    def emit(rows: np.ndarray) -> None:
        if rows.shape[1]:
            sink.write(rows[0], rows[2] if with_heatmap else None, rows[1] > 0.5)

    for r0, cols in grid.tile_rows():
        t0 = time.perf_counter()
        emit(blender.pop_until(r0)[1])
        spent["blend"] += time.perf_counter() - t0
        for i in range(0, len(cols), batch):
            chunk = cols[i:i + batch]
            t0 = time.perf_counter()
            tiles = [_read_tile(source, r0, c0, grid.shape) for c0 in chunk]
            t1 = time.perf_counter()
            prob, heat, n = _run_batch(engine, tiles, threshold, with_heatmap)
            t2 = time.perf_counter()
            inferred += n
            for k, c0 in enumerate(chunk):
                values = [prob[k], tiles[k][1].astype(np.float32)] + ([heat[k]] if with_heatmap else [])
                blender.add(r0, c0, np.stack(values), weight)
                reporter.advance(1)
            spent["read"] += t1 - t0
            spent["model"] += t2 - t1
            spent["blend"] += time.perf_counter() - t2
    t0 = time.perf_counter()
    emit(blender.pop_until(grid.height)[1])
    spent["blend"] += time.perf_counter() - t0
    return StreamStats(grid.n_tiles, inferred, time.perf_counter() - start, spent["model"], spent["read"],
                       spent["blend"])
