"""Searching a STAC API with pystac-client: retries with backoff, clear messages, orbit choice.

Every network failure ends in a :class:`~backend.errors.UserError` that names the URL and says what to
do: unreachable host, 4xx (401/403: token; 404: wrong URL or collection), 5xx after the retries.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any, Callable

from backend.errors import UserError
from backend.raster.streaming import TOKEN_ENV, token_headers  # shared with the COG reader, a layer down

RETRIES = 4
BACKOFF_S = 0.5  # urllib3 sleeps 0, 1, 2, 4 s between the tries (backoff_factor * 2**(n-1), none before the 2nd)
BACKOFF_ENV = "S1RM_STAC_BACKOFF_S"  # another backoff factor, e.g. for a slow proxy (or fast tests)
TIMEOUT_S = 30
ORBITS = ("ascending", "descending")
_RETRY_STATUS = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Query:
    """What was asked: kept in fetch.json and used to tell whether a cache belongs to this run."""

    url: str
    collection: str
    bbox: tuple[float, float, float, float]  # lon/lat bounds of the area
    intersects: dict  # GeoJSON of the area
    start: dt.date
    end: dt.date

    def datetime_range(self) -> str:
        return f"{self.start.isoformat()}T00:00:00Z/{self.end.isoformat()}T23:59:59Z"


def open_client(url: str) -> Any:
    """A pystac-client ``Client`` with retries and the bearer token, if any.

    Assets are not signed here: Planetary Computer's SAS tokens expire, so they are added when the COGs
    are read (:func:`backend.catalogue.fetch._patch_url`) and never stored.

    Raises:
        UserError: unreachable API, HTTP error, not a STAC API.
    """
    import pystac_client
    from pystac_client.stac_api_io import StacApiIO
    from urllib3.util.retry import Retry

    if not url.lower().startswith(("http://", "https://")):  # pystac would read it as a local file
        raise UserError(f"{{param:stac_url}} {url!r} is not an http(s) URL; give the STAC API's address, e.g. "
                        "https://planetarycomputer.microsoft.com/api/stac/v1", param="stac_url")
    backoff = float(os.environ.get(BACKOFF_ENV, BACKOFF_S))
    retry = Retry(total=RETRIES, backoff_factor=backoff, status_forcelist=_RETRY_STATUS,
                  allowed_methods=None, raise_on_status=True)
    stac_io = StacApiIO(headers=token_headers(), max_retries=retry, timeout=TIMEOUT_S)
    return _calling(url, lambda: pystac_client.Client.open(url, stac_io=stac_io))


def search(client: Any, query: Query, limit: int = 100) -> list[Any]:
    """All items of ``query`` (pystac-client follows the paging links), sorted by time.

    Raises:
        UserError: as :func:`open_client`, and for an unknown collection.
    """
    def run() -> list[Any]:
        found = client.search(collections=[query.collection], intersects=query.intersects,
                              datetime=query.datetime_range(), limit=limit)
        return list(found.items())

    items = _calling(f"{query.url} (collection {query.collection})", run)
    return sorted(items, key=lambda item: (item.datetime or dt.datetime.min.replace(tzinfo=dt.UTC),
                                           item.id))


def _calling(where: str, call: Callable[[], Any]) -> Any:
    """Run a pystac-client call; turn network and HTTP failures into UserErrors naming ``where``."""
    import requests
    from pystac_client.exceptions import APIError

    try:
        return call()
    except APIError as exc:
        cause = _network_cause(exc)
        if cause is None:
            raise UserError(_http_message(where, getattr(exc, "status_code", None), str(exc)),
                            param="stac_url") from exc
        return _calling(where, lambda: _reraise(cause))
    except requests.exceptions.RetryError as exc:
        raise UserError(f"STAC API {where} kept failing after {RETRIES} retries with backoff ({_reason(exc)}); "
                        "the service may be down: try again later", param="stac_url") from exc
    except requests.exceptions.ConnectionError as exc:
        raise UserError(f"STAC API {where} is unreachable ({_reason(exc)}); check the URL and your internet "
                        "connection (or proxy settings)", param="stac_url") from exc
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        raise UserError(_http_message(where, status, str(exc)), param="stac_url") from exc
    except requests.exceptions.Timeout as exc:
        raise UserError(f"STAC API {where} did not answer within {TIMEOUT_S} s; try again later",
                        param="stac_url") from exc
    except (ValueError, KeyError) as exc:  # JSON that is not a STAC API landing page
        raise UserError(f"{where} did not answer like a STAC API ({exc}); check {{param:stac_url}}",
                        param="stac_url") from exc


def _network_cause(exc: BaseException) -> BaseException | None:
    """The requests/urllib3 failure pystac-client wrapped into an APIError, if any."""
    import requests
    import urllib3.exceptions

    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, urllib3.exceptions.MaxRetryError):
            reason = seen.reason
            if isinstance(reason, urllib3.exceptions.ResponseError):
                return requests.exceptions.RetryError(str(seen))
            return requests.exceptions.ConnectionError(str(reason or seen))
        if isinstance(seen, requests.exceptions.RequestException):
            return seen
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if "Max retries exceeded" in text:
        if "error responses" in text:
            return requests.exceptions.RetryError(text)
        return requests.exceptions.ConnectionError(text)
    return None


def _reraise(exc: BaseException) -> None:
    raise exc


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."


def _http_message(where: str, status: int | None, detail: str) -> str:
    if status in (401, 403):
        return (f"STAC API {where} refused access (HTTP {status}): the token is missing, expired or not valid "
                f"for this collection; set a valid one in the environment variable {TOKEN_ENV} and run again")
    if status == 404:
        return (f"STAC API {where}: not found (HTTP 404); check {{param:stac_url}} and {{param:collection}} "
                f"({_reason(detail)})")
    return f"STAC API {where} answered HTTP {status or '?'}: {_reason(detail)}; check the request or try later"


def orbit_of(item: Any) -> str:
    """``'ascending'``/``'descending'`` from ``sat:orbit_state`` (``'unknown'`` if missing)."""
    value = str(item.properties.get("sat:orbit_state", "unknown")).lower()
    return value if value in ORBITS else "unknown"


def choose_orbit(items: list[Any], wanted: str, dates_of: Callable[[list[Any]], list[dt.date]]) -> tuple[list[str], dict]:
    """The orbit direction(s) to keep and the count of acquisition dates per direction.

    ``wanted='auto'`` keeps the direction with more acquisition dates (descending on a tie: morning
    passes, less wind and dew); ``'both'`` keeps both (mixing incidence geometries on one series).
    """
    counts = {orbit: len(set(dates_of([i for i in items if orbit_of(i) == orbit]))) for orbit in ORBITS}
    unknown = sum(1 for i in items if orbit_of(i) == "unknown")
    if unknown:
        counts["unknown"] = unknown
    if wanted == "both":
        return [o for o in (*ORBITS, "unknown") if counts.get(o)], counts
    if wanted in ORBITS:
        return [wanted], counts
    if unknown == len(items):
        return ["unknown"], counts
    best = max(ORBITS, key=lambda o: (counts[o], o == "descending"))
    return [best], counts


def nearest_acquisitions(client: Any, query: Query, years: int = 2) -> list[dt.date]:
    """Acquisition dates within ``years`` before and after the season, to suggest a season that has data."""
    wider = Query(query.url, query.collection, query.bbox, query.intersects,
                  query.start - dt.timedelta(days=365 * years), query.end + dt.timedelta(days=365 * years))
    return sorted({item.datetime.date() for item in search(client, wider) if item.datetime})


def no_data_message(query: Query, nearby: list[dt.date], what: str = "acquisitions") -> str:
    """Say the season is empty and name the nearest season of the same length that has acquisitions."""
    season = f"{query.start} - {query.end}"
    if not nearby:
        return (f"no {what} of {query.collection} over the area between {season} nor within two years of it; "
                "check the area ({param:bbox}/{param:area} and {param:bbox_crs}) and the collection")
    length = query.end - query.start
    before = [d for d in nearby if d < query.start]
    after = [d for d in nearby if d > query.end]
    candidates = ([(query.start - before[-1], before[-1] - length, before[-1])] if before else []) + \
                 ([(after[0] - query.end, after[0], after[0] + length)] if after else [])
    _, start, end = min(candidates)
    return (f"no {what} of {query.collection} over the area between {season}; the nearest season of the same "
            f"length with some is {{param:season}} {start} {end} ({_count_between(nearby, start, end)} dates)")


def _count_between(dates: list[dt.date], start: dt.date, end: dt.date) -> int:
    return len([d for d in dates if start <= d <= end])
