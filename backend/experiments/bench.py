"""The ``bench`` experiment: throughput, int8 accuracy, roofline ratio, tile-size dependence and peak memory of `map`."""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from backend import modelstore
from backend.atomic import AtomicOutputs
from backend.contract.verbs.bench import SCENE_SIZES
from backend.contract.verbs.bench import VERB as CONTRACT
from backend.experiments import inference_bench as bm
from backend.experiments.bigscene import bench_dates, measure_map_run, write_bench_scene
from backend.experiments.deepness import compare
from backend.experiments.inference_bench import seconds_per_call, tile_dependence
from backend.inference.loader import default_model_name
from backend.inference.mapping import DEFAULT_OVERLAP, DEFAULT_TILE
from backend.modelstore.card import card_threshold
from backend.progress import Reporter
from backend.synthetic import generate_scene
from backend.synthetic.writer import write_scene
from backend.tiles.engines import torch_engine

TILE = DEFAULT_TILE
PIXEL_KM2 = 100 / 1e6  # 10 m pixels



#: The CPU features ONNX Runtime's kernels depend on (NCHWc block 8 on AVX2, 16 on AVX-512; int8 needs VNNI):
#: two machines of the same name can differ here, and the reorder share and int8 speed with them.
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_record() -> dict:
    """The CPU's name and which of :data:`SIMD_FLAGS` it has, for every result that reports a speed."""
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
               platform.processor())
    flags = set(next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), []))
    return {"cpu": cpu, "simd": [f for f in SIMD_FLAGS if f in flags]}


def _machine(threads: int) -> dict:
    import onnxruntime
    import torch

    return {**cpu_record(), "threads": threads,
            "platform": platform.platform(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def run_bench(args: argparse.Namespace, reporter: Reporter) -> dict:
    """Every measurement ``args`` asks for, written atomically to the contract's ``bench`` JSON.

    Args:
        args: the parsed ``bench`` options (see ``backend/contract/verbs/bench.py``).
        reporter: progress and log sink.

    Returns:
        The result, as also written to the output folder.
    """
    model = args.model or default_model_name()
    with AtomicOutputs(args.out, overwrite=True) as outputs:
        bench_json = outputs.path(CONTRACT.output("bench"))
        if args.deepness_only:
            result = {"model": {"name": model}, "deepness": _deepness(model, args, reporter)}
        elif args.memory_only:
            result = _measure_memory_only(model, args, reporter)
        else:
            result = _measure(model, args, reporter)
            if args.deepness:
                result["deepness"] = _deepness(model, args, reporter)
                result["targets"]["deepness_speed_ratio>=1.5"] = _deepness_ratio(result["deepness"])
        bench_json.write_text(json.dumps(result, indent=2))
        outputs.commit()
    return result


class _Setup:
    """The model under test, its engines and the synthetic/real tiles every measurement shares."""

    def __init__(self, model_name: str, args: argparse.Namespace) -> None:
        import numpy as np
        import torch


        self.threads = args.threads or modelstore.physical_cores()
        torch.set_num_threads(self.threads)
        self.net, self.card = modelstore.load_torch(model_name)
        self.folder = modelstore.resolve(model_name)
        modelstore.open_onnx(self.folder, threads=self.threads)  # the files verified
        self.fp32 = bm.cpu_engine(self.folder / "model.onnx", self.threads)
        self.eager = torch_engine(self.net, "cpu", self.threads)
        self.multiple = int(self.card["inputs"]["size_multiple"])
        self.threshold = card_threshold(self.card)
        self.region = _heldout_region()
        self.val_cube, self.val_truth = bm.synthetic_scene(self.card, self.region, TILE, seed=9001)
        self.calibration = [t for seed in (11, 12)
                            for t in bm.crops(bm.synthetic_scene(self.card, "mekong", 128, seed)[0], 64)]
        self.calibration += bm.real_tiles(self.card, 64, limit=8)
        self.batch = np.repeat(self.val_cube[None], args.batch, axis=0)

    def f1(self, engine) -> float | None:
        prob = bm.scene_probability(engine, self.val_cube, TILE, DEFAULT_OVERLAP, self.multiple)
        return bm.f1_score(prob, self.val_truth, self.threshold)


def _speed(tiles_s: float) -> dict:
    new_pixels = (TILE - DEFAULT_OVERLAP) ** 2  # scene area each tile adds at the default overlap
    return {"tiles_per_s": round(tiles_s, 3), "km2_per_min": round(tiles_s * new_pixels * PIXEL_KM2 * 60, 2)}


def _engines_and_int8(setup: _Setup, args: argparse.Namespace, reporter: Reporter) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        int8_path = bm.quantize_int8(setup.folder / "model.onnx", Path(tmp), setup.calibration)
        int8 = bm.cpu_engine(int8_path, setup.threads)
        reporter.advance(1, "throughput")
        rates = bm.tiles_per_second({"onnx_fp32": setup.fp32, "onnx_int8": int8, "pytorch_cpu_eager": setup.eager},
                                    setup.batch, 2.0 if args.quick else 5.0, rounds=2 if args.quick else 3)
        reporter.advance(1, "int8 accuracy")
        f1_fp32, f1_int8 = setup.f1(setup.fp32), setup.f1(int8)
    return {
        "engines": {name: _speed(rate) for name, rate in rates.items()},
        "km2_per_min_note": f"tiles/s x ({TILE}-{DEFAULT_OVERLAP})² new pixels per tile x 100 m² (10 m pixels); "
                            "reading, compositing and writing are not included",
        "int8": {"calibration_tiles": len(setup.calibration), "real_calibration": bm.REAL_DATA.exists(),
                 "validation_scene": f"synthetic {setup.region} {TILE}², seed 9001", "f1_fp32": f1_fp32,
                 "f1_int8": f1_int8,
                 "f1_change": None if f1_fp32 is None or f1_int8 is None else f1_int8 - f1_fp32},
        "validation_f1": f1_fp32,
    }


def _roofline(setup: _Setup, onnx_tiles_s: float) -> dict:
    """ONNX Runtime fp32 GFLOP/s (2 x the graph's convolution MACs x tiles/s) over NumPy's float32 SGEMM
    GFLOP/s, both measured in this process with the same threads."""
    path = setup.folder / "model.onnx"
    feeds = {"x": setup.batch[:1]}
    counted = bm.graph_macs(path, bm.profile_events(path, feeds, setup.threads, optimized=False, runs=1), 1)
    macs = counted["distinct"]
    peak = bm.numpy_sgemm_gflops(setup.threads)
    achieved = 2 * macs * onnx_tiles_s / 1e9
    return {"macs_per_tile": macs, "graph_macs_per_tile": counted["graph"],
            "macs_source": "Conv/ConvTranspose shapes of the file's graph (ORT profile); zero weights left out "
                           "and a kernel repeated over output channels counted once",
            "sgemm_gflops": round(peak, 2), "sgemm": "numpy float32 1024² matmul, same threads",
            "onnx_fp32_gflops": round(achieved, 2), "ratio": round(achieved / peak, 3)}


def _graph_profile(setup: _Setup, macs_per_tile: int) -> dict:
    """Where ONNX Runtime's kernel time goes (reorders' share), 2 threads vs 1, per-pixel cost per tile size,
    and the roofline ratio in one-thread CPU time (which a loaded machine disturbs far less than wall time)."""
    import os

    path, feeds = setup.folder / "model.onnx", {"x": setup.batch[:1]}
    calls = 2
    profile = bm.kernel_breakdown(bm.profile_events(path, feeds, setup.threads, runs=calls), calls)
    cost = bm.tile_cost(path, setup.val_cube, (TILE, 288, 320, 384))
    sgemm = bm.numpy_sgemm_gflops(1, cpu_time=True)
    model = 2 * macs_per_tile / cost[0]["cpu_s"] / 1e9
    return {"tile": TILE, "ort_profile": profile, "threads": bm.thread_scaling(path, feeds), "tile_cost": cost,
            "roofline_cpu_1thread": {"sgemm_gflops_per_cpu_s": round(sgemm, 2),
                                     "onnx_fp32_gflops_per_cpu_s": round(model, 2), "ratio": round(model / sgemm, 3)},
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def _measure(model_name: str, args: argparse.Namespace, reporter: Reporter) -> dict:
    import torch


    reporter.stage("bench", 7, "synthetic scenes and engines")
    setup = _Setup(model_name, args)
    reporter.advance(1, "int8 quantization")
    result: dict = {"model": {"name": setup.card["name"], "arch": setup.card["arch"], "fusion": setup.card["fusion"],
                              "params": sum(p.numel() for p in setup.net.parameters())},
                    "machine": _machine(setup.threads), "tile": TILE, "overlap": DEFAULT_OVERLAP, "batch": args.batch}
    result.update(_engines_and_int8(setup, args, reporter))
    engines = result["engines"]
    reporter.advance(1, "roofline")
    result["roofline"] = _roofline(setup, engines["onnx_fp32"]["tiles_per_s"])
    result["graph"] = _graph_profile(setup, result["roofline"]["macs_per_tile"])
    torch.set_num_threads(setup.threads)
    result["ratios"] = {"onnx_fp32_over_pytorch": _ratio(engines["onnx_fp32"], engines["pytorch_cpu_eager"]),
                        "int8_over_fp32": _ratio(engines["onnx_int8"], engines["onnx_fp32"])}
    reporter.advance(1, "tile-size dependence")
    sizes = [s for s in args.tile_sizes if s % setup.multiple == 0]
    result["tile_dependence"] = tile_dependence(setup.fp32, setup.val_cube, sizes, DEFAULT_OVERLAP, setup.multiple,
                                                setup.threshold)
    reporter.advance(1, "GPU")
    result["cuda"] = _cuda(setup.net, setup.batch) if torch.cuda.is_available() else None
    reporter.advance(1, "peak memory")
    result["memory"] = [] if args.skip_memory else _memory(model_name, args, reporter)
    result["targets"] = _targets(result)
    return result


def _deepness(model_name: str, args: argparse.Namespace, reporter: Reporter) -> dict:
    """Our default `map` against Deepness's engine on synthetic Mekong scenes (see backend.experiments.deepness)."""
    import os

    scenes = []
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        for size in args.deepness_sizes:
            folder = Path(tmp) / f"mekong{size}"
            reporter.log(f"deepness: synthetic Mekong {size}² scene, {args.deepness_rounds} interleaved rounds")
            write_scene(generate_scene("mekong", size, 1), folder, "a", units="linear", reporter=Reporter("none"))
            scene = compare(folder, model_name, args.deepness_rounds, Path(tmp) / f"work{size}",
                            repo=args.deepness_repo)
            scenes.append({"size": size, **scene})
            if "skipped" in scene:
                reporter.log(f"deepness comparison skipped: {scene['skipped']}")
                break
    return {"scenes": scenes, "cpu_count": os.cpu_count()}


def _deepness_ratio(deepness: dict) -> float | None:
    """The median wall-time ratio (Deepness / ours) of the largest compared scene."""
    done = [s for s in deepness.get("scenes", []) if "speed_ratio_wall" in s]
    return done[-1]["speed_ratio_wall"]["median"] if done else None


def _ratio(a: dict, b: dict) -> float | None:
    return round(a["tiles_per_s"] / b["tiles_per_s"], 3) if b["tiles_per_s"] else None


def _heldout_region() -> str:
    try:
        from backend.training.recipes import HELDOUT_REGION  # lazy: optional (ImportError handled)
        return HELDOUT_REGION
    except ImportError:
        return "sacramento"


def _cuda(net, batch) -> dict:
    import torch


    gpu_net = net.to("cuda").eval()
    x = torch.from_numpy(batch).cuda()

    def fp32() -> None:
        with torch.inference_mode():
            gpu_net(x)
        torch.cuda.synchronize()

    def fp16() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
            gpu_net(x)
        torch.cuda.synchronize()

    return {"device": torch.cuda.get_device_name(0),
            "fp32_tiles_per_s": round(batch.shape[0] / seconds_per_call(fp32, 2.0, warmup=3), 2),
            "fp16_tiles_per_s": round(batch.shape[0] / seconds_per_call(fp16, 2.0, warmup=3), 2)}


def _memory(model_name: str, args: argparse.Namespace, reporter: Reporter) -> list[dict]:
    """Peak memory of `map` (ONNX engine unless ``--memory-engine``, default tile/overlap) on generated scenes
    with 13 dates.

    The scene-size series runs without the heat map (the memory target is about the map); one extra 1k²
    run includes it, to show its cost.
    """
    sizes = args.scene_sizes or (SCENE_SIZES[:2] if args.quick else SCENE_SIZES)
    base = ["--engine", args.memory_engine] + (["--threads", str(args.threads)] if args.threads else [])
    runs = [(size, ["--no-heatmap"]) for size in sizes]
    if min(sizes) <= SCENE_SIZES[0]:  # the heat map's cost, shown on the smallest scene only
        runs.append((min(sizes), []))
    records = []
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        for size, extra in runs:
            folder = Path(tmp) / f"scene{size}"
            if not (folder / "VV.tif").exists():
                write_bench_scene(folder, size, bench_dates(13))
            reporter.log(f"peak memory: mapping a {size}² scene with 13 dates {' '.join(extra)}")
            record = measure_map_run(folder / "VV.tif", folder / "VH.tif", Path(tmp) / f"map{size}", model_name,
                                     base + extra, timeout=6 * 3600)
            records.append({"size": size, "dates": 13, **record})
    return records


def _measure_memory_only(model_name: str, args: argparse.Namespace, reporter: Reporter) -> dict:
    """``--memory-only``: the peak-memory runs alone, for the long 10k² measurement."""
    threads = args.threads or modelstore.physical_cores()
    reporter.stage("bench", 1, "peak memory")
    memory = _memory(model_name, args, reporter)
    reporter.advance(1, "peak memory")
    return {"model": {"name": model_name}, "machine": _machine(threads), "tile": TILE, "overlap": DEFAULT_OVERLAP,
            "memory": memory, "targets": {"peak_rss_10k_mb<=1024": _map_peaks(memory).get(10240)}}


def _map_peaks(memory: list[dict]) -> dict[int, float]:
    """Peak RSS per scene size of the successful runs without heat map (the ones the target is about)."""
    return {m["size"]: m["peak_rss_mb"] for m in memory if m.get("exit_code") == 0 and not m.get("heatmap")}


def _targets(result: dict) -> dict:
    """The issue's targets next to what was measured (None where not measured)."""
    memory = _map_peaks(result.get("memory", []))
    change = result["int8"]["f1_change"]
    return {
        "onnx_fp32_over_pytorch>=2": result["ratios"]["onnx_fp32_over_pytorch"],
        "roofline_ratio>=0.5": result["roofline"]["ratio"],
        "roofline_ratio_cpu_1thread>=0.5": result["graph"]["roofline_cpu_1thread"]["ratio"],
        "reorder_share<=0.05": result["graph"]["ort_profile"]["reorder_share"],
        "threads_2_over_1>=1.7": result["graph"]["threads"]["speedup_2_over_1"],
        "int8_over_fp32>=1.8": result["ratios"]["int8_over_fp32"],
        "int8_f1_change<=0.01": None if change is None else abs(change),
        "peak_rss_10k_mb<=1024": memory.get(10240),
        "validation_f1>=0.90": result["validation_f1"],
    }
