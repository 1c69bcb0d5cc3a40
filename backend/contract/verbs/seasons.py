"""``seasons``: the rice crop cycles of a series, cropping intensity and transplanting dates."""

from __future__ import annotations

from ..schema import Option, Verb
from ..shared import (
    OUT_OPTION,
    OVERWRITE_OPTION,
    SERIES_OPTIONS,
    engine_option,
    model_option,
    styled,
    threads_option,
)

VERB = Verb(
    name="seasons",
    help="find the rice crop cycles in a series (flooding then VH growth), map each with the model; writes "
         "intensity.tif, per cycle rice_START_END.tif, probability_START_END.tif and transplanting_doy_START_END.tif "
         "with QML styles, seasons.json and seasons.txt",
    options=(
        *SERIES_OPTIONS,
        model_option(group="seasons"),
        Option("period", "date_range", "Cropping-intensity period", "count the crops whose flooding falls in this "
               "period, YYYY-MM-DD YYYY-MM-DD (default: the whole series)", metavar="START END", group="seasons",
               advanced=True),
        engine_option(group="seasons"),
        Option("device", "choice", "Device", "where the model runs", default="auto",
               choices=("auto", "cpu", "cuda"), group="seasons", advanced=True),
        threads_option(group="seasons"),
        OUT_OPTION,
        OVERWRITE_OPTION,
    ),
    # per detected cycle also rice_START_END, probability_START_END, transplanting_doy_START_END (.tif, .qml)
    outputs=(*styled("intensity"), "seasons.json", "seasons.txt"),
    result_keys=("series", "n_dates", "cycles", "main", "gaps", "notes", "valid_pixels", "vh_statistics", "period",
                 "counted_cycles", "intensity_shares", "model", "outputs", "text"),
)
