"""Non-neural baselines usable through model folders like the networks: a per-pixel Random Forest
(``arch = "random_forest"``, ONNX) and a rule-based phenology detector (``arch = "phenology_rules"``,
thresholds in the card). ``map`` calls :func:`predict_proba` for them.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from backend.baselines.phenology import predict_rules
from backend.baselines.random_forest import predict_forest
from backend.errors import UserError
from backend.modelstore import load_card, open_onnx, resolve

BASELINE_ARCHS = ("random_forest", "phenology_rules")


def _not_a_baseline(card: dict) -> str:
    return (f"model {card['name']!r} is a {card['arch']!r} network, not a baseline "
            f"({', '.join(BASELINE_ARCHS)}); `map --model {card['name']}` runs it with its own engine")


def make_predictor(model_folder: str | os.PathLike) -> Callable[[np.ndarray], np.ndarray]:
    """A predictor ``x_db (B, T, C, H, W) -> (B, 1, H, W)`` that verifies and opens the model once (tiled maps)."""
    folder = resolve(model_folder)
    card = load_card(folder, verify=True)
    if card["arch"] == "random_forest":
        session, _ = open_onnx(folder)
        return lambda x_db: predict_forest(folder, card, x_db, session=session)
    if card["arch"] == "phenology_rules":
        return lambda x_db: predict_rules(card, x_db)
    raise UserError(_not_a_baseline(card))


def predict_proba(model_folder: str | os.PathLike, x_db: np.ndarray) -> np.ndarray:
    """Rice probability ``(B, 1, H, W)`` for a cube ``(B, T, C, H, W)`` in dB (card polarization order)."""
    folder = resolve(model_folder)
    card = load_card(folder, verify=True)
    if card["arch"] == "random_forest":
        return predict_forest(folder, card, x_db)
    if card["arch"] == "phenology_rules":
        return predict_rules(card, x_db)
    raise UserError(_not_a_baseline(card))
