"""Stream a scene through a model tile by tile and write blended outputs row strip by row strip.

Memory holds one row of tiles of input (``batch`` tiles at a time), one strip of ``tile`` accumulator rows
and one 256-row block of each output, so it does not grow with the scene size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from backend.inference.engines import Engine
from backend.inference.tiling import StripBlender, TileGrid, Window, blend_window, reflect_pad, tile_window
from backend.progress import Reporter


class WindowSource(Protocol):
    """Anything that gives model input for a window of the scene."""

    height: int
    width: int

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """((T, C, h, w) float32 dB with NaN, (h, w) bool valid) for ``window`` (padding not applied)."""


class ArraySource:
    """Model input from an in-memory (T, C, H, W) dB cube; a pixel is valid where any value is finite.

    For benchmarks and tests, and for scenes that already sit in memory (e.g. synthetic ones)."""

    def __init__(self, cube: np.ndarray) -> None:
        self.cube = np.asarray(cube, dtype=np.float32)
        self.height, self.width = self.cube.shape[-2:]

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        part = self.cube[..., window.row_off:window.row_off + window.height,
                         window.col_off:window.col_off + window.width]
        return part, np.isfinite(part).any(axis=(0, 1))


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
    tiles: int
    tiles_inferred: int
    seconds: float
    model_seconds: float


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
    if todo:
        x = np.stack([tiles[i][0] for i in todo]).astype(np.float32, copy=False)
        prob[todo] = engine.predict(x)
        if heat is not None:
            heat[todo] = engine.heatmap(x, threshold)
    return prob, heat, len(todo)


def stream_scene(source: WindowSource, engine: Engine, grid: TileGrid, sink: BlendedSink, reporter: Reporter,
                 batch: int = 1, threshold: float = 0.5, with_heatmap: bool = True) -> StreamStats:
    """Tile, infer, blend and hand finished rows to ``sink``; one progress step (and cancel check) per tile."""
    with_heatmap = with_heatmap and engine.heatmap is not None
    channels = 3 if with_heatmap else 2  # probability, valid[, heatmap]
    blender = StripBlender(grid.height, grid.width, grid.shape[0], channels)
    weight = blend_window(grid.shape, grid.overlap)
    start, model_seconds, inferred = time.perf_counter(), 0.0, 0
    reporter.stage("map", grid.n_tiles, f"{grid.n_tiles} tiles of {' x '.join(map(str, grid.shape))} px")

    def emit(rows: np.ndarray) -> None:
        if rows.shape[1]:
            sink.write(rows[0], rows[2] if with_heatmap else None, rows[1] > 0.5)

    for r0, cols in grid.tile_rows():
        emit(blender.pop_until(r0)[1])
        for i in range(0, len(cols), batch):
            chunk = cols[i:i + batch]
            tiles = [_read_tile(source, r0, c0, grid.shape) for c0 in chunk]
            t0 = time.perf_counter()
            prob, heat, n = _run_batch(engine, tiles, threshold, with_heatmap)
            model_seconds += time.perf_counter() - t0
            inferred += n
            for k, c0 in enumerate(chunk):
                values = [prob[k], tiles[k][1].astype(np.float32)] + ([heat[k]] if with_heatmap else [])
                blender.add(r0, c0, np.stack(values), weight)
                reporter.advance(1)
    emit(blender.pop_until(grid.height)[1])
    return StreamStats(grid.n_tiles, inferred, time.perf_counter() - start, model_seconds)
