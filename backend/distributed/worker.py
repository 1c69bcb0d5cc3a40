"""What runs on a Dask worker: the model loaded once (a :class:`ModelPlugin`) and one block per task.

Workers import this module by name, so each needs the backend installed (the lean mapping environment is
enough); :func:`worker_environment` lets the client check that, and the model checksum, on every worker
before any block runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import resource
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from distributed import WorkerPlugin, get_worker

from backend import __version__, modelstore
from backend.distributed.blocks import Block, OffsetSource
from backend.errors import UserError
from backend.inference.loader import LoadedModel, load_model
from backend.progress import Reporter
from backend.raster.options import series_from_args
from backend.seasons.windows import CyclesSource, max_engine
from backend.tiles.engines import PRECISION
from backend.tiles.pipeline import stream_scene
from backend.tiles.tiling import TileGrid

PLUGIN_NAME = "s1ricemapper-model"
INPUT_HINT = ("paths that exist only on the machine you started from cannot be read on a cluster: put the "
              "inputs on storage every worker sees (a shared file system mounted at the same path, or "
              "/vsis3/..., /vsicurl/https://... URLs; see docs/distributed.md)")


@dataclass(frozen=True)
class ModelSpec:
    """How each worker loads the model (the map verb's --model/--engine/--device/--threads/--precision)."""

    model: str
    engine: str = "auto"
    device: str = "auto"
    threads: int | None = None
    heatmap: bool = True
    precision: str = PRECISION


@dataclass(frozen=True)
class BlockJob:
    """Everything a block needs besides its :class:`Block`: input series, season and tiling."""

    series: dict  # the series options of the map verb (vv, vh, stack, dates, align, paths)
    windows: list[tuple[dt.date, dt.date]]  # the season window(s) the single-process run composites
    as_of: dt.date | None
    grid: TileGrid
    batch: int
    with_heatmap: bool


def model_checksum(card: dict) -> str:
    """SHA-256 of the card (which holds every model file's SHA-256, the threshold and the input recipe):
    equal on two machines means the same model, since the workers verified their files against it."""
    return hashlib.sha256(json.dumps(card, sort_keys=True).encode()).hexdigest()


def worker_environment(model: str) -> dict:
    """Run on each worker before mapping: backend version and the checksum of ``model`` there.

    Args:
        model: the model name or folder the client resolved.

    Returns:
        ``{"backend": version, "checksum": str | None, "problem": str | None}``.
    """
    try:
        card = modelstore.load_card(model, verify=True)
    except UserError as exc:
        return {"backend": __version__, "checksum": None, "problem": str(exc)}
    return {"backend": __version__, "checksum": model_checksum(card), "problem": None}


class ModelPlugin(WorkerPlugin):
    """Worker plugin holding the worker's one model session, loaded at registration (``setup``)."""

    name = PLUGIN_NAME
    idempotent = False

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.model: LoadedModel | None = None
        self.loads = 0

    def setup(self, worker: Any = None) -> None:
        self.get()

    def get(self) -> LoadedModel:
        """The loaded model (loading it the first time only)."""
        if self.model is None:
            spec = self.spec
            self.model = load_model(spec.model, spec.engine, spec.device, spec.threads, heatmap=spec.heatmap,
                                    precision=spec.precision)
            self.loads += 1
        return self.model


class CoreSink:
    """Keeps the rows of a block's core from the blended rows of its extent: (channels, h, w) float32."""

    def __init__(self, block: Block, channels: int) -> None:
        self.rows, self.cols = block.core_in_extent()
        self.values = np.zeros((channels, self.rows.stop - self.rows.start, self.cols.stop - self.cols.start),
                               np.float32)
        self.next_row = 0

    def write(self, probability: np.ndarray, heatmap: np.ndarray | None, valid: np.ndarray) -> None:
        first, n = self.next_row, probability.shape[0]
        self.next_row += n
        lo, hi = max(first, self.rows.start), min(first + n, self.rows.stop)
        if lo >= hi:
            return
        src, dst = slice(lo - first, hi - first), slice(lo - self.rows.start, hi - self.rows.start)
        self.values[0, dst] = probability[src, self.cols]
        self.values[1, dst] = valid[src, self.cols]
        if heatmap is not None:
            self.values[2, dst] = heatmap[src, self.cols]


def loaded_engine(dask_worker: Any) -> dict:
    """Run on each worker (``client.run``) after registering the plugin: loads the model there (once)."""
    engine = dask_worker.plugins[PLUGIN_NAME].get().engine
    return {"engine": engine.name, "device": engine.device, "threads": engine.threads, "precision": engine.precision,
            "heatmap": engine.predict_with_heatmap is not None, "info": dict(engine.info)}


def map_block(job: BlockJob, block: Block) -> tuple[np.ndarray, dict]:
    """Task body: :func:`_map_block`, with a user error re-raised without its exception chain.

    The chain may hold GDAL's or rasterio's exceptions, which do not pickle; Dask would then hand the
    client a bare ``Exception`` instead of the :class:`UserError` with its message and parameter.
    """
    try:
        return _map_block(job, block)
    except UserError as exc:
        error = UserError(exc.template, exc.param)
    raise error


def _map_block(job: BlockJob, block: Block) -> tuple[np.ndarray, dict]:
    """Task body: read, composite and infer the block's tiles, blend, keep the core.

    Args:
        job: the run's shared settings.
        block: which pixels and tiles.

    Returns:
        ``(values, stats)``: core values (probability, valid[, heatmap]) and timing/memory figures.

    Raises:
        UserError: the worker cannot read the inputs (named, with the worker's address).
    """
    worker = get_worker()
    plugin = worker.plugins[PLUGIN_NAME]
    assert isinstance(plugin, ModelPlugin)
    model = plugin.get()
    start = time.perf_counter()
    try:
        reader = series_from_args(argparse.Namespace(**job.series), require=model.pols)
    except (UserError, OSError) as exc:
        raise UserError(f"worker {worker.address} cannot read the input series: {exc}. {INPUT_HINT}") from None
    with reader:
        cycles = CyclesSource(reader, model.pols, job.windows, model.steps, job.as_of)
        sink = CoreSink(block, 3 if job.with_heatmap else 2)
        stats = stream_scene(OffsetSource(cycles, block.extent), max_engine(model.engine, len(job.windows),
                             model.steps), block.subgrid(job.grid), sink, Reporter("none"), job.batch,
                             model.threshold, job.with_heatmap)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return sink.values, {"worker": worker.address, "tiles": stats.tiles, "tiles_inferred": stats.tiles_inferred,
                         "model_seconds": stats.model_seconds, "seconds": time.perf_counter() - start,
                         "peak_rss_mb": round(peak_mb, 1)}
