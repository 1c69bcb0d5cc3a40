"""Inference engines: ONNX Runtime on CPU, PyTorch on CPU or CUDA, behind one small interface.

Every engine takes a batch ``(B, T, C, H, W)`` float32 dB (NaN allowed) and returns rice probabilities
``(B, H, W)`` float32. ``auto`` picks PyTorch when CUDA is available, else ONNX Runtime, which is the
faster CPU path (fused, graph-optimized kernels).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from backend.errors import UserError


def physical_cores() -> int:
    """Physical CPU cores (hyper-threads share one core's arithmetic units, so they do not help)."""
    cores = set()
    try:
        physical = core = None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                physical = line.split(":")[1].strip()
            elif line.startswith("core id"):
                core = line.split(":")[1].strip()
                cores.add((physical, core))
    except OSError:
        pass
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(len(cores) or available, available))


def _optimized_cache_path(onnx_path: Path, threads: int) -> Path:
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "s1-rice-mapper" / "onnx"
    return cache / f"{digest}-t{threads}.onnx"


def onnx_session(onnx_path: str | Path, threads: int | None = None, cache_optimized: bool = True) -> Any:
    """A CPU session tuned for convolutions: full graph optimization, intra-op threads = physical cores,
    sequential execution; the optimized graph is saved in a cache so later starts skip the optimization."""
    import onnxruntime as ort

    onnx_path = Path(onnx_path)
    threads = threads or physical_cores()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = onnx_path
    if cache_optimized:
        cached = _optimized_cache_path(onnx_path, threads)
        if cached.exists():
            source = cached
        else:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                options.optimized_model_filepath = str(cached)
            except OSError:
                pass  # a read-only home only costs the optimization time at each start
    try:
        return ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    except Exception:
        if source != onnx_path:  # a stale or foreign cache entry: fall back to the original model
            return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        raise


@dataclass
class Engine:
    """A loaded model ready for batches; ``heatmap`` is None when no torch weights exist."""

    name: str
    device: str
    threads: int
    predict: Callable[[np.ndarray], np.ndarray]
    heatmap: Callable[[np.ndarray, float], np.ndarray] | None = None
    info: dict = field(default_factory=dict)


def torch_engine(net: Any, device: str, threads: int) -> Engine:
    """PyTorch eager engine; float32 on CPU or CUDA."""
    import torch

    from backend.inference.heatmap import GradCam

    torch.set_num_threads(threads)
    net = net.eval().to(device)

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = net(torch.from_numpy(np.ascontiguousarray(batch)).to(device))
            return torch.sigmoid(logits)[:, 0].float().cpu().numpy()

    return Engine("torch", device, threads, predict, GradCam(net, device))


def onnx_engine(session: Any, threads: int, heatmap_net: Any | None = None) -> Engine:
    """ONNX Runtime engine on CPU; the heat map, if wanted, comes from the torch weights."""
    from backend.inference.heatmap import GradCam

    input_name = session.get_inputs()[0].name
    output_name = session.get_outputs()[0].name

    def predict(batch: np.ndarray) -> np.ndarray:
        return session.run([output_name], {input_name: np.ascontiguousarray(batch, np.float32)})[0][:, 0]

    heatmap = GradCam(heatmap_net.eval(), "cpu") if heatmap_net is not None else None
    return Engine("onnx", "cpu", threads, predict, heatmap)


def resolve_engine(engine: str, device: str) -> tuple[str, str]:
    """Turn ``auto`` choices into what will actually run, refusing impossible combinations."""
    import torch

    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise UserError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu or auto")
    if engine == "auto":
        engine = "torch" if (cuda and device != "cpu") else "onnx"
    if engine == "onnx":
        if device == "cuda":
            raise UserError("--engine onnx runs on the CPU only; use --engine torch for --device cuda")
        return "onnx", "cpu"
    return "torch", ("cuda" if cuda and device != "cpu" else "cpu")
