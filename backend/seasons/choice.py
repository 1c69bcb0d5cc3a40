"""Which window(s) ``map`` composites: the one function that decides, from the data and what was given.

* no season given: the main detected cycle (largest share of the area among complete cycles), or every
  cycle with ``all_seasons``;
* a season given: snapped to the detected crop(s) it holds whole (flooding to harvest inside it; else the
  one it covers most, at least half), each mapped over the window the model was trained on, rice where
  any is; ``exact`` keeps the window as given;
* a season that covers no detected cycle is used as given, with a warning naming the detected cycles;
* early-season maps (``as_of``), series too short to show a cycle, or no cycle found keep the previous
  behaviour (the model's season length ending at the last acquisition), with a warning for the last two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.errors import UserError
from backend.seasons import detect
from backend.seasons.detect import Cycle
from backend.seasons.scan import Detection, no_cycle_message, scan

WINDOW_DAYS = 150  # when a model card declares no season length (the bundled models: 150)
MIN_COVER = 0.5  # share of a cycle's flooding-to-harvest span a given season must cover to snap to it
FULL_COVER_SLACK_DAYS = 12  # a crop is wholly inside a season when at most one 12-day revisit of it is outside


def resolve_season(reader: Any, model: Any, season: tuple[dt.date, dt.date] | None,
                   as_of: dt.date | None) -> tuple[dt.date, dt.date]:
    """The season to composite: as given (checked against the data), else the model's season length
    ending at the last acquisition, else the whole series."""
    dates = sorted({d for pol in model.pols for d in reader.dates[pol]})
    first, last = dates[0], dates[-1]
    if season is None:
        days = model.season_days
        start = max(first, last - dt.timedelta(days=days - 1)) if days else first
        season = (start, last)
    start, end = season
    if end < start:
        raise UserError(f"{{param:season}} {start} {end}: the end is before the start; swap them", param="season")
    if (end - start).days + 1 < model.steps:
        raise UserError(f"{{param:season}} {start} {end} is shorter than the model's {model.steps} composite "
                        "steps; give a season of at least that many days", param="season")
    if start > last or end < first or not any(start <= d <= end for d in dates):
        raise UserError(f"{{param:season}} {start} {end} holds no acquisition: the data cover {first} to {last}; "
                        "choose a season inside the data's dates", param="season")
    if as_of is not None and not start <= as_of <= end:
        raise UserError(f"{{param:as_of}} {as_of} is outside the season {start} to {end}; give a date inside it",
                        param="as_of")
    return start, end


@dataclass
class SeasonChoice:
    """The windows to map, why, and what the detection found."""

    windows: list[tuple[dt.date, dt.date]]
    reason: str
    given: tuple[dt.date, dt.date] | None = None
    detected: list[Cycle] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def span(self) -> tuple[dt.date, dt.date]:
        """First day of the first window to last day of the last."""
        return min(w[0] for w in self.windows), max(w[1] for w in self.windows)

    def record(self) -> dict:
        """What run.json keeps of the choice."""
        return {"windows": [[a.isoformat(), b.isoformat()] for a, b in self.windows], "reason": self.reason,
                "given": [d.isoformat() for d in self.given] if self.given else None,
                "detected": [c.record() for c in self.detected], "warnings": list(self.warnings)}


def window_days(model: Any) -> int:
    """Composite window per cycle: the model's own season length (card ``inputs.season_days``).

    Measured on the synthetic scenes (docs/seasons.md): 150-day windows beat 120-day ones for the
    bundled models, which were trained on windows of 120-190 days.
    """
    days = getattr(model, "season_days", None) or WINDOW_DAYS
    return max(int(model.steps), int(days))


def _inside_days(cycle: Cycle, season: tuple[dt.date, dt.date]) -> int:
    """Days of the cycle's flooding-to-harvest span (:data:`~backend.seasons.detect.CYCLE_DAYS`) inside ``season``."""
    core_end = cycle.flood + dt.timedelta(days=detect.CYCLE_DAYS)
    return max((min(core_end, season[1]) - max(cycle.flood, season[0])).days + 1, 0)


def covered(cycles: list[Cycle], season: tuple[dt.date, dt.date]) -> list[Cycle]:
    """The crops a given season holds: the cycles whose flooding-to-harvest span lies inside it (give or take
    one revisit, :data:`FULL_COVER_SLACK_DAYS`); when it holds none whole, the one it covers most, if at
    least :data:`MIN_COVER` of it. A window that covers one crop and a part of the next asks for that one
    crop: mapping the second too ran the model twice and added false rice (docs/seasons.md)."""
    inside = [_inside_days(c, season) for c in cycles]
    whole = [c for c, days in zip(cycles, inside) if days >= detect.CYCLE_DAYS + 1 - FULL_COVER_SLACK_DAYS]
    if whole or not cycles:
        return whole
    best = int(np.argmax(inside))
    return [cycles[best]] if inside[best] >= MIN_COVER * (detect.CYCLE_DAYS + 1) else []


def describe_cycles(cycles: list[Cycle]) -> str:
    """'2022-04-05 (flooding peak; window 2022-03-21 to 2022-07-18, 41 % of pixels), ...'."""
    return "; ".join(f"{c.window[0]} to {c.window[1]} (flooding peak {c.flood}, {c.share:.0%} of pixels)"
                     for c in cycles) or "none"


def resolve_map_season(reader: Any, model: Any, season_given: tuple[dt.date, dt.date] | None,
                       as_of: dt.date | None = None, all_seasons: bool = False, exact: bool = False,
                       reporter: Any = None) -> SeasonChoice:
    """Decide the composite window(s) for ``map`` (see the module docstring).

    Args:
        reader: the open series.
        model: the loaded model (steps, season_days).
        season_given: ``--season`` or None.
        as_of: ``--as-of`` (early-season map) or None.
        all_seasons: map every detected cycle when no season is given.
        exact: composite the given season as it is.
        reporter: where warnings go.

    Returns:
        The choice; every window is checked against the data by
        :func:`resolve_season`.

    Raises:
        UserError: a given season that is itself invalid (see ``resolve_season``).
    """
    if as_of is not None:
        return SeasonChoice([resolve_season(reader, model, season_given, as_of)], "early-season", season_given)
    found = _detect(reader, model)
    if season_given is not None:
        given = resolve_season(reader, model, season_given, None)
        return _snap(given, found, exact, reporter)
    if found is None or not found.cycles:
        fallback = resolve_season(reader, model, None, None)
        message = (no_cycle_message(found) if found else "the series is too short to find crop cycles in it")
        choice = SeasonChoice([fallback], "no-cycle-found-fallback", None, [],
                              [f"{message}; mapping the model's season length ending at the last acquisition "
                               f"({fallback[0]} to {fallback[1]}) instead"])
    elif all_seasons:
        choice = SeasonChoice([c.window for c in found.cycles], "all-detected", None, found.cycles)
    else:
        choice = SeasonChoice([found.main.window], "detected-main", None, found.cycles)
    _warn_all(reporter, choice.warnings)
    return choice


def _detect(reader: Any, model: Any) -> Detection | None:
    """The quick (sampled) scan, or None when the series is too short or lacks VH."""
    try:
        return scan(reader, window_days(model), full=False)
    except UserError:
        return None


def _snap(given: tuple[dt.date, dt.date], found: Detection | None, exact: bool, reporter: Any) -> SeasonChoice:
    cycles = found.cycles if found else []
    hits = covered(cycles, given)
    warnings = []
    if cycles and not hits:
        warnings.append(f"the season {given[0]} to {given[1]} covers no detected rice crop cycle; detected: "
                        f"{describe_cycles(cycles)}. Mapping the season as given")
    if exact or not hits:
        choice = SeasonChoice([given], "given-exact" if exact else "given-no-cycle", given, cycles, warnings)
    else:
        choice = SeasonChoice([c.window for c in hits], "given-snapped", given, cycles)
    _warn_all(reporter, choice.warnings)
    return choice


def warn(reporter: Any, message: str, param: str | None = None) -> None:
    """A ``warning`` event (JSON mode) or a log line; the run goes on."""
    if reporter is None:
        return
    if reporter.mode == "json":
        reporter.event("warning", message=message, param=param)
    else:
        reporter.log(f"warning: {message}")


def _warn_all(reporter: Any, messages: list[str]) -> None:
    for message in messages:
        warn(reporter, message, "season")
