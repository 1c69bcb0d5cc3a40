"""Rice probability of every pixel in each detected cycle's window, with the model, tile by tile."""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.seasons.detect import Cycle
from backend.seasons.scan import Sample, read_side_by_side
from backend.seasons.windows import CyclesSource, max_engine
from backend.tiles.pipeline import ArraySink, stream_scene
from backend.tiles.tiling import TileGrid, reflect_pad
from backend.timeseries.compositing import composite

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


def sampled_rice_shares(reader: Any, model: Any, cycles: list[Cycle], sample: Sample) -> dict[str, float]:
    """The model's rice share in each cycle's window over the quick scan's sample of blocks.

    What ``map`` uses to pick the main season without mapping the whole scene once per cycle. The VH
    the scan read is reused, the other polarizations are read once for all cycles, each cycle is
    composited in memory, and every block of every cycle goes through the model in one batch.

    Args:
        reader: the open series.
        model: the loaded model (pols, steps, engine, threshold).
        cycles: the cycles to compare.
        sample: the blocks the scan read (:attr:`~backend.seasons.scan.Detection.sample`).

    Returns:
        Cycle label -> share of the sample's valid pixels that the model calls rice in its window.
    """
    cubes = {pol: sample.vh if pol == "VH" else read_side_by_side(reader, pol, sample.blocks) for pol in model.pols}
    dates = {pol: reader.dates_between(pol) for pol in model.pols}
    _, _, h, w = sample.blocks[0]
    m = max(model.size_multiple, 1)
    pad = ((0, max(32, -(-h // m) * m) - h), (0, max(32, -(-w // m) * m) - w))
    patches, masks = [], []
    for cycle in cycles:
        parts = [composite(cubes[pol], dates[pol], *cycle.window, model.steps) for pol in model.pols]
        x = np.stack([cube for cube, _ in parts], axis=1)  # (T, C, h, n * (w + 1))
        valid = np.logical_and.reduce([count > 0 for _, count in parts])
        for i in range(len(sample.blocks)):
            cols = slice(i * (w + 1), i * (w + 1) + w)
            patches.append(reflect_pad(x[..., cols], pad))
            masks.append(valid[:, cols])
    prob = model.engine.predict(np.stack(patches).astype(np.float32))[:, :h, :w]
    rice = (prob >= model.threshold) & np.stack(masks)
    per_cycle = len(sample.blocks)
    shares = {}
    for k, cycle in enumerate(cycles):
        total = int(np.stack(masks[k * per_cycle:(k + 1) * per_cycle]).sum())
        shares[cycle.label] = float(rice[k * per_cycle:(k + 1) * per_cycle].sum()) / total if total else 0.0
    return shares
