"""Inference engines: ONNX Runtime on CPU, PyTorch on CPU or CUDA, behind one small interface.

Every engine takes a batch ``(B, T, C, H, W)`` float32 dB (NaN allowed) and returns rice probabilities
``(B, H, W)`` float32; ``predict_with_heatmap`` also returns the heat map ``(B, H, W)`` in [0, 1]. ``auto``
picks PyTorch when CUDA is available, else ONNX Runtime, which is the faster CPU path (fused,
graph-optimized kernels). The ONNX path never imports PyTorch: the heat map is an output of the graph
(:mod:`backend.nets.cam`), computed in the same call as the probabilities. ``openvino`` runs the same ONNX
file through Intel's OpenVINO runtime in f32, or bf16 on request (an optional extra: faster than ONNX
Runtime on some CPUs, slower in f32 on others, docs/mapping.md), never chosen by ``auto``.
"""

from __future__ import annotations

import glob
import importlib.util
import math
import os
import shutil
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from backend.contract import param_token
from backend.contract.shared import PRECISIONS
from backend.errors import UserError
from backend.modelstore.onnx_io import HEATMAP_NAME, INPUT_NAME, OUTPUT_NAME, THRESHOLD_NAME
from backend.tiles.heatmap import GradCam

#: The optional part of the backend environment that brings PyTorch (issue 12's lean install).
TORCH_EXTRA = "gpu"
TORCH_HINT = (f"PyTorch is not installed in the backend environment; install the backend's '{TORCH_EXTRA}' "
              "extra (CUDA PyTorch; 'training' for the CPU build): Settings in the plugin, or "
              f"python3 <plugin folder>/plugin/backend_setup.py --extras {TORCH_EXTRA}; or use {param_token('engine')} onnx")

#: The optional extra that brings OpenVINO (requirements/openvino.txt).
OPENVINO_EXTRA = "openvino"
OPENVINO_INSTALL = (f"install the backend's '{OPENVINO_EXTRA}' extra: Settings in the plugin, or python3 "
                    f"<plugin folder>/plugin/backend_setup.py --extras {OPENVINO_EXTRA}")
OPENVINO_HINT = f"OpenVINO is not installed in the backend environment; {OPENVINO_INSTALL}; or use {param_token('engine')} onnx"
#: What every engine computes in by default: OpenVINO is told so, since its own default on CPUs with native
#: bf16 (AMX, AVX512-BF16) is bf16, which changed 0.03 % of the labels of a synthetic scene (docs/mapping.md).
#: The other, bfloat16, runs only through OpenVINO on a CPU that computes it natively (``--precision bf16``).
PRECISION, BF16 = PRECISIONS

GRAPH_CAM = ("Grad-CAM of the rice class at the input of the last decoder block (gradient in closed form, "
             "forward-only), per-tile max-normalised to [0, 1]")
AUTOGRAD_CAM = "Grad-CAM of the rice class on the bottleneck features, per-tile max-normalised to [0, 1]"

HeatmapPredict = Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]]


@dataclass
class Engine:
    """A loaded model ready for batches; ``predict_with_heatmap`` is None when it cannot give a heat map."""

    name: str
    device: str
    threads: int
    predict: Callable[[np.ndarray], np.ndarray]
    predict_with_heatmap: HeatmapPredict | None = None
    info: dict = field(default_factory=dict)
    precision: str = PRECISION


def logit(probability: float) -> float:
    """``log(p / (1 - p))``, clipped so that thresholds 0 and 1 stay finite."""
    p = min(max(float(probability), 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def torch_available() -> bool:
    """Whether PyTorch can be imported (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def openvino_available() -> bool:
    """Whether OpenVINO can be imported (without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver is visible, checked without importing PyTorch (which costs seconds).

    Linux: the driver's ``/proc`` entry or a ``/dev/nvidia<N>`` device; elsewhere: ``nvidia-smi`` on PATH.
    Only when this is true does ``auto`` import PyTorch to ask CUDA itself.
    """
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or bool(glob.glob("/dev/nvidia[0-9]*"))
    return shutil.which("nvidia-smi") is not None


def require_torch(what: str) -> None:
    """Raise a :class:`UserError` naming the extra to install when PyTorch is missing.

    Args:
        what: the option or feature that needs PyTorch, for the message (e.g. ``"--engine torch"``).

    Raises:
        UserError: PyTorch is not importable.
    """
    if not torch_available():
        raise UserError(f"{what} needs PyTorch: {TORCH_HINT}", param="engine")


def torch_engine(net: Any, device: str, threads: int) -> Engine:
    """PyTorch eager engine; float32 on CPU or CUDA, running the network's inference form.

    The heat map is the same forward-only Grad-CAM as the ONNX graph's where the network has the layers
    for it (:mod:`backend.nets.cam`), else autograd Grad-CAM (:mod:`backend.tiles.heatmap`).
    """
    import torch

    from backend.nets.blocks import inference_form  # lazy: torch (via backend.nets.blocks)
    from backend.nets.cam import ProbabilityAndHeatmap, cam_layers  # lazy: torch (via backend.nets.blocks)

    torch.set_num_threads(threads)
    net = inference_form(net).to(device)
    joint = ProbabilityAndHeatmap(net).eval() if cam_layers(net) is not None else None
    gradcam = None if joint is not None else GradCam(net, device)

    def tensor(batch: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(batch)).to(device)

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.sigmoid(net(tensor(batch)))[:, 0].float().cpu().numpy()

    def predict_with_heatmap(batch: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        if gradcam is not None:
            return predict(batch), gradcam(batch, threshold)
        with torch.inference_mode():
            prob, heat = joint(tensor(batch), torch.tensor(logit(threshold), device=device))
        return prob[:, 0].float().cpu().numpy(), heat[:, 0].float().cpu().numpy()

    method = AUTOGRAD_CAM if gradcam is not None else GRAPH_CAM
    return Engine("torch", device, threads, predict, predict_with_heatmap, {"heatmap": method})


def has_heatmap_output(session: Any) -> bool:
    """Whether an ONNX Runtime session's graph computes the heat map (models exported since issue 15)."""
    return HEATMAP_NAME in {o.name for o in session.get_outputs()}


#: Opens a session of the model for one input shape ``(1, T, C, H, W)``, every dimension fixed.
SessionForShape = Callable[[tuple[int, ...]], Any]


class ShapeSessions:
    """ONNX Runtime sessions of one model, each optimized for one tile shape (as OpenVINO compiles them).

    A run's tiles all have one size, so a run needs one session. Every dimension is fixed, the batch to
    one tile: :func:`onnx_engine` runs a batch of several tiles as single-tile calls, since with a free
    batch the squeeze-excitation gates' resize scales are not constants and the graph leaves ONNX Runtime's
    blocked layout at every gate (4 tiles of 272² in one call took 1.05 s against 0.19 s per single-tile
    call, docs/mapping.md). At most ``keep`` sessions stay open (a manifest's scenes may take different
    tiles); the least recently used one is dropped.
    """

    def __init__(self, generic: Any, for_shape: SessionForShape | None, keep: int = 2) -> None:
        self.generic, self.for_shape, self.keep = generic, for_shape, keep
        self.sessions: dict[tuple, Any] = {}
        self.lock = threading.Lock()  # a Dask worker may call one engine from several threads

    def session(self, shape: tuple[int, ...]) -> Any:
        """The session for one tile of ``shape`` ``(1, T, C, H, W)``: the generic one when no shapes are fixed."""
        if self.for_shape is None:
            return self.generic
        if shape[0] != 1:
            raise ValueError(f"shape-fixed sessions run one tile per call, got a batch of {shape[0]}")
        key = tuple(shape)
        with self.lock:
            if key in self.sessions:
                self.sessions[key] = self.sessions.pop(key)  # most recently used last
            else:
                if len(self.sessions) >= self.keep:
                    self.sessions.pop(next(iter(self.sessions)))
                self.sessions[key] = self.for_shape(key)
            return self.sessions[key]

    def calls(self, batch: np.ndarray) -> list[np.ndarray]:
        """``batch`` split into model calls: whole on the generic session, else one tile per call."""
        return [batch] if self.for_shape is None else [batch[i:i + 1] for i in range(len(batch))]

    def run(self, batch: np.ndarray, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The graph's ``outputs`` for every tile of ``batch`` ``(B, T, C, H, W)``, each ``(B, H, W)``.

        ``feeds`` are the inputs besides the tiles (the heat map's threshold); a batch of no tiles gives
        empty maps without a call.
        """
        if not len(batch):
            return [np.zeros((0, *batch.shape[-2:]), np.float32) for _ in outputs]
        batch = np.ascontiguousarray(batch, np.float32)
        parts = [self.session(part.shape).run(outputs, {INPUT_NAME: part, **feeds}) for part in self.calls(batch)]
        if len(parts) > 1:
            parts = [[np.concatenate([part[i] for part in parts]) for i in range(len(outputs))]]
        return [output[:, 0] for output in parts[0]]


def onnx_engine(session: Any, threads: int, heatmap: HeatmapPredict | None = None,
                for_shape: SessionForShape | None = None) -> Engine:
    """ONNX Runtime engine on CPU.

    Args:
        session: an ``onnxruntime.InferenceSession`` with input ``x`` and output ``probability``.
        threads: intra-op threads the session was made with (recorded in run.json).
        heatmap: a fallback heat-map function for graphs without a ``heatmap`` output (older exports);
            None gives no heat map for such graphs.
        for_shape: opens the same model optimized for one tile shape (:class:`ShapeSessions`); a batch of
            several tiles then runs one tile per call. None runs every batch whole on ``session``.

    Returns:
        The engine; its heat map comes from the graph itself when the graph has that output.
    """
    sessions = ShapeSessions(session, for_shape)

    def predict(batch: np.ndarray) -> np.ndarray:
        return sessions.run(batch, [OUTPUT_NAME], {})[0]

    def predict_with_heatmap(batch: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        cutoff = np.array(logit(threshold), np.float32)
        prob, heat = sessions.run(batch, [OUTPUT_NAME, HEATMAP_NAME], {THRESHOLD_NAME: cutoff})
        return prob, heat

    if has_heatmap_output(session):
        return Engine("onnx", "cpu", threads, predict, predict_with_heatmap, {"heatmap": GRAPH_CAM})
    if heatmap is None:
        return Engine("onnx", "cpu", threads, predict, None, {"heatmap": None})
    return Engine("onnx", "cpu", threads, predict, lambda batch, threshold: (predict(batch), heatmap(batch, threshold)),
                  {"heatmap": AUTOGRAD_CAM})


def resolve_engine(engine: str, device: str) -> tuple[str, str]:
    """Turn ``auto`` choices into what will actually run, refusing impossible combinations.

    ``auto`` never picks OpenVINO: it is an optional extra, faster only on some CPUs.

    ``--engine onnx`` on the CPU never imports PyTorch (about 300 MB less resident memory and seconds of
    start-up), and neither does ``auto`` without an NVIDIA driver or without PyTorch installed (the lean
    environment): then it is ONNX Runtime on the CPU.

    Raises:
        UserError: CUDA asked for but not visible, ONNX or OpenVINO asked for on CUDA, or PyTorch or
            OpenVINO needed but missing.
    """
    if engine == "openvino":
        return _resolve_openvino(device)
    if engine == "onnx" and device != "cuda":
        return "onnx", "cpu"
    if engine == "auto" and device != "cuda" and (device == "cpu" or not nvidia_gpu_present()
                                                  or not torch_available()):
        return "onnx", "cpu"
    if engine == "onnx":
        raise UserError(f"{param_token('engine')} onnx runs on the CPU only; use {param_token('engine')} torch for "
                        f"{param_token('device')} cuda", param="engine")
    engine_flag, device_flag = param_token("engine"), param_token("device")
    require_torch(f"{engine_flag} {engine} {device_flag} cuda" if device == "cuda" else f"{engine_flag} {engine}")
    import torch

    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise UserError(f"{param_token('device')} cuda: no CUDA GPU is visible to PyTorch; use "
                        f"{param_token('device')} cpu or auto", param="device")
    if engine == "auto":
        engine = "torch" if (cuda and device != "cpu") else "onnx"
    if engine == "onnx":
        return "onnx", "cpu"
    return "torch", ("cuda" if cuda and device != "cpu" else "cpu")


def check_precision(engine: str, precision: str) -> None:
    """``--precision bf16`` needs ``--engine openvino`` (the CPU check comes when OpenVINO is loaded).

    Raises:
        UserError: bf16 asked for with another engine.
    """
    if precision != PRECISION and engine != "openvino":
        raise UserError(f"{param_token('precision')} {precision} runs with {param_token('engine')} openvino only "
                        f"(on a CPU that computes bf16 natively); add {param_token('engine')} openvino or use "
                        f"{param_token('precision')} {PRECISION}", param="precision")


def _resolve_openvino(device: str) -> tuple[str, str]:
    """``--engine openvino``: the CPU, with OpenVINO installed."""
    engine_flag = param_token("engine")
    if device == "cuda":
        raise UserError(f"{engine_flag} openvino runs on the CPU only; use {engine_flag} torch for "
                        f"{param_token('device')} cuda", param="engine")
    if not openvino_available():
        raise UserError(f"{engine_flag} openvino needs OpenVINO: {OPENVINO_HINT}", param="engine")
    return "openvino", "cpu"
