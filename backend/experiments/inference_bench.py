"""Measurements behind ``bench``: engine throughput, int8 quantization and its accuracy cost, the roofline
ratio, and how much a model's output depends on the tile size.

Every number is measured in the running process on the running machine; nothing is assumed.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from backend.evaluation.metrics import binary_metrics, confusion_matrix
from backend.modelstore.onnx_io import session_options, shape_dims
from backend.progress import Reporter
from backend.synthetic import generate_scene
from backend.tiles.engines import Engine, onnx_engine
from backend.tiles.pipeline import ArraySink, ArraySource, stream_scene
from backend.tiles.tiling import TileGrid
from backend.timeseries import composite

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ey2023-angiang"
REAL_SEASON = (dt.date(2022, 4, 1), dt.date(2022, 8, 31))  # the summer-autumn crop of An Giang


def seconds_per_call(fn: Callable[[], Any], min_seconds: float = 2.0, min_runs: int = 3, warmup: int = 1,
                     clock: Callable[[], float] = time.perf_counter) -> float:
    """Mean time of ``fn`` after ``warmup`` calls, over at least ``min_runs`` calls and ``min_seconds``.

    ``clock`` is wall time by default; ``time.process_time`` gives this process's CPU time, which other
    processes on a shared machine disturb far less (one thread only: several threads add up).
    """
    for _ in range(warmup):
        fn()
    runs, start = 0, clock()
    while runs < min_runs or clock() - start < min_seconds:
        fn()
        runs += 1
    return (clock() - start) / runs


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


def shape_options(session: Any, threads: int, shape: tuple[int, ...]) -> Any:
    """Session options with the free dimensions of ``session``'s input fixed to ``shape``, as `map`'s engine
    opens sessions (:class:`backend.tiles.engines.ShapeSessions`)."""
    return session_options(threads, shape_dims(session, shape))


def cpu_engine(path: Path, threads: int) -> Engine:
    """The ONNX Runtime engine `map` uses (one session per input shape) for a file outside the model store."""
    import onnxruntime as ort

    free = cpu_session(path, threads)

    def for_shape(shape: tuple[int, ...]) -> Any:
        options = shape_options(free, threads, shape)
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    return onnx_engine(free, threads, for_shape=for_shape)


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


REORDER_OPS = ("ReorderInput", "ReorderOutput")


def profile_events(path: Path, feeds: dict, threads: int, optimized: bool = True, runs: int = 2) -> list[dict]:
    """ONNX Runtime's per-node profile events (kernel times, shapes) of ``runs`` calls after one warm-up.

    Args:
        path: the ONNX file.
        feeds: the session inputs.
        threads: intra-op threads.
        optimized: the graph ONNX Runtime runs in `map` (full optimization, blocked layout, the input's shape
            fixed) or the file's own graph.
        runs: profiled calls after the warm-up.

    Returns:
        The ``Node`` events whose name ends in ``_kernel_time``, warm-up excluded.
    """
    import json

    import onnxruntime as ort

    if optimized:  # the graph `map` runs: optimized for the input's shape
        options = shape_options(cpu_session(path, threads), threads, tuple(feeds["x"].shape))
    else:
        options = session_options(threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(runs + 1):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    return nodes[len(nodes) // (runs + 1):]


def kernel_breakdown(events: list[dict], calls: int) -> dict:
    """Share of kernel time per operator type, and the layout reorders' share (the issue's <= 5 % target)."""
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for event in events:
        op = event["args"].get("op_name", "?")
        totals[op] = totals.get(op, 0.0) + event["dur"]
        counts[op] = counts.get(op, 0) + 1
    whole = sum(totals.values()) or 1.0
    top = sorted(totals.items(), key=lambda kv: -kv[1])[:12]
    return {"reorder_share": round(sum(totals.get(op, 0.0) for op in REORDER_OPS) / whole, 4),
            "kernel_seconds_per_call": round(whole / 1e6 / calls, 4),
            "op_share": {op: round(t / whole, 4) for op, t in top},
            "nodes_per_call": {op: counts.get(op, 0) // calls for op in ("Conv", *REORDER_OPS)}}


def graph_macs(path: Path, events: list[dict], calls: int) -> dict:
    """Multiply-accumulates per call of the convolutions in the model's own graph.

    ``events`` are :func:`profile_events` of the unoptimized graph (``optimized=False``), for the tensor
    shapes; kernel shapes come from the file's initializers. Conv: output elements x (input channels per
    group x kernel area); ConvTranspose: input elements x (output channels per group x kernel area). This is
    what the file asks for, not the padding of ONNX Runtime's blocked layout.

    Returns:
        ``{"graph": all of them, "distinct": the convolutions' useful part}``: per output pixel, the nonzero
        weights of each distinct output kernel. The inference forms do work for the layout's sake that the
        roofline should not credit: CGA's repeats its 2 -> 1 spatial kernel for every channel
        (``backend.nets.fusion``), computes ``1 - w`` with negated copies of its pixel-attention convolutions
        (counted as zero), and the packed first level (``backend.nets.packing``) multiplies by the zero
        blocks between the two branches and computes its attention maps twice.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    weights: dict[str, tuple[list[int], float]] = {}
    negated = _negated_copies(model.graph.node, inits)
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose") and node.input[1] in inits:
            w = inits[node.input[1]]
            useful = _useful_share(w) if node.op_type == "Conv" else 1.0
            weights[node.name] = (list(w.shape), 0.0 if node.name in negated else useful)
    total = distinct = 0
    for event in events:
        op, args = event["args"].get("op_name"), event["args"]
        found = weights.get(event["name"][: -len("_kernel_time")])
        if op not in ("Conv", "ConvTranspose") or found is None:
            continue
        shape = next(iter((args["input_type_shape"][0] if op == "ConvTranspose" else args["output_type_shape"][0])
                          .values()))
        macs = int(np.prod(shape)) * int(np.prod(found[0][1:]))
        total += macs
        distinct += round(macs * found[1])
    return {"graph": total // calls, "distinct": distinct // calls}


def _negated_copies(nodes: Any, inits: dict[str, np.ndarray]) -> set[str]:
    """Names of the Conv nodes computing the negation of an earlier Conv of the same input (no new work)."""
    seen: dict[tuple[str, str, bytes], str] = {}
    copies = set()
    for node in nodes:
        if node.op_type != "Conv" or node.input[1] not in inits:
            continue
        params = [inits[name] for name in node.input[1:] if name in inits]
        attributes = str(sorted((a.name, str(a).replace("\n", " ")) for a in node.attribute))
        key = (node.input[0], attributes, b"".join((p + 0.0).tobytes() for p in params))  # + 0.0: no -0.0
        negation = (node.input[0], attributes, b"".join((0.0 - p).tobytes() for p in params))
        if negation in seen:
            copies.add(node.name)
        seen.setdefault(key, node.name)
    return copies


def _useful_share(weight: np.ndarray) -> float:
    """The share of a conv weight's MACs that are neither zero weights nor repeats of another output kernel."""
    kernels = np.unique(weight.reshape(weight.shape[0], -1), axis=0)
    return float(np.count_nonzero(kernels)) / weight.size


def numpy_sgemm_gflops(threads: int, n: int = 1024, cpu_time: bool = False) -> float:
    """float32 matrix-multiply GFLOP/s of NumPy's BLAS with ``threads`` threads: the compute roof.

    ``cpu_time`` (one thread): GFLOP per second of this process's CPU time instead of wall time.
    """
    from threadpoolctl import threadpool_limits  # lazy: optional helper of the dev environment

    a = np.random.default_rng(0).random((n, n), np.float32)
    b = np.random.default_rng(1).random((n, n), np.float32)
    with threadpool_limits(threads):
        clock = time.process_time if cpu_time else time.perf_counter
        return 2 * n ** 3 / seconds_per_call(lambda: a @ b, min_seconds=1.0, clock=clock) / 1e9


def thread_scaling(path: Path, feeds: dict, rounds: int = 5) -> dict:
    """Seconds per call with 1 and 2 intra-op threads, interleaved, best round of each (wall and CPU), with
    the input's shape fixed as in `map`.

    Also ``speedup_bound_from_cpu``, ``2 x CPU(1 thread) / CPU(2 threads)``: what 2 threads would give with
    both cores free, given the work the second thread adds (synchronisation, imbalance, spinning).
    """
    import onnxruntime as ort

    probe, shape = cpu_session(path, 1), tuple(feeds["x"].shape)
    sessions = {n: ort.InferenceSession(str(path), shape_options(probe, n, shape), providers=["CPUExecutionProvider"])
                for n in (1, 2)}
    wall, cpu = {1: float("inf"), 2: float("inf")}, {1: float("inf"), 2: float("inf")}
    for session in sessions.values():
        session.run(None, feeds)
    for _ in range(rounds):
        for n, session in sessions.items():
            w0, c0 = time.perf_counter(), time.process_time()
            session.run(None, feeds)
            wall[n] = min(wall[n], time.perf_counter() - w0)
            cpu[n] = min(cpu[n], time.process_time() - c0)
    return {"wall_s": {str(n): round(v, 4) for n, v in wall.items()},
            "cpu_s": {str(n): round(v, 4) for n, v in cpu.items()},
            "speedup_2_over_1": round(wall[1] / wall[2], 3),
            # 2 x (CPU of 1 thread / CPU of 2): the wall speed-up if the second core were free; spinning at
            # barriers while a thread waits for a core counts as CPU, so under load this is a lower bound
            "speedup_bound_from_cpu": round(2 * cpu[1] / cpu[2], 3)}


def tile_cost(path: Path, cube: np.ndarray, sizes: tuple[int, ...], rounds: int = 3) -> list[dict]:
    """One-thread CPU microseconds per model pixel at each tile size (best of ``rounds``, interleaved).

    CPU time rather than wall time: on a shared machine it is far less disturbed by other processes. This
    is the per-pixel cost that :data:`backend.tiles.tiling.LARGER_TILE_COST` summarises. Each size runs on a
    session fixed to its shape, as `map` runs it.
    """
    import onnxruntime as ort

    feeds = {n: {"x": np.ascontiguousarray(np.pad(cube, ((0, 0), (0, 0), (0, max(0, n - cube.shape[-2])),
                                                         (0, max(0, n - cube.shape[-1]))), mode="reflect")
                                           [None, ..., :n, :n], np.float32)} for n in sizes}
    free = cpu_session(path, 1)
    sessions = {n: ort.InferenceSession(str(path), shape_options(free, 1, feeds[n]["x"].shape),
                                        providers=["CPUExecutionProvider"]) for n in sizes}
    best = dict.fromkeys(sizes, float("inf"))
    for n in sizes:
        sessions[n].run(None, feeds[n])
    for _ in range(rounds):
        for n in sizes:
            start = time.process_time()
            sessions[n].run(None, feeds[n])
            best[n] = min(best[n], time.process_time() - start)
    return [{"tile": n, "cpu_s": round(best[n], 4), "cpu_us_per_pixel": round(1e6 * best[n] / n / n, 3)}
            for n in sizes]
