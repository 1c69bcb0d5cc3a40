"""Typed values of parsed options that several commands share (the contract has already checked them)."""

from __future__ import annotations

import datetime as dt
from typing import Sequence


def date_value(text: str | None) -> dt.date | None:
    """A ``YYYY-MM-DD`` option as a date (validated by the contract before any verb runs)."""
    return dt.date.fromisoformat(str(text)) if text else None


def season_value(values: Sequence[str] | None) -> tuple[dt.date, dt.date] | None:
    """A ``START END`` season option as two dates, or None when not given."""
    if not values:
        return None
    return dt.date.fromisoformat(str(values[0])), dt.date.fromisoformat(str(values[1]))
