"""Parameter and multiply-accumulate counts, for comparing model sizes with the papers' tables."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from backend.nets.registry import build_model
from backend.nets.simta import FULL_WIDTH


def count_parameters(net: nn.Module) -> int:
    """Trainable parameters (buffers such as normalization and BN statistics excluded)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def count_macs(net: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on an input of ``input_shape``.

    Uses PyTorch's FlopCounterMode (convolutions, transposed convolutions, matrix products; 2 FLOPs per
    MAC) and runs on the ``meta`` device, so full-size inputs cost no compute. Element-wise operations,
    pooling and normalization are not counted, as in the usual MAC tables.
    """
    meta_net = _to_meta(net)
    x = torch.zeros(*input_shape, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta_net.eval()(x)
    return counter.get_total_flops() // 2


def _to_meta(net: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(net).to("meta")


def simta_size_table(width: int | None = None, steps: int = 13, side: int = 256) -> list[dict]:
    """Parameters and MACs of every SimTA variant at ``width`` (default: full width) on a 256x256xTx2 input."""
    variants = [("vv", None), ("vh", None), ("data", None)]
    variants += [("feature", m) for m in ("add", "concat", "aff", "dff", "cga")] + [("decision", None)]
    rows = []
    for fusion, method in variants:
        net = build_model("simta", fusion=fusion, fusion_method=method or "cga", steps=steps,
                          width=width or FULL_WIDTH)
        shape = (1, steps, len(net.polarizations), side, side)
        rows.append({"fusion": fusion, "method": method, "params": count_parameters(net),
                     "macs": count_macs(net, shape)})
    return rows


if __name__ == "__main__":  # python -m backend.nets.profile: the table in docs/models.md
    for row in simta_size_table():
        method = row["method"] or "-"
        print(f"{row['fusion']:<9} {method:<7} {row['params'] / 1e6:6.2f} M  {row['macs'] / 1e9:6.1f} G")
