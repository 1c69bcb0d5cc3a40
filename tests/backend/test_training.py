"""Training loop, SAR augmentation, early-season schedule, pretraining CLI and the real-data chain."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.experiments import angiang
from backend.nets import build_model
from backend.training.augment import augment_batch, early_season_cutoffs, shift_time
from backend.training.loop import IGNORE, StartingPointDecay, TrainConfig, masked_bce, predict, train

REPO = Path(__file__).resolve().parents[2]


def test_early_season_cutoffs_are_chronological_and_in_range():
    rng = np.random.default_rng(0)
    cuts = early_season_cutoffs(20, 13, 0.35, rng)
    used = [c for c in cuts if c is not None]
    assert len(used) == 7
    assert used == sorted(used), "cut-offs must grow through the epoch"
    assert min(used) >= 6 and max(used) <= 12


def test_augment_moves_inputs_and_labels_together():
    rng = np.random.default_rng(1)
    y = np.zeros((3, 8, 8), np.uint8)
    y[:, 0, :3] = 1  # an asymmetric shape, so any rotation or flip moves it
    x = np.repeat(y[:, None, None].astype(np.float32), 2, axis=2) * 10 - 20  # (3, 1, 2, 8, 8)
    for _ in range(10):
        xa, ya = augment_batch(x, y, rng)
        assert xa.shape == x.shape and ya.shape == y.shape
        bright = xa[:, 0, 0] > -15  # +-1 dB gain and speckle keep the 10 dB step recognisable
        assert np.mean(bright == (ya == 1)) > 0.95


def test_time_shift_moves_each_series_and_marks_vacated_steps_missing():
    x = np.arange(5, dtype=np.float32)[None, :, None, None, None].repeat(3, axis=0)  # (3, 5, 1, 1, 1)
    out = shift_time(x, np.array([2, 0, -1]))
    np.testing.assert_array_equal(out[0, :, 0, 0, 0], [np.nan, np.nan, 0, 1, 2])
    np.testing.assert_array_equal(out[1, :, 0, 0, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(out[2, :, 0, 0, 0], [1, 2, 3, 4, np.nan])
    rng = np.random.default_rng(0)
    y = np.zeros((3, 1, 1), np.uint8)
    shifted = [augment_batch(x, y, rng, max_shift=2)[0] for _ in range(20)]
    missing = [int(np.isnan(s[b, :, 0, 0, 0]).sum()) for s in shifted for b in range(3)]
    assert max(missing) == 2 and min(missing) == 0  # shifts of 0..2 steps either way, never more


def test_starting_point_decay_pulls_weights_back_without_gradient():
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    decay = StartingPointDecay([weight], strength=100.0)
    with torch.no_grad():
        weight.add_(torch.tensor([0.5, 0.5]))  # as if an optimizer step had moved it
    decay.step(lr=1e-3)  # moves back by lr x strength = 10 % of the displacement
    torch.testing.assert_close(weight.detach(), torch.tensor([1.45, -1.55]))
    for _ in range(200):
        decay.step(lr=1e-3)
    torch.testing.assert_close(weight.detach(), torch.tensor([1.0, -2.0]), atol=1e-6, rtol=0)


def test_masked_loss_ignores_unlabelled_pixels():
    logits = torch.zeros(1, 1, 4, 4)
    y = torch.full((1, 4, 4), IGNORE)
    assert float(masked_bce(logits, y, 1.0)) == 0.0
    y[0, 0, 0] = 1
    assert float(masked_bce(logits, y, 1.0)) == pytest.approx(np.log(2), rel=1e-5)


def _toy_data(n, rng, size=16, steps=6):
    """Rice pixels show a VH flooding dip then a rise; others stay flat. Some pixels unlabelled."""
    blocks = (rng.random((n, size // 4, size // 4)) < 0.4).astype(np.uint8)
    y = np.kron(blocks, np.ones((1, 4, 4), np.uint8))  # field-like 4 x 4 blocks
    t = np.arange(steps)
    rice_curve = np.where(t < 2, -23.0, -23.0 + 4.0 * (t - 1))
    x = np.full((n, steps, 2, size, size), -15.0, np.float32)
    x[:, :, 1] = np.where(y[:, None] == 1, rice_curve[None, :, None, None], -15.0)
    x += rng.normal(0, 1.0, x.shape).astype(np.float32)
    y[:, 0, :] = IGNORE
    return x, y


def test_train_learns_a_separable_task_and_keeps_the_best_epoch():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x_tr, y_tr = _toy_data(48, rng)
    x_val, y_val = _toy_data(16, rng)
    torch.manual_seed(0)  # the initial weights must not depend on which tests ran before
    net = build_model("unet", steps=6, width=4, depth=2)
    logs = []
    result = train(net, x_tr, y_tr, x_val, y_val, TrainConfig(epochs=8, batch_size=8, lr=1e-2, seed=0),
                   on_epoch=logs.append)
    assert len(logs) == len(result.history) >= 1
    assert result.best_val_f1 == max(h.val_f1 for h in result.history)
    assert result.best_val_f1 > 0.9
    prob = predict(net, x_val)
    assert prob.shape == y_val.shape and np.all((prob >= 0) & (prob <= 1))


def test_pretrain_rejects_unknown_recipe():
    proc = subprocess.run([sys.executable, "-m", "backend", "pretrain", "--only", "nonsense"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown recipe(s) nonsense" in proc.stderr and "simta-feature-cga" in proc.stderr


@pytest.mark.skipif(not (angiang.DATA_DIR / "train_cubes.npz").is_file(),
                    reason="real An Giang cubes not found beside the repository (../shared/data/ey2023-angiang)")
def test_real_cubes_through_reader_and_compositing_match_direct_computation():
    cubes = angiang.load_cubes()
    subset = {k: (v[:3] if getattr(v, "ndim", 0) >= 1 and len(v) == 600 else v) for k, v in cubes.items()}
    x = angiang.composite_cubes(subset, steps=5)
    assert x.shape == (3, 5, 2, 10, 10)
    dates = [dt.date.fromisoformat(str(d)) for d in cubes["dates"][0]]
    start, end = angiang.SEASON
    first_window_end = start + (end - start) / 5
    inside = [i for i, d in enumerate(dates) if start <= d < first_window_end]
    expected = 10 * np.log10(cubes["vv_vh"][:3, inside].mean(axis=1))  # (3, 2, 10, 10)
    np.testing.assert_allclose(x[:, 0], expected, atol=1e-3)


def test_pad_to_multiple_keeps_the_cube_in_the_centre():
    x = np.arange(100, dtype=np.float32).reshape(1, 10, 10)
    padded, crop = angiang.pad_to_multiple(x, 8)
    assert padded.shape == (1, 32, 32)
    np.testing.assert_array_equal(padded[:, crop, crop], x)
