"""Per-pixel features shared by the non-neural baselines."""

from __future__ import annotations

import numpy as np

from backend.errors import UserError

#: Stands in for missing backscatter: darker than any land or water return, so trees can isolate it.
MISSING_DB = -40.0


def check_cube(x_db: np.ndarray, card: dict) -> np.ndarray:
    """``x_db`` as float32 ``(B, T, C, H, W)`` matching the card's steps and polarizations."""
    x = np.asarray(x_db, dtype=np.float32)
    pols, steps = card["inputs"]["polarizations"], card["inputs"]["steps"]
    if x.ndim != 5 or x.shape[2] != len(pols) or (steps and x.shape[1] != steps):
        raise UserError(f"model {card['name']!r} needs input (B, {steps or 'T'}, {len(pols)}, H, W) with "
                        f"polarizations {pols}; got shape {tuple(x.shape)}; composite the scene to the "
                        "model's steps first")
    return x


def pixel_series(x_db: np.ndarray) -> np.ndarray:
    """``(B, T, C, H, W) -> (B*H*W, T, C)``."""
    return np.moveaxis(np.asarray(x_db, dtype=np.float32), (1, 2), (3, 4)).reshape(-1, x_db.shape[1],
                                                                                     x_db.shape[2])


def composite_features(series: np.ndarray, polarizations: list[str]) -> np.ndarray:
    """VV, VH and VH-VV per step from pixel series ``(N, T, C)`` in dB -> ``(N, 3T)`` float32.

    Missing values become :data:`MISSING_DB` (ratio: 0), so features are always finite.
    """
    vv = series[:, :, polarizations.index("VV")]
    vh = series[:, :, polarizations.index("VH")]
    ratio = np.nan_to_num(vh - vv, nan=0.0)
    feats = np.concatenate([np.nan_to_num(vv, nan=MISSING_DB), np.nan_to_num(vh, nan=MISSING_DB), ratio], axis=1)
    return feats.astype(np.float32)
