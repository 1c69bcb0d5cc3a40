"""Frames of one satellite pass become one acquisition date.

Sentinel-1 cuts each pass (datatake) into ~25 s slices that overlap a little; an area often straddles two
of them. Items of the same orbit direction whose start times are less than :data:`PASS_GAP` apart belong
to one pass; a pass is dated by the UTC date of its first frame (the date in ESA product names), and
passes of the same direction on the same date are mosaicked together.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from backend.catalogue.search import orbit_of

PASS_GAP = dt.timedelta(minutes=10)


@dataclass
class Acquisition:
    """One output date: the items mosaicked into it."""

    date: dt.date
    orbit: str
    items: list[Any] = field(default_factory=list)

    @property
    def key(self) -> str:
        """File-name key, unique per date and direction."""
        return f"{self.date.isoformat()}_{self.orbit}"

    def describe(self) -> dict:
        return {"date": self.date.isoformat(), "orbit": self.orbit, "items": [i.id for i in self.items],
                "relative_orbits": sorted({i.properties.get("sat:relative_orbit") for i in self.items} - {None})}


def group_by_pass(items: list[Any]) -> list[Acquisition]:
    """Acquisitions (date, direction) sorted by date, each with its items in time order."""
    ordered = sorted((i for i in items if i.datetime is not None), key=lambda i: i.datetime)
    groups: dict[tuple[dt.date, str], Acquisition] = {}
    last_time: dict[str, dt.datetime] = {}
    pass_date: dict[str, dt.date] = {}
    for item in ordered:
        orbit = orbit_of(item)
        previous = last_time.get(orbit)
        if previous is None or item.datetime - previous > PASS_GAP:
            pass_date[orbit] = item.datetime.date()
        last_time[orbit] = item.datetime
        key = (pass_date[orbit], orbit)
        groups.setdefault(key, Acquisition(*key)).items.append(item)
    return sorted(groups.values(), key=lambda a: (a.date, a.orbit))


def acquisition_dates(items: list[Any]) -> list[dt.date]:
    """The dates :func:`group_by_pass` would give ``items``."""
    return [a.date for a in group_by_pass(items)]
