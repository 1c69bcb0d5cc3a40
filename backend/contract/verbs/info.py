"""``info``: what a Sentinel-1 series holds (layout, polarizations, dates, units, grid, problems)."""

from __future__ import annotations

from ..schema import Verb
from ..shared import PATHS_OPTION, SERIES_OPTIONS

VERB = Verb(
    name="info",
    help="describe a Sentinel-1 VV/VH series as JSON: layout, polarizations, dates, units, grid, problems",
    options=(PATHS_OPTION, *SERIES_OPTIONS),
    result_keys=("layout", "polarizations", "dates", "n_dates", "date_range", "units", "nodata", "files", "aligned",
                 "problems"),
)
