"""``--engine openvino``: the same maps as ONNX Runtime through OpenVINO, and a clear refusal without it.

``map`` runs in a real subprocess on small GeoTIFFs with the tiny test U-Net (its graph has the heat-map
output and the ``logit_threshold`` input). The run without OpenVINO hides the package from the interpreter
(``sys.modules['openvino'] = None``), as in an environment without the extra.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from test_map_fixtures import (  # env and model are module-scoped fixtures
    REPO,
    env,  # noqa: F401 (fixture)
    final_names,
    map_args,
    model,  # noqa: F401 (fixture)
    run_backend,
    scene,
)

from backend.errors import UserError
from backend.inference.loader import load_model
from backend.modelstore import checked_onnx_file, load_card, resolve
from backend.tiles.openvino_engine import native_bf16, openvino_engine

HIDDEN_OPENVINO = """
import sys
sys.modules['openvino'] = None
from backend.cli import main
sys.exit(main(sys.argv[1:]))
"""


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_openvino_map_gives_the_onnx_runtime_map(tmp_path, model, env):
    inputs = scene(tmp_path / "in", nodata_rows=5)
    runs = {}
    for engine in ("onnx", "openvino"):
        done = run_backend(*map_args(model, inputs, tmp_path / engine, "--engine", engine), env=env)
        assert done.returncode == 0, done.stderr
        runs[engine] = json.loads((tmp_path / engine / "run.json").read_text())
    assert runs["openvino"]["engine"] == "openvino" and runs["openvino"]["device"] == "cpu"
    assert runs["openvino"]["precision"] == runs["onnx"]["precision"] == "f32"
    assert runs["openvino"]["versions"]["openvino"]
    assert "forward-only" in runs["openvino"]["heatmap"]
    assert np.array_equal(read(tmp_path / "onnx" / "rice.tif"), read(tmp_path / "openvino" / "rice.tif"))
    for name, tolerance in (("probability.tif", 1e-5), ("heatmap.tif", 1e-3)):
        ours, theirs = read(tmp_path / "openvino" / name), read(tmp_path / "onnx" / name)
        assert np.array_equal(np.isnan(ours), np.isnan(theirs)) and np.isnan(ours).any()  # the nodata rows
        assert np.nanmax(np.abs(ours - theirs)) < tolerance
    assert (tmp_path / "openvino" / "rice.qml").is_file()


def batch(shape, seed=0):
    x = np.random.default_rng(seed).normal(-14, 3, shape).astype(np.float32)
    x[..., :3, :5] = np.nan
    return x


def test_openvino_engine_takes_the_threshold_and_any_shape(tmp_path, monkeypatch):
    """The bundled default model (the tiny test net's heat map is zero): per call as ONNX Runtime."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    onnx = load_model(None, "onnx", "cpu", 1).engine
    openvino = load_model(None, "openvino", "cpu", 1).engine
    assert openvino.name == "openvino" and openvino.predict_with_heatmap is not None
    for shape in ((1, 13, 2, 64, 64), (2, 13, 2, 48, 64)):  # a second shape compiles a second model
        x = batch(shape)
        assert np.abs(openvino.predict(x) - onnx.predict(x)).max() < 1e-5
        heats = []
        for threshold in (0.5, 0.2):
            prob, heat = openvino.predict_with_heatmap(x, threshold)
            ref_prob, ref_heat = onnx.predict_with_heatmap(x, threshold)
            assert prob.shape == heat.shape == shape[:1] + shape[3:]
            assert np.abs(prob - ref_prob).max() < 1e-5 and np.abs(heat - ref_heat).max() < 1e-3
            heats.append(ref_heat)
        assert np.abs(heats[0] - heats[1]).max() > 1e-2  # the threshold really reaches the heat map
    assert any((tmp_path / "cache" / "s1ricemapper" / "openvino").iterdir())  # compiled models kept


def test_openvino_refuses_a_file_whose_embedded_card_differs(model):
    folder = resolve(model)
    card = load_card(folder, verify=True)
    with pytest.raises(UserError, match="does not match"):
        openvino_engine(checked_onnx_file(folder, card), {**card, "name": "another-model"}, 1)


def test_openvino_missing_or_on_cuda_is_a_clear_refusal(tmp_path, model, env):
    inputs = scene(tmp_path / "in", height=40, width=40)
    for extra in ((), ("--check-only",)):
        out = tmp_path / f"out{len(extra)}"
        refused = subprocess.run([sys.executable, "-c", HIDDEN_OPENVINO,
                                  *map_args(model, inputs, out, "--engine", "openvino", *extra)],
                                 cwd=REPO, capture_output=True, text=True, timeout=180, env=env)
        assert refused.returncode == 2, refused.stderr
        assert "Traceback" not in refused.stderr and "ImportError" not in refused.stderr
        assert "--engine openvino needs OpenVINO" in refused.stderr and "'openvino' extra" in refused.stderr
        assert final_names(out) == []
    cuda = run_backend(*map_args(model, inputs, tmp_path / "cuda", "--engine", "openvino", "--device", "cuda"),
                       env=env)
    assert cuda.returncode == 2 and "runs on the CPU only" in cuda.stderr, cuda.stderr
    assert final_names(tmp_path / "cuda") == []


def cpu_has_native_bf16() -> bool:
    import openvino

    return native_bf16(openvino.Core())


def test_bf16_runs_on_a_cpu_with_native_bf16_and_is_refused_elsewhere(tmp_path, model, env):
    inputs = scene(tmp_path / "in")
    done = run_backend(*map_args(model, inputs, tmp_path / "bf16", "--engine", "openvino", "--precision", "bf16"),
                       env=env)
    if not cpu_has_native_bf16():
        assert done.returncode == 2 and "does not compute bfloat16 natively" in done.stderr, done.stderr
        assert final_names(tmp_path / "bf16") == []
        return
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "bf16" / "run.json").read_text())["precision"] == "bf16"
    f32 = run_backend(*map_args(model, inputs, tmp_path / "f32", "--engine", "openvino"), env=env)
    assert f32.returncode == 0, f32.stderr
    low, full = read(tmp_path / "bf16" / "probability.tif"), read(tmp_path / "f32" / "probability.tif")
    difference = np.nanmax(np.abs(low - full))
    assert 0 < difference < 0.05  # bf16 arithmetic really ran, and stays close to f32


def test_bf16_with_another_engine_names_the_option(tmp_path, model, env):
    inputs = scene(tmp_path / "in", height=40, width=40)
    for extra in ((), ("--check-only",)):
        out = tmp_path / f"out{len(extra)}"
        refused = run_backend(*map_args(model, inputs, out, "--engine", "onnx", "--precision", "bf16", *extra),
                              env=env)
        assert refused.returncode == 2, refused.stderr
        assert "--precision bf16 runs with --engine openvino only" in refused.stderr
        assert final_names(out) == []
