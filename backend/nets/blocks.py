"""Building blocks shared by every network family.

:class:`RiceNet` fixes the contract of docs/architecture.md once: input ``(B, T, C, H, W)`` in dB with
NaN allowed, per-polarization normalization inside the forward pass (buffers saved with the weights),
NaN replaced by 0 afterwards, logits ``(B, 1, H, W)`` out. Every operation here exports with the
legacy ONNX exporter (opset 17) and keeps height and width dynamic.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Typical Sentinel-1 backscatter of agricultural land in dB; a trainer may overwrite them from data.
DEFAULT_NORMALIZATION: dict[str, dict[str, float]] = {
    "VV": {"mean": -12.0, "std": 4.0},
    "VH": {"mean": -19.0, "std": 4.0},
}
KNOWN_POLARIZATIONS = ("VV", "VH")


def check_polarizations(polarizations: Sequence[str]) -> list[str]:
    """Validate a polarization list (order matters: it is the channel order of the input)."""
    pols = [str(p).upper() for p in polarizations]
    unknown = [p for p in pols if p not in KNOWN_POLARIZATIONS]
    if not pols or unknown or len(set(pols)) != len(pols):
        raise ValueError(f"polarizations must be distinct values of {KNOWN_POLARIZATIONS}, got {polarizations!r}")
    return pols


def inference_form(net: nn.Module) -> nn.Module:
    """A copy of ``net`` (eval mode) with every submodule that has an ``inference_form()`` replaced by it,
    then every module with a ``pack_for_inference()`` packed (:mod:`backend.nets.packing`): the same function
    with fewer operations, for export and deployment. ``net`` itself is unchanged."""
    import copy

    deployed = copy.deepcopy(net).eval()
    _replace_foldable(deployed)
    for module in list(deployed.modules()):
        if hasattr(module, "pack_for_inference"):
            module.pack_for_inference()
    return deployed


def _replace_foldable(module: nn.Module) -> None:
    for name, child in module.named_children():
        if hasattr(child, "inference_form"):
            setattr(module, name, child.inference_form())
        else:
            _replace_foldable(child)


class Normalizer(nn.Module):
    """``(x - mean) / std`` per polarization, then NaN -> 0 ("no data" = zero in normalized space).

    Infinite values (``10*log10(0)`` from a zero-power pixel) are treated as missing too.
    """

    def __init__(self, polarizations: Sequence[str]) -> None:
        super().__init__()
        self.polarizations = check_polarizations(polarizations)
        stats = [DEFAULT_NORMALIZATION[p] for p in self.polarizations]
        self.register_buffer("mean", torch.tensor([s["mean"] for s in stats]).view(1, 1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([s["std"] for s in stats]).view(1, 1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        return torch.where(torch.isfinite(z), z, torch.zeros_like(z))

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {p: {"mean": float(m), "std": float(s)}
                for p, m, s in zip(self.polarizations, self.mean.flatten(), self.std.flatten())}

    def load_dict(self, stats: dict[str, dict[str, float]]) -> None:
        missing = [p for p in self.polarizations if p not in stats]
        if missing:
            raise ValueError(f"normalization lacks polarization(s) {missing}")
        bad = [p for p in self.polarizations if not float(stats[p]["std"]) > 0]
        if bad:
            raise ValueError(f"normalization std must be > 0 for {bad}")
        with torch.no_grad():
            self.mean.copy_(torch.tensor([float(stats[p]["mean"]) for p in self.polarizations]).view_as(self.mean))
            self.std.copy_(torch.tensor([float(stats[p]["std"]) for p in self.polarizations]).view_as(self.std))


class RiceNet(nn.Module):
    """Base of every network: polarizations, time steps, size multiple, and the input normalizer.

    Subclasses implement :meth:`forward_normalized` on the normalized, NaN-free input.
    ``arch`` and ``arch_kwargs`` are set by :func:`backend.nets.registry.build_model` so a model card
    can rebuild the same network.
    """

    arch: str = ""
    fusion_scheme: str = "data"
    fusion_method: str | None = None

    def __init__(self, polarizations: Sequence[str], steps: int, size_multiple: int) -> None:
        super().__init__()
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.polarizations = check_polarizations(polarizations)
        self.steps = int(steps)
        self.size_multiple = int(size_multiple)
        self.arch_kwargs: dict = {}
        self.norm = Normalizer(self.polarizations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_normalized(self.norm(x))

    def forward_normalized(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def normalization(self) -> dict[str, dict[str, float]]:
        return self.norm.as_dict()

    def set_normalization(self, stats: dict[str, dict[str, float]]) -> None:
        """Overwrite mean/std per polarization (e.g. from training data statistics)."""
        self.norm.load_dict(stats)


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class DoubleConv(nn.Sequential):
    """Two 3x3 conv-BN-ReLU layers, the classic U-Net stage."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(conv_bn_relu(in_ch, out_ch), conv_bn_relu(out_ch, out_ch))


class _ChannelGateForExport(torch.autograd.Function):
    """``x * gate`` that exports as ``Mul(x, Resize(gate))`` (see :func:`gate_channels`)."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        return x * gate

    @staticmethod
    def symbolic(g: Any, x: Any, gate: Any) -> Any:  # torch's TorchScript graph context, untyped in its stubs
        height_width = g.op("Slice", g.op("Shape", x), g.op("Constant", value_t=torch.tensor([2])),
                            g.op("Constant", value_t=torch.tensor([4])))
        scales = g.op("Concat", g.op("Constant", value_t=torch.tensor([1.0, 1.0], dtype=torch.float32)),
                      g.op("Cast", height_width, to_i=1), axis_i=0)  # 1 = FLOAT
        no_roi = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
        full = g.op("Resize", gate, no_roi, scales, mode_s="nearest",
                    coordinate_transformation_mode_s="asymmetric", nearest_mode_s="floor")
        return g.op("Mul", x, full)


def gate_channels(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """``x * gate`` for a per-channel gate of shape ``(N, C, 1, 1)``, exported so ONNX Runtime keeps its layout.

    ONNX Runtime's CPU convolutions keep maps in a blocked channel layout, and a ``Mul`` stays in it only when
    both inputs have the same shape. A broadcasting gate therefore sent the gated map back to the plain
    layout and the next convolution's input into the blocked one again (a third of the default model's
    reorder time at 272² tiles, docs/mapping.md). In an ONNX export the gate is first resized (nearest, by
    the integer scales ``H`` and ``W``) to the map's size, which ONNX Runtime runs blocked once the session's
    input shape is fixed and the scales fold into constants. Eager PyTorch multiplies directly, and so does
    the export of anything but a ``(N, C, 1, 1)`` gate of a 4-D map whose channels fill whole blocks
    (:data:`GATE_BLOCK_CHANNELS`): an 8-channel map is padded to 16 in the blocked layout, and there the
    resized gate cost more than the reorders it saved (``simta-feature-add``: 0.2455 against 0.2286 s per
    272² call on one thread, docs/models.md).

    Args:
        x: maps ``(N, C, H, W)``.
        gate: per-channel weights ``(N, C, 1, 1)``.

    Returns:
        ``x * gate``.
    """
    if torch.onnx.is_in_onnx_export() and _fills_blocks(x, gate):
        return _ChannelGateForExport.apply(x, gate)
    return x * gate


#: Channels of ONNX Runtime's widest blocked layout on CPUs (AVX-512: 16 floats; AVX2's 8 divides it).
GATE_BLOCK_CHANNELS = 16


def _fills_blocks(x: torch.Tensor, gate: torch.Tensor) -> bool:
    """Whether ``gate`` is per-channel on a 4-D map whose channel count is a whole number of blocks."""
    shape, gate_shape = [int(d) for d in x.shape], [int(d) for d in gate.shape]
    return len(shape) == 4 and gate_shape[-2:] == [1, 1] and shape[1] % GATE_BLOCK_CHANNELS == 0


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al. 2018): global pool, FC-reduce-FC, sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gate_channels(x, self.gate(x))


class UpBlock(nn.Module):
    """Transposed-conv x2 upsampling, concatenation with the skip, then a double conv."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2)
        self.conv = DoubleConv(out_ch + skip_ch, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], dim=1))


class UNetDecoder(nn.Module):
    """Decoder from the bottleneck back to full resolution; ``channels`` lists levels from full res down."""

    def __init__(self, channels: Sequence[int], bottleneck_ch: int) -> None:
        super().__init__()
        ups, below = [], bottleneck_ch
        for ch in reversed(channels):
            ups.append(UpBlock(below, ch, ch))
            below = ch
        self.ups = nn.ModuleList(ups)
        self.head = nn.Conv2d(channels[0], 1, kernel_size=1)

    def forward(self, bottom: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        x = bottom
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return self.head(x)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor (ConvNeXt), written out for ONNX export."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block (Liu et al. 2022): 7x7 depthwise, LayerNorm, 4x pointwise MLP with GELU, residual."""

    def __init__(self, channels: int, expansion: int = 4) -> None:
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = ChannelLayerNorm(channels)
        self.mlp = nn.Sequential(nn.Conv2d(channels, expansion * channels, 1), nn.GELU(),
                                 nn.Conv2d(expansion * channels, channels, 1))
        self.gamma = nn.Parameter(torch.full((1, channels, 1, 1), 1e-2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.mlp(self.norm(self.dw(x)))


def fold_time(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, C, H, W) -> (B*T, C, H, W)``: shared convolutions over dates."""
    return x.flatten(0, 1)


def unfold_time(x: torch.Tensor, steps: int) -> torch.Tensor:
    """``(B*T, C, H, W) -> (B, T, C, H, W)``."""
    return x.unflatten(0, (-1, steps))


def time_into_channels(x: torch.Tensor, steps: int) -> torch.Tensor:
    """``(B*T, C, H, W) -> (B, T*C, H, W)``: the SimVP way of letting channels see every date."""
    return unfold_time(x, steps).flatten(1, 2)


def level_channels(width: int, depth: int) -> list[int]:
    """Channels per encoder level, doubling at each downsampling (full resolution first)."""
    return [width * 2 ** i for i in range(depth)]


def stage_chain(make_stage: Callable[[int, int], nn.Module], in_ch: int, channels: Sequence[int]) -> nn.ModuleList:
    """Encoder stages ``in_ch -> channels[0] -> channels[1] ...`` built by ``make_stage(in, out)``."""
    ins = [in_ch, *channels[:-1]]
    return nn.ModuleList(make_stage(a, b) for a, b in zip(ins, channels))


def run_stages(stages: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
    """Apply the stages with a 2x2 max-pool between them; returns every stage's output (full res first)."""
    features = []
    for i, stage in enumerate(stages):
        x = stage(x if i == 0 else F.max_pool2d(x, 2))
        features.append(x)
    return features
