"""Parameter checks that need the backend: the series' dates and problems, and whether a model exists.

They run in ``checkParameterValues``, before any work starts, and return sentences in the user's
words (the backend's UserError messages already name the file and say what to do).
"""

from __future__ import annotations

import datetime as dt
import os
import time

from qgis.core import QgsProcessingException, QgsVectorLayer

from ..settings import PLUGIN_DIR
from .base import DATE_FORMAT_HINT, parse_date, tr
from .runner import run_backend

CACHE_SECONDS = 120.0
_answers: dict[tuple, tuple[float, dict]] = {}


def quick_backend(verb: str, args: list[str]) -> dict:
    """``run_backend`` for the quick verbs behind the checks; successful answers are kept for a while.

    Processing checks twice (``checkParameterValues``, then ``prepareAlgorithm``, which batch rows and
    model steps reach without the first). The key includes the files' modification times, so an edited
    series is looked at again; failures are never kept, so a fixed problem is seen at once.
    """
    key = (verb, tuple(args), tuple(os.stat(a).st_mtime_ns if os.path.exists(a) else None for a in args))
    now = time.monotonic()
    if key in _answers and now - _answers[key][0] < CACHE_SECONDS:
        return _answers[key][1]
    answer = run_backend(verb, args)
    _answers[key] = (now, answer)
    return answer


def series_problems(algorithm, parameters: dict, context, start: str, end: str, as_of: str) -> list[str]:
    """What ``backend info`` finds wrong with the VV/VH series, and season dates outside its acquisitions."""
    try:
        info = quick_backend("info", ["--vv", *algorithm.raster_paths(parameters, "VV", context),
                                    "--vh", *algorithm.raster_paths(parameters, "VH", context)])
    except QgsProcessingException as error:
        return [str(error)]
    return [str(p) for p in info.get("problems") or []] + season_problems(info, start, end, as_of)


def season_problems(info: dict, start: str, end: str, as_of: str) -> list[str]:
    """Formats, order, and whether the season and 'as of' date fall within the series' acquisitions."""
    problems = []
    dates = {name: parse_date(text) for name, text in (("SEASON_START", start), ("SEASON_END", end),
                                                       ("AS_OF", as_of)) if text}
    for name, value in dates.items():
        if value is None:
            problems.append(tr("{}: write the date as {} (for example 2022-04-01).").format(name, DATE_FORMAT_HINT))
    if bool(start) != bool(end):
        problems.append(tr("SEASON_START and SEASON_END: give both dates or neither (neither = the model's "
                           "season length ending at the last acquisition)."))
    season_start, season_end, as_of_date = (dates.get(k) for k in ("SEASON_START", "SEASON_END", "AS_OF"))
    if season_start and season_end and season_start >= season_end:
        problems.append(tr("SEASON_START {} is not before SEASON_END {}; swap them.").format(start, end))
    first, last = _date_range(info)
    if first and last and season_start and season_end and (season_end < first or season_start > last):
        problems.append(tr("Season {} to {} lies outside the data's acquisitions ({} to {}); choose a season "
                           "within those dates.").format(start, end, first, last))
    if first and as_of_date and as_of_date < first:
        problems.append(tr("AS_OF {} is before the first acquisition ({}); choose a later date.").format(as_of, first))
    if season_start and as_of_date and as_of_date < season_start:
        problems.append(tr("AS_OF {} is before SEASON_START {}; an early-season map needs at least part of "
                           "the season.").format(as_of, start))
    return problems


def _date_range(info: dict) -> tuple[dt.date | None, dt.date | None]:
    ranges = [r for r in (info.get("date_range") or {}).values() if r and len(r) == 2]
    if not ranges:
        return None, None
    return max(parse_date(r[0]) for r in ranges), min(parse_date(r[1]) for r in ranges)


def model_problem(model: str) -> str | None:
    """Why ``model`` (a name, a folder, or empty for the bundled default) cannot be used, else None."""
    try:
        if model:
            quick_backend("models", [model])
            return None
        listing = quick_backend("models", [])
    except QgsProcessingException as error:
        return tr("MODEL: {}").format(error)
    names = [m.get("name", "") for m in listing.get("models") or []]
    if has_default_model(listing):
        return None
    if not names:
        return tr("MODEL: no model is installed. Run 'make pretrain' in the plugin folder, or give a model "
                  "folder (for example one written by fine-tuning).")
    return tr("MODEL: no default model is installed (run 'make pretrain'); name one of the installed "
              "models: {}.").format(", ".join(names))


def has_default_model(listing: dict) -> bool:
    """The backend's rule: ``models/default.json``, else a card that says ``"default": true``."""
    return (PLUGIN_DIR / "models" / "default.json").is_file() or any(
        m.get("default") is True for m in listing.get("models") or [])


def field_problem(layer, field: str, parameter: str) -> str | None:
    """A class field that the reference/labels vector layer does not have."""
    if not isinstance(layer, QgsVectorLayer) or not field:
        return None
    names = layer.fields().names()
    if field in names:
        return None
    return tr("{}: layer '{}' has no field '{}'; its fields are: {}.").format(
        parameter, layer.name(), field, ", ".join(names) or "none")
