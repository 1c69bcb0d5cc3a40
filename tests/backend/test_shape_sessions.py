"""ONNX Runtime sessions fixed to one tile shape: the same probabilities and heat maps as the session with
free dimensions, one session per tile size, and batches of several tiles run tile by tile."""

from __future__ import annotations

import numpy as np
import pytest

from backend.inference.loader import load_model
from backend.modelstore import open_onnx
from backend.modelstore.onnx_io import shape_dims
from backend.tiles.engines import ShapeSessions, onnx_engine


def tiles(batch: int, side: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(-14.0, 3.0, (batch, 13, 2, side, side)).astype(np.float32)
    x[0, 2, 0, :5, :5] = np.nan
    return x


def test_shape_dims_names_the_free_dimensions_of_the_input():
    session, _ = open_onnx("simta-feature-cga", threads=1)
    assert shape_dims(session, (1, 13, 2, 272, 264)) == {"batch": 1, "height": 272, "width": 264}


def test_fixed_shape_sessions_give_the_free_sessions_results():
    model = load_model("simta-feature-cga", "onnx", "cpu", 1)
    free, _ = open_onnx("simta-feature-cga", threads=1)
    reference = onnx_engine(free, 1)
    for batch in (1, 2):
        x = tiles(batch, 64, seed=batch)
        prob, heat = model.engine.predict_with_heatmap(x, 0.5)
        prob_free, heat_free = reference.predict_with_heatmap(x, 0.5)
        assert np.abs(prob - prob_free).max() < 1e-5 and np.abs(heat - heat_free).max() < 1e-5
        assert prob.std() > 0.01  # not a constant map
        assert np.abs(model.engine.predict(x) - prob).max() < 1e-6
    no_tiles = tiles(1, 64)[:0]
    prob, heat = model.engine.predict_with_heatmap(no_tiles, 0.5)
    assert model.engine.predict(no_tiles).shape == prob.shape == heat.shape == (0, 64, 64)


def test_one_session_per_tile_size_and_batches_run_tile_by_tile():
    opened: list[tuple] = []

    def for_shape(shape: tuple[int, ...]) -> str:
        opened.append(shape)
        return f"session {len(opened)}"

    sessions = ShapeSessions("free", for_shape, keep=2)
    first = sessions.session((1, 13, 2, 272, 272))
    assert sessions.session((1, 13, 2, 272, 272)) == first
    batch = np.zeros((3, 13, 2, 8, 8), np.float32)
    batch[:, 0, 0, 0, 0] = [0, 1, 2]
    calls = sessions.calls(batch)
    assert [c.shape for c in calls] == [(1, 13, 2, 8, 8)] * 3 and [c[0, 0, 0, 0, 0] for c in calls] == [0, 1, 2]
    with pytest.raises(ValueError, match="one tile per call"):
        sessions.session((4, 13, 2, 272, 272))
    second = sessions.session((1, 13, 2, 256, 256))
    assert opened == [(1, 13, 2, 272, 272), (1, 13, 2, 256, 256)]
    sessions.session((1, 13, 2, 128, 128))  # a third shape drops the least recently used (the first)
    assert sessions.session((1, 13, 2, 256, 256)) == second and len(opened) == 3
    assert sessions.session((1, 13, 2, 272, 272)) != first and len(opened) == 4
    generic = ShapeSessions("free", None)
    assert generic.session((4, 13, 2, 64, 64)) == "free" and len(generic.calls(batch)) == 1
