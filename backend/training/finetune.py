"""Transfer learning of a pretrained rice network to local labels (transfer-learning seed paper).

Modes (the paper's names): ``RI`` random initialisation of the base architecture (trained from scratch
on the local labels), ``FT`` fine-tune every weight, ``FTE`` fine-tune the encoder with the decoder
frozen (the paper's best with few labels), ``FTD`` fine-tune the decoder with the encoder frozen.

*Encoder* here is everything that still sees the time axis: the per-date convolutions, the recurrence
or temporal attention, fusion of VV and VH, and the modules that collapse time at the skips and the
bottleneck. *Decoder* is the spatial upsampling path and the 1x1 head (plus, for decision-level
fusion, the VV/VH weight). Frozen BatchNorm layers also keep their running statistics (they stay in
eval mode while the rest trains), so a frozen part computes exactly what it computed before.
"""

from __future__ import annotations

import contextlib
import types
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from backend.errors import UserError
from backend.nets import build_model
from backend.nets.blocks import RiceNet
from backend.nets.recurrent_unet import expand_first_layer
from backend.nets.simta import DecisionFusion
from backend.training.loop import EpochLog, TrainConfig, TrainResult, train

MODES = ("RI", "FT", "FTE", "FTD")
DEFAULT_MODE = "FTE"
#: Top-level module names of the decoder side, in every architecture of backend.nets.
DECODER_MODULES = frozenset({"decoder", "head", "up", "weight_logit"})
MIN_STEPS_PER_EPOCH = 8


def is_decoder(net: nn.Module, parameter_name: str) -> bool:
    """Whether a parameter (``named_parameters`` name) belongs to the decoder side of ``net``."""
    parts = parameter_name.split(".")
    if isinstance(net, DecisionFusion) and parts[0] in ("vv", "vh"):
        parts = parts[1:]  # a decision-level net is two whole networks: look inside each branch
    return parts[0] in DECODER_MODULES


def parameter_groups(net: nn.Module) -> dict[str, list[str]]:
    """Names of the ``encoder`` and ``decoder`` parameters of ``net``."""
    groups: dict[str, list[str]] = {"encoder": [], "decoder": []}
    for name, _ in net.named_parameters():
        groups["decoder" if is_decoder(net, name) else "encoder"].append(name)
    return groups


def trainable_part(mode: str) -> set[str]:
    mode = check_mode(mode)
    return {"FTE": {"encoder"}, "FTD": {"decoder"}}.get(mode, {"encoder", "decoder"})


def check_mode(mode: str) -> str:
    upper = str(mode).upper()
    if upper not in MODES:
        raise UserError(f"{{param:mode}} {mode}: choose one of {', '.join(MODES)} (RI random init, FT all weights, "
                        "FTE encoder only, FTD decoder only)", param="mode")
    return upper


def _stay_in_eval(module: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(module, False)


@contextlib.contextmanager
def frozen_parts(net: nn.Module, mode: str) -> Iterator[list[nn.Parameter]]:
    """Freeze what ``mode`` does not train; yields the parameters to optimise; restores on exit."""
    keep = trainable_part(mode)
    trainable, frozen_norms = [], []
    names = {name for group in keep for name in parameter_groups(net)[group]}
    previous = {name: p.requires_grad for name, p in net.named_parameters()}
    for name, p in net.named_parameters():
        p.requires_grad_(name in names)
        if name in names:
            trainable.append(p)
    for module_name, module in net.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None \
                and f"{module_name}.weight" not in names:
            module.train = types.MethodType(_stay_in_eval, module)  # type: ignore[method-assign]
            frozen_norms.append(module)
    try:
        yield trainable
    finally:
        for module in frozen_norms:
            del module.train
        for name, p in net.named_parameters():
            p.requires_grad_(previous[name])


def add_vv_input(net: RiceNet, vv_stats: dict[str, float]) -> RiceNet:
    """VH-only ``net`` expanded to VH+VV input (paper Eq. 3), VV normalized with local statistics."""
    if list(net.polarizations) != ["VH"]:
        raise UserError(f"{{param:add_vv}} adapts a VH-only model, but the base model takes {', '.join(net.polarizations)}; "
                        "pick a VH model (e.g. rnn-unet-vh) or drop {param:add_vv}", param="add_vv")
    try:
        expanded = expand_first_layer(net, 2)
    except ValueError as exc:
        raise UserError(f"{{param:add_vv}}: the base model's architecture ({net.arch}) has no single input convolution to "
                        "split (paper Eq. 3 needs one); use a recurrent U-Net VH model such as rnn-unet-vh", param="add_vv") from exc
    expanded.set_normalization({**expanded.normalization(), "VV": vv_stats})
    return expanded


def initial_network(base: RiceNet, mode: str, add_vv: bool, stats: dict[str, dict[str, float]],
                    seed: int) -> RiceNet:
    """The network training starts from: the base (expanded for ``add_vv``) or, for RI, a fresh copy."""
    net = add_vv_input(base, stats["VV"]) if add_vv else base
    if check_mode(mode) != "RI":
        return net
    torch.manual_seed(seed)
    fresh = build_model(net.arch, **net.arch_kwargs)
    fresh.set_normalization({p: stats[p] for p in fresh.polarizations})
    return fresh


def repeat_to(x: np.ndarray, y: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeat samples so an epoch has at least ``minimum`` (few labels still get enough augmented steps)."""
    if len(x) >= minimum or not len(x):
        return x, y
    index = np.resize(np.arange(len(x)), minimum)
    return x[index], y[index]


def fine_tune(net: RiceNet, mode: str, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
              y_val: np.ndarray, cfg: TrainConfig, on_epoch: Callable[[EpochLog], None] | None = None,
              check_cancel: Callable[[], None] | None = None) -> TrainResult:
    """Train ``net`` in place with ``mode``'s frozen parts; the best validation epoch is kept."""
    x_train, y_train = repeat_to(x_train, y_train, cfg.batch_size * MIN_STEPS_PER_EPOCH)
    with frozen_parts(net, mode) as params:
        return train(net, x_train, y_train, x_val, y_val, cfg, params=params, on_epoch=on_epoch,
                     check_cancel=check_cancel)
