"""Per-pixel truth of a synthetic scene's rice crops: how many in a period, and their transplanting dates."""

from __future__ import annotations

import datetime as dt

import numpy as np

from backend.synthetic.scene import Scene

MAX_CROPS = 3
#: a crop counts in a period when it is transplanted inside it with this much of the period left to grow
#: (the same rule as a complete cycle in backend.seasons.detect)
MIN_GROWTH_DAYS = 90


def crop_truth(scene: Scene, period: tuple[dt.date, dt.date] | None = None,
               min_growth_days: int = MIN_GROWTH_DAYS, max_crops: int = MAX_CROPS) -> tuple[np.ndarray, np.ndarray]:
    """Rice crops per pixel in ``period`` and their transplanting (sowing) dates.

    Args:
        scene: a scene from :func:`~backend.synthetic.scene.generate_scene` (it carries ``object_map``).
        period: first and last day; defaults to the scene's first and last acquisition.
        min_growth_days: a crop transplanted later than this many days before the period's end is not counted.
        max_crops: the most crops kept per pixel (the first ones).

    Returns:
        ``(count, dates)``: (H, W) uint8 crops, 0 for non-rice, and (max_crops, H, W) int32 date
        ordinals in ascending order, 0 where a pixel has fewer crops.
    """
    if scene.object_map is None:
        raise ValueError("the scene has no object map; generate it with generate_scene")
    first, last = period or (scene.dates[0], scene.dates[-1])
    latest = last - dt.timedelta(days=min_growth_days)
    table = np.zeros((len(scene.fields), max_crops), dtype=np.int32)
    for i, fld in enumerate(scene.fields):
        if fld.is_rice:
            inside = sorted(d.toordinal() for d in fld.sowing_dates if first <= d <= latest)[:max_crops]
            table[i, :len(inside)] = inside
    dates = np.moveaxis(table[scene.object_map], -1, 0)
    return (dates > 0).sum(axis=0).astype(np.uint8), dates
