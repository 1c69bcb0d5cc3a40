"""Rule-based phenology detector: a flooding dip then a growth rise in VH backscatter.

Transplanted paddy rice is flooded first (specular water, very low VH) and VH then rises by several dB
as the canopy grows. Operational Sentinel-1 rice mapping in the Mekong Delta uses this signature
(Nguyen, Bui & Huang 2016, "Mapping rice extent and cropping scheme in the Mekong Delta using
Sentinel-1A data", Remote Sensing Letters 7(12); Bazzi et al. 2019, "Mapping paddy rice using
Sentinel-1 SAR time series in Camargue, France", Remote Sensing 11(7)). The hard thresholds are
softened with logistic ramps so the output is a probability-like score in [0, 1].

Score per pixel: ``max_t s((flood - VH_t)/softness) * s((rise_t - min_rise)/softness)`` where
``rise_t = max(VH_{t+1..t+N}) - VH_t`` and ``s`` is the logistic function.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from backend.baselines.features import check_cube
from backend.modelstore.card import COMPOSITE, new_card
from backend.modelstore.writer import write_model_folder

ARCH = "phenology_rules"
DEFAULT_RULES = {"flood_threshold_db": -20.0, "min_rise_db": 5.0, "max_rise_steps": 4, "softness_db": 1.0}


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def phenology_score(vh_db: np.ndarray, flood_threshold_db: float, min_rise_db: float, max_rise_steps: int,
                    softness_db: float) -> np.ndarray:
    """Score ``(B, 1, H, W)`` from VH series ``(B, T, H, W)`` in dB; missing dates never count."""
    vh = np.asarray(vh_db, dtype=np.float32)
    steps = vh.shape[1]
    best = np.zeros((vh.shape[0],) + vh.shape[2:], dtype=np.float32)
    for t in range(steps - 1):
        later = vh[:, t + 1:min(t + 1 + int(max_rise_steps), steps)]
        with np.errstate(all="ignore"):
            rise = np.where(np.all(np.isnan(later), axis=1), np.nan, np.nanmax(
                np.where(np.isnan(later), -np.inf, later), axis=1)) - vh[:, t]
        score = _logistic((flood_threshold_db - vh[:, t]) / softness_db) * \
            _logistic((rise - min_rise_db) / softness_db)
        best = np.maximum(best, np.nan_to_num(score, nan=0.0))
    return best[:, None].astype(np.float32)


def save_phenology_rules(card: dict, folder: str | os.PathLike, steps: int, overwrite: bool = False,
                         replace_bundled: bool = False, **rules: float) -> dict:
    """Card-only model folder; thresholds (``DEFAULT_RULES`` overridden by ``rules``) live in the card."""
    unknown = set(rules) - set(DEFAULT_RULES)
    if unknown:
        raise ValueError(f"unknown phenology rule(s) {sorted(unknown)}; known: {sorted(DEFAULT_RULES)}")
    inputs = {**card.get("inputs", {}), "polarizations": ["VH"], "steps": int(steps), "units": "dB",
              "normalization": {}, "size_multiple": 1, "composite": COMPOSITE}
    inputs.setdefault("season_days", None)
    full = new_card(**{**card, "name": card.get("name") or Path(folder).name, "arch": ARCH,
                       "arch_kwargs": {**DEFAULT_RULES, **rules}, "fusion": {"scheme": "vh", "method": None},
                       "inputs": inputs})
    return write_model_folder(folder, full, {}, overwrite, replace_bundled)


def predict_rules(card: dict, x_db: np.ndarray) -> np.ndarray:
    x = check_cube(x_db, card)
    return phenology_score(x[:, :, 0], **card["arch_kwargs"])
