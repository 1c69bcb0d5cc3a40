"""ONNX Runtime sessions fixed to one input shape: the same probabilities and heat maps as the session with
free dimensions, one session per tile size, and batches of several tiles sharing one."""

from __future__ import annotations

import numpy as np

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
    assert shape_dims(session, (1, 13, 2, 272, 264), True) == {"batch": 1, "height": 272, "width": 264}
    assert shape_dims(session, (3, 13, 2, 64, 64), False) == {"height": 64, "width": 64}


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


def test_one_session_per_tile_size_and_batches_share_one():
    opened: list[tuple] = []

    def for_shape(shape: tuple[int, ...], fix_batch: bool) -> str:
        opened.append((shape, fix_batch))
        return f"session {len(opened)}"

    sessions = ShapeSessions("free", for_shape, keep=2)
    first = sessions.session((1, 13, 2, 272, 272))
    assert sessions.session((1, 13, 2, 272, 272)) == first
    several = sessions.session((4, 13, 2, 272, 272))
    assert sessions.session((3, 13, 2, 272, 272)) == several  # a last, smaller batch: the same session
    assert opened == [((1, 13, 2, 272, 272), True), ((4, 13, 2, 272, 272), False)]
    sessions.session((1, 13, 2, 256, 256))  # a third shape drops the least recently used (the first)
    assert sessions.session((4, 13, 2, 272, 272)) == several and len(opened) == 3
    assert sessions.session((1, 13, 2, 272, 272)) != first and len(opened) == 4
    assert ShapeSessions("free", None).session((1, 13, 2, 64, 64)) == "free"
