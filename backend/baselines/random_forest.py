"""Per-pixel Random Forest baseline (scikit-learn), stored as ONNX (skl2onnx), never as a pickle.

Features per pixel: VV, VH and VH-VV in dB at every composited step (:func:`composite_features`).
The ONNX graph takes the feature matrix ``x`` ``(N, 3T)`` and outputs class probabilities ``(N, 2)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from backend.baselines.features import check_cube, composite_features, pixel_series
from backend.errors import UserError
from backend.modelstore.card import COMPOSITE, new_card
from backend.modelstore.onnx_io import ONNX_FILE, open_onnx
from backend.modelstore.writer import write_model_folder

ARCH = "random_forest"
POLARIZATIONS = ["VV", "VH"]


def train_random_forest(series_db: np.ndarray, labels: np.ndarray, n_estimators: int = 100,
                        max_depth: int | None = 16, seed: int = 0, n_jobs: int = 1):
    """Fit on pixel series ``(N, T, 2)`` in dB ([VV, VH]) with 0/1 ``labels``; returns the classifier."""
    from sklearn.ensemble import RandomForestClassifier

    series = np.asarray(series_db, dtype=np.float32)
    labels = np.asarray(labels).astype(np.int64).ravel()
    if series.ndim != 3 or series.shape[2] != 2 or len(series) != len(labels):
        raise UserError(f"Random Forest training needs series (N, T, 2) [VV, VH] and N labels; got "
                        f"{series.shape} and {labels.shape}")
    if set(np.unique(labels)) - {0, 1}:
        raise UserError("Random Forest labels must be 0 (other) or 1 (rice)")
    forest = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=seed,
                                    n_jobs=n_jobs, class_weight="balanced")
    return forest.fit(composite_features(series, POLARIZATIONS), labels)


def save_random_forest(forest, card: dict, folder: str | os.PathLike, overwrite: bool = False,
                       replace_bundled: bool = False) -> dict:
    """Model folder with ``model.onnx`` (probabilities, card embedded) and ``card.json``."""
    from skl2onnx import to_onnx

    steps = forest.n_features_in_ // 3
    sample = np.zeros((1, 3 * steps), dtype=np.float32)
    graph = to_onnx(forest, sample, options={id(forest): {"zipmap": False}},
                    target_opset={"": 17, "ai.onnx.ml": 3})
    inputs = {**card.get("inputs", {}), "polarizations": POLARIZATIONS, "steps": steps, "units": "dB",
              "normalization": {}, "size_multiple": 1, "composite": COMPOSITE}
    inputs.setdefault("season_days", None)
    full = new_card(**{**card, "name": card.get("name") or Path(folder).name, "arch": ARCH,
                       "arch_kwargs": {"n_estimators": forest.n_estimators, "max_depth": forest.max_depth,
                                       "features": "VV, VH, VH-VV (dB) per step"},
                       "fusion": {"scheme": "data", "method": None}, "inputs": inputs})
    return write_model_folder(folder, full, {ONNX_FILE: lambda p: p.write_bytes(graph.SerializeToString())},
                              overwrite, replace_bundled)


def predict_forest(folder: Path, card: dict, x_db: np.ndarray, session=None) -> np.ndarray:
    """Rice probability ``(B, 1, H, W)`` for a cube ``(B, T, C, H, W)`` in dB.

    Pass an open ``session`` when predicting many tiles, so the forest is loaded and verified once.
    """
    x = check_cube(x_db, card)
    if session is None:
        session, _ = open_onnx(folder)
    feats = composite_features(pixel_series(x), card["inputs"]["polarizations"])
    output = next(o.name for o in session.get_outputs() if o.name != "label")
    proba = session.run([output], {session.get_inputs()[0].name: feats})[0][:, 1]
    b, _, _, h, w = x.shape
    return proba.reshape(b, 1, h, w).astype(np.float32)
