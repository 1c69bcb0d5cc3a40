"""The Deepness side-by-side bench without Deepness itself: the wrapper ONNX computes our model's
probabilities from Deepness's input layout, the scores are right, and a missing source skips cleanly."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort
import rasterio
from test_map_fixtures import model  # noqa: F401 (module-scoped fixture: a tiny saved U-Net, 4 steps)

from backend.experiments.bigscene import run_watching_memory
from backend.experiments.deepness import (
    OPENVINO_SIDE,
    compare,
    cpu_summary,
    deepness_borders,
    export_wrapper,
    f1_of,
    openvino_summary,
    our_borders,
    seam_excess,
)
from backend.modelstore import load_torch, open_onnx


def test_wrapper_gives_our_probabilities_from_deepness_input(tmp_path, model):
    net, card = load_torch(model)
    path = tmp_path / "wrapper.onnx"
    export_wrapper(net, card, path, tile=32)
    rng = np.random.default_rng(0)
    x = rng.normal(-14, 2, (1, 4, 2, 32, 32)).astype(np.float32)
    ours = open_onnx(model, threads=1)[0].run(["probability"], {"x": x})[0]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    deepness_input = x.reshape(1, 8, 32, 32) / 255.0  # Deepness scales by 1/255, metadata mean 0 / std 1
    theirs = session.run(None, {"input": deepness_input})[0]
    assert theirs.shape == (1, 1, 32, 32) and np.abs(theirs - ours).max() < 1e-5
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["model_type"]) == "Segmentor" and json.loads(meta["class_names"]) == {"0": "rice"}
    assert json.loads(meta["standardization_std"]) == [1.0] * 8


def test_f1_and_seam_statistics():
    truth = np.zeros((64, 64), np.uint8)
    truth[:, :32] = 1
    assert f1_of(truth == 1, truth) == 1.0
    assert f1_of(np.ones((64, 64), bool), truth) == round(2 * 2048 / (4096 + 2048), 5)
    seamless = np.zeros((64, 64), bool)
    seamless[::4] = True  # a change between every pair of rows 3-4, 0-1: periodic, no seam
    assert seam_excess(seamless, [20, 40], [20, 40])["cols"] is None  # no change across columns at all
    seam = np.zeros((64, 64), bool)
    seam[:, 40:] = True
    seam[np.arange(64) % 7 == 0, :20] = True
    assert seam_excess(seam, [], [40])["cols"] > 10
    assert deepness_borders(512, 256, 32) == [240, 464]
    assert our_borders(512, 288, 32) == [256]


def test_missing_deepness_source_skips_with_a_message(tmp_path, monkeypatch, model):
    monkeypatch.setenv("S1RM_BENCH_CACHE", str(tmp_path / "cache"))
    result = compare(tmp_path, model, 1, tmp_path / "work", repo=str(tmp_path / "no-such-repo"))
    assert set(result) == {"skipped"} and "Deepness source" in result["skipped"]
    assert "--deepness-repo" in result["skipped"]


def test_child_cpu_time_is_measured_and_compared(tmp_path):
    busy = [sys.executable, "-c", "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"]
    idle = [sys.executable, "-c", "import time; time.sleep(0.3)"]
    burning, sleeping = (run_watching_memory(args, 60, cwd=tmp_path) for args in (busy, idle))
    assert burning.returncode == 0 and burning.cpu_seconds >= 0.3
    assert sleeping.cpu_seconds < burning.cpu_seconds - 0.2
    rounds = [{"ours": {"seconds": 2.0, "cpu_seconds": 3.6}, "deepness": {"seconds": 3.0, "cpu_seconds": 5.4}},
              {"ours": {"seconds": 2.0, "cpu_seconds": 3.0}, "deepness": {"seconds": 3.0, "cpu_seconds": 6.0}}]
    summary = cpu_summary(rounds, [5.4 / 3.6, 6.0 / 3.0])
    assert summary["min"] == 1.5 and summary["median"] == 1.75
    assert summary["cores_busy"] == {"ours": [1.8, 1.5], "deepness": [1.8, 2.0]}
    assert "note" in cpu_summary(rounds, []) and "median" not in cpu_summary(rounds, [])


def test_openvino_side_is_summarised_against_deepness_and_our_default(tmp_path):
    rice = np.zeros((8, 8), np.uint8)
    rice[:, :4] = 1
    (tmp_path / OPENVINO_SIDE).mkdir()
    with rasterio.open(tmp_path / OPENVINO_SIDE / "rice.tif", "w", driver="GTiff", width=8, height=8, count=1,
                       dtype="uint8") as ds:
        ds.write(rice, 1)
    ours = rice == 1
    ours[0, 0] = False  # one pixel of 64 differs from the OpenVINO map
    rounds = [{"ours": {"seconds": 6.0}, "deepness": {"seconds": 7.5}, OPENVINO_SIDE: {"exit_code": 0, "seconds": 5.0}},
              {"ours": {"seconds": 6.6}, "deepness": {"seconds": 7.0}, OPENVINO_SIDE: {"exit_code": 0, "seconds": 5.5}}]
    summary = openvino_summary(rounds, tmp_path, ours)
    assert summary["speed_ratio_wall_openvino"]["per_round"] == [1.5, round(7.0 / 5.5, 3)]
    assert summary["openvino_vs_default"] == {"min": 1.2, "median": 1.2, "per_round": [1.2, 1.2]}
    assert summary["openvino_same_labels"] == round(63 / 64, 6)
    assert openvino_summary([{"ours": {"seconds": 6.0}, "deepness": {"seconds": 7.5}}], tmp_path, ours) == {}
