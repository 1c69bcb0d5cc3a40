"""The real-data learning curve on a few An Giang cubes per site: folds, sampling and pooled scores."""

from __future__ import annotations

import numpy as np
import pytest
from test_finetune_fixtures import save_tiny_models

from backend.experiments import angiang
from backend.experiments.learning_curve import CurveConfig, holdout, learning_curve, markdown_table, stratified_sample


def test_sampling_is_stratified_and_holdout_keeps_both_classes():
    labels = np.array([1] * 30 + [0] * 70)
    rng = np.random.default_rng(0)
    chosen = stratified_sample(labels, 10, rng)
    assert len(set(chosen)) == 10 and labels[chosen].sum() == 5
    assert len(stratified_sample(labels, None, rng)) == 100
    train, val = holdout(labels[chosen], 0.2, rng)
    assert set(labels[chosen][val]) == {0, 1} and set(labels[chosen][train]) == {0, 1}
    assert not set(train) & set(val) and len(train) + len(val) == 10


@pytest.mark.skipif(not (angiang.DATA_DIR / "train_cubes.npz").is_file(),
                    reason="real An Giang cubes not found beside the repository (../shared/data/ey2023-angiang)")
def test_curve_predicts_every_held_out_point_once(tmp_path):
    import torch

    torch.set_num_threads(1)
    cubes = angiang.load_cubes()
    keep = np.concatenate([np.flatnonzero(cubes["site"] == s)[:6] for s in range(7)])
    small = {k: (v[keep] if getattr(v, "shape", ()) and v.shape[:1] == cubes["label"].shape else v)
             for k, v in cubes.items()}
    model = save_tiny_models(tmp_path)["tiny-simta"]
    cfg = CurveConfig(sizes=(8,), methods=("RF", "FTE"), epochs=1, batch=4, rf_trees=20)
    result = learning_curve(small, model, cfg, log=lambda m: None)
    for method in ("RF", "FTE"):
        cell = result["pooled"][method]["8"]
        assert cell["n_test"] == len(keep) and 0.0 <= cell["f1_mean"] <= 1.0
    assert {r["fold"] for r in result["runs"]} == {0, 1}
    assert all(r["n_points"] == 8 for r in result["runs"])
    assert "| FTE |" in markdown_table(result)


def _dip_series(n: int, dip_step: int, rice: bool, rng: np.random.Generator) -> np.ndarray:
    """(n, 13, 2, 10, 10) [VV, VH] dB: rice floods (VH -24 dB) at ``dip_step``, everything else about -15."""
    x = np.full((n, 13, 2, 10, 10), -15.0, np.float32) + rng.normal(0, 0.5, (n, 13, 2, 1, 1)).astype(np.float32)
    if rice:
        x[:, dip_step, 1] = -24.0
    return x


def test_time_shifted_forest_copies_recognise_another_calendar():
    from backend.experiments.angiang import centre_features
    from backend.experiments.learning_curve import Prepared, _forest

    rng = np.random.default_rng(0)
    series = np.concatenate([_dip_series(20, 4, True, rng), _dip_series(20, 4, False, rng),  # training site
                             _dip_series(20, 8, True, rng), _dip_series(20, 8, False, rng)])  # other calendar
    label = np.array([1] * 20 + [0] * 20 + [1] * 20 + [0] * 20)
    data = Prepared(x=np.zeros(1), y=np.zeros(1), features=centre_features(series), series=series, label=label,
                    site=np.zeros(80, int), crop=slice(0, 10), base=None, base_name="none")
    train, test = np.arange(40), np.arange(40, 80)
    plain = _forest(data, train, test, seed=0, trees=50)
    shifted = _forest(data, train, test, seed=0, trees=50, time_shift=4)
    assert plain[:20].mean() < 0.5  # the flood four steps later is not what the plain forest learned
    assert shifted[:20].mean() >= 0.9 and shifted[20:].mean() <= 0.1  # found, without calling the rest rice
