"""The mapping outputs: rice.tif, probability.tif, heatmap.tif and their QML styles, written atomically."""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.atomic import AtomicOutputs
from backend.contract.verbs.map import VERB as MAP
from backend.inference.result_checks import ProbabilityHistogram
from backend.tiles.tiling import threshold as apply_threshold
from backend.writers.geotiff import StripWriter
from backend.writers.styles import write_style

RICE_NODATA = 255


class MapWriter:
    """Receives blended rows, thresholds them and streams them to the three GeoTIFFs; counts pixels."""

    def __init__(self, outputs: AtomicOutputs, grid: Any, cut: float, with_heatmap: bool) -> None:
        self.cut = cut
        self.valid_pixels = 0
        self.rice_pixels = 0
        self.histogram = ProbabilityHistogram()  # for run.json checks
        self.writers = {"rice": StripWriter(outputs.path(MAP.output("rice", "tif")), grid, "uint8", RICE_NODATA,
                                            "nearest"),
                        "probability": StripWriter(outputs.path(MAP.output("probability", "tif")), grid, "float32",
                                                   float("nan"), "average")}
        if with_heatmap:
            self.writers["heatmap"] = StripWriter(outputs.path(MAP.output("heatmap", "tif")), grid, "float32",
                                                  float("nan"), "average")
        for name in self.writers:
            write_style(name, outputs.path(MAP.output(name, "qml")))

    def write(self, probability: np.ndarray, heatmap: np.ndarray | None, valid: np.ndarray) -> None:
        labels = apply_threshold(probability, valid, self.cut, RICE_NODATA)
        self.valid_pixels += int(valid.sum())
        self.rice_pixels += int((labels == 1).sum())
        self.histogram.add(probability, valid)
        self.writers["rice"].write(labels)
        self.writers["probability"].write(np.where(valid, np.clip(probability, 0, 1), np.nan))
        if heatmap is not None and "heatmap" in self.writers:
            self.writers["heatmap"].write(np.where(valid, np.clip(heatmap, 0, 1), np.nan))

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()
