"""Rice probability of every pixel in each detected cycle's window, with the model, tile by tile."""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.seasons.detect import Cycle
from backend.seasons.scan import blocks
from backend.seasons.windows import CyclesSource, max_engine
from backend.tiles.pipeline import ArraySink, stream_scene
from backend.tiles.tiling import TileGrid, Window, reflect_pad

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


def sampled_rice_shares(reader: Any, model: Any, cycles: list[Cycle]) -> dict[str, float]:
    """The model's rice share in each cycle's window over the scan's sparse sample of blocks.

    What ``map`` uses to pick the main season without mapping the whole scene once per cycle.
    """
    shares = {}
    m = max(model.size_multiple, 1)
    for cycle in cycles:
        source = CyclesSource(reader, model.pols, [cycle.window], model.steps)
        rice = total = 0
        for row, col, h, w in blocks(reader.grid.height, reader.grid.width, full=False):
            x, valid = source.read(Window(row, col, h, w, ((0, 0), (0, 0))))
            pad = ((0, max(32, -(-h // m) * m) - h), (0, max(32, -(-w // m) * m) - w))
            prob = model.engine.predict(reflect_pad(x, pad)[None].astype(np.float32))[0][:h, :w]
            rice += int(((prob >= model.threshold) & valid).sum())
            total += int(valid.sum())
        shares[cycle.label] = rice / total if total else 0.0
    return shares
