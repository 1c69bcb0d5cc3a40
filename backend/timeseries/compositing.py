"""Temporal compositing of an irregular acquisition series onto a model's T equal season windows.

Averaging happens in linear power, not in dB: speckle is multiplicative, and the mean of linear
intensity is the unbiased estimate of the backscatter coefficient, while the mean of dB values is the
mean of a log-gamma variable, which sits below the true level (about 2.5 dB for single-look data).
See docs/reading.md.

When no window holds more than one acquisition (one orbit at a 12-day revisit, the usual case since
Sentinel-1B was lost), there is nothing to average: dB values are then used as they are, and only the
gaps are filled through linear power. That is the same composite without the round trip through power,
which cost more than the read on dB stacks (docs/mapping.md, "Issue 15, ninth pass").
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import numpy as np

from backend.errors import UserError
from backend.raster.units import DB, to_power


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
    mode) acquisitions after ``as_of`` are ignored and steps that start after it are NaN padding. When no
    window holds two acquisitions, each step is its acquisition's dB value itself (see the module's note).
    """
    cube_db = np.asarray(cube_db, dtype=np.float32)
    _check_cube(cube_db, dates)
    members = _single_date_members(dates, start, end, steps, as_of)
    if members is not None:
        return _composite_single_dates(cube_db, members, dates, start, end, steps, as_of, owned=False)
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
    dates, windows = _checked_season(dates, start, end, steps, as_of)
    linear = _window_means(np.asarray(cube, dtype=np.float32), dates, windows, as_of)
    observed = np.isfinite(linear)
    filled = _fill_gaps(linear, observed)
    padding = _padding_steps(windows, as_of)
    filled[padding] = np.nan
    observed[padding] = False
    with np.errstate(divide="ignore", invalid="ignore"):  # in place: ``filled`` is this function's own array
        result = np.multiply(np.log10(filled, out=filled), np.float32(10.0), out=filled)
    return result, observed.sum(axis=0).astype(np.uint8)


def at_most_one_date_per_window(dates: Sequence[dt.date], start: dt.date, end: dt.date, steps: int,
                                as_of: dt.date | None = None) -> bool:
    """True when no window of the season holds two usable acquisitions, so a composite needs no averaging.

    Args:
        dates: the acquisitions (sorted or not; a repeated date counts twice).
        start, end: the season (inclusive).
        steps: the model's composite steps.
        as_of: early-season date (later acquisitions are not used), or None.

    Returns:
        Whether every window has zero or one usable acquisition (False for a season too short for
        ``steps``, which the compositing itself then refuses with its message).
    """
    return _single_date_members(dates, start, end, steps, as_of) is not None


def composite_series(reader, pol: str, start: dt.date, end: dt.date, steps: int, window=None,
                     as_of: dt.date | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`composite` of one polarization of a :class:`~backend.raster.SeriesReader`, for one window.

    Only the acquisitions inside the season are read, as linear power (:func:`composite_power`).
    """
    season = (start, end)
    dates = reader.dates_between(pol, season)
    if not dates:
        _raise_no_acquisition(reader.dates[pol], start, end)
    members = _single_date_members(dates, start, end, steps, as_of) if reader.stored_in_db(pol) else None
    if members is not None:
        return _composite_single_dates(reader.read(pol, window, between=season), members, dates, start, end, steps,
                                       as_of, owned=True)
    return composite_power(reader.read(pol, window, between=season, as_power=True), dates, start, end, steps,
                           as_of)


def _single_date_members(dates: Sequence[dt.date], start: dt.date, end: dt.date, steps: int,
                         as_of: dt.date | None) -> list[list[int]] | None:
    """Each window's usable acquisition (:func:`_window_members`) when none holds two, else None."""
    days = (end - start).days + 1
    if steps < 1 or days < steps:
        return None
    members = _window_members(_as_dates(dates), season_windows(start, end, steps), as_of)
    return members if all(len(found) <= 1 for found in members) else None


def _composite_single_dates(cube_db: np.ndarray, members: list[list[int]], dates: Sequence[dt.date],
                            start: dt.date, end: dt.date, steps: int, as_of: dt.date | None,
                            owned: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`composite` where each window holds at most one acquisition (``members``, from
    :func:`_single_date_members`): its dB values, gaps filled.

    ``owned``: the cube is this call's to return or overwrite (a fresh read), not the caller's data.
    """
    _check_cube(cube_db, dates)
    dates, windows = _checked_season(dates, start, end, steps, as_of)
    if members == [[k] for k in range(len(dates))]:  # each date is one window's, in order: the cube itself
        result = cube_db if owned else cube_db.copy()
    else:
        result = np.empty((steps,) + cube_db.shape[1:], np.float32)
        for step, found in enumerate(members):
            result[step] = cube_db[found[0]] if found else np.nan
    observed = np.isfinite(result)
    result = _fill_gaps(result, observed, in_db=True)
    padding = _padding_steps(windows, as_of)
    result[padding] = np.nan
    observed[padding] = False
    return result, observed.sum(axis=0).astype(np.uint8)


def _as_dates(dates: Sequence[dt.date]) -> list[dt.date]:
    return [d.date() if isinstance(d, dt.datetime) else d for d in dates]


def _checked_season(dates: Sequence[dt.date], start: dt.date, end: dt.date, steps: int,
                    as_of: dt.date | None) -> tuple[list[dt.date], list[tuple[dt.date, dt.date]]]:
    """The dates as dates and the season's windows, or a :class:`UserError` naming what to change."""
    dates = _as_dates(dates)
    if as_of is not None and as_of < start:
        raise UserError(f"{{param:as_of}} {as_of} is before the season start {start}; "
                        "give a date inside the season", param="as_of")
    windows = season_windows(start, end, steps)
    _check_season_has_data(dates, start, end)
    return dates, windows


def _window_members(dates: list[dt.date], windows: list[tuple[dt.date, dt.date]],
                    as_of: dt.date | None) -> list[list[int]]:
    """Positions in ``dates`` of each window's usable acquisitions (none after ``as_of``)."""
    last_usable = as_of or dt.date.max
    return [[i for i, d in enumerate(dates) if first <= d <= last and d <= last_usable] for first, last in windows]


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
    valid = np.isfinite(linear)
    np.copyto(linear, np.float32(0.0), where=~valid)
    means = np.empty((len(windows),) + linear.shape[1:], dtype=np.float32)
    for step, members in enumerate(_window_members(list(dates), windows, as_of)):
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


def _fill_gaps(values: np.ndarray, observed: np.ndarray, in_db: bool = False) -> np.ndarray:
    """Fill unobserved steps of ``values`` in place with the mean of the nearest observed steps before and
    after (the one there is at either end); returns ``values``.

    Two sweeps over the (few) steps carry the last observed value forwards and the next one backwards,
    one ``(h, w)`` plane at a time, keeping the carried planes only for steps with a gap; the fill is then
    computed at the unobserved pixels alone. No index arrays over the time axis, no gather, and no pass over
    the whole cube when a season merely ends after the last acquisition. With ``in_db`` the values are dB
    and the mean is still taken in linear power.
    """
    gaps = [k for k in range(values.shape[0]) if not observed[k].all()]
    if not gaps:  # every step observed everywhere (the usual case): nothing to fill
        return values
    before = _carried(values, observed, gaps, range(values.shape[0]))
    after = _carried(values, observed, gaps, range(values.shape[0] - 1, -1, -1))
    for k in gaps:
        missing = ~observed[k]
        b, a = before[k][missing], after[k][missing]
        fill = np.where(np.isnan(b), a, b)
        both = ~np.isnan(b) & ~np.isnan(a)
        if both.any():
            fill[both] = _mean_db(b[both], a[both]) if in_db else (b[both] + a[both]) / 2
        values[k][missing] = fill
    return values


def _carried(values: np.ndarray, observed: np.ndarray, gaps: list[int], order: range) -> dict[int, np.ndarray]:
    """For each step in ``gaps``, the last observed value per pixel met before it when walking ``order``.

    After a fully observed step the carried plane is that step itself (no copy); only a step with a gap
    starts a new plane, so the planes handed out are never one that the fill later writes into.
    """
    carry = np.full(values.shape[1:], np.nan, np.float32)
    wanted, held = set(gaps), {}
    for k in order:
        if k in wanted:
            held[k] = carry
            carry = carry.copy()
            np.copyto(carry, values[k], where=observed[k])
        else:
            carry = values[k]
    return held


def _mean_db(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dB of the mean linear power of two dB values (float32)."""
    power = to_power(a, DB) + to_power(b, DB)  # a and b are the fill's own copies: converted in place
    with np.errstate(divide="ignore"):
        return np.float32(10.0) * np.log10(power / np.float32(2.0))


def _padding_steps(windows: list[tuple[dt.date, dt.date]], as_of: dt.date | None) -> np.ndarray:
    return np.array([as_of is not None and first > as_of for first, _ in windows], dtype=bool)
