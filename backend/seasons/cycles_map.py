"""Rice probability of every pixel in each detected cycle's window, with the model, tile by tile."""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.seasons.detect import Cycle
from backend.seasons.windows import CyclesSource, max_engine
from backend.tiles.pipeline import ArraySink, stream_scene
from backend.tiles.tiling import TileGrid

TILE, OVERLAP = 256, 32


def cycle_probabilities(reader: Any, model: Any, cycles: list[Cycle], reporter: Any) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) probability per cycle and the (H, W) valid mask (valid in every cycle's window).

    Args:
        reader: the open series.
        model: a :class:`~backend.inference.loader.LoadedModel`.
        cycles: the cycles to map, each over its window.
        reporter: progress reporter (one stage per cycle).

    Returns:
        Probabilities in [0, 1] and the valid mask.
    """
    grid = TileGrid.for_scene(reader.grid.height, reader.grid.width, TILE, OVERLAP, model.size_multiple)
    probs, valid = [], np.ones((reader.grid.height, reader.grid.width), dtype=bool)
    for cycle in cycles:
        sink = ArraySink()
        source = CyclesSource(reader, model.pols, [cycle.window], model.steps)
        reporter.log(f"mapping cycle {cycle.window[0]} to {cycle.window[1]} (flooding peak {cycle.flood})")
        stream_scene(source, model.engine, grid, sink, reporter, 1, model.threshold, with_heatmap=False)
        probs.append(np.clip(sink.probability, 0, 1))
        valid &= sink.valid
    return np.stack(probs).astype(np.float32), valid


def windows_probability(reader: Any, model: Any, windows: list, reporter: Any,
                        as_of: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) highest rice probability over ``windows`` and the valid mask: what ``map`` writes."""
    grid = TileGrid.for_scene(reader.grid.height, reader.grid.width, TILE, OVERLAP, model.size_multiple)
    sink = ArraySink()
    source = CyclesSource(reader, model.pols, list(windows), model.steps, as_of)
    stream_scene(source, max_engine(model.engine, len(windows), model.steps), grid, sink, reporter, 1,
                 model.threshold, with_heatmap=False)
    return np.clip(sink.probability, 0, 1), sink.valid
