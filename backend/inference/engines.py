"""Inference engines: ONNX Runtime on CPU, PyTorch on CPU or CUDA, behind one small interface.

Every engine takes a batch ``(B, T, C, H, W)`` float32 dB (NaN allowed) and returns rice probabilities
``(B, H, W)`` float32. ``auto`` picks PyTorch when CUDA is available, else ONNX Runtime, which is the
faster CPU path (fused, graph-optimized kernels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from backend.errors import UserError


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
    """PyTorch eager engine; float32 on CPU or CUDA, running the network's inference form."""
    import torch

    from backend.inference.heatmap import GradCam
    from backend.nets.blocks import inference_form

    torch.set_num_threads(threads)
    net = inference_form(net).to(device)

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = net(torch.from_numpy(np.ascontiguousarray(batch)).to(device))
            return torch.sigmoid(logits)[:, 0].float().cpu().numpy()

    return Engine("torch", device, threads, predict, GradCam(net, device))


def onnx_engine(session: Any, threads: int, heatmap_net: Any | None = None) -> Engine:
    """ONNX Runtime engine on CPU; the heat map, if wanted, comes from the torch weights."""
    from backend.inference.heatmap import GradCam
    from backend.nets.blocks import inference_form

    input_name = session.get_inputs()[0].name
    output_name = session.get_outputs()[0].name

    def predict(batch: np.ndarray) -> np.ndarray:
        return session.run([output_name], {input_name: np.ascontiguousarray(batch, np.float32)})[0][:, 0]

    heatmap = GradCam(inference_form(heatmap_net), "cpu") if heatmap_net is not None else None
    return Engine("onnx", "cpu", threads, predict, heatmap)


def resolve_engine(engine: str, device: str) -> tuple[str, str]:
    """Turn ``auto`` choices into what will actually run, refusing impossible combinations.

    ``--engine onnx`` on the CPU never imports PyTorch (about 300 MB less resident memory)."""
    if engine == "onnx" and device != "cuda":
        return "onnx", "cpu"
    import torch

    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise UserError("{param:device} cuda: no CUDA GPU is visible to PyTorch; choose cpu or auto", param="device")
    if engine == "auto":
        engine = "torch" if (cuda and device != "cpu") else "onnx"
    if engine == "onnx":
        if device == "cuda":
            raise UserError("{param:engine} onnx runs on the CPU only; choose torch for {param:device} cuda",
                            param="engine")
        return "onnx", "cpu"
    return "torch", ("cuda" if cuda and device != "cpu" else "cpu")
