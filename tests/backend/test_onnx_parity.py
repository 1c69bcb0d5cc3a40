"""ONNX export of every neural architecture and every SimTA fusion option: probabilities from ONNX Runtime
match PyTorch within 1e-4 at a size other than the export size (dynamic height and width)."""

import pytest
import torch
from torch import nn

from backend.modelstore.torch_io import (
    PARITY_TOLERANCE,
    ProbabilityWrapper,
    example_input,
    export_onnx,
    export_side,
    onnx_parity,
)
from backend.nets import build_model, model_variants

torch.set_num_threads(1)


def spread_outputs(net: nn.Module, x: torch.Tensor) -> None:
    """A freshly initialised net outputs ~0.5 everywhere, which would make any graph look "equal".

    Random BatchNorm statistics exercise the folded normalization; each output head is then rescaled so
    its logits on ``x`` have mean 0 and std 3, spreading probabilities over (0, 1). A wrong graph then
    shows up as a large difference.
    """
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=gen) * 0.5 + 0.5)
        heads = [m for name, m in net.named_modules()
                 if "head" in name and isinstance(m, nn.Conv2d) and m.out_channels == 1]
        logits: dict[nn.Module, torch.Tensor] = {}
        hooks = [h.register_forward_hook(lambda m, _i, out: logits.__setitem__(m, out)) for h in heads]
        net(x)
        for hook in hooks:
            hook.remove()
        for head in heads:
            scale = 3.0 / logits[head].std()
            head.weight.mul_(scale)
            head.bias.sub_(logits[head].mean()).mul_(scale)


@pytest.mark.parametrize("name", list(model_variants()))
def test_onnx_matches_pytorch_at_another_size(name, tmp_path):
    arch, kwargs = model_variants()[name]
    extra = {"steps": 3, "width": 4} if arch == "convlstm" else {"steps": 3, "width": 4, "depth": 2}
    net = build_model(arch, **kwargs, **extra).eval()
    side = export_side(net) + 3 * net.size_multiple
    spread_outputs(net, example_input(net, side, batch=2, seed=1))
    with torch.no_grad():
        assert ProbabilityWrapper(net)(example_input(net, side)).std() > 0.1  # a meaningful comparison
    path = tmp_path / "model.onnx"
    export_onnx(net, path)
    assert side != export_side(net)
    assert onnx_parity(net, path, side=side) <= PARITY_TOLERANCE


def test_full_depth_simta_runs_and_exports_on_small_tiles(tmp_path):
    """Depth 4 leaves 2x2 maps at the bottom of a 32-px tile; every fusion layer must cope."""
    net = build_model("simta", fusion="feature", fusion_method="cga", steps=2, width=4, depth=4).eval()
    export_onnx(net, tmp_path / "model.onnx")
    assert onnx_parity(net, tmp_path / "model.onnx", side=48) <= PARITY_TOLERANCE
