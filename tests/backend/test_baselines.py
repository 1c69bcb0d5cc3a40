"""Non-neural baselines on simple synthetic series: a Random Forest stored as ONNX (never a pickle) and the
VH flood-then-rise phenology rules, both used through model folders and ``predict_proba``."""

import numpy as np
import onnx
import pytest
import torch

from backend.baselines import predict_proba
from backend.baselines.phenology import DEFAULT_RULES, phenology_score, save_phenology_rules
from backend.baselines.random_forest import save_random_forest, train_random_forest
from backend.errors import UserError
from backend.modelstore import check_inputs, list_models, load_card, load_torch, open_onnx, save_model
from backend.nets import build_model

STEPS = 6
RICE_VH = np.array([-17.0, -24.0, -23.0, -18.0, -15.0, -14.0])  # flooded, then the canopy grows


def synthetic_pixels(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel series (n, T, 2) [VV, VH] in dB: rice dips and rises in VH, other land stays flat."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    vh = np.where(labels[:, None] == 1, RICE_VH, -16.0) + rng.normal(0, 1.0, (n, STEPS))
    vv = vh + 6.0 + rng.normal(0, 1.0, (n, STEPS))
    return np.stack([vv, vh], axis=-1).astype(np.float32), labels


def as_cube(series: np.ndarray, side: int) -> np.ndarray:
    """(side*side, T, C) -> (1, T, C, side, side)."""
    return np.moveaxis(series[: side * side].reshape(1, side, side, STEPS, -1), (3, 4), (1, 2))


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("S1RM_MODEL_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def test_random_forest_round_trip_through_onnx(user_dir):
    train_x, train_y = synthetic_pixels(600, seed=0)
    test_x, test_y = synthetic_pixels(256, seed=1)
    forest = train_random_forest(train_x, train_y, n_estimators=20, max_depth=8)
    card = save_random_forest(forest, {"name": "rf", "metrics": {"note": "synthetic"}}, user_dir / "rf")
    assert set(card["files"]) == {"model.onnx"}  # no pickle anywhere
    assert card["arch"] == "random_forest" and card["inputs"]["steps"] == STEPS
    cube = as_cube(test_x, 16)
    cube[0, 2, :, 0, 0] = np.nan  # a missing date must not break the features
    proba = predict_proba("rf", cube)
    assert proba.shape == (1, 1, 16, 16) and np.isfinite(proba).all()
    accuracy = ((proba.reshape(-1) > 0.5) == test_y).mean()
    assert accuracy > 0.9
    onnx_model = onnx.load(str(user_dir / "rf" / "model.onnx"))
    assert onnx_model.producer_name == "s1ricemapper"
    assert any(m["name"] == "rf" for m in list_models())


def test_random_forest_bad_training_input():
    with pytest.raises(UserError, match="series \\(N, T, 2\\)"):
        train_random_forest(np.zeros((10, STEPS, 1)), np.zeros(10))
    with pytest.raises(UserError, match="0 \\(other\\) or 1 \\(rice\\)"):
        train_random_forest(np.zeros((10, STEPS, 2)), np.full(10, 3))


def test_phenology_rules_separate_rice_from_flat_land(user_dir):
    series, labels = synthetic_pixels(256, seed=2)
    card = save_phenology_rules({"name": "rules"}, user_dir / "rules", steps=STEPS, min_rise_db=4.0)
    assert card["files"] == {} and card["arch_kwargs"]["min_rise_db"] == 4.0
    assert card["inputs"]["polarizations"] == ["VH"]
    check_inputs(card, ["VH"])  # works on VH-only scenes
    score = predict_proba("rules", as_cube(series, 16)[:, :, 1:2])
    assert score.shape == (1, 1, 16, 16) and ((score >= 0) & (score <= 1)).all()
    accuracy = ((score.reshape(-1) > 0.5) == labels).mean()
    assert accuracy > 0.9


def test_phenology_score_handles_missing_dates():
    vh = np.tile(RICE_VH, (1, 1, 1, 1)).transpose(0, 3, 1, 2).astype(np.float32)  # (1, T, 1, 1)
    assert phenology_score(vh, **DEFAULT_RULES)[0, 0, 0, 0] > 0.5
    vh[:, 1:3] = np.nan  # the flooded dates are missing: no evidence of flooding
    assert phenology_score(vh, **DEFAULT_RULES)[0, 0, 0, 0] < 0.5
    all_missing = np.full((1, STEPS, 2, 2), np.nan, dtype=np.float32)
    assert (phenology_score(all_missing, **DEFAULT_RULES) == 0).all()


def test_wrong_cube_shape_and_neural_model_are_refused(user_dir, tmp_path):
    save_phenology_rules({"name": "rules"}, user_dir / "rules", steps=STEPS)
    with pytest.raises(UserError, match="needs input \\(B, 6, 1, H, W\\)"):
        predict_proba("rules", np.zeros((1, STEPS, 2, 4, 4), dtype=np.float32))
    torch.set_num_threads(1)
    save_model(build_model("convlstm", steps=2, width=2), {"name": "lstm"}, user_dir / "lstm")
    with pytest.raises(UserError, match="not a baseline"):
        predict_proba(user_dir / "lstm", np.zeros((1, 2, 2, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="unknown phenology rule"):
        save_phenology_rules({"name": "bad"}, tmp_path / "bad", steps=STEPS, flood_db=-20)
    assert load_card("rules")["arch"] == "phenology_rules"
    with pytest.raises(UserError, match="no model.onnx"):
        open_onnx("rules")
    with pytest.raises(UserError, match="not a PyTorch network"):
        load_torch("rules")
