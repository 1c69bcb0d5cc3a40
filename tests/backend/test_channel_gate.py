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
