"""ONNX export of every neural architecture and every SimTA fusion option: probabilities from ONNX Runtime
match PyTorch within 1e-4 at a size other than the export size (dynamic height and width)."""

import pytest
import torch

from backend.modelstore.torch_io import PARITY_TOLERANCE, export_onnx, export_side, onnx_parity
from backend.nets import build_model, model_variants

torch.set_num_threads(1)


@pytest.mark.parametrize("name", list(model_variants()))
def test_onnx_matches_pytorch_at_another_size(name, tmp_path):
    arch, kwargs = model_variants()[name]
    extra = {"steps": 3, "width": 4} if arch == "convlstm" else {"steps": 3, "width": 4, "depth": 2}
    net = build_model(arch, **kwargs, **extra).eval()
    path = tmp_path / "model.onnx"
    export_onnx(net, path)
    side = export_side(net) + 3 * net.size_multiple
    assert side != export_side(net)
    assert onnx_parity(net, path, side=side) <= PARITY_TOLERANCE
