"""Find acquisition dates and polarizations in band descriptions, metadata tags and file names.

Users' files come from SNAP, GEE, ASF or their own scripts, so we look for patterns anywhere in a
string rather than for one naming scheme: ``YYYY-MM-DD``, ``YYYY_MM_DD`` or ``YYYYMMDD`` not glued to
other digits, and ``VV`` / ``VH`` not glued to other letters (so ``1SDV`` in ESA product names is not
a polarization).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from backend.errors import UserError

POLARIZATIONS = ("VV", "VH")

_DATE_PATTERN = re.compile(r"(?<!\d)(\d{4})([-_]?)(\d{2})\2(\d{2})(?!\d)")
# SNAP band suffixes (04Jan2022) and BEAM-DIMAP times (04-JAN-2022 22:46:06)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_DATE_PATTERN = re.compile(r"(?<!\d)(\d{2})([-_]?)(" + "|".join(_MONTHS) + r")\2(\d{4})(?!\d)", re.IGNORECASE)
_POL_PATTERN = re.compile(r"(?<![A-Za-z])(VV|VH)(?![A-Za-z])", re.IGNORECASE)
_DATE_TAG_WORDS = ("date", "time", "acq")
_POL_TAG_WORDS = ("pol",)


def find_date(text: str | None) -> dt.date | None:
    """First valid calendar date in ``text``.

    Written as ``YYYY-MM-DD``, ``YYYY_MM_DD``, ``YYYYMMDD`` or, as SNAP and BEAM-DIMAP write it,
    ``04Jan2022`` / ``04-JAN-2022``.
    """
    found = [(m.start(), _numeric_date(m)) for m in _DATE_PATTERN.finditer(text or "")]
    found += [(m.start(), _month_date(m)) for m in _MONTH_DATE_PATTERN.finditer(text or "")]
    valid = sorted((position, date) for position, date in found if date and 1990 <= date.year <= 2100)
    return valid[0][1] if valid else None


def _numeric_date(match: re.Match) -> dt.date | None:
    year, _, month, day = match.groups()
    return _date(int(year), int(month), int(day))


def _month_date(match: re.Match) -> dt.date | None:
    day, _, month, year = match.groups()
    return _date(int(year), _MONTHS.index(month.lower()) + 1, int(day))


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def find_polarization(text: str | None) -> str | None:
    """``'VV'`` or ``'VH'`` when exactly one of them appears in ``text`` as a word part, else None."""
    found = {m.group(1).upper() for m in _POL_PATTERN.finditer(text or "")}
    return found.pop() if len(found) == 1 else None


def date_from_tags(tags: dict[str, str]) -> dt.date | None:
    """Date from band metadata: keys that mention a date or time first, then any value."""
    preferred = [v for k, v in tags.items() if any(w in k.lower() for w in _DATE_TAG_WORDS)]
    for value in preferred + list(tags.values()):
        found = find_date(value)
        if found:
            return found
    return None


def polarization_from_tags(tags: dict[str, str]) -> str | None:
    """Polarization from band metadata keys such as ``POLARIZATION`` or ``pol``."""
    for key, value in tags.items():
        if any(w in key.lower() for w in _POL_TAG_WORDS):
            pol = find_polarization(value)
            if pol:
                return pol
    return None


def polarization_from_filename(path: str) -> str | None:
    return find_polarization(Path(path).stem)


def date_from_filename(path: str) -> dt.date | None:
    return find_date(Path(path).stem)


def parse_dates_option(text: str) -> list[dt.date]:
    """Dates from ``--dates``: a file with one date per line, or a comma-separated list.

    Each entry must hold a ``YYYY-MM-DD`` or ``YYYYMMDD`` date; blank lines and ``#`` comments are skipped.
    """
    source = Path(text)
    try:
        is_file = source.is_file()
    except OSError:  # a long list of dates is not a valid path (ENAMETOOLONG)
        is_file = False
    if is_file:
        entries = [line.split("#", 1)[0].strip() for line in source.read_text().splitlines()]
        where = f"{{param:dates}} file {text}"
    else:
        if "," not in text and find_date(text) is None:
            raise UserError(f"{{param:dates}} {text!r}: no such file, and not a comma-separated list of dates; "
                            "give a file with one date per line or a list such as 2022-01-09,2022-01-21", param="dates")
        entries = [part.strip() for part in text.split(",")]
        where = "{param:dates}"
    entries = [e for e in entries if e]
    dates = []
    for number, entry in enumerate(entries, start=1):
        found = find_date(entry)
        if found is None:
            raise UserError(f"{where}: entry {number} {entry!r} is not a date; write dates as YYYY-MM-DD",
                            param="dates")
        dates.append(found)
    if not dates:
        raise UserError(f"{where}: no dates found; give one date per band, e.g. 2022-01-09,2022-01-21", param="dates")
    return dates
