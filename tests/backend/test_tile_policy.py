"""The per-scene tile policy (backend.tiles.tiling.choose_tile) and the exported CGA fusion's inference form."""

from __future__ import annotations

import pytest
import torch

from backend.tiles.tiling import (
    BASE_TILE,
    LARGER_TILE_COST,
    PATTERN_BYTES_PER_PIXEL,
    TILE_GROWTH,
    TileGrid,
    choose_tile,
    memory_cap_tile,
    model_pixels,
    tile_memory_bytes,
)


@pytest.mark.parametrize("side", [256, 512, 1000, 1024, 4096, 10240])
def test_chosen_tile_never_shrinks_costs_no_more_and_fits_the_old_memory(side):
    width = side + 40
    tile = choose_tile(side, width, 256, 32, 8)
    assert 256 <= tile <= 256 * (1 + TILE_GROWTH) and tile % 8 == 0
    base = model_pixels(side, width, 256, 32)
    assert tile == 256 or model_pixels(side, width, tile, 32) * (1 + LARGER_TILE_COST) < base
    assert tile_memory_bytes(tile, width) <= tile_memory_bytes(BASE_TILE, width, PATTERN_BYTES_PER_PIXEL)


def test_a_1024_scene_takes_16_tiles_of_288_and_a_10k_scene_stays_at_256():
    assert choose_tile(1024, 1024, 256, 32, 8) == 288
    assert TileGrid.for_scene(1024, 1024, 288, 32, 8).n_tiles == 16
    assert model_pixels(1024, 1024, 288, 32) / model_pixels(1024, 1024, 256, 32) < 0.82
    assert choose_tile(10240, 10240, 256, 32, 8) == 256  # 4 % fewer pixels do not pay for 10 % per pixel


def test_requested_tiles_are_kept_above_the_cap_and_small_ones_grow_little():
    assert choose_tile(4096, 4096, 1024, 32, 8) == 1024 > memory_cap_tile(4096, 8)
    assert choose_tile(1024, 1024, 32, 8, 8) in (32, 36 // 8 * 8)
    assert memory_cap_tile(10240, 8) < memory_cap_tile(1024, 8)  # wider strips leave less for the tile


def test_cga_inference_form_equals_the_training_form():
    from backend.nets.fusion import CGAFusion

    torch.manual_seed(0)
    cga = CGAFusion(8).eval()
    x, y = torch.rand(3, 8, 21, 19), torch.rand(3, 8, 21, 19)
    with torch.no_grad():
        expected, got = cga(x, y), cga.inference_form()(x, y)
    assert (got - expected).abs().max() < 1e-5
    assert cga.inference_form().spatial_att.out_channels == 8  # the 2 -> 1 convolution is gone


def test_bundled_cga_graph_equals_the_training_form_network_within_1e5():
    import copy

    import numpy as np

    from backend.modelstore import load_torch, open_onnx
    from backend.nets.cam import ProbabilityAndHeatmap
    from backend.tiles.engines import logit

    net, _ = load_torch("simta-feature-cga")  # the bundled default, CGA fusion at every level
    session, _ = open_onnx("simta-feature-cga", threads=1)
    rng = np.random.default_rng(0)
    x = rng.normal(-14, 3, (1, net.steps, 2, 48, 48)).astype(np.float32)
    x[0, :, :, 8:30, 8:30] += 6
    prob, heat = session.run(["probability", "heatmap"], {"x": x, "logit_threshold": np.array(logit(0.5), np.float32)})
    with torch.no_grad():
        p_t, h_t = ProbabilityAndHeatmap(copy.deepcopy(net).eval()).eval()(torch.from_numpy(x), torch.tensor(0.0))
    assert np.abs(prob - p_t.numpy()).max() < 1e-5 and np.abs(heat - h_t.numpy()).max() < 1e-5
    assert heat.max() > 0  # some pixels are called rice, so the heat map is not trivially zero
