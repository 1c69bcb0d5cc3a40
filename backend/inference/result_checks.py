"""Is this map plausible? The ``checks`` section of run.json, computed from counts kept while writing.

A map can be wrong and look fine: a season with no crop cycle, inputs unlike the training data, a grid
in the wrong unit. None of these crash; each leaves a mark in the numbers that these checks read
(thresholds and reasons in docs/reading.md, "Plausibility"):

* ``valid_area``: under half the scene has valid data in the season (nodata, season, footprint);
* ``rice_share``: 0 % rice, or over 95 % of the valid area (no real landscape is all rice);
* ``probabilities``: over half the valid pixels within 0.4-0.6, a model that cannot decide, which
  is what out-of-distribution input gives;
* ``area``: rice area above the valid area, or the footprint above what its pixels can cover at
  Sentinel-1 pixel sizes.

Failed checks are warnings, not errors: the outputs are written, ``checks.ok`` is false and each
failure has a message the GUI shows on the result.
"""

from __future__ import annotations

import numpy as np

BINS = 20
MIN_VALID_SHARE = 0.5
MAX_RICE_SHARE = 0.95
UNDECIDED = (0.4, 0.6)
MAX_UNDECIDED_SHARE = 0.5
#: Largest accepted Sentinel-1 pixel (m), as in backend.raster.plausibility.PIXEL_RANGE_M.
MAX_PIXEL_M = 100.0


class ProbabilityHistogram:
    """Counts of valid probabilities in :data:`BINS` equal bins of [0, 1], updated strip by strip."""

    def __init__(self) -> None:
        self.counts = np.zeros(BINS, np.int64)

    def add(self, probability: np.ndarray, valid: np.ndarray) -> None:
        """Count the valid pixels of one strip.

        Args:
            probability: Blended probabilities of the strip.
            valid: Where the strip has data.
        """
        values = probability[valid]
        values = values[np.isfinite(values)]
        index = np.clip((values * BINS).astype(np.int64), 0, BINS - 1)
        self.counts += np.bincount(index, minlength=BINS)

    def share_between(self, low: float, high: float) -> float:
        """Share of counted pixels with a probability in [low, high) (bin resolution)."""
        total = int(self.counts.sum())
        if total == 0:
            return 0.0
        return float(self.counts[int(round(low * BINS)):int(round(high * BINS))].sum() / total)


def _check(name: str, ok: bool, value: float, limit: str, message: str) -> dict:
    return {"check": name, "ok": bool(ok), "value": round(float(value), 6), "limit": limit,
            **({} if ok else {"message": message})}


def result_checks(run: dict, histogram: ProbabilityHistogram, pixel_m2: float) -> dict:
    """The ``checks`` section for a finished map.

    Args:
        run: The run record so far (``valid_pixels``, ``rice_pixels``, ``width``, ``height``, areas).
        histogram: Probabilities counted while writing.
        pixel_m2: Area of one pixel in m².

    Returns:
        ``{"ok": bool, "warnings": [messages], "items": [one dict per check]}``.
    """
    scene_pixels = run["width"] * run["height"]
    valid, rice = run["valid_pixels"], run["rice_pixels"]
    valid_share = valid / scene_pixels if scene_pixels else 0.0
    rice_share = rice / valid if valid else 0.0
    undecided = histogram.share_between(*UNDECIDED)
    footprint_ha = scene_pixels * pixel_m2 / 1e4
    largest_ha = scene_pixels * MAX_PIXEL_M ** 2 / 1e4
    items = [
        _check("valid_area", valid_share >= MIN_VALID_SHARE, valid_share, f">= {MIN_VALID_SHARE}",
               f"only {valid_share:.0%} of the scene has valid data in the season; the rest is nodata or "
               "outside the footprint, so areas cover only that part: check nodata values and the season"),
        _check("rice_share", 0.0 < rice_share <= MAX_RICE_SHARE, rice_share, f"> 0 and <= {MAX_RICE_SHARE}",
               f"{rice_share:.1%} of the valid area is rice, which no real landscape shows; check the season "
               "(it must hold the crop cycle), the units and the VV/VH order (see `info`)"),
        _check("probabilities", undecided <= MAX_UNDECIDED_SHARE, undecided, f"<= {MAX_UNDECIDED_SHARE}",
               f"{undecided:.0%} of the probabilities lie between {UNDECIDED[0]} and {UNDECIDED[1]}: the model "
               "cannot decide, as happens with inputs unlike its training data; check units, season and model"),
        _check("area", run["rice_area_ha"] <= run["valid_area_ha"] <= footprint_ha * (1 + 1e-9) <= largest_ha,
               footprint_ha, f"rice <= valid <= footprint <= {largest_ha:.6g} ha",
               f"areas are inconsistent (rice {run['rice_area_ha']} ha, valid {run['valid_area_ha']} ha, "
               f"footprint {footprint_ha:.6g} ha); check the raster's CRS and pixel size"),
    ]
    warnings = [item["message"] for item in items if not item["ok"]]
    return {"ok": not warnings, "warnings": warnings, "items": items}
