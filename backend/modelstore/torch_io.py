"""PyTorch side of the model store: save a network (safetensors + ONNX + card), load it back."""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from backend.errors import UserError
from backend.modelstore.card import COMPOSITE, load_card, new_card
from backend.modelstore.onnx_io import (
    HEATMAP_NAME,
    INPUT_NAME,
    ONNX_FILE,
    OUTPUT_NAME,
    THRESHOLD_NAME,
    give_input_default,
)
from backend.modelstore.paths import confined_file, resolve
from backend.modelstore.writer import write_model_folder
from backend.nets import ARCHITECTURES, build_model
from backend.nets.blocks import RiceNet, inference_form
from backend.nets.cam import DEFAULT_LOGIT_THRESHOLD, ProbabilityAndHeatmap, cam_layers

WEIGHTS_FILE = "weights.safetensors"
OPSET = 17
PARITY_TOLERANCE = 1e-4


class ProbabilityWrapper(nn.Module):
    """What the ONNX graph computes: the network's logits through a sigmoid."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def card_for(net: RiceNet, card: dict, default_name: str) -> dict:
    """Complete ``card`` with everything the network itself knows (architecture, inputs, normalization)."""
    inputs = {**card.get("inputs", {}), "polarizations": list(net.polarizations), "steps": net.steps,
              "units": "dB", "normalization": net.normalization(), "size_multiple": net.size_multiple,
              "composite": COMPOSITE}
    inputs.setdefault("season_days", None)
    base = new_card(**{k: v for k, v in card.items() if k not in ("files", "size_bytes")})
    return {**base, "name": card.get("name") or default_name, "arch": net.arch, "arch_kwargs": net.arch_kwargs,
            "fusion": {"scheme": net.fusion_scheme, "method": net.fusion_method}, "inputs": inputs}


def example_input(net: RiceNet, side: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """Synthetic dB input around each polarization's mean, with a few NaN pixels."""
    gen = torch.Generator().manual_seed(seed)
    stats = net.normalization()
    x = torch.randn(batch, net.steps, len(net.polarizations), side, side, generator=gen) * 3
    x += torch.tensor([stats[p]["mean"] for p in net.polarizations]).view(1, 1, -1, 1, 1)
    x[:, 0, :, :2, :2] = float("nan")
    return x


def export_side(net: RiceNet) -> int:
    m = net.size_multiple
    return max(32 // m, 2) * m


def export_onnx(net: RiceNet, path: Path) -> None:
    """Export probabilities (and, where the network allows, the heat map) with dynamic batch, height, width.

    The graph is the network's inference form (re-parameterised blocks folded, see
    :func:`backend.nets.blocks.inference_form`); :func:`onnx_parity` compares it with ``net`` itself.
    Networks with a conv-BN-ReLU block before a 1x1 head also get the output ``heatmap``
    (:mod:`backend.nets.cam`, forward-only Grad-CAM) and the optional scalar input ``logit_threshold``
    (default 0, i.e. probability 0.5), so a map with heat map needs one ONNX Runtime call per batch.
    """
    deployed = inference_form(net)
    with_cam = cam_layers(deployed) is not None
    wrapper = (ProbabilityAndHeatmap(deployed) if with_cam else ProbabilityWrapper(deployed)).eval()
    x = example_input(net, export_side(net))
    args = (x, torch.tensor(DEFAULT_LOGIT_THRESHOLD)) if with_cam else (x,)
    spatial = {0: "batch", 2: "height", 3: "width"}
    outputs = [OUTPUT_NAME, HEATMAP_NAME] if with_cam else [OUTPUT_NAME]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side constants are expected here
        torch.onnx.export(wrapper, args, str(path), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME] + ([THRESHOLD_NAME] if with_cam else []),
                          output_names=outputs,
                          dynamic_axes={INPUT_NAME: {0: "batch", 3: "height", 4: "width"},
                                        **{name: spatial for name in outputs}})
    if with_cam:
        give_input_default(path, THRESHOLD_NAME, DEFAULT_LOGIT_THRESHOLD)


def onnx_parity(net: RiceNet, onnx_path: Path, side: int | None = None) -> float:
    """Max |p_torch - p_onnx| on a synthetic input of another size than the export's."""
    import onnxruntime as ort

    side = side or export_side(net) + net.size_multiple * max(8 // net.size_multiple, 1)
    x = example_input(net, side, batch=2, seed=1)
    with torch.no_grad():
        expected = ProbabilityWrapper(net).eval()(x).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    return float(np.max(np.abs(expected - got)))


def save_model(net: RiceNet, card: dict, folder: str | os.PathLike, overwrite: bool = False,
               replace_bundled: bool = False, check_parity: bool = True) -> dict:
    """Write ``folder`` with weights.safetensors, model.onnx (card embedded) and card.json, atomically.

    ``card`` supplies name, version, training, metrics, threshold, base_model, inputs.season_days; the
    rest comes from the network. A bundled model is only replaced with ``replace_bundled`` (pretraining).
    ``check_parity`` refuses to save when ONNX and PyTorch probabilities differ by more than 1e-4.
    Returns the final card.
    """
    from safetensors.torch import save_file

    folder = Path(folder).expanduser()
    full_card = card_for(net, card, folder.name)
    if any(t.device.type != "cpu" for t in net.state_dict().values()):
        net = copy.deepcopy(net).cpu()  # export and parity run on CPU; the caller's net stays where it is
    was_training = net.training
    net.eval()
    try:
        def write_onnx(path: Path) -> None:
            export_onnx(net, path)
            if check_parity:
                diff = onnx_parity(net, path)
                if diff > PARITY_TOLERANCE:
                    raise RuntimeError(f"ONNX parity failed for {full_card['name']}: max diff {diff:.2e}")

        state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
        writers = {WEIGHTS_FILE: lambda path: save_file(state, str(path)), ONNX_FILE: write_onnx}
        return write_model_folder(folder, full_card, writers, overwrite, replace_bundled)
    finally:
        net.train(was_training)


def build_from_card(card: dict, folder: Path) -> RiceNet:
    if card["arch"] not in ARCHITECTURES:
        raise UserError(f"model {folder} is a {card['arch']!r} baseline, not a PyTorch network: it cannot be "
                        "exported, fine-tuned or run with {param:engine} torch (and has no heat map); map with it "
                        "directly (the default engine) or choose a network model for this", param="model")
    try:
        return build_model(card["arch"], **card["arch_kwargs"])
    except ValueError as exc:
        raise UserError(f"card {folder / 'card.json'} describes a network that cannot be built: {exc}") from exc


def check_state(net: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = [f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong))
                 if keys]
        raise UserError(f"weights {path} do not match the architecture in its card ({'; '.join(parts)}); "
                        "the card and the weights belong to different models, re-save the model")


def load_torch(name_or_path: str | os.PathLike, device: str = "cpu") -> tuple[RiceNet, dict[str, Any]]:
    """Network (eval mode, on ``device``) and card of a saved model; files verified first."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = resolve(name_or_path)
    card = load_card(folder, verify=True)
    net = build_from_card(card, folder)
    path = confined_file(folder, WEIGHTS_FILE)
    if WEIGHTS_FILE not in card["files"]:
        raise UserError(f"model {card['name']!r} lists no {WEIGHTS_FILE} in its card; re-save the model")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"cannot read weights {path}: {exc}; re-save the model") from exc
    check_state(net, state, path)
    net.load_state_dict(state, strict=True)
    if net.normalization() != card["inputs"]["normalization"]:
        raise UserError(f"normalization in {folder / 'card.json'} differs from the one stored in {path}; "
                        "re-save the model")
    return net.to(device).eval(), card
