"""Is this series plausible Sentinel-1 backscatter? Checks run on every series before any work.

Each check compares what the files say with what Sentinel-1 physics allows (thresholds and their
sources are in docs/reading.md, "Plausibility"):

* **levels**: calibrated sigma0/gamma0 lies between about 1e-5 and 10 in linear power (-50 to +10 dB);
  a scene's median in dB lies within -35 to +5 dB. Outside that the data are not backscatter.
* **pixel size**: Sentinel-1 IW products are delivered on 10 m (GRD, RTC) to 30 m grids; a pixel
  outside 5-100 m is a wrong CRS/transform or a resampling the models were never trained for.
* **VV/VH order**: cross-polarised (VH) backscatter is weaker than co-polarised (VV), by about 5-8 dB
  over crops and more over water; a VH input brighter than the VV input means the files were swapped.
* **dates** (needs the model): the season must hold enough distinct acquisitions for the model's
  composite steps, else the time series the model sees is mostly gap filling.

A :class:`Finding` at level ``error`` stops ``map``/``finetune`` (:func:`refuse_errors`); ``warning``
findings are recorded in ``run.json`` (``input_checks``) and shown by ``info``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from rasterio.windows import Window

from backend.errors import UserError
from backend.raster.pixel_area import pixel_sides_m
from backend.raster.sources import sample_windows

ERROR = "error"
WARNING = "warning"
#: Pixel sizes (m) accepted as Sentinel-1: IW GRD/RTC come at 10 m (native 20 x 22 m), OPERA/HyP3 at 10-30 m.
PIXEL_RANGE_M = (5.0, 100.0)
#: A scene median in dB outside this range is not land/water backscatter (Ulaby & Long 2014, ch. 11).
MEDIAN_DB_RANGE = (-35.0, 5.0)
#: Linear power 1e-5 ... 10, i.e. -50 ... +10 dB: below is under the noise floor, above only corner reflectors.
VALUE_DB_RANGE = (-50.0, 10.0)
#: Share of sampled values allowed outside VALUE_DB_RANGE before a warning.
OUTSIDE_SHARE = 0.05
#: VH brighter than VV by more than this (dB) means swapped inputs; the GUI uses the same margin.
SWAP_MARGIN_DB = 1.0
#: Fewest distinct acquisitions for any multi-step model: a flooding low and a growth rise need >= 3.
MIN_DATES = 3


@dataclass(frozen=True)
class Finding:
    """One result of a plausibility check, for ``info``, ``run.json`` and error messages."""

    level: str  # ERROR or WARNING
    check: str  # "levels", "pixel_size", "polarizations", "units", "dates"
    message: str
    param: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def series_findings(reader: Any) -> list[Finding]:
    """Every model-independent finding about ``reader`` (pixel size, levels, VV/VH order, units).

    Args:
        reader: An open :class:`~backend.raster.series.SeriesReader`.

    Returns:
        The findings, errors first.
    """
    findings = [Finding(WARNING, "units", note) for note in getattr(reader, "unit_notes", [])]
    findings += pixel_findings(reader)
    medians = {}
    for pol in reader.pols:
        values = sampled_db(reader, pol)
        findings += level_findings(reader, pol, values)
        if values.size:
            medians[pol] = float(np.median(values))
    findings += swap_findings(reader, medians)
    return sorted(findings, key=lambda f: f.level != ERROR)


def refuse_errors(findings: Sequence[Finding]) -> list[Finding]:
    """Raise the first error finding as a UserError; return the warnings.

    Raises:
        UserError: With the message (and parameter) of the first ``error`` finding.
    """
    for finding in findings:
        if finding.level == ERROR:
            raise UserError(finding.message, param=finding.param)
    return [f for f in findings if f.level != ERROR]


def check_series(reader: Any) -> list[dict]:
    """The model-independent checks (pixel size, levels, units, VV/VH) for verbs that find their own dates
    (``seasons``): refuse errors, return the warnings.

    Raises:
        UserError: Implausible data (wrong pixel size, not backscatter).
    """
    return [f.as_dict() for f in refuse_errors(sorted(series_findings(reader), key=lambda f: f.level != ERROR))]


def check_for_model(reader: Any, pols: Sequence[str], steps: int, season: tuple[dt.date, dt.date],
                    as_of: dt.date | None = None) -> list[dict]:
    """All checks before a model runs on ``reader``: refuse errors, return warnings for run.json.

    Args:
        reader: The open series.
        pols: Polarizations the model reads.
        steps: The model's composite steps.
        season: The season to composite (start, end), inclusive.
        as_of: Early-season date, or None.

    Returns:
        The warnings as JSON-able dicts.

    Raises:
        UserError: Implausible data (wrong pixel size, not backscatter) or too few dates.
    """
    findings = series_findings(reader) + date_findings(reader, pols, steps, season, as_of)
    return [f.as_dict() for f in refuse_errors(sorted(findings, key=lambda f: f.level != ERROR))]


def _names(reader: Any, pol: str | None = None) -> str:
    pols = [pol] if pol else reader.pols
    return ", ".join(Path(p).name for q in pols for p in reader.files[q])


def pixel_findings(reader: Any) -> list[Finding]:
    """Error when the pixel is outside :data:`PIXEL_RANGE_M` (absurd areas otherwise follow)."""
    try:
        sides = pixel_sides_m(reader.grid)
    except Exception:  # noqa: BLE001 - a CRS without usable units: the area check cannot run
        return [Finding(WARNING, "pixel_size", f"{_names(reader)}: the pixel size cannot be converted to "
                                                "metres; areas in hectares may be wrong")]
    low, high = PIXEL_RANGE_M
    if all(low <= s <= high for s in sides):
        return []
    shown = " x ".join(f"{s:.4g}" for s in sides)
    first = Path(reader.files[reader.pols[0]][0]).name
    return [Finding(ERROR, "pixel_size",
                    f"{_names(reader)}: pixels are {shown} m, far from Sentinel-1's 10-20 m (accepted: "
                    f"{low:g} to {high:g} m); check the CRS and geotransform, or resample to 10 m, e.g. "
                    f"gdalwarp -tr 10 10 -r average {first} {Path(first).stem}_10m.tif (in a metric CRS)")]


def sampled_db(reader: Any, pol: str) -> np.ndarray:
    """Finite dB values of ``pol`` from small patches spread over the scene, every date."""
    windows = sample_windows(reader.grid.height, reader.grid.width)
    parts = [reader.read(pol, Window(w.col_off, w.row_off, w.width, w.height)).ravel() for w in windows]
    values = np.concatenate(parts)
    return values[np.isfinite(values)]


def level_findings(reader: Any, pol: str, values: np.ndarray) -> list[Finding]:
    """Error when the median is not backscatter; warning when many values are physically impossible."""
    if values.size == 0:
        return []
    median = float(np.median(values))
    low, high = MEDIAN_DB_RANGE
    unit = reader.units.get(pol, "?")
    if not low <= median <= high:
        return [Finding(ERROR, "levels",
                        f"{_names(reader, pol)}: {pol} has a median of {median:.1f} dB (read as {unit}), but "
                        f"Sentinel-1 backscatter of land and water lies mostly between {low:g} and {high:+g} dB; "
                        "give calibrated sigma0 or gamma0 (linear power or dB), not amplitude or digital numbers, "
                        "and check the band units")]
    vmin, vmax = VALUE_DB_RANGE
    outside = float(np.mean((values < vmin) | (values > vmax)))
    if outside > OUTSIDE_SHARE:
        return [Finding(WARNING, "levels",
                        f"{_names(reader, pol)}: {outside:.0%} of sampled {pol} values lie outside {vmin:g} to "
                        f"{vmax:+g} dB (linear 1e-5 to 10), which calibrated backscatter almost never reaches; "
                        "check the calibration and the nodata value")]
    return []


def swap_findings(reader: Any, medians: dict[str, float]) -> list[Finding]:
    """Warning when VH is brighter than VV, or when both hold the same values."""
    if not {"VV", "VH"} <= set(medians):
        return []
    difference = medians["VH"] - medians["VV"]
    if difference > SWAP_MARGIN_DB:
        return [Finding(WARNING, "polarizations",
                        f"VV and VH look swapped: the VH input ({_names(reader, 'VH')}) is {difference:.1f} dB "
                        f"brighter than the VV input ({_names(reader, 'VV')}), but VH is normally 5-8 dB "
                        "darker; check which file is which (--vv / --vh)")]
    if difference == 0.0:
        return [Finding(WARNING, "polarizations",
                        f"VV ({_names(reader, 'VV')}) and VH ({_names(reader, 'VH')}) have the same median "
                        "level; VH is normally 5-8 dB darker: check that the same data was not given twice")]
    return []


def required_dates(steps: int) -> int:
    """Distinct acquisitions a model with ``steps`` composite steps needs: a third of them, at least 3."""
    return min(steps, max(MIN_DATES, math.ceil(steps / 3)))


def date_findings(reader: Any, pols: Sequence[str], steps: int, season: tuple[dt.date, dt.date],
                  as_of: dt.date | None = None) -> list[Finding]:
    """Error when a polarization has fewer distinct dates in the season than :func:`required_dates`."""
    start, end = season
    last = min(end, as_of) if as_of else end
    usable = steps
    if as_of is not None:  # early season: only the steps that started by as_of can hold data
        usable = max(1, math.ceil(steps * ((as_of - start).days + 1) / ((end - start).days + 1)))
    needed = required_dates(usable)
    for pol in pols:
        dates = sorted({d for d in reader.dates.get(pol, []) if start <= d <= last})
        if len(dates) < needed:
            shown = ", ".join(d.isoformat() for d in dates[:4]) or "none"
            return [Finding(ERROR, "dates",
                            f"{_names(reader, pol)}: only {len(dates)} distinct {pol} acquisition date(s) "
                            f"between {start} and {last} ({shown}); the model composites {steps} steps and needs "
                            f"at least {needed} distinct dates there: give a series with more acquisitions "
                            "(one band per date) or a longer {param:season}"
                            + (", or a later {param:as_of}" if as_of is not None and as_of < end else ""),
                            param="as_of" if as_of is not None and as_of < end else "season")]
    return []
