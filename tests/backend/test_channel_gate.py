"""Squeeze-excitation gates exported so ONNX Runtime keeps its blocked layout (backend.nets.blocks.gate_channels)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from backend.experiments.inference_bench import cpu_session, shape_options
from backend.modelstore import resolve
from backend.nets.blocks import SqueezeExcite, gate_channels


def test_an_exported_gate_is_resized_to_the_map_and_computes_the_same(tmp_path):
    gate = SqueezeExcite(16).eval()
    x = torch.randn(2, 16, 24, 40)
    path = tmp_path / "gate.onnx"
    torch.onnx.export(gate, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                      dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"}})
    graph = onnx.load(str(path)).graph
    producers = {out: node for node in graph.node for out in node.output}
    (mul,) = [node for node in graph.node if node.op_type == "Mul"]
    assert mul.input[0] == "x" and producers[mul.input[1]].op_type == "Resize"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in ((2, 16, 24, 40), (1, 16, 17, 9)):  # the scales follow the input's height and width
        sample = torch.randn(*shape)
        with torch.no_grad():
            expected = gate(sample).numpy()
        assert np.abs(session.run(None, {"x": sample.numpy()})[0] - expected).max() < 1e-5
    assert torch.equal(gate_channels(x, torch.full((2, 16, 1, 1), 0.5)), x * 0.5)


class _SpatialGate(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gate_channels(x, torch.sigmoid(x.mean(dim=1, keepdim=True)))  # (N, 1, H, W): no channel gate


def test_a_gate_that_is_not_per_channel_exports_as_a_plain_product(tmp_path):
    x = torch.randn(1, 4, 6, 5)
    path = tmp_path / "spatial.onnx"
    torch.onnx.export(_SpatialGate(), (x,), str(path), dynamo=False, opset_version=17, input_names=["x"])
    assert "Resize" not in {node.op_type for node in onnx.load(str(path)).graph.node}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"x": x.numpy()})[0] - _SpatialGate()(x).numpy()).max() < 1e-6


def test_a_gate_of_a_map_narrower_than_a_layout_block_exports_as_a_plain_product(tmp_path):
    gate = SqueezeExcite(8).eval()  # padded to 16 channels in the blocked layout: resizing did not pay
    x = torch.randn(1, 8, 10, 12)
    path = tmp_path / "narrow.onnx"
    torch.onnx.export(gate, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"])
    assert "Resize" not in {node.op_type for node in onnx.load(str(path)).graph.node}
    with torch.no_grad():
        expected = gate(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"x": x.numpy()})[0] - expected).max() < 1e-6


def test_the_deployed_cga_runs_its_negated_convolutions_only_in_an_export(tmp_path):
    from backend.nets.fusion import CGAFusion

    deployed = CGAFusion(8).eval().inference_form()
    calls: list[str] = []
    deployed.pixel_neg_s.register_forward_hook(lambda *_: calls.append("negated"))
    x, y = torch.randn(1, 8, 12, 12), torch.randn(1, 8, 12, 12)
    with torch.no_grad():
        eager = deployed(x, y)
    assert calls == []  # eager PyTorch subtracts
    path = tmp_path / "cga.onnx"
    torch.onnx.export(deployed, (x, y), str(path), dynamo=False, opset_version=17, input_names=["x", "y"])
    assert calls == ["negated"]
    assert "Sub" not in {node.op_type for node in onnx.load(str(path)).graph.node}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = session.run(None, {"x": x.numpy(), "y": y.numpy()})[0]
    assert np.abs(exported - eager.numpy()).max() < 1e-5


def test_the_default_models_gates_run_in_the_blocked_layout(tmp_path):
    path = resolve("simta-feature-cga") / "model.onnx"
    options = shape_options(cpu_session(path, 1), 1, (1, 13, 2, 64, 64))
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    graph = onnx.load(str(tmp_path / "optimized.onnx")).graph
    ops = Counter(node.op_type for node in graph.node)
    if not ops["ReorderInput"]:
        pytest.skip("ONNX Runtime uses no blocked layout on this CPU")
    producers = {out: node for node in graph.node for out in node.output}
    gate_muls = [node for node in graph.node if node.op_type == "Mul"
                 and any(name in producers and producers[name].op_type == "Upsample" for name in node.input)]
    assert ops["Upsample"] == 8 and len(gate_muls) == 8  # every gate resized in the blocked layout and applied there
    assert ops["ReorderInput"] + ops["ReorderOutput"] < 45  # 69 before the gates were resized (session 12)
