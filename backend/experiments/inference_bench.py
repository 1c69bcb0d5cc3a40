"""Measurements behind ``bench``: engine throughput, int8 quantization and its accuracy cost, the roofline
ratio, and how much a model's output depends on the tile size.

Every number is measured in the running process on the running machine; nothing is assumed.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from backend.evaluation.metrics import binary_metrics, confusion_matrix
from backend.modelstore.onnx_io import session_options
from backend.progress import Reporter
from backend.synthetic import generate_scene
from backend.tiles.engines import Engine
from backend.tiles.pipeline import ArraySink, ArraySource, stream_scene
from backend.tiles.tiling import TileGrid
from backend.timeseries import composite

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ey2023-angiang"
REAL_SEASON = (dt.date(2022, 4, 1), dt.date(2022, 8, 31))  # the summer-autumn crop of An Giang


def seconds_per_call(fn: Callable[[], Any], min_seconds: float = 2.0, min_runs: int = 3, warmup: int = 1) -> float:
    """Mean wall time of ``fn`` after ``warmup`` calls, over at least ``min_runs`` calls and ``min_seconds``."""
    for _ in range(warmup):
        fn()
    runs, start = 0, time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < min_seconds:
        fn()
        runs += 1
    return (time.perf_counter() - start) / runs


def matmul_gflops(threads: int, n: int = 2048) -> float:
    """Dense fp32 matrix-multiply GFLOP/s with ``threads`` threads: the practical compute roof."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / seconds_per_call(lambda: a @ b, min_seconds=1.0) / 1e9


def season_for(card: dict, dates: list[dt.date]) -> tuple[dt.date, dt.date]:
    """The model's season length ending at the last date, or the whole series when the card has none."""
    days = card["inputs"].get("season_days")
    last = max(dates)
    return (max(min(dates), last - dt.timedelta(days=int(days) - 1)) if days else min(dates)), last


def composite_cube(bands_db: dict[str, np.ndarray], dates: list[dt.date], card: dict,
                   season: tuple[dt.date, dt.date]) -> np.ndarray:
    """(T, C, H, W) model input from in-memory (dates, H, W) dB arrays per polarization."""
    steps = int(card["inputs"]["steps"])
    pols = card["inputs"]["polarizations"]
    return np.stack([composite(bands_db[p], dates, *season, steps)[0] for p in pols], axis=1)


def synthetic_scene(card: dict, region: str, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic scene composited for ``card``: ((T, C, H, W) dB, (H, W) truth 1 rice / 0 other)."""
    scene = generate_scene(region, size, seed)
    cube = composite_cube({"VV": scene.vv_db, "VH": scene.vh_db}, scene.dates, card,
                          season_for(card, scene.dates))
    return cube, scene.truth


def crops(cube: np.ndarray, side: int) -> list[np.ndarray]:
    """Non-overlapping (1, T, C, side, side) crops of a (T, C, H, W) cube."""
    h, w = cube.shape[-2:]
    return [cube[None, ..., r:r + side, c:c + side] for r in range(0, h - side + 1, side)
            for c in range(0, w - side + 1, side)]


def real_tiles(card: dict, side: int, limit: int = 8) -> list[np.ndarray]:
    """Calibration tiles from the real An Giang cubes (10 x 10 px each), mosaicked side by side."""
    path = REAL_DATA / "train_cubes.npz"
    if not path.is_file():
        return []
    data = np.load(path)
    dates = [dt.date.fromisoformat(d) for d in data["dates"][0]]
    linear = data["vv_vh"]  # (N, T, 2, 10, 10), VV then VH
    with np.errstate(divide="ignore"):
        db = {"VV": 10 * np.log10(linear[:, :, 0]), "VH": 10 * np.log10(linear[:, :, 1])}
    per_side = side // 10
    order = np.random.default_rng(0).permutation(len(linear))
    tiles = []
    for start in range(0, len(order) - per_side ** 2 + 1, per_side ** 2)[:limit]:
        idx = order[start:start + per_side ** 2]
        mosaic = {p: _mosaic(db[p][idx], per_side) for p in db}
        cube = composite_cube(mosaic, dates, card, REAL_SEASON)
        pad = side - cube.shape[-1]
        tiles.append(np.pad(cube, ((0, 0), (0, 0), (0, pad), (0, pad)), mode="reflect")[None])
    return tiles


def _mosaic(cubes: np.ndarray, per_side: int) -> np.ndarray:
    """(n, T, 10, 10) -> (T, 10*per_side, 10*per_side), cubes placed row by row."""
    n, t, h, w = cubes.shape
    grid = cubes.reshape(per_side, per_side, t, h, w).transpose(2, 0, 3, 1, 4)
    return grid.reshape(t, per_side * h, per_side * w)


MIN_INT8_REDUCTION = 64  # in_channels x kh x kw below which an int8 convolution is slower than fp32


def _convs_to_keep_fp32(model_path: Path) -> list[str]:
    """Grouped/depthwise convolutions and very thin ones: ORT's int8 kernels for them are slower than
    fp32 (measured: quantizing every convolution made this model 3x slower than fp32 on AVX-512 VNNI)."""
    import onnx

    model = onnx.load(str(model_path))
    shapes = {init.name: list(init.dims) for init in model.graph.initializer}
    keep = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        weight = shapes.get(node.input[1])
        if group > 1 or weight is None or int(np.prod(weight[1:])) < MIN_INT8_REDUCTION:
            keep.append(node.name)
    return keep


def quantize_int8(fp32_path: Path, out_dir: Path, calibration: list[np.ndarray]) -> Path:
    """Static int8 QDQ quantization, per-channel weights, min/max calibration on ``calibration`` tiles.

    Only dense convolutions and matrix products are quantized: the input normalization (NaN handling),
    the attention gates, depthwise and very thin convolutions stay fp32, where int8 is no faster.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Tiles(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(calibration)

        def get_next(self) -> dict | None:
            tile = next(self._items, None)
            return None if tile is None else {"x": tile.astype(np.float32)}

    prepared, quantized = out_dir / "model.pre.onnx", out_dir / "model.int8.onnx"
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(quantized), Tiles(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=["Conv", "MatMul", "Gemm"],
                    nodes_to_exclude=_convs_to_keep_fp32(prepared), calibrate_method=CalibrationMethod.MinMax)
    return quantized


def cpu_session(path: Path, threads: int) -> Any:
    """ONNX Runtime CPU session with the same tuning as the model store's (for files outside the store)."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])


def tiles_per_second(engines: dict[str, Engine], batch: np.ndarray, min_seconds: float = 3.0,
                     rounds: int = 3) -> dict[str, float]:
    """Best tiles/s of each engine over ``rounds`` interleaved rounds: on a shared machine the best round is
    the one least disturbed by other processes, and interleaving gives every engine the same conditions."""
    best = dict.fromkeys(engines, 0.0)
    for _ in range(rounds):
        for name, engine in engines.items():
            rate = batch.shape[0] / seconds_per_call(lambda e=engine: e.predict(batch), min_seconds=min_seconds)
            best[name] = max(best[name], rate)
    return best


def scene_probability(engine: Engine, cube: np.ndarray, tile: int, overlap: int, multiple: int) -> np.ndarray:
    """Blended probability of an in-memory scene, tiled exactly as `map` tiles a file."""
    grid = TileGrid.for_scene(cube.shape[-2], cube.shape[-1], tile, overlap, multiple)
    sink = ArraySink()
    stream_scene(ArraySource(cube), engine, grid, sink, Reporter("none"), with_heatmap=False)
    return sink.probability


def f1_score(probability: np.ndarray, truth: np.ndarray, threshold: float) -> float | None:
    valid = np.isfinite(probability)
    return binary_metrics(confusion_matrix(probability[valid] >= threshold, truth[valid] == 1))["f1"]


def tile_dependence(engine: Engine, cube: np.ndarray, sizes: list[int], overlap: int, multiple: int,
                    threshold: float) -> list[dict]:
    """How far each tile size's probabilities are from one window over the whole scene.

    Global pooling (squeeze-and-excitation, CGA, AFF) summarises the whole window, so a pixel's output
    depends on which window it was computed in; a purely convolutional model differs only at borders.
    """
    side = max(cube.shape[-2:])
    reference = scene_probability(engine, cube, TileGrid.for_scene(side, side, 2048, overlap, multiple).tile,
                                  overlap, multiple)
    rows = []
    for size in sizes:
        prob = scene_probability(engine, cube, size, overlap, multiple)
        diff = np.abs(prob - reference)
        rows.append({"tile": size, "overlap": overlap, "mean_abs_diff": float(diff.mean()),
                     "p99_abs_diff": float(np.quantile(diff, 0.99)), "max_abs_diff": float(diff.max()),
                     "label_agreement": float(((prob >= threshold) == (reference >= threshold)).mean())})
    return rows
