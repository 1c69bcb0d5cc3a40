"""SAR-aware augmentation and the early-season batch schedule.

Flips and 90° rotations keep radar geometry plausible at field scale; speckle re-noising multiplies
linear intensity by a gamma variate (mean 1), which is what extra or fewer looks do; a small dB gain
offset per polarization mimics calibration and incidence differences between scenes. A time shift
(used by fine-tuning, off in pretraining) moves each sample's series by a few composite steps, the vacated steps becoming "no
data" (NaN): fields sown a few weeks earlier or later than the labelled ones, so that a model fine-tuned
on one site's calendar does not learn that calendar's dates as the sign of rice.
"""

from __future__ import annotations

import numpy as np

from backend.contract.verbs.finetune import VERB as FINETUNE

#: Time-shift augmentation of fine-tuning, in composite steps (``finetune --time-shift``; 0 = off), defined
#: in the contract. With the default 13 steps over a season, 4 steps are about 6 weeks; chosen on the An Giang
#: learning curve (docs/finetuning.md), whose two rice sites are about 5 steps apart.
DEFAULT_TIME_SHIFT = FINETUNE.default("time_shift")


def shift_time(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """``x (B, T, ...)`` with sample ``b`` moved ``shifts[b]`` steps later (earlier if negative); the steps
    left empty are NaN, which the networks read as missing observations."""
    out = np.full_like(x, np.nan)
    steps = x.shape[1]
    for b, k in enumerate(np.asarray(shifts, dtype=int)):
        k = int(np.clip(k, -(steps - 1), steps - 1))
        if k >= 0:
            out[b, k:] = x[b, :steps - k]
        else:
            out[b, :k] = x[b, -k:]
    return out


def augment_batch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                  looks: tuple[float, float] = (8.0, 30.0), gain_db: float = 1.0, max_shift: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Augment ``x (B, T, C, H, W)`` dB and ``y (B, H, W)`` together; returns new arrays.

    ``max_shift`` > 0 also shifts each sample's series by a random number of steps in
    ``[-max_shift, max_shift]`` (see :func:`shift_time`).
    """
    k = int(rng.integers(4))
    x = np.rot90(x, k, axes=(-2, -1))
    y = np.rot90(y, k, axes=(-2, -1))
    if rng.random() < 0.5:
        x, y = x[..., ::-1], y[..., ::-1]
    x = np.array(x, dtype=np.float32)
    y = np.ascontiguousarray(y)
    if rng.random() < 0.5:
        enl = rng.uniform(*looks)
        speckle = rng.gamma(enl, 1.0 / enl, size=x.shape).astype(np.float32)
        x = x + 10.0 * np.log10(speckle)
    offset = rng.uniform(-gain_db, gain_db, size=(x.shape[0], 1, x.shape[2], 1, 1)).astype(np.float32)
    x = x + offset
    if max_shift > 0:
        x = shift_time(x, rng.integers(-max_shift, max_shift + 1, size=x.shape[0]))
    return x, y


def early_season_cutoffs(n_batches: int, steps: int, share: float, rng: np.random.Generator
                         ) -> list[int | None]:
    """Per batch, the step after which inputs are padded (``None`` = full season).

    Following the transfer-learning paper's chronologically ordered early-season batches, a share of
    the batches see the season cut at increasing times within the epoch, from half the season to
    nearly all of it, so that one model learns to map from partial series as well as full ones.
    """
    n_early = int(round(n_batches * share))
    lo = max(1, steps // 2)
    cut_steps = np.linspace(lo, steps - 1, n_early).round().astype(int).tolist() if n_early else []
    slots = sorted(rng.choice(n_batches, size=n_early, replace=False).tolist()) if n_early else []
    cutoffs: list[int | None] = [None] * n_batches
    for slot, cut in zip(slots, cut_steps):
        cutoffs[slot] = cut
    return cutoffs
