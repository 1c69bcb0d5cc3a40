"""Polarization channels of composited cubes.

Cubes built from both polarizations are stacked in the canonical order ``[VV, VH]`` on axis 2
(``(N, T, C, H, W)``); a model wants its card's order, which may be one polarization or ``[VH, VV]``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

CANONICAL_POLS = ("VV", "VH")


def select_pols(x: np.ndarray, pols: Sequence[str]) -> np.ndarray:
    """Channels of a canonical ``[VV, VH]`` cube ``(N, T, 2, H, W)`` in the order ``pols`` lists them."""
    return np.ascontiguousarray(x[:, :, [CANONICAL_POLS.index(p) for p in pols]])
