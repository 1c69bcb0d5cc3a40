"""Two reading threads shared by the whole process, and whether a run may use them.

GDAL's decoding and NumPy's loops release the GIL, so two threads read two files (or work on two halves
of a sample) at once on two cores. A rasterio dataset must never be used by two threads at once: callers
give each thread its own files. Users: a :class:`~backend.timeseries.source.SeriesSource`'s polarizations,
the unit inspection of :func:`~backend.raster.series.open_series` and the season scan's halves
(:func:`~backend.seasons.scan.sampled_events`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_POOL: ThreadPoolExecutor | None = None


def shared_pool() -> ThreadPoolExecutor:
    """The process's two reading threads (made on first use). Use them only when :func:`threads_allowed`."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="s1rm-read")
    return _POOL


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: make the child start its own."""
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_pool)


def threads_allowed() -> bool:
    """True when GDAL may decode on more than one thread (``GDAL_NUM_THREADS``, which ``map`` sets from
    ``--threads``): a run held to one thread, or a Dask worker given one core, reads on one thread."""
    import rasterio.env  # lazy: rasterio

    options = rasterio.env.getenv() if rasterio.env.hasenv() else {}
    value = str(options.get("GDAL_NUM_THREADS", os.environ.get("GDAL_NUM_THREADS", "1"))).strip().upper()
    if value == "ALL_CPUS":
        return (os.cpu_count() or 1) > 1
    return value.isdigit() and int(value) > 1


def map_each(function: Callable[[Item], Result], items: Iterable[Item], parallel: bool) -> list[Result]:
    """``function`` of each item, in order: on the two shared threads when ``parallel``, else here.

    An exception of any item is raised when its turn comes, as in the sequential loop.
    """
    if parallel:
        return list(shared_pool().map(function, items))
    return [function(item) for item in items]
