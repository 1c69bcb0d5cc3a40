"""Parameter and multiply-accumulate counts, for comparing model sizes with the papers' tables."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from backend.doc_markers import replace_between
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


#: The SimTA paper's own parameter and MAC counts, shown under the measured rows.
PAPER_ROW = "| *paper (SimTA)* | *8.9 M* | *47.8 G* |"
TABLE = "simta-size-table"  # its block in docs/models.md (backend.doc_markers)


def _variant_name(row: dict) -> str:
    if row["fusion"] == "feature":
        return f"feature {row['method']}"
    return "decision (two single-pol nets)" if row["fusion"] == "decision" else row["fusion"]


def markdown_table(rows: list[dict]) -> str:
    """docs/models.md's size table: one row per variant (VV and VH merged when equal), the default in bold."""
    lines = ["| SimTA variant | parameters | MACs |", "|---|---|---|"]
    cells = [(_variant_name(r), f"{r['params'] / 1e6:.2f} M", f"{r['macs'] / 1e9:.1f} G") for r in rows]
    if cells[0][1:] == cells[1][1:] and [r["fusion"] for r in rows[:2]] == ["vv", "vh"]:
        cells = [("vv / vh", *cells[0][1:])] + cells[2:]
    for name, params, macs in cells:
        bold = name == "feature cga"
        lines.append(f"| **{name}** | **{params}** | **{macs}** |" if bold else f"| {name} | {params} | {macs} |")
    return "\n".join(lines + [PAPER_ROW])


if __name__ == "__main__":  # python -m backend.nets.profile [--write docs/models.md]: the table in docs/models.md
    import sys
    from pathlib import Path

    table = markdown_table(simta_size_table())
    if len(sys.argv) > 2 and sys.argv[1] == "--write":
        doc = Path(sys.argv[2])
        doc.write_text(replace_between(doc.read_text(), TABLE, table))
    else:
        print(table)
