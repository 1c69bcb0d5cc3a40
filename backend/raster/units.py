"""Tell dB from linear power by the values themselves, and convert linear power to dB.

Files rarely say which unit they hold. The values do: calibrated linear backscatter (sigma0/gamma0) is
non-negative and mostly below 1.5 (median around 0.01-0.2), while dB values of land and water are mostly
between -40 and +5 dB with a negative median. Anything else (digital numbers, amplitude scaled to
integers) is refused rather than guessed.
"""

from __future__ import annotations

import numpy as np

from backend.errors import UserError

DB = "dB"
LINEAR = "linear"
AMPLITUDE = "amplitude"  # ASF HyP3's amplitude scale

_LINEAR_MAX_MEDIAN = 1.5
_MAX_NEGATIVE_FRACTION_LINEAR = 0.05
_DB_RANGE = (-60.0, 30.0)


def declared_unit(text: str | None) -> str | None:
    """Unit from a band's unit string (``dB``, ``decibel``, ``linear``, ``power``), when set."""
    lowered = (text or "").strip().lower()
    if lowered in ("db", "decibel", "decibels"):
        return DB
    if lowered in ("linear", "power", "linear power", "intensity"):
        return LINEAR
    return None


def guess_unit(values: np.ndarray, source: str) -> str:
    """``'dB'`` or ``'linear'`` for a sample of valid (finite, not nodata) values of ``source``."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise UserError(f"{source}: no valid pixel to tell dB from linear power; check its nodata value")
    median = float(np.median(values))
    negative_fraction = float(np.mean(values < 0))
    low, high = np.percentile(values, [1, 99])
    if high <= 0 and low >= -_LINEAR_MAX_MEDIAN and median < 0:
        raise UserError(f"{source}: every value lies between {low:.3g} and {high:.3g}: this looks like linear "
                        "power with its sign flipped (dB of land and water reaches -15 to -25), not dB; "
                        "re-export the calibrated backscatter without the negative scale")
    if 0.0 <= median <= _LINEAR_MAX_MEDIAN and negative_fraction <= _MAX_NEGATIVE_FRACTION_LINEAR:
        return LINEAR
    if median < 0 and _DB_RANGE[0] <= low and high <= _DB_RANGE[1]:
        return DB
    raise UserError(f"{source}: values (median {median:.3g}, 1-99% range {low:.3g} to {high:.3g}) look "
                    "neither like backscatter in dB (mostly -40 to +5) nor like linear power (mostly 0 to 1.5); "
                    "give calibrated sigma0 or gamma0 backscatter")


def reconcile(declared: str | None, values: np.ndarray, source: str) -> tuple[str, str | None]:
    """The unit to read ``source`` in, and a note when the values overrule its declared unit.

    A declared unit that the values contradict is corrected, not obeyed: negative values cannot be
    linear power, and a whole scene between 0 and 1.5 "dB" would be brighter than a city centre, so the
    values decide unambiguously (docs/reading.md, "Plausibility"). Values that fit neither unit keep the
    declared one (other checks then judge the levels).

    Args:
        declared: Unit from the band metadata (:func:`declared_unit`), or None.
        values: Valid sampled values, exact zeros left out.
        source: File name for messages.

    Returns:
        (unit, note) where note is None unless the declared unit was overruled.

    Raises:
        UserError: Nothing is declared and the values fit neither unit.
    """
    if declared is None:
        return guess_unit(values, source), None
    try:
        found = guess_unit(values, source)
    except UserError:
        return declared, None
    if found == declared or (declared == AMPLITUDE and found == LINEAR):  # amplitude values look like power
        return declared, None
    median = float(np.median(values)) if np.size(values) else float("nan")
    return found, (f"{source}: band units say {declared} but the values (median {median:.3g}) are {found}; "
                   f"read as {found}. Fix the band unit (e.g. gdal_edit.py -units {found}) to silence this")


def to_db(values: np.ndarray, unit: str) -> np.ndarray:
    """Backscatter in dB as float32; linear values <= 0 (no data or noise-floor artefacts) become NaN."""
    values = np.asarray(values, dtype=np.float32)
    if unit == DB:
        return values
    factor = 20.0 if unit == AMPLITUDE else 10.0  # amplitude is the square root of power
    with np.errstate(divide="ignore", invalid="ignore"):
        db = factor * np.log10(values)
    db[~(values > 0)] = np.nan
    return db.astype(np.float32, copy=False)


def to_power(values: np.ndarray, unit: str) -> np.ndarray:
    """Linear power, converted in place in the float32 array ``values``; what is not power > 0 becomes NaN.

    The compositing averages power, so a linear file is read as it is instead of going to dB and back.

    Args:
        values: float32 values as read (NaN at nodata); overwritten.
        unit: the file's unit (:data:`DB`, :data:`LINEAR` or :data:`AMPLITUDE`).

    Returns:
        ``values``, now power (a dB value of +inf or beyond float32's range gives inf, not NaN).
    """
    if unit == DB:
        np.divide(values, np.float32(10.0), out=values)
        return np.power(np.float32(10.0), values, out=values)
    np.copyto(values, np.float32(np.nan), where=~(values > 0))
    if unit == AMPLITUDE:  # amplitude is the square root of power
        np.square(values, out=values)
    return values
