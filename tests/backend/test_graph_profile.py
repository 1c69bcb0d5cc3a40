"""The bench's ONNX Runtime measurements: kernel-time breakdown, graph MACs, thread scaling, tile cost."""

from __future__ import annotations

import numpy as np
from test_map_fixtures import model  # noqa: F401 (module-scoped fixture: a tiny saved U-Net, 4 steps)

from backend.experiments import inference_bench as bm
from backend.modelstore import load_torch, resolve


def test_profile_breakdown_and_macs_match_the_network(model):
    from backend.nets.blocks import inference_form
    from backend.nets.profile import count_macs

    path = resolve(model) / "model.onnx"
    x = np.random.default_rng(0).normal(-14, 2, (1, 4, 2, 32, 32)).astype(np.float32)
    events = bm.profile_events(path, {"x": x}, threads=1, runs=2)
    breakdown = bm.kernel_breakdown(events, calls=2)
    assert 0 <= breakdown["reorder_share"] < 1 and abs(sum(breakdown["op_share"].values()) - 1) < 0.2
    assert breakdown["nodes_per_call"]["Conv"] >= 1 and breakdown["kernel_seconds_per_call"] > 0
    raw = bm.profile_events(path, {"x": x}, threads=1, optimized=False, runs=1)
    net, _ = load_torch(model)
    network = count_macs(inference_form(net), x.shape)  # the probabilities alone
    graph = bm.graph_macs(path, raw, calls=1)
    assert graph["distinct"] == graph["graph"]  # a U-Net repeats no kernel
    assert network <= graph["graph"] <= 1.5 * network  # plus the heat map's one transposed convolution


def test_thread_scaling_and_tile_cost_measure_every_setting(model):
    path = resolve(model) / "model.onnx"
    cube = np.random.default_rng(0).normal(-14, 2, (4, 2, 24, 24)).astype(np.float32)
    scaling = bm.thread_scaling(path, {"x": cube[None, ..., :16, :16]}, rounds=1)
    assert set(scaling["wall_s"]) == {"1", "2"} and scaling["speedup_2_over_1"] > 0
    cost = bm.tile_cost(path, cube, (16, 32), rounds=1)
    assert [c["tile"] for c in cost] == [16, 32] and all(c["cpu_us_per_pixel"] > 0 for c in cost)


def test_a_negated_copy_of_a_convolution_counts_as_no_new_work():
    from onnx import helper

    w = np.random.default_rng(1).normal(size=(4, 4, 3, 3)).astype(np.float32)
    w[0] = -0.0  # the original holds -0.0, its negation 0.0: they must still match
    bias = np.arange(4, dtype=np.float32)
    inits = {"w": w, "b": bias, "w_neg": -w, "b_neg": -bias, "other": w + 1}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["a"], name="first"),
             helper.make_node("Conv", ["x", "w_neg", "b_neg"], ["b_out"], name="negated"),
             helper.make_node("Conv", ["x", "other"], ["c"], name="different"),
             helper.make_node("Conv", ["y", "w_neg", "b_neg"], ["d"], name="other_input"),
             helper.make_node("Conv", ["x", "w_neg", "b_neg"], ["e"], name="other_padding", pads=[1, 1, 1, 1])]
    assert bm._negated_copies(nodes, inits) == {"negated"}
