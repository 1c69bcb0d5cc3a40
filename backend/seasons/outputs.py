"""The ``seasons`` outputs: cycles with their shares, cropping intensity, per-cycle rice, probability and
transplanting day-of-year rasters with QML styles, ``seasons.json`` and ``seasons.txt``, written atomically."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from backend.atomic import AtomicOutputs
from backend.contract.verbs.seasons import VERB as CONTRACT
from backend.errors import UserError
from backend.seasons import detect
from backend.seasons.choice import window_days
from backend.seasons.cycles_map import cycle_probabilities
from backend.seasons.detect import Cycle
from backend.seasons.scan import Detection, no_cycle_message, scan
from backend.writers.geotiff import StripWriter
from backend.writers.styles import write_style

TIF, QML = ".tif", ".qml"
#: per detected cycle, each written as ``<kind>_<start>_<end>.tif`` with its ``.qml``
CYCLE_KINDS = ("rice", "probability", "transplanting_doy")
RICE_NODATA = 255
INTENSITY_NODATA = 255
DOY_NODATA = 0
FIELD_MAJORITY = 5  # of the 9 pixels of a 3 x 3 neighbourhood


def counted(cycles: list[Cycle], period: tuple[dt.date, dt.date]) -> list[int]:
    """Indices of the cycles that count in the intensity: complete, flooding peak inside ``period``."""
    return [i for i, c in enumerate(cycles) if c.complete and period[0] <= c.flood <= period[1]]


def per_pixel(found: Detection, prob: np.ndarray, valid: np.ndarray, threshold: float,
              period: tuple[dt.date, dt.date]) -> dict[str, np.ndarray]:
    """Per-cycle rice and transplanting DOY, and the cropping intensity.

    A pixel is rice in a cycle when the model says so over that cycle's window *and* most of its 3 x 3
    neighbourhood (:data:`FIELD_MAJORITY` of 9) shows that cycle's flooding-then-growth with the model
    saying rice: a crop calendar belongs to a field, not to a pixel, so one pixel whose dip speckle or a
    field edge hid keeps its field's crop, and a lone pixel that dips and rises in a rice-like window
    does not make a crop. The intensity counts those cycles among :func:`counted` ones.

    Args:
        found: a full scan (per-pixel events).
        prob: (C, H, W) model probability per cycle.
        valid: (H, W) pixels with data.
        threshold: the model's rice threshold.
        period: the intensity period.

    Returns:
        ``rice`` (C, H, W) bool, ``doy`` (C, H, W) uint16 and ``date`` (C, H, W) ordinal of the
        transplanting (0 = none), ``intensity`` (H, W) uint8 and ``valid``.
    """
    assigned = detect.assign(found.events, found.cycles)
    ok = valid & found.valid
    pixel_rice = (prob >= threshold) & (assigned > 0) & ok[None]
    votes = _box_sum(pixel_rice)
    rice = (votes >= FIELD_MAJORITY) & (prob >= threshold) & ok[None]
    # a pixel the majority made rice without an event of its own takes its neighbours' mean date
    dates = np.where(pixel_rice, assigned, 0).astype(np.int64)
    mean_date = np.where(pixel_rice, assigned, _box_sum(dates) // np.maximum(votes, 1))
    doy = np.zeros(assigned.shape, dtype=np.uint16)
    for k in range(len(found.cycles)):
        days = mean_date[k][rice[k]]
        if days.size:
            doy[k][rice[k]] = _doy_vectorized(days)
    intensity = rice[counted(found.cycles, period)].sum(axis=0).astype(np.uint8)
    return {"rice": rice, "doy": doy, "date": np.where(rice, mean_date, 0),
            "intensity": np.where(ok, intensity, INTENSITY_NODATA).astype(np.uint8), "valid": ok}


def _box_sum(values: np.ndarray) -> np.ndarray:
    """Sum over each pixel's 3 x 3 neighbourhood on the last two axes (edges repeated), as int64."""
    h, w = values.shape[-2:]
    padded = np.pad(values.astype(np.int64), [(0, 0)] * (values.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    return sum(padded[..., i:i + h, j:j + w] for i in range(3) for j in range(3))


def _doy_vectorized(ordinals: np.ndarray) -> np.ndarray:
    """Day of year of date ordinals, through a lookup over their range."""
    lo, hi = int(ordinals.min()), int(ordinals.max())
    table = np.asarray([dt.date.fromordinal(o).timetuple().tm_yday for o in range(lo, hi + 1)], dtype=np.uint16)
    return table[ordinals - lo]


def _write(outputs: AtomicOutputs, grid: Any, name: str, data: np.ndarray, dtype: str, nodata: float,
           style: str, resampling: str = "nearest") -> None:
    writer = StripWriter(outputs.path(f"{name}{TIF}"), grid, dtype, nodata, resampling)
    try:
        writer.write(data)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    write_style(style, outputs.path(f"{name}{QML}"))


def run_seasons(reader: Any, model: Any, out_dir: str | Path, overwrite: bool = False,
                period: tuple[dt.date, dt.date] | None = None, reporter: Any = None) -> dict:
    """Find the cycles, map each, and write every output of the ``seasons`` verb.

    Args:
        reader: the open series (VV and VH as the model needs).
        model: the loaded model.
        out_dir: output folder.
        overwrite: replace earlier results there.
        period: the cropping-intensity period (default: the whole series).
        reporter: progress and warnings.

    Returns:
        The result (also ``seasons.json``).

    Raises:
        UserError: series too short, no cycle found (with the VH statistics), or a period outside the data.
    """
    found = scan(reader, window_days(model), full=True, reporter=reporter)
    if not found.cycles:
        raise UserError(no_cycle_message(found))
    period = _check_period(period, found.series)
    prob, valid = cycle_probabilities(reader, model, found.cycles, reporter)
    found.rice_share = {c.label: float(np.mean(prob[k][valid] >= model.threshold)) if valid.any() else 0.0
                        for k, c in enumerate(found.cycles)}
    pixels = per_pixel(found, prob, valid, model.threshold, period)
    with AtomicOutputs(out_dir, overwrite) as outputs:
        names = _write_rasters(outputs, reader.grid, found.cycles, prob, pixels)
        result = summary(found, pixels, period, model, {n: str(outputs.out_dir / n) for n in names})
        outputs.path(CONTRACT.output("seasons", "json")).write_text(json.dumps(result, indent=2))
        outputs.path(CONTRACT.output("seasons", "txt")).write_text(result["text"] + "\n", encoding="utf-8")
        outputs.commit()
    return result


def _check_period(period: tuple[dt.date, dt.date] | None, series: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    if period is None:
        return series
    if period[1] < series[0] or period[0] > series[1]:
        raise UserError(f"{{param:period}} {period[0]} to {period[1]} lies outside the series ({series[0]} to "
                        f"{series[1]}); give a period inside the data's dates", param="period")
    return period


def _write_rasters(outputs: AtomicOutputs, grid: Any, cycles: list[Cycle], prob: np.ndarray,
                   pixels: dict[str, np.ndarray]) -> list[str]:
    valid = pixels["valid"]
    _write(outputs, grid, "intensity", pixels["intensity"], "uint8", INTENSITY_NODATA, "intensity")
    names = [CONTRACT.output("intensity", "tif"), CONTRACT.output("intensity", "qml")]
    for k, cycle in enumerate(cycles):
        label = cycle.label
        rice = np.where(valid, pixels["rice"][k], RICE_NODATA).astype(np.uint8)
        _write(outputs, grid, f"rice_{label}", rice, "uint8", RICE_NODATA, "rice")
        _write(outputs, grid, f"probability_{label}", np.where(valid, prob[k], np.nan).astype(np.float32),
               "float32", float("nan"), "probability", "average")
        _write(outputs, grid, f"transplanting_doy_{label}", pixels["doy"][k], "uint16", DOY_NODATA,
               "transplanting_doy")
        names += [f"{kind}_{label}{ext}" for kind in CYCLE_KINDS for ext in (TIF, QML)]
    return names + [CONTRACT.output("seasons", "json"), CONTRACT.output("seasons", "txt")]


def summary(found: Detection, pixels: dict[str, np.ndarray], period: tuple[dt.date, dt.date], model: Any,
            outputs: dict[str, str]) -> dict:
    """The JSON result and the text the GUI shows."""
    valid = pixels["valid"]
    n_valid = max(int(valid.sum()), 1)
    cycles = []
    for k, cycle in enumerate(found.cycles):
        rice = pixels["rice"][k]
        doys = pixels["doy"][k][rice]
        cycles.append({**cycle.record(), "rice_share": round(float(rice.sum()) / n_valid, 4),
                       "transplanting_doy_median": int(np.median(doys)) if doys.size else None,
                       "files": {kind: f"{kind}_{cycle.label}{TIF}" for kind in CYCLE_KINDS}})
    intensity = pixels["intensity"][valid]
    shares = {str(n): round(float(np.mean(np.minimum(intensity, 4) == n)), 4) for n in range(5)}
    main = found.main
    result = {**found.record(), "cycles": cycles, "period": [period[0].isoformat(), period[1].isoformat()],
              "counted_cycles": [found.cycles[i].label for i in counted(found.cycles, period)],
              "intensity_shares": shares, "model": model.describe(), "outputs": outputs,
              "main": main.record() if main else None}
    result["text"] = report_text(result)
    return result


def report_text(result: dict) -> str:
    """Plain-text report of a ``seasons`` result (what the GUI panel shows)."""
    lines = [f"Series {result['series'][0]} to {result['series'][1]} ({result['n_dates']} VH dates): "
             f"{len(result['cycles'])} rice crop cycle(s) found."]
    for c in result["cycles"]:
        main = "  <- main season" if result["main"] and c["window"] == result["main"]["window"] else ""
        doy = c["transplanting_doy_median"]
        lines.append(f"  {c['window'][0]} to {c['window'][1]}: flooding peak {c['flood_peak']}, "
                     f"{c['share']:.0%} of pixels flood then grow, rice {c['rice_share']:.0%}"
                     f"{f', median transplanting day {doy}' if doy else ''}"
                     f"{'' if c['complete'] else ' (incomplete: the series ends within 90 days)'}{main}")
    s = result["intensity_shares"]
    lines.append(f"Cropping intensity {result['period'][0]} to {result['period'][1]}: no rice {s['0']:.0%}, "
                 f"1 crop {s['1']:.0%}, 2 crops {s['2']:.0%}, 3 crops {s['3']:.0%}"
                 + (f", 4+ {s['4']:.0%}" if s["4"] else "") + ".")
    lines += [f"Note: {n}" for n in result["notes"]]
    return "\n".join(lines)
