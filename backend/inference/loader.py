"""Load a model once (by name, path or the bundled default) into an inference engine."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend import modelstore
from backend.baselines import make_predictor
from backend.contract.verbs.models import DEFAULT_POINTER as DEFAULT_FILE
from backend.contract.verbs.models import default_model_name as default_model_rule
from backend.errors import UserError
from backend.modelstore import BUNDLED_DIR
from backend.modelstore.card import card_threshold
from backend.modelstore.onnx_io import shape_dims
from backend.modelstore.paths import installed_folders
from backend.tiles.engines import (
    PRECISION,
    Engine,
    check_precision,
    has_heatmap_output,
    onnx_engine,
    resolve_engine,
    torch_available,
    torch_engine,
)
from backend.tiles.heatmap import GradCam
from backend.tiles.openvino_engine import openvino_engine

WEIGHTS_FILE = "weights.safetensors"
BASELINE_ARCHS = ("random_forest", "phenology_rules")


def find_default_model() -> str | None:
    """The default model by the contract's one rule (:func:`backend.contract.verbs.models.default_model_name`),
    or None when none is installed.

    Raises:
        UserError: ``models/default.json`` exists but does not name a model.
    """
    pointer_file = BUNDLED_DIR / DEFAULT_FILE
    pointer = None
    if pointer_file.is_file():
        try:
            pointer = json.loads(pointer_file.read_text())
            return default_model_rule(pointer, [])
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{pointer_file} does not name a default model ({exc}); fix it or name a model",
                            param="model") from exc
    installed = []
    for folder in installed_folders():
        try:
            installed.append((folder.name, json.loads((folder / "card.json").read_text())))
        except (OSError, ValueError):
            continue
    return default_model_rule(pointer, installed)


def default_model_name() -> str:
    """The default model's name.

    Raises:
        UserError: no default model is installed.
    """
    name = find_default_model()
    if name is None:
        raise UserError("no default model is installed; run `make pretrain` to build the bundled models, "
                        "or name a model in {param:model}", param="model")
    return name


def check_model(model: str | None, engine: str = "auto", device: str = "auto", key: str = "model",
                precision: str = PRECISION) -> LoadedModel:
    """``model`` resolved and its card read, without loading weights (for ``--check-only``).

    Args:
        key: the contract key of the option that names the model (``model``, ``base_model``).

    Raises:
        UserError: unknown model, unreadable card, or an engine/device that cannot run here.
    """
    try:
        folder = modelstore.resolve(model or default_model_name())
        card = modelstore.load_card(folder, verify=False)
    except UserError as err:
        if err.param in (None, "model"):  # the default model's message names {param:model}
            err.template = err.template.replace("{param:model}", "{param:" + key + "}")
            err.param = key
        raise
    if card["arch"] not in BASELINE_ARCHS and (engine in ("torch", "openvino") or device == "cuda"):
        resolve_engine(engine, device)
    check_precision(engine, precision)
    return LoadedModel(card["name"], folder, card, None)  # type: ignore[arg-type]


@dataclass
class LoadedModel:
    """A model's card and the engine that runs it."""

    name: str
    folder: Path
    card: dict
    engine: Engine

    @property
    def pols(self) -> list[str]:
        return list(self.card["inputs"]["polarizations"])

    @property
    def steps(self) -> int:
        return int(self.card["inputs"]["steps"])

    @property
    def size_multiple(self) -> int:
        return int(self.card["inputs"].get("size_multiple") or 1)

    @property
    def threshold(self) -> float:
        return card_threshold(self.card)

    @property
    def season_days(self) -> int | None:
        days = self.card["inputs"].get("season_days")
        return int(days) if days else None

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.folder), "arch": self.card.get("arch"),
                "version": self.card.get("version"), "fusion": self.card.get("fusion"),
                "threshold": self.threshold}


def _cache_folder(runtime: str) -> Path | None:
    """The user's cache folder for one runtime's derived files (``onnx``, ``openvino``); None if not writable."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "s1ricemapper" / runtime
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base if os.access(base, os.W_OK) else None


def _optimized_cache(card: dict, threads: int, dims: dict[str, int] | None = None) -> Path | None:
    """Where ONNX Runtime keeps this model's optimized graph (per thread count and fixed input dimensions);
    None if not writable."""
    base = _cache_folder("onnx")
    digest = card["files"].get("model.onnx", {}).get("sha256", "x")[:16]
    shape = "".join(f"-{name}{value}" for name, value in sorted((dims or {}).items()))
    return base / f"{card['name']}-{digest}-t{threads}{shape}.onnx" if base is not None else None


def load_model(model: str | None, engine: str = "auto", device: str = "auto", threads: int | None = None,
               heatmap: bool = True, precision: str = PRECISION) -> LoadedModel:
    """Load ``model`` (None = the default) for ``engine`` auto|onnx|torch|openvino on ``device`` auto|cpu|cuda.

    Args:
        model: a model name or folder; None for the default model.
        engine: ``auto``, ``onnx``, ``torch`` or ``openvino`` (see :func:`backend.tiles.engines.resolve_engine`).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: CPU threads; None for the physical core count.
        heatmap: whether heat maps will be asked for (only matters for ONNX graphs exported without the
            heat-map output, whose Grad-CAM then needs PyTorch).
        precision: ``f32``, or ``bf16`` with ``engine`` openvino on a CPU with native bf16.

    Returns:
        The card and a ready engine.

    Raises:
        UserError: unknown model, bad files, impossible engine/device/precision, PyTorch or OpenVINO needed
            but missing.
    """
    name = model or default_model_name()
    folder = modelstore.resolve(name)
    threads = int(threads) if threads else modelstore.physical_cores()
    if threads < 1:
        raise UserError(f"{{param:threads}} {threads}: give at least 1", param="threads")
    check_precision(engine, precision)
    card = modelstore.load_card(folder, verify=True)
    if card["arch"] in BASELINE_ARCHS:
        return LoadedModel(card["name"], folder, card, _baseline_engine(folder, card, threads))
    engine_name, device_name = resolve_engine(engine, device)
    if engine_name == "torch":
        net, card = modelstore.load_torch(folder, device=device_name)
        return LoadedModel(card["name"], folder, card, torch_engine(net, device_name, threads))
    if engine_name == "openvino":
        onnx_path = modelstore.checked_onnx_file(folder, card)
        return LoadedModel(card["name"], folder, card, openvino_engine(onnx_path, card, threads,
                                                                     _cache_folder("openvino"), precision))
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # keep ORT's notes about cached optimized graphs off stderr
    session, card = modelstore.open_onnx(folder, threads=threads, optimized_cache=_optimized_cache(card, threads))
    fallback = None
    if heatmap and not has_heatmap_output(session) and WEIGHTS_FILE in card["files"] and torch_available():
        fallback = _torch_gradcam(folder, threads)  # a graph exported before the heat map was part of it

    def for_shape(shape: tuple[int, ...]) -> Any:
        dims = shape_dims(session, shape)
        cache = _optimized_cache(card, threads, dims)
        return modelstore.open_onnx(folder, threads=threads, optimized_cache=cache, fixed_dims=dims)[0]

    return LoadedModel(card["name"], folder, card, onnx_engine(session, threads, fallback, for_shape))


def _torch_gradcam(folder: Path, threads: int):
    """Autograd Grad-CAM from the model's PyTorch weights (imports torch: only for old ONNX exports)."""
    import torch

    from backend.nets.blocks import inference_form  # lazy: torch (via backend.nets.blocks)

    torch.set_num_threads(threads)
    return GradCam(inference_form(modelstore.load_torch(folder, device="cpu")[0]), "cpu")


def _baseline_engine(folder: Path, card: dict, threads: int) -> Engine:
    """Random Forest / phenology rules: per-pixel models run through backend.baselines (CPU, no heat map)."""
    return Engine(card["arch"], "cpu", threads, _first_channel(make_predictor(folder)))


def _first_channel(predict):
    return lambda batch: predict(batch)[:, 0]
