"""Model input over one or several cycle windows, and an engine that keeps the highest probability.

Several windows (a user window snapped to the cycles it covers, or ``--all-seasons``) go through one
streaming pass: the source stacks each window's composite along the time axis and :func:`max_engine`
splits them again, runs the model on each and keeps, per pixel, the highest rice probability (rice in
any of the crops).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np

from backend.tiles.engines import Engine
from backend.tiles.tiling import Window
from backend.timeseries.source import SeriesSource


class CyclesSource:
    """(K * T, C, h, w) composites of K windows, each onto the model's T steps; valid where all are."""

    def __init__(self, reader: Any, pols: list[str], windows: list[tuple[dt.date, dt.date]], steps: int,
                 as_of: dt.date | None = None) -> None:
        self.parts = [SeriesSource(reader, pols, w, steps, as_of) for w in windows]
        self.height, self.width = reader.grid.height, reader.grid.width

    def read(self, window: Window, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The windows' composites stacked along time (into ``out`` when given), valid where all are."""
        if len(self.parts) == 1:  # the usual single window: no copy of the cube
            return self.parts[0].read(window, out=out)
        steps, pols = self.parts[0].steps, self.parts[0].pols
        if out is None:
            out = np.empty((len(self.parts) * steps, len(pols), window.height, window.width), np.float32)
        valid = [part.read(window, out=out[k * steps:(k + 1) * steps])[1] for k, part in enumerate(self.parts)]
        return out, np.logical_and.reduce(valid)


def max_engine(engine: Engine, k: int, steps: int) -> Engine:
    """``engine`` applied to each of ``k`` stacked windows of ``steps`` steps; the per-pixel maximum.

    Args:
        engine: the model's engine (batches of (B, T, C, h, w)).
        k: number of windows stacked along the time axis.
        steps: the model's composite steps T.

    Returns:
        An engine taking (B, k * T, C, h, w) batches; ``engine`` itself when ``k == 1``.
    """
    if k == 1:
        return engine

    def split(batch: np.ndarray) -> np.ndarray:
        b, _, *rest = batch.shape
        return batch.reshape(b, k, steps, *rest).reshape(b * k, steps, *rest)

    def merge(out: np.ndarray, b: int) -> np.ndarray:
        return out.reshape(b, k, *out.shape[1:]).max(axis=1)

    def predict(batch: np.ndarray) -> np.ndarray:
        return merge(engine.predict(split(batch)), batch.shape[0])

    both = None
    with_heatmap = engine.predict_with_heatmap
    if with_heatmap is not None:
        def both(batch: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
            prob, heat = with_heatmap(split(batch), threshold)
            return merge(prob, batch.shape[0]), merge(heat, batch.shape[0])

    return dataclasses.replace(engine, predict=predict, predict_with_heatmap=both)
