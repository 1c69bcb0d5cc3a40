"""Tiling arithmetic, blending and streaming, with an in-memory scene and a small convolutional net."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.errors import UserError
from backend.progress import Reporter
from backend.tiles.engines import torch_engine
from backend.tiles.pipeline import ArraySink, ArraySource, stream_scene
from backend.tiles.tiling import (
    StripBlender,
    TileGrid,
    axis_origins,
    blend_window,
    check_tile,
    reflect_pad,
    snap_up,
    threshold,
    tile_window,
)

torch.set_num_threads(1)


class TinyConvNet(torch.nn.Module):
    """Purely convolutional (receptive radius 3 px): time and polarization folded into channels."""

    def __init__(self, steps: int = 3, pols: int = 2) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(steps * pols, 8, 3, padding=1), torch.nn.ReLU(),
                                        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
                                        torch.nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, x):
        x = torch.nan_to_num((x + 12.0) / 4.0)
        return self.body(x.flatten(1, 2))


def scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = rng.normal(-12, 3, (3, 2, height // 4 + 1, width // 4 + 1)).repeat(4, -1).repeat(4, -2)
    return (smooth[..., :height, :width] + rng.normal(0, 1, (3, 2, height, width))).astype(np.float32)


def run_tiled(cube: np.ndarray, tile: int, overlap: int, batch: int = 2):
    engine = torch_engine(TinyConvNet(), "cpu", 1)
    source, sink = ArraySource(cube), ArraySink()
    grid = TileGrid.for_scene(source.height, source.width, tile, overlap, 16)
    stats = stream_scene(source, engine, grid, sink, Reporter("none"), batch=batch, with_heatmap=False)
    return sink.probability, sink.valid, stats, grid


def single_window(cube: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return torch.sigmoid(TinyConvNet()(torch.from_numpy(cube[None])))[0, 0].numpy()


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 8), (1000, 256, 32), (33, 32, 0), (7, 32, 16)])
def test_axis_origins_cover_the_axis_with_the_requested_overlap(length, tile, overlap):
    origins = axis_origins(length, tile, overlap)
    assert origins[0] == -(overlap // 2)
    assert origins[-1] + tile >= length + overlap // 2
    assert all(b - a <= tile - overlap for a, b in zip(origins, origins[1:]))
    assert all(b > a for a, b in zip(origins, origins[1:]))


def test_tile_size_must_suit_the_model_and_the_message_names_working_sizes():
    check_tile(256, 32, 16)
    with pytest.raises(UserError, match=r"--tile 250.*multiples of 16.*240, 256"):
        check_tile(250, 32, 16)
    with pytest.raises(UserError, match="--overlap"):
        check_tile(64, 40, 16)
    assert snap_up(20, 16) == 32 and snap_up(32, 16) == 32 and snap_up(1, 16) == 16


def test_small_scene_gets_one_shrunken_tile():
    grid = TileGrid.for_scene(20, 40, 256, 32, 16)
    assert grid.tile == 80 and grid.n_tiles == 1


def test_blend_window_is_smooth_symmetric_and_never_zero():
    w = blend_window(64, 32)
    assert w.min() > 0 and w.max() == pytest.approx(1.0)
    assert np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])
    assert w[16, 16] == pytest.approx(0.5 ** 2, rel=0.15)  # scene-edge pixels (halo 16) keep weight 0.5
    assert np.abs(np.diff(w[32])).max() <= 1 / 16 + 1e-6


def test_window_and_reflect_padding_at_scene_edges():
    win = tile_window(-4, 10, 16, 20, 20)
    assert (win.row_off, win.col_off, win.height, win.width) == (0, 10, 12, 10)
    assert win.pad == ((4, 0), (0, 6))
    padded = reflect_pad(np.arange(12 * 10, dtype=np.float32).reshape(1, 12, 10), win.pad)
    assert padded.shape == (1, 16, 16)
    assert np.array_equal(padded[0, 3], padded[0, 5])  # row -1 mirrors row 1


def test_strip_blender_averages_overlaps_and_releases_rows():
    blender = StripBlender(10, 10, 6, 1)
    weight = np.ones((6, 6), np.float32)
    blender.add(0, 0, np.full((1, 6, 6), 1.0), weight)
    blender.add(0, 4, np.full((1, 6, 6), 3.0), weight)
    first, rows = blender.pop_until(4)
    assert first == 0 and rows.shape == (1, 4, 10)
    assert np.allclose(rows[0, :, :4], 1) and np.allclose(rows[0, :, 4:6], 2) and np.allclose(rows[0, :, 6:], 3)
    assert threshold(np.array([0.2, 0.7]), np.array([True, False]), 0.5).tolist() == [0, 255]


def test_interior_of_tiled_prediction_matches_single_window():
    cube = scene(70, 90)
    prob, valid, stats, grid = run_tiled(cube, tile=32, overlap=16)
    assert stats.tiles == grid.n_tiles > 9 and valid.all()
    reference = single_window(cube)
    interior = (slice(4, -4), slice(4, -4))
    assert np.abs(prob[interior] - reference[interior]).max() < 1e-3


def test_no_seam_at_tile_borders():
    cube = scene(96, 96, seed=3)
    prob, _, _, grid = run_tiled(cube, tile=32, overlap=8)
    jumps = np.abs(np.diff(prob, axis=1))
    borders = sorted({c + d for c in grid.col_origins for d in (0, grid.tile) if 0 < c + d < 96})
    at_borders = jumps[:, [b - 1 for b in borders]].mean()
    assert at_borders <= 1.1 * jumps.mean()


def test_scene_smaller_than_a_tile_and_nodata_stays_nodata():
    cube = scene(20, 13)
    cube[:, :, :5, :] = np.nan
    prob, valid, stats, grid = run_tiled(cube, tile=256, overlap=32)
    assert prob.shape == (20, 13) and stats.tiles == 1
    assert not valid[:5].any() and valid[5:].all()
    assert np.isfinite(prob[5:]).all() and ((prob >= 0) & (prob <= 1)).all()


def test_tiles_without_data_skip_the_model():
    cube = scene(64, 64)
    cube[..., :, :40] = np.nan
    _, valid, stats, _ = run_tiled(cube, tile=32, overlap=0)
    assert stats.tiles_inferred < stats.tiles and not valid[:, :40].any()


@pytest.mark.parametrize("rows", [1, 5, 16])
def test_shift_up_equals_roll_and_zero_fill_without_a_second_strip(rows):
    from backend.tiles.tiling import _shift_up

    rng = np.random.default_rng(rows)
    for n in range(rows + 1):
        array = rng.random((3, rows, 7))
        expected = np.roll(array, -n, axis=1)
        expected[:, rows - n:] = 0
        _shift_up(array, n, axis=1)
        np.testing.assert_array_equal(array, expected)
