"""The ONNX mapping path: no PyTorch import, a heat map from the graph itself, a clear message without torch.

``map`` runs in a real subprocess on small GeoTIFFs; the torch-free runs hide PyTorch from the interpreter
(``sys.modules['torch'] = None`` makes both ``import torch`` and ``find_spec('torch')`` fail, as in the lean
install) and report whether anything imported it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import rasterio
import torch
from test_map_fixtures import (  # env and model are module-scoped fixtures
    REPO,
    env,  # noqa: F401 (fixture)
    map_args,
    model,  # noqa: F401 (fixture)
    scene,
)

from backend.modelstore import load_torch, open_onnx
from backend.nets import build_model
from backend.nets.blocks import inference_form
from backend.nets.cam import ProbabilityAndHeatmap, cam_layers
from backend.tiles.engines import onnx_engine, torch_engine

torch.set_num_threads(1)

PROBE = """
import json
import sys
{hide}
from backend.cli import main
code = main(sys.argv[1:])
print("TORCH-LOADED" if sys.modules.get("torch") is not None else "TORCH-ABSENT", file=sys.stderr)
commands = sorted(m for m in sys.modules if m.startswith("backend.commands.") and not m[17:].startswith("_"))
print("IMPORTED", json.dumps({{"onnx": "onnx" in sys.modules, "openvino": "openvino" in sys.modules,
                             "commands": commands}}), file=sys.stderr)
sys.exit(code)
"""


def run_probe(args: list[str], env: dict, hide_torch: bool) -> subprocess.CompletedProcess:
    code = PROBE.format(hide="sys.modules['torch'] = None" if hide_torch else "")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=180, env=env)


def test_onnx_map_with_heatmap_never_imports_torch(tmp_path, model, env):
    out = tmp_path / "out"
    result = run_probe(map_args(model, scene(tmp_path / "in"), out, "--engine", "onnx"), env, hide_torch=False)
    assert result.returncode == 0, result.stderr
    assert "TORCH-ABSENT" in result.stderr
    imported = json.loads(result.stderr.split("IMPORTED ", 1)[1].splitlines()[0])
    # start-up: only the map command's module, no onnx package (its import alone took ~1.3 s), and no
    # OpenVINO, which only --engine openvino loads
    assert imported == {"onnx": False, "openvino": False, "commands": ["backend.commands.map"]}
    run = json.loads((out / "run.json").read_text())
    assert "forward-only" in run["heatmap"] and run["engine"] == "onnx"
    with rasterio.open(out / "heatmap.tif") as ds:
        heat = ds.read(1)
    assert np.nanmin(heat) >= 0 and np.nanmax(heat) <= 1


def test_default_engine_without_torch_maps_and_torch_engine_names_the_extra(tmp_path, model, env):
    inputs = scene(tmp_path / "in", height=40, width=40)
    result = run_probe(map_args(model, inputs, tmp_path / "auto"), env, hide_torch=True)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "auto" / "run.json").read_text())["engine"] == "onnx"
    refused = run_probe(map_args(model, inputs, tmp_path / "torch", "--engine", "torch"), env, hide_torch=True)
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr and "ImportError" not in refused.stderr
    assert "--engine torch needs PyTorch" in refused.stderr and "'gpu' extra" in refused.stderr
    assert not (tmp_path / "torch").exists() or not any((tmp_path / "torch").iterdir())


def autograd_gradcam(net, x: torch.Tensor, cut_logit: float) -> torch.Tensor:
    """Reference Grad-CAM at the same layer with PyTorch's autograd (the definition, not the closed form)."""
    block, _ = cam_layers(net)
    grabbed = {}

    def make_leaf(_module, inputs):
        grabbed["a"] = inputs[0].detach().requires_grad_(True)
        return (grabbed["a"],)

    handle = block.register_forward_pre_hook(make_leaf)
    try:
        with torch.enable_grad():
            logits = net(x)
            mask = (logits.detach() >= cut_logit).float()
            grad = torch.autograd.grad((logits * mask).sum(), grabbed["a"])[0]
    finally:
        handle.remove()
    a = grabbed["a"].detach()
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1, keepdim=True))
    return cam / cam.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12)


def bright_batch(net, side: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(-14, 2, (2, net.steps, len(net.polarizations), side, side)).astype(np.float32)
    x[0, :, :, 6:20, 6:20] += 7
    return x


def test_closed_form_heatmap_equals_autograd_gradcam():
    torch.manual_seed(1)  # a random net whose Grad-CAM is not all zero (ReLU of negative weights)
    net = inference_form(build_model("unet", polarizations=["VV", "VH"], steps=4, width=4, depth=2))
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.from_numpy(bright_batch(net))
    with torch.no_grad():
        cut = float(torch.quantile(net(x), 0.7))  # 30 % of the pixels called rice
        _, heat = ProbabilityAndHeatmap(net).eval()(x, torch.tensor(cut))
    expected = autograd_gradcam(net, x, cut)
    assert (expected.amax(dim=(1, 2, 3)) == 1.0).all()
    assert torch.allclose(heat, expected, atol=1e-5)


def test_onnx_graph_heatmap_matches_torch_engine(model):
    net, card = load_torch(model)
    session, _ = open_onnx(model, threads=1)
    x = bright_batch(net)
    prob_o, heat_o = onnx_engine(session, 1).predict_with_heatmap(x, 0.5)
    prob_t, heat_t = torch_engine(net, "cpu", 1).predict_with_heatmap(x, 0.5)
    assert np.abs(prob_o - prob_t).max() < 1e-4 and np.abs(heat_o - heat_t).max() < 1e-4
    assert heat_o.shape == prob_o.shape == x.shape[:1] + x.shape[-2:]
    nothing = onnx_engine(session, 1).predict_with_heatmap(x, 1.0)[1]
    assert not nothing.any()  # no pixel called rice: no heat
