"""Every network is built from ``(arch name, kwargs)``, which is exactly what a model card stores."""

from __future__ import annotations

from typing import Any, Callable

from backend.nets.blocks import RiceNet
from backend.nets.convlstm import ConvLSTMNet
from backend.nets.fusion import FUSION_METHODS
from backend.nets.recurrent_unet import RecurrentUNet
from backend.nets.simta import DecisionFusion, build_simta
from backend.nets.simvp import SimVP
from backend.nets.unet import UNet
from backend.nets.utae import UTAE

_BUILDERS: dict[str, Callable[..., RiceNet]] = {
    "simta": build_simta,
    "recurrent_unet": RecurrentUNet,
    "unet": UNet,
    "convlstm": ConvLSTMNet,
    "simvp": SimVP,
    "utae": UTAE,
}
#: Names accepted by :func:`build_model`.
ARCHITECTURES: tuple[str, ...] = tuple(_BUILDERS)


def build_model(arch: str, **kwargs: Any) -> RiceNet:
    """Network ``arch`` built with ``kwargs``; the pair is remembered on the net for its model card.

    Raises ``ValueError`` for an unknown name or keyword (callers turn it into a UserError naming the
    card or option it came from).
    """
    if arch not in _BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    try:
        net = _BUILDERS[arch](**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments for architecture {arch!r}: {exc}") from exc
    net.arch = arch
    net.arch_kwargs = dict(kwargs)
    return net


def model_variants() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every option the dialog offers, as ``name -> (arch, kwargs)`` without width/steps/depth.

    Callers add their own ``width``, ``steps`` (and ``depth``) to build, e.g. a narrow CPU-trainable net.
    """
    variants: dict[str, tuple[str, dict[str, Any]]] = {
        f"simta_{scheme}": ("simta", {"fusion": scheme}) for scheme in ("vv", "vh", "data")}
    variants.update({f"simta_feature_{m}": ("simta", {"fusion": "feature", "fusion_method": m})
                     for m in FUSION_METHODS})
    variants["simta_decision"] = ("simta", {"fusion": "decision"})
    variants["recurrent_unet_vh"] = ("recurrent_unet", {"polarizations": ["VH"]})
    variants["recurrent_unet_vhvv"] = ("recurrent_unet", {"polarizations": ["VH", "VV"]})
    variants.update({name: (name, {}) for name in ("unet", "convlstm", "simvp", "utae")})
    return variants


def build_decision(vv_net: RiceNet, vh_net: RiceNet, weight: float | None = None) -> DecisionFusion:
    """Decision-level SimTA from two trained single-polarization SimTA nets of the same shape.

    The result is built through :func:`build_model` (so its card rebuilds it) and carries copies of both
    branches' weights and normalization; ``weight`` fixes ``w`` in ``w*VV + (1-w)*VH``, ``None`` learns it.
    """
    shape_of = {k: v for k, v in vv_net.arch_kwargs.items() if k not in ("fusion", "fusion_method")}
    if (vv_net.arch, vh_net.arch) != ("simta", "simta") or shape_of != {
            k: v for k, v in vh_net.arch_kwargs.items() if k not in ("fusion", "fusion_method")}:
        raise ValueError("build_decision needs a VV and a VH SimTA built with the same steps/width/depth")
    net = build_model("simta", fusion="decision", decision_weight=weight, **shape_of)
    net.vv.load_state_dict(vv_net.state_dict())
    net.vh.load_state_dict(vh_net.state_dict())
    return net
