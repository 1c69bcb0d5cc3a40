"""Temporal compositing of an irregular acquisition series onto a model's T equal season windows.

Averaging happens in linear power, not in dB: speckle is multiplicative, and the mean of linear
intensity is the unbiased estimate of the backscatter coefficient, while the mean of dB values is the
mean of a log-gamma variable, which sits below the true level (about 2.5 dB for single-look data).
See docs/reading.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import numpy as np

from backend.errors import UserError


def season_windows(start: dt.date, end: dt.date, steps: int) -> list[tuple[dt.date, dt.date]]:
    """``steps`` consecutive windows (inclusive first and last day) covering ``[start, end]`` equally.

    Window lengths differ by at most one day when the season length is not a multiple of ``steps``.
    """
    if steps < 1:
        raise UserError(f"steps={steps}: the number of composite steps must be at least 1")
    days = (end - start).days + 1
    if days < steps:
        raise UserError(f"season {start} to {end} has {max(days, 0)} days, fewer than the {steps} steps "
                        "needed; give a longer {param:season}", param="season")
    edges = [start + dt.timedelta(days=(k * days) // steps) for k in range(steps + 1)]
    return [(edges[k], edges[k + 1] - dt.timedelta(days=1)) for k in range(steps)]


def composite(cube_db: np.ndarray, dates: Sequence[dt.date], start: dt.date, end: dt.date, steps: int,
              as_of: dt.date | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Composite a (T, h, w) dB cube onto ``steps`` windows of ``[start, end]``.

    Returns ``(composite, count)``: (steps, h, w) float32 dB and (h, w) uint8, the number of steps
    that had at least one real observation. Empty windows are filled from the neighbouring real steps
    (mean of the previous and next ones, or the nearest at either end). With ``as_of`` (early-season
    mode) acquisitions after ``as_of`` are ignored and steps that start after it are NaN padding.
    """
    cube_db = np.asarray(cube_db, dtype=np.float32)
    _check_cube(cube_db, dates)
    linear = cube_db / np.float32(10.0)
    np.power(np.float32(10.0), linear, out=linear)
    return composite_power(linear, dates, start, end, steps, as_of)


def composite_power(cube: np.ndarray, dates: Sequence[dt.date], start: dt.date, end: dt.date, steps: int,
                    as_of: dt.date | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`composite` of a (T, h, w) cube of linear power (non-finite = no observation).

    Args:
        cube: float32 linear power; overwritten (its invalid values are zeroed).
        dates: one per band of ``cube``.
        start, end: the season (inclusive).
        steps: the model's composite steps.
        as_of: early-season date, or None.

    Returns:
        As :func:`composite`: (steps, h, w) float32 dB and the (h, w) uint8 count of observed steps.

    Raises:
        UserError: no acquisition in the season, or ``as_of`` before its start.
    """
    _check_cube(cube, dates)
    dates = [d.date() if isinstance(d, dt.datetime) else d for d in dates]
    if as_of is not None and as_of < start:
        raise UserError(f"{{param:as_of}} {as_of} is before the season start {start}; "
                        "give a date inside the season", param="as_of")
    windows = season_windows(start, end, steps)
    _check_season_has_data(dates, start, end)
    linear = _window_means(np.asarray(cube, dtype=np.float32), dates, windows, as_of)
    observed = np.isfinite(linear)
    filled = _fill_gaps(linear, observed)
    padding = _padding_steps(windows, as_of)
    filled[padding] = np.nan
    observed[padding] = False
    with np.errstate(divide="ignore", invalid="ignore"):  # in place: ``filled`` is this function's own array
        result = np.multiply(np.log10(filled, out=filled), np.float32(10.0), out=filled)
    return result, observed.sum(axis=0).astype(np.uint8)


def composite_series(reader, pol: str, start: dt.date, end: dt.date, steps: int, window=None,
                     as_of: dt.date | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`composite` of one polarization of a :class:`~backend.raster.SeriesReader`, for one window.

    Only the acquisitions inside the season are read, as linear power (:func:`composite_power`).
    """
    season = (start, end)
    dates = reader.dates_between(pol, season)
    if not dates:
        _raise_no_acquisition(reader.dates[pol], start, end)
    return composite_power(reader.read(pol, window, between=season, as_power=True), dates, start, end, steps,
                           as_of)


def _check_cube(cube: np.ndarray, dates: Sequence[dt.date]) -> None:
    if cube.ndim != 3 or cube.shape[0] != len(dates):
        raise ValueError(f"cube of shape {cube.shape} does not match {len(dates)} dates; expected (T, h, w)")


def _check_season_has_data(dates: Sequence[dt.date], start: dt.date, end: dt.date) -> None:
    if not any(start <= d <= end for d in dates):
        _raise_no_acquisition(dates, start, end)


def _raise_no_acquisition(dates: Sequence[dt.date], start: dt.date, end: dt.date) -> None:
    span = f"{min(dates)} to {max(dates)}" if dates else "no dates at all"
    raise UserError(f"season {start} to {end} holds no acquisition (the data cover {span}); "
                    "choose a {param:season} inside the data's dates or add acquisitions for that season",
                    param="season")


def _window_means(linear: np.ndarray, dates: Sequence[dt.date], windows: list[tuple[dt.date, dt.date]],
                  as_of: dt.date | None) -> np.ndarray:
    """(steps, h, w) mean linear power per window; NaN where a window has no valid observation.

    Invalid values of ``linear`` are zeroed in place once and counted once, so each window is a sum over
    a slice of dates (dates are usually sorted, so a window's members are consecutive). The float32
    division equals the rounded float64 one (double rounding is innocuous from 53 to 24 bits), and 0 / 0
    gives the NaN of an empty window.
    """
    last_usable = as_of or dt.date.max
    valid = np.isfinite(linear)
    np.copyto(linear, np.float32(0.0), where=~valid)
    means = np.empty((len(windows),) + linear.shape[1:], dtype=np.float32)
    for step, (first, last) in enumerate(windows):
        members = [i for i, d in enumerate(dates) if first <= d <= last and d <= last_usable]
        if not members:
            means[step] = np.nan  # only the empty windows need their NaN written
            continue
        chosen = slice(members[0], members[-1] + 1) if members == list(range(members[0], members[-1] + 1)) \
            else members
        count = valid[chosen].sum(axis=0, dtype=np.float32)
        total = linear[chosen].sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(total, count, out=means[step])
    return means


def _fill_gaps(values: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Fill unobserved steps with the mean of the nearest observed steps before and after.

    Two sweeps over the (few) steps carry the last observed value forwards and the next one backwards,
    one ``(h, w)`` plane at a time: no index arrays over the time axis, no gather.
    """
    if observed.all():  # every step observed everywhere (the usual case): nothing to fill
        return values
    steps = values.shape[0]
    before = np.full_like(values, np.nan)
    after = np.full_like(values, np.nan)
    carry = np.full(values.shape[1:], np.nan, np.float32)
    for k in range(steps):
        before[k] = carry
        np.copyto(carry, values[k], where=observed[k])
    carry.fill(np.nan)
    for k in range(steps - 1, -1, -1):
        after[k] = carry
        np.copyto(carry, values[k], where=observed[k])
    with np.errstate(invalid="ignore"):
        fill = np.where(np.isnan(before), after, np.where(np.isnan(after), before, (before + after) / 2))
    return np.where(observed, values, fill).astype(np.float32, copy=False)


def _padding_steps(windows: list[tuple[dt.date, dt.date]], as_of: dt.date | None) -> np.ndarray:
    return np.array([as_of is not None and first > as_of for first, _ in windows], dtype=bool)
